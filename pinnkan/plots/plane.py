"""A 2-D slice through the d-ball: the disc where a plane meets B_R = {|x| ≤ R}.

    P = {x_0 + s e_1 + t e_2 : s, t ∈ ℝ},    e_1 ⟂ e_2 unit vectors,  x_0 ⟂ e_1, e_2
    P ∩ B_R = {s² + t² ≤ ρ²},                ρ = √(R² − |x_0|²)

Two kinds of plane: the coordinate plane of two axes a, b (e_1 = e_a, e_2 = e_b, every other
coordinate fixed at ``offset``, so |x_0|² = (d − 2)·offset²), or a random plane (e_1, e_2, n the
Q factor of a seeded Gaussian d × 3 matrix, x_0 = offset·n).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SlicePlane:
    """A plane through the ball.

    Attributes:
        origin: x_0, ``(d,)``, orthogonal to both basis vectors.
        basis: rows e_1, e_2, ``(2, d)``, orthonormal.
        radius: ρ, the radius of the disc P ∩ B_R.
        labels: axis labels for s and t.
        description: one line naming the plane, for titles.
    """

    origin: np.ndarray
    basis: np.ndarray
    radius: float
    labels: tuple[str, str]
    description: str

    def points(self, s: np.ndarray, t: np.ndarray) -> np.ndarray:
        """x_0 + s e_1 + t e_2 for coordinates ``s, t (n,)`` -> ``(n, d)``."""
        return self.origin + np.outer(s, self.basis[0]) + np.outer(t, self.basis[1])


def disc_radius(origin: np.ndarray, ball_radius: float, offset: float) -> float:
    """ρ = √(R² − |x_0|²); ValueError when the plane misses the ball's interior."""
    squared = ball_radius**2 - float(origin @ origin)
    if squared <= 1e-12 * ball_radius**2:  # also a plane that only touches the sphere
        raise ValueError(
            f"offset={offset} puts the slice outside the ball of radius {ball_radius} "
            f"(|x_0| = {math.sqrt(float(origin @ origin)):.3g}); use a smaller --offset"
        )
    return math.sqrt(squared)


def check_offset(dim: int, offset: float) -> None:
    if not math.isfinite(offset):
        raise ValueError(f"offset={offset} is not allowed; give a finite number")
    if dim == 2 and offset != 0:
        raise ValueError(f"offset={offset} is not allowed in dimension 2: no coordinate is left")


def axis_plane(
    dim: int, axes: tuple[int, int] = (0, 1), offset: float = 0.0, ball_radius: float = 1.0
) -> SlicePlane:
    """The plane of coordinates ``axes = (a, b)``; every other coordinate equals ``offset``."""
    first, second = axes
    for axis in axes:
        if isinstance(axis, bool) or not isinstance(axis, int) or not 0 <= axis < dim:
            raise ValueError(f"axis {axis!r} is not allowed; axes are integers 0 … {dim - 1}")
    if first == second:
        raise ValueError(f"axes={first},{second} are not allowed; give two different axes")
    check_offset(dim, offset)
    basis = np.zeros((2, dim))
    basis[0, first] = basis[1, second] = 1.0
    origin = np.full(dim, float(offset))
    origin[[first, second]] = 0.0
    rest = "" if dim == 2 else f", other coordinates = {offset:g}"
    return SlicePlane(
        origin=origin,
        basis=basis,
        radius=disc_radius(origin, ball_radius, offset),
        labels=(f"$x_{{{first}}}$", f"$x_{{{second}}}$"),
        description=f"plane $(x_{{{first}}}, x_{{{second}}})${rest}",
    )


def random_plane(
    dim: int, seed: int = 0, offset: float = 0.0, ball_radius: float = 1.0
) -> SlicePlane:
    """A random plane: orthonormal e_1, e_2 and normal n from a seeded Gaussian; x_0 = offset·n."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"plane seed={seed!r} is not allowed; it must be an integer ≥ 0")
    check_offset(dim, offset)
    columns = min(dim, 3)
    gaussian = np.random.default_rng(seed).standard_normal((dim, columns))
    orthonormal, triangular = np.linalg.qr(gaussian)
    orthonormal = orthonormal * np.sign(np.diag(triangular))  # unique Q: positive diagonal of R
    origin = offset * orthonormal[:, 2] if columns == 3 else np.zeros(dim)
    shift = "" if offset == 0 else f", shifted by {offset:g} along a random normal"
    return SlicePlane(
        origin=origin,
        basis=orthonormal[:, :2].T.copy(),
        radius=disc_radius(origin, ball_radius, offset),
        labels=("$s$ (along $e_1$)", "$t$ (along $e_2$)"),
        description=f"random plane (seed {seed}){shift}",
    )


def disc_grid(plane: SlicePlane, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """A ``resolution × resolution`` grid of the square [−ρ, ρ]² in plane coordinates.

    Returns ``points (resolution², d)`` in row-major order (row = t, column = s) and the mask
    ``inside (resolution, resolution)`` of the grid nodes with s² + t² ≤ ρ².
    """
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 8:
        raise ValueError(f"resolution={resolution!r} is not allowed; it must be an integer ≥ 8")
    axis = np.linspace(-plane.radius, plane.radius, resolution)
    s, t = np.meshgrid(axis, axis, indexing="xy")
    inside = s**2 + t**2 <= plane.radius**2
    return plane.points(s.ravel(), t.ravel()), inside
