"""Exact solution, prediction and pointwise error of a d-dimensional solution on a 2-D slice.

On the disc P ∩ B_R of a :class:`~pinnkan.plots.plane.SlicePlane` the figure shows u(x), û(x)
and |û(x) − u(x)| side by side (the paper's Figure 8); u and û share one symmetric colour scale,
the error gets a logarithmic scale when it spans more than two decades.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from ..evaluation import predict
from ..problem import as_solution
from ..results import Run
from .canvas import error_norm, new_figure, symmetric_limit
from .options import PlotOptions
from .plane import SlicePlane, axis_plane, disc_grid, random_plane
from .rebuild import model_dtype, rebuild_problem, rebuild_solution, run_label
from .titles import run_title


@dataclass(frozen=True)
class SliceField:
    """u, û and |û − u| on the slice grid, each ``(resolution, resolution)``, NaN off the disc."""

    plane: SlicePlane
    exact: np.ndarray
    prediction: np.ndarray
    error: np.ndarray

    def relative_l2(self) -> float:
        """‖û − u‖₂ / ‖u‖₂ over the grid nodes inside the disc."""
        inside = np.isfinite(self.exact)
        difference = self.prediction[inside] - self.exact[inside]
        return float(np.linalg.norm(difference) / np.linalg.norm(self.exact[inside]))


def slice_plane(dim: int, ball_radius: float, options: PlotOptions) -> SlicePlane:
    if options.plane == "random":
        return random_plane(dim, options.plane_seed, options.offset, ball_radius)
    return axis_plane(dim, tuple(options.axes), options.offset, ball_radius)


def slice_field(run: Run, options: PlotOptions) -> SliceField:
    """Evaluate the exact solution (float64) and the rebuilt network on the slice grid."""
    problem = rebuild_problem(run)
    if problem.exact_solution() is None:
        raise ValueError(f"problem {problem.name!r} of {run_label(run)} has no exact solution")
    solution = as_solution(problem.exact_solution())  # a plain function too, as in training
    ball_radius = float(problem.geometry.radius)
    plane = slice_plane(problem.dim, ball_radius, options)
    points, inside = disc_grid(plane, options.resolution)
    network = rebuild_solution(run, ball_radius)
    x = torch.from_numpy(points)
    exact = solution.value(x).detach().double().numpy()
    prediction = predict(network, x.to(model_dtype(network))).double().numpy()
    shape = inside.shape
    exact, prediction = (np.where(inside, v.reshape(shape), np.nan) for v in (exact, prediction))
    return SliceField(plane, exact, prediction, np.abs(prediction - exact))


def show_disc(axis: Axes, values: np.ndarray, plane: SlicePlane, cmap: str, norm: Normalize):
    """``values (N, N)`` on the nodes linspace(−ρ, ρ, N) of both axes: the image's pixels are
    centred on them, its edges half a node spacing beyond ±ρ."""
    radius = plane.radius
    edge = radius + radius / (values.shape[0] - 1)
    image = axis.imshow(
        np.ma.masked_invalid(values),
        extent=(-edge, edge, -edge, edge),
        origin="lower",
        cmap=cmap,
        norm=norm,
        interpolation="nearest",
    )
    axis.add_patch(Circle((0.0, 0.0), radius, fill=False, linewidth=0.8, color="0.3"))
    axis.set_xlabel(plane.labels[0])
    axis.set_ylabel(plane.labels[1])
    axis.set_aspect("equal")
    return image


SHARED_SCALE_RATIO = 10.0  # u and û share one colour scale unless their ranges differ more


def solution_norms(exact: np.ndarray, prediction: np.ndarray) -> tuple[Normalize, Normalize, str]:
    """Colour scales of u and û: one symmetric scale for both, so that their colours compare,
    unless max |û| and max |u| differ by more than :data:`SHARED_SCALE_RATIO` (a far-off
    prediction would leave u one flat colour): then each its own, and the titles say so."""
    a, b = symmetric_limit(exact), symmetric_limit(prediction)
    if max(a, b) <= SHARED_SCALE_RATIO * min(a, b):
        shared = Normalize(vmin=-max(a, b), vmax=max(a, b))
        return shared, shared, ""
    return Normalize(vmin=-a, vmax=a), Normalize(vmin=-b, vmax=b), " (own scale)"


def clipped_below(values: np.ndarray, norm: Normalize) -> bool:
    """Whether a log scale's lower end hides smaller values (drawn in its lowest colour)."""
    finite = values[np.isfinite(values)]
    return isinstance(norm, LogNorm) and finite.size > 0 and float(finite.min()) < norm.vmin


def draw_field(run: Run, options: PlotOptions) -> Figure:
    """Three panels: u (exact), û (prediction), |û − u|, each with a labelled colour bar."""
    field = slice_field(run, options)
    figure = new_figure(13.5, 4.3)
    axes = figure.subplots(1, 3)
    exact_norm, prediction_norm, own = solution_norms(field.exact, field.prediction)
    panels = (
        (field.exact, "exact solution" + own, r"$u(x)$", "RdBu_r", exact_norm),
        (field.prediction, "prediction" + own, r"$\hat u(x)$", "RdBu_r", prediction_norm),
        (
            field.error,
            "pointwise error",
            r"$|\hat u(x) - u(x)|$",
            "viridis",
            error_norm(field.error),
        ),
    )
    for axis, (values, title, label, cmap, norm) in zip(axes, panels, strict=True):
        image = show_disc(axis, values, field.plane, cmap, norm)
        axis.set_title(f"{title} {label}")
        extend = "min" if clipped_below(values, norm) else "neither"
        figure.colorbar(image, ax=axis, shrink=0.82, label=label, extend=extend)
    test_error = run.metrics.get("rel_l2")
    on_test = f", on the test set {test_error:.2e}" if isinstance(test_error, float) else ""
    figure.suptitle(
        f"{run_title(run)}\n{field.plane.description}; "
        f"relative ℓ2 error on the slice {field.relative_l2():.2e}{on_test}"
    )
    return figure
