"""Checks of a :class:`pinnkan.results.Run` before it is written, and the plain-data rule.

Every check raises a one-line ValueError naming the bad value and what is allowed, before any
file is touched (:func:`pinnkan.results.write_run` calls :func:`check_run` first):

- configuration: plain data only (:func:`plain_data`: None, bool, int, float, str, lists and
  dicts with str keys; tuples become lists, numpy scalars Python numbers);
- names of history columns, metrics, test-set arrays and state tensors: non-empty, no ``/``;
- history columns numeric, 1-D and of equal length; metrics bool, int, float or str;
- test set: ``x (n, d)``, ``exact (n,)`` and ``prediction (n,)``;
- model state: tensors; checkpoint: a dict with an int ``"step"``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from .results import Run

STATUSES = ("running", "completed", "interrupted", "diverged", "failed")


def plain_data(value: Any, where: str = "config") -> Any:
    """JSON-able copy of ``value``: tuples -> lists, numpy scalars -> Python; else ValueError."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, np.generic):
        return plain_data(value.item(), where)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise ValueError(f"{where} key {key!r} is not allowed; keys must be strings")
        return {key: plain_data(item, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_data(item, f"{where}[{index}]") for index, item in enumerate(value)]
    raise ValueError(
        f"{where}={value!r} ({type(value).__name__}) is not allowed; "
        "use None, bool, int, float, str, list, tuple or dict with str keys"
    )


def to_json(value: Any, where: str) -> str:
    return json.dumps(plain_data(value, where))


def check_run(run: Run) -> None:
    """Validate before any file is touched, and what is read back; each failure is a one-line
    ValueError."""
    if run.status not in STATUSES:
        raise ValueError(f"status={run.status!r} is not known; allowed: {', '.join(STATUSES)}")
    to_json(run.config, "config")
    to_json(run.model_config, "model_config")
    for group, names in (
        ("history", run.history),
        ("metrics", run.metrics),
        ("test_set", run.test_set),
        ("model_state", run.model_state),
    ):
        for name in names:
            check_name(group, name)
    for name, column in run.history.items():
        check_numeric(f"history column {name!r}", np.asarray(column), ndim=1)
    check_equal_lengths(run.history, "history")
    for name, value in run.metrics.items():
        if not isinstance(value, (bool, int, float, str, np.bool_, np.integer, np.floating)):
            raise ValueError(f"metric {name}={value!r} is not allowed; use bool, int, float or str")
    for name, array in run.test_set.items():
        check_numeric(f"test_set array {name!r}", np.asarray(array))
    check_test_set(run.test_set)
    for key, tensor in run.model_state.items():
        if not isinstance(tensor, torch.Tensor):
            raise ValueError(f"model_state[{key!r}] is a {type(tensor).__name__}; give tensors")
    if run.checkpoint is not None:
        step = run.checkpoint.get("step") if isinstance(run.checkpoint, dict) else None
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)):
            raise ValueError(
                f"checkpoint step={step!r} is not allowed; give a dict with int 'step'"
            )


def check_name(group: str, name: Any) -> None:
    if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
        raise ValueError(f"{group} name {name!r} is not allowed; use a non-empty str without '/'")


def check_numeric(what: str, array: np.ndarray, ndim: int | None = None) -> None:
    if array.dtype.kind not in "biufc":
        raise ValueError(f"{what} has dtype {array.dtype}; only numeric or bool arrays are stored")
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{what} has shape {array.shape}; it must be {ndim}-D")


def check_equal_lengths(columns: dict[str, np.ndarray], what: str) -> None:
    """Every column as long as the first; the first that is not is named."""
    lengths = {name: np.asarray(column).shape[0] for name, column in columns.items()}
    first = next(iter(lengths), None)
    for name, length in lengths.items():
        if length != lengths[first]:
            raise ValueError(
                f"{what} column {name} has {length} values, {first} has {lengths[first]}; "
                "they must be equal"
            )


# the arrays of one value per test point (a solve's, a fit's); others are free-form
POINT_VALUES = ("exact", "prediction", "y_true", "y_pred")


def check_test_set(test_set: dict[str, np.ndarray]) -> None:
    """``x`` is 2-D ``(n, d)``; ``exact``, ``prediction`` (a fit's ``y_true``, ``y_pred``) are
    ``(n,)`` when present, of one length also without ``x``; other arrays are free-form."""
    n = None
    if "x" in test_set:
        points = np.asarray(test_set["x"])
        if points.ndim != 2:
            raise ValueError(f"test_set x has shape {points.shape}; it must be (n, d)")
        n = points.shape[0]
    for name in POINT_VALUES:
        if name not in test_set:
            continue
        shape = np.shape(test_set[name])
        n = shape[0] if n is None and len(shape) == 1 else n
        if shape != (n,):
            raise ValueError(f"test_set {name} has shape {shape}; it must be ({n},)")
