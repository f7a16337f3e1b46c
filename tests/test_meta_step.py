"""``benchmarks/meta_step.py``: its "metakan-fixed" control is the same network and function as
the MetaKAN, with trainable coefficients instead of generated ones."""

from __future__ import annotations

import pytest
import torch

from benchmarks.meta_step import backbone
from pinnkan.bench.laplacian import ball_points, build_backbone
from pinnkan.nn.kan import DirectCoefficients


def test_fixed_generation_keeps_the_function_and_drops_the_meta_learner():
    meta = build_backbone("metakan", 6, torch.Generator().manual_seed(3))
    fixed = backbone("metakan-fixed", 6, torch.Generator().manual_seed(3))
    x = ball_points(9, 6, torch.Generator().manual_seed(4))
    assert isinstance(fixed.coefficients, DirectCoefficients)
    for frozen, generated in zip(fixed.coefficients(), meta.coefficients(), strict=True):
        assert torch.equal(frozen, generated)
    # the same function to rounding: the generated coefficients lie input-major, the frozen
    # ones output-major, and the contraction may sum in another order (it did on some CPUs)
    torch.testing.assert_close(fixed(x), meta(x), rtol=1e-6, atol=1e-7)
    generated = [w.numel() for w in meta.coefficients()]
    assert [p.numel() for p in fixed.parameters()] == generated  # only the edges' coefficients


def test_timed_step_is_a_full_backward_through_the_generation():
    """The "step" action reaches every trainable parameter (prompts and meta-learner included)."""
    from benchmarks.meta_step import elapsed_ms, parts

    actions = parts("metakan", 4, 5, 0, torch.device("cpu"))
    optimizer = actions["adam"].__self__  # the bound Adam.step: its optimizer holds all parameters
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    assert elapsed_ms(actions["step"], torch.device("cpu")) >= 0.0
    assert parameters and all(
        p.grad is not None and torch.isfinite(p.grad).all() for p in parameters
    )
    before = [p.detach().clone() for p in parameters]
    actions["adam"]()
    assert any(not torch.equal(p, q) for p, q in zip(parameters, before, strict=True))


@pytest.mark.parametrize(
    "name, module, reference_name",
    [
        ("metakan-torch", "pinnkan.nn.scalar_relu", "scalar_relu_blocks_reference"),
        ("kan-torch", "pinnkan.basis.bspline", "spline_derivatives_reference"),
    ],
)
def test_torch_variants_run_the_reference_and_match_the_kernels(
    monkeypatch, name, module, reference_name
):
    """A "-torch" model runs its torch reference (only inside its actions), same gradients."""
    import importlib

    from benchmarks.meta_step import parts

    target = importlib.import_module(module)
    calls = []
    reference = getattr(target, reference_name)
    monkeypatch.setattr(target, reference_name, lambda *a: calls.append(1) or reference(*a))
    grads = {}
    for variant in (name.removesuffix("-torch"), name):
        calls.clear()
        actions = parts(variant, 4, 5, 0, torch.device("cpu"))
        actions["step"]()
        optimizer = actions["adam"].__self__
        grads[variant] = [p.grad for group in optimizer.param_groups for p in group["params"]]
        assert bool(calls) == variant.endswith("-torch"), variant
    for fast, slow in zip(*grads.values(), strict=True):
        assert fast.shape == slow.shape and slow.norm() > 0
        assert (fast - slow).norm() <= 1e-5 * slow.norm()  # float32 summation order
