"""Fit recipes: grids of regression runs (``solvers/table2.toml``), planned, run and tabulated.

A recipe is TOML::

    description = "…"
    table = "table2"            # which table maker reads the runs: table2 or table4
    [fit]                       # FitConfig fields shared by every run (steps, optimizer, …)
    [model]                     # model options, given to the models that accept them
    [[runs]]                    # a block of runs: problem, dim, model and grid may be lists,
    problem = ["feynman:I.12.5", "feynman:I.14.3"]   # and the block is their product;
    model = ["kan", "metakan"]  # any other key is a FitConfig field or a model option
    grid = [5, 20]

    pinnkan fit --recipe table2 --seeds 0,1,2 --out-dir results/runs/table2 \\
                --table results/table2.md

runs every (block entry × seed) whose run file ``<out-dir>/<problem>[-d<dim>]-<model>-g<grid>-
s<seed>.h5`` does not exist yet (so an interrupted recipe resumes), then writes the table:
mean ± sample standard deviation of the test MSE over the seeds found, our parameter counts and
the paper's numbers beside them.
"""

from __future__ import annotations

import argparse
import itertools
import shlex
import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .batch import exit_status, failure_line, product_axis, select_named
from .fit import fit
from .fit_config import FitConfig
from .kept_runs import refuse_other_settings, settings_difference, stored_run
from .nn.build import model_options
from .presets import FIT_RECIPE, check_keys, known_model_options, load_preset
from .summary import slug
from .text_file import check_markdown_output, check_output_folder, write_generated_markdown
from .validation import check_seeds
from .wording import counted
from .workers import run_all

PRODUCT_KEYS = ("problem", "dim", "model", "grid")


@dataclass(frozen=True)
class PlannedRun:
    """One run of a recipe: its configuration and its run file."""

    config: FitConfig
    path: Path


def load_recipe(path: str | Path) -> dict[str, Any]:
    """A built-in fit recipe by name (e.g. ``table2``) or a .toml file; its top-level,
    ``[model]`` and ``[fit]`` keys checked."""
    recipe = load_preset(str(path), FIT_RECIPE)
    check_keys("[fit]", recipe.get("fit", {}), settable_fields())
    if not recipe.get("runs"):
        raise ValueError(f"recipe {str(path)!r} has no [[runs]] block")
    return recipe


def settable_fields() -> set[str]:
    """The FitConfig fields a recipe's ``[fit]`` table or a block may set (the others come from
    the product keys, the model options and ``--seeds``)."""
    set_elsewhere = {"problem", "dim", "model", "seed", "model_options"}
    return {f.name for f in fields(FitConfig)} - set_elsewhere


def block_configs(
    block: dict[str, Any],
    recipe: dict[str, Any],
    seed: int,
    overrides: dict[str, Any] | None = None,
) -> list[FitConfig]:
    """The product of a ``[[runs]]`` block's list keys, as :class:`FitConfig` objects, with
    ``overrides`` (FitConfig fields from the command line) above the recipe's values."""
    fit_fields = settable_fields()
    axes = {key: product_axis(block, key) for key in PRODUCT_KEYS if key in block}
    if "problem" not in axes:
        raise ValueError("every [[runs]] block of a recipe needs a problem")
    rest = {key: value for key, value in block.items() if key not in PRODUCT_KEYS}
    unknown = sorted(set(rest) - fit_fields - known_model_options())
    if unknown:
        raise ValueError(f"recipe key {unknown[0]!r} is neither a fit field nor a model option")
    configs = []
    for values in itertools.product(*axes.values()):
        chosen = dict(zip(axes, values))
        model = chosen.get("model", "kan")
        accepted = model_options(model)
        merged = {**recipe.get("model", {}), **rest}
        options = {key: value for key, value in merged.items() if key in accepted}
        if "grid" in chosen and "grid" in accepted:
            options["grid"] = chosen["grid"]
        if "grid_range" in options:
            options["grid_range"] = tuple(options["grid_range"])
        settings = {**recipe.get("fit", {}), **{k: v for k, v in rest.items() if k in fit_fields}}
        configs.append(
            FitConfig(
                problem=chosen["problem"],
                dim=chosen.get("dim"),
                model=model,
                model_options=options,
                **{**settings, **(overrides or {}), "seed": seed},
            )
        )
    return configs


def starting_grid(config: FitConfig) -> int | None:
    """The grid a run starts with: its ``grid`` option, or the model's default when the recipe
    does not set one; None for a model without a grid."""
    return config.model_options.get("grid", model_options(config.model).get("grid"))


def final_grid(config: FitConfig) -> int | None:
    """The grid a run ends with: the last extension, else :func:`starting_grid`."""
    return config.extend_grids[-1] if config.extend_grids else starting_grid(config)


def run_path(directory: Path, config: FitConfig) -> Path:
    dim = f"-d{config.dim}" if config.dim is not None else ""
    grid = final_grid(config)
    grid_part = f"-g{grid}" if grid is not None else ""
    return directory / f"{slug(config.problem)}{dim}-{config.model}{grid_part}-s{config.seed}.h5"


def plan(
    recipe: dict[str, Any],
    seeds: list[int],
    directory: Path,
    overrides: dict[str, Any] | None = None,
) -> list[PlannedRun]:
    """Every run of the recipe for every seed (validated: a bad recipe fails before training),
    ``overrides`` as in :func:`block_configs`."""
    runs = []
    for seed in seeds:
        for block in recipe["runs"]:
            for config in block_configs(block, recipe, seed, overrides):
                runs.append(PlannedRun(config, run_path(directory, config)))
    return runs


def execute(planned: PlannedRun) -> tuple[bool, str]:
    """Train one planned run (in a worker process): whether it wrote its run file, and a
    one-line report."""
    import torch

    torch.set_num_threads(1)
    start = time.perf_counter()
    try:
        run = fit(planned.config, str(planned.path))
    except (RuntimeError, ValueError) as error:  # one failed run must not stop the others
        return False, failure_line(planned.path.name, error)
    seconds = time.perf_counter() - start
    line = f"{planned.path.name}: MSE {run.metrics['mse']:.3e} ({seconds:.1f} s, {run.status})"
    if run.status != "completed":  # written, but not a result: a rerun trains it again
        message = run.metrics.get("message", "")
        return False, f"{planned.path.name}: FAILED ({run.status}: {message})"
    return True, line


def completed(planned: PlannedRun) -> bool:
    """Whether the planned run's file holds a completed run (kept, not trained again); one
    that diverged, or is not a run file, is trained (again)."""
    stored = stored_run(planned.path)
    return stored is not None and stored.status == "completed"


def check_entries(runs: list[PlannedRun]) -> None:
    """Before any training: each entry's problem and model can be built (once per entry: the
    seeds change only the data and the initialisation), so that an unknown equation or a
    model option that does not fit is one line, not a FAILED run after the others trained."""
    from .fit import initial_model, load_problem

    entries = {planned.path.name.rsplit("-s", 1)[0]: planned.config for planned in runs}
    for config in entries.values():
        initial_model(config, load_problem(config), config.seed)


def check_kept_runs(runs: list[PlannedRun]) -> None:
    """A completed run file already there is kept rather than trained again: it must hold the
    run the plan asks for (:mod:`pinnkan.kept_runs`; the file names do not say the precision
    or the training settings)."""
    for planned in runs:
        stored = stored_run(planned.path)
        if stored is None or stored.status != "completed":
            continue
        kept = stored.config
        if kept.get("dtype") != planned.config.dtype:
            raise ValueError(
                f"{planned.path} holds a {kept.get('dtype')} run, and this plan asks for "
                f"{planned.config.dtype}; give another --out-dir (or the same --dtype)"
            )
        stored = {"problem_options": {}, **(kept.get("train") or {})}  # files made before it
        difference = settings_difference(stored, planned.config.to_dict(), kept.get("model"))
        refuse_other_settings(planned.path, difference)


def check_no_run_flags(args: argparse.Namespace) -> None:
    """With ``--recipe`` the recipe sets every run's fields: a run flag given beside it is an
    error rather than silently ignored."""
    from .commands import MODEL_FLAGS, given
    from .fit_cli import FLAG_FIELDS, RECIPE_FLAGS

    shared = ("device", "dtype", "quiet")  # every run of the recipe takes them
    flags = given(args, ("problem", "problem_option", "out", "model", *FLAG_FIELDS, *MODEL_FLAGS))
    if flags:
        flag = "--" + next(iter(flags)).replace("_", "-")
        raise ValueError(
            f"{flag} is not used with --recipe (the recipe sets its runs); allowed with it: "
            + ", ".join("--" + name.replace("_", "-") for name in (*RECIPE_FLAGS, *shared))
        )


def name_parts(runs: list[PlannedRun]) -> str:
    """What the run names of ``runs`` are made of, for a message."""
    example = f", e.g. {runs[0].path.name}" if runs else ""
    return f"run names are PROBLEM[-dDIM]-MODEL[-gGRID]-sSEED{example}"


def run_planned(runs: list[PlannedRun], jobs: int = 1) -> int:
    """Train the planned runs whose files are not completed, ``jobs`` at a time; returns the
    number of runs that failed (no completed run file written)."""
    todo = [planned for planned in runs if not completed(planned)]
    print(
        f"{counted(len(runs), 'run')}, {len(runs) - len(todo)} already done, {len(todo)} to train",
        flush=True,
    )
    done: list[bool] = []

    def report(result: tuple[bool, str]) -> None:
        written, line = result
        done.append(written)
        print(f"[{len(done)}/{len(todo)}] {line}", flush=True)

    run_all(execute, todo, jobs, report, in_process=jobs <= 1)  # a fit stops at Ctrl-C
    return done.count(False)


def run_recipe_command(args: argparse.Namespace) -> int:
    """``pinnkan fit --recipe FILE [--seeds 0,1,2] [--out-dir DIR] [--table FILE] [--jobs N]
    [--device D] [--dtype T]`` (``--device``/``--dtype`` override the recipe's)."""
    check_no_run_flags(args)
    recipe = load_recipe(args.recipe)
    overrides = {name: getattr(args, name) for name in ("device", "dtype") if getattr(args, name)}
    seeds = check_seeds("--seeds", args.seeds or [0])
    if args.jobs < 1:
        raise ValueError(f"--jobs {args.jobs} is not allowed; give an integer ≥ 1")
    directory = Path(args.out_dir or f"results/runs/{Path(args.recipe).stem}")
    runs = plan(recipe, seeds, directory, overrides)  # validates the recipe before training
    runs = select_named(runs, args.only, lambda run: run.path, lambda: name_parts(runs))
    check_output_folder(directory)
    if args.table is not None:
        check_markdown_output(args.table)
        from .tables import check_table_kind

        check_table_kind(recipe)
    check_kept_runs(runs)
    check_entries(runs)
    if args.dry_run:
        todo = [planned for planned in runs if not completed(planned)]
        print(f"{counted(len(runs), 'run')} planned, {len(runs) - len(todo)} already done")
        for planned in todo:
            print(f"  would run {planned.path}")
        return 0
    failed = 0
    if args.table is None or not all(completed(planned) for planned in runs):
        failed = run_planned(runs, args.jobs)
    have_runs = any(planned.path.exists() for planned in runs)
    if args.table is not None and have_runs:
        from .tables import make_table

        command = shlex.join(["pinnkan", *sys.argv[1:]]) if sys.argv else "pinnkan fit"
        kept = write_generated_markdown(args.table, make_table(recipe, runs, command))
        print(f"table: {args.table}" + ("; hand-written notes kept" if kept else ""))
    return exit_status(failed, len(runs), None if have_runs else args.table)
