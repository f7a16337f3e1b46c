"""Closed-form values and derivatives of every edge family and activation, in float64.

B-splines are checked against scipy.interpolate.BSpline (uniform and non-uniform knots), SiLU,
RBF, wavelets and the MLP activations against autograd of their value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np
import pytest
import torch
from scipy.interpolate import BSpline
from torch import Tensor

from pinnkan.basis import (
    MOTHER_WAVELETS,
    BSplineBasis,
    GaussianRBFBasis,
    WaveletFamily,
    silu_derivatives,
)
from pinnkan.basis.bspline import uniform_knots
from pinnkan.nn.activations import ACTIVATIONS

DTYPE = torch.float64


def uniform_points(shape: tuple[int, ...], lo: float, hi: float, seed: int = 0) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return lo + (hi - lo) * torch.rand(shape, generator=generator, dtype=DTYPE)


def autograd_derivatives(function: Callable[[Tensor], Tensor], t: Tensor) -> tuple[Tensor, ...]:
    """``(f, f', f'')`` of an elementwise ``f`` by autograd (zero where f' is constant in t)."""
    t = t.detach().clone().requires_grad_(True)
    value = function(t)
    (first,) = torch.autograd.grad(value.sum(), t, create_graph=True)
    if first.requires_grad:
        (second,) = torch.autograd.grad(first.sum(), t)
    else:
        second = torch.zeros_like(first)
    return value.detach(), first.detach(), second.detach()


def assert_basis_derivatives_match_autograd(basis, x: Tensor) -> None:
    """Every column m of ``basis_derivatives(x)`` against autograd of ``basis(x)[..., m]``."""
    value, first, second = basis.basis_derivatives(x)
    torch.testing.assert_close(value, basis.basis(x), rtol=0, atol=1e-14)
    for m in range(value.shape[-1]):
        reference = autograd_derivatives(lambda t, m=m: basis.basis(t)[..., m], x)
        torch.testing.assert_close(value[..., m], reference[0], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(first[..., m], reference[1], rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(second[..., m], reference[2], rtol=1e-9, atol=1e-9)


# --- B-splines ----------------------------------------------------------------------------------


def make_bspline(grid: int, order: int, knots: np.ndarray | None = None, base: bool = True):
    with torch.device("cpu"):
        basis = BSplineBasis(3, grid=grid, order=order, grid_range=(-1.0, 1.0), base=base).double()
    if knots is not None:
        basis.knots = torch.as_tensor(knots, dtype=DTYPE).expand(3, -1).clone()
    return basis


def nonuniform_knots(grid: int, order: int, seed: int = 1) -> np.ndarray:
    """``G + 2k + 1`` strictly increasing knots with random spacings in [0.5, 1.5]·h."""
    rng = np.random.default_rng(seed)
    steps = rng.uniform(0.5, 1.5, size=grid + 2 * order)
    return np.concatenate([[-1.5], -1.5 + np.cumsum(steps) * 2.0 / grid])


ORDERS = [1, 2, 3, 5]


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("uniform", [True, False], ids=["uniform", "nonuniform"])
def test_bspline_derivatives_match_autograd(order: int, uniform: bool) -> None:
    knots = None if uniform else nonuniform_knots(6, order)
    basis = make_bspline(6, order, knots)
    x = uniform_points((40, 3), -1.6, 1.6)
    assert_basis_derivatives_match_autograd(basis, x)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("uniform", [True, False], ids=["uniform", "nonuniform"])
def test_bspline_matches_scipy_design_matrix(order: int, uniform: bool) -> None:
    """Values, B' and B'' on [t_k, t_{n}] equal scipy's B-splines with the same knots."""
    grid = 7
    knots = (
        uniform_knots(grid, order, (-1.0, 1.0)).numpy()
        if uniform
        else nonuniform_knots(grid, order)
    )
    basis = make_bspline(grid, order, knots, base=False)
    count = grid + order
    x = np.linspace(knots[order], knots[count], 97)[:-1]
    x_torch = torch.as_tensor(x, dtype=DTYPE).unsqueeze(-1).expand(-1, 3)
    value, first, second = (b[:, 0].numpy() for b in basis.basis_derivatives(x_torch))
    design = BSpline.design_matrix(x, knots, order).toarray()
    np.testing.assert_allclose(value, design, rtol=0, atol=1e-13)
    splines = BSpline(knots, np.eye(count), order, extrapolate=False)
    np.testing.assert_allclose(first, splines.derivative(1)(x), rtol=1e-10, atol=1e-10)
    expected_second = splines.derivative(2)(x) if order >= 2 else np.zeros_like(second)
    np.testing.assert_allclose(second, expected_second, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("order", ORDERS)
def test_bspline_each_basis_function_matches_scipy_on_extended_knots(order: int) -> None:
    """B_i over the whole extended knot range equals scipy's basis element on t_i … t_{i+k+1}."""
    knots = nonuniform_knots(5, order, seed=order)
    basis = make_bspline(5, order, knots, base=False)
    x = np.linspace(knots[0] - 0.3, knots[-1] + 0.3, 211)
    x = x[np.min(np.abs(x[:, None] - knots[None, :]), axis=1) > 1e-9]  # avoid exact knots
    ours = basis.basis(torch.as_tensor(x, dtype=DTYPE).unsqueeze(-1).expand(-1, 3))[:, 1].numpy()
    for i in range(5 + order):
        element = BSpline.basis_element(knots[i : i + order + 2], extrapolate=False)
        expected = np.nan_to_num(element(x), nan=0.0)
        np.testing.assert_allclose(ours[:, i], expected, rtol=0, atol=1e-13, err_msg=f"B_{i}")


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("grid", [1, 5, 20])
def test_bspline_partition_of_unity_on_grid_range(order: int, grid: int) -> None:
    """Σ_i B_i = 1 on the closed [lo, hi]; Σ B'_i = Σ B''_i = 0 inside (one-sided at hi)."""
    basis = make_bspline(grid, order, base=False)
    inside = uniform_points((200, 3), -1.0, 1.0)
    ends = torch.tensor([[-1.0] * 3, [1.0] * 3], dtype=DTYPE)
    value = basis.basis(torch.cat([inside, ends]))
    torch.testing.assert_close(value.sum(-1), torch.ones(202, 3, dtype=DTYPE), rtol=0, atol=1e-13)
    assert (value >= 0).all()
    _, first, second = basis.basis_derivatives(inside)
    scale = float(grid) ** 2
    torch.testing.assert_close(first.sum(-1), torch.zeros_like(inside), rtol=0, atol=1e-12 * scale)
    torch.testing.assert_close(second.sum(-1), torch.zeros_like(inside), rtol=0, atol=1e-11 * scale)


@pytest.mark.parametrize("order", ORDERS)
def test_bspline_vanishes_outside_extended_knots_leaving_silu(order: int) -> None:
    basis = make_bspline(4, order)
    h = 2.0 / 4
    edge = 1.0 + order * h
    x = torch.tensor([[-edge - 0.01, -edge - 3.0, edge + 0.2], [edge, edge + 7.0, -edge - 1e-6]])
    x = x.to(DTYPE)
    value, first, second = basis.basis_derivatives(x)
    silu = silu_derivatives(x)
    for computed, branch in zip((value, first, second), silu):
        assert torch.equal(computed[..., 1:], torch.zeros_like(computed[..., 1:]))
        # a few roundings: the kernel forms σ and 1 − σ from e^x without cancellation
        torch.testing.assert_close(computed[..., 0], branch, rtol=1e-14, atol=0)
    inside = basis.basis(torch.full((1, 3), edge - 1e-3, dtype=DTYPE))
    assert inside[..., 1:].abs().max() > 0  # the last spline is alive just inside


def test_bspline_num_coefficients_is_grid_plus_order_plus_one() -> None:
    for grid, order in [(5, 3), (3, 3), (10, 1), (80, 5)]:
        basis = BSplineBasis(2, grid, order)
        assert basis.num_coefficients == grid + order + 1
        assert basis.basis(torch.zeros(4, 2)).shape == (4, 2, grid + order + 1)
        assert basis.knots.shape == (2, grid + 2 * order + 1)


# --- SiLU, RBF, wavelets, activations -----------------------------------------------------------


def test_silu_derivatives_match_autograd() -> None:
    t = torch.cat([uniform_points((300,), -12.0, 12.0), torch.tensor([0.0], dtype=DTYPE)])
    value, first, second = silu_derivatives(t)
    reference = autograd_derivatives(torch.nn.functional.silu, t)
    for computed, expected in zip((value, first, second), reference):
        torch.testing.assert_close(computed, expected, rtol=1e-12, atol=1e-13)


def test_silu_derivatives_keep_their_digits_in_the_tails() -> None:
    """Where σ ≈ 1 (t ≫ 0), s′ − 1 and s″ are small differences: formed with 1 − σ as σ(−t)
    they keep float64's digits (1 − σ by subtraction: s″ off by 4e-8 relative at t = 20). The
    reference uses scipy's ``expit`` for σ(t) and σ(−t)."""
    from scipy.special import expit

    t = np.array([-30.0, -20.0, -8.0, 8.0, 15.0, 20.0, 30.0])
    sigma, rest = expit(t), expit(-t)
    expected = (t * sigma, sigma * (1 + t * rest), sigma * rest * (2 + t * (rest - sigma)))
    for computed, reference in zip(silu_derivatives(torch.from_numpy(t)), expected, strict=True):
        torch.testing.assert_close(computed, torch.from_numpy(reference), rtol=1e-14, atol=0)


@pytest.mark.parametrize("centers", [2, 5, 12])
def test_rbf_values_and_derivatives(centers: int) -> None:
    basis = GaussianRBFBasis(centers, grid_range=(-2.0, 1.0)).double()
    x = uniform_points((30, 4), -3.0, 2.0)
    assert_basis_derivatives_match_autograd(basis, x)
    mu = np.linspace(-2.0, 1.0, centers)
    h = 3.0 / (centers - 1)
    expected = np.exp(-(((x.numpy()[..., None] - mu) / h) ** 2))
    np.testing.assert_allclose(basis.basis(x).numpy(), expected, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", sorted(MOTHER_WAVELETS))
def test_mother_wavelet_derivatives_match_autograd(name: str) -> None:
    mother = MOTHER_WAVELETS[name]
    u = uniform_points((400,), -6.0, 6.0)
    reference = autograd_derivatives(lambda t: mother(t)[0], u)
    for computed, expected in zip(mother(u), reference):
        torch.testing.assert_close(computed, expected, rtol=1e-11, atol=1e-12)


def test_mother_wavelet_values_against_their_definitions() -> None:
    u = np.linspace(-8.0, 8.0, 16001)
    gauss = np.exp(-(u**2) / 2)
    t = torch.as_tensor(u, dtype=DTYPE)
    mexican = MOTHER_WAVELETS["mexican_hat"](t)[0].numpy()
    assert abs(np.trapezoid(mexican**2, u) - 1.0) < 1e-9  # unit L² norm
    np.testing.assert_allclose(mexican / mexican[8000], (1 - u**2) * gauss, atol=1e-14)
    np.testing.assert_allclose(
        MOTHER_WAVELETS["morlet"](t)[0].numpy(), np.cos(5 * u) * gauss, atol=1e-14
    )
    np.testing.assert_allclose(MOTHER_WAVELETS["dog"](t)[0].numpy(), -u * gauss, atol=1e-14)


@pytest.mark.parametrize("name", sorted(MOTHER_WAVELETS))
def test_wavelet_edge_derivatives_match_autograd(name: str) -> None:
    """φ_ji(t) = a ψ((t − μ)/softplus(s)): φ' and φ'' per edge against autograd in t."""
    family = WaveletFamily(name)
    generator = torch.Generator().manual_seed(3)
    coefficients = torch.randn((4, 3, 3), generator=generator, dtype=DTYPE)
    x = uniform_points((25, 3), -2.0, 2.0)
    computed = family.edge_values(x, coefficients, order=2)
    assert len(computed) == 3 and computed[0].shape == (25, 3, 4)
    for j in range(4):  # φ_ji(x_i) depends on x_i only, so autograd of column j is per edge
        reference = autograd_derivatives(
            lambda t, j=j: family.edge_values(t, coefficients)[0][..., j], x
        )
        for c, e in zip(computed, reference):
            torch.testing.assert_close(c[..., j], e, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("name", sorted(MOTHER_WAVELETS))
def test_wavelet_edge_is_amplitude_times_shifted_scaled_mother(name: str) -> None:
    """φ_ji(t) = a ψ((t − μ)/σ), σ = log(1 + e^s), written out in NumPy for coefficients whose
    softplus is far from e^s and from 1 (the derivative tests compare the code with itself)."""
    coefficients = torch.tensor(
        [[[0.7, 0.2, 0.3], [-1.3, -0.5, -1.0]], [[2.0, 0.9, 1.5], [0.4, 0.0, -0.2]]], dtype=DTYPE
    )  # (out 2, in 2, [a, μ, s])
    x = uniform_points((30, 2), -2.0, 2.0)
    computed = WaveletFamily(name).edge_values(x, coefficients)[0].numpy()  # (30, in, out)
    mother = {
        "mexican_hat": lambda u: 2 / (np.sqrt(3) * np.pi**0.25) * (1 - u**2),
        "morlet": lambda u: np.cos(5 * u),
        "dog": lambda u: -u,
    }[name]
    for j in range(2):
        for i in range(2):
            a, mu, s = coefficients[j, i].tolist()
            u = (x[:, i].numpy() - mu) / np.log1p(np.exp(s))
            expected = a * mother(u) * np.exp(-(u**2) / 2)
            np.testing.assert_allclose(computed[:, i, j], expected, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", sorted(MOTHER_WAVELETS))
def test_wavelets_of_a_tiny_scale_are_zero_not_nan(name: str, dtype: torch.dtype) -> None:
    """σ = softplus(−23) ≈ 1e-10 puts |u| near 1e10: e^{−u²/2} is 0 but u⁴ overflowed float32,
    and ∞·0 made φ'' NaN (the forward engine's Laplacian, a diverged run). The values there are
    0, with finite gradients; near the centre the edge is unchanged, and NaN still propagates."""
    family = WaveletFamily(name)
    coefficients = torch.tensor([[[0.7, 0.1, -23.0]]], dtype=dtype, requires_grad=True)
    x = torch.tensor([[-0.9], [0.35], [0.1], [float("nan")]], dtype=dtype)
    values = family.edge_values(x, coefficients, order=2)
    for value in values:
        assert torch.all(value[:2] == 0) and torch.isnan(value[3]).all()
    centre = 0.7 * float(MOTHER_WAVELETS[name](torch.zeros(1, dtype=dtype))[0][0])
    assert float(values[0][2, 0, 0].detach()) == pytest.approx(centre, rel=1e-6)
    finite = family.edge_values(x[:3], coefficients, order=2)  # (a NaN point's gradient is NaN)
    (gradient,) = torch.autograd.grad(sum(v[:2].sum() for v in finite), coefficients)
    assert torch.isfinite(gradient).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rbf_far_outside_its_grid_is_zero_not_nan(dtype: torch.dtype) -> None:
    """u² overflowed at |u| ≈ 2e19 in float32 (1e154 in float64), and (4u² − 2)·e^{−u²} was
    ∞·0 = NaN; there B, B', B'' are 0 (gradient 0). Inside the grid nothing changes."""
    basis = GaussianRBFBasis(centers=5)
    huge = torch.finfo(dtype).max / 10
    far = torch.tensor([[-1e30], [1e30], [huge]], dtype=dtype, requires_grad=True)
    values = basis.basis_derivatives(far)
    for value in values:
        assert torch.all(value == 0)
    (gradient,) = torch.autograd.grad(sum(v.sum() for v in values), far)
    assert torch.all(gradient == 0)
    x = torch.tensor([[-0.3], [0.8]], dtype=dtype)
    u = (x.unsqueeze(-1) - basis.centers.to(dtype)) / basis.width
    torch.testing.assert_close(
        basis.basis_derivatives(x)[2], (4 * u**2 - 2) * torch.exp(-(u**2)) / basis.width**2
    )


def test_wavelet_rejects_unknown_name() -> None:
    with pytest.raises(ValueError, match="haar"):
        WaveletFamily("haar")


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_derivatives_match_autograd(name: str) -> None:
    activation = ACTIVATIONS[name]
    z = uniform_points((300,), -6.0, 6.0)
    reference = autograd_derivatives(activation.function, z)
    for computed, expected in zip(activation.derivatives(z), reference):
        torch.testing.assert_close(computed, expected, rtol=1e-12, atol=1e-13)


def test_silu_value_is_t_times_sigmoid() -> None:
    t = torch.tensor([-1.0, 0.0, 2.0], dtype=DTYPE)
    expected = [-1 / (1 + math.e), 0.0, 2 / (1 + math.exp(-2))]
    torch.testing.assert_close(silu_derivatives(t)[0], torch.tensor(expected, dtype=DTYPE))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: BSplineBasis(2, 0, 3), "grid=0 is not allowed"),  # was ZeroDivisionError
        (lambda: BSplineBasis(2, -1, 3), "grid=-1 is not allowed"),  # built 3 columns
        (lambda: BSplineBasis(2, 5, 0), "order=0 is not allowed"),
        (lambda: BSplineBasis(0, 5, 3), "in_features=0 is not allowed"),
        (lambda: BSplineBasis(2, 5, 3, (1.0, -1.0)), "grid_range=(1.0, -1.0) is not allowed"),
        (lambda: GaussianRBFBasis(1), "centers=1 is not allowed"),  # was ZeroDivisionError
        (lambda: GaussianRBFBasis(0), "centers=0 is not allowed"),  # gave width −2
        (lambda: GaussianRBFBasis(4, (0.0, 0.0)), "grid_range=(0.0, 0.0) is not allowed"),
    ],
)
def test_basis_constructors_name_the_bad_argument(make, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        make()
