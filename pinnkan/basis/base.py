"""Edge families: the univariate functions φ(t; w) that sit on the edges of a KAN layer.

A KAN layer computes ``y_j = Σ_i φ(x_i; w_ji)``. An :class:`EdgeFamily` answers one question,
*which function is φ?*, for a whole layer at once, given the coefficient tensor
``w`` of shape ``(out_features, in_features, num_coefficients)``. Where ``w`` comes from (a
parameter or a meta-learner) is the layer's business, not the family's.

Two kinds of family exist:

* :class:`LinearBasis` — φ is linear in its coefficients, ``φ(t; w) = wᵀ B(t)`` (B-spline with
  SiLU base, Gaussian RBF). The layer is one basis expansion ``(batch, in, m)`` followed by ONE
  contraction with ``w``; no ``(batch, in, out)`` tensor is formed in the forward pass.
* :class:`ParametricFamily` — φ depends non-linearly on a few per-edge parameters (wavelets
  ``w·ψ((t − μ)/σ)``), so each edge is evaluated on its own.

Both give the first and second derivative of every edge function in closed form, which the
forward Laplacian engine needs: ``value_and_derivatives(x, w)`` returns the layer output
``(batch, out)`` together with ``φ'_ji(x_i)`` and ``φ''_ji(x_i)``, each ``(batch, in, out)``.
"""

from __future__ import annotations

import abc

import torch
from torch import Tensor, nn

from ..kernels import compiled_module, kernel_applies, numba_enabled

# |u| beyond which the Gaussian factors e^{−u²/2} (wavelets) and e^{−u²} (RBF) are 0 in float64
# and float32: there the basis and its derivatives are 0, but their polynomial factors overflow
# first (u⁴ at |u| ≈ 4e9 in float32, e.g. for a wavelet scale σ ≈ 1e-10; u² at |u| ≈ 2e19 in
# float32), and ∞·0 would make them NaN. u is clamped to it: the same values, a zero gradient.
GAUSSIAN_TAIL = 40.0


class EdgeFamily(nn.Module, abc.ABC):
    """Abstract family of univariate edge functions with ``num_coefficients`` numbers per edge."""

    num_coefficients: int
    # The coefficients φ is linear in (None: all, as in a basis expansion). A MetaKAN divides
    # only these by √n_l: the fixed factor keeps a layer's output of order one whatever its
    # fan-in, which a wavelet's translation and scale have no part in.
    linear_coefficients: tuple[bool, ...] | None = None
    # The mean of a directly trained layer's initial coefficients (None: 0), where a centred
    # MetaKAN start puts the generated coefficients' mean.
    initial_mean: tuple[float, ...] | None = None

    @abc.abstractmethod
    def initial_coefficients(
        self, out_features: int, in_features: int, generator: torch.Generator | None = None
    ) -> Tensor:
        """A fresh coefficient tensor ``(out, in, num_coefficients)`` for a directly trained layer."""

    @abc.abstractmethod
    def forward(self, x: Tensor, coefficients: Tensor) -> Tensor:
        """``y_j = Σ_i φ(x_i; w_ji)``: ``x (batch, in)``, ``coefficients (out, in, m)`` -> ``(batch, out)``."""

    @abc.abstractmethod
    def value_and_derivatives(
        self, x: Tensor, coefficients: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(y, φ', φ'')``: the layer output ``(batch, out)`` and ``φ'_ji(x_i)``, ``φ''_ji(x_i)``
        of every edge, each ``(batch, in, out)``."""


class LinearBasis(EdgeFamily):
    """φ(t; w) = Σ_m w_m B_m(t): a basis expansion followed by one contraction.

    Subclasses implement :meth:`basis` and :meth:`basis_derivatives`, both acting elementwise on
    ``x (batch, in)`` and returning ``(batch, in, m)`` tensors.
    """

    @abc.abstractmethod
    def basis(self, x: Tensor) -> Tensor:
        """``B(x)``: ``(batch, in)`` -> ``(batch, in, m)``."""

    @abc.abstractmethod
    def basis_derivatives(
        self, x: Tensor, inputs: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(B(x), B'(x), B''(x))``, each ``(batch, in, m)``, in closed form.

        ``inputs (k,)``: the layer inputs that the k columns of ``x`` belong to (default: all,
        in order), for families whose basis differs per input (B-spline knot rows).
        """

    def forward(self, x: Tensor, coefficients: Tensor) -> Tensor:
        return contract(self.basis(x), coefficients)

    def value_and_derivatives(
        self, x: Tensor, coefficients: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        value, first, second = self.basis_derivatives(x)
        return (
            contract(value, coefficients),
            per_edge(first, coefficients),
            per_edge(second, coefficients),
        )


def contract(expansion: Tensor, coefficients: Tensor) -> Tensor:
    """``Σ_{i,m} B_m(x_i) w_jim``: ``(batch, in, m)`` x ``(out, in, m)`` -> ``(batch, out)``.

    Done as one matrix product ``(batch, in·m) @ (in·m, out)``.
    """
    batch, inputs, m = expansion.shape  # sizes named: no points (batch 0) leaves -1 ambiguous
    return expansion.reshape(batch, inputs * m) @ coefficient_matrix(coefficients)


def coefficient_matrix(coefficients: Tensor) -> Tensor:
    """``w (out, in, m)`` as the ``(in·m, out)`` matrix of :func:`contract`, a view for both
    layouts that pinnkan makes: contiguous (a KAN's parameters) and input-major, ``(in, m, out)``
    storage (a MetaKAN's generated coefficients, which the per-edge kernels read as they are)."""
    out = coefficients.shape[0]
    by_input = coefficients.permute(1, 2, 0)
    if by_input.is_contiguous():
        return by_input.reshape(-1, out)
    return coefficients.reshape(out, -1).t()


def per_edge(expansion: Tensor, coefficients: Tensor) -> Tensor:
    """``Σ_m B_m(x_i) w_jim`` for every edge: ``(batch, in, m)`` x ``(out, in, m)`` -> ``(batch, in, out)``.

    On the CPU by the compiled kernels of :mod:`pinnkan.basis.per_edge_numba` where they apply
    (a point-major result, which the forward engine reads point by point), else an einsum.
    """
    if use_per_edge_kernels(expansion, coefficients):
        return compiled_module(PER_EDGE_KERNELS).PerEdge.apply(expansion, coefficients)
    return torch.einsum("bim,oim->bio", expansion, coefficients)


PER_EDGE_KERNELS = "pinnkan.basis.per_edge_numba"


def use_per_edge_kernels(expansion: Tensor, coefficients: Tensor) -> bool:
    """Whether :func:`per_edge` runs the compiled kernels: 3-d operands that fit
    (``(batch, in, m)``, ``(out, in, m)``), :func:`pinnkan.kernels.kernel_applies`, numba."""
    return (
        expansion.dim() == 3
        and coefficients.dim() == 3
        and expansion.shape[1:] == coefficients.shape[1:]
        and numba_enabled()
        and kernel_applies([expansion, coefficients])
        and compiled_module(PER_EDGE_KERNELS) is not None
    )


class ParametricFamily(EdgeFamily):
    """φ(t; w) non-linear in w: every edge ``(i, j)`` is evaluated on its own.

    Subclasses implement :meth:`edge_values`, returning ``φ`` and its first ``order`` derivatives
    in t, each of shape ``(batch, in, out)``.
    """

    @abc.abstractmethod
    def edge_values(self, x: Tensor, coefficients: Tensor, order: int = 0) -> tuple[Tensor, ...]:
        """``(φ_ji(x_i), φ'_ji(x_i), …)`` up to derivative ``order``, each ``(batch, in, out)``."""

    def forward(self, x: Tensor, coefficients: Tensor) -> Tensor:
        (value,) = self.edge_values(x, coefficients, order=0)
        return value.sum(dim=1)

    def value_and_derivatives(
        self, x: Tensor, coefficients: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        value, first, second = self.edge_values(x, coefficients, order=2)
        return value.sum(dim=1), first, second
