"""Flags given on the command line that the resolved run does not use.

A flag that does not apply to the run's settings (``--alpha`` under the hard constraint,
``--final-lr-fraction`` with a linear schedule …) would change nothing, which a user who typed
it should hear about: each is one ``pinnkan: note:`` line on stderr before training, naming the
setting that makes it unused. (A preset's values that do not apply are kept silently: a preset
sets many keys at once. Flags that cannot apply to the *model*, such as ``--prompt-lr`` for a
KAN, are refused instead: :func:`pinnkan.commands.check_meta_rates`.)
"""

from __future__ import annotations

import argparse
import sys

from .derivatives import ESTIMATORS
from .train_config import TrainConfig


def unused_flags(args: argparse.Namespace, config: TrainConfig) -> list[str]:
    """One sentence per flag in ``args`` (set, not None) that ``config`` does not use."""
    reasons = {
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
    }
    return [
        f"--{name.replace('_', '-')} {as_given(getattr(args, name))} is not used: {reason}"
        for name, (unused, reason) in reasons.items()
        if unused and getattr(args, name, None) is not None
    ]


def as_given(value: object) -> str:
    """A flag's parsed value as it would be typed (``2`` for the float 2.0)."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def note_unused_flags(args: argparse.Namespace, config: TrainConfig) -> None:
    """:func:`unused_flags` as ``pinnkan: note:`` lines on stderr."""
    for sentence in unused_flags(args, config):
        print(f"pinnkan: note: {sentence}", file=sys.stderr)
