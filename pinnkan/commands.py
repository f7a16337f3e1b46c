"""Handlers of the ``pinnkan`` subcommands: map parsed flags 1:1 onto library calls."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import fields
from typing import Any

import torch

from . import distributed
from .device import resolve_dtype
from .nn.build import get_spec, list_models, model_options
from .presets import (
    PRESET,
    builtin_names,
    list_presets,
    load_preset,
    preset_model_options,
    preset_train,
)
from .problems import list_problems
from .results import read_run
from .runner import SolveSpec, resume_pde, solve_pde
from .summary import format_summary, new_run_path, summary
from .train import TrainConfig
from .unused_flags import note_unused_flags, solve_reasons
from .validation import check_int

MODEL_FLAGS = (
    "grid",
    "k",
    "grid_range",
    "centers",
    "wavelet",
    "activation",
    "bias",
    "meta_hidden",
    "meta_bias",
    "meta_activation",
    "meta_init",
    "node_mean",
    "prompt_dim",
    "clusters",
    "meta_fan_in",
)


def given(args: argparse.Namespace, names: Any) -> dict[str, Any]:
    """The flags among ``names`` that the user set (not None)."""
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def train_config(args: argparse.Namespace, preset: dict[str, Any]) -> TrainConfig:
    """TrainConfig defaults, overridden by the preset's [train] table, overridden by flags."""
    return preset_train(preset, given(args, [f.name for f in fields(TrainConfig)]))


def model_config(args: argparse.Namespace, preset: dict[str, Any]) -> dict[str, Any]:
    """Preset [model] options the model accepts, overridden by flags (all of which must apply)."""
    return preset_model_options(preset, args.model, model_flags(args, args.model))


def model_flags(args: argparse.Namespace, model: str) -> dict[str, Any]:
    """The model flags given, as options; one the model does not take is one line naming the
    flag (not the Python keyword) and the model's own flags."""
    flags = given(args, MODEL_FLAGS)
    options = model_options(model)
    for name in flags:
        if name not in options:
            own = ", ".join("--" + option.replace("_", "-") for option in options)
            raise ValueError(
                f"--{name.replace('_', '-')} is not a flag of model {model!r}; its flags: {own}"
            )
    return flags


def check_meta_rates(args: argparse.Namespace) -> None:
    """``--prompt-lr`` and ``--meta-lr`` set rates of a meta model's own parameters: given for
    another model they would be ignored, so they are refused (a preset's rates apply only where
    the model has such parameters, and are kept silently)."""
    if get_spec(args.model).meta:
        return
    meta = [name for name in list_models() if get_spec(name).meta]
    for name in ("prompt_lr", "meta_lr"):
        value = getattr(args, name, None)
        if value is not None:
            raise ValueError(
                f"--{name.replace('_', '-')} {value:g} applies only to meta models "
                f"({', '.join(meta)}); model {args.model!r} has no prompts or meta-learner, "
                "so leave it out"
            )


def solve_spec(args: argparse.Namespace) -> SolveSpec:
    check_meta_rates(args)
    preset = load_preset(args.preset, PRESET) if args.preset else {}
    problem_options = dict(args.problem_option or [])
    for flag, key, value in (
        ("--dim", "dim", args.dim),
        ("--problem-seed", "seed", args.problem_seed),
    ):
        if value is None:
            continue
        if key in problem_options and str(problem_options[key]) != str(value):
            raise ValueError(
                f"--problem-option {key}={problem_options[key]} disagrees with {flag} {value}; "
                "give one of them"
            )
        problem_options[key] = value
    return SolveSpec(
        problem=args.problem,
        problem_options=problem_options,
        model=args.model,
        model_options=model_config(args, preset),
        width=args.width,
        train=train_config(args, preset),
        preset=args.preset,
        device=args.device,
        dtype=args.dtype,
    )


class Progress:
    """A one-line progress bar on stderr: step, loss, relative ℓ2, speed and time left.

    The speed is steps over training time, ``record["train_time_s"]`` where the trainer logs it
    (its clock leaves out set-up and the warm-up, and goes on across a resume, as the steps do);
    else it is measured from the first call on.
    """

    def __init__(self, steps: int) -> None:
        self.steps = steps
        self.first: tuple[int, float] | None = None  # (step, clock) of the first call

    def __call__(self, step: int, record: dict) -> None:
        rate = self.rate(step, record)
        left = (self.steps - step) / rate if rate > 0 else math.nan
        filled = int(20 * step / self.steps)
        bar = "#" * filled + "." * (20 - filled)
        error = f" rel_l2 {record['rel_l2']:.3e}" if "rel_l2" in record else ""
        speed = f"{rate:.1f} it/s, {left:.0f}s left" if math.isfinite(left) else "-- it/s"
        line = f"[{bar}] {step}/{self.steps} loss {record['loss']:.3e}{error} {speed}"
        if sys.stderr.isatty():
            print("\r" + line, end="" if step < self.steps else "\n", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)

    def rate(self, step: int, record: dict) -> float:
        """Steps per second of training so far (NaN before it can be told)."""
        seconds = record.get("train_time_s")
        if seconds is not None and seconds > 0:
            return step / seconds
        now = time.perf_counter()
        if self.first is None:
            self.first = (step, now)
        first_step, first_time = self.first
        return (step - first_step) / (now - first_time) if now > first_time else math.nan


MAX_THREADS = 1024  # torch's thread pool crashes (SIGSEGV) far above this (100,000)


def set_threads(threads: int) -> None:
    """torch's CPU threads; more than the machine's CPUs over all processes (torchrun's
    WORLD_SIZE) is a note, from process 0 only (the threads wait on each other)."""
    check_int("--threads", threads, 1, MAX_THREADS)
    cpus, processes = os.cpu_count() or 1, distributed.environment_int("WORLD_SIZE", 1)
    if threads * processes > cpus and distributed.is_main():
        each = f" in each of {processes} processes" if processes > 1 else ""
        print(
            f"pinnkan: note: --threads {threads}{each} is more than this machine's {cpus} CPUs; "
            "the threads will wait on each other",
            file=sys.stderr,
        )
    torch.set_num_threads(threads)


def solve(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    spec = solve_spec(args)
    note_unused_flags(args, solve_reasons(args, spec.train))
    note_large_boundary(spec.train, args.dim, spec.dtype)
    out = args.out or str(
        new_run_path("results/runs", spec.problem, spec.model, args.dim, spec.train.seed)
    )
    progress = None if args.quiet else Progress(spec.train.steps)
    if args.engine == "deepxde":
        from .interop.deepxde_solve import solve_with_deepxde  # imports deepxde: only on request

        return finish(solve_with_deepxde(spec, out, progress), out)
    return finish(solve_pde(spec, out, progress), out)


def note_large_boundary(train: TrainConfig, dim: int | None, dtype: str) -> None:
    """A soft constraint's boundary points over 1 GiB a step (N_b = 100·d by default: 1.6 GB at
    d = 2000, the ``paper`` preset's) is a note naming the flag that draws fewer."""
    if dim is None:
        return
    count = train.boundary_point_count(dim)
    size = count * dim * resolve_dtype(dtype).itemsize
    if size > 2**30 and distributed.is_main():
        print(
            f"pinnkan: note: {count:,} boundary points × d = {dim:,} are {size / 2**30:.1f} GiB "
            "drawn every step (the default N_b = 100·d); --boundary-points draws fewer",
            file=sys.stderr,
        )


def resume(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    steps = args.steps
    progress = None
    if not args.quiet:
        total = (
            steps
            or read_run(args.run, load_model=False, load_test_set=False).config["train"]["steps"]
        )
        progress = Progress(total)
    return finish(resume_pde(args.run, steps, progress, args.device), args.run)


def finish(run, out: str) -> int:
    """Print the summary (rank 0 only); a run that did not complete says why and exits 1."""
    if not distributed.is_main():
        return 0 if run.status == "completed" else 1
    print(format_summary(run))
    print(f"run file: {out}")
    if run.status == "completed":
        note_unlearned(run)
        return 0
    print(f"pinnkan: {run.status}: {run.metrics.get('message', '')}", file=sys.stderr)
    if run.status == "interrupted":
        print(f"pinnkan: continue with: pinnkan resume {out}", file=sys.stderr)
    return 1


def note_unlearned(run) -> None:
    """A completed run whose relative L2 error is above 1 (û further from u than 0 is) learned
    nothing useful, though its loss stayed finite (e.g. Adam at a huge --lr): one note."""
    error = run.metrics.get("rel_l2")
    if isinstance(error, float) and math.isfinite(error) and error > 1:
        print(
            f"pinnkan: note: relative L2 error {error:.3g} > 1: the solution was not learned; "
            f"try a smaller --lr (this run: {run.config.get('train', {}).get('lr')}) or more steps",
            file=sys.stderr,
        )


def show(args: argparse.Namespace) -> int:
    run = read_run(args.run, load_model=False, load_checkpoint=False, load_test_set=False)
    if args.json:
        print(json.dumps(summary(run), default=str))
    else:
        print(format_summary(run))
    return 0


def list_all(args: argparse.Namespace) -> int:
    print("problems:")
    for name, description in list_problems().items():
        print(f"  {name:<14} {description}")
    print(
        "  path/file.py:Class  a user-defined problem class (a PDE for solve, a Regression for fit)"
    )
    print("models:")
    for name in list_models():
        options = ", ".join(f"{k}={v}" for k, v in model_options(name).items())
        print(f"  {name:<14} {options}")
    print("presets:")
    for name, description in list_presets().items():
        print(f"  {name:<14} {description}")
    for name in builtin_names(PRESET):  # a sweep recipe serves as a preset too
        if name not in list_presets():
            print(
                f"  {name:<14} recipe {name}'s [train] and [model] tables, without the keys "
                "its [[runs]] blocks add"
            )
    print("recipes (pinnkan sweep / pinnkan fit --recipe):")
    for name, description in list_presets(recipes=True).items():
        print(f"  {name:<14} {description}")
    return 0


def bench(args: argparse.Namespace) -> int:
    if args.which == "laplacian":
        from .bench.laplacian import main as run
    else:
        from .bench.memory import main as run
    try:
        return run(args.options) or 0
    except SystemExit as exit_request:  # the benchmark's own parser: errors (2), --help (0)
        return 0 if exit_request.code is None else int(exit_request.code)
