"""The jet of one layer's node values, and how its first-derivative part passes through a layer.

Second derivatives are taken along directions v_1 … v_K ∈ R^d with one weight w
(:class:`pinnkan.directions.Directions`). For the node values ``a (batch, n)`` of a layer a
:class:`Jet` carries

    a,    L a = w Σ_k v_kᵀ ∇²a v_k,    r = w Σ_k (v_k·x) (v_k·∇a)   (= x·∇a when exact; optional)

and the first-derivative information: the directional derivatives ``J_k = v_k·∇a``
("jacobian", ``(batch, K, n)``), their Gram matrix ``G = w Σ_k J_k J_kᵀ`` ("gram",
``(batch, n, n)``), or only ``diag G`` ("squares", ``(batch, n)``), the one part of it the
Laplacian needs. Through per-point slopes ``A (batch, n, n')`` and through a weight matrix
``W (n', n)``:

    J' = J A,    G' = Aᵀ G A,    diag G' = Σ_i (G A)_ij A_ij;      J' = J Wᵀ,    G' = W G Wᵀ.

What a layer's output must carry for the layers after it is :func:`needs`. The layers that use
these rules are :mod:`pinnkan.forward_laplacian`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from .gram_products import Congruence, DiagonalCongruence, WeightedGram


class Jet(NamedTuple):
    """Node values of one layer with their second-order information (see the module doc).

    The first-derivative information is one of ``jacobian``, ``gram`` or, where the next layer
    needs no more, ``squares`` (= diag G), or none at all for the output layer.
    """

    value: Tensor  # (batch, n)
    laplacian: Tensor | None  # (batch, n); None means zero (the inputs)
    along: Tensor | None  # (batch, n), or None when not needed
    weight: float
    jacobian: Tensor | None = None  # (batch, K, n), or (K, n) when shared by all points
    gram: Tensor | None = None  # (batch, n, n), or (n, n) when shared by all points
    squares: Tensor | None = None  # (batch, n)


# What a layer's output must carry for the layers after it.
FULL, SQUARES, NOTHING = "full", "squares", "nothing"


def needs(index: int, layers: int) -> str:
    """What the output of layer ``index`` (0-based) of ``layers`` must carry: the last layer's
    nothing, the one before only ``diag G``, the others J or G."""
    if index == layers - 1:
        return NOTHING
    return SQUARES if index == layers - 2 else FULL


def squared_norms(jet: Jet) -> Tensor:
    """``diag G = w Σ_k J_k²``: ``(batch, n)`` (or ``(n,)`` when shared)."""
    if jet.squares is not None:
        return jet.squares
    if jet.gram is not None:
        return torch.diagonal(jet.gram, dim1=-2, dim2=-1)
    return jet.weight * jet.jacobian.pow(2).sum(dim=-2)


def to_gram(jet: Jet) -> Jet:
    """Replace J by ``G = w Jᵀ J`` and its diagonal (a jet without J is returned as it is)."""
    if jet.jacobian is None:
        return jet
    # J contiguous: where the per-edge kernels do not run (CUDA, PINNKAN_NUMBA=0), a first layer's
    # slopes come out of an einsum as a permuted view whose rows lie 4·batch·n bytes apart, and JᵀJ
    # and its backward read them scattered (3–6 % of a CPU step at 2,000 points)
    gram, squares = WeightedGram.apply(jet.jacobian.contiguous(), jet.weight)
    return jet._replace(jacobian=None, gram=gram, squares=squares)


def derivative_part(jet: Jet, map_jacobian, map_gram, diagonal_of_gram, need: str) -> dict:
    """J, G or diag G of the next layer's values from this jet's, as ``Jet`` keywords
    (``map_gram`` returns them: G', with diag G' where it comes at no cost)."""
    if need == NOTHING:
        return {}
    if jet.gram is not None:
        if need == SQUARES:
            return {"squares": diagonal_of_gram(jet.gram)}
        return map_gram(jet.gram)
    jacobian = map_jacobian(jet.jacobian)
    if need == SQUARES:
        return {"squares": jet.weight * jacobian.pow(2).sum(dim=-2)}
    return {"jacobian": jacobian}


def through_slopes(jet: Jet, slopes: Tensor, need: str) -> dict:
    """Through per-point slopes ``A (batch, n, n')``: ``J A``, ``Aᵀ G A`` with its diagonal, or
    the diagonal alone ``Σ_i (G A)_ij A_ij`` (:mod:`pinnkan.gram_products`)."""

    def congruence(gram: Tensor) -> dict:
        congruent, squares, _ = Congruence.apply(gram, slopes)
        return {"gram": congruent, "squares": squares}

    return derivative_part(
        jet,
        lambda jacobian: jacobian @ slopes,
        congruence,
        lambda gram: DiagonalCongruence.apply(gram, slopes)[0],
        need,
    )


def through_matrix(jet: Jet, matrix: Tensor, need: str) -> dict:
    """Through a weight matrix ``W (n', n)``: ``J Wᵀ``, ``W G Wᵀ`` or its diagonal."""
    transposed = matrix.t()
    return derivative_part(
        jet,
        lambda jacobian: jacobian @ transposed,
        lambda gram: {"gram": (gram @ transposed).transpose(-2, -1) @ transposed},
        lambda gram: ((gram @ transposed) * transposed).sum(dim=-2),
        need,
    )
