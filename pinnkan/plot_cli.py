"""The ``pinnkan plot`` command line: its flags (one per :class:`PlotOptions` field, plus the
files, kinds, output folder and formats) and its handler; the figures themselves are
:mod:`pinnkan.plot`'s."""

from __future__ import annotations

import argparse
import re
from dataclasses import fields

from .plot import KINDS, plot_files
from .plots.canvas import FORMATS
from .plots.options import PLANES, PlotOptions
from .unused_flags import note_unused_flags, plot_reasons


def add_plot_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``pinnkan plot`` (one per :class:`PlotOptions` field, plus files and kinds)."""
    parser.add_argument(
        "files", nargs="+", metavar="FILE", help="run files (.h5) or benchmark tables (.csv)"
    )
    parser.add_argument(
        "--kind", help=f"comma-separated figure kinds: {', '.join(KINDS)} (default: all that apply)"
    )
    from .cli import path_text

    parser.add_argument(
        "--out", type=path_text, help="output folder (default: the folder of each file)"
    )
    parser.add_argument(
        "--format",
        default="png",
        help=f"comma-separated formats: {', '.join(FORMATS)} (default: png)",
    )
    parser.add_argument(
        "--dpi", type=int, default=PlotOptions.dpi, help="raster resolution (default: %(default)s)"
    )
    field = parser.add_argument_group("field (slice of the ball)")
    field.add_argument("--axes", help="the two coordinates of the slice (default: 0,1)")
    field.add_argument(
        "--plane", choices=PLANES, help="coordinate plane or seeded random plane (default: axes)"
    )
    field.add_argument("--plane-seed", type=int, help="seed of the random plane (default: 0)")
    field.add_argument(
        "--offset",
        type=float,
        help="value of the other coordinates, or the shift along a random plane's normal "
        "(default: 0)",
    )
    field.add_argument(
        "--resolution", type=int, help=f"grid nodes per side (default: {PlotOptions.resolution})"
    )
    other = parser.add_argument_group("other figures")
    other.add_argument(
        "--bins",
        type=int,
        help=f"bins of the radial profile and histogram (default: {PlotOptions.bins})",
    )
    other.add_argument(
        "--max-edges",
        type=int,
        help=f"inputs/outputs per layer in the activation grid (default: {PlotOptions.max_edges})",
    )
    other.add_argument(
        "--samples",
        type=int,
        help=f"points per drawn edge function (default: {PlotOptions.samples})",
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
        raise ValueError(f"--axes={text!r} is not allowed; give two integers like 0,1") from None
    return first, second


OPTION_FLAGS = (
    "plane",
    "plane_seed",
    "offset",
    "resolution",
    "bins",
    "max_edges",
    "samples",
    "dpi",
)


def options_from(args: argparse.Namespace) -> PlotOptions:
    """The given flags over :class:`PlotOptions`' defaults."""
    given = {name: getattr(args, name) for name in OPTION_FLAGS if getattr(args, name) is not None}
    if args.axes is not None:
        given["axes"] = axis_pair(args.axes)
    return PlotOptions(**given)


def named_by_flag(error: ValueError) -> ValueError:
    """A ValueError about a :class:`PlotOptions` field (``max_edges=0 is not allowed …``,
    ``axes=0,0 are not allowed …``) as the flag the user typed (``--max-edges=0 …``)."""
    text = str(error)
    name = re.match(r"(\w+)=", text)
    if name is None or name.group(1) not in {f.name for f in fields(PlotOptions)}:
        return error
    return ValueError("--" + name.group(1).replace("_", "-") + text[len(name.group(1)) :])


def run_plot(args: argparse.Namespace) -> int:
    """Handler of ``pinnkan plot``: draws and prints one line per file written."""
    try:
        return draw_files(args)
    except ValueError as error:
        raise named_by_flag(error) from None


def draw_files(args: argparse.Namespace) -> int:
    options = options_from(args)
    kinds = comma_list(args.kind)
    formats = tuple(comma_list(args.format))

    def note_unused(drawn: list[str]) -> None:  # the kinds drawn, given or all that apply
        note_unused_flags(args, plot_reasons(args, drawn))

    for written in plot_files(args.files, kinds, args.out, formats, options, note_unused):
        print(written)
    return 0
