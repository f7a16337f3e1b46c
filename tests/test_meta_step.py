"""``benchmarks/meta_step.py``: its "metakan-fixed" control is the same network and function as
the MetaKAN, with trainable coefficients instead of generated ones."""

from __future__ import annotations

import torch

from benchmarks.meta_step import backbone
from pinnkan.bench.laplacian import ball_points, build_backbone
from pinnkan.nn.kan import DirectCoefficients


def test_fixed_generation_keeps_the_function_and_drops_the_meta_learner():
    meta = build_backbone("metakan", 6, torch.Generator().manual_seed(3))
    fixed = backbone("metakan-fixed", 6, torch.Generator().manual_seed(3))
    x = ball_points(9, 6, torch.Generator().manual_seed(4))
    assert isinstance(fixed.coefficients, DirectCoefficients)
    assert torch.equal(fixed(x), meta(x))
    generated = [w.numel() for w in meta.coefficients()]
    assert [p.numel() for p in fixed.parameters()] == generated  # only the edges' coefficients
