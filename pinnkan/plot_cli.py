"""The ``pinnkan plot`` command line: its flags (one per :class:`PlotOptions` field, plus the
files, kinds, output folder and formats) and its handler; the figures themselves are
:mod:`pinnkan.plot`'s."""

from __future__ import annotations

import argparse

from .plot import KINDS, plot_files
from .plots.canvas import FORMATS
from .plots.options import PLANES, PlotOptions


def add_plot_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``pinnkan plot`` (one per :class:`PlotOptions` field, plus files and kinds)."""
    parser.add_argument(
        "files", nargs="+", metavar="FILE", help="run files (.h5) or benchmark tables (.csv)"
    )
    parser.add_argument(
        "--kind", help=f"comma-separated figure kinds: {', '.join(KINDS)} (default: all that apply)"
    )
    parser.add_argument("--out", help="output folder (default: the folder of each file)")
    parser.add_argument(
        "--format",
        default="png",
        help=f"comma-separated formats: {', '.join(FORMATS)} (default: png)",
    )
    parser.add_argument(
        "--dpi", type=int, default=PlotOptions.dpi, help="raster resolution (default: %(default)s)"
    )
    field = parser.add_argument_group("field (slice of the ball)")
    field.add_argument(
        "--axes", default="0,1", help="the two coordinates of the slice (default: 0,1)"
    )
    field.add_argument(
        "--plane", default="axes", choices=PLANES, help="coordinate plane or seeded random plane"
    )
    field.add_argument(
        "--plane-seed", type=int, default=0, help="seed of the random plane (default: 0)"
    )
    field.add_argument(
        "--offset", type=float, default=0.0, help="value of the other coordinates (default: 0)"
    )
    field.add_argument(
        "--resolution", type=int, default=PlotOptions.resolution, help="grid nodes per side"
    )
    other = parser.add_argument_group("other figures")
    other.add_argument(
        "--bins",
        type=int,
        default=PlotOptions.bins,
        help="bins of the radial profile and histogram",
    )
    other.add_argument(
        "--max-edges",
        type=int,
        default=PlotOptions.max_edges,
        help="inputs/outputs per layer in the activation grid",
    )
    other.add_argument(
        "--samples", type=int, default=PlotOptions.samples, help="points per drawn edge function"
    )


def comma_list(text: str | None) -> list[str] | None:
    if text is None:
        return None
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise ValueError(f"{text!r} names nothing; give a comma-separated list")
    return items


def axis_pair(text: str) -> tuple[int, int]:
    """``"0,1"`` -> ``(0, 1)``."""
    try:
        first, second = (int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"axes={text!r} is not allowed; give two integers like 0,1") from None
    return first, second


def options_from(args: argparse.Namespace) -> PlotOptions:
    return PlotOptions(
        axes=axis_pair(args.axes),
        plane=args.plane,
        plane_seed=args.plane_seed,
        offset=args.offset,
        resolution=args.resolution,
        bins=args.bins,
        max_edges=args.max_edges,
        samples=args.samples,
        dpi=args.dpi,
    )


def run_plot(args: argparse.Namespace) -> int:
    """Handler of ``pinnkan plot``: draws and prints one line per file written."""
    options = options_from(args)
    kinds = comma_list(args.kind)
    formats = tuple(comma_list(args.format))
    for written in plot_files(args.files, kinds, args.out, formats, options):
        print(written)
    return 0
