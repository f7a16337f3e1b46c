"""Compiled CPU kernels (numba) for the B-spline basis and its first two derivatives.

Same mathematics as :func:`pinnkan.basis.bspline.bspline_bases` and
:func:`pinnkan.basis.bspline.derivative_from_lower_order`, evaluated only where it is non-zero:
x in the knot interval t_j ≤ x < t_{j+1} meets the k + 1 functions B_{j−k}, …, B_j of order k,
and on that interval each is a polynomial of degree k in u = x − t_j. Once per call the
Cox–de Boor recursion, run on polynomials, gives their coefficients for every interval of every
distinct knot row (:func:`interval_polynomials`, O(rows·(G + 2k)·k³)); each point then costs an
interval lookup and Horner's rule for k + 1 polynomials and their derivatives.

Forward: B, B', B'' ``(batch, in, G + k)`` (the jet kernel), or B alone (the values kernel, for a
layer's plain forward and an SDGD first layer: Horner's rule for the values only and SiLU from
torch's vectorised operation, ``results/bench_kernels.md`` § 6); backward:
∂L/∂x = Σ_m (∂L/∂B_m B'_m + ∂L/∂B'_m B''_m + ∂L/∂B''_m B'''_m) from the same polynomials. Why: on the CPU the general recursion is ~120
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
from torch import Tensor

from ..kernels import array, batched
from ..numba_cache import cached_njit

# A knot row whose longest interval is at most this many times its shortest is evaluated from the
# intervals' Taylor polynomials; a more graded row (an adapted grid) by the recursion at each point,
# which stays exact where the polynomial form loses digits (B'' ~ 1e-13 relative at a ratio of 100,
# ~1e-8 at 1e6).
MAX_SPAN_RATIO = 8.0
TAYLOR, RECURSION, NOT_FINITE = 0, 1, 2


@cached_njit(error_model="numpy")
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


@cached_njit(inline="always", error_model="numpy")
def local_levels(v, t, j, order, levels) -> None:
    """``levels[p, r]`` = B_{j−p+r, p}(v), the Cox–de Boor levels p = 0 … order at a float64 v
    of the knot interval j (or its left end t_j, from the right), 0 where that function is not
    among the n − 1 − p of level p. Only the terms that do not vanish on interval j are formed,
    so a zero span enters only where the recursion itself divides by it."""
    n = t.shape[0]
    levels[:, :] = 0.0
    levels[0, 0] = 1.0
    for p in range(1, order + 1):
        for r in range(p + 1):
            i = j - p + r
            value = 0.0
            if i >= 0 and i <= n - 2 - p:
                if r >= 1:
                    value += (v - t[i]) / (t[i + p] - t[i]) * levels[p - 1, r - 1]
                if r < p:
                    value += (t[i + p + 1] - v) / (t[i + p + 1] - t[i + 1]) * levels[p - 1, r]
            levels[p, r] = value


@cached_njit(inline="always", error_model="numpy")
def local_derivative(t, j, order, levels, times, out) -> None:
    """``out[r]`` = d^times/dv^times B_{j−order+r, order} at the point of :func:`local_levels`,
    from its level order − times, by ``d/dt B_{i,q} = q [B_{i,q−1}/(t_{i+q} − t_i) −
    B_{i+1,q−1}/(t_{i+q+1} − t_{i+1})]`` (the spans it divides by contain [t_j, t_{j+1}), so
    none is zero)."""
    n = t.shape[0]
    low = order - times
    out[:] = 0.0
    for r in range(low + 1):
        out[r] = levels[low, r]
    for q in range(low + 1, order + 1):
        for r in range(q, -1, -1):  # in place, from the right: out[r − 1] is still level q − 1
            i = j - q + r
            value = 0.0
            if i >= 0 and i <= n - 2 - q:
                if r >= 1:
                    value += out[r - 1] / (t[i + q] - t[i])
                if r < q:
                    value -= out[r] / (t[i + q + 1] - t[i + 1])
                value *= q
            out[r] = value


@cached_njit(error_model="numpy")
def interval_polynomials(knots, order, methods):
    """``poly[a, j, r, e]``: the coefficient of u^e, u = v − t_j, of B_{j−order+r, order} on the
    knot interval [t_j, t_{j+1}) of the knot row ``knots[a]`` (rows of functions that do not
    exist are zero): its Taylor coefficients ``B^(e)(t_j⁺)/e!`` at the interval's left end.

    The values and derivatives come from the recursion's own stable formulas
    (:func:`local_levels`, :func:`local_derivative`), not from multiplying out the
    recursion's linear factors as polynomials. Only for the rows whose ``methods`` entry is
    TAYLOR (:func:`row_methods`); the others, and empty intervals (t_j = t_{j+1}, never
    selected), stay zero. Cost O(rows·n·k³), once per call.
    """
    inputs, n = knots.shape
    poly = np.zeros((inputs, n - 1, order + 1, order + 1), np.float64)
    levels = np.zeros((order + 1, order + 1), np.float64)
    derivative = np.zeros(order + 1, np.float64)
    for a in range(inputs):
        if methods[a] != TAYLOR:
            continue
        t = knots[a]
        for j in range(n - 1):
            if not t[j] < t[j + 1]:
                continue
            local_levels(np.float64(t[j]), t, j, order, levels)
            for r in range(order + 1):
                poly[a, j, r, 0] = levels[order, r]
            factorial = 1.0
            for e in range(1, order + 1):
                factorial *= e
                local_derivative(t, j, order, levels, e, derivative)
                for r in range(order + 1):
                    poly[a, j, r, e] = derivative[r] / factorial
    return poly


@cached_njit(inline="always", error_model="numpy")
def knot_interval(v, knots, a, guess_scale) -> int:
    """j with t_j ≤ v < t_{j+1}, or −1 outside [t_0, t_{n−1}), for input a's knots ``knots[a]``:
    the interval v would be in if the knots were uniform (``guess_scale`` = (n − 1)/(t_{n−1} −
    t_0)), which is right for uniform knots, else a binary search (adapted grids)."""
    n = knots.shape[1]
    if not (v >= knots[a, 0] and v < knots[a, n - 1]):
        return -1
    # no guess for a row of infinite width (scale 0: the product is NaN, whose int() is
    # INT64_MIN, an index far outside the row)
    j = min(int((v - knots[a, 0]) * guess_scale), n - 2) if guess_scale > 0 else 0
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


@cached_njit(inline="always", error_model="numpy")
def point_method(v, knots, a, row_method, guess_scale):
    """``(j, method)`` of x = v at input a, whose knot row is evaluated by ``row_method``
    (:func:`row_methods`): inside the row, its knot interval j and TAYLOR or RECURSION; else
    NOT_FINITE, no splines to evaluate (they vanish outside the knots, or are NaN:
    :func:`nan_splines`). The interval is looked up first, so that the common case takes one
    test."""
    j = knot_interval(v, knots, a, guess_scale)  # −1 for NaN, ±inf or outside
    return j, (row_method if j >= 0 else NOT_FINITE)


@cached_njit(inline="always", error_model="numpy")
def nan_splines(v, row_method) -> bool:
    """Whether the splines at v are NaN, as the recursion gives them: a NaN or infinite v, or a
    row with a NaN or infinite knot."""
    return not np.isfinite(v) or row_method == NOT_FINITE


@cached_njit(error_model="numpy")
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


@cached_njit(inline="always", error_model="numpy")
def logistic_pair(growth):
    """``(σ, 1 − σ)`` of σ(t) = 1 / (1 + e^−t) from ``growth`` = e^t: 1 − σ = 1 / (1 + e^t)
    always, and σ = e^t (1 − σ) where e^t ≤ 1, else 1 − (1 − σ) (then σ > ½), so that neither
    loses digits to cancellation (1 − σ by subtraction left s″ off by 4e-8 relative at t = 20);
    e^t = ∞ gives (1, 0) and e^t = 0 gives (0, 1)."""
    rest = 1.0 / (1.0 + growth)
    return (1.0 - rest if growth > 1.0 else growth * rest), rest


@cached_njit(inline="always", error_model="numpy")
def silu_derivatives(t):
    """``(s, s′, s″, s‴)`` of SiLU s(t) = t σ(t) at a float64 t, with σ and 1 − σ from
    :func:`logistic_pair` and q = σ(1 − σ): s′ = σ (1 + t (1 − σ)), s″ = q (2 + t (1 − 2σ)),
    s‴ = q [(1 − 2σ)(3 + t (1 − 2σ)) − 2 t q] (the formulas of :mod:`pinnkan.basis.silu`, whose
    torch version runs elsewhere)."""
    sigma, rest = logistic_pair(np.exp(t))
    q = sigma * rest
    tilt = rest - sigma
    third = q * (tilt * (3.0 + t * tilt) - 2.0 * t * q)
    return t * sigma, sigma * (1.0 + t * rest), q * (2.0 + t * tilt), third


@cached_njit(error_model="numpy")
def row_methods(knots):
    """``(rows,)`` how each knot row is evaluated: TAYLOR (longest interval ≤ MAX_SPAN_RATIO ×
    the shortest), RECURSION (more graded, or repeated knots) or NOT_FINITE (a NaN or infinite
    knot: NaN splines, as the recursion gives)."""
    rows, n = knots.shape
    methods = np.zeros(rows, np.int64)
    for a in range(rows):
        if not np.isfinite(knots[a]).all():
            methods[a] = NOT_FINITE
            continue
        shortest, longest = np.inf, 0.0
        for j in range(n - 1):
            span = knots[a, j + 1] - knots[a, j]
            shortest, longest = min(shortest, span), max(longest, span)
        if not (shortest > 0 and longest <= MAX_SPAN_RATIO * shortest):
            methods[a] = RECURSION
    return methods


@cached_njit(inline="always", error_model="numpy")
def recursion_jet(v, t, j, order, highest, levels, out) -> None:
    """``out[d, r]`` = d^d/dv^d B_{j−order+r, order}(v), d = 0 … ``highest`` (≤ 3), r = 0 … order,
    for v in the knot interval j of the knot row t, by the recursion at v (the graded rows of
    :func:`row_methods`)."""
    local_levels(np.float64(v), t, j, order, levels)
    for r in range(order + 1):
        out[0, r] = levels[order, r]
    for times in range(1, highest + 1):
        if times <= order:
            local_derivative(t, j, order, levels, times, out[times])
        else:
            out[times, :] = 0.0


@cached_njit(inline="always", error_model="numpy")
def horner_jet(taylor, row, j, r, order, u):
    """``(p, p′, p″, p‴)`` at u of the polynomial ``Σ_e taylor[row, j, r, e] u^e`` (Horner's rule
    for a polynomial and its derivatives, one pass)."""
    p0, p1, p2, p3 = taylor[row, j, r, order], 0.0, 0.0, 0.0
    for e in range(order - 1, -1, -1):
        p3 = p3 * u + p2
        p2 = p2 * u + p1
        p1 = p1 * u + p0
        p0 = p0 * u + taylor[row, j, r, e]
    return p0, p1, 2.0 * p2, 6.0 * p3


@cached_njit(inline="always", error_model="numpy")
def horner_value(taylor, row, j, r, order, u):
    """``p(u)`` alone, for the basis without derivatives (:func:`horner_jet` costs about four
    times the multiply-adds)."""
    p0 = taylor[row, j, r, order]
    for e in range(order - 1, -1, -1):
        p0 = p0 * u + taylor[row, j, r, e]
    return p0


@cached_njit(inline="always", error_model="numpy")
def horner_slope(taylor, row, j, r, order, u):
    """``(p, p′)`` at u, for the backward of the basis without derivatives."""
    p0, p1 = taylor[row, j, r, order], 0.0
    for e in range(order - 1, -1, -1):
        p1 = p1 * u + p0
        p0 = p0 * u + taylor[row, j, r, e]
    return p0, p1


@cached_njit(error_model="numpy")
def knot_tables(knots, order):
    """What both kernels read about ``knots (in, n)``: each input's distinct row ``rows (in,)``,
    the rows' :func:`row_methods`, their :func:`interval_polynomials` and each input's
    :func:`guess_scales`."""
    rows, sources = distinct_rows(knots)
    methods = row_methods(knots[sources])
    return rows, methods, interval_polynomials(knots[sources], order, methods), guess_scales(knots)


@functools.cache
def kernels_of_order(order: int):
    """``(forward, backward)`` kernels for splines of order ``order``, compiled with the order as
    a constant: numba then unrolls the k + 1 polynomials and Horner's rule, which makes a point
    about 1.7 times faster than with the order as an argument. Each order compiles on first use (a
    few seconds per dtype) and is cached on disk by numba.
    """

    @cached_njit(error_model="numpy")
    def basis_derivatives(x, knots, base, value, first, second) -> None:
        """``value, first, second (batch, in, base + count)`` ← B, B′, B″ at ``x``, by Horner's
        rule on :func:`interval_polynomials` or, for a graded knot row, :func:`recursion_jet`;
        with ``base``, column 0 holds SiLU and its derivatives (:func:`silu_derivatives`) and
        the splines follow. A NaN or infinite x, or knot, gives NaN splines, as the recursion
        does."""
        batch, inputs = x.shape
        shift = 1 if base else 0
        count = value.shape[2] - shift
        rows, methods, taylor, scales = knot_tables(knots, order)
        levels = np.zeros((order + 1, order + 1), np.float64)  # scratch of recursion_jet
        jet = np.zeros((4, order + 1), np.float64)
        for b in range(batch):
            for a in range(inputs):
                v = x[b, a]
                if base:
                    s0, s1, s2, _ = silu_derivatives(np.float64(v))
                    value[b, a, 0], first[b, a, 0], second[b, a, 0] = s0, s1, s2
                for m in range(shift, shift + count):  # loops: a slice builds a view per point
                    value[b, a, m], first[b, a, m], second[b, a, m] = 0.0, 0.0, 0.0
                row = rows[a]
                j, method = point_method(v, knots, a, methods[row], scales[a])
                if method == NOT_FINITE:  # no splines to evaluate: zeros, or NaN
                    if nan_splines(v, methods[row]):
                        for m in range(shift, shift + count):
                            value[b, a, m], first[b, a, m], second[b, a, m] = np.nan, np.nan, np.nan
                    continue
                u = np.float64(v) - np.float64(knots[a, j])
                if method == RECURSION:
                    recursion_jet(v, knots[a], j, order, 2, levels, jet)
                for r in range(order + 1):
                    m = j - order + r
                    if m < 0 or m >= count:
                        continue
                    if method == RECURSION:
                        p0, p1, p2 = jet[0, r], jet[1, r], jet[2, r]
                    else:
                        p0, p1, p2, _ = horner_jet(taylor, row, j, r, order, u)
                    value[b, a, shift + m] = max(p0, 0.0)  # B ≥ 0, round-off or not
                    first[b, a, shift + m] = p1
                    second[b, a, shift + m] = p2

    @cached_njit(error_model="numpy")
    def basis_values(x, knots, base, silu, value) -> None:
        """``value (batch, in, base + count)`` ← B at ``x`` alone (Horner's rule for the values
        only, :func:`horner_value`), with ``base`` the given ``silu (batch, in)`` in column 0
        (SiLU(x), computed beforehand by torch's vectorised operation): the layers' plain
        forward and the value part of an SDGD first layer, where points × inputs are many. The
        common case (a uniform knot row, x inside it) takes one test; a graded row, an x outside
        the knots, a NaN or infinite x or knot give what :func:`basis_derivatives` gives."""
        batch, inputs = x.shape
        shift = 1 if base else 0
        count = value.shape[2] - shift
        rows, methods, taylor, scales = knot_tables(knots, order)
        levels = np.zeros((order + 1, order + 1), np.float64)  # scratch of recursion_jet
        jet = np.zeros((4, order + 1), np.float64)
        for b in range(batch):
            for a in range(inputs):
                v = x[b, a]
                if base:
                    value[b, a, 0] = silu[b, a]
                for m in range(count):  # a loop: a slice would build a view per point
                    value[b, a, shift + m] = 0.0
                row = rows[a]
                j, method = point_method(v, knots, a, methods[row], scales[a])
                if method == NOT_FINITE:  # no splines to evaluate: zeros, or NaN
                    if nan_splines(v, methods[row]):
                        for m in range(count):
                            value[b, a, shift + m] = np.nan
                    continue
                u = np.float64(v) - np.float64(knots[a, j])
                if method == RECURSION:
                    recursion_jet(v, knots[a], j, order, 0, levels, jet)
                for r in range(order + 1):
                    m = j - order + r
                    if m < 0 or m >= count:
                        continue
                    if method == RECURSION:
                        p0 = jet[0, r]
                    else:
                        p0 = horner_value(taylor, row, j, r, order, u)
                    value[b, a, shift + m] = max(p0, 0.0)  # B ≥ 0, round-off or not

    @cached_njit(error_model="numpy")
    def basis_derivatives_backward(x, knots, derivatives, base, g_value, g_first, g_second, dx):
        """``dx (batch, in)`` ← Σ_m ∂L/∂B_m B′_m + ∂L/∂B′_m B″_m + ∂L/∂B″_m B‴_m over the
        columns of :func:`basis_derivatives` (the first term only unless ``derivatives``:
        ``g_first`` and ``g_second`` are then not read). NaN where x or a knot is NaN or
        infinite, as through the recursion."""
        batch, inputs = x.shape
        shift = 1 if base else 0
        count = g_value.shape[2] - shift
        rows, methods, taylor, scales = knot_tables(knots, order)
        levels = np.zeros((order + 1, order + 1), np.float64)  # scratch of recursion_jet
        jet = np.zeros((4, order + 1), np.float64)
        highest = 3 if derivatives else 1
        for b in range(batch):
            for a in range(inputs):
                v = x[b, a]
                row = rows[a]
                j, method = point_method(v, knots, a, methods[row], scales[a])
                if method == NOT_FINITE and nan_splines(v, methods[row]):
                    dx[b, a] = np.nan
                    continue
                total = 0.0
                if base:
                    _, s1, s2, s3 = silu_derivatives(np.float64(v))
                    total += g_value[b, a, 0] * s1
                    if derivatives:
                        total += g_first[b, a, 0] * s2 + g_second[b, a, 0] * s3
                if method != NOT_FINITE:
                    u = np.float64(v) - np.float64(knots[a, j])
                    graded = method == RECURSION
                    if graded:
                        recursion_jet(v, knots[a], j, order, highest, levels, jet)
                    for r in range(order + 1):
                        m = j - order + r
                        if m < 0 or m >= count:
                            continue
                        if not derivatives:  # values alone: ∂L/∂B_m B′_m
                            p1 = (
                                jet[1, r]
                                if graded
                                else horner_slope(taylor, row, j, r, order, u)[1]
                            )
                            total += g_value[b, a, shift + m] * p1
                            continue
                        if graded:
                            p1, p2, p3 = jet[1, r], jet[2, r], jet[3, r]
                        else:
                            _, p1, p2, p3 = horner_jet(taylor, row, j, r, order, u)
                        total += g_value[b, a, shift + m] * p1
                        total += g_first[b, a, shift + m] * p2 + g_second[b, a, shift + m] * p3
                dx[b, a] = total

    return basis_derivatives, basis_values, basis_derivatives_backward


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
            torch.empty(shape, dtype=x.dtype, device="cpu") for _ in range(1 + 2 * derivatives)
        ]  # every entry written by the kernel
        arrays = [out.numpy() for out in outputs]
        jet, values = kernels_of_order(order)[:2]
        if derivatives:
            jet(array(x), array(knots), base, *arrays)
        else:
            values(array(x), array(knots), base, silu_column(x, base), arrays[0])
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
        backward = kernels_of_order(ctx.order)[2]
        backward(array(x), array(knots), ctx.derivatives, ctx.base, *arrays, dx.numpy())
        return dx, None, None, None, None


def silu_column(x: Tensor, base: bool) -> np.ndarray:
    """SiLU(x) ``(batch, in)`` for the basis without derivatives (``basis_values``), by torch's
    vectorised SiLU: about 1.7 ns a point on this project's CPU, where an exponential per point
    inside the kernel takes about 10 (the jet kernel computes SiLU and its derivatives itself, in
    float64); a placeholder ``(0, 0)`` without the SiLU column."""
    if base:
        return array(torch.nn.functional.silu(x.detach()))
    return np.empty((0, 0), x.numpy(force=True).dtype)  # a view: no copy of a strided x


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
