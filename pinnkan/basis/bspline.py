"""B-spline basis of order k on G intervals, with a SiLU base branch (the KAN edge function).

    φ(t; w) = w_b SiLU(t) + Σ_{i=1}^{G+k} c_i B_i(t),     w = [w_b, c_1, …, c_{G+k}]

Knots: G uniform intervals over ``grid_range = [lo, hi]``, step h = (hi − lo)/G, extended by k
knots on each side: t_j = lo + (j − k) h, j = 0 … G + 2k. There are G + k basis functions of
order k (degree k), computed by the Cox–de Boor recursion

    B_{i,0}(t) = 1[t_i ≤ t < t_{i+1}]
    B_{i,p}(t) = (t − t_i)/(t_{i+p} − t_i) B_{i,p−1}(t) + (t_{i+p+1} − t)/(t_{i+p+1} − t_{i+1}) B_{i+1,p−1}(t)

and derivatives from the lower orders (valid for any, not only uniform, knots):

    B'_{i,p}(t) = p [B_{i,p−1}(t)/(t_{i+p} − t_i) − B_{i+1,p−1}(t)/(t_{i+p+1} − t_{i+1})]

applied twice for B''. The knots are a buffer of shape ``(in_features, G + 2k + 1)``, one row per
input, so that a grid can later be adapted to the data per input.
On [lo, hi] the basis is a partition of unity; outside the extended knots it vanishes and only the
SiLU branch remains.

Two implementations of ``(B, B', B'')``: :func:`spline_derivatives_reference` in torch operations
(any device, any order of derivatives in x) and, on the CPU where numba is installed, the kernels
of :mod:`pinnkan.basis.bspline_numba` (the k + 1 non-zero splines per point, one call forward and
one backward); :func:`spline_derivatives` picks one (:mod:`pinnkan.kernels`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..device import draw
from ..kernels import RECURSION_ONLY, compiled_module, kernel_applies, numba_enabled
from ..validation import check_int, check_range
from .base import LinearBasis
from .silu import silu_derivatives


def uniform_knots(grid: int, order: int, grid_range: tuple[float, float]) -> Tensor:
    """The ``G + 2k + 1`` extended uniform knots ``lo + (j − k) h`` (float64, 1-D)."""
    lo, hi = grid_range
    step = (hi - lo) / grid
    return lo + (torch.arange(grid + 2 * order + 1, dtype=torch.float64) - order) * step


def bspline_bases(x: Tensor, knots: Tensor, order: int) -> list[Tensor]:
    """All Cox–de Boor orders: element p is ``B_{·,p}(x)`` of shape ``(batch, in, n_knots − 1 − p)``.

    ``x``: ``(batch, in)``; ``knots``: ``(in, n_knots)``.
    """
    t = knots.unsqueeze(0)  # (1, in, n_knots)
    u = x.unsqueeze(-1)  # (batch, in, 1)
    basis = ((u >= t[..., :-1]) & (u < t[..., 1:])).to(x.dtype)
    bases = [basis]
    for p in range(1, order + 1):
        left = (u - t[..., : -(p + 1)]) / (t[..., p:-1] - t[..., : -(p + 1)])
        right = (t[..., p + 1 :] - u) / (t[..., p + 1 :] - t[..., 1:-p])
        basis = left * basis[..., :-1] + right * basis[..., 1:]
        bases.append(basis)
    return bases


def derivative_from_lower_order(lower: Tensor, knots: Tensor, p: int) -> Tensor:
    """``d/dt B_{·,p}`` from ``lower = B_{·,p−1}`` (or its derivative, for the next order up).

    ``lower``: ``(batch, in, n)`` -> ``(batch, in, n − 1)``.
    """
    t = knots.unsqueeze(0)
    n = lower.shape[-1]
    left_span = t[..., p : p + n - 1] - t[..., : n - 1]
    right_span = t[..., p + 1 : p + n] - t[..., 1:n]
    return p * (lower[..., :-1] / left_span - lower[..., 1:] / right_span)


def spline_derivatives_reference(x: Tensor, knots: Tensor, order: int) -> tuple[Tensor, ...]:
    """``(B, B', B'')`` of the order-``order`` splines, ``(batch, in, n − 1 − order)`` each, by
    the recursion in torch operations (any device, any order of derivatives in x)."""
    bases = bspline_bases(x, knots, order)
    first = derivative_from_lower_order(bases[order - 1], knots, order)
    if order >= 2:
        lower_first = derivative_from_lower_order(bases[order - 2], knots, order - 1)
        second = derivative_from_lower_order(lower_first, knots, order)
    else:
        second = torch.zeros_like(first)
    return bases[order], first, second


def basis_reference(
    x: Tensor, knots: Tensor, order: int, derivatives: bool = True, base: bool = False
) -> tuple[Tensor, ...]:
    """``(B, B', B'')`` (or ``(B,)`` without ``derivatives``) in torch operations, each
    ``(batch, in, base + n − 1 − order)``: with ``base``, SiLU and its derivatives first."""
    if derivatives:
        splines = spline_derivatives_reference(x, knots, order)
    else:
        splines = (bspline_bases(x, knots, order)[order],)
    if not base:
        return splines
    silu = silu_derivatives(x)
    return tuple(torch.cat([s.unsqueeze(-1), spline], dim=-1) for s, spline in zip(silu, splines))


def spline_derivatives(x: Tensor, knots: Tensor, order: int) -> tuple[Tensor, ...]:
    """:func:`spline_derivatives_reference`, by the compiled kernels of
    :mod:`pinnkan.basis.bspline_numba` where they apply (:mod:`pinnkan.kernels`)."""
    if use_kernels(x, knots):
        return compiled_module(KERNELS).BSplineDerivatives.apply(x, knots, order)
    return spline_derivatives_reference(x, knots, order)


def use_kernels(x: Tensor, knots: Tensor) -> bool:
    """Whether the B-spline kernels run for ``x (batch, in)`` and ``knots (in, n)``: one knot row
    per input, in x's dtype (the torch recursion broadcasts and promotes instead), numba
    installed, :func:`kernel_applies`."""
    return (
        numba_enabled()
        and not RECURSION_ONLY.get()
        and x.dim() == 2
        and knots.dim() == 2
        and knots.shape[0] == x.shape[1]
        and kernel_applies([x, knots])
        and has_numba()
    )


KERNELS = "pinnkan.basis.bspline_numba"


def has_numba() -> bool:
    """Whether :mod:`pinnkan.basis.bspline_numba` can be imported (:func:`compiled_module`)."""
    return compiled_module(KERNELS) is not None


class BSplineBasis(LinearBasis):
    """``[SiLU(t), B_1(t), …, B_{G+k}(t)]``: ``num_coefficients = G + k + 1``.

    Args:
        in_features: number of inputs of the layer (one knot row per input).
        grid: number of grid intervals G ≥ 1.
        order: spline order k ≥ 1 (k = 3: cubic).
        grid_range: ``(lo, hi)`` with lo < hi.
        base: include the SiLU base branch (default True, as in KAN).
    """

    def __init__(
        self,
        in_features: int,
        grid: int = 5,
        order: int = 3,
        grid_range: tuple[float, float] = (-1.0, 1.0),
        base: bool = True,
    ) -> None:
        super().__init__()
        check_int("in_features", in_features, 1)
        self.grid = check_int("grid", grid, 1)
        self.order = check_int("order", order, 1)
        check_range("grid_range", grid_range)
        self.base = base
        self.num_coefficients = grid + order + int(base)
        knots = uniform_knots(grid, order, grid_range).expand(in_features, -1).clone()
        # Kept in float64 (cast to x's dtype on use) so that model.double() gets exact knots
        # (model.float() casts buffers too: a model cast to float32 keeps float32 knots).
        self.register_buffer("knots", knots)

    def extra_repr(self) -> str:
        return f"grid={self.grid}, order={self.order}, base={self.base}"

    def initial_coefficients(
        self, out_features: int, in_features: int, generator: torch.Generator | None = None
    ) -> Tensor:
        """w_b ~ U(±1/√in) (as a Linear layer); spline coefficients ~ N(0, (0.1/√in)²)."""
        bound = 1.0 / math.sqrt(in_features)
        shape = (out_features, in_features, self.grid + self.order)
        spline = draw(torch.randn, shape, generator=generator) * (0.1 * bound)
        if not self.base:
            return spline
        base = draw(torch.rand, (out_features, in_features, 1), generator=generator)
        base = (base * 2 - 1) * bound
        return torch.cat([base, spline], dim=-1)

    def input_knots(self, x: Tensor, inputs: Tensor | None = None) -> Tensor:
        """Knot rows of the inputs ``inputs`` (all when None) in x's dtype: ``(k, n_knots)``."""
        knots = self.knots if inputs is None else self.knots.index_select(0, inputs)
        return knots.to(x.dtype)

    def splines(self, x: Tensor, inputs: Tensor | None = None) -> list[Tensor]:
        return bspline_bases(x, self.input_knots(x, inputs), self.order)

    def basis(self, x: Tensor) -> Tensor:
        knots = self.input_knots(x)
        if use_kernels(x, knots):
            kernels = compiled_module(KERNELS)
            return kernels.BSplineDerivatives.apply(x, knots, self.order, False, self.base)
        spline = self.splines(x)[-1]
        if not self.base:
            return spline
        return torch.cat([torch.nn.functional.silu(x).unsqueeze(-1), spline], dim=-1)

    def basis_derivatives(
        self, x: Tensor, inputs: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(B, B', B'')`` of ``[SiLU, B_1, …]`` at ``x (batch, n)`` (knots of ``inputs``, all
        when None): the compiled kernels in one call where they apply, else torch operations."""
        knots = self.input_knots(x, inputs)
        if use_kernels(x, knots):
            return compiled_module(KERNELS).BSplineDerivatives.apply(
                x, knots, self.order, True, self.base
            )
        return basis_reference(x, knots, self.order, base=self.base)
