"""The function a run learned, x ↦ û(x), rebuilt from its run file: evaluated at
``run.test_set["x"]`` it gives ``run.test_set["prediction"]``.

    PDE, soft constraint   û(x) = N(x)
    PDE, hard constraint   û(x) = (1 − |x|²/R²)·N(x)       (R: the problem's ball radius)
    regression             û(x) = shift + scale·N(z(x))     (z: the box map onto [−1, 1]^d when
                                                            the fit normalised its inputs;
                                                            shift, scale: the target scaling)

with N = :func:`pinnkan.results.restore_model` (the bare backbone, which is *not* û for the
hard constraint, the solve's default, nor for a normalised or standardised fit).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .nn.constraint import BallHardConstraint
from .regression import TargetScaling, network_inputs
from .results import Run, restore_model


class RegressionSolution(nn.Module):
    """û(x) = shift + scale·N(z(x)) at raw points ``x (batch, d)`` -> ``(batch, 1)``."""

    def __init__(self, model: nn.Module, normalization: dict[str, Any] | None, scaling: dict):
        super().__init__()
        self.model = model
        self.normalization = normalization
        self.scaling = TargetScaling(float(scaling["shift"]), float(scaling["scale"]))

    def forward(self, x: Tensor) -> Tensor:
        return self.scaling(self.model(network_inputs(x, self.normalization)))


def uses_hard_constraint(run: Run) -> bool:
    """True when the run trained û = (1 − |x|²/R²)·N (``config["train"]["constraint"]``)."""
    train = run.config.get("train")
    return isinstance(train, dict) and train.get("constraint") == "hard"


def restore_solution(
    run: Run, device: str | torch.device | None = None, radius: float | None = None
) -> nn.Module:
    """û of the run (module docstring), in evaluation mode: ``(batch, d)`` -> ``(batch, 1)``.

    ``radius``: R of the hard constraint; by default the ball radius of the run's problem,
    rebuilt from its config (a user's problem file must be where the run found it).
    """
    model = restore_model(run, device).eval()
    if run.config.get("kind") == "regression":
        scaling = run.config.get("target_scaling") or {"shift": 0.0, "scale": 1.0}
        return RegressionSolution(model, run.config.get("normalization"), scaling).eval()
    if not uses_hard_constraint(run):
        return model
    if radius is None:
        from .plots.rebuild import rebuild_problem  # imports the problem (maybe a user's file)

        radius = float(rebuild_problem(run).geometry.radius)
    return BallHardConstraint(model, radius).eval()
