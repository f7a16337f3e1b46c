"""``pinnkan sweep RECIPE``: run a grid of PDE solves described in TOML (e.g. the paper's Table 8).

A recipe is a preset (``[train]`` and ``[model]`` tables, see :mod:`pinnkan.presets`) plus blocks
of runs, each the product of its lists::

    description = "Table 8: Poisson, Allen–Cahn, Sine–Gordon at d = 20, 50, 100"
    [train]                      # TrainConfig fields shared by every run
    steps = 10000
    [model]                      # model options, given to the models that accept them
    meta_hidden = 128
    [[runs]]
    problem = ["poisson", "allen_cahn", "sine_gordon"]
    dim = [20, 50, 100]
    model = ["kan", "metakan", "mlp"]
    # any other key: a TrainConfig field or an option of one of this block's models, or
    # hidden = [100, 32, 32]     # the hidden widths: width = [d, *hidden, 1] (default 32, 32, 32)
    # tag = "wide"               # part of the run file names, to tell this block's runs apart
    # coefficients = "numpy"     # the two-body coefficients' random stream (problem option)
    # problem_seed = "training"  # the exact solution's seed: an integer, or "training" for the
    #                            # run's training seed (one instance per seed, as the SDGD/STDE
    #                            # scripts do); default: the problem's own default (0)

    pinnkan sweep table8 --seeds 0,1,2 --out-dir results/runs/table8 --jobs 2

Each (run × seed) writes ``<out-dir>/<problem>-d<dim>-<model>[-<tag>]-s<seed>.h5`` (in the problem,
every run of characters other than letters, digits, "." and "_" becomes one "-", and leading
and trailing "-" and "." are dropped); runs whose
file already holds a completed run are skipped, and an unfinished run of the same settings
(interrupted, failed, or stopped while running) continues from its checkpoint, so a sweep that
stopped continues where it stopped.
Runs go to ``--jobs`` worker processes, one torch thread each. A key the recipe format does not
define is an error, not ignored; the training seeds come from ``--seeds``, not from the recipe.
Before the output folder is made (and in a ``--dry-run``), the device, every run file and each
entry's problem, model and options are checked, and each ``--only`` filter must match a run: a bad
flag or recipe is one ``pinnkan: error:`` line, exit 2, and leaves nothing behind.
"""

from __future__ import annotations

import argparse
import itertools
import os
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from .batch import exit_status, failure_line, product_axis, select_named
from .device import resolve_device
from .kept_runs import first_difference, refuse_other_settings, settings_difference, stored_run
from .presets import SWEEP_RECIPE, check_keys, load_preset
from .results import check_writable
from .runner import SolveSpec, prepare, resume_pde, solve_pde, spec_to_dict
from .summary import slug
from .train import TrainConfig
from .validation import check_choice, check_int, check_seeds
from .wording import counted
from .workers import run_all

PRODUCT_KEYS = ("problem", "dim", "model")
BLOCK_KEYS = ("hidden", "tag", "coefficients", "problem_seed")  # read by the sweep itself


def plan(recipe: dict[str, Any], seeds: list[int], out_dir: Path) -> list[tuple[SolveSpec, Path]]:
    """Every (block entry × seed) as a :class:`SolveSpec` and its run file path."""
    train_names = {f.name for f in fields(TrainConfig)} - {"seed"}  # the seeds: --seeds
    check_keys("[train]", recipe.get("train", {}), train_names)
    runs = recipe.get("runs")
    if not runs:
        raise ValueError("the recipe has no [[runs]] block")
    planned = []
    for block in runs:
        missing = [key for key in PRODUCT_KEYS if key not in block]
        if missing:
            raise ValueError(
                f"a [[runs]] block lacks {missing[0]!r}; each needs {', '.join(PRODUCT_KEYS)}"
            )
        check_keys("[[runs]] block", block, block_keys(block, train_names))
        hidden, tag = block_layout(block)
        check_problem_keys(block)
        extra = {k: v for k, v in block.items() if k not in PRODUCT_KEYS + BLOCK_KEYS}
        train = {**recipe.get("train", {}), **{k: v for k, v in extra.items() if k in train_names}}
        model_extra = {k: v for k, v in extra.items() if k not in train_names}
        lists = [product_axis(block, key) for key in PRODUCT_KEYS]
        for problem, dim, model in itertools.product(*lists):
            options = model_options_for(model, {**recipe.get("model", {}), **model_extra})
            for seed in seeds:
                spec = SolveSpec(
                    problem=problem,
                    problem_options=problem_options_for(block, dim),
                    model=model,
                    model_options=options,
                    width=None if hidden is None else [dim, *hidden, 1],
                    train=TrainConfig(**{**train, "seed": seed}),
                    preset=recipe.get("name"),
                    device="auto",
                )
                name = "-".join([slug(problem), f"d{dim}", model, *tag, f"s{seed}"])
                planned.append((spec, out_dir / f"{name}.h5"))
    check_distinct_files(planned)
    return planned


def check_distinct_files(planned: list[tuple[SolveSpec, Path]]) -> None:
    """Two runs of a recipe must not write one file (the second would overwrite or, on a rerun,
    skip the first): blocks that differ in a key the file name leaves out need tags."""
    first: dict[Path, SolveSpec] = {}
    for spec, path in planned:
        if path in first:
            raise ValueError(
                f"two runs of the recipe would both write {path.name} (problem {spec.problem!r}, "
                f"model {spec.model!r}, seed {spec.train.seed}); give their [[runs]] blocks "
                'different tags (tag = "…")'
            )
        first[path] = spec


def block_keys(block: dict[str, Any], train_names: set[str]) -> set[str]:
    """The keys a ``[[runs]]`` block may have: the product and block keys, the TrainConfig
    fields ``train_names`` and the options of the block's models."""
    from .nn.build import model_options

    options = {key for model in product_axis(block, "model") for key in model_options(model)}
    return {*PRODUCT_KEYS, *BLOCK_KEYS, *train_names, *options}


def block_layout(block: dict[str, Any]) -> tuple[list[int] | None, list[str]]:
    """A block's ``hidden`` widths (None: the default) and its file-name ``tag`` (0 or 1 part)."""
    hidden, tag = block.get("hidden"), block.get("tag")
    if hidden is not None and not (
        isinstance(hidden, list)
        and hidden
        and all(isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in hidden)
    ):
        raise ValueError(
            f"hidden={hidden!r} is not allowed; it must be a list of positive integers"
        )
    if tag is not None and not (isinstance(tag, str) and tag.replace("_", "").isalnum()):
        raise ValueError(f"tag={tag!r} is not allowed; it must be letters, digits or '_'")
    return hidden, [] if tag is None else [tag]


def check_problem_keys(block: dict[str, Any]) -> None:
    """A block's ``coefficients`` law and ``problem_seed`` (an integer ≥ 0 or "training")."""
    from pinnkan.problems.two_body import COEFFICIENT_LAWS

    if "coefficients" in block:
        check_choice("coefficients", block["coefficients"], COEFFICIENT_LAWS)
    seed = block.get("problem_seed")
    if (
        seed is not None
        and seed != "training"
        and not (isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0)
    ):
        raise ValueError(f'problem_seed={seed!r} is not allowed; give an integer ≥ 0 or "training"')


def problem_options_for(block: dict[str, Any], dim: int) -> dict[str, Any]:
    """The problem's keywords for the runs of ``block`` at dimension ``dim``."""
    options: dict[str, Any] = {"dim": dim}
    if "coefficients" in block:
        options["coefficients"] = block["coefficients"]
    if block.get("problem_seed") is not None:
        options["seed"] = block["problem_seed"]  # "training": resolved by the runner
    return options


def model_options_for(model: str, options: dict[str, Any]) -> dict[str, Any]:
    """The recipe's model options that ``model`` accepts."""
    from .nn.build import model_options

    accepted = model_options(model)
    return {k: tuple(v) if k == "grid_range" else v for k, v in options.items() if k in accepted}


def done(path: Path, spec: SolveSpec) -> bool:
    """Whether ``path`` holds a completed run of ``spec`` (kept, not trained again); a completed
    run of other settings is refused (:mod:`pinnkan.kept_runs`)."""
    stored = stored_run(path)
    if stored is None or stored.status != "completed":
        return False
    refuse_other_settings(path, spec_difference(stored.config, spec))
    return True


def spec_difference(config: dict[str, Any], spec: SolveSpec) -> str:
    """The first setting in which a run file's ``config`` differs from ``spec``
    (:func:`pinnkan.kept_runs.settings_difference`); "" when none does."""
    stored_model = config.get("model")
    spec_part = settings_difference(
        config.get("spec") or {}, spec_to_dict(spec), stored_model, "spec."
    )
    return spec_part or first_difference(config.get("train") or {}, spec.train.to_dict(), "train.")


def run_one(job: tuple[SolveSpec, str, str]) -> tuple[bool, str]:
    """Worker: one solve with one torch thread; returns whether it did not fail and a line for
    the log."""
    import torch

    spec, out, device = job
    torch.set_num_threads(1)
    continued = unfinished(Path(out), spec)
    try:
        if continued:
            run = resume_pde(out, device=device)
        else:
            run = solve_pde(replace(spec, device=device), out)
    except (RuntimeError, ValueError) as error:  # one failed run must not stop the others
        return False, failure_line(out, error)
    how = " (continued from its checkpoint)" if continued else ""
    if run.status != "completed":  # diverged: its file keeps the last good checkpoint
        return False, f"{out}: FAILED ({run.status}{how}: {run.metrics.get('message', '')})"
    rel_l2 = run.metrics.get("rel_l2", float("nan"))
    return True, f"{out}: {run.status}{how}, rel_l2 {rel_l2:.3e}"


def unfinished(path: Path, spec: SolveSpec) -> bool:
    """Whether ``path`` holds an unfinished run of this very ``spec`` (interrupted, failed, or
    stopped while "running", with a checkpoint): the sweep then continues it (``pinnkan
    resume``) instead of training it again from step 0. A run of other settings (the recipe
    changed) or a diverged one starts again."""
    stored = stored_run(path, checkpoint=True)
    if stored is None or stored.status not in ("running", "interrupted", "failed"):
        return False
    return stored.checkpoint is not None and not spec_difference(stored.config, spec)


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="a built-in recipe (e.g. table8) or a .toml file")
    from .cli import int_list, path_text

    parser.add_argument(
        "--seeds", type=int_list, default=[0], help="comma-separated training seeds (default 0)"
    )
    parser.add_argument("--out-dir", type=path_text, required=True, help="folder for the run files")
    parser.add_argument("--jobs", type=int, default=1, help="parallel worker processes (default 1)")
    parser.add_argument(
        "--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)"
    )
    parser.add_argument(
        "--only",
        help="comma-separated filters on run names (substring match; each must match a run)",
    )
    parser.add_argument("--dry-run", action="store_true", help="list the runs, train nothing")


def select(planned: list[tuple[SolveSpec, Path]], only: str | None) -> list[tuple[SolveSpec, Path]]:
    """:func:`pinnkan.batch.select_named` on the sweep's (spec, path) pairs."""
    return select_named(planned, only, lambda run: run[1], lambda: name_parts(planned))


def name_parts(planned: list[tuple[SolveSpec, Path]]) -> str:
    """What the run names of ``planned`` are made of, for a message."""
    parts: dict[str, set] = {key: set() for key in ("problem", "dim", "model", "tag", "seed")}
    for spec, path in planned:
        dim, seed, problem = spec.problem_options["dim"], spec.train.seed, slug(spec.problem)
        head, tail = f"{problem}-d{dim}-{spec.model}", f"-s{seed}"
        tag = path.stem.removeprefix(head).removesuffix(tail).removeprefix("-")
        for key, value in zip(parts, (problem, dim, spec.model, tag, seed)):
            if value != "":
                parts[key].add(value)
    listed = "; ".join(
        f"{key} {', '.join(map(str, sorted(values)))}" for key, values in parts.items() if values
    )
    return f"run names are PROBLEM-dDIM-MODEL[-TAG]-sSEED with {listed}"


def check_runs(todo: list[tuple[SolveSpec, Path]], device: str) -> None:
    """Before anything is created: every run file can be written, and each recipe entry's
    problem, model and options are valid on ``device`` (one check per entry: the seeds change
    only the initialisation)."""
    entries: dict[str, SolveSpec] = {}
    for spec, path in todo:
        check_writable(path, note=False)
        entries.setdefault(path.name.removesuffix(f"-s{spec.train.seed}.h5"), spec)
    for spec in entries.values():
        prepare(replace(spec, device=device))


def run_sweep(args: argparse.Namespace) -> int:
    check_int("--jobs", args.jobs, 1)
    resolve_device(args.device)  # before planning, the dry run included
    out_dir = Path(args.out_dir)
    seeds = check_seeds("--seeds", args.seeds or [0])
    planned = plan(load_preset(args.recipe, SWEEP_RECIPE), seeds, out_dir)
    planned = select(planned, args.only)
    todo = [(spec, path) for spec, path in planned if not done(path, spec)]
    check_runs(todo, args.device)
    print(f"{counted(len(planned), 'run')} planned, {len(planned) - len(todo)} already done")
    if args.dry_run:
        for _, path in todo:
            print(f"  would run {path}")
        return 0
    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    jobs = [(spec, str(path), args.device) for spec, path in todo]
    failed: list[str] = []

    def report(result: tuple[bool, str]) -> None:
        finished, line = result
        if not finished:
            failed.append(line)
        print(line, flush=True)

    try:  # worker processes even for --jobs 1: an interrupted solve must stop the sweep
        run_all(run_one, jobs, args.jobs, report)
    except KeyboardInterrupt:
        print("sweep interrupted; rerun the same command to continue", flush=True)
        return 1
    return exit_status(len(failed), len(jobs), continues=True)
