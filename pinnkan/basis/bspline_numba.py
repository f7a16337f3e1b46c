"""Compiled CPU kernels (numba) for the B-spline basis and its first two derivatives.

Same mathematics as :func:`pinnkan.basis.bspline.bspline_bases` and
:func:`pinnkan.basis.bspline.derivative_from_lower_order`, evaluated only where it is non-zero:
x in the knot interval t_j ≤ x < t_{j+1} meets the k + 1 functions B_{j−k}, …, B_j of order k,
computed by the local Cox–de Boor recursion (levels p = 0 … k, each p + 1 values, the same
formulas and knots as the general one) and differentiated d times by

    d/dt B_{i,q} = q [B_{i,q−1}/(t_{i+q} − t_i) − B_{i+1,q−1}/(t_{i+q+1} − t_{i+1})]

from level k − d. Forward: B, B', B'' ``(batch, in, G + k)``; backward: ∂L/∂x = Σ_m (∂L/∂B_m B'_m
+ ∂L/∂B'_m B''_m + ∂L/∂B''_m B'''_m) from the same local values. Why: on the CPU the general
recursion is ~120 small torch operations on ``(batch, in, G + 2k)`` tensors per layer, forward and
backward, a third of a KAN training step at the paper's sizes; one kernel call each way replaces
them (``results/bench_meta_step.md``). Knots need not be uniform. The torch recursion runs
instead where the kernels cannot (see :mod:`pinnkan.kernels`) and for derivatives of the
backward (``create_graph``).
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit
from torch import Tensor

from ..kernels import batched


@njit(cache=True, inline="always", error_model="numpy")
def knot_interval(v, t) -> int:
    """j with t_j ≤ v < t_{j+1} (binary search), or −1 outside [t_0, t_{n−1})."""
    n = t.shape[0]
    if not (v >= t[0] and v < t[n - 1]):
        return -1
    lo, hi = 0, n - 1  # t[lo] ≤ v < t[hi]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if t[mid] <= v:
            lo = mid
        else:
            hi = mid
    return lo


@njit(cache=True, error_model="numpy")
def inverse_spans(knots, order):
    """``inv[a, p, i]`` = 1/(t_{i+p} − t_i) of input a's knots, p = 1 … order (0 where i + p is
    past the last knot): every division of the recursion, made once per call."""
    inputs, n = knots.shape
    inv = np.zeros((inputs, order + 1, n), np.float64)
    for a in range(inputs):
        for p in range(1, order + 1):
            for i in range(n - p):
                inv[a, p, i] = 1.0 / (knots[a, i + p] - knots[a, i])
    return inv


@njit(cache=True, inline="always", error_model="numpy")
def local_levels(v, t, inv, j, order, levels) -> None:
    """``levels[p, r]`` = B_{j−p+r, p}(v) for p = 0 … order, r = 0 … p (0 where that function
    is not among the n − 1 − p of level p); ``inv`` = this input's :func:`inverse_spans`."""
    n = t.shape[0]
    levels[0, 0] = 1.0
    for p in range(1, order + 1):
        for r in range(p + 1):
            i = j - p + r
            value = 0.0
            if i >= 0 and i <= n - 2 - p:
                if r >= 1:
                    value += (v - t[i]) * inv[p, i] * levels[p - 1, r - 1]
                if r < p:
                    value += (t[i + p + 1] - v) * inv[p, i + 1] * levels[p - 1, r]
            levels[p, r] = value


@njit(cache=True, inline="always", error_model="numpy")
def local_derivative(t, inv, j, order, levels, times, out) -> None:
    """``out[r]`` = d^times/dt^times B_{j−order+r, order} from level order − times of ``levels``
    (``out`` holds order + 1 values)."""
    n = t.shape[0]
    low = order - times
    for r in range(low + 1):
        out[r] = levels[low, r]
    for q in range(low + 1, order + 1):
        for r in range(q, -1, -1):  # in place, from the right: out[r − 1] is still level q − 1
            i = j - q + r
            value = 0.0
            if i >= 0 and i <= n - 2 - q:
                if r >= 1:
                    value += out[r - 1] * inv[q, i]
                if r < q:
                    value -= out[r] * inv[q, i + 1]
                value *= q
            out[r] = value


@njit(cache=True, error_model="numpy")
def basis_derivatives(x, knots, order, derivatives, value, first, second) -> None:
    """``value, first, second (batch, in, count)`` (zero on entry) ← B, B′, B″ at ``x`` (B
    only, ``first`` and ``second`` untouched, unless ``derivatives``). A NaN or infinite x gives
    a NaN row, as the recursion does."""
    batch, inputs = x.shape
    count = value.shape[2]
    levels = np.zeros((order + 1, order + 1), np.float64)
    slope = np.zeros(order + 1, np.float64)
    curvature = np.zeros(order + 1, np.float64)
    inv = inverse_spans(knots, order)
    for b in range(batch):
        for a in range(inputs):
            v, t = x[b, a], knots[a]
            if not np.isfinite(v):
                value[b, a, :] = np.nan
                if derivatives:
                    first[b, a, :] = np.nan
                    second[b, a, :] = np.nan
                continue
            j = knot_interval(v, t)
            if j < 0:
                continue
            local_levels(v, t, inv[a], j, order, levels)
            if derivatives:
                local_derivative(t, inv[a], j, order, levels, 1, slope)
                if order >= 2:
                    local_derivative(t, inv[a], j, order, levels, 2, curvature)
            for r in range(order + 1):
                m = j - order + r
                if m >= 0 and m < count:
                    value[b, a, m] = levels[order, r]
                    if derivatives:
                        first[b, a, m] = slope[r]
                        second[b, a, m] = curvature[r] if order >= 2 else 0.0


@njit(cache=True, error_model="numpy")
def basis_derivatives_backward(x, knots, order, derivatives, g_value, g_first, g_second, dx):
    """``dx (batch, in)`` ← Σ_m ∂L/∂B_m B′_m + ∂L/∂B′_m B″_m + ∂L/∂B″_m B‴_m (the first term
    only unless ``derivatives``: ``g_first`` and ``g_second`` are then not read). NaN where x
    is NaN or infinite, as through the recursion."""
    batch, inputs = x.shape
    count = g_value.shape[2]
    levels = np.zeros((order + 1, order + 1), np.float64)
    slopes = np.zeros((3, order + 1), np.float64)  # B′, B″, B‴
    inv = inverse_spans(knots, order)
    highest = 3 if derivatives else 1
    for b in range(batch):
        for a in range(inputs):
            v, t = x[b, a], knots[a]
            dx[b, a] = 0.0 if np.isfinite(v) else np.nan
            j = knot_interval(v, t)
            if j < 0:
                continue
            local_levels(v, t, inv[a], j, order, levels)
            for times in range(1, highest + 1):
                if times <= order:
                    local_derivative(t, inv[a], j, order, levels, times, slopes[times - 1])
                else:
                    slopes[times - 1, :] = 0.0
            total = 0.0
            for r in range(order + 1):
                m = j - order + r
                if m >= 0 and m < count:
                    total += g_value[b, a, m] * slopes[0, r]
                    if derivatives:
                        total += g_first[b, a, m] * slopes[1, r]
                        total += g_second[b, a, m] * slopes[2, r]
            dx[b, a] = total


def array(tensor: Tensor) -> np.ndarray:
    """A C-contiguous numpy view (or copy) of a CPU tensor, outside autograd."""
    return np.ascontiguousarray(tensor.numpy(force=True))


class BSplineDerivatives(torch.autograd.Function):
    """``(x (batch, in), knots (in, n), order, derivatives)`` -> ``(B, B′, B″)`` (or ``B`` alone
    when ``derivatives`` is False), each ``(batch, in, n − 1 − order)``; differentiable in x (the
    knots are a buffer). The backward runs the torch recursion, for the outputs asked for only,
    where it must itself be differentiable (``create_graph``: second derivatives in x stay exact)
    or where the upstream gradients are batched."""

    @staticmethod
    def forward(ctx, x, knots, order, derivatives=True):
        count = knots.shape[-1] - 1 - order
        shape = (*x.shape, count)
        outputs = [
            torch.zeros(shape, dtype=x.dtype, device="cpu") for _ in range(1 + 2 * derivatives)
        ]
        arrays = [out.numpy() for out in outputs]
        arrays += [arrays[0]] * (3 - len(arrays))  # values only: placeholders, never written
        basis_derivatives(array(x), array(knots), order, derivatives, *arrays)
        ctx.save_for_backward(x, knots)
        ctx.order, ctx.derivatives = order, derivatives
        return tuple(outputs) if derivatives else outputs[0]

    @staticmethod
    def backward(ctx, *grads):
        x, knots = ctx.saved_tensors
        if torch.is_grad_enabled() or any(map(batched, grads)):
            return reference_backward(ctx, x, knots, grads), None, None, None
        dx = torch.empty_like(x, device="cpu")
        arrays = [array(g) for g in grads]  # materialised: zeros for unused outputs
        arrays += [arrays[0]] * (3 - len(arrays))  # values only: placeholders, never read
        basis_derivatives_backward(
            array(x), array(knots), ctx.order, ctx.derivatives, *arrays, dx.numpy()
        )
        return dx, None, None, None


def reference_backward(ctx, x: Tensor, knots: Tensor, grads) -> Tensor:
    """∂L/∂x through the torch recursion (of the outputs the forward gave), as a graph. The
    recursion's graph is built once per forward and kept on ``ctx``: the ``autograd`` engine
    comes back through this node once per coordinate (d second-derivative passes)."""
    from .bspline import bspline_bases, spline_derivatives_reference

    with torch.enable_grad():
        if getattr(ctx, "reference", None) is None:
            if ctx.derivatives:
                ctx.reference = spline_derivatives_reference(x, knots, ctx.order)
            else:
                ctx.reference = (bspline_bases(x, knots, ctx.order)[ctx.order],)
        pairs = [(out, g) for out, g in zip(ctx.reference, grads, strict=True) if out.requires_grad]
        (dx,) = torch.autograd.grad(
            [out for out, _ in pairs],
            [x],
            [g for _, g in pairs],
            create_graph=True,
            retain_graph=True,
        )
    return dx
