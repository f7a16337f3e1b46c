"""Products that make and carry a Gram matrix, with backwards that use its symmetry.

The forward engine (:mod:`pinnkan.jet`) forms ``G = w Jᵀ J`` and carries it through per-point
slopes ``A``, as ``Aᵀ G A`` or only its diagonal. Written as plain torch operations, autograd's
backward of these pays for one matrix product per operand and, for the diagonal (which every
layer's Laplacian reads), a dense ``(batch, n, n)`` tensor of zeros plus a sum of cotangents.
Each function here returns the matrix together with its diagonal and takes both cotangents at
once; with ``H = Ḡ + diag(s̄)`` and ``M = G A`` kept from the forward:

* :class:`WeightedGram`: ``G = w Jᵀ J`` and diag G;  ``∂J = w J (H + Hᵀ)``;
* :class:`Congruence`: ``P = Aᵀ G A`` and diag P;  ``∂G = A H Aᵀ``, ``∂A = M (H + Hᵀ)``;
* :class:`DiagonalCongruence`: ``s = diag(Aᵀ G A)``;  ``∂G = A diag(s̄) Aᵀ``, ``∂A = 2 M diag(s̄)``;

three matrix products for a congruence instead of four, one for its diagonal instead of two (``benchmarks/gram_products.py`` measures the step).
Contract: G must be symmetric. The backwards with respect to A use G = Gᵀ, which holds for every
Gram matrix the engine forms (G comes from :class:`WeightedGram` or a :class:`Congruence`; to
round-off, as ``Aᵀ (G A)`` is symmetric only up to the summation order); for a non-symmetric G
they are wrong, and second derivatives are right only along symmetric changes of G. The weight
w is a number, not differentiated.

The backwards are torch operations, so higher derivatives stay exact (the saved ``M`` is then
formed again from G and A, inside the graph), and ``vmap`` and the reverse-mode ``torch.func``
transforms (``grad``, ``vjp``, ``jacrev``) are supported; forward mode (``jvp``, ``jacfwd``) is
not, as it was not for the engine's plain-operation version before.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .kernels import functorch_active


def plus_diagonal(matrix: Tensor, values: Tensor, fresh: bool) -> Tensor:
    """``matrix + diag(values)``: ``(..., n, n)``, ``(..., n)``; in place on a ``fresh`` matrix
    (one made by the caller) unless a ``torch.func`` transform runs, else as a copy."""
    if fresh and not functorch_active():
        matrix.diagonal(dim1=-2, dim2=-1).add_(values)
        return matrix
    diagonal = matrix.diagonal(dim1=-2, dim2=-1) + values
    return matrix.diagonal_scatter(diagonal, dim1=-2, dim2=-1)


def cotangent(grad: Tensor | None, grad_diagonal: Tensor | None) -> Tensor:
    """``H = Ḡ + diag(s̄)`` for the cotangents of a matrix and of its diagonal, ``(..., n, n)``
    and ``(..., n)`` (a missing one counts as zero; not both missing)."""
    if grad is None:
        return torch.diag_embed(grad_diagonal)
    if grad_diagonal is None:
        return grad
    return plus_diagonal(grad, grad_diagonal, fresh=False)


def doubled_symmetric(grad: Tensor | None, grad_diagonal: Tensor | None) -> Tensor:
    """``H + Hᵀ`` for ``H = Ḡ + diag(s̄)`` (see :func:`cotangent`), without forming H."""
    if grad is None:
        return torch.diag_embed(2 * grad_diagonal)
    doubled = grad + grad.transpose(-2, -1)
    return doubled if grad_diagonal is None else plus_diagonal(doubled, 2 * grad_diagonal, True)


def diagonal_of(matrix: Tensor) -> Tensor:
    """``diag(matrix)`` as a tensor of its own: ``(..., n, n)`` -> ``(..., n)``."""
    return matrix.diagonal(dim1=-2, dim2=-1).clone()


class WeightedGram(torch.autograd.Function):
    """``(G, diag G)`` with ``G = w Jᵀ J``: ``J (..., K, n)``, w a number -> ``(..., n, n)``,
    ``(..., n)``.

    Backward: ``∂L/∂J = w J (H + Hᵀ)``, ``H = Ḡ + diag(s̄)``, one matrix product.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(jacobian: Tensor, weight: float) -> tuple[Tensor, Tensor]:
        gram = jacobian.transpose(-2, -1) @ jacobian
        if weight != 1:
            gram = gram.mul_(weight)
        return gram, diagonal_of(gram)

    @staticmethod
    def setup_context(ctx, inputs: tuple[Tensor, float], output: tuple[Tensor, Tensor]) -> None:
        ctx.save_for_backward(inputs[0])
        ctx.weight = inputs[1]
        ctx.set_materialize_grads(False)

    @staticmethod
    def backward(ctx, grad: Tensor | None, grad_diagonal: Tensor | None):
        if (grad is None and grad_diagonal is None) or not ctx.needs_input_grad[0]:
            return None, None
        (jacobian,) = ctx.saved_tensors
        doubled = doubled_symmetric(grad, grad_diagonal)
        if ctx.weight != 1:
            doubled = doubled * ctx.weight
        return jacobian @ doubled, None


class Congruence(torch.autograd.Function):
    """``(P, diag P)`` with ``P = Aᵀ G A``: a symmetric ``G (..., n, n)`` and slopes
    ``A (..., n, n')`` -> ``(..., n', n')``, ``(..., n')``; a third output, ``M = G A``, is
    kept for the backward and is not differentiable (callers drop it).

    Backward, ``H = P̄ + diag(s̄)``: ``∂L/∂G = A H Aᵀ``, ``∂L/∂A = M (H + Hᵀ)`` (as G = Gᵀ).
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(gram: Tensor, slopes: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        product = gram @ slopes
        congruent = slopes.transpose(-2, -1) @ product
        return congruent, diagonal_of(congruent), product

    @staticmethod
    def setup_context(ctx, inputs: tuple[Tensor, Tensor], output: tuple[Tensor, ...]) -> None:
        ctx.save_for_backward(*inputs, output[2])
        ctx.mark_non_differentiable(output[2])
        ctx.set_materialize_grads(False)

    @staticmethod
    def backward(ctx, grad: Tensor | None, grad_diagonal: Tensor | None, _):
        if grad is None and grad_diagonal is None:
            return None, None
        gram, slopes, product = ctx.saved_tensors
        if torch.is_grad_enabled():  # a differentiable backward: M from G and A, in the graph
            product = gram @ slopes
        grad_gram = grad_slopes = None
        if ctx.needs_input_grad[0]:
            grad_gram = (slopes @ cotangent(grad, grad_diagonal)) @ slopes.transpose(-2, -1)
        if ctx.needs_input_grad[1]:
            grad_slopes = product @ doubled_symmetric(grad, grad_diagonal)
        return grad_gram, grad_slopes


class DiagonalCongruence(torch.autograd.Function):
    """``s = diag(Aᵀ G A) = Σ_i (G A)_ij A_ij``: a symmetric ``G (..., n, n)`` and slopes
    ``A (..., n, n')`` -> ``(..., n')``, and ``M = G A`` (not differentiable, for the backward).

    Backward: ``∂L/∂G = (A diag(s̄)) Aᵀ``, ``∂L/∂A = 2 M diag(s̄)`` (as G = Gᵀ).
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(gram: Tensor, slopes: Tensor) -> tuple[Tensor, Tensor]:
        product = gram @ slopes
        return (product * slopes).sum(dim=-2), product

    @staticmethod
    def setup_context(ctx, inputs: tuple[Tensor, Tensor], output: tuple[Tensor, Tensor]) -> None:
        ctx.save_for_backward(*inputs, output[1])
        ctx.mark_non_differentiable(output[1])
        ctx.set_materialize_grads(False)

    @staticmethod
    def backward(ctx, grad: Tensor | None, _):
        if grad is None:
            return None, None
        gram, slopes, product = ctx.saved_tensors
        if torch.is_grad_enabled():
            product = gram @ slopes
        columns = grad.unsqueeze(-2)
        grad_gram = grad_slopes = None
        if ctx.needs_input_grad[0]:
            grad_gram = (slopes * columns) @ slopes.transpose(-2, -1)
        if ctx.needs_input_grad[1]:
            grad_slopes = product * (2 * columns)
        return grad_gram, grad_slopes
