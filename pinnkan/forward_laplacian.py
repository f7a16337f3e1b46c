"""Forward Laplacian engine: value, first- and second-order information in one pass.

Second derivatives are taken along directions v_1 … v_K ∈ R^d with one weight w (see
:class:`pinnkan.directions.Directions`): the engine computes ``L u = w Σ_k v_kᵀ ∇²u v_k``,
which is the exact Laplacian for v_k = e_k (w = 1), SDGD for a random subset of coordinates
(w = d/K) and Hutchinson's estimator for Rademacher probes (w = 1/K).

Layer by layer it carries a :class:`pinnkan.jet.Jet` of the node values ``a (batch, n)``: a,
``L a``, optionally ``r = w Σ_k (v_k·x) (v_k·∇a)``, and either the directional derivatives
``J_k = v_k·∇a`` or their Gram matrix ``G = w Σ_k J_k J_kᵀ``, whose cost per layer does not
depend on K. Only ``diag G`` (squared norms) enters the Laplacian. Through a KAN layer
``y_j = Σ_i φ_ij(a_i)`` with slopes ``A_ij = φ'_ij(a_i)`` and curvatures ``B_ij = φ''_ij(a_i)``:

    J' = J A,    G' = Aᵀ G A,    L y_j = Σ_i [B_ij G_ii + A_ij L a_i],    r'_j = Σ_i A_ij r_i

and through an MLP layer ``z = W a + b``, ``y = σ(z)``:

    J_z = J Wᵀ,  G_z = W G Wᵀ,  L z = W L a;    G_y = σ'σ'ᵀ ∘ G_z,  L y = σ'' diag G_z + σ' L z.

At the input (a = x) the directional derivatives are the directions themselves, so a KAN's
first J is its slopes at the selected coordinates, and an MLP's first J (= W_Sᵀ) is shared by all
points. Which of J and G a layer carries is chosen by a cost model
(:func:`pinnkan.gram.gram_plan`); the last hidden layer carries only
``diag G' = Σ_i (G A)_ij A_ij``, all the output layer needs. One ordinary backward through this
graph gives the parameter gradients.

This module holds the KAN layers, the MLP layers and the engine; the Jet and the rules for J, G
and diag G through slopes and weight matrices are :mod:`pinnkan.jet`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .basis.base import LinearBasis, contract, per_edge
from .directions import Directions
from .gram import gram_plan
from .jet import NOTHING, Jet, needs, squared_norms, through_matrix, through_slopes, to_gram
from .nn.constraint import BallHardConstraint
from .nn.kan import KANLayer, KANNetwork
from .nn.mlp import MLP

# --- KAN layers ----------------------------------------------------------------------------


def weighted_rows(weights: Tensor | float, matrix: Tensor) -> Tensor:
    """``Σ_i r_i M_ij``: ``r (batch, n)`` (or a number), ``M (batch, n, n')`` -> ``(batch, n')``."""
    if isinstance(weights, Tensor):
        return (weights.unsqueeze(1) @ matrix).squeeze(1)
    return weights * matrix.sum(dim=1)


def column(values: Tensor | float) -> Tensor | float:
    """Broadcast per-input values ``(batch, n)`` against a basis expansion ``(batch, n, m)``."""
    return values.unsqueeze(-1) if isinstance(values, Tensor) else values


def linear_basis_terms(
    family: LinearBasis, value: Tensor, coefficients: Tensor, subset: Tensor | None
) -> tuple[Tensor, Tensor, Tensor]:
    """``(y, B'(a), B''(a))`` of a linear-basis layer: y from all inputs, the derivative
    expansions ``(batch, n_S, m)`` only at the inputs of ``subset`` (all when None), so that an
    SDGD first layer pays for derivatives at |S| of its d inputs."""
    if subset is None:
        basis, first, second = family.basis_derivatives(value)
        return contract(basis, coefficients), first, second
    _, first, second = family.basis_derivatives(value.index_select(1, subset), inputs=subset)
    return contract(family.basis(value), coefficients), first, second


def input_rows(coefficients: Tensor, subset: Tensor) -> Tensor:
    """``w[:, S, :]``: ``(out, in, m)`` -> ``(out, |S|, m)``, selected in the layout ``w`` lies in.

    For input-major storage ``(in, m, out)`` (a MetaKAN's generated coefficients) the rows are
    taken from that storage, so the result stays input-major and so does its gradient's
    scatter back into ``(in, m, out)``: the generation's backward then reads ∂L/∂w as it lies,
    where ``index_select(1, S)`` would leave a contiguous ``(out, in, m)`` gradient and a
    transposing copy of all d·n'·m entries in every SDGD step.
    """
    by_input = coefficients.permute(1, 2, 0)
    if by_input.is_contiguous() and not coefficients.is_contiguous():
        return by_input.index_select(0, subset).permute(2, 0, 1)
    return coefficients.index_select(1, subset)


def kan_step(
    layer: KANLayer,
    coefficients: Tensor,
    value: Tensor,
    squares: Tensor | float,
    laplacian: Tensor | None,
    along: Tensor | None,
    need_slopes: bool,
    subset: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """``(y, L y, r', A)`` of a KAN layer from its inputs' values, ``diag G``, ``L a`` and r.

    For a linear basis φ_ij = Σ_m w_jim B_m, the sums over i are single contractions,
    e.g. ``L y_j = Σ_{i,m} w_jim [B''_m(a_i) G_ii + B'_m(a_i) L a_i]``; the per-edge slopes
    ``A (batch, n, n')`` are formed only when J or G must be propagated. With ``subset`` (the
    first layer of SDGD) the derivative terms run over the inputs i ∈ S only, and ``squares``,
    ``laplacian`` and ``along`` are given at those inputs.
    """
    family = layer.family
    if isinstance(family, LinearBasis):
        y, first, second = linear_basis_terms(family, value, coefficients, subset)
        if layer.bias is not None:
            y = y + layer.bias
        if subset is not None:
            coefficients = input_rows(coefficients, subset)
        curvature = second * column(squares)
        if laplacian is not None:
            curvature = curvature + first * column(laplacian)
        lap = contract(curvature, coefficients)
        along_y = None if along is None else contract(first * column(along), coefficients)
        slopes = per_edge(first, coefficients) if need_slopes else None
        return y, lap, along_y, slopes
    y, slopes, curvatures = layer.value_and_derivatives(value, coefficients)
    if subset is not None:
        slopes, curvatures = slopes.index_select(1, subset), curvatures.index_select(1, subset)
    lap = weighted_rows(squares, curvatures)
    if laplacian is not None:
        lap = lap + weighted_rows(laplacian, slopes)
    along_y = None if along is None else weighted_rows(along, slopes)
    return y, lap, along_y, slopes


def kan_input_layer(
    layer: KANLayer,
    coefficients: Tensor,
    x: Tensor,
    directions: Directions,
    want_along: bool,
    last: bool,
) -> Jet:
    """First KAN layer (a = x): J_1 = the slopes at the selected coordinates, or V A."""
    weight = directions.weight
    need_slopes = not last
    if directions.vectors is not None:
        vectors = directions.vectors
        squares = weight * vectors.pow(2).sum(dim=1)
        along = directions.along_inputs(x) if want_along else None
        y, lap, along_y, slopes = kan_step(
            layer, coefficients, x, squares, None, along, need_slopes
        )
        jacobian = None if last else vectors @ slopes
        return Jet(y, lap, along_y, weight, jacobian=jacobian)
    subset = directions.coordinates
    inputs = x if subset is None else x.index_select(1, subset)
    along = weight * inputs if want_along else None
    y, lap, along_y, slopes = kan_step(
        layer, coefficients, x, weight, None, along, need_slopes, subset
    )
    return Jet(y, lap, along_y, weight, jacobian=slopes)


def kan_hidden_layer(layer: KANLayer, coefficients: Tensor, jet: Jet, need: str) -> Jet:
    """A later KAN layer: ``J' = J A``, ``G' = Aᵀ G A`` or only diag G', as ``need`` says."""
    y, lap, along, slopes = kan_step(
        layer,
        coefficients,
        jet.value,
        squared_norms(jet),
        jet.laplacian,
        jet.along,
        need != NOTHING,
    )
    return Jet(y, lap, along, jet.weight, **through_slopes(jet, slopes, need))


def kan_jet(
    net: KANNetwork,
    coefficients: list[Tensor],
    x: Tensor,
    directions: Directions,
    want_along: bool,
    plan: list[bool],
) -> Jet:
    """Jet of the output of a :class:`KANNetwork` given its coefficients (generated once)."""
    layers = list(net.layers)
    jet = kan_input_layer(layers[0], coefficients[0], x, directions, want_along, len(layers) == 1)
    for index in range(1, len(layers)):
        if plan[index - 1]:
            jet = to_gram(jet)
        jet = kan_hidden_layer(layers[index], coefficients[index], jet, needs(index, len(layers)))
    return jet


# --- MLP layers ----------------------------------------------------------------------------


def mlp_input_layer(linear: nn.Linear, x: Tensor, directions: Directions, want_along: bool) -> Jet:
    """``z = W x + b``: J_z = W_Sᵀ (shared by all points) or V Wᵀ; L z = 0."""
    z = linear(x)
    matrix = linear.weight
    weight = directions.weight
    if directions.vectors is not None:
        jacobian = directions.vectors @ matrix.t()
        along = directions.along_inputs(x) @ matrix.t() if want_along else None
        return Jet(z, None, along, weight, jacobian=jacobian)
    subset = directions.coordinates
    if subset is not None:
        matrix = matrix.index_select(1, subset)
        x = x.index_select(1, subset)
    along = weight * (x @ matrix.t()) if want_along else None
    return Jet(z, None, along, weight, jacobian=matrix.t())


def linear_layer(linear: nn.Linear, jet: Jet, need: str) -> Jet:
    """``z = W a + b``: ``J_z = J Wᵀ``, ``G_z = W G Wᵀ``, ``L z = W L a``, ``r_z = W r``."""
    matrix = linear.weight
    z = linear(jet.value)
    lap = jet.laplacian @ matrix.t()
    along = None if jet.along is None else jet.along @ matrix.t()
    return Jet(z, lap, along, jet.weight, **through_matrix(jet, matrix, need))


def activation_layer(derivatives, jet: Jet, keep: bool) -> Jet:
    """``y = σ(z)``: ``J_y = σ' J_z``, ``G_y = σ'σ'ᵀ ∘ G_z``, ``L y = σ'' diag G_z + σ' L z``.

    With ``keep`` False (the next layer is the last, linear one) J_y and G_y are not formed.
    """
    y, slope, curvature = derivatives(jet.value)
    lap = curvature * squared_norms(jet)
    if jet.laplacian is not None:
        lap = lap + slope * jet.laplacian
    along = None if jet.along is None else slope * jet.along
    if not keep:
        return Jet(y, lap, along, jet.weight)
    if jet.gram is not None:
        gram = jet.gram * slope.unsqueeze(-1) * slope.unsqueeze(-2)
        return Jet(y, lap, along, jet.weight, gram=gram)
    return Jet(y, lap, along, jet.weight, jacobian=jet.jacobian * slope.unsqueeze(-2))


def mlp_jet(mlp: MLP, x: Tensor, directions: Directions, want_along: bool, plan: list[bool]) -> Jet:
    """Jet of the output of an :class:`MLP`: linear layers with σ between them."""
    linears = list(mlp.layers)
    jet = mlp_input_layer(linears[0], x, directions, want_along)
    for index in range(1, len(linears)):
        if plan[index - 1]:
            jet = to_gram(jet)
        last = index == len(linears) - 1
        jet = activation_layer(mlp.activation.derivatives, jet, keep=not last)
        jet = linear_layer(linears[index], jet, needs(index, len(linears)))
    if jet.laplacian is None:  # a single linear layer: L z = 0, on the value's graph (0·z)
        jet = jet._replace(laplacian=0 * jet.value)
    return jet


# --- the engine ---------------------------------------------------------------------------


def supports(model: object) -> bool:
    """Whether the forward engine covers ``model``: a :class:`KANNetwork` of
    :class:`KANLayer` or an :class:`MLP`, optionally inside a :class:`BallHardConstraint`, with
    no module hooks (:func:`hooked`)."""
    return covered_type(model) and not hooked(model)


def covered_type(model: object) -> bool:
    """Whether ``model`` is of a type the engine computes (hooks aside, see :func:`supports`)."""
    net = model.net if type(model) is BallHardConstraint else model
    if type(net) is MLP:  # layers the engine reads as x ↦ Wx + b (a parametrized weight too)
        return all(plain_linear(layer) for layer in net.layers)
    return type(net) is KANNetwork and all(type(layer) is KANLayer for layer in net.layers)


def plain_linear(layer: nn.Module) -> bool:
    """An ``nn.Linear`` computing x ↦ Wx + b: not a subclass with a forward of its own, nor a
    module put in its place (a swapped-in layer gave a wrong Δu or an AttributeError)."""
    return isinstance(layer, nn.Linear) and type(layer).forward is nn.Linear.forward


GLOBAL_HOOK_TABLES = (
    "_global_forward_hooks",
    "_global_forward_pre_hooks",
    "_global_backward_hooks",
    "_global_backward_pre_hooks",
)


def hooked(model: nn.Module) -> bool:
    """Whether a forward/backward (pre-)hook is registered on ``model``, one of its submodules,
    or globally. The engine computes from the layers' parameters without calling ``model(x)``,
    so it would skip hooks: a hooked model goes to the autograd engine, which calls it.

    Walks the module tree through ``__dict__`` (about 15 µs for a 16-module MetaKAN;
    ``model.modules()`` took 54 µs), as it runs at every training step."""
    registry = torch.nn.modules.module
    if any(getattr(registry, table, None) for table in GLOBAL_HOOK_TABLES):
        return True
    stack = [model]
    while stack:
        state = stack.pop().__dict__
        if (
            state["_forward_hooks"]
            or state["_forward_pre_hooks"]
            or state["_backward_hooks"]
            or state["_backward_pre_hooks"]
        ):
            return True
        stack.extend(child for child in state["_modules"].values() if child is not None)
    return False


def network_jet(
    net: KANNetwork | MLP,
    coefficients: list[Tensor] | None,
    x: Tensor,
    directions: Directions,
    want_along: bool,
    plan: list[bool],
) -> Jet:
    if isinstance(net, MLP):
        return mlp_jet(net, x, directions, want_along, plan)
    return kan_jet(net, coefficients, x, directions, want_along, plan)


def evaluate(
    model: nn.Module,
    coefficients: list[Tensor] | None,
    x: Tensor,
    directions: Directions,
    plan: list[bool],
) -> tuple[Tensor, Tensor]:
    """``(u, L u)``, each ``(batch,)``, for one chunk of points ``x (batch, d)``.

    With a hard constraint û = s N, s = 1 − |x|²/R²:
    ``L û = −(2/R²) w Σ_k |v_k|² N − (4/R²) r + s L N`` (= Δû for the exact directions).
    """
    constrained = isinstance(model, BallHardConstraint)
    net = model.net if constrained else model
    jet = network_jet(net, coefficients, x, directions, constrained, plan)
    value, lap = jet.value.squeeze(-1), jet.laplacian.squeeze(-1)
    if not constrained:
        return value, lap
    scale = 1.0 / model.radius**2
    envelope = model.envelope(x)
    along = jet.along.squeeze(-1)
    lap = -2 * scale * directions.trace() * value - 4 * scale * along + envelope * lap
    return envelope * value, lap


def check_input_width(net: KANNetwork | MLP, x: Tensor) -> None:
    """The points ``x (batch, d)`` must have the network's input dimension ``width[0]``."""
    if net.width[0] != x.shape[1]:
        raise ValueError(f"points of dimension {x.shape[1]} do not fit width={net.width}")


def forward_laplacian(
    model: nn.Module,
    x: Tensor,
    directions: Directions,
    chunk_size: int | None = None,
    representation: str = "auto",
) -> tuple[Tensor, Tensor]:
    """``(u (batch,), L u (batch,))`` of a supported scalar-output model at ``x (batch, d)``.

    KAN coefficients are generated once (one meta-learner call per layer for MetaKAN) and
    shared by all chunks of ``chunk_size`` points.
    """
    if not covered_type(model):  # hooks: pinnkan.laplacian sends a hooked model to autograd
        raise ValueError(f"model {type(model).__name__} is not covered by the forward engine")
    net = model.net if isinstance(model, BallHardConstraint) else model
    if net.width[-1] != 1:
        raise ValueError(f"width={net.width} is not allowed; the Laplacian needs one output")
    check_input_width(net, x)
    shared_first = isinstance(net, MLP) and not directions.per_point
    plan = gram_plan(net.width, directions.count, shared_first, representation)
    coefficients = net.coefficients() if isinstance(net, KANNetwork) else None
    batch = x.shape[0]
    step = chunk_size or max(batch, 1)
    pieces = [
        evaluate(
            model,
            coefficients,
            x[start : start + step],
            directions.rows(slice(start, start + step)),
            plan,
        )
        for start in range(0, batch, step)
    ]
    if len(pieces) == 1:
        return pieces[0]
    values, laplacians = zip(*pieces, strict=True)
    return torch.cat(values), torch.cat(laplacians)
