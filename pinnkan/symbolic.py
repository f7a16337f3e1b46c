"""Symbolic formulas from a trained KAN or MetaKAN (``pinnkan symbolic RUN.h5``).

Every edge function φ_ji of the network is sampled on the values its input takes for points
drawn uniformly in the problem's box, and fitted by each library function f with an affine
change of variables on both sides,

    φ(x) ≈ c · f(a·x + b) + d,

by a grid search over (a, b) (in coordinates where the edge's input range is [−1, 1]) with
linear least squares for (c, d) at every grid point, followed by a Levenberg–Marquardt polish of
all four numbers. The fit quality is R² = 1 − Σ(φ − fit)² / Σ(φ − mean φ)². Among the library
functions the simplest (in :data:`LIBRARY` order) whose unexplained fraction 1 − R² is within
``min((simplicity − 1)(1 − R²_best), 0.01)`` of the best is chosen.

Edges whose activation is small — mean |φ| below ``threshold`` times the largest mean |φ| in the
layer — are pruned: replaced by their mean value (a constant). The edge formulas are then
composed layer by layer, ``y_j = b_j + Σ_i c f(a y_i + b) + d``, into ONE sympy expression in the
problem's variables (the box normalisation z = 2(x − lo)/(hi − lo) − 1 is substituted when the
run used it) and expanded. Its test MSE is measured on the run's test set, beside the network's.
The library and the fit of one edge are in :mod:`pinnkan.symbolic_edge`.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy
import torch
from scipy.optimize import least_squares
from torch import Tensor, nn

from .basis.base import LinearBasis, per_edge
from .device import draw
from .nn.kan import KANNetwork
from .regression import network_inputs
from .symbolic_edge import LIBRARY, POLISH_POINTS, EdgeFormula, fit_edge

# --- the network -----------------------------------------------------------------------------


@torch.no_grad()
def edge_activations(model: KANNetwork, x: Tensor) -> list[tuple[Tensor, Tensor]]:
    """Per layer: inputs ``(n, in)`` and edge values φ_ji(x_i) ``(n, in, out)``."""
    samples = []
    for layer, weight in zip(model.layers, model.coefficients(), strict=True):
        family = layer.family
        if isinstance(family, LinearBasis):
            values = per_edge(family.basis(x), weight)
        else:
            (values,) = family.edge_values(x, weight, order=0)
        samples.append((x, values))
        x = layer(x, weight)
    return samples


@dataclass
class SymbolicNetwork:
    """The composed formula, its input symbols and every edge's choice."""

    expression: Any
    symbols: list[Any]
    edges: list[EdgeFormula]

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        """The formula at raw points ``x (n, d)`` -> ``(n,)``."""
        function = sympy.lambdify(self.symbols, self.expression, "numpy")
        with np.errstate(all="ignore"):
            value = function(*x.T)
        return np.broadcast_to(np.asarray(value, dtype=float), x.shape[:1]).copy()


def fit_layer(
    index: int, inputs: np.ndarray, values: np.ndarray, threshold: float, names, simplicity: float
) -> list[EdgeFormula]:
    """Fit or prune every edge of one layer: ``inputs (n, in)``, ``values (n, in, out)``."""
    norms = np.abs(values).mean(axis=0)  # (in, out)
    largest = float(norms.max()) if norms.size else 0.0
    edges = []
    for source in range(values.shape[1]):
        for target in range(values.shape[2]):
            x, y = inputs[:, source], values[:, source, target]
            norm = float(norms[source, target])
            if norm < threshold * largest:
                edges.append(EdgeFormula(index, source, target, "0", 1, 0, 0, float(y.mean()),
                                         math.nan, norm, pruned=True))  # fmt: skip
                continue
            name, (a, b, c, d), r2 = fit_edge(x, y, names, simplicity)
            edges.append(EdgeFormula(index, source, target, name, a, b, c, d, r2, norm))
    return edges


def layer_biases(model: KANNetwork) -> list[np.ndarray]:
    return [
        layer.bias.detach().double().numpy() if layer.bias is not None
        else np.zeros(layer.out_features)
        for layer in model.layers
    ]  # fmt: skip


def compose(edges: list[EdgeFormula], biases: list[np.ndarray], inputs: list[Any]) -> Any:
    """``y_j = b_j + Σ_i edge_ji(y_i)`` layer by layer; returns the first output's expression."""
    nodes = list(inputs)
    for index, bias in enumerate(biases):
        outputs = [sympy.Float(float(value)) for value in bias]
        for edge in edges:
            if edge.layer == index:
                outputs[edge.target] += edge.expression(nodes[edge.source])
        nodes = outputs
    return nodes[0]


def edge_value(edge: EdgeFormula, u: np.ndarray) -> np.ndarray:
    if edge.pruned or edge.name == "0":
        return np.full_like(u, edge.d)
    return edge.c * LIBRARY[edge.name].numeric(edge.a * u + edge.b) + edge.d


def numeric_network(
    edges: list[EdgeFormula], biases: list[np.ndarray], x: np.ndarray
) -> tuple[np.ndarray, bool]:
    """The composed formula at model inputs ``x (n, d)`` -> ``((n,), every argument valid)``."""
    nodes, valid = x, True
    for index, bias in enumerate(biases):
        outputs = np.tile(bias, (x.shape[0], 1))
        for edge in edges:
            if edge.layer == index:
                u = nodes[:, edge.source]
                if not (edge.pruned or edge.name == "0"):
                    inner = (edge.a * u + edge.b)[None, :]
                    valid = valid and bool(LIBRARY[edge.name].valid(inner)[0])
                with np.errstate(all="ignore"):
                    outputs[:, edge.target] += edge_value(edge, u)
        nodes = outputs
    return nodes[:, 0], valid


def polish_network(
    edges: list[EdgeFormula], biases: list[np.ndarray], x: np.ndarray, target: np.ndarray
) -> None:
    """Refit every kept edge's (a, b, c, d) jointly so that the formula matches the network
    output ``target (n,)`` at ``x (n, d)`` (Levenberg–Marquardt); kept only if better and every
    function argument stays in its domain. Edits ``edges`` in place."""
    active = [edge for edge in edges if not (edge.pruned or edge.name == "0")]
    if not active:
        return
    step = max(1, x.shape[0] // POLISH_POINTS)
    x, target = x[::step], target[::step]
    start = np.array([[e.a, e.b, e.c, e.d] for e in active]).ravel()

    def assign(parameters: np.ndarray) -> None:
        for edge, (a, b, c, d) in zip(active, parameters.reshape(-1, 4)):
            edge.a, edge.b, edge.c, edge.d = float(a), float(b), float(c), float(d)

    def residual(parameters: np.ndarray) -> np.ndarray:
        assign(parameters)
        value = numeric_network(edges, biases, x)[0] - target
        return np.where(np.isfinite(value), value, 1e6)

    before = float(np.sum(residual(start) ** 2))
    try:
        result = least_squares(residual, start, method="lm", max_nfev=100 + 10 * start.size)
        assign(result.x)
        value, valid = numeric_network(edges, biases, x)
        better = valid and float(np.sum((value - target) ** 2)) < before
    except (ValueError, np.linalg.LinAlgError):
        better = False
    if not better:
        assign(start)


def symbolic_network(
    model: nn.Module,
    x: Tensor,
    variables: list[str],
    normalization: dict | None = None,
    threshold: float = 0.01,
    names: list[str] | None = None,
    simplicity: float = 10.0,
    polish: bool = True,
    shift: float = 0.0,
    scale: float = 1.0,
) -> SymbolicNetwork:
    """Fit every edge on the activations of model inputs ``x (n, d)`` and compose one formula.

    ``variables`` name the raw inputs; ``normalization`` ({"lower", "upper"}) is the box map
    applied before the model, if any. ``polish``: refit all edge constants jointly so that the
    composed formula matches the network on ``x`` (see :func:`polish_network`). The formula is
    ``shift + scale · (network formula)`` (the target scaling of a standardised fit).
    """
    if not isinstance(model, KANNetwork):
        raise ValueError("symbolic formulas need a KAN-type model (kan, metakan, …), not an MLP")
    if names is not None:
        check_library(list(names), f"names={list(names)!r}")
    edges = []
    for index, (inputs, values) in enumerate(edge_activations(model, x)):
        edges += fit_layer(index, inputs.double().numpy(), values.double().numpy(), threshold,
                           names, simplicity)  # fmt: skip
    biases = layer_biases(model)
    if polish:
        with torch.no_grad():
            target = model(x).squeeze(-1).double().numpy()
        polish_network(edges, biases, x.double().numpy(), target)
    symbols = [sympy.Symbol(name) for name in variables]
    model_inputs: list[Any] = list(symbols)
    if normalization is not None:
        lower, upper = normalization["lower"], normalization["upper"]
        model_inputs = [2 * (s - lo) / (hi - lo) - 1 for s, lo, hi in zip(symbols, lower, upper)]
    expression = shift + scale * compose(edges, biases, model_inputs)
    expression = shortest_form(expression)
    return SymbolicNetwork(expression, symbols, edges)


def shortest_form(expression: Any, limit: int = 400) -> Any:
    """``sympy.expand`` of the formula when that is not longer (in operations) than it."""
    size = sympy.count_ops(expression)
    if size > limit:
        return expression
    expanded = sympy.expand(expression)
    return expanded if sympy.count_ops(expanded) <= size else expression


def rounded(expression: Any, digits: int = 4) -> Any:
    """The expression with every float shown to ``digits`` significant digits."""
    return expression.xreplace({f: sympy.Float(f, digits) for f in expression.atoms(sympy.Float)})


# --- command line ----------------------------------------------------------------------------


def add_symbolic_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="run file of a fitted KAN or MetaKAN (pinnkan fit)")
    parser.add_argument("--threshold", type=float, default=0.01, help="relative pruning threshold")
    parser.add_argument("--library", help=f"functions to try (default all): {','.join(LIBRARY)}")
    parser.add_argument("--samples", type=int, default=1000, help="points drawn in the box")
    parser.add_argument("--simplicity", type=float, default=10.0, help="preference for simple f")
    parser.add_argument("--digits", type=int, default=4, help="significant digits shown")


def check_symbolic_arguments(args: argparse.Namespace) -> list[str] | None:
    if not (math.isfinite(args.threshold) and 0 <= args.threshold < 1):
        raise ValueError(f"--threshold {args.threshold} is not allowed; give a number in [0, 1)")
    if args.samples < 2:
        raise ValueError(f"--samples {args.samples} is not allowed; give an integer ≥ 2")
    if not (math.isfinite(args.simplicity) and args.simplicity >= 1):
        raise ValueError(f"--simplicity {args.simplicity} is not allowed; give a number ≥ 1")
    if args.digits < 1:
        raise ValueError(f"--digits {args.digits} is not allowed; give an integer ≥ 1")
    if args.library is None:
        return None
    names = [name.strip() for name in args.library.split(",") if name.strip()]
    check_library(names, f"--library {args.library!r}")
    return names


def check_library(names: list[str], given: str) -> None:
    """The library functions ``names`` must be known, and at least one."""
    if not names:
        raise ValueError(f"{given} is empty; give one or more of: {', '.join(LIBRARY)}")
    for name in names:
        if name not in LIBRARY:
            raise ValueError(
                f"library function {name!r} is not known; allowed: {', '.join(LIBRARY)}"
            )


def box_samples(problem: dict, count: int, seed: int = 0) -> Tensor:
    """``count`` raw points uniform in the run's box ``problem["ranges"]``: ``(count, d)``."""
    bounds = torch.tensor(problem["ranges"], dtype=torch.float64)
    generator = torch.Generator().manual_seed(seed)
    unit = draw(torch.rand, count, bounds.shape[0], generator=generator, dtype=torch.float64)
    return bounds[:, 0] + unit * (bounds[:, 1] - bounds[:, 0])


def run_symbolic(args: argparse.Namespace) -> int:
    """Handler of ``pinnkan symbolic RUN.h5``: formula, per-edge choices, test MSE."""
    from .grid import rebuild_model
    from .results import read_run

    names = check_symbolic_arguments(args)
    run = read_run(args.run, load_checkpoint=False)
    if run.config.get("kind") != "regression":
        raise ValueError(f"run file {args.run} is not a regression run (pinnkan fit)")
    model = rebuild_model(run.model_config or run.config["model"], run.model_state).double()
    normalization = run.config.get("normalization")
    problem = run.config["problem"]
    x = network_inputs(box_samples(problem, args.samples), normalization)
    scaling = run.config.get("target_scaling") or {"shift": 0.0, "scale": 1.0}
    shift, scale = scaling["shift"], scaling["scale"]
    result = symbolic_network(
        model, x, problem["variables"], normalization, args.threshold, names, args.simplicity,
        shift=shift, scale=scale,
    )  # fmt: skip
    test_x, exact = np.asarray(run.test_set["x"]), np.asarray(run.test_set["exact"])
    with torch.no_grad():
        network = model(network_inputs(torch.from_numpy(test_x).double(), normalization))
    network_mse = float(np.mean((shift + scale * network.squeeze(-1).numpy() - exact) ** 2))
    formula_mse = float(np.mean((result.evaluate(test_x) - exact) ** 2))
    arguments = ", ".join(problem["variables"])
    print(f"formula: f({arguments}) = {rounded(result.expression, args.digits)}")
    print("edges (φ ≈ c·f(a·x+b)+d):")
    for edge in result.edges:
        print(f"  {edge.describe()}")
    print(
        f"test MSE ({exact.shape[0]} points): formula {formula_mse:.3e}, network {network_mse:.3e}"
    )
    return 0
