"""Training curves: loss terms and test errors against step and against wall-clock time.

Rows: the loss terms (every history column whose name contains "loss"), then the test errors
(columns ``rel_*`` and ``*mse``); columns: against ``step`` and against ``wall_time_s`` (or
``train_time_s``). All y axes are logarithmic; non-positive values are left out.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..results import Run
from ..wording import counted
from .canvas import new_figure
from .rebuild import run_label
from .titles import run_title

LABELS = {
    "loss": "total loss",
    "loss_interior": "interior residual loss",
    "loss_boundary": "boundary loss",
    "train_loss": "training loss",
    "rel_l2": r"relative $\ell_2$ error",
    "rel_l1": r"relative $\ell_1$ error",
    "rel_linf": r"relative $\ell_\infty$ error",
    "mse": "test MSE",
    "test_mse": "test MSE",
    "rmse": "test RMSE",
}
TIME_COLUMNS = (("wall_time_s", "wall-clock time (s)"), ("train_time_s", "training time (s)"))


def loss_columns(history: dict[str, np.ndarray]) -> list[str]:
    return [name for name in history if "loss" in name]


def error_columns(history: dict[str, np.ndarray]) -> list[str]:
    return [
        name
        for name in history
        if "loss" not in name and (name.startswith("rel_") or name.endswith("mse"))
    ]


def plottable(history: dict[str, np.ndarray], name: str) -> bool:
    values = np.asarray(history[name], dtype=float)
    return bool(np.any(np.isfinite(values) & (values > 0)))


def has_curves(run: Run) -> bool:
    history = run.history
    return (
        "step" in history
        and len(history["step"]) > 0
        and any(plottable(history, name) for name in loss_columns(history) + error_columns(history))
    )


def time_axis(history: dict[str, np.ndarray]) -> tuple[str, str] | None:
    return next(((n, label) for n, label in TIME_COLUMNS if n in history), None)


def merged_losses(
    history: dict[str, np.ndarray], names: list[str], alpha: float | None = None
) -> list[tuple[str, str]]:
    """(column, label) pairs; a term equal to the total loss is drawn once, as the total. With
    a boundary term the total is α·interior + boundary (the soft constraint's ``alpha``), which
    the label says: the total lies far below the interior term for a small α."""
    if "loss" not in names:
        return [(name, LABELS.get(name, name)) for name in names]
    if "loss_boundary" in history and alpha is not None:
        return [
            (
                name,
                f"total = α·interior + boundary (α = {alpha:g})"
                if name == "loss"
                else LABELS.get(name, name),
            )
            for name in names
        ]
    total = np.asarray(history["loss"], dtype=float)
    same = [
        name
        for name in names
        if name != "loss"
        and np.array_equal(np.asarray(history[name], float), total, equal_nan=True)
    ]
    label = LABELS["loss"] + "".join(f" (= {LABELS.get(name, name)})" for name in same)
    return [
        (name, label if name == "loss" else LABELS.get(name, name))
        for name in names
        if name not in same
    ]


def soft_alpha(run: Run) -> float | None:
    """The interior weight α of a soft-constraint PDE run (None for others)."""
    train = run.config.get("train")
    if not isinstance(train, dict) or train.get("constraint") != "soft":
        return None
    return train.get("alpha")


def draw_lines(
    axis: Axes, history: dict[str, np.ndarray], x_name: str, lines: list[tuple[str, str]]
) -> None:
    x = np.asarray(history[x_name], dtype=float)
    for name, label in lines:
        y = np.asarray(history[name], dtype=float)
        keep = np.isfinite(x) & np.isfinite(y) & (y > 0)
        marker = "o" if keep.sum() < 30 else None
        axis.plot(x[keep], y[keep], marker=marker, markersize=3, label=label)
    axis.set_yscale("log")
    axis.grid(True, which="major", alpha=0.3)


def draw_curves(run: Run, options) -> Figure:
    """A grid of (losses, errors) × (step, wall time) panels with log y axes."""
    history = run.history
    if not has_curves(run):
        raise ValueError(f"run file {run_label(run)} has no training history to plot")
    losses = [n for n in loss_columns(history) if plottable(history, n)]
    errors = [n for n in error_columns(history) if plottable(history, n)]
    rows = [
        (lines, ylabel)
        for lines, ylabel in (
            (merged_losses(history, losses, soft_alpha(run)), "loss"),
            ([(n, LABELS.get(n, n)) for n in errors], "test error"),
        )
        if lines
    ]
    columns = [("step", "optimizer step")]
    timing = time_axis(history)
    if timing is not None:
        columns.append(timing)
    figure = new_figure(5.2 * len(columns) + 0.6, 3.4 * len(rows) + 0.8)
    axes = np.atleast_2d(figure.subplots(len(rows), len(columns), squeeze=False))
    for row, (lines, ylabel) in enumerate(rows):
        for column, (x_name, xlabel) in enumerate(columns):
            axis = axes[row, column]
            draw_lines(axis, history, x_name, lines)
            axis.set_xlabel(xlabel)
            axis.set_ylabel(ylabel)
            if column == 0:
                axis.legend(fontsize="small")
    figure.suptitle(
        f"{run_title(run)}\ntraining curves ({counted(len(history['step']), 'record')})"
    )
    return figure
