"""What defines a regression run (``pinnkan fit``): :class:`FitConfig` and the default widths.

The config is flat plain data (the command line and the recipes' ``[fit]`` tables map onto its
fields); it is validated on construction, so a bad value fails before any training with a
one-line ``ValueError``. The robustness options ``restarts``/``restart_steps`` are described in
:mod:`pinnkan.restarts`, ``step_guard`` in :mod:`pinnkan.guard`, ``validation`` (the held-out
fraction of the training points for early stopping) in :mod:`pinnkan.early_stopping`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .early_stopping import holdout_size
from .grid_options import check_grid_eps
from .optim import DEFAULT_LR, OPTIMIZERS
from .problems import get_problem
from .regression import Regression
from .validation import (
    SEED_MAX,
    check_bool,
    check_choice,
    check_int,
    check_int_field,
    check_positive_field,
)


@dataclass(frozen=True)
class FitConfig:
    """Everything that defines a regression run (flat plain data; the CLI maps flags onto it)."""

    problem: str
    dim: int | None = None
    problem_options: dict[str, Any] = field(default_factory=dict)  # other constructor keywords
    model: str = "kan"
    width: list[int] | None = None
    model_options: dict[str, Any] = field(default_factory=dict)
    steps: int = 100
    optimizer: str = "lbfgs"
    lr: float | None = None  # None: DEFAULT_LR of the optimizer (1 for L-BFGS, 1e-3 for Adam)
    lbfgs_iterations: int = 20
    seed: int = 0
    train_points: int = 1000
    test_points: int = 1000
    normalize: bool = False
    standardize: bool = False
    update_grid_every: int = 0
    update_grid_until: int = 0
    grid_eps: float = 0.02
    extend_grids: list[int] = field(default_factory=list)
    restarts: int = 1
    restart_steps: int = 3
    step_guard: bool = False
    validation: float = 0.0
    device: str = "cpu"
    dtype: str = "float64"

    def __post_init__(self) -> None:
        if not isinstance(self.problem_options, dict):
            raise ValueError(
                f"problem_options={self.problem_options!r} is not allowed; give a dict"
            )
        if "dim" in self.problem_options:
            raise ValueError("problem_options may not set 'dim'; give dim (--dim) instead")
        check_int_field(self, "steps", 1)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        if self.lr is None:
            object.__setattr__(self, "lr", DEFAULT_LR[self.optimizer])
        check_positive_field(self, "lr")
        check_int_field(self, "lbfgs_iterations", 1)
        check_int_field(self, "seed", 0, SEED_MAX)
        check_int_field(self, "train_points", 1)
        check_int_field(self, "test_points", 1)
        check_bool("normalize", self.normalize)
        check_bool("standardize", self.standardize)
        check_int_field(self, "update_grid_every", 0)
        check_int_field(self, "update_grid_until", 0)
        check_grid_eps(self.grid_eps)
        check_int_field(self, "restarts", 1)
        check_int_field(self, "restart_steps", 1)
        if self.restarts > 1 and self.restart_steps >= self.steps:
            raise ValueError(
                f"restart_steps={self.restart_steps} is not allowed with steps={self.steps}; "
                "the warm-up must be shorter than the run"
            )
        check_bool("step_guard", self.step_guard)
        if self.step_guard and self.optimizer != "lbfgs":
            raise ValueError(
                f"step_guard=True is not allowed with optimizer={self.optimizer!r}; "
                "it needs the monotone steps of lbfgs"
            )
        if isinstance(self.validation, bool) or not (
            isinstance(self.validation, int | float) and 0.0 <= self.validation < 1.0
        ):
            raise ValueError(
                f"validation={self.validation!r} is not allowed; it must be a fraction in [0, 1)"
            )
        fitting_points = self.train_points - holdout_size(self.train_points, self.validation)
        if self.standardize:
            check_standardizable(fitting_points, self.train_points)
        grids = check_extend_grids(self.extend_grids, self.steps)
        object.__setattr__(self, "extend_grids", grids)  # Python ints (frozen dataclass)
        if self.dim is not None:
            check_int_field(self, "dim", 1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_standardizable(fitting_points: int, train_points: int) -> None:
    """``standardize`` divides by the standard deviation of the fitting targets, which needs at
    least 2 of them (counted after the validation split)."""
    if fitting_points < 2:
        split = (
            f" ({fitting_points} after the validation split)"
            if fitting_points < train_points
            else ""
        )
        raise ValueError(
            f"standardize=True needs at least 2 fitting points; got train_points={train_points}"
            + split
        )


def check_extend_grids(grids: list[Any], steps: int) -> list[int]:
    """``grids`` as Python ints: strictly increasing, and few enough for ``steps``.

    Grid extension trains, extends, and trains more (the paper's algorithm), so n extensions
    split the run into n + 1 stages of at least one step each: ``steps`` ≥ n + 1. Whether the
    first entry is finer than the model's grid is checked when the model is built
    (:func:`pinnkan.fit.check_extensions_refine`).
    """
    grids = [check_int("extend_grids entry", grid, 1) for grid in grids]
    if any(coarse >= fine for coarse, fine in zip(grids, grids[1:])):
        raise ValueError(
            f"extend_grids={grids} is not allowed; its entries must be strictly increasing"
        )
    if grids and steps < len(grids) + 1:
        raise ValueError(
            f"extend_grids={grids} needs steps ≥ {len(grids) + 1} (at least one training step "
            f"before and after each extension); got steps={steps}"
        )
    return grids


def default_width(problem: Regression) -> list[int]:
    """The paper's structure: Table 2 widths for Feynman equations, [n, 1, 1] for f1–f3.

    The first entry is the problem's dimension (the paper's I.9.18 is a 6-variable
    dimensionless form; ours has the 9 physical variables, so its width is [9, 5, 5, 5, 1]).
    """
    from .problems.feynman import PAPER_TABLE2, FeynmanProblem
    from .problems.highdim import HighDimProblem

    if isinstance(problem, FeynmanProblem):
        return [problem.dim, *PAPER_TABLE2[problem.equation.name]["width"][1:]]
    if isinstance(problem, HighDimProblem):
        return [problem.dim, 1, 1]
    raise ValueError(
        f"problem {problem.name!r} has no default width; give --width {problem.dim},…,1"
    )


def resolve_width(width: list[int] | None, problem: Regression) -> list[int]:
    if width is None:
        return default_width(problem)
    if len(width) < 2 or width[0] != problem.dim or width[-1] != 1:
        raise ValueError(
            f"width={list(width)} does not fit problem {problem.name!r}: it must start with "
            f"its dimension {problem.dim} and end with 1"
        )
    return list(width)


def load_problem(config: FitConfig) -> Regression:
    options = {**config.problem_options}
    if config.dim is not None:
        options["dim"] = config.dim
    problem = get_problem(config.problem, **options)
    if not isinstance(problem, Regression):
        raise ValueError(f"problem {config.problem!r} is not a regression problem; use `solve`")
    check_regression_attributes(problem, config.problem)
    return problem


def check_regression_attributes(problem: Regression, label: str) -> None:
    """What ``Regression.__init__`` sets, present (a subclass may forget to call it)."""
    for attribute in ("name", "variables", "ranges", "dim"):
        if not hasattr(problem, attribute):
            raise ValueError(
                f"problem {label!r} ({type(problem).__name__}) has no attribute {attribute!r}; "
                "call super().__init__(name, variables, ranges) in its __init__"
            )
