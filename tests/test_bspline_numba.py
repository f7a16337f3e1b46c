"""The compiled B-spline kernels against the torch recursion: values, derivatives, gradients in x
(first order by the kernels, higher orders and batched gradients by the reference), and where
the kernels must not run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pinnkan.basis import bspline
from pinnkan.basis.bspline import spline_derivatives, spline_derivatives_reference, uniform_knots
from pinnkan.kernels import torch_reference

pytest.importorskip("numba")
from pinnkan.basis.bspline_numba import BSplineDerivatives  # noqa: E402


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def knot_rows(grid: int, order: int, uniform: bool, seed: int = 0) -> torch.Tensor:
    """Two inputs' knot rows ``(2, G + 2k + 1)``: uniform on two ranges, or random sorted."""
    if uniform:
        return torch.stack(
            [uniform_knots(grid, order, (-1.0, 1.0)), uniform_knots(grid, order, (-0.3, 2.0))]
        )
    gaps = torch.rand(2, grid + 2 * order, generator=generator(seed), dtype=torch.float64) + 0.1
    return torch.cat([torch.full((2, 1), -1.5, dtype=torch.float64), gaps.cumsum(1) - 1.5], 1)


def points(knots: torch.Tensor, count: int = 300, seed: int = 1) -> torch.Tensor:
    """``(count, 2)`` points over and beyond each row's knots, some exactly on knots."""
    lo, hi = knots[:, 0], knots[:, -1]
    span = hi - lo
    x = (
        lo
        - 0.2 * span
        + torch.rand(count, 2, generator=generator(seed), dtype=knots.dtype) * (1.4 * span)
    )
    x[: knots.shape[1], 0] = knots[0]  # every knot of row 0, the last one included
    x[: knots.shape[1], 1] = knots[1]
    return x


CASES = [(k, grid, uniform) for k in (1, 2, 3, 4) for grid in (1, 5) for uniform in (True, False)]


@pytest.mark.parametrize("order, grid, uniform", CASES)
def test_kernels_equal_the_recursion_in_float64(order: int, grid: int, uniform: bool) -> None:
    knots = knot_rows(grid, order, uniform)
    x = points(knots)
    expected = spline_derivatives_reference(x, knots, order)
    computed = BSplineDerivatives.apply(x, knots, order)
    for value, reference in zip(computed, expected, strict=True):
        torch.testing.assert_close(value, reference, rtol=1e-12, atol=1e-12)
    inside = (x >= knots[:, order]) & (x < knots[:, -1 - order])  # where they sum to one
    assert inside.any() and (computed[0].sum(-1)[inside] - 1).abs().max() < 1e-12


@pytest.mark.parametrize("order", [1, 3])
def test_kernels_equal_the_recursion_in_float32(order: int) -> None:
    knots = knot_rows(5, order, uniform=True).float()
    x = points(knots.double()).float()
    expected = spline_derivatives_reference(x, knots, order)
    for value, reference in zip(BSplineDerivatives.apply(x, knots, order), expected, strict=True):
        assert value.dtype == torch.float32
        torch.testing.assert_close(value, reference, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("order, grid, uniform", CASES)
def test_gradient_in_x_equals_the_recursions(order: int, grid: int, uniform: bool) -> None:
    """∂/∂x of Σ (w₀ B + w₁ B' + w₂ B'') by the backward kernel and through the recursion."""
    knots = knot_rows(grid, order, uniform)
    x = points(knots, seed=2)[knots.shape[1] :]  # off the knots, where B''' is defined
    weights = [torch.rand(*x.shape, knots.shape[1] - 1 - order, dtype=x.dtype) for _ in range(3)]

    def gradient(function) -> torch.Tensor:
        leaf = x.clone().requires_grad_(True)
        outputs = function(leaf, knots, order)
        total = sum((out * w).sum() for out, w in zip(outputs, weights, strict=True))
        (grad,) = torch.autograd.grad(total, leaf)
        return grad

    torch.testing.assert_close(
        gradient(BSplineDerivatives.apply), gradient(spline_derivatives_reference)
    )


def test_gradcheck_and_gradgradcheck() -> None:
    knots = knot_rows(3, 3, uniform=False, seed=4)
    x = (points(knots, count=12, seed=5)[knots.shape[1] :]).requires_grad_(True)
    function = lambda t: BSplineDerivatives.apply(t, knots, 3)  # noqa: E731
    assert torch.autograd.gradcheck(function, (x,), check_batched_grad=True)
    assert torch.autograd.gradgradcheck(function, (x,))


def test_batched_jacobian_equals_the_loop() -> None:
    knots = knot_rows(5, 3, uniform=True)
    x = points(knots, count=20, seed=6)[knots.shape[1] - 2 : knots.shape[1] + 4]

    def first(t: torch.Tensor) -> torch.Tensor:
        return BSplineDerivatives.apply(t, knots, 3)[1].sum(-1)

    looped = torch.autograd.functional.jacobian(first, x)
    vectorized = torch.autograd.functional.jacobian(first, x, vectorize=True)
    torch.testing.assert_close(vectorized, looped)


def test_strided_points_and_the_basis_family() -> None:
    """A transposed (non-contiguous) x, and ``BSplineBasis`` with kernels against without."""
    family = bspline.BSplineBasis(3, grid=4, order=3).double()
    x = torch.rand(3, 7, generator=generator(7), dtype=torch.float64).t() * 2.4 - 1.2
    assert not x.is_contiguous()
    computed = family.basis_derivatives(x)
    with torch_reference():
        expected = family.basis_derivatives(x)
        torch.testing.assert_close(family.basis(x), computed[0])
    for value, reference in zip(computed, expected, strict=True):
        torch.testing.assert_close(value, reference, rtol=1e-12, atol=1e-12)


def test_where_the_kernels_do_not_run(monkeypatch) -> None:
    knots = knot_rows(5, 3, uniform=True)
    x = points(knots)
    assert bspline.use_kernels(x, knots)
    with torch_reference():
        assert not bspline.use_kernels(x, knots)
    assert not bspline.use_kernels(x.half(), knots)
    assert not bspline.use_kernels(x.to("meta"), knots.to("meta"))
    seen = []
    torch.func.vmap(lambda row: seen.append(bspline.use_kernels(row, knots)) or row)(x)
    assert seen == [False]
    monkeypatch.setattr(bspline, "has_numba", lambda: False)
    assert not bspline.use_kernels(x, knots)
    values = spline_derivatives(x, knots, 3)  # the reference, without numba
    torch.testing.assert_close(values[0], spline_derivatives_reference(x, knots, 3)[0])


@pytest.mark.parametrize("base", [False, True])
@pytest.mark.parametrize("order, grid, uniform", CASES)
def test_values_only_equal_the_recursion_in_float64(
    order: int, grid: int, uniform: bool, base: bool
) -> None:
    """``derivatives=False`` evaluates the splines' values (and, backward, their slopes) alone,
    by its own Horner's rule: values and ∂/∂x of Σ w B within 1e-12 of the recursion, for every
    order, uniform (Taylor) and random (graded: recursion) knot rows, with and without SiLU."""
    knots = knot_rows(grid, order, uniform)
    x = points(knots)
    weights = torch.rand(x.shape[0], 2, int(base) + grid + order, dtype=x.dtype)
    leaf, reference_leaf = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    computed = BSplineDerivatives.apply(leaf, knots, order, False, base)
    (expected,) = bspline.basis_reference(reference_leaf, knots, order, False, base)
    torch.testing.assert_close(computed, expected, rtol=1e-12, atol=1e-12)
    (slope,) = torch.autograd.grad((computed * weights).sum(), leaf)
    (reference,) = torch.autograd.grad((expected * weights).sum(), reference_leaf)
    assert reference.abs().max() > 0
    torch.testing.assert_close(slope, reference, rtol=1e-11, atol=1e-11)


def test_values_only_gradients_equal_the_recursions() -> None:
    """``derivatives=False`` (the layers' plain forward): ∂/∂x and ∂²/∂x² of Σ w B, the second
    through the torch recursion of the values alone."""
    knots = knot_rows(5, 3, uniform=False, seed=8)
    x = points(knots, seed=9)[knots.shape[1] :]
    weights = torch.rand(*x.shape, knots.shape[1] - 4, dtype=x.dtype)

    def gradients(values) -> tuple[torch.Tensor, torch.Tensor]:
        leaf = x.clone().requires_grad_(True)
        (first,) = torch.autograd.grad((values(leaf) * weights).sum(), leaf, create_graph=True)
        (second,) = torch.autograd.grad(first.sum(), leaf)
        return first.detach(), second

    computed = gradients(lambda t: BSplineDerivatives.apply(t, knots, 3, False))
    expected = gradients(lambda t: bspline.bspline_bases(t, knots, 3)[3])
    for value, reference in zip(computed, expected, strict=True):
        torch.testing.assert_close(value, reference)


def test_autograd_engine_builds_the_recursion_and_forward_engine_uses_the_kernels(monkeypatch):
    """The ``autograd`` Laplacian takes d second-derivative passes through the basis: it runs
    the torch recursion (its graph built once), the forward engine the kernels; same Δu."""
    from pinnkan.basis import bspline_numba
    from pinnkan.derivatives import laplacian
    from pinnkan.nn.build import build_model

    calls = []
    apply = bspline_numba.BSplineDerivatives.apply
    monkeypatch.setattr(
        bspline_numba.BSplineDerivatives, "apply", lambda *a: calls.append(1) or apply(*a)
    )
    model = build_model("kan", [3, 4, 1], generator=generator(10)).double()
    x = torch.rand(5, 3, generator=generator(11), dtype=torch.float64) - 0.5
    _, reference = laplacian(model, x, "autograd")
    assert calls == []
    _, fast = laplacian(model, x, "forward")
    assert len(calls) == 2  # one per layer
    torch.testing.assert_close(fast, reference, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("derivatives", [True, False])
def test_non_finite_points_give_nan_rows_as_the_recursion(derivatives: bool) -> None:
    knots = knot_rows(5, 3, uniform=True)
    x = torch.tensor([[0.1, float("nan")], [float("inf"), -float("inf")]], dtype=torch.float64)
    x.requires_grad_(True)
    computed = BSplineDerivatives.apply(x, knots, 3, derivatives)
    computed = computed if derivatives else (computed,)
    expected = spline_derivatives_reference(x.detach(), knots, 3)
    for value, reference in zip(computed, expected, strict=False):
        torch.testing.assert_close(value, reference, equal_nan=True)
        assert value[0, 1].isnan().all() and value[1].isnan().all() and value[0, 0].isfinite().all()
    (dx,) = torch.autograd.grad(computed[0].sum(), x)
    assert dx[0, 0].isfinite() and dx[0, 1].isnan() and dx[1].isnan().all()


def test_points_of_other_ranks_and_repeated_knots_follow_the_recursion() -> None:
    knots = knot_rows(5, 3, uniform=True)
    x = points(knots)
    batched_points = x.reshape(3, -1, 2)  # (…, in): the torch recursion broadcasts, kernels not
    assert not bspline.use_kernels(batched_points, knots)
    value = spline_derivatives(batched_points, knots, 3)[0]
    torch.testing.assert_close(
        value.reshape(-1, 2, value.shape[-1]), spline_derivatives(x, knots, 3)[0]
    )
    repeated = knots.clone()
    repeated[:, 4] = repeated[:, 5]  # a zero span: 0/0 in the formulas, not an exception
    computed = BSplineDerivatives.apply(x, repeated, 3)[0]
    expected = spline_derivatives_reference(x, repeated, 3)[0]
    # the recursion spreads NaN over every point's row (it computes every function everywhere);
    # the kernels put it where the zero span is used: equal wherever the recursion is finite
    finite = expected.isfinite()
    assert finite.any()
    torch.testing.assert_close(computed[finite], expected[finite])


@pytest.mark.parametrize("derivatives", [True, False])
@pytest.mark.parametrize("uniform", [True, False])
def test_silu_column_equals_the_torch_basis(derivatives: bool, uniform: bool) -> None:
    """``base=True``: SiLU, SiLU′, SiLU″ in column 0 and the splines after it, values and ∂/∂x
    (through SiLU‴ in the backward kernel) as the torch reference, in float64."""
    knots = knot_rows(5, 3, uniform, seed=12)
    x = points(knots, seed=13)[knots.shape[1] :] * 3  # off the knots; SiLU far out on both sides
    expected_values = bspline.basis_reference(x, knots, 3, derivatives, base=True)
    computed = BSplineDerivatives.apply(x, knots, 3, derivatives, True)
    computed = computed if derivatives else (computed,)
    for value, reference in zip(computed, expected_values, strict=True):
        assert value.shape == (*x.shape, 1 + knots.shape[1] - 4)
        torch.testing.assert_close(value, reference, rtol=1e-12, atol=1e-12)
    weights = [torch.rand(*computed[0].shape, dtype=x.dtype) for _ in computed]

    def gradient(function) -> torch.Tensor:
        leaf = x.clone().requires_grad_(True)
        outputs = function(leaf)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        total = sum((out * w).sum() for out, w in zip(outputs, weights, strict=True))
        return torch.autograd.grad(total, leaf)[0]

    kernel_gradient = gradient(lambda t: BSplineDerivatives.apply(t, knots, 3, derivatives, True))
    reference_gradient = gradient(lambda t: bspline.basis_reference(t, knots, 3, derivatives, True))
    torch.testing.assert_close(kernel_gradient, reference_gradient, rtol=1e-10, atol=1e-12)


def test_silu_column_gradcheck_and_gradgradcheck() -> None:
    knots = knot_rows(3, 3, uniform=False, seed=14)
    x = (points(knots, count=12, seed=15)[knots.shape[1] :]).requires_grad_(True)
    function = lambda t: BSplineDerivatives.apply(t, knots, 3, True, True)  # noqa: E731
    assert torch.autograd.gradcheck(function, (x,))
    assert torch.autograd.gradgradcheck(function, (x,))


def test_silu_column_of_non_finite_points_follows_the_torch_formulas() -> None:
    knots = knot_rows(5, 3, uniform=True)
    x = torch.tensor([[0.1, float("nan")], [float("inf"), -float("inf")]], dtype=torch.float64)
    computed = BSplineDerivatives.apply(x, knots, 3, True, True)
    expected = bspline.basis_reference(x, knots, 3, True, base=True)
    for value, reference in zip(computed, expected, strict=True):
        torch.testing.assert_close(value[..., 0], reference[..., 0], equal_nan=True)
        assert value[0, 0].isfinite().all() and value[0, 1, 1:].isnan().all()


def test_silu_column_in_float32_is_the_float64_column_rounded() -> None:
    """The jet's SiLU, SiLU′, SiLU″ (and SiLU‴ through the backward) in float32 equal the
    float64 column to a few float32 roundings over t ∈ [−120, 120], where σ or 1 − σ is tiny
    on either side and e^x leaves float32's range (x > 88.7), and stay finite at huge |x|."""
    knots = knot_rows(3, 3, uniform=True)
    grid = torch.linspace(-120, 120, 2401, dtype=torch.float64)
    special = torch.tensor([0.0, 1e-30, -1e-30, 88.7, 88.8, 89.0, -103.0, -104.0, 1e30, -1e30])
    x64 = torch.cat([grid, special.double()]).reshape(-1, 1).expand(-1, 2).contiguous()
    x32 = x64.float()
    x64 = x32.double()  # the same points in both dtypes
    exact = [out[..., 0] for out in BSplineDerivatives.apply(x64, knots, 3, True, True)]
    rounded = [out[..., 0] for out in BSplineDerivatives.apply(x32, knots.float(), 3, True, True)]
    for value, reference in zip(rounded, exact, strict=True):
        assert value.isfinite().all()
        torch.testing.assert_close(value.double(), reference, rtol=5e-7, atol=1e-7)
    weights = torch.rand(3, *x64.shape, 1 + knots.shape[1] - 4, generator=generator(31))

    def gradient(x: torch.Tensor) -> torch.Tensor:
        leaf = x.clone().requires_grad_(True)
        outputs = BSplineDerivatives.apply(leaf, knots.to(x.dtype), 3, True, True)
        total = sum((out[..., 0] * w[..., 0].to(x.dtype)).sum() for out, w in zip(outputs, weights))
        return torch.autograd.grad(total, leaf)[0]

    torch.testing.assert_close(gradient(x32).double(), gradient(x64), rtol=5e-7, atol=1e-7)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_logistic_pair_keeps_both_tails_to_the_last_digits(dtype: torch.dtype) -> None:
    """σ and 1 − σ from e^t each to a few roundings of relative error, also where the other is
    ≈ 1 (scipy's ``expit`` as the reference): neither is formed as 1 minus the other there."""
    from scipy.special import expit

    from pinnkan.basis.bspline_numba import logistic_pair

    t = torch.linspace(-80, 80, 1601, dtype=dtype)
    growth = torch.exp(t).numpy()
    pairs = [logistic_pair(g) for g in growth]
    sigma, rest = (torch.tensor([p[i] for p in pairs], dtype=torch.float64) for i in (0, 1))
    tolerance = 8 * torch.finfo(dtype).eps
    t64 = t.double().numpy()
    torch.testing.assert_close(sigma, torch.from_numpy(expit(t64)), rtol=tolerance, atol=0)
    torch.testing.assert_close(rest, torch.from_numpy(expit(-t64)), rtol=tolerance, atol=0)
    assert logistic_pair(float("inf")) == (1.0, 0.0) and logistic_pair(0.0) == (0.0, 1.0)


def test_the_family_uses_one_kernel_call_with_the_silu_column(monkeypatch) -> None:
    """``BSplineBasis`` with its SiLU branch: one kernel call, no torch SiLU or concatenation."""
    family = bspline.BSplineBasis(4, grid=5, order=3).double()
    x = torch.rand(6, 4, generator=generator(16), dtype=torch.float64) * 2 - 1
    with torch_reference():
        expected = family.basis_derivatives(x)
        expected_values = family.basis(x)
    monkeypatch.setattr(bspline, "silu_derivatives", None)  # would fail if called
    monkeypatch.setattr(torch, "cat", None)
    computed = family.basis_derivatives(x)
    for value, reference in zip(computed, expected, strict=True):
        torch.testing.assert_close(value, reference, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(family.basis(x), expected_values, rtol=1e-12, atol=1e-12)


def graded_knots(decades: float, count: int = 166, seed: int = 17) -> torch.Tensor:
    """Two rows of ``count`` knots whose spans range over ``decades`` orders of magnitude."""
    gaps = 10 ** (
        -decades * torch.rand(2, count - 1, generator=generator(seed), dtype=torch.float64)
    )
    return torch.cat([torch.zeros(2, 1, dtype=torch.float64), gaps.cumsum(1)], 1)


def crowded_points(knots: torch.Tensor, count: int = 4000, seed: int = 18) -> torch.Tensor:
    """Points in random knot intervals, crowded towards the intervals' ends."""
    order, n = 3, knots.shape[1]
    index = torch.randint(order, n - 1 - order, (count, 2), generator=generator(seed))
    fraction = torch.rand(count, 2, generator=generator(seed + 1), dtype=knots.dtype) ** 8
    fraction = torch.where(
        torch.rand(count, 2, generator=generator(seed + 2)) < 0.5, fraction, 1 - fraction
    )
    left, right = knots.gather(1, index.t()).t(), knots.gather(1, (index + 1).t()).t()
    return left + fraction * (right - left)


@pytest.mark.parametrize("decades", [0.5, 3, 6])
def test_graded_knots_keep_float64_accuracy(decades: float) -> None:
    """Adapted grids (spans over 10^decades, 165 intervals): every derivative within 1e-13 of the
    recursion relative to its row's largest entry, values and ∂/∂x alike (a polynomial form of
    the splines loses up to 1e-7 here; graded rows take the recursion at each point)."""
    knots = graded_knots(decades)
    x = crowded_points(knots)
    expected = spline_derivatives_reference(x, knots, 3)
    computed = BSplineDerivatives.apply(x, knots, 3)
    for value, reference in zip(computed, expected, strict=True):
        error = (value - reference).abs().amax(-1) / reference.abs().amax(-1)
        assert error.max() < 1e-13
    shape = (*x.shape, knots.shape[1] - 4)
    weights = [torch.rand(shape, generator=generator(20 + i), dtype=x.dtype) for i in range(3)]

    def gradient(function) -> torch.Tensor:  # sums of terms up to ~1/h³ that cancel: rtol 1e-9
        leaf = x.clone().requires_grad_(True)
        total = sum(
            (out * w).sum() for out, w in zip(function(leaf, knots, 3), weights, strict=True)
        )
        return torch.autograd.grad(total, leaf)[0]

    torch.testing.assert_close(
        gradient(BSplineDerivatives.apply),
        gradient(spline_derivatives_reference),
        rtol=1e-11,
        atol=0,
    )


@pytest.mark.parametrize("row", [[-np.inf, -1.0, 0.0, 1.0, 2.0], [-1.0, 0.0, 1.0, np.inf]])
def test_knot_interval_of_an_infinitely_wide_row_stays_inside_it(row: list[float]) -> None:
    """A row with an infinite end has no uniform guess (its scale is 0; (v − t_0)·0 is NaN, whose
    int() would be an index far outside the row): the search starts inside the row, and the
    kernels give NaN splines for such a row, as the recursion does."""
    from pinnkan.basis.bspline_numba import guess_scales, knot_interval

    knots = np.array([row])
    for v in (-0.5, 0.3, 1.5):
        j = knot_interval(v, knots, 0, guess_scales(knots)[0])
        assert j == -1 or 0 <= j <= knots.shape[1] - 2
        assert j == -1 or knots[0, j] <= v < knots[0, j + 1]
    x = torch.tensor([[0.3]], dtype=torch.float64, requires_grad=True)
    knot_row = torch.tensor([row])
    for derivatives in (True, False):
        outputs = BSplineDerivatives.apply(x, knot_row, 1, derivatives, False)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        assert all(out.isnan().all() for out in outputs)
        (dx,) = torch.autograd.grad(outputs[0].sum(), x)
        assert dx.isnan().all()


def test_knot_rows_that_do_not_match_the_inputs_take_the_recursion() -> None:
    """One knot row shared by three inputs (the recursion broadcasts it) and knots of another
    dtype (the recursion promotes): the kernels, which index one row per input in x's dtype,
    must not run."""
    shared = uniform_knots(5, 3, (-1.0, 1.0))[None]
    x = torch.linspace(-0.9, 0.9, 12, dtype=torch.float64).reshape(4, 3)
    assert not bspline.use_kernels(x, shared)
    assert not bspline.use_kernels(x.float(), shared.expand(3, -1))
    torch.testing.assert_close(
        spline_derivatives(x, shared, 3)[0], spline_derivatives_reference(x, shared, 3)[0]
    )


def test_non_finite_knots_give_nan_rows_as_the_recursion() -> None:
    knots = knot_rows(5, 3, uniform=True)
    knots[1, 4] = float("nan")
    x = points(knots.nan_to_num(), seed=19).requires_grad_(True)
    computed = BSplineDerivatives.apply(x, knots, 3)
    for value in computed:
        assert value[:, 1].isnan().all() and value[:, 0].isfinite().all()
    (dx,) = torch.autograd.grad(computed[0].sum(), x)
    assert dx[:, 1].isnan().all() and dx[:, 0].isfinite().all()


@pytest.mark.parametrize("base", [False, True])
@pytest.mark.parametrize("derivatives", [True, False])
@pytest.mark.parametrize("uniform", [True, False])
def test_the_kernel_writes_every_entry(base: bool, derivatives: bool, uniform: bool) -> None:
    """The forward takes uninitialised outputs: outputs filled with NaN beforehand (points inside,
    outside and on the knots) come back equal to the recursion's, zeros included."""
    from pinnkan.basis.bspline_numba import kernels_of_order, silu_column

    knots = knot_rows(5, 3, uniform, seed=21)
    x = points(knots, seed=22)
    expected = bspline.basis_reference(x, knots, 3, derivatives, base)
    expected = expected if isinstance(expected, tuple) else (expected,)
    outputs = [torch.full_like(expected[0], float("nan")) for _ in range(len(expected))]
    arrays = [out.numpy() for out in outputs]
    jet, values = kernels_of_order(3)[:2]
    if derivatives:
        jet(x.numpy(), knots.numpy(), base, *arrays)
    else:
        values(x.numpy(), knots.numpy(), base, silu_column(x, base), arrays[0])
    for value, reference in zip(outputs, expected, strict=True):
        torch.testing.assert_close(value, reference, rtol=1e-12, atol=1e-12)
    assert (expected[0] == 0).any()  # the zeros outside each point's k + 1 splines are checked
