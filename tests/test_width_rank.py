"""The width bound behind ``benchmarks/width_floor.py`` (results/table8.md, d = 100).

For N(x) = F(h(x)) with a first hidden layer h_j(x) = Σ_i φ_ij(x_i), j = 1 … w,

    ∇²N(x) = Jᵀ ∇²F(h) J + diag(Σ_j ∂F/∂h_j φ''_ij(x_i)),      J = ∂h/∂x  (w × d),

so the off-diagonal entries of the Hessian are those of a matrix of rank ≤ w, at every x. For an MLP
(φ_ij linear) the diagonal term vanishes and the whole Hessian has rank ≤ w. Checked here with
autograd on real KAN, MetaKAN and MLP backbones, float64.
"""

from __future__ import annotations

import pytest
import torch
from torch.autograd.functional import hessian, jacobian

from pinnkan.nn.build import build_model


def first_layer_and_rest(model: torch.nn.Module, name: str):
    """``(h, F)`` with ``model(x) = F(h(x))`` for one point ``x (d,)``."""
    if name == "mlp":  # h = W_1 x + b_1, the pre-activations of the first hidden layer

        def first(x):
            return model.layers[0](x[None])[0]

        def rest(h):
            y = h[None]
            for layer in model.layers[1:]:
                y = layer(model.activation.function(y))
            return y[0, 0]

        return first, rest
    weights = model.coefficients()

    def first(x):
        return model.layers[0](x[None], weights[0])[0]

    def rest(h):
        y = h[None]
        for layer, weight in zip(model.layers[1:], weights[1:], strict=True):
            y = layer(y, weight)
        return y[0, 0]

    return first, rest


@pytest.mark.parametrize("name", ["kan", "mlp", "metakan"])
def test_off_diagonal_hessian_has_rank_at_most_the_first_width(name: str) -> None:
    dim, width = 9, 3
    generator = torch.Generator().manual_seed(4)
    model = build_model(name, [dim, width, 5, 1], generator=generator).double()
    first, rest = first_layer_and_rest(model, name)
    x = 0.4 * torch.randn(dim, generator=generator, dtype=torch.float64)
    full = hessian(lambda point: model(point[None])[0, 0], x)
    assert torch.allclose(rest(first(x)), model(x[None])[0, 0])
    jac = jacobian(first, x)  # (w, d)
    low_rank = jac.T @ hessian(rest, first(x)) @ jac  # (d, d), rank ≤ w
    off = ~torch.eye(dim, dtype=torch.bool)
    assert torch.allclose(full[off], low_rank[off], atol=1e-12, rtol=1e-9)
    assert torch.linalg.matrix_rank(low_rank) <= width
    if name == "mlp":  # a linear first layer: the whole Hessian, diagonal included, is rank ≤ w
        assert torch.allclose(full, low_rank, atol=1e-12, rtol=1e-9)
    else:  # KAN edges add diag(Σ_j ∂F/∂h_j φ''_ij): the diagonal is free, the rank is not bounded
        assert torch.linalg.matrix_rank(full) > width


def test_a_random_tridiagonal_is_far_from_any_width_three_network() -> None:
    """The best rank-3 approximation of a random symmetric tridiagonal T (zero diagonal) leaves
    most of its off-diagonal energy: the reason a narrow first layer cannot learn Σ c_i x_i x_{i+1}."""
    dim = 30
    generator = torch.Generator().manual_seed(0)
    values = torch.randn(dim - 1, generator=generator, dtype=torch.float64)
    tridiagonal = torch.diag(values, 1) + torch.diag(values, -1)
    eigenvalues, eigenvectors = torch.linalg.eigh(tridiagonal)
    top = eigenvalues.abs().argsort(descending=True)[:3]
    best = eigenvectors[:, top] @ torch.diag(eigenvalues[top]) @ eigenvectors[:, top].T
    off = ~torch.eye(dim, dtype=torch.bool)
    left = (tridiagonal - best)[off].norm() / tridiagonal[off].norm()
    assert left > 0.7
