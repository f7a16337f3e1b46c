"""Laplacian engines: ``laplacian(model, x, method=...) -> (u, Δu)``, and autograd helpers.

Methods (all return ``(u (batch,), Δu (batch,))`` for a scalar-output model ``(batch, d) ->
(batch, 1)``):

* "forward" — exact, one forward pass carrying first- and second-order information through the
  layers (:mod:`pinnkan.forward_laplacian`); covers KAN-family networks, the MLP, and both inside
  :class:`~pinnkan.nn.constraint.BallHardConstraint`.
* "autograd" — the reference: one double-backward per input dimension, Δu = Σ_i ∂²u/∂x_i².
* "sdgd" — unbiased estimate from a random subset S of |S| = ``samples`` coordinates drawn
  without replacement (shared by the batch): (d/|S|) Σ_{i∈S} ∂²u/∂x_i².
* "hutchinson" — unbiased estimate from ``samples`` Rademacher probes v per point:
  (1/|V|) Σ_v vᵀ ∇²u v.

The estimators run on the forward engine; for any other model every method falls back to
autograd (with an :class:`EngineFallbackWarning` naming the engine that runs), drawing the same
directions, so a seeded estimate is the same number whichever engine computes it.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from .directions import Directions, draw_directions
from .forward_laplacian import check_input_width, forward_laplacian, hooked, supports
from .kernels import basis_recursion
from .nn.constraint import BallHardConstraint
from .nn.kan import KANNetwork
from .nn.mlp import MLP
from .validation import check_generator, integer

METHODS = ("forward", "autograd", "sdgd", "hutchinson")
ESTIMATORS = ("sdgd", "hutchinson")
DEFAULT_SAMPLES = 16

Model = Callable[[Tensor], Tensor]


class EngineFallbackWarning(UserWarning):
    """The forward engine does not cover a model and the autograd engine runs instead."""


# --- autograd helpers for user operators ----------------------------------------------------


@contextlib.contextmanager
def differentiating() -> Iterator[None]:
    """Autograd records whatever the caller's mode (``torch.no_grad()``,
    ``torch.inference_mode()``): derivatives in x need a graph. Results are detached by the
    callers when the caller's grad mode is off."""
    with torch.inference_mode(False), torch.enable_grad():
        yield


def differentiable_leaf(x: Tensor) -> Tensor:
    """A detached copy of ``x`` that requires grad (a clone if ``x`` was made under
    ``torch.inference_mode()``, whose tensors cannot be recorded); use under
    :func:`differentiating`."""
    leaf = x.detach()
    return (leaf.clone() if leaf.is_inference() else leaf).requires_grad_(True)


def x_derivative(total: Tensor, x: Tensor, create_graph: bool) -> Tensor | None:
    """∂(total)/∂x, or None where ``total`` does not depend on ``x`` (an affine model's second
    derivatives, a constant's first): autograd raises there, the derivative is 0."""
    if not total.requires_grad:
        return None
    (g,) = torch.autograd.grad(
        total, x, create_graph=create_graph, retain_graph=True, allow_unused=True
    )
    return g


def check_scalars_of_points(u: Tensor, x: Tensor) -> None:
    """``x (batch, d)`` and one scalar per point, ``u (batch,)`` or ``(batch, 1)``; else a
    ValueError (a wider u was summed over its columns, swapped arguments gave zeros)."""
    if not isinstance(x, Tensor) or x.ndim != 2:
        raise ValueError(
            f"x of shape {tuple(getattr(x, 'shape', ()))} is not allowed; give (batch, d)"
        )
    if not isinstance(u, Tensor) or tuple(u.shape) not in ((x.shape[0],), (x.shape[0], 1)):
        raise ValueError(
            f"u of shape {tuple(getattr(u, 'shape', ()))} is not allowed with x of shape "
            f"{tuple(x.shape)}; give one scalar per point, ({x.shape[0]},)"
        )


def gradient(u: Tensor, x: Tensor, create_graph: bool = True) -> Tensor:
    """∇u for a batch of scalars ``u (batch,)`` (or ``(batch, 1)``) w.r.t. ``x (batch, d)`` ->
    ``(batch, d)``. Where u does not depend on x at all (a constant; u computed from other
    points, or from ``x.detach()``) the result is 0, not an error as in ``torch.autograd.grad``:
    compute u from this x. Under ``torch.no_grad()`` too (an operator evaluated for a residual):
    the sum is recorded whatever the caller's mode."""
    check_scalars_of_points(u, x)
    with differentiating():
        g = x_derivative(u.sum(), x, create_graph)
    return torch.zeros_like(x) if g is None else g


def second_derivative(first: Tensor, x: Tensor, index: int, create_graph: bool = True) -> Tensor:
    """``∂²u/∂x_i²`` (i = ``index``) from ``first = ∇u (batch, d)`` built with a graph: ``(batch,)``.
    Where ∇u does not depend on x (u affine in x) it is 0, on the graph of x and of ∇u
    (``0·(x_i + ∂u/∂x_i)``), so that derivatives of Δu in x or the parameters are 0 too."""
    with differentiating():  # under torch.no_grad() too: the column and its sum are recorded
        column = first[:, index]
        row = x_derivative(column.sum(), x, create_graph)
        return 0 * (x[:, index] + column) if row is None else row[:, index]


def hessian_diagonal(u: Tensor, x: Tensor, create_graph: bool = True) -> Tensor:
    """``∂²u/∂x_i²`` for ``u (batch,)`` computed from ``x (batch, d)``: ``(batch, d)``.

    One double-backward per coordinate; each point's u must depend on its own row of x only.
    """
    check_scalars_of_points(u, x)
    first = gradient(u, x, create_graph=True)
    return torch.stack(
        [second_derivative(first, x, i, create_graph) for i in range(x.shape[1])], dim=1
    )


def scalar_output(output: Tensor, batch: int) -> Tensor:
    """``(batch, 1)`` or ``(batch,)`` -> ``(batch,)``; anything else raises ``ValueError``."""
    if output.shape == (batch, 1):
        return output.squeeze(-1)
    if output.shape == (batch,):
        return output
    raise ValueError(
        f"model output of shape {tuple(output.shape)} is not allowed; "
        f"the Laplacian needs a scalar output ({batch}, 1)"
    )


# --- the autograd engine ---------------------------------------------------------------------


def autograd_directional_laplacian(
    model: Model, x: Tensor, directions: Directions, create_graph: bool = True
) -> tuple[Tensor, Tensor]:
    """``(u, w Σ_k v_kᵀ ∇²u v_k)`` by one double-backward per direction (see :class:`Directions`).

    When ``x`` requires grad (and grad mode is on), u and the Laplacian keep the caller's graph
    through ``x`` (as the forward engine does); otherwise the derivatives are taken w.r.t. a
    detached copy (under ``no_grad`` a view of such an x, e.g. a chunk, says it requires grad
    but has no graph to x: differentiated as it was, Δu came out 0).
    """
    keep_graph = x.requires_grad and torch.is_grad_enabled()
    create_graph = create_graph and torch.is_grad_enabled()  # under no_grad: detached results
    with differentiating():
        if not keep_graph:
            x = differentiable_leaf(x)
        u = scalar_output(model(x), x.shape[0])
        first = gradient(u, x, create_graph=True)
        if directions.vectors is None:
            coordinates = range(x.shape[1])
            if directions.coordinates is not None:
                coordinates = directions.coordinates.tolist()
            terms = [second_derivative(first, x, i, create_graph) for i in coordinates]
        else:
            terms = []
            for probe in directions.vectors.unbind(dim=1):  # (batch, d)
                curvature = x_derivative((first * probe).sum(), x, create_graph)
                if curvature is None:  # u affine in x: vᵀ∇²u v = 0 (as second_derivative)
                    curvature = 0 * (x + first)
                terms.append((curvature * probe).sum(dim=-1))
        lap = directions.weight * torch.stack(terms).sum(dim=0)
    if not create_graph:
        return u.detach(), lap.detach()
    return u, lap


def autograd_laplacian(model: Model, x: Tensor, create_graph: bool = True) -> tuple[Tensor, Tensor]:
    """Reference engine: ``(u (batch,), Δu (batch,))`` by d double-backward passes."""
    return autograd_directional_laplacian(model, x, Directions(x.shape[1], 1.0), create_graph)


# --- the samples of each method -------------------------------------------------------------


def check_samples(method: str, samples: int | None, dim: int) -> int | None:
    """The number of samples of an estimator (default :data:`DEFAULT_SAMPLES`, at most d for
    SDGD); exact methods take none."""
    if method not in ESTIMATORS:
        if samples is not None:
            raise ValueError(
                f"samples={samples!r} is not allowed with method={method!r}; "
                f"only the estimators {', '.join(ESTIMATORS)} take samples"
            )
        return None
    if samples is None:
        return min(DEFAULT_SAMPLES, dim) if method == "sdgd" else DEFAULT_SAMPLES
    upper = dim if method == "sdgd" else None
    number = integer(samples)
    if number is None or number < 1:
        raise ValueError(f"samples={samples!r} is not allowed; give a positive integer")
    samples = number
    if upper is not None and samples > upper:
        raise ValueError(f"samples={samples} is not allowed; SDGD takes at most d = {dim}")
    return samples


# --- the public entry point ------------------------------------------------------------------


def check_points(x: object, model: object = None) -> None:
    """``x`` must be a floating tensor ``(batch, d)``; with ``model``, also of the dtype and on
    the device of its (first) parameter, and of the dimension its input width takes (KAN-type
    networks and the MLP, optionally in a hard constraint). O(1): no pass over the model."""
    if not isinstance(x, Tensor) or x.ndim != 2 or not x.is_floating_point() or 0 in x.shape:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(
            f"points {shape} are not allowed; give a floating tensor (batch, d), batch, d ≥ 1"
        )
    if not isinstance(model, torch.nn.Module):
        return
    parameter = first_parameter(model)
    if parameter is not None:
        if x.dtype != parameter.dtype:
            raise ValueError(
                f"points of dtype {x.dtype} do not fit the model's parameters of dtype "
                f"{parameter.dtype}; convert one, e.g. x.to({parameter.dtype}) or model.to(x.dtype)"
            )
        if x.device != parameter.device:
            raise ValueError(
                f"points on device {x.device} do not fit the model's parameters on device "
                f'{parameter.device}; move one, e.g. x.to("{parameter.device}")'
            )
    net = model.net if type(model) is BallHardConstraint else model
    if isinstance(net, KANNetwork | MLP):  # the forward engine's check, for every method
        check_input_width(net, x)


def first_parameter(module: torch.nn.Module) -> Tensor | None:
    """``next(module.parameters(), None)`` without its cost (32 µs for a MetaKAN, on every
    training step): depth first through ``_parameters`` and ``_modules``, in the same order."""
    stack = [module]
    while stack:
        current = stack.pop()
        for parameter in current._parameters.values():
            if parameter is not None:
                return parameter
        stack.extend(child for child in reversed(current._modules.values()) if child is not None)
    return None


def check_chunk_size(chunk_size: int | None) -> int | None:
    """None, or the chunk size as a Python int ≥ 1."""
    if chunk_size is None:
        return None
    number = integer(chunk_size)
    if number is None or number < 1:
        raise ValueError(f"chunk_size={chunk_size!r} is not allowed; give a positive integer")
    return number


def autograd_in_chunks(
    model: Model, x: Tensor, directions: Directions, create_graph: bool, chunk_size: int | None
) -> tuple[Tensor, Tensor]:
    step = chunk_size or max(x.shape[0], 1)
    with basis_recursion():  # second derivatives in x: the torch recursion's own graph
        pieces = [
            autograd_directional_laplacian(
                model,
                x[start : start + step],
                directions.rows(slice(start, start + step)),
                create_graph,
            )
            for start in range(0, x.shape[0], step)
        ]
    values, laplacians = zip(*pieces, strict=True)
    return torch.cat(values), torch.cat(laplacians)


def fallback_message(model: object, method: str) -> str:
    engine = "autograd" if method == "forward" else f"autograd {method}"
    why = (
        "has module hooks, which the forward engine would skip"
        if isinstance(model, torch.nn.Module) and hooked(model)
        else "is not covered by the forward engine (KANNetwork, MLP of plain nn.Linear layers, "
        "optionally in BallHardConstraint)"
    )
    return (
        f"laplacian(method={method!r}): {type(model).__name__} {why}; running the {engine} "
        f"engine instead (one double-backward per direction)"
    )


def compiled_module(model: Model) -> Model:
    """The module a ``torch.compile`` wrapper (``OptimizedModule``) compiles, same function,
    which the forward engine covers; a wrapper with hooks of its own stays (the hooks change
    the function: the autograd fallback runs it)."""
    inner = getattr(model, "_orig_mod", None)
    if inner is None or hooked_itself(model):
        return model
    return inner


def hooked_itself(model: Model) -> bool:
    """Whether ``model`` (not its children) has forward or backward (pre-)hooks."""
    names = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
    return any(getattr(model, name, None) for name in names)


def laplacian(
    model: Model,
    x: Tensor,
    method: str = "forward",
    *,
    create_graph: bool = True,
    samples: int | None = None,
    generator: torch.Generator | None = None,
    chunk_size: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Value and Laplacian (or its estimate) of a scalar-output model at ``x (batch, d)``.

    Args:
        model: ``(batch, d) -> (batch, 1)``, each point's output computed from its own row of
            x alone (the derivatives of the batch's sum are taken: a layer that mixes points,
            e.g. BatchNorm in training mode, gives wrong Laplacians without an error).
        x: the points ``(batch, d)``, of the model's dtype, device and input dimension
            (``ValueError`` otherwise). When ``x`` requires grad, u and Δu keep the graph
            through ``x`` for every method (e.g. ``grad(u, x)`` works afterwards).
        method: "forward" (exact, fast), "autograd" (exact, reference), "sdgd" or "hutchinson"
            (unbiased estimates).
        create_graph: keep the graph so that parameter gradients flow through Δu; with False
            the results are detached (evaluation).
        samples: |S| for "sdgd" (1 … d) or the number of probes for "hutchinson"
            (default 16, at most d for SDGD).
        generator: the random generator of the estimators' draws (the exact methods draw
            nothing and ignore it, so one set of options serves every method).
        chunk_size: evaluate at most this many points at a time (same results); this bounds
            peak memory where no graph is kept (``create_graph=False``, evaluation), while in
            training each chunk's graph is kept for the backward; a KAN's coefficients are
            still generated once. Hutchinson's probes are drawn for the whole batch as packed
            words (8 bytes per 62 signs) and unpacked a chunk at a time.

    A ``torch.compile``d model is differentiated through the module it wraps (compiled
    autograd has no double backward; the values are the same).

    Returns:
        ``(u (batch,), Δu (batch,))``.
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not known; allowed: {', '.join(METHODS)}")
    if not isinstance(create_graph, bool):
        raise ValueError(f"create_graph={create_graph!r} is not allowed; give True or False")
    model = compiled_module(model)
    check_points(x, model)
    chunk_size = check_chunk_size(chunk_size)
    check_generator(generator)
    samples = check_samples(method, samples, x.shape[1])
    directions = draw_directions(method, x, samples, generator)
    if method == "autograd":
        return autograd_in_chunks(model, x, directions, create_graph, chunk_size)
    if not supports(model):
        warnings.warn(fallback_message(model, method), EngineFallbackWarning, stacklevel=2)
        return autograd_in_chunks(model, x, directions, create_graph, chunk_size)
    with torch.set_grad_enabled(create_graph and torch.is_grad_enabled()):
        u, lap = forward_laplacian(model, x, directions, chunk_size)
    return u, lap
