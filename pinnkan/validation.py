"""Argument checks shared by the library and the CLI.

Each check raises ``ValueError`` with one line naming the option, the bad value and what is
allowed, e.g. ``grid=0 is not allowed; it must be an integer ≥ 1``.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Iterable
from typing import Any

import numpy as np


def integer(value: Any) -> int | None:
    """``value`` as a Python int when it is an integer: an int or an integer scalar of NumPy or
    torch (``np.int64(5)``); None for anything else, bools and floats included."""
    if isinstance(value, (bool, np.bool_, float)):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def real(value: Any) -> float | None:
    """``value`` as a Python float when it is a real number (int, float, NumPy scalars); None
    for anything else, bools included."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    return None


def check_int(option: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    """``value`` as a Python int (:func:`integer`) in ``minimum`` … ``maximum``."""
    number = integer(value)
    if number is None or number < minimum or (maximum is not None and number > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise ValueError(
            f"{option}={value!r} is not allowed; it must be an integer ≥ {minimum}{upper}"
        )
    return number


SEED_MAX = 2**32 - 1  # NumPy's RandomState (the problems' "numpy" coefficients) takes no more


def check_seed(option: str, value: Any) -> int:
    """A seed: an integer in 0 … 2³² − 1 (one the NumPy and torch generators both take)."""
    return check_int(option, value, 0, SEED_MAX)


def check_seeds(option: str, seeds: Iterable[Any]) -> list[int]:
    """A list of seeds (:func:`check_seed` each), none repeated: a repeated seed would train
    the same run twice into one file."""
    checked = [check_seed(option, seed) for seed in seeds]
    repeated = sorted({seed for seed in checked if checked.count(seed) > 1})
    if repeated:
        raise ValueError(
            f"{option} {','.join(map(str, checked))} repeats seed {repeated[0]}; give each once"
        )
    return checked


def check_positive(option: str, value: Any) -> float:
    """A finite number > 0 (learning rates, weights, radii), as a Python float."""
    number = real(value)
    if number is None or not math.isfinite(number) or number <= 0:
        raise ValueError(f"{option}={value!r} is not allowed; it must be a finite number > 0")
    return number


def check_int_field(config: Any, name: str, minimum: int, maximum: int | None = None) -> None:
    """:func:`check_int` on the dataclass field ``name`` of ``config``, which then holds a
    Python int (a NumPy integer would not go into JSON run files)."""
    value = check_int(name, getattr(config, name), minimum, maximum)
    object.__setattr__(config, name, value)  # frozen dataclasses too


def check_positive_field(config: Any, name: str) -> None:
    """:func:`check_positive` on the dataclass field ``name``, which then holds a float."""
    object.__setattr__(config, name, check_positive(name, getattr(config, name)))


def check_network_input(x: Any, features: int) -> None:
    """A network's input is ``(batch, features)``; any other shape is one ValueError naming it
    (a wavelet layer would broadcast ``(batch, 1)`` silently, an MLP end in torch's matmul)."""
    if x.ndim != 2 or x.shape[1] != features:
        raise ValueError(
            f"network input of shape {tuple(x.shape)} is not allowed; this network takes "
            f"(batch, {features})"
        )


def check_bool(option: str, value: Any) -> bool:
    """``value`` as a Python bool (numpy's ``np.bool_`` too); anything else is refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{option}={value!r} is not allowed; it must be True or False")
    return bool(value)


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


def check_generator(generator: object) -> None:
    """Random draws come from ``generator``: a ``torch.Generator`` or None (torch's global one)."""
    import torch  # here: the CLI imports this module before it needs torch

    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(
            f"generator={generator!r} is not allowed; give a torch.Generator, e.g. "
            "torch.Generator().manual_seed(0), or None"
        )
