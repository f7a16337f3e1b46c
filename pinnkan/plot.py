"""``pinnkan plot``: figures from run files (``.h5``) and benchmark tables (``.csv``).

Figures are drawn from what the files hold (for the error field and the edge figures the
network is rebuilt from the stored weights); nothing is ever trained here. Kinds:

=============  =============================================================================
field          exact solution, prediction and |error| on a 2-D slice of the ball (PDE runs)
radial         pointwise error against radius |x| at the test points (PDE runs)
histogram      histogram of the pointwise test errors
curves         loss terms and test errors against step and wall time
activations    learned edge functions of every layer (KAN-type models)
similarity     cosine similarity of the edge coefficient vectors (KAN-type models)
prompts        distances between learned prompts (meta models)
parity         predicted against true values (regression runs)
memory         peak memory and parameters against connections and grid size (memory table)
laplacian      Laplacian engine time per step against dimension (Laplacian table)
=============  =============================================================================

Without ``--kind`` every kind that applies to the file is drawn; a kind asked for explicitly
that does not apply raises ``ValueError`` naming the kind and the file. With several files,
every file and kind is checked before anything is drawn, a kind named twice is drawn once, and
two files that would write the same figure file (``A/run.h5`` and ``B/run.h5`` with one
``--out``) are refused. The field figure rebuilds the problem as the run was given it
(``config["spec"]``: a built-in name or ``file.py:Class``), see :mod:`pinnkan.plots.rebuild`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    from matplotlib.figure import Figure
except ValueError as error:  # matplotlib refuses a bad MPLBACKEND when imported
    if "MPLBACKEND" not in os.environ:
        raise
    raise ValueError(
        f"MPLBACKEND={os.environ['MPLBACKEND']!r} is not a backend matplotlib knows, and "
        "matplotlib will not load; unset it (pinnkan draws on matplotlib's Agg canvas and needs "
        "no backend) or give one such as agg"
    ) from error

from .plots.activations import draw_activations
from .plots.benchmarks import benchmark_kind, draw_laplacian, draw_memory
from .plots.canvas import FORMATS, save_figure
from .plots.curves import draw_curves, has_curves
from .plots.errors import draw_histogram, draw_radial, has_predictions, no_error_to_draw
from .plots.fields import draw_field, slice_plane
from .plots.options import PlotOptions
from .plots.parity import draw_parity
from .plots.prompts import draw_prompts
from .plots.rebuild import (
    is_kan_model,
    is_meta_model,
    model_name,
    rebuild_model,
    rebuild_problem,
    run_kind,
)
from .plots.similarity import draw_similarity
from .plots.table import Table, read_table
from .results import Run, read_run
from .text_file import check_output_folder

Source = Run | Table


@dataclass(frozen=True)
class FigureKind:
    """A registered figure: ``draw(source, options)`` for the sources ``applies`` accepts.

    ``applies(source)`` returns None when the kind can be drawn, else the reason it cannot.
    """

    name: str
    draw: Callable[[Any, PlotOptions], Figure]
    applies: Callable[[Source], str | None]
    description: str


KINDS: dict[str, FigureKind] = {}


def register_kind(kind: FigureKind) -> None:
    """Add a figure kind; a name can be registered once."""
    if kind.name in KINDS:
        raise ValueError(f"figure kind {kind.name!r} is already registered")
    KINDS[kind.name] = kind


# --- which kind applies to which file ----------------------------------------------------------


def on_run(check: Callable[[Run], str | None]) -> Callable[[Source], str | None]:
    """Wrap a run check: tables are refused with one reason."""

    def applies(source: Source) -> str | None:
        if not isinstance(source, Run):
            return "it draws run files (.h5), not benchmark tables"
        return check(source)

    return applies


def on_table(kind: str) -> Callable[[Source], str | None]:
    def applies(source: Source) -> str | None:
        if not isinstance(source, Table):
            return f"it draws the {kind} benchmark table (.csv), not run files"
        if benchmark_kind(source) != kind:
            return f"the table is not a {kind} benchmark (columns: {', '.join(source.header)})"
        return None

    return applies


def pde_run(run: Run) -> str | None:
    kind = run_kind(run)
    return None if kind == "pde" else f"it is a {kind} run, not a PDE run"


def field_applies(run: Run) -> str | None:
    problem = run.config.get("problem")
    if pde_run(run):
        return pde_run(run)
    if not run.model_state:
        return "the run file holds no model weights"
    if not isinstance(problem, dict) or not isinstance(problem.get("dim"), int):
        return "the run file records no problem dimension"
    if problem["dim"] < 2:
        return "a 2-D slice needs dimension ≥ 2"
    try:
        rebuilt = rebuild_problem(run)
    except ValueError as error:
        return f"its problem cannot be rebuilt ({error})"
    return None if rebuilt.exact_solution() is not None else "its problem has no exact solution"


def radial_applies(run: Run) -> str | None:
    if pde_run(run):
        return pde_run(run)
    if not ("x" in run.test_set and has_predictions(run)):
        return "the run file stores no test points with predictions"
    return no_error_to_draw(run)


def histogram_applies(run: Run) -> str | None:
    if not has_predictions(run):
        return "the run file stores no test predictions"
    return no_error_to_draw(run)


def curves_applies(run: Run) -> str | None:
    return None if has_curves(run) else "the run file has no training history"


def edges_applies(run: Run) -> str | None:
    try:
        name, kan = model_name(run), is_kan_model(run)
    except ValueError as error:
        return str(error)
    if not kan:
        return f"model {name!r} has no learned edge functions"
    return None if run.model_state else "the run file holds no model weights"


def prompts_applies(run: Run) -> str | None:
    reason = edges_applies(run)
    if reason is None and not is_meta_model(run):
        return (
            f"model {model_name(run)!r} has no prompts "
            "(only meta models such as metakan learn prompts)"
        )
    return reason


def parity_applies(run: Run) -> str | None:
    kind = run_kind(run)
    if kind != "regression":
        return f"it is a {kind} run, not a regression run"
    return histogram_applies(run)


for _kind in (
    FigureKind("field", draw_field, on_run(field_applies), "error field on a 2-D slice"),
    FigureKind("radial", draw_radial, on_run(radial_applies), "error against radius"),
    FigureKind("histogram", draw_histogram, on_run(histogram_applies), "error histogram"),
    FigureKind("curves", draw_curves, on_run(curves_applies), "training curves"),
    FigureKind("activations", draw_activations, on_run(edges_applies), "edge functions"),
    FigureKind("similarity", draw_similarity, on_run(edges_applies), "coefficient similarity"),
    FigureKind("prompts", draw_prompts, on_run(prompts_applies), "prompt distances"),
    FigureKind("parity", draw_parity, on_run(parity_applies), "predicted against true"),
    FigureKind("memory", draw_memory, on_table("memory"), "memory benchmark"),
    FigureKind("laplacian", draw_laplacian, on_table("laplacian"), "Laplacian benchmark"),
):
    register_kind(_kind)


# --- the library entry ------------------------------------------------------------------------


def load_source(path: str | Path) -> Source:
    """A benchmark table for ``.csv`` files, else a run file read with its model weights."""
    location = Path(path)
    if location.suffix.lower() == ".csv":
        return read_table(location)
    return read_run(location, load_model=True, load_checkpoint=False)


def unique(names: list[str] | None) -> list[str] | None:
    """``names`` without repeats, in first-seen order (``--kind field,field`` draws once)."""
    return None if names is None else list(dict.fromkeys(names))


# reasons of a damaged or unusual run, not of its kind (an MLP has no edges: no note)
WORTH_A_NOTE = ("cannot be rebuilt", "no non-zero finite test errors")


def select_kinds(source: Source, requested: list[str] | None, label: str) -> list[FigureKind]:
    """The requested kinds (each must apply) or, with None, every kind that applies."""
    if requested is None:
        chosen = []
        for kind in KINDS.values():
            reason = kind.applies(source)
            if reason is None:
                chosen.append(kind)
            elif any(part in reason for part in WORTH_A_NOTE):  # would vanish without a word
                print(
                    f"pinnkan plot: note: no {kind.name} figure of {label}: {reason}",
                    file=sys.stderr,
                )
        if not chosen:
            raise ValueError(f"no figure kind applies to {label}")
        return chosen
    chosen = []
    for name in unique(requested) or []:
        if name not in KINDS:
            raise ValueError(f"figure kind {name!r} is not known; allowed: {', '.join(KINDS)}")
        reason = KINDS[name].applies(source)
        if reason is not None:
            raise ValueError(f"figure kind {name!r} does not apply to {label}: {reason}")
        chosen.append(KINDS[name])
    return chosen


MODEL_KINDS = ("field", "activations", "similarity", "prompts")  # the ones that rebuild it


@dataclass(frozen=True)
class FigurePlan:
    """What one input file will give: its kinds and, per kind, the files it writes."""

    path: Path
    source: Source
    kinds: list[FigureKind]
    targets: list[list[Path]]


def plan_file(
    path: str | Path,
    kinds: list[str] | None,
    out: str | Path | None,
    formats: tuple[str, ...],
    options: PlotOptions,
) -> FigurePlan:
    """Read ``path`` and check everything about its figures without drawing any."""
    for suffix in formats:
        if suffix not in FORMATS:
            raise ValueError(f"format {suffix!r} is not allowed; allowed: {', '.join(FORMATS)}")
    location = Path(path)
    directory = check_output_folder(figure_folder(location, out))
    source = load_source(location)
    label = f"{'table' if isinstance(source, Table) else 'run'} {location}"
    chosen = select_kinds(source, kinds, label)
    if any(kind.name == "field" for kind in chosen):
        check_slice(source, options)
    if any(kind.name in MODEL_KINDS for kind in chosen):
        rebuild_model(source)  # damaged weights: one line before any figure is written
    suffixes = list(dict.fromkeys(formats))
    targets = [
        [directory / f"{location.stem}-{kind.name}.{suffix}" for suffix in suffixes]
        for kind in chosen
    ]
    return FigurePlan(location, source, chosen, targets)


def check_slice(run: Run, options: PlotOptions) -> None:
    """The slice plane of the field figure (bad ``--axes`` / ``--offset`` fail here)."""
    problem = rebuild_problem(run)
    slice_plane(problem.dim, float(problem.geometry.radius), options)


def draw_plan(plan: FigurePlan, options: PlotOptions) -> list[Path]:
    written = []
    for kind, targets in zip(plan.kinds, plan.targets, strict=True):
        figure = kind.draw(plan.source, options)
        for target in targets:
            written.append(save_figure(figure, target, options.dpi))
    return written


def check_distinct_targets(plans: list[FigurePlan]) -> None:
    """Refuse two inputs that would write the same figure file (the second would replace the
    first), e.g. ``A/run.h5`` and ``B/run.h5`` with one ``--out``."""
    owner: dict[Path, Path] = {}
    for plan in plans:
        for target in (target for targets in plan.targets for target in targets):
            key = target.resolve()
            if key in owner and owner[key] != plan.path:
                raise ValueError(
                    f"{owner[key]} and {plan.path} would both write {target}; "
                    "give them separate --out folders or plot them one at a time"
                )
            owner[key] = plan.path


def plot_file(
    path: str | Path,
    kinds: list[str] | None = None,
    out: str | Path | None = None,
    formats: tuple[str, ...] = ("png",),
    options: PlotOptions | None = None,
) -> list[Path]:
    """Draw ``kinds`` (default: all that apply) of the file ``path``; returns the files written.

    Files are ``<out>/<stem>-<kind>.<format>``; ``out`` defaults to the folder of ``path``.
    A folder that cannot hold them (e.g. an existing file) is refused before anything is drawn.
    """
    options = options or PlotOptions()
    return draw_plan(plan_file(path, kinds, out, formats, options), options)


def plot_files(
    paths: list[str | Path],
    kinds: list[str] | None = None,
    out: str | Path | None = None,
    formats: tuple[str, ...] = ("png",),
    options: PlotOptions | None = None,
    planned: Callable[[list[str]], None] | None = None,
) -> list[Path]:
    """:func:`plot_file` for several files, every file and kind checked before any is drawn;
    ``planned`` is told the kinds that will be drawn (of all files) before the first is."""
    options = options or PlotOptions()
    for path in paths:  # every folder before any file is read
        check_output_folder(figure_folder(path, out))
    distinct: dict[Path, Path] = {}  # a file given twice is drawn once
    for path in paths:
        distinct.setdefault(Path(path).resolve(), Path(path))
    plans = [plan_file(path, kinds, out, formats, options) for path in distinct.values()]
    check_distinct_targets(plans)
    if planned is not None:
        planned(sorted({kind.name for plan in plans for kind in plan.kinds}))
    return [written for plan in plans for written in draw_plan(plan, options)]


def figure_folder(path: str | Path, out: str | Path | None) -> Path:
    """Where the figures of the file ``path`` go: ``out``, else the folder of ``path``."""
    return Path(out) if out is not None else Path(path).parent
