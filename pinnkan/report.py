"""``pinnkan report``: a markdown table comparing runs, grouped over training seeds.

Runs are grouped by (kind, problem, dimension, model, device, setting), where the setting is
every problem, model and training option except the training seed. Per group the table gives
the mean ± sample standard deviation (n − 1) over the runs of the relative ℓ2 error (PDE) or the
test MSE (regression), the parameters, wall time, steps, device and sampling law; options that
differ between groups are spelled out per row, options shared by all rows once below the table.
With ``--against paper`` the MetaKAN paper's values are added where problem, dimension and
model match (built-in problems only; a user ``file.py:Class`` never gets them, whatever its
``name``): Table 8 (PDEs), Table 2 (Feynman) and Table 4 (high-dimensional fitting); the
published numbers and the matching are :mod:`pinnkan.paper_values`.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .paper_values import paper_value
from .results import Run, read_run
from .text_file import check_markdown_output, write_generated_markdown
from .wording import counted

AGAINST = ("paper",)


@dataclass
class RunFacts:
    """What the report reads from one run file."""

    path: str
    kind: str
    problem: str
    dim: int | None
    model: str
    device: str
    seed: Any
    setting: dict[str, str]
    error: float | None
    params: int | None
    wall_time_s: float | None
    steps: int | None
    sampling: str
    status: str
    model_config: dict[str, Any]
    problem_config: dict[str, Any]
    given_problem: str | None = None  # as given to solve / fit: a name or ``file.py:Class``

    @property
    def builtin(self) -> bool:
        """False for a user problem given as ``path/to/file.py:Class`` (whatever its ``name``)."""
        return self.given_problem is None or not is_problem_file(self.given_problem)


# --- reading runs ------------------------------------------------------------------------------


def run_paths(inputs: Iterable[str]) -> list[Path]:
    """Files as given; folders expand to the ``*.h5`` files below them (sorted). A file given
    twice (twice by name, or also inside a given folder) counts once: a run is one sample."""
    paths: dict[Path, Path] = {}
    for text in inputs:
        location = Path(text)
        if location.is_dir():
            found = sorted(location.rglob("*.h5"))
            if not found:
                raise ValueError(f"folder {location} holds no .h5 run files")
        elif location.exists():
            found = [location]
        else:
            raise ValueError(f"run file or folder {location} does not exist")
        for path in found:
            paths.setdefault(path.resolve(), path)
    return list(paths.values())


def is_problem_file(given: str) -> bool:
    """True for ``"path/to/file.py:Class"`` (how a user problem is given), False for names."""
    prefix, separator, _ = given.rpartition(":")
    return (bool(separator) and prefix.endswith(".py")) or given.endswith(".py")


def given_problem(config: dict[str, Any]) -> str | None:
    """The problem as the user gave it: ``spec.problem`` (solve) or ``train.problem`` (fit)."""
    for section in ("spec", "train"):
        part = config.get(section)
        if isinstance(part, dict) and isinstance(part.get("problem"), str):
            return part["problem"]
    return None


def number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def flat_setting(run: Run, model: dict[str, Any], problem: dict[str, Any]) -> dict[str, str]:
    """Every option that defines the run except the training seed, as ``name -> JSON``."""
    setting = {f"problem.{k}": v for k, v in problem.items() if k not in ("name", "dim")}
    given = given_problem(run.config)
    spec = run.config.get("spec") if isinstance(run.config.get("spec"), dict) else {}
    if given is not None and is_problem_file(given):  # never grouped with a built-in namesake
        # where the file was: two files given alike from two folders are two problems
        located = spec.get("problem_path")
        setting["problem.file"] = f"{located}:{given.rpartition(':')[2]}" if located else given
        # the options given to its constructor, which its config() may not record
        for key, value in (spec.get("problem_options") or {}).items():
            if key != "dim":
                setting.setdefault(f"problem.{key}", value)
    # one problem instance per training seed: a seed like the training seed, not a setting
    if (spec.get("problem_options") or {}).get("seed") == "training":
        setting["problem.seed"] = "training"
    setting.update({f"model.{k}": v for k, v in model.items() if k != "name"})
    width = model.get("width")
    if isinstance(width, list) and width and width[0] == problem.get("dim"):
        setting["model.width"] = ["d", *width[1:]]  # the dimension has its own column
    train = run.config.get("train") if isinstance(run.config.get("train"), dict) else {}
    setting.update({f"train.{k}": v for k, v in train.items() if k != "seed"})
    if "dtype" in run.config:
        setting["dtype"] = run.config["dtype"]
    return {name: json.dumps(value, sort_keys=True) for name, value in setting.items()}


def run_facts(run: Run) -> RunFacts:
    config, metrics = run.config, run.metrics
    kind = str(config.get("kind", "pde"))
    problem = config.get("problem") if isinstance(config.get("problem"), dict) else {}
    model = run.model_config or config.get("model")
    model = model if isinstance(model, dict) else {}
    train = config.get("train") if isinstance(config.get("train"), dict) else {}
    metric = "rel_l2" if kind == "pde" else ("mse" if "mse" in metrics else "test_mse")
    params = metrics.get("params", config.get("params"))
    steps = metrics.get("steps")
    return RunFacts(
        path=str(run.path),
        kind=kind,
        problem=str(problem.get("name", "?")),
        dim=problem.get("dim") if isinstance(problem.get("dim"), int) else None,
        model=str(model.get("name", "?")),
        device=str(config.get("device_name") or config.get("device") or "?"),
        seed=config.get("seed", train.get("seed")),
        setting=flat_setting(run, model, problem),
        error=number(metrics.get(metric)),
        params=params if isinstance(params, int) else None,
        wall_time_s=number(metrics.get("wall_time_s")),
        steps=steps if isinstance(steps, int) else None,
        sampling=str(
            config.get("sampling_law") or train.get("law") or config.get("sampling") or "—"
        ),  # a fit records "sampling" (as `pinnkan show` reads it)
        status=run.status,
        model_config=model,
        problem_config=problem,
        given_problem=given_problem(config),
    )


# --- grouping and statistics ------------------------------------------------------------------


def group_runs(facts: list[RunFacts]) -> dict[tuple, list[RunFacts]]:
    """Runs that differ only in their training seed, keyed and sorted by what they share."""
    groups: dict[tuple, list[RunFacts]] = {}
    for fact in facts:
        setting = tuple(sorted(fact.setting.items()))
        key = (fact.kind, fact.problem, fact.dim or 0, fact.model, fact.device, setting)
        groups.setdefault(key, []).append(fact)
    return dict(sorted(groups.items(), key=lambda item: item[0]))


def mean_and_std(values: list[float | None]) -> tuple[float | None, float | None, int]:
    """(mean, sample std with n − 1 or None for n < 2, n) over the finite values."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return None, None, 0
    spread = statistics.stdev(finite) if len(finite) > 1 else None
    return statistics.fmean(finite), spread, len(finite)


def format_mean(values: list[float | None], digits: int = 2) -> str:
    """``"1.23e-03 ± 4.5e-04"`` (± only with two or more values), ``"n/a"`` without any."""
    mean, spread, _ = mean_and_std(values)
    if mean is None:
        return "n/a"
    text = f"{mean:.{digits}e}"
    return text if spread is None else f"{text} ± {spread:.1e}"


def format_time(values: list[float | None]) -> str:
    mean, spread, _ = mean_and_std(values)
    if mean is None:
        return "n/a"
    return f"{mean:.1f}" if spread is None else f"{mean:.1f} ± {spread:.1f}"


def distinct(values: Iterable[Any]) -> str:
    """The different values, in order of appearance (ints with thousands separators)."""
    shown = [v for v in dict.fromkeys(values) if v is not None]
    return ", ".join(f"{v:,}" if isinstance(v, int) else str(v) for v in shown) or "n/a"


def seeds_cell(group: list[RunFacts]) -> str:
    """Number of runs, with the statuses that are not "completed" in brackets."""
    bad: dict[str, int] = {}
    for fact in group:
        if fact.status != "completed":
            bad[fact.status] = bad.get(fact.status, 0) + 1
    extra = ", ".join(f"{count} {status}" for status, count in bad.items())
    return f"{len(group)} ({extra})" if extra else str(len(group))


# --- markdown -------------------------------------------------------------------------------------


def varying_options(groups: list[list[RunFacts]]) -> tuple[list[str], dict[str, str]]:
    """(options that differ between groups, options with one value across all of them)."""
    names = list(dict.fromkeys(name for group in groups for name in group[0].setting))
    varying, common = [], {}
    for name in names:
        values = {group[0].setting.get(name, "—") for group in groups}
        if len(values) > 1:
            varying.append(name)
        else:
            common[name] = values.pop()
    return varying, common


def short_name(name: str) -> str:
    """``"train.lr"`` -> ``"lr"``, ``"model.grid"`` -> ``"grid"``; problem options keep theirs."""
    section, _, option = name.partition(".")
    return name if section == "problem" or not option else option


def labels(names: Iterable[str]) -> dict[str, str]:
    """:func:`short_name` of each name, except where two names would read alike (a fit's
    ``model.width`` and ``train.width``, ``dtype`` and ``train.dtype``): those keep their full
    names."""
    names = list(names)
    shorts = [short_name(name) for name in names]
    return {
        name: short if shorts.count(short) == 1 else name
        for name, short in zip(names, shorts, strict=True)
    }


def setting_cell(fact: RunFacts, varying: list[str]) -> str:
    """``name=value`` for the options that differ between rows and that this run has."""
    label = labels(varying)
    parts = [f"{label[n]}={fact.setting[n]}" for n in varying if n in fact.setting]
    return "; ".join(parts).replace("|", "\\|").replace('"', "") or "—"


def ratio_text(ratio: float) -> str:
    """Two decimals (1.30, 0.26), or two significant digits below 0.1 (0.0011 printed 0.00)."""
    return f"{ratio:.2f}" if abs(ratio) >= 0.1 or ratio == 0 else f"{ratio:.2g}"


def paper_cells(group: list[RunFacts]) -> tuple[list[str], str]:
    """([paper value (with † when the architecture differs), ours / paper], paper parameters)."""
    reference = paper_value(group[0])
    if reference is None:
        return ["—", "—"], "—"
    params = "—" if reference.params is None else f"{reference.params:,}"
    if reference.value is None:
        return ["n/a", "—"], params
    mark = "" if reference.same_architecture else " †"
    mean, _, _ = mean_and_std([fact.error for fact in group])
    ratio = "n/a" if mean is None else ratio_text(mean / reference.value)
    return [f"{reference.value:.2e}{mark} ({reference.source})", ratio], params


def table_lines(groups: list[list[RunFacts]], against: str | None) -> list[str]:
    """Markdown table of one kind of run (PDE or regression), plus its common-settings line."""
    kind = groups[0][0].kind
    metric = "rel. ℓ2 error" if kind == "pde" else "test MSE"
    varying, common = varying_options(groups)
    header = ["problem", "d", "model", "setting", "runs", f"{metric} (mean ± std)"]
    if against:
        header += [f"paper {metric}", "ours / paper"]
    header += ["params", *(["paper params"] if against else []), "wall time (s)", "steps"]
    header += ["device", "sampling"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for group in groups:
        first = group[0]
        row = [
            first.problem,
            "—" if first.dim is None else str(first.dim),
            first.model,
            setting_cell(first, varying),
            seeds_cell(group),
            format_mean([fact.error for fact in group]),
        ]
        published, paper_params = paper_cells(group)
        if against:
            row += published
        row.append(distinct(fact.params for fact in group))
        if against:
            row.append(paper_params)
        row += [
            format_time([fact.wall_time_s for fact in group]),
            distinct(fact.steps for fact in group),
            distinct(fact.device for fact in group),
            distinct(fact.sampling for fact in group),
        ]
        lines.append("| " + " | ".join(row) + " |")
    if common:
        label = labels(common)
        shared = "; ".join(f"{label[n]}={v}" for n, v in common.items()).replace('"', "")
        lines += ["", f"Common to all rows: {shared}."]
    return lines


def report_markdown(facts: list[RunFacts], command: str, against: str | None = None) -> str:
    """The whole report: title, command line, one table per kind of run, notes."""
    grouped = list(group_runs(facts).values())
    lines = [
        "# pinnkan report",
        "",
        f"Command: `{command}`",
        "",
        f"{len(facts)} run file(s) in {len(grouped)} group(s). Runs in a group differ only in "
        "their training seed; values are mean ± sample standard deviation (n − 1) over the runs "
        "with a finite value. Errors from different sampling laws are not comparable.",
    ]
    for kind, title in (("pde", "PDE runs"), ("regression", "Regression runs")):
        chosen = [group for group in grouped if group[0].kind == kind]
        if chosen:
            lines += ["", f"## {title}", "", *table_lines(chosen, against)]
    others = [group for group in grouped if group[0].kind not in ("pde", "regression")]
    if others:
        lines += ["", "## Other runs", "", *table_lines(others, against)]
    if against:
        lines += [
            "",
            "Paper values: MetaKAN paper (ICML 2025), Table 8 (PDEs, relative ℓ2, "
            "[d, 32, 32, 32, 1], G = 5, k = 3, meta-learner hidden 128), Table 2 (Feynman, MSE) "
            "and Table 4 (high-dimensional fitting, MSE). † marks rows whose architecture differs "
            "from the paper's: the numbers are then not directly comparable. Table 8's "
            "Sine–Gordon errors are suspect (the reference script used the Allen–Cahn "
            "nonlinearity).",
        ]
    return "\n".join(lines) + "\n"


# --- command line -------------------------------------------------------------------------------


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    from .cli import path_text

    parser.add_argument("runs", nargs="+", metavar="RUN", help="run files (.h5) or folders of them")
    parser.add_argument("--against", help="add published values: paper (MetaKAN Tables 8, 2, 4)")
    parser.add_argument(
        "--out",
        type=path_text,
        help="markdown file to write (default: print to stdout); notes below the line "
        "'<!-- notes: … -->' in an existing file are kept",
    )


def command_line(args: argparse.Namespace) -> str:
    """The ``pinnkan report …`` command that reproduces this report."""
    words = ["pinnkan", "report", *args.runs]
    if args.against:
        words += ["--against", args.against]
    if args.out:
        words += ["--out", args.out]
    return shlex.join(words)


def run_report(args: argparse.Namespace) -> int:
    """Handler of ``pinnkan report``: read the runs, write or print the markdown."""
    if args.against is not None and args.against not in AGAINST:
        raise ValueError(f"--against {args.against!r} is not known; allowed: {', '.join(AGAINST)}")
    if args.out:
        check_markdown_output(args.out)  # before reading the runs
    facts = [
        run_facts(read_run(path, load_model=False, load_checkpoint=False, load_test_set=False))
        for path in run_paths(args.runs)
    ]
    text = report_markdown(facts, command_line(args), args.against)
    if args.out:
        kept = write_generated_markdown(args.out, text)
        notes = "; hand-written notes kept" if kept else ""
        print(f"report: {args.out} ({counted(len(facts), 'run')}{notes})")
    else:
        print(text, end="")
    return 0
