"""What ``pinnkan show`` prints about a run, and the default name of a new run file.

:func:`summary` is the ``pinnkan show RUN.h5 --json`` dict (:data:`SUMMARY_KEYS`, None where
unknown), :func:`format_summary` the aligned plain text, and :func:`new_run_path` the
``<problem>-d<dim>-<model>-s<seed>-<YYYYmmdd-HHMMSS>.h5`` path a run is written to by default.
"""

from __future__ import annotations

import math
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from .environment import utc_now
from .results import Run, python_scalar
from .text_file import being_written

SUMMARY_KEYS = (
    "path", "status", "message", "problem", "dim", "model", "params", "steps", "rel_l2", "rel_l1", "rel_linf", "mse",
    "best_step", "val_mse", "wall_time_s", "warm_up_s", "peak_memory_bytes", "seed", "preset",
    "sampling", "laplacian", "device", "dtype", "created_utc",
)  # fmt: skip


def summary(run: Run) -> dict[str, Any]:
    """The ``pinnkan show RUN.h5 --json`` dict: :data:`SUMMARY_KEYS`, None where unknown.

    Non-finite floats become None (strict JSON); ``status`` tells a diverged run apart.
    """
    config, metrics = run.config, run.metrics
    problem, model = config.get("problem"), config.get("model")
    model_config = run.model_config or (model if isinstance(model, dict) else {})
    width = model_config.get("width") or [None]
    values = {
        "path": str(run.path) if run.path is not None else None,
        "status": run.status,
        "message": metrics.get("message") or running_message(run),  # why it did not complete
        "problem": problem.get("name") if isinstance(problem, dict) else problem,
        "dim": first_known(config.get("dim"), nested(problem, "dim"), width[0]),
        "model": first_known(model_config.get("name"), model if isinstance(model, str) else None),
        "params": metrics.get("params"),
        "steps": first_known(metrics.get("steps"), last(run.history, "step")),
        "rel_l2": first_known(metrics.get("rel_l2"), last(run.history, "rel_l2")),
        "wall_time_s": first_known(metrics.get("wall_time_s"), last(run.history, "wall_time_s")),
        "peak_memory_bytes": first_known(
            metrics.get("peak_memory_bytes"), last(run.history, "peak_memory_bytes")
        ),
        "sampling": first_known(config.get("sampling"), config.get("sampling_law")),
        "created_utc": nested(config.get("environment"), "created_utc"),
    }
    for key in SUMMARY_KEYS:
        if key not in values:
            values[key] = metrics.get(key, config.get(key))
    return {key: finite_or_none(values[key]) for key in SUMMARY_KEYS}


def running_message(run: Run) -> str | None:
    """For a run file whose status is "running": whether a pinnkan process is writing it now,
    or none is (the run was killed without a word: its last checkpoint is what is left)."""
    if run.status != "running" or run.path is None:
        return None
    writing = being_written(run.path)
    if writing is None:
        return None
    if writing:
        return "a pinnkan process is writing it now"
    return (
        "no pinnkan process is writing it (the run was stopped without a word, e.g. killed): "
        f"pinnkan resume {run.path} continues it from its last checkpoint"
    )


def first_known(*candidates: Any) -> Any:
    return next((value for value in candidates if value is not None), None)


def nested(mapping: Any, key: str) -> Any:
    return mapping.get(key) if isinstance(mapping, dict) else None


def last(history: dict[str, np.ndarray], name: str) -> Any:
    column = history.get(name)
    return python_scalar(column[-1]) if column is not None and len(column) else None


def finite_or_none(value: Any) -> Any:
    value = python_scalar(value)
    return None if isinstance(value, float) and not math.isfinite(value) else value


NOT_APPLICABLE = {  # rows of format_summary a kind of run never fills
    "pde": ("test MSE", "early stopping"),
    "regression": ("rel. L1 / Linf", "laplacian", "early stopping"),
}


def format_summary(run: Run) -> str:
    """Aligned ``label  value`` lines for ``pinnkan show RUN.h5``."""
    facts = summary(run)
    shown = {
        "run": facts["path"],
        "status": facts["status"],
        **({"message": facts["message"]} if facts["message"] else {}),
        "problem": facts["problem"],
        "dimension": facts["dim"],
        "model": facts["model"],
        "parameters": f"{facts['params']:,}" if isinstance(facts["params"], int) else None,
        "steps": facts["steps"],
        "rel. L2 error": scientific(facts["rel_l2"]),
        "rel. L1 / Linf": pair(scientific(facts["rel_l1"]), scientific(facts["rel_linf"])),
        "test MSE": scientific(facts["mse"]),
        "early stopping": kept_step(facts["best_step"], facts["steps"], facts["val_mse"]),
        "wall time": wall_time(facts["wall_time_s"], facts["warm_up_s"]),
        "peak memory": peak_memory(facts["peak_memory_bytes"], facts["device"]),
        "seed / preset": pair(facts["seed"], facts["preset"]),
        "sampling": facts["sampling"],
        "laplacian": facts["laplacian"],
        "device / dtype": pair(facts["device"], facts["dtype"]),
        "created (UTC)": facts["created_utc"],
    }
    for label in NOT_APPLICABLE.get(run.config.get("kind"), ()):
        if shown[label] is None:  # a row such runs never have, not a missing value
            del shown[label]
    width = max(len(label) for label in shown)
    return "\n".join(
        f"{label:<{width}}  {'n/a' if value is None else value}" for label, value in shown.items()
    )


def kept_step(best_step: Any, steps: Any, val_mse: Any) -> str | None:
    """``kept step 10 of 15 (validation MSE 8.357e-02)``: a fit with ``--validation`` ends with
    the weights of its best validation step, whose test MSE the summary shows."""
    if best_step is None:
        return None
    return f"kept step {best_step} of {steps} (validation MSE {scientific(val_mse)})"


def wall_time(seconds: Any, warm_up: Any) -> str | None:
    """``12.3 s``, with ``(+ 20.9 s warm-up)`` where the run recorded its untimed warm-up."""
    if not isinstance(seconds, (int, float)):
        return None
    extra = f" (+ {warm_up:.1f} s warm-up)" if isinstance(warm_up, (int, float)) else ""
    return f"{seconds:.1f} s{extra}"


def scientific(value: Any) -> str | None:
    return f"{value:.3e}" if isinstance(value, (int, float)) else None


def peak_memory(value: Any, device: Any) -> str | None:
    """``1.2 MiB`` on a GPU (the allocator's peak), ``435.1 MiB (process peak RSS)`` on the CPU,
    where it is the whole process's peak resident memory, imports included."""
    text = mebibytes(value)
    on_cpu = str(device or "cpu").startswith("cpu")
    return f"{text} (process peak RSS)" if text is not None and on_cpu else text


def mebibytes(value: Any) -> str | None:
    return f"{value / 2**20:.1f} MiB" if isinstance(value, (int, float)) else None


def pair(first: Any, second: Any) -> str | None:
    if first is None and second is None:
        return None
    return f"{'n/a' if first is None else first} / {'n/a' if second is None else second}"


def new_run_path(
    directory: str | os.PathLike,
    problem: str,
    model: str,
    dim: int | None,
    seed: int | None,
    now: datetime | None = None,
) -> Path:
    """``directory/<problem>-d<dim>-<model>-s<seed>-<YYYYmmdd-HHMMSS UTC>.h5``, not yet taken.

    Characters outside ``[A-Za-z0-9._-]`` become ``-``; ``-2``, ``-3``, … make it unique.
    """
    parts = [slug(problem)]
    if dim is not None:
        parts.append(f"d{dim}")
    parts.append(slug(model))
    if seed is not None:
        parts.append(f"s{seed}")
    parts.append((now or utc_now()).strftime("%Y%m%d-%H%M%S"))
    stem = Path(directory) / "-".join(parts)
    candidate, counter = stem.with_name(stem.name + ".h5"), 1
    while candidate.exists():
        counter += 1
        candidate = stem.with_name(f"{stem.name}-{counter}.h5")
    return candidate


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._]+", "-", str(text)).strip("-.") or "run"
