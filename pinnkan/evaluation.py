"""The fixed test set of a PDE run and the errors measured on it.

The test set is ``test_points`` points drawn once from the run's sampling law with a generator
seeded with :data:`TEST_SET_SEED`, the same for every training seed, so that runs with different
seeds are measured on the same points. Errors of a prediction u against u*:

    relative ℓ2 = ‖u − u*‖₂/‖u*‖₂,  relative ℓ1 = ‖u − u*‖₁/‖u*‖₁,  relative ℓ∞ = ‖u − u*‖_∞/‖u*‖_∞.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .problem import PDE
from .train_config import TrainConfig

TEST_SET_SEED = 1_000_003  # the test set is the same for every training seed


def make_test_set(
    problem: PDE, config: TrainConfig, device: torch.device, dtype: torch.dtype
) -> tuple[Tensor, Tensor | None]:
    """The fixed test set: ``test_points`` points of the run's law from a generator seeded with
    :data:`TEST_SET_SEED` (the same for every training seed), and u_exact there (or None)."""
    generator = torch.Generator().manual_seed(TEST_SET_SEED)
    x = problem.geometry.sample_interior(config.test_points, law=config.law, generator=generator)
    x = x.to(device=device, dtype=dtype)
    exact = problem.exact_solution()
    if exact is None:
        return x, None
    with torch.no_grad():  # in chunks: at d = 10,000 the whole set is 800 MB already
        return x, torch.cat([problem.exact_value(part) for part in x.split(4096)])


def relative_errors(prediction: Tensor, exact: Tensor) -> dict[str, float]:
    """Relative ℓ2, ℓ1 and ℓ∞ errors of ``prediction`` against ``exact`` (both ``(n,)``)."""
    error = (prediction - exact).double()
    exact = exact.double()
    return {
        "rel_l2": float(error.norm() / exact.norm()),
        "rel_l1": float(error.abs().sum() / exact.abs().sum()),
        "rel_linf": float(error.abs().max() / exact.abs().max()),
    }


@torch.no_grad()
def predict(model: Callable[[Tensor], Tensor], x: Tensor, chunk: int = 4096) -> Tensor:
    """``model(x)`` in chunks of points, without a graph: ``(n, d)`` -> ``(n,)``."""
    return torch.cat([model(part).squeeze(-1) for part in x.split(chunk)])
