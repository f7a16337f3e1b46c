"""The piecewise-linear evaluation of a scalar-prompt ReLU meta-learner equals the dense MLP."""

from __future__ import annotations

import math

import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

from pinnkan.nn import build_model
from pinnkan.nn.meta import MetaCoefficients, MetaLearner
from pinnkan.nn.scalar_relu import scalar_relu_mlp

DTYPE = torch.float64


def learner(hidden: int, out: int, bias: bool, seed: int) -> MetaLearner:
    return MetaLearner(1, hidden, out, bias, "relu", torch.Generator().manual_seed(seed)).double()


def with_special_units(meta: MetaLearner) -> MetaLearner:
    """Flat units (w = 0 with b > 0, b < 0, b = 0) and a unit with its breakpoint at z = 0.5."""
    with torch.no_grad():
        meta.hidden.weight[:3] = 0.0
        meta.hidden.weight[3] = 1.0
        if meta.hidden.bias is not None:
            meta.hidden.bias[:4] = torch.tensor([0.7, -0.4, 0.0, -0.5], dtype=DTYPE)
    return meta


def value_and_gradients(meta: MetaLearner, evaluate, z: torch.Tensor, seed: int):
    z = z.detach().clone().requires_grad_(True)
    value = evaluate(z)
    upstream = torch.randn(value.shape, generator=torch.Generator().manual_seed(seed), dtype=DTYPE)
    grads = torch.autograd.grad(value, [z, *meta.parameters()], upstream)
    return [value.detach(), *grads]


@pytest.mark.parametrize("bias", [True, False])
def test_pieces_equal_dense_mlp_with_gradients(bias: bool) -> None:
    meta = with_special_units(learner(32, 5, bias, seed=1))
    z = torch.randn(400, 1, generator=torch.Generator().manual_seed(2), dtype=DTYPE) * 3
    z[:3] = torch.tensor([[0.5], [0.0], [-0.0]], dtype=DTYPE)  # on breakpoints
    dense = value_and_gradients(meta, meta.dense, z, seed=4)
    pieces = value_and_gradients(
        meta, lambda z: scalar_relu_mlp(z, meta.hidden, meta.output), z, seed=4
    )
    assert dense[0].abs().max() > 0.1
    for expected, computed in zip(dense, pieces, strict=True):
        torch.testing.assert_close(computed, expected, rtol=1e-12, atol=1e-13)


def test_pieces_pass_gradcheck_and_gradgradcheck() -> None:
    meta = learner(6, 3, True, seed=5)
    z = torch.randn(20, 1, generator=torch.Generator().manual_seed(6), dtype=DTYPE)
    names = [name for name, _ in meta.named_parameters()]

    def function(z: torch.Tensor, *values: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(meta, dict(zip(names, values)), (z,))

    inputs = (
        z.requires_grad_(True),
        *(p.detach().clone().requires_grad_(True) for p in meta.parameters()),
    )
    assert gradcheck(function, inputs)
    assert gradgradcheck(function, inputs)


@pytest.mark.parametrize(
    ("activation", "prompt_dim", "piecewise"),
    [
        ("relu", 1, True),
        ("relu", 2, False),
        ("tanh", 1, False),
    ],
)
def test_only_scalar_relu_learners_use_pieces(activation, prompt_dim, piecewise) -> None:
    meta = MetaLearner(prompt_dim, 8, 4, activation=activation).double()
    z = torch.randn(30, prompt_dim, generator=torch.Generator().manual_seed(7), dtype=DTYPE)
    assert meta.piecewise_linear is piecewise
    torch.testing.assert_close(meta(z), meta.dense(z), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("labels", [[0, 1, 1], [1, 0, 1]])
def test_coefficients_are_each_layers_learner_over_root_fan_in(labels: list[int]) -> None:
    """w^{(l)} = M_{c(l)}(z^{(l)})/√n_l, also for clusters that are not contiguous."""
    width = [4, 3, 5, 2]
    model = build_model("metakan", width, grid=3, k=2)
    source = MetaCoefficients(
        list(model.layers), labels, hidden=8, generator=torch.Generator().manual_seed(8)
    ).double()
    for computed, prompt, label, n_in in zip(
        source(), source.prompts, labels, width[:-1], strict=True
    ):
        expected = source.meta_learners[label].dense(prompt) / math.sqrt(n_in)
        assert computed.shape == (*prompt.shape[:2], 6)
        torch.testing.assert_close(computed, expected, rtol=1e-12, atol=1e-13)
