"""Statistics of the pointwise error e_i = |û(x_i) − u(x_i)| at the stored test points.

Radial profile: the test points binned by radius r = |x| into ``bins`` equal shells of
[0, max_i |x_i|] (the largest test radius, just under the domain's R);
per shell the mean, the median and the 10 %–90 % band of e, the mean |u| for scale, and the
number of points (which shows the sampling law: "radial" puts as many points in every shell,
"volume" puts a fraction ∝ r^{d−1} dr). Histogram: counts of e on logarithmic bins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from ..results import Run
from .canvas import new_figure
from .rebuild import run_label
from .titles import run_title

PAIRS = (("exact", "prediction"), ("y_true", "y_pred"))


def truth_and_prediction(run: Run) -> tuple[np.ndarray, np.ndarray]:
    """(truth (n,), prediction (n,)) from the test set: exact/prediction or y_true/y_pred."""
    for truth, prediction in PAIRS:
        if truth in run.test_set and prediction in run.test_set:
            return (
                np.asarray(run.test_set[truth], dtype=float).ravel(),
                np.asarray(run.test_set[prediction], dtype=float).ravel(),
            )
    raise ValueError(
        f"run file {run_label(run)} stores no test predictions (test_set exact/prediction)"
    )


def has_predictions(run: Run) -> bool:
    return any(a in run.test_set and b in run.test_set for a, b in PAIRS)


def pointwise_errors(run: Run) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(|prediction − truth| (n,), truth (n,), finite (n,) bool): where the error is a number."""
    truth, prediction = truth_and_prediction(run)
    error = np.abs(prediction - truth)
    return error, truth, np.isfinite(error)


def non_finite_note(finite: np.ndarray) -> str:
    """A third title line ``12 non-finite predictions not shown``, or nothing."""
    missing = int(np.size(finite) - np.count_nonzero(finite))
    return f"\n{missing:,} non-finite predictions not shown" if missing else ""


def no_error_to_draw(run: Run) -> str | None:
    """Why no error figure can be drawn on a log scale (no finite error above 0), or None."""
    error, _, finite = pointwise_errors(run)
    return None if np.any(error[finite] > 0) else "it has no non-zero finite test errors"


@dataclass(frozen=True)
class RadialProfile:
    """Per-shell statistics; every array but ``edges (bins + 1,)`` is ``(bins,)``; NaN if empty."""

    edges: np.ndarray
    count: np.ndarray
    mean: np.ndarray
    median: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    scale: np.ndarray

    @property
    def centers(self) -> np.ndarray:
        return 0.5 * (self.edges[1:] + self.edges[:-1])


def radial_profile(
    points: np.ndarray, error: np.ndarray, reference: np.ndarray, bins: int, radius: float
) -> RadialProfile:
    """Bin ``error (n,)`` and ``|reference| (n,)`` by |x| of ``points (n, d)`` over [0, radius]."""
    norms = np.linalg.norm(points, axis=1)
    edges = np.linspace(0.0, radius, bins + 1)
    shell = np.clip(np.digitize(norms, edges[1:-1]), 0, bins - 1)
    statistics = np.full((6, bins), np.nan)
    for index in range(bins):
        chosen = error[shell == index]
        if chosen.size:
            scale = np.abs(reference[shell == index]).mean()
            lower, median, upper = np.percentile(chosen, [10.0, 50.0, 90.0])
            statistics[:, index] = chosen.mean(), median, lower, upper, scale, chosen.size
    mean, median, lower, upper, scale, count = statistics
    return RadialProfile(edges, np.nan_to_num(count).astype(int), mean, median, lower, upper, scale)


def test_points(run: Run) -> np.ndarray:
    if "x" not in run.test_set:
        raise ValueError(f"run file {run_label(run)} stores no test points (test_set x)")
    return np.asarray(run.test_set["x"], dtype=float)


def draw_radial(run: Run, options) -> Figure:
    """Top: mean, median and 10–90 % band of |û − u| per shell (log y); bottom: points per shell."""
    error, exact, finite = pointwise_errors(run)
    points = test_points(run)[finite]
    radius = float(np.linalg.norm(points, axis=1).max())
    profile = radial_profile(points, error[finite], exact[finite], options.bins, radius)
    figure = new_figure(7.5, 6.0)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1.3))
    r = profile.centers
    top.fill_between(r, profile.lower, profile.upper, alpha=0.25, label="10–90 % of points")
    top.plot(r, profile.mean, "o-", markersize=3, label=r"mean $|\hat u - u|$")
    top.plot(r, profile.median, "s--", markersize=3, label=r"median $|\hat u - u|$")
    top.plot(r, profile.scale, ":", color="0.35", label=r"mean $|u|$ (scale)")
    top.set_yscale("log")
    top.set_ylabel("pointwise error")
    top.legend(fontsize="small", loc="best")
    top.grid(True, which="major", alpha=0.3)
    top.set_title(
        f"{run_title(run)}\nerror against radius at {len(points):,} test points"
        f"{non_finite_note(finite)}"
    )
    width = np.diff(profile.edges)
    bottom.bar(profile.edges[:-1], profile.count, width=width, align="edge", color="0.6")
    bottom.set_xlabel(r"radius $|x|$")
    bottom.set_ylabel("test points")
    bottom.set_xlim(0.0, radius)
    return figure


def log_bins(values: np.ndarray, bins: int) -> np.ndarray:
    """``bins + 1`` logarithmic edges covering the positive ``values`` (whole decades)."""
    positive = values[values > 0]
    low = np.floor(np.log10(positive.min()))
    high = np.ceil(np.log10(positive.max()))
    return np.logspace(low, max(high, low + 1), bins + 1)


def draw_histogram(run: Run, options) -> Figure:
    """Counts of e_i = |û(x_i) − u(x_i)| on logarithmic bins, with median and maximum marked."""
    error, _, finite = pointwise_errors(run)
    if not np.any(error[finite] > 0):  # pinnkan plot refuses such runs before drawing (plan_file)
        raise ValueError(f"run file {run_label(run)} has no non-zero finite test errors")
    error = error[finite]
    zeros = int(np.sum(error == 0))
    figure = new_figure(7.5, 4.5)
    axis = figure.subplots()
    axis.hist(error[error > 0], bins=log_bins(error, options.bins), color="tab:blue", alpha=0.8)
    axis.set_xscale("log")
    for value, style, name in ((np.median(error), "--", "median"), (error.max(), ":", "maximum")):
        axis.axvline(value, linestyle=style, color="k", label=f"{name} {value:.2e}")
    symbol = r"|\hat y - y|" if run.config.get("kind") == "regression" else r"|\hat u - u|"
    axis.set_xlabel(f"pointwise error ${symbol}$ at the test points")
    axis.set_ylabel("test points per bin")
    note = (f" ({zeros} exact zeros not shown)" if zeros else "") + non_finite_note(finite)
    axis.set_title(f"{run_title(run)}\nerror histogram, {error.size:,} test points{note}")
    axis.legend(fontsize="small")
    axis.grid(True, alpha=0.3)
    return figure
