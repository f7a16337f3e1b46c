"""``benchmarks/instance_scale.py``: rms u of a problem instance, checked against the definition
with NumPy's draw written out by hand (the SDGD/STDE scripts' ``np.random.seed(SEED); randn``)."""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.instance_scale import rms_u
from pinnkan import get_problem
from pinnkan.evaluation import make_test_set
from pinnkan.train import TrainConfig


def test_rms_u_of_the_numpy_instance_matches_the_scripts_definition():
    dim, seed = 12, 3
    problem = get_problem("poisson", dim=dim, seed=seed, coefficients="numpy")
    x, _ = make_test_set(
        problem, TrainConfig(law="radial", test_points=20000), "cpu", torch.float64
    )
    x = x.numpy()
    np.random.seed(seed)
    c = np.random.randn(1, dim - 1)
    a, b = x[:, :-1], x[:, 1:]
    u = (1 - (x**2).sum(1)) * (c * np.sin(a + np.cos(b) + b * np.cos(a))).sum(1)
    assert abs(rms_u(dim, seed, "numpy") - np.sqrt((u**2).mean())) < 1e-12


def test_rms_u_follows_the_sum_of_the_coefficients():
    """Near the centre u ≈ (1 − |x|²) sin(1) Σ c_i: at d = 100 the instance with the larger
    |Σ c| has the larger rms u (torch seed 0: Σ c = −2.1; NumPy seed 0: Σ c = 5.6)."""
    small = get_problem("poisson", dim=100, seed=0).solution.coefficients.sum().abs()
    large = get_problem("poisson", dim=100, seed=0, coefficients="numpy")
    assert small < 3 < large.solution.coefficients.sum().abs()
    assert rms_u(100, 0, "numpy") > 2 * rms_u(100, 0, "torch")
