"""Figures of the benchmark tables (``results/bench_memory.csv``, ``results/bench_laplacian.csv``).

Memory (paper Figure 4): peak training memory and parameter count of each model (KAN, MetaKAN
per meta-learner width, MLP) against the number of connections E = Σ_l n_l n_{l+1} at the
smallest grid size, and against the grid size G at the largest E.

Laplacian: time per training step of each Laplacian engine against the dimension d, log-log,
one line per (engine, model); with a ratio column, the ratio against d in a second panel.
"""

from __future__ import annotations

import textwrap
from itertools import cycle

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from .canvas import new_figure
from .table import Table
from .titles import pretty_model

MEMORY_COLUMNS = (
    ("device_peak_bytes", "peak device memory (MiB)", 2.0**-20),
    ("peak_memory_bytes", "peak memory (MiB)", 2.0**-20),
    ("modelled_peak_bytes", "modelled peak memory (MiB)", 2.0**-20),
    ("peak_bytes", "peak memory (MiB)", 2.0**-20),
    ("memory_bytes", "memory (MiB)", 2.0**-20),
    ("peak_memory_mib", "peak memory (MiB)", 1.0),
    ("peak_memory_mb", "peak memory (MB)", 1.0),
    ("modelled_peak_mb", "modelled peak memory (MiB)", 1.0),
)
TIME_COLUMNS = (
    ("step_ms", "time per step (ms)"),  # what `pinnkan bench laplacian` writes
    ("step_time_ms", "time per step (ms)"),
    ("time_ms", "time per step (ms)"),
    ("ms_per_step", "time per step (ms)"),
    ("step_time_s", "time per step (s)"),
    ("time_s", "time per step (s)"),
    ("seconds", "time per step (s)"),
)


def benchmark_kind(table: Table) -> str | None:
    """``"laplacian"``, ``"memory"`` or None, from the columns the table has."""
    if table.find("engine", "method") and table.find("dim", "d", "dimension"):
        return "laplacian"
    if table.find("grid", "grid_size") and table.find("edges", "connections"):
        return "memory"
    return None


def memory_column(table: Table) -> tuple[str, str, float]:
    """(column, axis label, factor to the shown unit): the first memory column with numbers."""
    for candidate, label, factor in MEMORY_COLUMNS:
        name = table.find(candidate)
        if name is not None and np.isfinite(table.numbers(name)).any():
            return name, label, factor
    raise ValueError(f"table {table.path} has no filled peak-memory column")


def series_labels(table: Table) -> list[str]:
    """``"KAN"``, ``"MetaKAN (h = 16)"``, ``"MLP"`` per row."""
    models = table.strings(table.require("model", "model", "name"))
    hidden = table.strings(table.find("meta_hidden", "hidden"))
    return [
        pretty_model(model) + (f" (h = {width})" if width else "")
        for model, width in zip(models, hidden, strict=True)
    ]


def plot_series(axis: Axes, labels: list[str], x: np.ndarray, y: np.ndarray, keep: np.ndarray):
    """One line per label over the rows in ``keep``, sorted by x; log axes."""
    markers = cycle("osD^v<>p")
    for label in dict.fromkeys(labels):
        rows = keep & (np.array(labels) == label) & np.isfinite(x) & np.isfinite(y) & (y > 0)
        order = np.argsort(x[rows])
        axis.plot(x[rows][order], y[rows][order], marker=next(markers), markersize=4, label=label)
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.grid(True, which="major", alpha=0.3)
    label_data_ticks(axis, x[keep & np.isfinite(x)])


def label_data_ticks(axis: Axes, x: np.ndarray, most: int = 10) -> None:
    """Plain tick labels at the measured x values (``5, 20, 80``, not ``2×10^1``)."""
    values = np.unique(x[x > 0])
    if 1 < values.size <= most:
        axis.set_xticks(
            values, [f"{value:,.0f}" if value >= 1 else f"{value:g}" for value in values]
        )
        axis.xaxis.set_minor_locator(NullLocator())


def extreme(values: np.ndarray, prefer) -> float:
    """The value of ``values`` chosen by ``prefer`` (min or max) among the finite ones."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise ValueError("benchmark column has no numbers")
    return float(prefer(finite))


def draw_memory(table: Table, options) -> Figure:
    """2 × 2 panels: (peak memory, parameters) × (against E at fixed G, against G at fixed E)."""
    labels = series_labels(table)
    memory, memory_label, factor = memory_column(table)
    edges = table.numbers(table.require("connections", "edges", "connections"))
    grid = table.numbers(table.require("grid size", "grid", "grid_size"))
    params_name = table.find("parameters", "params")
    quantities = [(table.numbers(memory) * factor, memory_label)]
    if params_name is not None:
        quantities.append((table.numbers(params_name), "trainable parameters"))
    fixed_grid = extreme(grid, np.min)
    fixed_edges = extreme(edges, np.max)
    views = [
        (edges, grid == fixed_grid, f"connections E (grid G = {fixed_grid:g})"),
        (grid, edges == fixed_edges, f"grid size G (E = {fixed_edges:,.0f} connections)"),
    ]
    views = [view for view in views if len(np.unique(view[0][view[1]])) > 1] or views[:1]
    figure = new_figure(5.4 * len(quantities) + 0.4, 3.9 * len(views) + 0.9)
    axes = figure.subplots(len(views), len(quantities), squeeze=False)
    for row, (x, keep, xlabel) in enumerate(views):
        for column, (y, ylabel) in enumerate(quantities):
            axis = axes[row, column]
            plot_series(axis, labels, x, y, keep)
            axis.set_xlabel(xlabel)
            axis.set_ylabel(ylabel)
    axes[0, 0].legend(fontsize="small")
    figure.suptitle(f"memory benchmark ({table.path.name}): peak memory and parameters")
    return figure


def time_column(table: Table) -> tuple[str, str]:
    for candidate, label in TIME_COLUMNS:
        name = table.find(candidate)
        if name is not None:
            return name, label
    name = table.find_containing("time")
    if name is None:
        raise ValueError(
            f"table {table.path} has no time column; columns: {', '.join(table.header)}"
        )
    return name, name


def draw_laplacian(table: Table, options) -> Figure:
    """Time per step against d (log-log), one column of panels per point count; the ratio to
    the autograd loop in a second row where the table has one. Colour: model; line: engine."""
    engines = table.strings(table.require("engine", "engine", "method"))
    models = [pretty_model(m) if m else "" for m in table.strings(table.find("model"))]
    points = table.numbers(table.find("points", "batch")) if table.find("points", "batch") else None
    counts = [None] if points is None else sorted(set(points[np.isfinite(points)].tolist()))
    dims = table.numbers(table.require("dimension", "dim", "d", "dimension"))
    time_name, time_label = time_column(table)
    rows = [(table.numbers(time_name), time_label)]
    # the autograd loop's ratio, not the models' paired ratio (``paired_ratio_vs_model``)
    ratio_name = table.find_containing("speedup") or table.find_containing("ratio", "autograd")
    if ratio_name is not None and (table.numbers(ratio_name) > 0).any():
        rows.append((table.numbers(ratio_name), ratio_name.replace("_", " ")))
    width = 5.2 * len(counts) + 0.6 + LEGEND_INCHES
    figure = new_figure(width, 4.2 * len(rows) + 0.4)
    axes = figure.subplots(len(rows), len(counts), squeeze=False)
    styles = engine_model_styles(engines, models)
    for column, count in enumerate(counts):
        keep = np.ones(len(dims), dtype=bool) if count is None else points == count
        for row, (values, ylabel) in enumerate(rows):
            axis = axes[row, column]
            plot_styled(axis, styles, engines, models, dims, values, keep)
            axis.set_xlabel("dimension d")
            axis.set_ylabel(ylabel)
            if count is not None:
                axis.set_title(f"{count:,.0f} points", fontsize="medium")
    axes[0, -1].legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0))
    title = f"{table.path.name}: time per training step against dimension"
    figure.suptitle(textwrap.fill(title, int(width * TITLE_CHARS_PER_INCH)))
    return figure


LEGEND_INCHES = 2.2  # beside the panels, where it covers no line
TITLE_CHARS_PER_INCH = 9  # of the suptitle's large font, for wrapping it inside the figure


def engine_model_styles(engines: list[str], models: list[str]) -> dict[tuple[str, str], dict]:
    """A line style per (engine, model): colour by model, line and marker by engine."""
    colours = {model: f"C{index}" for index, model in enumerate(dict.fromkeys(models))}
    lines = cycle(("-", "--", ":", "-."))
    markers = cycle("osD^v<>p")
    per_engine = {engine: (next(lines), next(markers)) for engine in dict.fromkeys(engines)}
    return {
        (engine, model): {
            "color": colours[model],
            "linestyle": per_engine[engine][0],
            "marker": per_engine[engine][1],
        }
        for engine, model in zip(engines, models, strict=True)
    }


def plot_styled(axis, styles, engines, models, x: np.ndarray, y: np.ndarray, keep: np.ndarray):
    """One line per (engine, model) over the rows in ``keep`` with positive finite values."""
    pairs = np.array([f"{e}\0{m}" for e, m in zip(engines, models, strict=True)])
    for (engine, model), style in styles.items():
        rows = keep & (pairs == f"{engine}\0{model}") & np.isfinite(x) & np.isfinite(y) & (y > 0)
        if rows.any():
            order = np.argsort(x[rows])
            label = " · ".join(part for part in (engine, model) if part)
            axis.plot(x[rows][order], y[rows][order], markersize=4, label=label, **style)
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.grid(True, which="major", alpha=0.3)
    label_data_ticks(axis, x[keep & np.isfinite(x)])
