"""Symbolic fit of ONE edge function: the library and φ(x) ≈ c · f(a·x + b) + d.

For each library function f: a grid search over (a, b) (in coordinates where the edge's input
range is [−1, 1]) with linear least squares for (c, d) at every grid point, then a
Levenberg–Marquardt polish of all four numbers; R² = 1 − Σ(φ − fit)² / Σ(φ − mean φ)². The
network-level assembly (pruning, composition, sympy) is :mod:`pinnkan.symbolic`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy
from scipy.optimize import least_squares


@dataclass(frozen=True)
class SymbolicFunction:
    """A library entry: numpy and sympy forms and the domain check of its argument u."""

    numeric: Callable[[np.ndarray], np.ndarray]
    symbolic: Callable[[Any], Any]
    valid: Callable[[np.ndarray], np.ndarray]


def everywhere(u: np.ndarray) -> np.ndarray:
    return np.ones(u.shape[:-1], dtype=bool)


def positive(u: np.ndarray) -> np.ndarray:
    return (u > 1e-6).all(axis=-1)


def nonnegative(u: np.ndarray) -> np.ndarray:
    return (u >= 0).all(axis=-1)


def away_from_zero(u: np.ndarray) -> np.ndarray:
    """1/u: one sign over the samples and |u| ≥ 1e-3."""
    return ((u > 1e-3).all(axis=-1)) | ((u < -1e-3).all(axis=-1))


def bounded_exp(u: np.ndarray) -> np.ndarray:
    return (u < 50).all(axis=-1)


# Ordered from simplest to most complex: the selection prefers earlier entries.
LIBRARY: dict[str, SymbolicFunction] = {
    "0": SymbolicFunction(np.zeros_like, lambda u: sympy.Integer(0), everywhere),
    "x": SymbolicFunction(lambda u: u, lambda u: u, everywhere),
    "x^2": SymbolicFunction(np.square, lambda u: u**2, everywhere),
    "x^3": SymbolicFunction(lambda u: u**3, lambda u: u**3, everywhere),
    "abs": SymbolicFunction(np.abs, sympy.Abs, everywhere),
    "1/x": SymbolicFunction(lambda u: 1 / u, lambda u: 1 / u, away_from_zero),
    "sqrt": SymbolicFunction(lambda u: np.sqrt(np.abs(u)), sympy.sqrt, nonnegative),
    "exp": SymbolicFunction(lambda u: np.exp(np.minimum(u, 50)), sympy.exp, bounded_exp),
    "log": SymbolicFunction(lambda u: np.log(np.abs(u) + 1e-300), sympy.log, positive),
    "sin": SymbolicFunction(np.sin, sympy.sin, everywhere),
    "tanh": SymbolicFunction(np.tanh, sympy.tanh, everywhere),
}

# |a| ≤ 32 in the normalised input: sin(a·x + b) up to about 10 periods over the edge's range
# (the polish starts from this grid and does not jump between periods; |a| ≤ 8 missed sin(12x))
A_GRID = np.concatenate([-np.geomspace(32, 0.05, 38), np.geomspace(0.05, 32, 38)])
B_GRID = np.linspace(-8, 8, 81)
GRID_SEARCH_POINTS = 128  # the grid search sees every k-th sample; the edge polish sees all
POLISH_POINTS = 400  # the joint polish of all edges sees every k-th sample


@dataclass
class EdgeFormula:
    """φ_ji(x) ≈ c f(a x + b) + d on layer ``layer`` from input i to output j."""

    layer: int
    source: int
    target: int
    name: str
    a: float
    b: float
    c: float
    d: float
    r2: float
    norm: float
    pruned: bool = False

    def expression(self, x: Any) -> Any:
        if self.pruned or self.name == "0":
            return sympy.Float(self.d)
        inner = sympy.Float(self.a) * x + sympy.Float(self.b)
        return sympy.Float(self.c) * LIBRARY[self.name].symbolic(inner) + sympy.Float(self.d)

    def describe(self) -> str:
        where = f"layer {self.layer}: {self.source} -> {self.target}"
        if self.pruned:
            return f"{where:<22} pruned (mean |φ| = {self.norm:.2e}), constant {self.d:+.4g}"
        shown = "c·f(a·x+b)+d" if self.name != "0" else "constant"
        return (
            f"{where:<22} {self.name:<5} R² = {self.r2:.6f}  {shown}: a = {self.a:+.4g}, "
            f"b = {self.b:+.4g}, c = {self.c:+.4g}, d = {self.d:+.4g}"
        )


# --- fitting one edge ------------------------------------------------------------------------


def linear_fit(features: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best (c, d) of y ≈ c·F + d for every row of ``features (..., n)``; returns c, d, SSE."""
    mean_f, mean_y = features.mean(-1, keepdims=True), y.mean()
    centred = features - mean_f
    variance = (centred**2).sum(-1)
    covariance = (centred * (y - mean_y)).sum(-1)
    c = np.where(variance > 1e-300, covariance / np.maximum(variance, 1e-300), 0.0)
    d = mean_y - c * mean_f[..., 0]
    total = ((y - mean_y) ** 2).sum()
    error = np.maximum(total - c * covariance, 0.0)
    return c, d, error


def grid_search(name: str, t: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    """Best (a, b, c, d) on the (a, b) grid for ``y ≈ c f(a t + b) + d``, t in [−1, 1]."""
    function = LIBRARY[name]
    step = max(1, t.shape[0] // GRID_SEARCH_POINTS)
    t, y = t[::step], y[::step]
    u = A_GRID[:, None, None] * t + B_GRID[None, :, None]  # (na, nb, n)
    with np.errstate(all="ignore"):
        features = function.numeric(u)
        c, d, error = linear_fit(features, y)
    bad = ~function.valid(u) | ~np.isfinite(error) | ~np.isfinite(features).all(-1)
    error = np.where(bad, np.inf, error)
    index = np.unravel_index(np.argmin(error), error.shape)
    return float(A_GRID[index[0]]), float(B_GRID[index[1]]), float(c[index]), float(d[index])


def polish(name: str, t: np.ndarray, y: np.ndarray, start: tuple) -> tuple[float, ...]:
    """Levenberg–Marquardt on (a, b, c, d) from ``start``; kept only if valid and better."""
    function = LIBRARY[name]

    def residual(p: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return p[2] * function.numeric(p[0] * t + p[1]) + p[3] - y

    def sse(p: np.ndarray) -> float:
        value = float(np.sum(residual(p) ** 2))
        valid = bool(function.valid((p[0] * t + p[1])[None, :])[0])
        return value if valid and math.isfinite(value) else math.inf

    begin = np.asarray(start, dtype=float)
    try:
        result = least_squares(residual, begin, method="lm", max_nfev=400)
    except (ValueError, np.linalg.LinAlgError):
        return tuple(begin)
    return tuple(result.x) if sse(result.x) <= sse(begin) else tuple(begin)


def fit_function(
    name: str, x: np.ndarray, y: np.ndarray
) -> tuple[float, float, float, float, float]:
    """(a, b, c, d, R²) of ``y ≈ c f(a x + b) + d`` for one library function."""
    centre, half = 0.5 * (x.max() + x.min()), max(0.5 * (x.max() - x.min()), 1e-12)
    t = (x - centre) / half
    total = float(((y - y.mean()) ** 2).sum())
    if name == "0":
        return 1.0, 0.0, 0.0, float(y.mean()), 0.0
    if name == "x":
        c, d, error = linear_fit(t[None, :], y)
        a, b, c, d = 1.0, 0.0, float(c[0]), float(d[0])
    else:
        a, b, c, d = polish(name, t, y, grid_search(name, t, y))
    with np.errstate(all="ignore"):
        fitted = c * LIBRARY[name].numeric(a * t + b) + d
    error = float(((fitted - y) ** 2).sum())
    r2 = 1.0 - error / total if total > 0 else 0.0
    return a / half, b - a * centre / half, c, d, (r2 if math.isfinite(r2) else -math.inf)


def check_samples(x: np.ndarray, y: np.ndarray) -> None:
    """``x (n,)`` and ``y (n,)``: n ≥ 2 finite pairs (a NaN gave the constant NaN, R² = 0)."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 1 or x.shape != y.shape or x.shape[0] < 2:
        raise ValueError(
            f"samples of shapes {x.shape} and {y.shape} are not allowed; give x and y of one "
            "shape (n,) with n ≥ 2"
        )
    bad = int((~np.isfinite(x) | ~np.isfinite(y)).sum())
    if bad:
        raise ValueError(f"the samples are not finite (NaN or inf) at {bad} of {x.shape[0]} points")


def fit_edge(
    x: np.ndarray, y: np.ndarray, names: list[str] | None = None, simplicity: float = 10.0
) -> tuple[str, tuple[float, float, float, float], float]:
    """Choose the library function for samples ``x (n,)``, ``y (n,)``: (name, (a,b,c,d), R²).

    A constant edge (zero variance) is "0" with R² = 1.
    """
    check_samples(x, y)
    names = list(LIBRARY) if names is None else names
    if float(np.var(y)) <= 1e-24 * max(1.0, float(np.mean(y**2))):
        return "0", (1.0, 0.0, 0.0, float(np.mean(y))), 1.0
    fits = {name: fit_function(name, x, y) for name in names}
    best = max(fit[4] for fit in fits.values())
    allowed = (1 - best) + min((simplicity - 1) * (1 - best), 0.01)
    for name in [n for n in LIBRARY if n in fits]:
        if 1 - fits[name][4] <= allowed:
            return name, fits[name][:4], fits[name][4]
    raise AssertionError("the best fit is always allowed")
