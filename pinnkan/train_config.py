"""What defines a physics-informed training run: :class:`TrainConfig` (flat, plain data).

Every field is checked on construction; a bad value is a one-line ValueError naming it and what
is allowed. :class:`pinnkan.train.PDETrainer` runs it; presets (:mod:`pinnkan.presets`) and the
CLI fill it in.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .derivatives import METHODS
from .geometry import LAWS
from .optim import OPTIMIZERS, SCHEDULES
from .validation import check_choice, check_int, check_positive

CONSTRAINTS = ("hard", "soft")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a physics-informed training run (flat, plain data).

    ``boundary_points = 0`` means 100·d (the paper's N_b); ``resample_every = 0`` keeps the first
    collocation points for the whole run; ``laplacian_samples = 0`` means the estimator's default
    (16 Hutchinson probes; min(16, d) SDGD coordinates).
    """

    steps: int = 2000
    optimizer: str = "adam"
    lr: float = 1e-3
    prompt_lr: float | None = None
    meta_lr: float | None = None
    schedule: str = "linear"
    final_lr_fraction: float = 0.01
    points: int = 100
    boundary_points: int = 0
    resample_every: int = 1
    law: str = "radial"
    constraint: str = "hard"
    alpha: float = 0.01
    test_points: int = 20_000
    eval_every: int = 100
    laplacian: str = "forward"
    laplacian_samples: int = 0
    seed: int = 0
    lbfgs_max_iter: int = 20
    checkpoint_every: int = 1000

    def __post_init__(self) -> None:
        check_int("steps", self.steps, 1)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        for name in ("lr", "final_lr_fraction", "alpha"):
            check_positive(name, getattr(self, name))
        for name in ("prompt_lr", "meta_lr"):
            if getattr(self, name) is not None:
                check_positive(name, getattr(self, name))
        check_choice("schedule", self.schedule, SCHEDULES)
        check_int("points", self.points, 1)
        check_int("boundary_points", self.boundary_points, 0)
        check_int("resample_every", self.resample_every, 0)
        check_choice("law", self.law, LAWS)
        check_choice("constraint", self.constraint, CONSTRAINTS)
        check_int("test_points", self.test_points, 1)
        check_int("eval_every", self.eval_every, 1)
        check_choice("laplacian", self.laplacian, METHODS)
        check_int("seed", self.seed, 0)
        check_int("lbfgs_max_iter", self.lbfgs_max_iter, 1)
        check_int("checkpoint_every", self.checkpoint_every, 0)
        check_int("laplacian_samples", self.laplacian_samples, 0)

    def to_dict(self) -> dict:
        return asdict(self)
