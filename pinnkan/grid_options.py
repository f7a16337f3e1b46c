"""Options of the data-driven B-spline grid update (:func:`pinnkan.grid.update_grid`).

* ``grid_eps`` ε ∈ (0, 1]: interior knots t = ε · uniform(lo, hi) + (1 − ε) · quantiles;
* schedule: every ``update_grid_every`` steps, below step ``update_grid_until`` (0: to the end);
* ``margin`` m ≥ 0: the knot range [lo, hi] of each input is its samples' [min, max] widened by
  m · (max − min) on each side, so that fresh points a little beyond the samples (in high
  dimension most points have some coordinate beyond a finite sample's range) still lie on the
  grid, where the refit keeps the function.

Each check raises a one-line ``ValueError`` naming the value and what is allowed.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def grid_update_due(step: int, every: int, until: int) -> bool:
    """The grid update schedule: True at steps 0, e, 2e, … (e = ``every`` > 0; 0 = never) below
    ``until`` (0 = to the end of the run)."""
    return every > 0 and step % every == 0 and (until == 0 or step < until)


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_grid_eps(grid_eps: object) -> None:
    if not is_number(grid_eps) or not 0.0 < grid_eps <= 1.0:
        raise ValueError(f"grid_eps={grid_eps!r} is not allowed; it must lie in (0, 1]")


def check_margin(option: str, margin: object) -> None:
    if not is_number(margin) or margin < 0:
        raise ValueError(f"{option}={margin!r} is not allowed; it must be a finite number ≥ 0")


def widen_samples(x: Tensor, margin: float) -> Tensor:
    """``x (n, in)`` and two rows lo − m·(hi − lo), hi + m·(hi − lo) with lo, hi the per-input
    min and max: ``(n + 2, in)`` (``x`` itself when m = 0). Knots from these span the widened
    range; the quantiles move by at most one sample."""
    check_margin("margin", margin)
    if margin == 0:
        return x
    low, high = x.min(dim=0).values, x.max(dim=0).values
    span = high - low
    return torch.cat([x, (low - margin * span)[None], (high + margin * span)[None]])
