"""Compiled CPU kernels (numba) for the B-spline basis and its first two derivatives.

Same mathematics as :func:`pinnkan.basis.bspline.bspline_bases` and
:func:`pinnkan.basis.bspline.derivative_from_lower_order`, evaluated only where it is non-zero:
x in the knot interval t_j ≤ x < t_{j+1} meets the k + 1 functions B_{j−k}, …, B_j of order k,
and on that interval each is a polynomial of degree k in u = x − t_j. Once per call the
Cox–de Boor recursion, run on polynomials, gives their coefficients for every interval of every
distinct knot row (:func:`interval_polynomials`, O(rows·(G + 2k)·k³)); each point then costs an
interval lookup and Horner's rule for k + 1 polynomials and their derivatives.

Forward: B, B', B'' ``(batch, in, G + k)``; backward: ∂L/∂x = Σ_m (∂L/∂B_m B'_m + ∂L/∂B'_m B''_m
+ ∂L/∂B''_m B'''_m) from the same polynomials. Why: on the CPU the general recursion is ~120
small torch operations on ``(batch, in, G + 2k)`` tensors per layer, forward and backward; one
kernel call each way replaces them, at 20–35 ns per point (``benchmarks/bspline_kernels.py``,
``results/bench_kernels.md``). Knots need not be uniform. The torch recursion runs instead where
the kernels cannot (see :mod:`pinnkan.kernels`) and for derivatives of the backward
(``create_graph``).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from numba import njit
from torch import Tensor

from ..kernels import array, batched


@njit(cache=True, error_model="numpy")
def distinct_rows(knots):
    """``(rows (in,), sources)``: input a's knots are row ``rows[a]`` of the distinct rows, which
    are the inputs ``sources``; a row equal to the one before is not repeated (all inputs share
    one row until a grid update adapts them)."""
    inputs = knots.shape[0]
    rows = np.zeros(inputs, np.int64)
    sources = [0]
    for a in range(1, inputs):
        if (knots[a] == knots[a - 1]).all():
            rows[a] = rows[a - 1]
        else:
            rows[a] = len(sources)
            sources.append(a)
    return rows, np.array(sources)


@njit(cache=True, error_model="numpy")
def interval_polynomials(knots, order):
    """``poly[a, j, r, e]``: the coefficient of u^e, u = v − t_j, of B_{j−order+r, order} on the
    knot interval [t_j, t_{j+1}) of the knot row ``knots[a]`` (rows of functions that do not
    exist are zero).

    The Cox–de Boor recursion run on polynomials in u: with v − t_i = u + (t_j − t_i) and
    t_{i+p+1} − v = (t_{i+p+1} − t_j) − u, level p's ``B_{i,p}`` (i = j − p + r) is
    ``(u + t_j − t_i)/(t_{i+p} − t_i) · B_{i,p−1} + (t_{i+p+1} − t_j − u)/(t_{i+p+1} − t_{i+1})
    · B_{i+1,p−1}``, the first term for r ≥ 1 and the second for r < p (the others vanish on
    this interval), so a zero span enters only where the recursion uses it. Empty intervals
    (t_j = t_{j+1}, never selected) stay zero. Cost O(in·n·k³), once per call.
    """
    inputs, n = knots.shape
    poly = np.zeros((inputs, n - 1, order + 1, order + 1), np.float64)
    level = np.zeros((order + 1, order + 1), np.float64)
    upper = np.zeros((order + 1, order + 1), np.float64)
    for a in range(inputs):
        t = knots[a]
        for j in range(n - 1):
            if not t[j] < t[j + 1]:
                continue
            level[:, :] = 0.0
            level[0, 0] = 1.0
            for p in range(1, order + 1):
                upper[:, :] = 0.0
                for r in range(p + 1):
                    i = j - p + r
                    if i < 0 or i > n - 2 - p:
                        continue
                    if r >= 1:
                        scale = 1.0 / (t[i + p] - t[i])
                        offset = (t[j] - t[i]) * scale
                        for e in range(p):
                            upper[r, e] += offset * level[r - 1, e]
                            upper[r, e + 1] += scale * level[r - 1, e]
                    if r < p:
                        scale = 1.0 / (t[i + p + 1] - t[i + 1])
                        offset = (t[i + p + 1] - t[j]) * scale
                        for e in range(p):
                            upper[r, e] += offset * level[r, e]
                            upper[r, e + 1] -= scale * level[r, e]
                level, upper = upper, level
            poly[a, j] = level
    return poly


@njit(cache=True, inline="always", error_model="numpy")
def knot_interval(v, knots, a, guess_scale) -> int:
    """j with t_j ≤ v < t_{j+1}, or −1 outside [t_0, t_{n−1}), for input a's knots ``knots[a]``:
    the interval v would be in if the knots were uniform (``guess_scale`` = (n − 1)/(t_{n−1} −
    t_0)), which is right for uniform knots, else a binary search (adapted grids)."""
    n = knots.shape[1]
    if not (v >= knots[a, 0] and v < knots[a, n - 1]):
        return -1
    j = min(int((v - knots[a, 0]) * guess_scale), n - 2)
    if knots[a, j] <= v and v < knots[a, j + 1]:
        return j
    lo, hi = 0, n - 1  # t[lo] ≤ v < t[hi]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if knots[a, mid] <= v:
            lo = mid
        else:
            hi = mid
    return lo


@njit(cache=True, error_model="numpy")
def guess_scales(knots):
    """``(in,)`` (n − 1)/(t_{n−1} − t_0) per input (0 for a degenerate row): see
    :func:`knot_interval`."""
    inputs, n = knots.shape
    scales = np.zeros(inputs, np.float64)
    for a in range(inputs):
        width = knots[a, n - 1] - knots[a, 0]
        if width > 0 and np.isfinite(width):
            scales[a] = (n - 1) / width
    return scales


@njit(cache=True, inline="always", error_model="numpy")
def silu_derivatives(t):
    """``(s, s′, s″, s‴)`` of SiLU s(t) = t σ(t) at a float64 t, with q = σ(1 − σ):
    s′ = σ (1 + t (1 − σ)), s″ = q (2 + t (1 − 2σ)), s‴ = q [(1 − 2σ)(3 + t (1 − 2σ)) − 2 t q]
    (the formulas of :mod:`pinnkan.basis.silu`, whose torch version runs elsewhere)."""
    sigma = 1.0 / (1.0 + np.exp(-t))
    q = sigma * (1.0 - sigma)
    tilt = 1.0 - 2.0 * sigma
    third = q * (tilt * (3.0 + t * tilt) - 2.0 * t * q)
    return t * sigma, sigma * (1.0 + t * (1.0 - sigma)), q * (2.0 + t * tilt), third


@functools.cache
def kernels_of_order(order: int):
    """``(forward, backward)`` kernels for splines of order ``order``, compiled with the order as
    a constant: numba then unrolls the k + 1 polynomials and Horner's rule, which makes a point
    about 1.7 times faster than with the order as an argument. Each order compiles on first use (a
    few seconds per dtype) and is cached on disk by numba.
    """

    @njit(cache=True, error_model="numpy")
    def basis_derivatives(x, knots, derivatives, base, value, first, second) -> None:
        """``value, first, second (batch, in, base + count)`` (zero on entry) ← B, B′, B″ at
        ``x`` (B only, ``first`` and ``second`` untouched, unless ``derivatives``), from
        :func:`interval_polynomials` by Horner's rule for a polynomial and its derivatives;
        with ``base``, column 0 holds SiLU and its derivatives (:func:`silu_derivatives`) and
        the splines follow. A NaN or infinite x gives NaN splines, as the recursion does."""
        batch, inputs = x.shape
        shift = 1 if base else 0
        count = value.shape[2] - shift
        rows, sources = distinct_rows(knots)
        poly = interval_polynomials(knots[sources], order)
        scales = guess_scales(knots)
        for b in range(batch):
            for a in range(inputs):
                v = x[b, a]
                if base:
                    s0, s1, s2, _ = silu_derivatives(np.float64(v))
                    value[b, a, 0] = s0
                    if derivatives:
                        first[b, a, 0] = s1
                        second[b, a, 0] = s2
                if not np.isfinite(v):
                    value[b, a, shift:] = np.nan
                    if derivatives:
                        first[b, a, shift:] = np.nan
                        second[b, a, shift:] = np.nan
                    continue
                j = knot_interval(v, knots, a, scales[a])
                if j < 0:
                    continue
                u = np.float64(v) - np.float64(knots[a, j])
                row = rows[a]
                for r in range(order + 1):
                    m = j - order + r
                    if m < 0 or m >= count:
                        continue
                    p0, p1, p2 = poly[row, j, r, order], 0.0, 0.0
                    for e in range(order - 1, -1, -1):
                        p2 = p2 * u + p1
                        p1 = p1 * u + p0
                        p0 = p0 * u + poly[row, j, r, e]
                    value[b, a, shift + m] = max(p0, 0.0)  # B ≥ 0; round-off near a zero is not
                    if derivatives:
                        first[b, a, shift + m] = p1
                        second[b, a, shift + m] = 2.0 * p2

    @njit(cache=True, error_model="numpy")
    def basis_derivatives_backward(x, knots, derivatives, base, g_value, g_first, g_second, dx):
        """``dx (batch, in)`` ← Σ_m ∂L/∂B_m B′_m + ∂L/∂B′_m B″_m + ∂L/∂B″_m B‴_m over the
        columns of :func:`basis_derivatives` (the first term only unless ``derivatives``:
        ``g_first`` and ``g_second`` are then not read). NaN where x is NaN or infinite, as
        through the recursion."""
        batch, inputs = x.shape
        shift = 1 if base else 0
        count = g_value.shape[2] - shift
        rows, sources = distinct_rows(knots)
        poly = interval_polynomials(knots[sources], order)
        scales = guess_scales(knots)
        for b in range(batch):
            for a in range(inputs):
                v = x[b, a]
                if not np.isfinite(v):
                    dx[b, a] = np.nan
                    continue
                total = 0.0
                if base:
                    _, s1, s2, s3 = silu_derivatives(np.float64(v))
                    total += g_value[b, a, 0] * s1
                    if derivatives:
                        total += g_first[b, a, 0] * s2 + g_second[b, a, 0] * s3
                j = knot_interval(v, knots, a, scales[a])
                if j >= 0:
                    u = np.float64(v) - np.float64(knots[a, j])
                    row = rows[a]
                    for r in range(order + 1):
                        m = j - order + r
                        if m < 0 or m >= count:
                            continue
                        p0, p1, p2, p3 = poly[row, j, r, order], 0.0, 0.0, 0.0
                        for e in range(order - 1, -1, -1):
                            p3 = p3 * u + p2
                            p2 = p2 * u + p1
                            p1 = p1 * u + p0
                            p0 = p0 * u + poly[row, j, r, e]
                        total += g_value[b, a, shift + m] * p1
                        if derivatives:
                            total += g_first[b, a, shift + m] * 2.0 * p2
                            total += g_second[b, a, shift + m] * 6.0 * p3
                dx[b, a] = total

    return basis_derivatives, basis_derivatives_backward


class BSplineDerivatives(torch.autograd.Function):
    """``(x (batch, in), knots (in, n), order, derivatives, base)`` -> ``(B, B′, B″)`` (or ``B``
    alone when ``derivatives`` is False), each ``(batch, in, base + n − 1 − order)``: with
    ``base`` (default False) SiLU and its derivatives come first, as in
    :meth:`pinnkan.basis.bspline.BSplineBasis.basis_derivatives`. Differentiable in x (the
    knots are a buffer). The backward runs the torch recursion, for the outputs asked for only,
    where it must itself be differentiable (``create_graph``: second derivatives in x stay exact)
    or where the upstream gradients are batched."""

    @staticmethod
    def forward(ctx, x, knots, order, derivatives=True, base=False):
        count = int(base) + knots.shape[-1] - 1 - order
        shape = (*x.shape, count)
        outputs = [
            torch.zeros(shape, dtype=x.dtype, device="cpu") for _ in range(1 + 2 * derivatives)
        ]
        arrays = [out.numpy() for out in outputs]
        arrays += [arrays[0]] * (3 - len(arrays))  # values only: placeholders, never written
        forward = kernels_of_order(order)[0]
        forward(array(x), array(knots), derivatives, base, *arrays)
        ctx.save_for_backward(x, knots)
        ctx.order, ctx.derivatives, ctx.base = order, derivatives, base
        return tuple(outputs) if derivatives else outputs[0]

    @staticmethod
    def backward(ctx, *grads):
        x, knots = ctx.saved_tensors
        if torch.is_grad_enabled() or any(map(batched, grads)):
            return reference_backward(ctx, x, knots, grads), None, None, None, None
        dx = torch.empty_like(x, device="cpu")
        arrays = [array(g) for g in grads]  # materialised: zeros for unused outputs
        arrays += [arrays[0]] * (3 - len(arrays))  # values only: placeholders, never read
        backward = kernels_of_order(ctx.order)[1]
        backward(array(x), array(knots), ctx.derivatives, ctx.base, *arrays, dx.numpy())
        return dx, None, None, None, None


def reference_backward(ctx, x: Tensor, knots: Tensor, grads) -> Tensor:
    """∂L/∂x through the torch recursion (of the outputs the forward gave), as a graph. The
    recursion's graph is built once per forward and kept on ``ctx``: the ``autograd`` engine
    comes back through this node once per coordinate (d second-derivative passes)."""
    from .bspline import basis_reference

    with torch.enable_grad():
        if getattr(ctx, "reference", None) is None:
            ctx.reference = basis_reference(x, knots, ctx.order, ctx.derivatives, ctx.base)
        pairs = [(out, g) for out, g in zip(ctx.reference, grads, strict=True) if out.requires_grad]
        (dx,) = torch.autograd.grad(
            [out for out, _ in pairs],
            [x],
            [g for _, g in pairs],
            create_graph=True,
            retain_graph=True,
        )
    return dx
