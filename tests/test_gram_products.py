"""The Gram products of the forward engine against plain autograd, alone and inside the engine,
in float64."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from pinnkan.bench.laplacian import ball_points
from pinnkan.directions import Directions
from pinnkan.forward_laplacian import forward_laplacian
from pinnkan.gram_products import Congruence, DiagonalCongruence, WeightedGram
from pinnkan.nn import build_model
from pinnkan.nn.constraint import BallHardConstraint


def random(*shape: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator, dtype=torch.float64).requires_grad_(True)


def symmetric(raw: torch.Tensor) -> torch.Tensor:
    """A symmetric matrix from a free one, so that gradcheck's perturbations keep G = Gᵀ."""
    return raw @ raw.transpose(-2, -1)


def weighted_gram(jacobian: torch.Tensor, weight: float) -> tuple[torch.Tensor, torch.Tensor]:
    gram, squares = WeightedGram.apply(jacobian, weight)
    return gram, squares


def congruence(raw: torch.Tensor, slopes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    congruent, squares, _ = Congruence.apply(symmetric(raw), slopes)
    return congruent, squares


def diagonal_congruence(raw: torch.Tensor, slopes: torch.Tensor) -> torch.Tensor:
    return DiagonalCongruence.apply(symmetric(raw), slopes)[0]


def plain_weighted_gram(jacobian: torch.Tensor, weight: float):
    gram = weight * jacobian.transpose(-2, -1) @ jacobian
    return gram, torch.diagonal(gram, dim1=-2, dim2=-1)


def plain_congruence(raw: torch.Tensor, slopes: torch.Tensor):
    congruent = slopes.transpose(-2, -1) @ (symmetric(raw) @ slopes)
    return congruent, torch.diagonal(congruent, dim1=-2, dim2=-1)


def plain_diagonal_congruence(raw: torch.Tensor, slopes: torch.Tensor) -> torch.Tensor:
    return ((symmetric(raw) @ slopes) * slopes).sum(dim=-2)


@pytest.mark.parametrize("weight", [1.0, 2.5])
def test_weighted_gram_passes_gradcheck_and_gradgradcheck(weight: float) -> None:
    jacobian = random(2, 5, 3, seed=0)
    assert torch.autograd.gradcheck(weighted_gram, (jacobian, weight))
    assert torch.autograd.gradgradcheck(weighted_gram, (jacobian, weight))


@pytest.mark.parametrize("function", [congruence, diagonal_congruence])
def test_congruences_pass_gradcheck_and_gradgradcheck(function) -> None:
    raw, slopes = random(2, 4, 4, seed=1), random(2, 4, 3, seed=2)
    assert torch.autograd.gradcheck(function, (raw, slopes))
    assert torch.autograd.gradgradcheck(function, (raw, slopes))


CASES = [
    (weighted_gram, plain_weighted_gram, lambda: (random(3, 6, 4, seed=3), 0.7)),
    (congruence, plain_congruence, lambda: (random(3, 4, 4, seed=4), random(3, 4, 5, seed=5))),
    (
        diagonal_congruence,
        plain_diagonal_congruence,
        lambda: (random(3, 4, 4, seed=6), random(3, 4, 5, seed=7)),
    ),
]


def outputs_and_gradients(function, inputs, use: str) -> list[torch.Tensor]:
    """Outputs, then the gradients of a loss that reads the matrix, its diagonal or both."""
    outputs = function(*inputs)
    outputs = outputs if isinstance(outputs, tuple) else (None, outputs)
    matrix, diagonal = outputs
    loss = torch.zeros((), dtype=torch.float64)
    if matrix is not None and use in ("matrix", "both"):
        loss = loss + (matrix * torch.linspace(-1, 2, matrix.shape[-1])).pow(2).sum()
    if use in ("diagonal", "both"):
        loss = loss + diagonal.sin().sum()
    tensors = [t for t in inputs if isinstance(t, torch.Tensor)]
    values = [t for t in outputs if t is not None]
    return values + list(torch.autograd.grad(loss, tensors))


USES = [
    (*case, use)
    for case in CASES
    for use in (("diagonal",) if case[0] is diagonal_congruence else ("matrix", "diagonal", "both"))
]


@pytest.mark.parametrize(("function", "plain", "make", "use"), USES)
def test_products_equal_plain_autograd(function, plain, make, use: str) -> None:
    inputs = make()
    expected = outputs_and_gradients(plain, inputs, use)
    actual = outputs_and_gradients(function, inputs, use)
    assert len(actual) == len(expected)
    for value, reference in zip(actual, expected, strict=True):
        assert reference.abs().max() > 0
        assert_close(value, reference, rtol=1e-12, atol=1e-12)


def test_congruence_of_a_gram_shared_by_all_points() -> None:
    """G ``(n, n)`` broadcast against per-point slopes: its gradient is summed over the points."""
    raw, slopes = random(4, 4, seed=8), random(3, 4, 2, seed=9)
    expected = outputs_and_gradients(plain_congruence, (raw, slopes), "both")
    actual = outputs_and_gradients(congruence, (raw, slopes), "both")
    for value, reference in zip(actual, expected, strict=True):
        assert_close(value, reference, rtol=1e-12, atol=1e-12)


def test_products_under_vmap_and_torch_func_grad() -> None:
    """Per-point gradients by ``vmap(grad(...))`` through the products equal plain autograd's."""
    raw, slopes = random(3, 4, 4, seed=10), random(3, 4, 2, seed=11)

    def loss(raw_one, slopes_one, congruent_of, gram_of, diagonal_of) -> torch.Tensor:
        matrix, diagonal = congruent_of(raw_one, slopes_one)
        gram, squares = gram_of(matrix, 1.5)
        return (gram.pow(2).sum() + squares.sin().sum() + diagonal.sin().sum()) + diagonal_of(
            raw_one, slopes_one
        ).sum()

    def per_point(*functions) -> tuple[torch.Tensor, ...]:
        gradient = torch.func.grad(lambda r, a: loss(r, a, *functions), argnums=(0, 1))
        return torch.func.vmap(gradient)(raw.detach(), slopes.detach())

    actual = per_point(congruence, weighted_gram, diagonal_congruence)
    expected = per_point(plain_congruence, plain_weighted_gram, plain_diagonal_congruence)
    for value, reference in zip(actual, expected, strict=True):
        assert reference.abs().max() > 0
        assert_close(value, reference, rtol=1e-12, atol=1e-12)


DIRECTIONS = {
    "exact": lambda batch: Directions(6, 1.0),
    "sdgd": lambda batch: Directions(6, 2.0, coordinates=torch.tensor([0, 2, 5])),
    "hutchinson": lambda batch: Directions(
        6,
        0.25,
        vectors=torch.randint(0, 2, (batch, 4, 6), generator=torch.Generator().manual_seed(12))
        .double()
        .mul(2)
        .sub(1),
    ),
}


@pytest.mark.parametrize("kind", sorted(DIRECTIONS))
def test_engine_through_every_gram_product_equals_the_jacobian_path(kind: str, monkeypatch) -> None:
    """A KAN [6, 5, 5, 4, 1] carries G through ``WeightedGram``, a ``Congruence`` and a
    ``DiagonalCongruence``; its L u, parameter gradients and a Hessian-vector product equal those
    of the same engine carrying J (plain torch operations only), for all three kinds of
    directions."""
    generator = torch.Generator().manual_seed(13)
    model = BallHardConstraint(build_model("kan", [6, 5, 5, 4, 1], generator=generator)).double()
    x = ball_points(7, 6, generator).double()
    directions = DIRECTIONS[kind](7)
    parameters = list(model.parameters())
    probe = [torch.randn(p.shape, generator=generator, dtype=p.dtype) for p in parameters]

    def results(representation: str) -> list[torch.Tensor]:
        _, lap = forward_laplacian(model, x, directions, representation=representation)
        loss = (lap - x.sum(dim=1)).pow(2).mean()
        grads = torch.autograd.grad(loss, parameters, create_graph=True)
        directional = sum((g * v).sum() for g, v in zip(grads, probe, strict=True))
        hessian_probe = torch.autograd.grad(directional, parameters)
        return [lap.detach(), *(g.detach() for g in grads), *hessian_probe]

    calls = []
    for product in (WeightedGram, Congruence, DiagonalCongruence):
        apply = product.apply
        monkeypatch.setattr(
            product, "apply", lambda *a, name=product.__name__, f=apply: calls.append(name) or f(*a)
        )
    with_gram = results("gram")
    assert sorted(calls) == ["Congruence", "DiagonalCongruence", "WeightedGram"]
    for gram, jacobian in zip(with_gram, results("jacobian"), strict=True):
        assert jacobian.abs().max() > 0
        assert_close(gram, jacobian, rtol=1e-10, atol=1e-12)
