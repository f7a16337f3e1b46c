"""The options every figure kind may read, as one flat frozen dataclass (plain data)."""

from __future__ import annotations

from dataclasses import dataclass

from ..validation import check_choice, check_int_field

PLANES = ("axes", "random")


@dataclass(frozen=True)
class PlotOptions:
    """Figure options; each maps 1:1 onto a ``pinnkan plot`` flag.

    Attributes:
        axes: the two coordinates of the slice plane (``field``, plane ``"axes"``).
        plane: ``"axes"`` (coordinate plane) or ``"random"`` (seeded random plane).
        plane_seed: seed of the random plane.
        offset: value of the coordinates off the plane (``"axes"``) or shift along the normal.
        resolution: grid nodes per side of the field images.
        bins: bins of the radial profile and of the error histogram.
        max_edges: at most this many inputs and outputs per layer in the activation grid.
        samples: points on which each edge function is drawn.
        dpi: dots per inch of raster output.
    """

    axes: tuple[int, int] = (0, 1)
    plane: str = "axes"
    plane_seed: int = 0
    offset: float = 0.0
    resolution: int = 129
    bins: int = 24
    max_edges: int = 6
    samples: int = 101
    dpi: int = 100

    def __post_init__(self) -> None:
        check_choice("plane", self.plane, PLANES)
        check_int_field(self, "plane_seed", 0)
        check_int_field(self, "resolution", 8, 2048)
        check_int_field(self, "bins", 1, 1000)
        check_int_field(self, "max_edges", 1, 32)
        check_int_field(self, "samples", 2, 10_000)
        check_int_field(self, "dpi", 10, 1200)
