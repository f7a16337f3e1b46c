"""Flags given on the command line that the resolved run does not use.

A flag of ``pinnkan solve`` or ``pinnkan fit`` that does not apply to the run's settings
(``--alpha`` under the hard constraint, ``--final-lr-fraction`` with a linear schedule,
``--restart-steps`` without restarts …) would change nothing, which a user who typed it should
hear about: each is one ``pinnkan: note:`` line on stderr before training, naming the
setting that makes it unused. (A preset's values that do not apply are kept silently: a preset
sets many keys at once. Flags that cannot apply to the *model*, such as ``--prompt-lr`` for a
KAN, are refused instead: :func:`pinnkan.commands.check_meta_rates`.)
"""

from __future__ import annotations

import argparse
import sys

from .derivatives import ESTIMATORS
from .fit_config import FitConfig
from .train_config import TrainConfig

Reasons = dict[str, tuple[bool, str]]  # flag's field -> (unused?, why)


def solve_reasons(args: argparse.Namespace, config: TrainConfig) -> Reasons:
    """``pinnkan solve``: when each training flag goes unused, and why."""
    return {
        "laplacian_samples": (
            config.laplacian not in ESTIMATORS,
            f"the {config.laplacian!r} Laplacian takes no samples; only "
            f"{' and '.join(ESTIMATORS)} sample",
        ),
        "final_lr_fraction": (
            config.schedule != "exponential",
            f"only the exponential schedule has a final fraction (schedule {config.schedule!r})",
        ),
        "alpha": (
            config.constraint == "hard",
            "the hard constraint has no boundary loss to weigh against",
        ),
        "boundary_points": (
            config.constraint == "hard",
            "the hard constraint samples no boundary points",
        ),
        **{
            name: (
                not config.update_grid_every,
                "the grid is never updated (--update-grid-every 0)",
            )
            for name in ("update_grid_until", "grid_eps", "grid_points", "grid_margin")
        },
        "lbfgs_max_iter": (
            config.optimizer != "lbfgs",
            f"only L-BFGS has inner iterations (optimizer {config.optimizer!r})",
        ),
        "prompt_lr": (
            config.optimizer == "lbfgs",
            "L-BFGS runs every parameter at --lr (separate rates are Adam's)",
        ),
        "meta_lr": (
            config.optimizer == "lbfgs",
            "L-BFGS runs every parameter at --lr (separate rates are Adam's)",
        ),
        "checkpoint_every": (
            getattr(args, "engine", None) == "deepxde",
            "the deepxde engine writes no checkpoints (its run file is written at the end)",
        ),
    }


def fit_reasons(config: FitConfig) -> Reasons:
    """``pinnkan fit``: when each training flag goes unused, and why."""
    return {
        "lbfgs_iterations": (
            config.optimizer != "lbfgs",
            f"only L-BFGS has inner iterations (optimizer {config.optimizer!r})",
        ),
        "restart_steps": (
            config.restarts == 1,
            "there is one initialisation to train (--restarts 1)",
        ),
        "update_grid_until": (
            not config.update_grid_every,
            "the grid is never updated (--update-grid-every 0)",
        ),
    }


FIELD_FLAGS = ("axes", "plane", "plane_seed", "offset", "resolution")
KIND_FLAGS = {
    "bins": ("radial", "histogram"),
    "max_edges": ("activations",),
    "samples": ("activations",),
}


def plot_reasons(args: argparse.Namespace, kinds: list[str]) -> Reasons:
    """``pinnkan plot``: flags of figure kinds not among the ``kinds`` drawn (those of
    ``--kind``, else every kind that applies to the files), and the plane's flags the other
    plane ignores."""
    reasons: Reasons = {}
    for name in FIELD_FLAGS:
        reasons[name] = ("field" not in kinds, "no field figure is drawn")
    for name, users in KIND_FLAGS.items():
        reasons[name] = (
            not set(users) & set(kinds),
            f"only the {' and '.join(users)} figure{'s' if len(users) > 1 else ''} use it",
        )
    plane = getattr(args, "plane", None) or "axes"
    if not reasons["axes"][0]:  # a field is drawn: on which plane
        reasons["axes"] = (plane == "random", "a random plane has no coordinate axes")
    if not reasons["plane_seed"][0]:
        reasons["plane_seed"] = (plane == "axes", "only --plane random is drawn from a seed")
    return reasons


def unused_flags(args: argparse.Namespace, reasons: Reasons) -> list[str]:
    """One sentence per flag in ``args`` (set, not None) that ``reasons`` marks unused."""
    return [
        f"--{name.replace('_', '-')} {as_given(getattr(args, name))} is not used: {reason}"
        for name, (unused, reason) in reasons.items()
        if unused and getattr(args, name, None) is not None
    ]


def as_given(value: object) -> str:
    """A flag's parsed value as it would be typed (``2`` for the float 2.0)."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def note_unused_flags(args: argparse.Namespace, reasons: Reasons) -> None:
    """:func:`unused_flags` as ``pinnkan: note:`` lines on stderr."""
    for sentence in unused_flags(args, reasons):
        print(f"pinnkan: note: {sentence}", file=sys.stderr)
