"""Regression parity plot: predicted against true values at the test points.

    MSE = (1/n) Σ_i (ŷ_i − y_i)²,      R² = 1 − Σ_i (ŷ_i − y_i)² / Σ_i (y_i − ȳ)²

Points on the diagonal ŷ = y are exact.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..results import Run
from .canvas import new_figure
from .errors import truth_and_prediction
from .titles import run_title

TITLE_CHARS = 56  # characters per title line (about 70 fit the 6.2-inch figure at 12 pt)


def parity_statistics(truth: np.ndarray, prediction: np.ndarray) -> tuple[float, float]:
    """(MSE, R²) of ``prediction (n,)`` against ``truth (n,)``; R² is NaN for constant truth."""
    residual = prediction - truth
    mse = float(np.mean(residual**2))
    spread = float(np.sum((truth - truth.mean()) ** 2))
    r_squared = 1.0 - float(np.sum(residual**2)) / spread if spread > 0 else float("nan")
    return mse, r_squared


def draw_parity(run: Run, options) -> Figure:
    """Scatter of (y, ŷ) with the diagonal, the test MSE and R² in the legend."""
    truth, prediction = truth_and_prediction(run)
    mse, r_squared = parity_statistics(truth, prediction)
    figure = new_figure(6.2, 6.0)
    axis = figure.subplots()
    low = float(min(truth.min(), prediction.min()))
    high = float(max(truth.max(), prediction.max()))
    pad = 0.03 * (high - low or 1.0)
    axis.plot([low - pad, high + pad], [low - pad, high + pad], "k--", linewidth=1, label="ŷ = y")
    size = 4 if truth.size > 2000 else 10
    axis.scatter(
        truth,
        prediction,
        s=size,
        alpha=0.6,
        rasterized=True,
        label=f"{truth.size:,} test points\nMSE = {mse:.3e}, $R^2$ = {r_squared:.4f}",
    )
    axis.set_xlim(low - pad, high + pad)
    axis.set_ylim(low - pad, high + pad)
    axis.set_aspect("equal")
    axis.set_xlabel("true value $y$")
    axis.set_ylabel(r"predicted value $\hat y$")
    axis.legend(loc="upper left", fontsize="small")
    axis.grid(True, alpha=0.3)
    # longer titles go on several lines instead of being clipped at the figure edges
    axis.set_title(f"{run_title(run, TITLE_CHARS)}\npredicted against true values")
    return figure
