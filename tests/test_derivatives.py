"""Laplacian engines: forward == autograd for every backbone, estimators unbiased, helpers exact."""

from __future__ import annotations

import itertools
import math
import warnings

import pytest
import torch
from torch import nn

import pinnkan
from pinnkan.derivatives import (
    EngineFallbackWarning,
    autograd_laplacian,
    gradient,
    hessian_diagonal,
    laplacian,
)
from pinnkan.directions import Directions
from pinnkan.forward_laplacian import forward_laplacian, supports
from pinnkan.gram import gram_plan
from pinnkan.nn import KANLayer, build_model
from pinnkan.nn.activations import ACTIVATIONS
from pinnkan.nn.constraint import BallHardConstraint

DIMS = (1, 2, 5, 20, 100)
SHALLOW = (4, 3)  # [d, 4, 3, 1]: the last hidden output carries diag G only
DEEP = (5, 4, 3)  # [d, 5, 4, 3, 1]: a full G crosses a hidden layer (W G Wᵀ, Aᵀ G A)
NAMES = ("mlp", "kan", "metakan", "fastkan", "metafastkan", "wavkan", "metawavkan")

BACKBONES = [
    *[
        ("mlp", {"activation": a, "bias": b})
        for a in ACTIVATIONS  # the registry: every activation the MLP accepts
        for b in (True, False)
    ],
    *[("kan", {"k": k, "bias": b}) for k in (2, 3) for b in (True, False)],
    *[("metakan", {"clusters": c, "bias": b}) for c in (1, 2) for b in (True, False)],
    ("metakan", {"clusters": 2, "node_mean": True}),
    *[(name, {"bias": b}) for name in ("fastkan", "metafastkan") for b in (True, False)],
    *[
        (name, {"wavelet": w, "bias": b})
        for name in ("wavkan", "metawavkan")
        for w in ("mexican_hat", "morlet", "dog")
        for b in (True, False)
    ],
]


# one configuration per backbone (every MLP activation) for the costlier checks
DEEP_BACKBONES = [
    *[("mlp", {"activation": a}) for a in ACTIVATIONS],
    *[(name, {"bias": True}) for name in NAMES[1:]],
]


def backbone_id(entry: tuple[str, dict]) -> str:
    name, options = entry
    return "-".join([name, *(f"{k}={v}" for k, v in options.items())])


def build(
    name: str, dim: int, seed: int = 3, hidden: tuple[int, ...] = SHALLOW, **options
) -> nn.Module:
    """A small float64 backbone [d, *hidden, 1], by default [d, 4, 3, 1] (three layers, so J/G
    crosses a hidden layer); ``hidden=DEEP`` makes the full Gram matrix cross one too.

    KAN-layer biases and MetaKAN node means start at zero; they are set to random values so
    that they count. Meta
    models use the paper's init: its non-zero mean coefficients give Laplacians well above the
    tolerance (the centred default differs only in one bias vector, not in the engine's path).
    """
    generator = torch.Generator().manual_seed(seed)
    if name.startswith("meta"):
        options = {"meta_init": "paper", **options}
    model = build_model(name, [dim, *hidden, 1], generator=generator, **options).double()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, KANLayer) and module.bias is not None:
                module.bias.copy_(0.3 * torch.randn(module.bias.shape, generator=generator))
        for mean in getattr(getattr(model, "coefficients", None), "node_means", None) or []:
            mean.copy_(0.3 * torch.randn(mean.shape, generator=generator))
    return model


def ball_points(count: int, dim: int, seed: int = 1) -> torch.Tensor:
    """Points with radii in [0.2, 0.9] of the unit ball, ``(count, dim)`` float64."""
    generator = torch.Generator().manual_seed(seed)
    direction = torch.randn(count, dim, generator=generator, dtype=torch.float64)
    radius = 0.2 + 0.7 * torch.rand(count, 1, generator=generator, dtype=torch.float64)
    return direction / direction.norm(dim=1, keepdim=True) * radius


def assert_close(actual: torch.Tensor, expected: torch.Tensor, tolerance: float = 1e-10) -> None:
    scale = max(1.0, expected.abs().max().item())
    torch.testing.assert_close(actual, expected, rtol=0, atol=tolerance * scale)


def assert_full_gram_crosses_a_hidden_layer(width: list[int], count: int) -> None:
    """The engine's plan for ``count`` directions carries G at hidden outputs 1 and 2, so the full
    G' = Aᵀ G A (KAN) or W G Wᵀ (MLP) is formed, not only its diagonal (shared first J or not)."""
    for shared_first in (False, True):
        plan = gram_plan(width, count, shared_first)
        assert plan[:2] == [True, True], (width, count, plan)


def assert_forward_equals_autograd(net: nn.Module, x: torch.Tensor) -> None:
    """u and Δu of the forward engine equal autograd's (1e-10), with and without the constraint."""
    for model in (net, BallHardConstraint(net, radius=1.3)):
        u_ref, lap_ref = laplacian(model, x, "autograd")
        assert lap_ref.abs().max() > 1e-6  # a test that cannot fail is a defect
        u, lap = laplacian(model, x, "forward")
        assert_close(u, u_ref)
        assert_close(lap, lap_ref)


# --- exactness of the forward engine --------------------------------------------------------


@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("backbone", BACKBONES, ids=backbone_id)
def test_forward_equals_autograd(backbone: tuple[str, dict], dim: int) -> None:
    name, options = backbone
    if options.get("node_mean") and dim == 1:
        pytest.skip("node means need two inputs per layer (refused: tests/test_build.py)")
    assert_forward_equals_autograd(build(name, dim, **options), ball_points(3, dim))


@pytest.mark.parametrize("dim", [20, 100])
@pytest.mark.parametrize("backbone", DEEP_BACKBONES, ids=backbone_id)
def test_forward_equals_autograd_through_a_hidden_gram(
    backbone: tuple[str, dict], dim: int
) -> None:
    """Width [d, 5, 4, 3, 1] at d = 20, 100: the automatic plan carries the full Gram matrix
    through hidden layer 2 (G' = Aᵀ G A, or G_y = σ'σ'ᵀ ∘ W G Wᵀ), which [d, 4, 3, 1] never does
    (its last hidden output needs diag G only); u and Δu must still equal autograd's."""
    name, options = backbone
    net = build(name, dim, hidden=DEEP, **options)
    assert_full_gram_crosses_a_hidden_layer(net.width, dim)
    assert_forward_equals_autograd(net, ball_points(3, dim))


@pytest.mark.parametrize("representation", ["jacobian", "gram"])
@pytest.mark.parametrize("name", NAMES)
def test_both_representations_are_exact(name: str, representation: str) -> None:
    """Forced J everywhere (J' = J A, J Wᵀ) or G everywhere (G' = Aᵀ G A, W G Wᵀ through two
    hidden layers of [6, 5, 4, 3, 1]): both give autograd's Δu."""
    model = BallHardConstraint(build(name, 6, hidden=DEEP))
    x = ball_points(4, 6)
    _, expected = autograd_laplacian(model, x)
    _, lap = forward_laplacian(model, x, Directions(6, 1.0), representation=representation)
    assert_close(lap, expected)


def test_plan_carries_jacobian_for_few_directions_and_gram_for_many() -> None:
    width = [10_000, 32, 32, 32, 1]
    assert gram_plan(width, count=16) == [False, False, False]
    assert gram_plan(width, count=10_000) == [True, True, False]  # last: diag G only
    with pytest.raises(ValueError, match="representation='dense'"):
        gram_plan(width, 16, representation="dense")


@pytest.mark.parametrize(
    ("dim", "hidden"), [(5, SHALLOW), (5, DEEP), (100, SHALLOW), (100, DEEP)], ids=str
)
@pytest.mark.parametrize("name", NAMES)
def test_parameter_gradients_match_autograd(name: str, dim: int, hidden: tuple[int, ...]) -> None:
    """∂/∂θ of a loss of u and Δu through the forward engine equals the gradient through the
    autograd Laplacian: J plans at d = 5 (the MLP's shared first J turns to G), Gram plans at
    d = 100 (the full G through a hidden layer for [100, 5, 4, 3, 1])."""
    model = BallHardConstraint(build(name, dim, hidden=hidden, bias=True))
    if (dim, hidden) == (100, DEEP):
        assert_full_gram_crosses_a_hidden_layer(model.net.width, dim)
    x = ball_points(4, dim)
    forcing = torch.sin(x.sum(dim=1))

    def parameter_gradients(method: str) -> list[torch.Tensor]:
        u, lap = laplacian(model, x, method)
        loss = (lap - forcing).pow(2).mean() + 0.1 * u.pow(2).mean()
        return torch.autograd.grad(loss, list(model.parameters()))

    expected = parameter_gradients("autograd")
    for actual, reference in zip(parameter_gradients("forward"), expected, strict=True):
        assert reference.abs().max() > 0
        assert_close(actual, reference)


def test_gradients_through_torch_func_match_backward() -> None:
    model = BallHardConstraint(build("metakan", 30))
    assert gram_plan(model.net.width, count=30)[0]  # the Gram path is the one exercised
    x = ball_points(5, 30)

    class LaplacianLoss(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, points: torch.Tensor) -> torch.Tensor:
            return laplacian(self.model, points, "forward")[1].pow(2).mean()

    loss_module = LaplacianLoss()
    parameters = dict(loss_module.named_parameters())
    grads = torch.func.grad(lambda p: torch.func.functional_call(loss_module, p, (x,)))(parameters)
    expected = torch.autograd.grad(loss_module(x), list(parameters.values()))
    for name, reference in zip(parameters, expected, strict=True):
        assert_close(grads[name], reference)


def test_chunks_give_identical_results_and_one_coefficient_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = BallHardConstraint(build("metakan", 5))
    calls = []
    generate = model.net.coefficients.forward

    def counted(*args, **kwargs):  # not a forward hook: a hooked model goes to autograd
        calls.append(1)
        return generate(*args, **kwargs)

    monkeypatch.setattr(model.net.coefficients, "forward", counted)
    x = ball_points(7, 5)
    u, lap = laplacian(model, x, "forward")
    calls.clear()
    u_chunked, lap_chunked = laplacian(model, x, "forward", chunk_size=2)
    assert len(calls) == 1
    assert_close(u_chunked, u, 1e-14)
    assert_close(lap_chunked, lap, 1e-14)
    for method in ("autograd", "hutchinson"):
        whole = laplacian(model, x, method, generator=torch.Generator().manual_seed(3))[1]
        parts = laplacian(
            model, x, method, chunk_size=3, generator=torch.Generator().manual_seed(3)
        )[1]
        assert_close(parts, whole, 1e-14)


@pytest.mark.filterwarnings("ignore::pinnkan.derivatives.EngineFallbackWarning")
@pytest.mark.parametrize("method", ["hutchinson", "sdgd"])
def test_chunks_of_the_autograd_fallback_take_their_own_rows_of_directions(method) -> None:
    """A hooked model runs the autograd engine; each chunk must use its own points' probes
    (the supported model above goes through the forward engine, so this path was untested)."""
    net = build("mlp", 4)
    net.register_forward_hook(lambda module, inputs, output: output)
    x = ball_points(7, 4)
    whole = laplacian(net, x, method, generator=torch.Generator().manual_seed(3))[1]
    parts = laplacian(net, x, method, chunk_size=3, generator=torch.Generator().manual_seed(3))[1]
    assert_close(parts, whole, 1e-14)


def test_create_graph_false_gives_detached_equal_values() -> None:
    model = build("kan", 3)
    x = ball_points(4, 3)
    u, lap = laplacian(model, x, "forward")
    for method in ("forward", "autograd"):
        u_eval, lap_eval = laplacian(model, x, method, create_graph=False)
        assert not u_eval.requires_grad and not lap_eval.requires_grad
        assert_close(lap_eval, lap.detach())
        assert_close(u_eval, u.detach())


# --- stochastic estimators -------------------------------------------------------------------


def draws(model: nn.Module, x: torch.Tensor, method: str, samples: int, count: int) -> torch.Tensor:
    """``count`` independent estimates ``(count, batch)`` with seeds 0 … count − 1."""
    return torch.stack(
        [
            laplacian(
                model,
                x,
                method,
                samples=samples,
                generator=torch.Generator().manual_seed(seed),
                create_graph=False,
            )[1]
            for seed in range(count)
        ]
    )


@pytest.mark.parametrize("method", ["sdgd", "hutchinson"])
def test_estimators_are_unbiased(method: str) -> None:
    """End to end through the sampler: the mean of 400 draws is Δu within 4 standard errors (the
    exact expectations are checked by the next test, the sampler's law by the two after)."""
    dim, samples, count = 8, 2, 400
    model = BallHardConstraint(build("kan", dim))
    x = ball_points(3, dim)
    exact = laplacian(model, x, "forward", create_graph=False)[1]
    estimates = draws(model, x, method, samples, count)
    error = estimates.std(dim=0) / math.sqrt(count)
    assert (error > 0).all()
    assert ((estimates.mean(dim=0) - exact).abs() < 4 * error).all()
    # the test has the power to see a missing scale: SDGD's d/|S|, Hutchinson's 1/K average
    wrong = samples / dim if method == "sdgd" else samples
    assert ((estimates.mean(dim=0) * wrong - exact).abs() > 4 * error).any()


@pytest.mark.parametrize("name", NAMES)
def test_estimator_means_over_every_draw_are_the_laplacian(name: str) -> None:
    """Exact unbiasedness at d = 8, K = 2 (no sampling): the mean of SDGD's (d/K) Σ_{i∈S} ∂²u/∂x_i²
    over all C(8, 2) = 28 subsets S, and of Hutchinson's vᵀ∇²u v over all 2⁸ sign vectors v (one
    probe each, fed as explicit directions), both equal the autograd Δu to 1e-10."""
    dim, samples = 8, 2
    model = BallHardConstraint(build(name, dim, hidden=DEEP))
    x = ball_points(3, dim)
    exact = autograd_laplacian(model, x, create_graph=False)[1]
    with torch.no_grad():
        subsets = [
            Directions(dim, dim / samples, coordinates=torch.tensor(subset))
            for subset in itertools.combinations(range(dim), samples)
        ]
        sdgd = torch.stack([forward_laplacian(model, x, subset)[1] for subset in subsets])
        signs = torch.tensor(list(itertools.product((-1.0, 1.0), repeat=dim)), dtype=x.dtype)
        probes = signs.repeat(len(x), 1).unsqueeze(1)  # point-major: (batch · 2^d, 1, d)
        points = x.repeat_interleave(len(signs), dim=0)
        hutchinson = forward_laplacian(model, points, Directions(dim, 1.0, vectors=probes))[1]
        hutchinson = hutchinson.view(len(x), len(signs)).T
    for estimates in (sdgd, hutchinson):
        assert (estimates.std(dim=0) > 1e-6).all()  # single draws are not exact
        assert_close(estimates.mean(dim=0), exact)


def test_sdgd_draws_every_subset_equally_often() -> None:
    """The SDGD sampler draws S uniformly among the C(d, K) subsets, with weight d/K: so each
    coordinate enters with probability K/d and the exact means above are its expectation.
    2800 draws at d = 8, K = 2: every one of the 28 subsets within 5σ of 100."""
    from pinnkan.directions import draw_directions

    dim, samples, count = 8, 2, 2800
    x = ball_points(1, dim)
    generator = torch.Generator().manual_seed(2)
    frequencies = dict.fromkeys(itertools.combinations(range(dim), samples), 0)
    for _ in range(count):
        directions = draw_directions("sdgd", x, samples, generator)
        assert directions.vectors is None and directions.weight == dim / samples
        frequencies[tuple(sorted(directions.coordinates.tolist()))] += 1
    expected = count / len(frequencies)
    sigma = math.sqrt(expected * (1 - 1 / len(frequencies)))
    assert len(frequencies) == math.comb(dim, samples)  # no repeated or out-of-range index
    assert all(abs(n - expected) < 5 * sigma for n in frequencies.values()), frequencies


def test_hutchinson_draws_every_sign_vector_with_identity_second_moment() -> None:
    """The Hutchinson sampler draws probes v ∈ {−1, 1}^d with weight 1/K and E[v vᵀ] = I (what
    unbiasedness needs): 8000 probes at d = 8 give every one of the 2⁸ sign vectors and
    (1/n) Σ v vᵀ within 5σ = 5/√n of I."""
    from pinnkan.directions import draw_directions

    dim, samples, batch = 8, 2, 4000
    x = ball_points(batch, dim)
    directions = draw_directions("hutchinson", x, samples, torch.Generator().manual_seed(2))
    assert directions.coordinates is None and directions.weight == 1 / samples
    vectors = directions.rows(slice(None)).vectors
    probes = vectors.reshape(-1, dim)
    assert vectors.shape == (batch, samples, dim) and (probes.abs() == 1).all()
    assert len({tuple(v) for v in probes.tolist()}) == 2**dim
    moment = probes.T @ probes / len(probes)
    assert_close(moment, torch.eye(dim, dtype=x.dtype), 5 / math.sqrt(len(probes)))


@pytest.mark.parametrize("name", ["mlp", "kan", "wavkan"])
def test_sdgd_with_all_coordinates_is_exact(name: str) -> None:
    model = BallHardConstraint(build(name, 5))
    x = ball_points(4, 5)
    _, exact = laplacian(model, x, "autograd")
    _, estimate = laplacian(model, x, "sdgd", samples=5, generator=torch.Generator().manual_seed(9))
    assert_close(estimate, exact)


@pytest.mark.parametrize("constrained", [True, False], ids=["hard", "free"])
@pytest.mark.parametrize("representation", ["jacobian", "gram"])
@pytest.mark.parametrize("method", ["sdgd", "hutchinson"])
@pytest.mark.parametrize("name", NAMES)
def test_estimators_equal_their_autograd_versions(
    name: str, method: str, representation: str, constrained: bool
) -> None:
    """Same seed, same directions: the forward estimator (SDGD's sampled-coordinate first layer,
    Hutchinson's dense-probe first layer, then J or G through [7, 5, 4, 3, 1]) and the autograd
    one agree exactly, for every backbone, with and without the hard constraint."""
    from pinnkan.directions import draw_directions

    net = build(name, 7, hidden=DEEP)
    model = BallHardConstraint(net, radius=1.2) if constrained else net
    x = ball_points(5, 7)
    directions = draw_directions(method, x, 3, torch.Generator().manual_seed(4))
    _, lap = forward_laplacian(model, x, directions, representation=representation)
    with pytest.warns(EngineFallbackWarning, match=f"autograd {method}"):
        _, expected = laplacian(
            lambda points: model(points), x, method, samples=3,
            generator=torch.Generator().manual_seed(4),
        )  # fmt: skip
    assert_close(lap, expected)


@pytest.mark.parametrize("name", ["kan", "metakan", "fastkan"])
def test_sdgd_first_layer_uses_the_basis_of_each_sampled_input(name: str) -> None:
    """The SDGD first layer takes derivatives at the sampled inputs only; with a different knot
    row per input (as after a grid update) it must use each sampled input's own row."""
    from pinnkan.basis.bspline import uniform_knots
    from pinnkan.directions import draw_directions

    model = BallHardConstraint(build(name, 7))
    family = model.net.layers[0].family
    if hasattr(family, "knots"):
        rows = [uniform_knots(5, 3, (-0.5 - 0.1 * i, 0.4 + 0.2 * i)) for i in range(7)]
        family.knots.copy_(torch.stack(rows))
    x = ball_points(6, 7)
    directions = draw_directions("sdgd", x, 3, torch.Generator().manual_seed(11))
    _, lap = forward_laplacian(model, x, directions)
    with pytest.warns(EngineFallbackWarning, match="autograd sdgd"):
        _, expected = laplacian(
            lambda points: model(points), x, "sdgd", samples=3,
            generator=torch.Generator().manual_seed(11),
        )  # fmt: skip
    assert_close(lap, expected)


@pytest.mark.parametrize("name", ["kan", "metakan", "metafastkan"])
def test_sdgd_parameter_gradients_match_autograd(name: str) -> None:
    """The SDGD first layer's derivative terms use the sampled inputs' coefficients only
    (:func:`pinnkan.forward_laplacian.input_rows`); the parameter gradients must still equal
    the autograd estimator's with the same draw, for direct and for generated coefficients."""
    from pinnkan.directions import draw_directions

    model = BallHardConstraint(build(name, 7, bias=True))
    x = ball_points(6, 7)
    forcing = torch.sin(x.sum(dim=1))

    def parameter_gradients(lap: torch.Tensor, u: torch.Tensor) -> list[torch.Tensor]:
        loss = (lap - forcing).pow(2).mean() + 0.1 * u.pow(2).mean()
        return torch.autograd.grad(loss, list(model.parameters()))

    directions = draw_directions("sdgd", x, 3, torch.Generator().manual_seed(5))
    actual = parameter_gradients(*reversed(forward_laplacian(model, x, directions)))
    with pytest.warns(EngineFallbackWarning, match="autograd sdgd"):
        u, lap = laplacian(
            lambda points: model(points), x, "sdgd", samples=3,
            generator=torch.Generator().manual_seed(5),
        )  # fmt: skip
    for got, reference in zip(actual, parameter_gradients(lap, u), strict=True):
        assert reference.abs().max() > 0
        assert_close(got, reference)


@pytest.mark.parametrize("layout", ["contiguous", "input-major"])
def test_input_rows_select_in_the_coefficients_layout(layout: str) -> None:
    """``input_rows(w, S) = w[:, S, :]`` with the same gradient as ``index_select``; for
    input-major storage ``(in, m, out)`` the result and the gradient it sends back keep that
    layout, which the MetaKAN generation's backward reads without a transposing copy."""
    from pinnkan.forward_laplacian import input_rows

    generator = torch.Generator().manual_seed(6)
    storage = torch.randn(7, 4, 3, generator=generator, dtype=torch.float64)  # (in, m, out)
    if layout == "contiguous":
        storage = storage.permute(2, 0, 1).contiguous()
    w = (storage.permute(2, 0, 1) if layout == "input-major" else storage).requires_grad_()
    w_view = w * 1.0 if layout == "contiguous" else w.permute(1, 2, 0).mul(1.0).permute(2, 0, 1)
    subset = torch.tensor([5, 0, 2])
    rows = input_rows(w_view, subset)
    torch.testing.assert_close(rows, w.detach().index_select(1, subset), rtol=0, atol=0)
    upstream = torch.randn(rows.shape, generator=generator, dtype=torch.float64)
    (grad,) = torch.autograd.grad(rows, w_view, upstream)
    expected = torch.zeros_like(w).index_add_(1, subset, upstream)
    torch.testing.assert_close(grad, expected, rtol=0, atol=0)
    assert grad.permute(1, 2, 0).is_contiguous() == (layout == "input-major")


# --- fallback, validation and helpers --------------------------------------------------------


def test_unsupported_model_falls_back_to_autograd_with_a_warning() -> None:
    def model(x: torch.Tensor) -> torch.Tensor:
        return (x.sin().pow(2).sum(dim=1) * x[:, 0]).unsqueeze(-1)

    x = ball_points(4, 3)
    assert not supports(model)
    with pytest.warns(EngineFallbackWarning, match="running the autograd engine"):
        u, lap = laplacian(model, x, "forward")
    _, expected = autograd_laplacian(model, x)
    assert_close(lap, expected)
    assert_close(u, model(x).squeeze(-1))


def test_subclass_of_a_supported_model_is_not_trusted() -> None:
    class Doubled(type(build("mlp", 2))):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return 2 * super().forward(x)

    model = Doubled([2, 3, 1]).double()
    x = ball_points(3, 2)
    with pytest.warns(EngineFallbackWarning):
        _, lap = laplacian(model, x, "forward")
    assert_close(lap, autograd_laplacian(model, x)[1])


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"method": "finite_differences"}, "method='finite_differences'"),
        ({"method": "sdgd", "samples": 0}, "samples=0"),
        ({"method": "sdgd", "samples": 4}, "samples=4"),
        ({"method": "forward", "samples": 2}, "samples=2"),
        ({"method": "forward", "chunk_size": 0}, "chunk_size=0"),
    ],
)
def test_bad_arguments_raise_value_error(keywords: dict, message: str) -> None:
    model = build("kan", 3)
    with pytest.raises(ValueError, match=message):
        laplacian(model, ball_points(2, 3), **keywords)


def test_vector_output_is_rejected() -> None:
    with pytest.raises(ValueError, match="one output"):
        laplacian(build_model("kan", [2, 3, 2]).double(), ball_points(2, 2), "forward")
    with pytest.raises(ValueError, match="scalar output"):
        laplacian(lambda x: x, ball_points(2, 2), "autograd")


def test_gradient_and_hessian_diagonal_match_closed_forms() -> None:
    x = ball_points(5, 3).requires_grad_(True)
    u = (x.pow(3) * x.sum(dim=1, keepdim=True)).sum(dim=1)  # Σ_i x_i³ · Σ_j x_j
    total = x.sum(dim=1, keepdim=True)
    cubes = x.pow(3).sum(dim=1, keepdim=True)
    assert_close(gradient(u, x), 3 * x.pow(2) * total + cubes)
    assert_close(hessian_diagonal(u, x), 6 * x * total + 6 * x.pow(2))


def test_hard_constraint_vanishes_on_the_sphere() -> None:
    net = build("kan", 4)
    model = BallHardConstraint(net, radius=2.0)
    sphere = ball_points(6, 4)
    sphere = 2.0 * sphere / sphere.norm(dim=1, keepdim=True)
    assert_close(model(sphere), torch.zeros(6, 1, dtype=torch.float64), 1e-14)
    assert net(sphere).abs().min() > 0
    for radius in (0.0, -1.0, math.inf, True):
        with pytest.raises(ValueError, match="radius"):
            BallHardConstraint(net, radius=radius)


def test_warning_is_not_raised_for_supported_models() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        laplacian(BallHardConstraint(build("fastkan", 3)), ball_points(2, 3), "hutchinson")


def test_top_level_autograd_helpers_are_the_derivatives_helpers() -> None:
    """``pinnkan.grad`` / ``pinnkan.hessian_diagonal`` (named in the fallback docs) work on a
    user operator: the Hessian diagonal of Σ sin x_i is −sin x and sums to the Laplacian."""
    import pinnkan

    x = ball_points(4, 6).requires_grad_(True)
    u = torch.sin(x).sum(dim=1)
    assert_close(pinnkan.grad(u, x), torch.cos(x))
    assert_close(pinnkan.hessian_diagonal(u, x), -torch.sin(x))
    assert pinnkan.grad is pinnkan.gradient


LAPLACIAN_METHODS = ("forward", "autograd", "sdgd", "hutchinson")
CHECKED_BACKBONES = ("mlp", "kan", "fastkan", "wavkan", "metakan")


@pytest.mark.parametrize("name", CHECKED_BACKBONES)
@pytest.mark.parametrize("method", LAPLACIAN_METHODS)
def test_points_of_another_dtype_device_or_dimension_raise_one_line(name: str, method: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, width=[4, 8, 1])  # float32 parameters on the CPU
    x = torch.rand(5, 4)
    cases = {
        "dtype torch.float64 do not fit the model's parameters of dtype torch.float32": x.double(),
        "device meta do not fit the model's parameters on device cpu": x.to("meta"),
        r"dimension 3 do not fit width=\[4, 8, 1\]": x[:, :3],
    }
    for message, points in cases.items():
        with pytest.raises(ValueError, match=message) as error:
            laplacian(model, points, method=method)
        assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="dtype torch.float64 do not fit"):
        laplacian(BallHardConstraint(model, 1.0), x.double(), method=method)


@pytest.mark.parametrize("method", LAPLACIAN_METHODS)
@pytest.mark.parametrize("name", NAMES)
def test_every_method_keeps_the_graph_through_x(name: str, method: str) -> None:
    """∇ₓu is the model's gradient, and ∇ₓ(L̂u) equals that of the other engine on the same
    directions (autograd: the forward engine's; sdgd and hutchinson: the autograd estimator's
    with the same seed, K = 2 < d = 6), so the estimators' first layers pass back the whole
    x-gradient of their basis derivatives."""
    model = build(name, 6, bias=True)
    x = ball_points(4, 6).requires_grad_()
    samples = 2 if method in ("sdgd", "hutchinson") else None

    def through_x(engine_model, engine_method: str) -> tuple[torch.Tensor, torch.Tensor]:
        u, lap = laplacian(
            engine_model, x, engine_method, samples=samples,
            generator=torch.Generator().manual_seed(8),
        )  # fmt: skip
        return u, torch.autograd.grad(lap.sum(), x, retain_graph=True)[0]

    u, dlap = through_x(model, method)
    reference = x.detach().requires_grad_()
    expected = gradient(model(reference).squeeze(-1), reference)
    assert_close(gradient(u, x), expected)
    if method == "autograd":
        _, dlap_reference = through_x(model, "forward")
    else:
        with pytest.warns(EngineFallbackWarning):
            _, dlap_reference = through_x(lambda points: model(points), method)
    assert dlap_reference.abs().max() > 1e-6
    assert_close(dlap, dlap_reference)


@pytest.mark.parametrize("generator", ["cpu", 0, torch.device("cpu")])
def test_a_generator_that_is_not_one_is_refused_in_one_line(generator) -> None:
    """It used to end in an AttributeError from inside the estimators' draw."""
    model = build_model("mlp", [3, 4, 1])
    with pytest.raises(ValueError, match=r"^generator=.* is not allowed; give a torch\.Generator"):
        laplacian(model, torch.rand(5, 3), method="sdgd", samples=2, generator=generator)


@pytest.mark.parametrize("method", ["autograd", "forward", "sdgd", "hutchinson"])
@pytest.mark.parametrize("model", ["mlp [3, 1]", "nn.Linear", "frozen nn.Linear"])
def test_an_affine_model_has_laplacian_zero_on_every_engine(method, model):
    """u affine in x: autograd raised "appears to not have been used in the graph" (and for
    frozen weights "does not require grad"); the forward engine's zeros had no graph, so
    grad(Δu, x) raised. Δu = 0 now, with a graph through x and the parameters."""
    if model == "mlp [3, 1]":
        net = build_model("mlp", [3, 1], generator=torch.Generator().manual_seed(0)).double()
    else:
        net = nn.Linear(3, 1).double()
        net.requires_grad_(model == "nn.Linear")
    x = torch.rand(4, 3, dtype=torch.float64, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nn.Linear: the autograd fallback's warning
        u, lap = laplacian(net, x, method)
    assert torch.equal(lap.abs(), torch.zeros(4, dtype=torch.float64))
    (dlap,) = torch.autograd.grad(lap.sum(), x, retain_graph=True)  # a graph of its own
    assert torch.equal(dlap.abs(), torch.zeros_like(x))
    (dx,) = torch.autograd.grad(lap.sum() + u.sum(), x, retain_graph=True)
    torch.testing.assert_close(dx, torch.autograd.grad(u.sum(), x)[0])


def test_the_hessian_diagonal_of_a_linear_function_is_zero():
    x = torch.rand(5, 3, dtype=torch.float64, requires_grad=True)
    assert torch.equal(hessian_diagonal((2 * x).sum(dim=1), x), torch.zeros(5, 3, dtype=x.dtype))


def test_a_compiled_model_is_differentiated_through_the_module_it_wraps():
    """torch.compile's wrapper fell back to autograd (with a warning) and then raised: compiled
    autograd has no double backward. Its module is the same function."""
    import pinnkan

    model = build_model("kan", [3, 5, 1], generator=torch.Generator().manual_seed(0)).double()
    x = torch.rand(4, 3, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error", pinnkan.EngineFallbackWarning)  # exported at the top
        compiled = laplacian(torch.compile(model), x)
    for got, expected in zip(compiled, laplacian(model, x), strict=True):
        assert torch.equal(got, expected)


def test_a_compiled_model_with_hooks_of_its_own_keeps_them():
    """Unwrapping dropped a hook registered on the compiled wrapper (Δu of the unhooked
    model); such a wrapper goes to the autograd fallback, hook and all."""
    import pinnkan

    model = build_model("kan", [3, 5, 1], generator=torch.Generator().manual_seed(0)).double()
    compiled = torch.compile(model, backend="eager")
    compiled.register_forward_hook(lambda module, inputs, output: 2 * output)
    x = torch.rand(4, 3, dtype=torch.float64)
    with pytest.warns(pinnkan.EngineFallbackWarning):
        u, lap = laplacian(compiled, x)
    u_plain, lap_plain = laplacian(model, x)
    torch.testing.assert_close(u, 2 * u_plain)
    torch.testing.assert_close(lap, 2 * lap_plain)


@pytest.mark.parametrize("value", [None, "no", 1])
def test_create_graph_must_be_a_bool(value):
    """None raised a torch TypeError, "no" counted as True."""
    model = build_model("mlp", [2, 3, 1]).double()
    with pytest.raises(ValueError, match=f"create_graph={value!r} is not allowed"):
        laplacian(model, torch.rand(3, 2, dtype=torch.float64), create_graph=value)


def test_the_autograd_helpers_refuse_shapes_that_are_not_one_scalar_per_point() -> None:
    """A (n, 2) output was summed over its columns into one 'gradient'; swapped arguments
    returned zeros; a 3-d x was taken."""
    x = torch.rand(4, 3, requires_grad=True)
    two = x[:, :2] * x[:, 1:]
    with pytest.raises(ValueError, match=r"u of shape \(4, 2\) is not allowed .* give one scalar"):
        pinnkan.grad(two, x)
    with pytest.raises(ValueError, match=r"x of shape \(4,\) is not allowed; give \(batch, d\)"):
        pinnkan.grad(x, x.sum(-1))
    with pytest.raises(ValueError, match=r"x of shape \(4, 3, 1\)"):
        hessian_diagonal(x.sum(-1), x.unsqueeze(-1))
    column = x.pow(2).sum(-1, keepdim=True)  # (n, 1) is one scalar per point
    torch.testing.assert_close(pinnkan.grad(column, x), 2 * x)


@pytest.mark.parametrize("mode", ["no_grad", "inference_mode"])
@pytest.mark.parametrize("hooked_model", [False, True])
def test_the_autograd_engine_under_no_grad_with_x_requiring_grad(mode, hooked_model) -> None:
    """Under no_grad a chunk of an x that requires grad says it requires grad but has no graph
    to x: the autograd engine (and every fallback to it) returned Δu = 0."""
    torch.manual_seed(0)
    model = build_model("kan", [2, 4, 1]).double()
    x = torch.randn(6, 2, dtype=torch.float64, requires_grad=True)
    expected = pinnkan.laplacian(model, x, "autograd")[1].detach()
    if hooked_model:
        model.register_forward_hook(lambda *args: None)  # every method falls back to autograd
    context = torch.no_grad() if mode == "no_grad" else torch.inference_mode()
    with context, warnings.catch_warnings():
        warnings.simplefilter("ignore", pinnkan.EngineFallbackWarning)
        for method, chunk_size in (("autograd", None), ("autograd", 4), ("forward", None)):
            lap = pinnkan.laplacian(model, x, method, chunk_size=chunk_size)[1]
            torch.testing.assert_close(lap, expected, rtol=1e-12, atol=1e-12)


class ScaledLinear(nn.Linear):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * super().forward(x)


@pytest.mark.parametrize(
    "replace", [lambda old: ScaledLinear(4, 4), lambda old: nn.Sequential(old, nn.LayerNorm(4))]
)
def test_an_mlp_with_other_layers_falls_back_to_autograd(replace) -> None:
    """The engine read every MLP layer as x ↦ Wx + b: a subclass with its own forward gave a
    wrong Δu silently, another module an AttributeError."""
    torch.manual_seed(0)
    model = build_model("mlp", [3, 4, 4, 1]).double()
    model.layers[1] = replace(model.layers[1]).double()
    x = torch.randn(5, 3, dtype=torch.float64)
    with pytest.warns(pinnkan.EngineFallbackWarning, match="MLP of plain nn.Linear layers"):
        forward = pinnkan.laplacian(model, x)[1]
    torch.testing.assert_close(forward, pinnkan.laplacian(model, x, "autograd")[1])


def test_a_collapsed_wavelet_scale_gives_no_nan() -> None:
    """σ⁻² overflowed to ∞ and ∞ · ψ''(u) = ∞ · 0 gave NaN where autograd gives 0."""
    model = build_model("wavkan", [1, 1]).double()
    with torch.no_grad():
        model.coefficients.weights[0][0, 0] = torch.tensor([1.0, 0.0, -400.0])  # σ ≈ e⁻⁴⁰⁰
    x = torch.tensor([[0.5]], dtype=torch.float64)
    assert pinnkan.laplacian(model, x)[1].item() == 0.0
    assert pinnkan.laplacian(model, x, "autograd")[1].item() == 0.0


def test_softplus_derivatives_follow_torchs_linear_tail() -> None:
    """torch's softplus is z itself above 20; the closed forms gave σ'' = 7.6e-10 at z = 21."""
    z = torch.tensor([19.0, 21.0, 30.0], dtype=torch.float64, requires_grad=True)
    _, first, second = ACTIVATIONS["softplus"].derivatives(z.detach())
    (auto_first,) = torch.autograd.grad(torch.nn.functional.softplus(z).sum(), z, create_graph=True)
    (auto_second,) = torch.autograd.grad(auto_first.sum(), z)
    torch.testing.assert_close(first, auto_first.detach(), rtol=1e-9, atol=0)
    torch.testing.assert_close(second, auto_second, rtol=1e-6, atol=0)
    assert second[1:].tolist() == [0.0, 0.0]
