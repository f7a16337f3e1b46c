"""Argument checks shared by the library and the CLI.

Each check raises ``ValueError`` with one line naming the option, the bad value and what is
allowed, e.g. ``grid=0 is not allowed; it must be an integer ≥ 1``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


def check_int(option: str, value: Any, minimum: int, maximum: int | None = None) -> None:
    bad = isinstance(value, bool) or not isinstance(value, int) or value < minimum
    if not bad and maximum is not None and value > maximum:
        bad = True
    if bad:
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise ValueError(
            f"{option}={value!r} is not allowed; it must be an integer ≥ {minimum}{upper}"
        )


def check_positive(option: str, value: Any) -> None:
    """A finite number > 0 (learning rates, weights, radii)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{option}={value!r} is not allowed; it must be a finite number > 0")


def check_bool(option: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{option}={value!r} is not allowed; it must be True or False")


def check_choice(option: str, value: Any, allowed: Iterable[str]) -> None:
    allowed = list(allowed)
    if value not in allowed:
        raise ValueError(f"{option}={value!r} is not known; allowed: {', '.join(allowed)}")


def check_range(option: str, value: Any) -> None:
    ok = (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        and all(math.isfinite(v) for v in value)
        and value[0] < value[1]
    )
    if not ok:
        raise ValueError(f"{option}={value!r} is not allowed; give two finite numbers lo < hi")
