"""The compiled (numba) scalar ReLU meta-learner equals its torch reference and the dense MLP."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

from pinnkan.derivatives import laplacian
from pinnkan.nn import build_model, scalar_relu
from pinnkan.nn.constraint import BallHardConstraint
from pinnkan.nn.meta import MetaLearner

kernels = pytest.importorskip("pinnkan.nn.scalar_relu_numba")


def learner(
    hidden: int, out: int, bias: bool, seed: int, dtype: torch.dtype, special: bool = True
) -> MetaLearner:
    meta = MetaLearner(1, hidden, out, bias, "relu", torch.Generator().manual_seed(seed))
    meta = meta.to(dtype)
    if not special:
        return meta
    with torch.no_grad():  # flat units (always on, never on, b = 0) and a breakpoint at z = 0.5
        meta.hidden.weight[:3] = 0.0
        meta.hidden.weight[3] = 1.0
        if meta.hidden.bias is not None:
            meta.hidden.bias[:4] = torch.tensor([0.7, -0.4, 0.0, -0.5])
    return meta


def blocks_of_prompts(dtype: torch.dtype, seed: int) -> list[torch.Tensor]:
    """Three layers' prompts ``(out, in, 1)``, some exactly on breakpoints, one repeated."""
    generator = torch.Generator().manual_seed(seed)
    shapes = [(4, 6), (3, 4), (1, 3)]
    prompts = [2 * torch.randn(*shape, 1, generator=generator, dtype=dtype) for shape in shapes]
    prompts[0][0, :3, 0] = torch.tensor([0.5, 0.0, -0.0])
    prompts[1][0, 0, 0] = prompts[1][0, 1, 0]
    return [prompt.requires_grad_(True) for prompt in prompts]


def node_means(prompts, m: int, dtype: torch.dtype, seed: int) -> list[torch.Tensor]:
    """One trainable ``(out, m)`` mean per block of prompts ``(out, in, 1)``."""
    generator = torch.Generator().manual_seed(seed)
    return [
        torch.randn(z.shape[0], m, generator=generator, dtype=dtype).requires_grad_(True)
        for z in prompts
    ]


def value_and_gradients(
    meta, prompts, scales, evaluate, upstream_layout: str, seed: int, means=None
):
    values = evaluate(prompts, scales, meta.hidden, meta.output, means)
    generator = torch.Generator().manual_seed(seed)
    upstream = [upstream_gradient(v, generator, upstream_layout) for v in values]
    inputs = [*prompts, *(means or []), *meta.parameters()]
    grads = torch.autograd.grad(values, inputs, upstream)
    return [v.detach() for v in values] + list(grads)


def upstream_gradient(value: torch.Tensor, generator, layout: str) -> torch.Tensor:
    """An upstream gradient with ``value``'s shape in a given memory layout."""
    out, inp, m = value.shape
    if layout == "contiguous":
        return torch.randn(out, inp, m, generator=generator, dtype=value.dtype)
    if layout == "out-fastest":  # as the engine's einsum backward leaves it
        return torch.randn(inp, m, out, generator=generator, dtype=value.dtype).permute(2, 0, 1)
    if layout == "expanded":  # as the backward of a sum leaves it (stride 0)
        return torch.randn(1, 1, m, generator=generator, dtype=value.dtype).expand(out, inp, m)
    raise AssertionError(layout)


def reference(prompts, scales, hidden, output, means=None):
    W1, W2 = hidden.weight, output.weight
    b = hidden.bias if hidden.bias is not None else W1.new_zeros(W1.shape[0])
    c = output.bias if output.bias is not None else W2.new_zeros(W2.shape[0])
    return scalar_relu.scalar_relu_blocks_reference(prompts, scales, W1, b, W2, c, means or ())


def dense(meta):
    """The definition: the dense MLP, then each node's edge mean replaced by its own mean."""

    def evaluate(prompts, scales, hidden, output, means=None):
        blocks = [meta.dense(z) * scale for z, scale in zip(prompts, scales, strict=True)]
        if means is None:
            return blocks
        return [
            w - w.sum(dim=1, keepdim=True) / w.shape[1] + a[:, None, :]
            for w, a in zip(blocks, means, strict=True)
        ]

    return evaluate


@pytest.mark.parametrize("centred", [False, True], ids=["plain", "node-means"])
@pytest.mark.parametrize("layout", ["contiguous", "out-fastest", "expanded"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(
    ("dtype", "tolerance"), [(torch.float64, 1e-12), (torch.float32, 2e-5)], ids=["f64", "f32"]
)
def test_kernels_equal_reference_and_dense_mlp(layout, bias, dtype, tolerance, centred) -> None:
    meta = learner(32, 5, bias, seed=1, dtype=dtype)
    prompts, scales = blocks_of_prompts(dtype, seed=2), [0.5, 1.0, 0.25]
    means = node_means(prompts, 5, dtype, seed=4) if centred else None
    calls = []
    forward = kernels.ScalarReluBlocks.forward

    def counted(ctx, *args):
        calls.append(1)
        return forward(ctx, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kernels.ScalarReluBlocks, "forward", staticmethod(counted))
        compiled = value_and_gradients(
            meta, prompts, scales, scalar_relu.scalar_relu_blocks, layout, seed=3, means=means
        )
    assert calls, "the kernels did not run"
    expected = value_and_gradients(meta, prompts, scales, reference, layout, 3, means)
    definition = value_and_gradients(meta, prompts, scales, dense(meta), layout, 3, means)
    assert compiled[0].abs().max() > 0.1
    if centred and bias:  # c shifts every edge of a node alike: the node mean takes it all
        assert compiled[-1].abs().max() < 1e3 * tolerance
        compiled, expected, definition = compiled[:-1], expected[:-1], definition[:-1]
    if not (centred and layout == "expanded"):  # else centring cancels a uniform gradient
        assert all(g.abs().max() > 0 for g in compiled[3:])
    for computed, wanted, exact in zip(compiled, expected, definition, strict=True):
        assert computed.dtype == wanted.dtype and computed.shape == wanted.shape
        torch.testing.assert_close(computed, wanted, rtol=tolerance, atol=tolerance)
        torch.testing.assert_close(computed, exact, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("centred", [False, True], ids=["plain", "node-means"])
def test_kernels_pass_gradcheck_and_gradgradcheck(centred: bool) -> None:
    """First derivatives by the kernels; second ones through the torch reference (create_graph)."""
    meta = learner(6, 3, True, seed=5, dtype=torch.float64, special=False)  # no kinks at w = 0
    generator = torch.Generator().manual_seed(6)  # prompts away from the kinks
    prompts = [
        torch.randn(*shape, 1, generator=generator, dtype=torch.float64)
        for shape in [(3, 4), (1, 3)]
    ]
    parameters = [p.detach().clone().requires_grad_(True) for p in meta.parameters()]

    def function(W1, b, W2, c, *z):
        return kernels.ScalarReluBlocks.apply(W1, b, W2, c, (0.5, 0.25), *z)

    means = node_means(prompts, 3, torch.float64, seed=7) if centred else []
    inputs = (*parameters, *(z.detach().clone().requires_grad_(True) for z in [*prompts, *means]))
    assert gradcheck(function, inputs)
    assert gradgradcheck(function, inputs)


def test_piece_rows_equal_searchsorted() -> None:
    """The bucket search against numpy's, with ±inf keys, ties, prompts on keys, NaN, clusters."""
    rng = np.random.default_rng(0)
    for trial in range(300):
        dtype = np.float32 if trial % 2 else np.float64
        spread = rng.choice([1e-3, 1.0, 100.0])
        keys = np.concatenate(
            [
                rng.standard_normal(rng.integers(0, 140)) * spread,
                np.full(rng.integers(0, 3), np.inf),
                np.full(rng.integers(0, 3), -np.inf),
                np.full(trial % 4, 0.25),  # ties
            ]
        ).astype(dtype)
        keys.sort()
        z = (rng.standard_normal(500) * rng.choice([1e-3, 1.0, 100.0])).astype(dtype)
        count = min(keys.size, 200)
        z[:count] = keys[:count]
        z[200 : 200 + count] = np.nextafter(keys[:count], dtype(np.inf))
        if trial % 3 == 0:
            z[-2:] = [np.inf, -np.inf]
        if trial % 5 == 0:
            z[:] = z[0]
        if trial % 7 == 0:
            z[7] = np.nan
        rows = np.empty(z.shape, np.int64)
        kernels.piece_rows(keys, z, rows)
        assert ((rows >= 0) & (rows <= keys.size)).all()
        numbers = ~np.isnan(z)
        np.testing.assert_array_equal(rows[numbers], np.searchsorted(keys, z[numbers]))


def test_a_tensor_changed_in_place_before_the_backward_is_an_error() -> None:
    meta = learner(8, 3, True, seed=7, dtype=torch.float64)
    prompts = blocks_of_prompts(torch.float64, seed=8)
    values = scalar_relu.scalar_relu_blocks(prompts, [1.0] * 3, meta.hidden, meta.output)
    with torch.no_grad():
        meta.output.weight.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        torch.stack([v.sum() for v in values]).sum().backward()


@pytest.mark.parametrize(
    ("condition", "expected"),
    [("cpu-float32", True), ("bfloat16", False), ("mixed-dtypes", False), ("torch.func", False)],
)
def test_kernels_run_only_where_they_apply(condition: str, expected: bool) -> None:
    z = torch.randn(5, 1)
    weight = torch.randn(4, 1)
    if condition == "bfloat16":
        z, weight = z.bfloat16(), weight.bfloat16()
    if condition == "mixed-dtypes":
        weight = weight.double()
    if condition == "torch.func":
        found = []
        torch.func.grad(lambda t: found.append(scalar_relu.kernel_applies([t, weight])) or t.sum())(
            z
        )
        assert found == [expected]
        return
    assert scalar_relu.kernel_applies([z, weight]) is expected


def test_torch_func_and_the_switch_use_the_reference(monkeypatch) -> None:
    meta = learner(8, 3, True, seed=9, dtype=torch.float64)
    z = torch.randn(7, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(10))
    through_func = torch.func.grad(lambda t: meta(t).pow(2).sum())(z)
    expected = torch.autograd.grad(meta.dense(z.requires_grad_(True)).pow(2).sum(), z)[0]
    torch.testing.assert_close(through_func, expected, rtol=1e-12, atol=1e-13)
    monkeypatch.setenv("PINNKAN_NUMBA", "0")
    assert scalar_relu.numba_kernels() is None
    monkeypatch.setenv("PINNKAN_NUMBA", "1")
    assert scalar_relu.numba_kernels() is kernels


@pytest.mark.parametrize("node_mean", [False, True])
def test_metakan_training_step_is_the_same_with_and_without_kernels(
    monkeypatch, node_mean: bool
) -> None:
    """Forward-engine Laplacian loss gradients of a constrained MetaKAN, float64, d = 5."""
    net = build_model("metakan", [5, 6, 4, 1], grid=4, k=3, node_mean=node_mean)
    model = BallHardConstraint(net).double()
    if node_mean:
        with torch.no_grad():
            for mean in net.coefficients.node_means:
                mean.normal_(generator=torch.Generator().manual_seed(12))
    x = torch.rand(16, 5, generator=torch.Generator().manual_seed(11), dtype=torch.float64) - 0.5

    def gradients() -> list[torch.Tensor]:
        model.zero_grad(set_to_none=True)
        _, lap = laplacian(model, x, "forward")
        (lap - 1.0).pow(2).mean().backward()
        return [p.grad.clone() for p in model.parameters()]

    compiled = gradients()
    monkeypatch.setenv("PINNKAN_NUMBA", "0")
    expected = gradients()
    assert len(compiled) == len(expected)
    named = [name for name, _ in model.named_parameters()]
    scale = max(1.0, *(g.abs().max().item() for g in expected))  # for entries that cancel
    for name, computed, wanted in zip(named, compiled, expected, strict=True):
        if not (node_mean and name.endswith("output.bias")):  # node means take c's part
            assert computed.abs().max() > 0, name
        torch.testing.assert_close(computed, wanted, rtol=1e-10, atol=1e-14 * scale)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")], ids=str)
@pytest.mark.parametrize(
    "parameter", ["hidden.weight", "hidden.bias", "output.weight", "output.bias"]
)
def test_a_non_finite_meta_learner_parameter_propagates_as_in_the_torch_reference(
    parameter: str, bad: float
) -> None:
    """A NaN or ±inf weight must not vanish into a finite piece: the kernels hand over to the
    torch reference, values and gradients, and a NaN shows where the dense MLP shows it."""
    meta = learner(8, 3, True, seed=13, dtype=torch.float64)
    with torch.no_grad():
        meta.get_parameter(parameter).view(-1)[1] = bad
    z = torch.randn(5, 4, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(14))
    z.requires_grad_(True)
    inputs = [z, *meta.parameters()]
    computed = scalar_relu.scalar_relu_blocks([z], [0.5], meta.hidden, meta.output)[0]
    expected = reference([z], [0.5], meta.hidden, meta.output)[0]
    assert not computed.isfinite().all()
    torch.testing.assert_close(computed, expected, equal_nan=True)
    if bad != bad:  # NaN: the same entries as the definition
        dense_value = meta.dense(z) * 0.5
        assert torch.equal(computed.isnan(), dense_value.isnan())
    upstream = torch.ones_like(computed)
    for got, wanted in zip(
        torch.autograd.grad(computed, inputs, upstream),
        torch.autograd.grad(expected, inputs, upstream),
        strict=True,
    ):
        torch.testing.assert_close(got, wanted, equal_nan=True)


def test_batched_backward_and_vectorized_jacobian_equal_the_reference() -> None:
    """``is_grads_batched`` and ``jacobian(vectorize=True)`` run the backward on batched
    gradients, which numpy cannot view: the kernels' backward hands them to the reference."""
    meta = learner(8, 3, True, seed=15, dtype=torch.float64)
    prompts = blocks_of_prompts(torch.float64, seed=16)[1:]

    def blocks(evaluate):
        return lambda *z: tuple(evaluate(list(z), [0.5, 2.0], meta.hidden, meta.output))

    value = blocks(scalar_relu.scalar_relu_blocks)(*prompts)[0]
    basis = torch.eye(value.numel(), dtype=torch.float64).view(-1, *value.shape)
    (rows,) = torch.autograd.grad(value, prompts[0], basis, is_grads_batched=True)
    expected_value = blocks(reference)(*prompts)[0]
    (expected,) = torch.autograd.grad(expected_value, prompts[0], basis, is_grads_batched=True)
    assert rows.abs().max() > 0
    torch.testing.assert_close(rows, expected, rtol=1e-12, atol=1e-13)
    jacobian = torch.autograd.functional.jacobian(
        blocks(scalar_relu.scalar_relu_blocks), tuple(prompts), vectorize=True
    )
    wanted = torch.autograd.functional.jacobian(blocks(reference), tuple(prompts))
    for got_row, wanted_row in zip(jacobian, wanted, strict=True):
        for got, want in zip(got_row, wanted_row, strict=True):
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-13)


def test_gradcheck_with_batched_gradients_and_forward_mode() -> None:
    meta = learner(6, 3, True, seed=17, dtype=torch.float64, special=False)
    z = torch.randn(3, 4, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(18))
    parameters = [p.detach().clone().requires_grad_(True) for p in meta.parameters()]

    def function(W1, b, W2, c, prompt):
        hidden, output = SimpleNamespace(weight=W1, bias=b), SimpleNamespace(weight=W2, bias=c)
        return scalar_relu.scalar_relu_blocks([prompt], [0.5], hidden, output)[0]

    inputs = (*parameters, z.requires_grad_(True))
    assert gradcheck(function, inputs, check_batched_grad=True, check_forward_ad=True)


def test_forward_mode_dual_tensors_give_the_dense_mlp_tangent() -> None:
    import torch.autograd.forward_ad as forward_ad

    meta = learner(8, 3, True, seed=19, dtype=torch.float64)
    z = torch.randn(6, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(20))
    direction = torch.randn(6, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(21))
    with forward_ad.dual_level():
        dual = forward_ad.make_dual(z, direction)
        tangent = forward_ad.unpack_dual(meta(dual)).tangent
        expected = forward_ad.unpack_dual(meta.dense(dual)).tangent
    assert not scalar_relu.forward_ad_active()
    torch.testing.assert_close(tangent, expected, rtol=1e-12, atol=1e-13)


def test_kernels_ignore_the_default_device() -> None:
    """``torch.set_default_device`` must not move the kernels' CPU outputs."""
    meta = learner(8, 3, True, seed=22, dtype=torch.float64)
    z = torch.randn(4, 1, dtype=torch.float64)
    expected = meta.dense(z)
    torch.set_default_device("meta")
    try:
        values = scalar_relu.scalar_relu_blocks([z], [1.0], meta.hidden, meta.output)
    finally:
        torch.set_default_device(None)
    assert values[0].device.type == "cpu"
    torch.testing.assert_close(values[0], expected, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize(
    ("shape", "count", "match"),
    [((4, 5), 3, "got 2 node-mean tensors for 3 prompt blocks"), ((4, 6), 2, r"\(4, 6\)")],
)
def test_node_means_that_do_not_fit_the_prompts_are_an_error(shape, count, match) -> None:
    meta = learner(8, 5, True, seed=23, dtype=torch.float64)
    prompts = blocks_of_prompts(torch.float64, seed=24)[:count]
    means = [torch.zeros(shape, dtype=torch.float64)] * 2
    with pytest.raises(ValueError, match=match):
        scalar_relu.scalar_relu_blocks(prompts, [1.0] * count, meta.hidden, meta.output, means)


def test_blocks_are_input_major_views_and_other_prompt_shapes_are_row_major() -> None:
    """A layer's block ``(out, in, m)`` lies in ``(in, m, out)`` memory, the layout the per-edge
    kernels and the layer's matrix product read in place; prompts of any other shape ``(..., 1)``
    give a contiguous ``(..., m)``. Values and prompt gradients equal the dense MLP's."""
    meta = learner(16, 4, True, seed=23, dtype=torch.float64)
    generator = torch.Generator().manual_seed(24)
    prompts = [
        torch.randn(*shape, generator=generator, dtype=torch.float64).requires_grad_()
        for shape in [(3, 5, 1), (7, 1), (2, 3, 2, 1)]
    ]
    values = scalar_relu.scalar_relu_blocks(prompts, [0.5, 1.0, 2.0], meta.hidden, meta.output)
    assert [tuple(v.shape) for v in values] == [(3, 5, 4), (7, 4), (2, 3, 2, 4)]
    assert values[0].permute(1, 2, 0).is_contiguous() and not values[0].is_contiguous()
    assert values[1].is_contiguous() and values[2].is_contiguous()
    expected = [meta.dense(z) * s for z, s in zip(prompts, [0.5, 1.0, 2.0], strict=True)]
    upstream = [torch.randn(v.shape, generator=generator, dtype=torch.float64) for v in values]
    grads = torch.autograd.grad(values, prompts, upstream)
    wanted = torch.autograd.grad(expected, prompts, upstream)
    for got, want in zip([*values, *grads], [*expected, *wanted], strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    assert all(g.abs().max() > 0 for g in grads)
