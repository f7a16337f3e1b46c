"""Markdown tables of fit recipes (Tables 2 and 4): ours beside the paper's.

From the run files of a recipe (:mod:`pinnkan.recipes`): mean ± sample standard deviation of
the test MSE over the seeds found, our parameter counts and the paper's numbers beside them,
and a tally of the rows where our MetaKAN is at least as accurate as the paper's.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from .fit_config import FitConfig
from .recipes import PlannedRun, final_grid, starting_grid
from .results import RunFileError, read_run


@dataclass
class Cell:
    """Our result for one (problem, dim, model, grid): MSE over the seeds found, parameters."""

    planned: int = 0
    mses: list[float] = field(default_factory=list)
    params: int | None = None
    meta_params: int | None = None
    seconds: float = 0.0
    devices: set[str] = field(default_factory=set)

    def mse(self) -> str:
        if not self.mses:
            return "missing"
        text = f"{statistics.fmean(self.mses):.2e}"
        if len(self.mses) > 1:
            text += f" ± {statistics.stdev(self.mses):.1e}"
        if len(self.mses) < self.planned:
            text += f" ({len(self.mses)} of {self.planned} seeds)"
        return text

    def mean(self) -> float:
        return statistics.fmean(self.mses) if self.mses else math.nan

    def median(self) -> float:
        return statistics.median(self.mses) if self.mses else math.nan

    def parameters(self) -> str:
        if self.params is None:
            return "NA"
        if self.meta_params is None:
            return f"{self.params:,}"
        return f"{self.params:,} ({self.meta_params:,})"


def meta_learner_parameters(model: dict[str, Any]) -> int | None:
    """Parameters of the meta-learners alone, C·(p·h + h·m [+ h + m]); None for direct KANs."""
    if "meta_hidden" not in model or "grid" not in model:
        return None
    hidden, prompt, m = model["meta_hidden"], model["prompt_dim"], model["grid"] + model["k"] + 1
    biases = hidden + m if model["meta_bias"] else 0
    return model["clusters"] * (prompt * hidden + hidden * m + biases)


def collect(runs: list[PlannedRun]) -> dict[tuple, Cell]:
    """Read the run files of the plan, grouped by (problem, dim, model, final grid)."""
    cells: dict[tuple, Cell] = {}
    for planned in runs:
        config = planned.config
        key = (config.problem, config.dim, config.model, final_grid(config))
        cell = cells.setdefault(key, Cell())
        cell.planned += 1
        try:
            run = read_run(
                planned.path, load_model=False, load_checkpoint=False, load_test_set=False
            )
        except RunFileError:
            continue
        cell.seconds += float(run.metrics.get("wall_time_s", 0.0))
        cell.devices.add(run_device(run.config))
        if run.status == "completed":
            cell.mses.append(float(run.metrics["mse"]))
        cell.params = int(run.metrics["params"])
        cell.meta_params = meta_learner_parameters(run.model_config or {})
    return cells


def run_device(config: dict[str, Any]) -> str:
    """Where a fit ran, from its run file: the GPU's name, or the processor with the torch
    threads (``"AMD EPYC 7B13, cpu (1 thread)"``)."""
    used = str(config.get("device_name", "?"))
    if not str(config.get("device", "cpu")).startswith("cpu"):
        return used
    processor = config.get("environment", {}).get("device_name")
    return f"{processor}, {used}" if processor else used


TABLE_KINDS = ("table2", "table4")  # the paper tables a recipe's --table can be


def check_table_kind(recipe: dict[str, Any]) -> None:
    """The recipe names the table ``--table`` writes (checked before any training)."""
    kind = recipe.get("table")
    if kind not in TABLE_KINDS:
        raise ValueError(
            f"recipe table={kind!r} is not known; allowed: {', '.join(TABLE_KINDS)} (a recipe "
            'written for --table sets it at the top, e.g. table = "table2")'
        )


def make_table(recipe: dict[str, Any], runs: list[PlannedRun], command: str) -> str:
    check_table_kind(recipe)
    makers = {"table2": table2_markdown, "table4": table4_markdown}
    cells = collect(runs)
    text = makers[recipe["table"]](recipe, cells, runs, command)
    left_out = outside_the_paper_table(recipe["table"], cells)
    if not left_out:
        return text
    note = (
        f"Not in the paper's {recipe['table'].replace('table', 'Table ')}, so in no row above: "
        + "; ".join(left_out)
        + "."
    )
    return text.rstrip("\n") + "\n\n" + note + "\n"


def outside_the_paper_table(kind: str, cells: dict[tuple, Cell]) -> list[str]:
    """The runs' cells (problem, n, model, G) that no row of the paper's table shows (other
    equations, dimensions or models; a second grid on a Table 4 row), which the rows would
    otherwise leave out silently."""
    shown = shown_cells(kind, cells)
    return [cell_label(key) for key in cells if key not in shown]


def shown_cells(kind: str, cells: dict[tuple, Cell]) -> set[tuple]:
    """The cells the table's rows take, as :func:`table2_markdown` and :func:`table4_markdown`
    pick them: KAN and MetaKAN of the paper's equations (every grid, one section each); of each
    paper (function, n) the first KAN and the first MetaKAN cell."""
    from .problems.feynman import PAPER_TABLE2
    from .problems.highdim import PAPER_TABLE4

    models = ("kan", "metakan")
    if kind == "table2":
        names = {f"feynman:{name}" for name in PAPER_TABLE2}
        return {key for key in cells if key[0] in names and key[1] is None and key[2] in models}
    shown = set()
    for variant, rows in PAPER_TABLE4.items():
        for n in rows:
            keys = [key for key in cells if key[0] == f"highdim:{variant}" and key[1] == n]
            shown |= {
                next(key for key in keys if key[2] == m)
                for m in models
                if any(k[2] == m for k in keys)
            }
    return shown


def cell_label(key: tuple) -> str:
    problem, dim, model, grid = key
    size = f" n = {dim}" if dim is not None else ""
    return f"{problem}{size} G = {grid} ({model})"


def scientific(value: float | None) -> str:
    return "NA" if value is None else f"{value:.2e}"


def header(
    title: str, recipe: dict[str, Any], runs: list[PlannedRun], cells: dict, command: str
) -> list[str]:
    """Title, command, seeds, device, sampling, the shared fit settings and the run count."""
    seeds = sorted({planned.config.seed for planned in runs})
    done = sum(len(cell.mses) for cell in cells.values())
    minutes = sum(cell.seconds for cell in cells.values()) / 60
    devices = sorted(set().union(*(cell.devices for cell in cells.values())))
    settings = ", ".join(f"{k} = {v}" for k, v in recipe.get("fit", {}).items())
    model = ", ".join(f"{k} = {v}" for k, v in recipe.get("model", {}).items())
    return [
        f"# {title}",
        "",
        recipe.get("description", ""),
        "",
        f"- command: `{command}`",
        f"- seeds: {', '.join(map(str, seeds))} (each seed draws its own data set and initialisation)",
        f"- device (from the run files): {'; '.join(devices) or 'no run file yet'}; "
        f"{listed(runs, 'dtype')}",
        f"- sampling: every variable uniform in its range ({variable_ranges(runs)}), "
        f"{listed(runs, 'train_points')} training and {listed(runs, 'test_points')} test "
        f"points, {input_mapping(runs)}",
        f"- fit settings: {settings}; model: {model}",
        "- MSE: mean ± sample standard deviation over the seeds of the test MSE",
        f"- runs: {done} of {len(runs)} planned runs completed, {minutes:.1f} min of training "
        "in all (wall time of the runs)",
        "",
    ]


def listed(runs: list[PlannedRun], field: str) -> str:
    """The values of the config ``field`` over the runs: ``"1000"``, or ``"50 / 1000"``."""
    values = sorted({getattr(planned.config, field) for planned in runs}, key=str)
    return " / ".join(map(str, values)) or "?"


def variable_ranges(runs: list[PlannedRun]) -> str:
    """Where the runs' variable ranges come from, for the problem families they fit."""
    families = {planned.config.problem.split(":")[0] for planned in runs}
    sources = {"feynman": "problems/feynman.csv", "highdim": "[-1, 1] for f1–f3"}
    named = [sources[family] for family in sorted(families) if family in sources]
    if families - sources.keys():
        named.append("the problem's own ranges")
    return "; ".join(named)


def input_mapping(runs: list[PlannedRun]) -> str:
    """How the inputs reach the network (the runs' ``normalize``)."""
    mapped = {planned.config.normalize for planned in runs}
    if mapped == {True}:
        return "inputs mapped onto [-1, 1]^d"
    if mapped == {False}:
        return "inputs as drawn (not mapped)"
    return "inputs mapped onto [-1, 1]^d in the runs with normalize = true, as drawn in the others"


class Tally:
    """Counts of rows where our MetaKAN's mean / median MSE is ≤ the paper's and ≤ our KAN's."""

    def __init__(self) -> None:
        self.mean = self.median = self.kan = self.total = 0

    def add(self, meta: Cell, kan: Cell, paper: float | None) -> None:
        if not meta.mses or paper is None:
            return
        self.total += 1
        self.mean += meta.mean() <= paper
        self.median += meta.median() <= paper
        self.kan += bool(kan.mses) and meta.median() <= kan.median()

    def lines(self) -> list[str]:
        return [
            "",
            f"Our MetaKAN at least as accurate as the paper's: {self.mean} of {self.total} by "
            f"the mean over seeds (the column above), {self.median} of {self.total} by the "
            f"median; at least as accurate as our KAN (medians): {self.kan} of {self.total}.",
            "",
        ]


def verdict(ours: Cell, paper: float | None) -> str:
    if not ours.mses or paper is None:
        return "n/a"
    return "yes" if ours.mean() <= paper else "**no**"


def table2_markdown(
    recipe: dict[str, Any], cells: dict[tuple, Cell], runs: list[PlannedRun], command: str
) -> str:
    """One table per grid G: paper and our MSE and parameters for KAN and MetaKAN."""
    from .problems.feynman import PAPER_TABLE2

    lines = header("Table 2 — Feynman equations (KAN vs MetaKAN)", recipe, runs, cells, command)
    lines += TABLE2_NOTES
    grids = sorted({key[3] for key in cells})
    for grid in grids:
        lines += [
            f"## G = {grid}",
            "",
            grid_history(runs, grid),
            "",
            "| equation | width | KAN paper | KAN ours | KAN params paper / ours | "
            "MetaKAN paper | MetaKAN ours | MetaKAN params paper / ours | MetaKAN ours ≤ paper |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        tally = Tally()
        for name, paper in PAPER_TABLE2.items():
            kan = cells.get((f"feynman:{name}", None, "kan", grid))
            meta = cells.get((f"feynman:{name}", None, "metakan", grid))
            if kan is None and meta is None:
                continue
            kan = kan or Cell()
            meta = meta or Cell()
            width = next(
                (
                    p.config.width or default_width_text(p.config)
                    for p in runs
                    if p.config.problem == f"feynman:{name}"
                ),
                "",
            )
            result = verdict(meta, paper.get(f"metakan_g{grid}"))
            tally.add(meta, kan, paper.get(f"metakan_g{grid}"))
            lines.append(
                f"| {name} | {width} | {scientific(paper.get(f'kan_g{grid}'))} | {kan.mse()} | "
                f"{paper.get(f'kan_g{grid}_params', 'NA')} / {kan.parameters()} | "
                f"{scientific(paper.get(f'metakan_g{grid}'))} | {meta.mse()} | "
                f"{paper.get(f'metakan_g{grid}_params', 'NA')} / {meta.parameters()} | {result} |"
            )
        lines += tally.lines()
    return "\n".join(lines)


def grid_history(runs: list[PlannedRun], grid: int) -> str:
    """How the runs ending at ``grid`` got there (trained at it, or extended to it)."""
    for planned in runs:
        config = planned.config
        if final_grid(config) == grid and config.extend_grids:
            start = starting_grid(config)
            chain = " → ".join(str(g) for g in [start, *config.extend_grids])
            return (
                f"Grid extension G = {chain} at equally spaced steps of the {config.steps} "
                "(knots re-adapted to the training activations, function kept by least squares)."
            )
    return f"Trained at G = {grid} from the start."


TABLE2_NOTES = [
    "Parameters: ours count every trainable scalar (KAN: E·(G+k+1) plus node biases; MetaKAN: E "
    "prompts, the meta-learner and node biases), the meta-learner alone in brackets. The paper's"
    " MetaKAN counts do not follow from its stated settings (e.g. 30 for I.12.5, less than a "
    "hidden-32 meta-learner alone), so parameters are compared as reported, not matched. Its KAN"
    " counts differ from E·(G+k+1) plus biases in 4 rows at G = 5 besides I.9.18 (e.g. I.8.4: "
    "979 for 461) and in every row at G = 20, and are not consistent among themselves (I.12.4 "
    "and I.15.10 share the width [3, 3, 2, 1] but are given 70 and 159 at G = 5, the two numbers"
    " the same rows give their MetaKANs the other way round).",
    "",
    "Widths are the paper's except the first entry, which is the number of variables of our "
    "equation (I.9.18 has 9 physical variables here, the paper's version 6).",
    "",
]

TABLE4_NOTES = [
    "Parameters: ours count every trainable scalar (E = n + 1 prompts, the meta-learner and "
    "2 node biases), the meta-learner alone in brackets. The paper's MetaKAN counts match a "
    "meta-learner alone (97 = 8 + 8·9 + 8 + 9 for hidden 8 at n = 10; 713 for hidden 64 at "
    "n = 1000), i.e. they leave out the n + 1 prompts; its KAN counts are ours (E·9 + 2) for "
    "f1 and f3. For f2 they are 18n + 11 (191 at n = 10), our KAN's count at 2n inputs: the "
    "paper's f2 KAN had twice the parameters of ours (and of its own f1 and f3 KANs), for a "
    "reason the paper does not give.",
    "",
]


def default_width_text(config: FitConfig) -> str:
    from .fit_config import load_problem, resolve_width

    return str(resolve_width(None, load_problem(config)))


def table4_markdown(
    recipe: dict[str, Any], cells: dict[tuple, Cell], runs: list[PlannedRun], command: str
) -> str:
    """One table per function the recipe fits: n, parameters / MSE of KAN and MetaKAN, paper
    beside ours."""
    from .problems.highdim import PAPER_TABLE4

    lines = header("Table 4 — high-dimensional functions, [n, 1, 1]", recipe, runs, cells, command)
    lines += TABLE4_NOTES
    for variant, rows in PAPER_TABLE4.items():
        if not any(key[0] == f"highdim:{variant}" for key in cells):
            continue  # a function the recipe does not fit: no empty section
        lines += [
            f"## {variant}",
            "",
            "| n | meta hidden | KAN paper params / MSE | KAN ours params / MSE | "
            "MetaKAN paper params / MSE | MetaKAN ours params / MSE | MetaKAN ours ≤ paper |",
            "|---|---|---|---|---|---|---|",
        ]
        tally = Tally()
        for n, paper in rows.items():
            keys = [key for key in cells if key[0] == f"highdim:{variant}" and key[1] == n]
            if not keys:
                continue
            kan = next((cells[k] for k in keys if k[2] == "kan"), Cell())
            meta = next((cells[k] for k in keys if k[2] == "metakan"), Cell())
            hidden = next(
                (
                    p.config.model_options.get("meta_hidden")
                    for p in runs
                    if p.config.problem == f"highdim:{variant}"
                    and p.config.dim == n
                    and p.config.model == "metakan"
                ),
                None,
            )
            result = verdict(meta, paper["metakan_mse"])
            tally.add(meta, kan, paper["metakan_mse"])
            lines.append(
                f"| {n} | {hidden} | {paper['kan_params']} / {scientific(paper['kan_mse'])} | "
                f"{kan.parameters()} / {kan.mse()} | "
                f"{paper['metakan_params']} / {scientific(paper['metakan_mse'])} | "
                f"{meta.parameters()} / {meta.mse()} | {result} |"
            )
        lines += tally.lines()
    return "\n".join(lines)
