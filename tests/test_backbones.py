"""Backbones: parameter counts, gradients, MetaKAN ≡ KAN parity, dtype/device behaviour."""

from __future__ import annotations

import re

import pytest
import torch
from torch import Tensor
from torch.autograd import gradcheck, gradgradcheck
from torch.func import functional_call

from pinnkan.nn import KANNetwork, build_model, count_parameters, list_models, model_options

DTYPE = torch.float64
MODELS = ["mlp", "kan", "fastkan", "wavkan", "metakan", "metafastkan", "metawavkan"]
META = [name for name in MODELS if name.startswith("meta")]
SMALL = {"metakan": {"meta_hidden": 8}, "metafastkan": {"meta_hidden": 8}}


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def small_model(name: str, width: list[int], seed: int = 0, **options) -> torch.nn.Module:
    model = build_model(
        name, width, generator=generator(seed), **{**SMALL.get(name, {}), **options}
    )
    return model.double()


def inputs(batch: int, features: int, seed: int = 1) -> Tensor:
    return torch.rand((batch, features), generator=generator(seed), dtype=DTYPE) * 1.8 - 0.9


def edges(width: list[int]) -> int:
    return sum(a * b for a, b in zip(width[:-1], width[1:]))


def test_registry_lists_every_backbone() -> None:
    assert sorted(list_models()) == sorted(MODELS)


# --- parameter counts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("d", "kan", "metakan"), [(20, 24480, 4137), (50, 33120, 5097), (100, 47520, 6697)]
)
def test_pde_parameter_counts_equal_paper(d: int, kan: int, metakan: int) -> None:
    width = [d, 32, 32, 32, 1]
    assert count_parameters(build_model("kan", width, grid=5, k=3)) == kan
    assert count_parameters(build_model("metakan", width, grid=5, k=3, meta_hidden=128)) == metakan


def test_classification_parameter_counts_equal_paper() -> None:
    width = [784, 32, 10]
    assert count_parameters(build_model("kan", width, grid=3, k=3, bias=True)) == 177898
    for grid, expected in [(3, 27456), (5, 27968), (10, 29248)]:
        model = build_model("metakan", width, grid=grid, k=3, meta_hidden=256, meta_bias=False)
        assert count_parameters(model) == expected


WIDTHS = [[2, 5, 1], [3, 7, 7, 2], [10, 4, 4, 4, 1]]


@pytest.mark.parametrize("width", WIDTHS)
def test_table1_formulas_for_direct_models(width: list[int]) -> None:
    E = edges(width)
    assert count_parameters(build_model("mlp", width, bias=False)) == E
    assert count_parameters(build_model("mlp", width)) == E + sum(width[1:])
    for grid, k in [(5, 3), (3, 1), (12, 2)]:
        assert count_parameters(build_model("kan", width, grid=grid, k=k)) == E * (grid + k + 1)
    kan_bias = build_model("kan", width, grid=5, k=3, bias=True)
    assert count_parameters(kan_bias) == E * 9 + sum(width[1:])
    for centers in (2, 8):
        assert count_parameters(build_model("fastkan", width, centers=centers)) == E * centers
    assert count_parameters(build_model("wavkan", width)) == 3 * E


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("metakan", lambda o: o["grid"] + o["k"] + 1),
        ("metafastkan", lambda o: o["centers"]),
        ("metawavkan", lambda o: 3),
    ],
)
@pytest.mark.parametrize(
    ("hidden", "prompt_dim", "bias"), [(16, 1, True), (5, 3, False), (7, 2, True)]
)
def test_table1_formulas_for_meta_models(width, name, size, hidden, prompt_dim, bias) -> None:
    """E·p + C·(p·h + h·m [+ h + m]) for C = 1 … number of layers."""
    for clusters in range(1, len(width)):
        model = build_model(
            name,
            width,
            meta_hidden=hidden,
            prompt_dim=prompt_dim,
            meta_bias=bias,
            clusters=clusters,
        )
        m = size(model.config)
        learner = prompt_dim * hidden + hidden * m + (hidden + m if bias else 0)
        assert count_parameters(model) == edges(width) * prompt_dim + clusters * learner


# --- gradients ----------------------------------------------------------------------------------


def as_function_of_parameters(model: torch.nn.Module):
    """``f(x, *parameters)`` calling ``model`` with the given parameter tensors."""
    names = [name for name, _ in model.named_parameters()]

    def function(x: Tensor, *values: Tensor) -> Tensor:
        return functional_call(model, dict(zip(names, values)), (x,))

    return function


VARIANTS = {
    "wavkan-morlet": ("wavkan", {"wavelet": "morlet"}),
    "wavkan-dog": ("wavkan", {"wavelet": "dog"}),
    "metawavkan-morlet": ("metawavkan", {"wavelet": "morlet"}),
    "kan-k2-nobias": ("kan", {"k": 2, "bias": False}),
    "kan-k5": ("kan", {"k": 5, "grid": 3}),
    "fastkan-nobias": ("fastkan", {"bias": False}),
    "metakan-clusters-node": ("metakan", {"clusters": 2, "node_mean": True}),
    "metakan-prompt3-tanh": ("metakan", {"prompt_dim": 3, "meta_activation": "tanh"}),
}


@pytest.mark.parametrize("name", [*MODELS, *VARIANTS])
def test_gradcheck_and_gradgradcheck_inputs_and_parameters(name: str) -> None:
    name, variant = VARIANTS.get(name, (name, {}))
    options = {"meta_hidden": 4, **variant} if name in META else {"bias": True, **variant}
    model = small_model(name, [2, 3, 2], **options)
    x = inputs(4, 2).requires_grad_(True)
    parameters = tuple(p.detach().clone().requires_grad_(True) for p in model.parameters())
    function = as_function_of_parameters(model)
    assert gradcheck(function, (x, *parameters), eps=1e-6, atol=1e-6, rtol=1e-5)
    assert gradgradcheck(function, (x, *parameters), eps=1e-6, atol=1e-6, rtol=1e-5)


FAMILY_MODELS = ["kan", "fastkan", "wavkan"]


@pytest.mark.parametrize("name", [*FAMILY_MODELS, "wavkan-morlet", "wavkan-dog", "kan-k1"])
def test_layer_value_and_derivatives_match_autograd(name: str) -> None:
    """y_j = Σ_i φ_ji(x_i) + b_j: φ'_ji(x_i) = ∂y_j/∂x_i and φ''_ji(x_i) = ∂²y_j/∂x_i²."""
    base, _, variant = name.partition("-")
    options = {"morlet": {"wavelet": "morlet"}, "dog": {"wavelet": "dog"}, "k1": {"k": 1}}.get(
        variant, {}
    )
    model = small_model(base, [3, 4], bias=True, **options)
    layer, (weight,) = model.layers[0], model.coefficients()
    with torch.no_grad():
        layer.bias.normal_(generator=generator(5))
    x = inputs(6, 3)
    y, first, second = layer.value_and_derivatives(x, weight)
    torch.testing.assert_close(y, layer(x, weight), rtol=1e-13, atol=1e-13)
    jacobian = torch.autograd.functional.jacobian(
        lambda t: layer(t, weight).sum(0), x
    )  # (out, batch, in)
    torch.testing.assert_close(first, jacobian.permute(1, 2, 0), rtol=1e-10, atol=1e-10)
    hessian_diagonal = torch.stack(
        [
            torch.autograd.functional.jacobian(
                lambda t, j=j: torch.autograd.grad(
                    layer(t, weight)[:, j].sum(), t, create_graph=True
                )[0].sum(0),
                x,
            ).diagonal(dim1=0, dim2=2)
            for j in range(4)
        ],
        dim=-1,
    )  # (batch, in, out): ∂²y_j/∂x_i² per sample
    torch.testing.assert_close(second, hessian_diagonal, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", MODELS)
def test_every_parameter_receives_a_gradient(name: str) -> None:
    options = {"clusters": 2} if name in META else {}
    model = build_model(name, [3, 6, 5, 2], generator=generator(2), bias=True, **options)
    x = torch.rand((64, 3), generator=generator(3)) * 2 - 1
    model(x).pow(2).sum().backward()
    for parameter_name, parameter in model.named_parameters():
        assert parameter.grad is not None, parameter_name
        assert parameter.grad.abs().max() > 0, parameter_name
        assert torch.isfinite(parameter.grad).all(), parameter_name


@pytest.mark.parametrize("name", MODELS)
def test_no_coupling_between_samples(name: str) -> None:
    """∂ output_b / ∂ x_c = 0 for b ≠ c: the Jacobian is block diagonal over the batch."""
    model = small_model(name, [3, 4, 2])
    x = inputs(5, 3)
    jacobian = torch.autograd.functional.jacobian(model, x)  # (batch, out, batch, in)
    blocks = jacobian.permute(0, 2, 1, 3).abs().sum((-1, -2))  # (batch, batch)
    off_diagonal = blocks - torch.diag(blocks.diagonal())
    assert off_diagonal.max() == 0
    assert blocks.diagonal().min() > 0
    torch.testing.assert_close(model(x[2:3]), model(x)[2:3], rtol=1e-14, atol=1e-14)


# --- MetaKAN == KAN with the same coefficients ------------------------------------------------


@pytest.mark.parametrize("name", FAMILY_MODELS)
def test_metakan_equals_kan_holding_its_coefficients(name: str) -> None:
    width = [3, 5, 4, 2]
    meta = small_model("meta" + name, width, seed=7, clusters=2, bias=True)
    with torch.no_grad():
        for layer in meta.layers:
            layer.bias.normal_(generator=generator(9))
    direct_options = {k: v for k, v in meta.config.items() if k in model_options(name)}
    kan = build_model(name, width, **direct_options).double()
    with torch.no_grad():
        for weight, coefficients in zip(kan.coefficients.weights, meta.coefficients(), strict=True):
            weight.copy_(coefficients)
        for direct_layer, meta_layer in zip(kan.layers, meta.layers):
            direct_layer.bias.copy_(meta_layer.bias)
    x = inputs(50, 3)
    expected = meta(x)
    assert expected.abs().max() > 1e-3
    torch.testing.assert_close(kan(x), expected, rtol=1e-13, atol=1e-14)


def test_metakan_with_hand_set_learner_emits_known_coefficients() -> None:
    """relu(z) − relu(−z) = z, so M(z) = a z + b; layer l gets w = (a z + b)/√n_l."""
    width = [3, 4, 2]
    meta = build_model("metakan", width, grid=3, k=2, meta_hidden=2).double()
    m = 3 + 2 + 1
    a = torch.linspace(-1.0, 2.0, m, dtype=DTYPE)
    b = torch.linspace(0.5, -0.5, m, dtype=DTYPE)
    (learner,) = meta.coefficients.meta_learners
    prompts = [
        torch.randn(p.shape, generator=generator(11), dtype=DTYPE)
        for p in meta.coefficients.prompts
    ]
    with torch.no_grad():
        learner.hidden.weight.copy_(torch.tensor([[1.0], [-1.0]]))
        learner.hidden.bias.zero_()
        learner.output.weight.copy_(torch.stack([a, -a], dim=1))
        learner.output.bias.copy_(b)
        for parameter, value in zip(meta.coefficients.prompts, prompts):
            parameter.copy_(value)
    expected = [(a * z + b) / n**0.5 for z, n in zip(prompts, width[:-1])]
    for computed, target in zip(meta.coefficients(), expected, strict=True):
        torch.testing.assert_close(computed, target, rtol=1e-14, atol=1e-15)
    kan = build_model("kan", width, grid=3, k=2).double()
    with torch.no_grad():
        for weight, target in zip(kan.coefficients.weights, expected):
            weight.copy_(target)
    x = inputs(20, 3)
    torch.testing.assert_close(meta(x), kan(x), rtol=1e-13, atol=1e-14)


# --- dtype, device, determinism ---------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_float32_and_float64_agree(name: str) -> None:
    model = build_model(name, [3, 5, 2], generator=generator(4))
    x = torch.rand((16, 3), generator=generator(5)) * 2 - 1
    single = model(x)
    assert single.dtype == torch.float32
    double = model.double()(x.double())
    assert double.dtype == torch.float64
    torch.testing.assert_close(single.double(), double, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("name", MODELS)
def test_cuda_matches_cpu(name: str) -> None:
    model = build_model(name, [3, 5, 2], generator=generator(4)).double()
    x = inputs(32, 3)
    expected = model(x)
    on_gpu = model.to("cuda")
    result = on_gpu(x.to("cuda"))
    assert result.device.type == "cuda"
    torch.testing.assert_close(result.cpu(), expected, rtol=1e-10, atol=1e-12)
    result.sum().backward()
    assert all(p.grad is not None and p.grad.device.type == "cuda" for p in on_gpu.parameters())


@pytest.mark.parametrize("name", MODELS)
def test_initialisation_is_deterministic_given_a_generator(name: str) -> None:
    def parameters(seed: int) -> list[Tensor]:
        return [
            p.detach() for p in build_model(name, [3, 5, 2], generator=generator(seed)).parameters()
        ]

    first, again, other = parameters(0), parameters(0), parameters(1)
    assert all(torch.equal(p, q) for p, q in zip(first, again, strict=True))
    assert all(not torch.equal(p, q) for p, q in zip(first, other, strict=True) if p.std() > 0)


@pytest.mark.parametrize("name", [name for name in MODELS if name != "mlp"])
@pytest.mark.parametrize("shape", [(5, 1), (5, 2, 1), (5, 3), (2,)])
def test_kan_networks_refuse_inputs_of_another_width(name: str, shape: tuple[int, ...]) -> None:
    """A wavelet layer broadcast (5, 1) to both inputs and (5, 2, 1) to a (5, 3, 1) output."""
    model = small_model(name, [2, 3, 1])
    expected = re.escape(f"input of shape {shape} is not allowed; this network takes (batch, 2)")
    with pytest.raises(ValueError, match=expected):
        model(torch.zeros(shape, dtype=DTYPE))


def test_kan_network_is_the_composition_of_its_layers() -> None:
    model = small_model("kan", [3, 4, 2])
    assert isinstance(model, KANNetwork)
    x = inputs(7, 3)
    hidden = model.layers[0](x, model.coefficients()[0])
    torch.testing.assert_close(model(x), model.layers[1](hidden, model.coefficients()[1]))
