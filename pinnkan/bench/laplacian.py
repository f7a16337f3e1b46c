"""Time and memory of one physics-informed training step per Laplacian engine.

For every (d, model, points, engine) one training step of the hard-constrained network
û = (1 − |x|²)·N(x) is measured:

    u, Δu = laplacian(û, x, engine)        (forward | autograd | sdgd | hutchinson)
    loss  = mean((Δu − g)²),  g(x) = Σ_i sin x_i       (a Poisson-like residual)
    loss.backward()

Backbones have width [d, 32, 32, 32, 1]: KAN and MetaKAN with G = 5, k = 3 (MetaKAN meta-learner
hidden 128), MLP with tanh; any other registered name with its defaults. Points are
direction·r, r ~ U(0, 1) (float32).

* time: median of ``repeats`` steps after one warm-up step (fewer repeats, at least one, when a
  step takes longer than ``max_seconds / repeats``). The models and engines of one (d, points)
  are timed in interleaved rounds, one step of each per round, so that they share the same
  stretches of a machine whose speed drifts;
* paired ratio: per round, a case's step time over the first model's (same engine, same round),
  then the median (``paired_ratio_vs_model``; e.g. MetaKAN / KAN with ``--model kan,metakan``);
* memory: on CUDA the peak of ``torch.cuda.memory_allocated`` during one step above its value
  before the step (parameters, points and the other models of the group excluded; gradients
  included); on CPU a deterministic
  proxy, the bytes of the distinct storages autograd saves for the backward pass while the loss
  is built (``torch.autograd.graph.saved_tensors_hooks``, deduplicated by storage, parameters
  excluded), i.e. what the step holds when backward starts;
* CPU time: median process CPU time of the same steps (``time.process_time``); with one torch
  thread it is the wall-clock time minus what other processes on a shared machine take away;
* speed-up: the autograd step time over this engine's (wall-clock and CPU), measured in the
  same run.

The autograd loop is skipped (and marked) for d > ``autograd_max_dim`` or d²·points >
``autograd_max_work``: its graph grows like d²·points (13.6 GB saved for backward for KAN at
d = 100 with 2,000 points), so d = 1,000 with 100 points would need about 70 GB.

Run: ``pinnkan bench laplacian --dim 20,100 --model kan,metakan,mlp
--points 100,2000 --out results/bench_laplacian.csv``.
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys
import time
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from pinnkan.cli import ArgumentParser, int_list
from pinnkan.derivatives import ESTIMATORS, laplacian
from pinnkan.device import draw, resolve_device, synchronize
from pinnkan.environment import describe_meta_kernels
from pinnkan.malloc import malloc_setting
from pinnkan.nn import build_model, count_parameters
from pinnkan.nn.build import list_models
from pinnkan.nn.constraint import BallHardConstraint
from pinnkan.validation import check_int, check_positive

from .rounds import Case, interleaved_rounds, paired_ratio, time_columns, timed_step
from .saved import saved_for_backward_bytes
from .table import (
    add_machine_arguments,
    check_counts,
    check_csv_path,
    check_names,
    check_threads,
    describe_device,
    write_csv,
)

ENGINES = ("forward", "autograd", "sdgd", "hutchinson")
HIDDEN = (32, 32, 32)

COLUMNS = [
    "dim",
    "model",
    "points",
    "engine",
    "samples",
    "parameters",
    "step_ms",
    "step_ms_min",
    "step_cpu_ms",
    "repeats",
    "memory_bytes",
    "memory_mb",
    "memory_kind",
    "speedup_vs_autograd",
    "speedup_cpu_vs_autograd",
    "vs_model",
    "paired_ratio_vs_model",
    "status",
]

COLUMN_NOTES = {  # the CSV's "# columns:" line: every column, in order
    "dim": "input dimension d",
    "model": "kan, metakan or mlp, [d, 32, 32, 32, 1]",
    "points": "collocation points per step",
    "engine": "Laplacian engine",
    "samples": "coordinates (sdgd, at most d) or probes (hutchinson) per point; empty if exact",
    "parameters": "trainable parameters",
    "step_ms": "median wall-clock ms of one step",
    "step_ms_min": "fastest repeat's wall-clock ms",
    "step_cpu_ms": "median process-CPU ms of one step",
    "repeats": "timed repeats (fewer than asked when a step is slow: --max-seconds)",
    "memory_bytes": "see memory_kind",
    "memory_mb": "memory_bytes / 2^20",
    "memory_kind": "saved_for_backward (CPU: distinct storages autograd saves) or "
    "cuda_step_peak (CUDA: the step's peak above its start)",
    "speedup_vs_autograd": "the autograd step's step_ms / this engine's (same model, d, points)",
    "speedup_cpu_vs_autograd": "the same with step_cpu_ms",
    "vs_model": "the model paired_ratio_vs_model divides by (the first of --model)",
    "paired_ratio_vs_model": "median over rounds of this step / vs_model's step (same engine)",
    "status": "ok, or why the autograd step was not run (--autograd-max-dim/--autograd-max-work)",
}


def build_backbone(name: str, dim: int, generator: torch.Generator, **extra) -> nn.Module:
    """``[d, 32, 32, 32, 1]``: KAN/MetaKAN G = 5, k = 3, meta hidden 128; MLP tanh.

    ``extra``: further :func:`build_model` options (e.g. ``node_mean=True``).
    """
    options: dict = {}
    if name in ("kan", "metakan"):
        options.update(grid=5, k=3)
    if name.startswith("meta"):
        options["meta_hidden"] = 128
    if name == "mlp":
        options["activation"] = "tanh"
    return build_model(name, [dim, *HIDDEN, 1], generator=generator, **options, **extra)


def ball_points(count: int, dim: int, generator: torch.Generator) -> Tensor:
    """direction · r with r ~ U(0, 1): ``(count, dim)``."""
    direction = draw(torch.randn, count, dim, generator=generator)
    radius = draw(torch.rand, count, 1, generator=generator)
    return direction / direction.norm(dim=1, keepdim=True) * radius


def training_step(
    model: nn.Module, x: Tensor, forcing: Tensor, engine: str, samples: int | None, seed: int
) -> Callable[[], Tensor]:
    """A function building the residual loss of one step (the caller runs backward)."""
    generator = torch.Generator().manual_seed(seed)

    def loss() -> Tensor:
        model.zero_grad(set_to_none=True)
        extra = {"samples": samples, "generator": generator} if engine in ESTIMATORS else {}
        _, lap = laplacian(model, x, engine, **extra)
        return (lap - forcing).pow(2).mean()

    return loss


def warm_up(case: Case, device: torch.device, repeats: int, max_seconds: float) -> None:
    """The warm-up step (on CPU it also measures the memory proxy); plans the timed repeats."""
    exclude = {p.untyped_storage().data_ptr() for p in case.model.parameters()}
    start = time.perf_counter()
    if device.type == "cuda":  # the step's own peak: the group's other models stay allocated
        case.model.zero_grad(set_to_none=True)
        synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        timed_step(case.loss, device)
        memory, kind = torch.cuda.max_memory_allocated(device) - before, "cuda_step_peak"
    else:
        memory, kind = saved_for_backward_bytes(case.loss, exclude), "saved_for_backward"
    warmup = time.perf_counter() - start
    case.planned = max(1, min(repeats, int(max_seconds / max(warmup, 1e-9))))
    case.row.update(memory_bytes=memory, memory_mb=round(memory / 2**20, 3), memory_kind=kind)


def check_options(
    dims: Sequence[int],
    models: Sequence[str],
    points: Sequence[int],
    engines: Sequence[str],
    repeats: int,
    samples: int,
    autograd_max_dim: int,
    max_seconds: float,
    autograd_max_work: float,
    threads: int | None,
) -> None:
    """The checks of :func:`run_laplacian_benchmark`'s arguments (one-line ``ValueError``)."""
    check_counts("dim", dims)
    check_names("model", models, list_models())
    check_counts("points", points)
    check_names("engine", engines, ENGINES)
    check_int("repeats", repeats, 1)
    check_int("samples", samples, 1)
    check_int("autograd_max_dim", autograd_max_dim, 0)
    check_positive("max_seconds", max_seconds)
    check_positive("autograd_max_work", autograd_max_work)
    check_threads(threads)


def run_laplacian_benchmark(
    dims: Sequence[int],
    models: Sequence[str],
    points: Sequence[int],
    engines: Sequence[str] = ("forward", "autograd", "sdgd"),
    repeats: int = 5,
    device: str = "cpu",
    samples: int = 16,
    autograd_max_dim: int = 1000,
    max_seconds: float = 60.0,
    seed: int = 0,
    threads: int | None = 1,
    report: Callable[[dict], None] | None = None,
    autograd_max_work: float = 2.5e7,
) -> list[dict]:
    """One row per (d, model, points, engine); see the module docstring.

    Args:
        device: "cpu", "cuda", "cuda:N" or "auto" (CUDA when available).
        samples: |S| for SDGD (at most d) and the number of Hutchinson probes.
        autograd_max_dim: the autograd loop is skipped above this d.
        autograd_max_work: ... or when d²·points exceeds this (memory grows like it).
        max_seconds: time budget for the repeats of one case (at least one repeat runs).
        threads: ``torch.set_num_threads`` for the run (None: leave it), restored after.
        report: called with each row as soon as its group is measured (e.g. print).

    Every argument is checked before anything runs (``ValueError``, one line).
    """
    check_options(dims, models, points, engines, repeats, samples, autograd_max_dim,
                  max_seconds, autograd_max_work, threads)  # fmt: skip
    torch_device = resolve_device(device)
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    rows: list[dict] = []
    try:
        for dim in dims:
            for count in points:
                skip_autograd = autograd_skip_reason(
                    dim, count, autograd_max_dim, autograd_max_work
                )
                group = measure_group(
                    dim, models, count, engines, repeats, torch_device, samples,
                    skip_autograd, max_seconds, seed,
                )  # fmt: skip
                for row in group:
                    if report is not None:
                        report(row)
                rows.extend(group)
    finally:
        torch.set_num_threads(previous_threads)
    return sorted(rows, key=lambda row: (dims.index(row["dim"]), models.index(row["model"])))


def autograd_skip_reason(dim: int, count: int, max_dim: int, max_work: float) -> str | None:
    """Why the autograd loop is not run for (d, points), or None."""
    if dim > max_dim:
        return f"skipped: d > {max_dim}"
    if dim * dim * count > max_work:
        return f"skipped: d^2*points > {max_work:.3g}"
    return None


def model_cases(
    dim: int,
    name: str,
    count: int,
    engines: Sequence[str],
    device: torch.device,
    samples: int,
    skip_autograd: str | None,
    seed: int,
) -> list[Case]:
    """The cases of one model on (d, points), autograd first (the rows' order)."""
    generator = torch.Generator().manual_seed(seed)
    model = BallHardConstraint(build_backbone(name, dim, generator)).to(device)
    x = ball_points(count, dim, generator).to(device)
    forcing = torch.sin(x).sum(dim=1)
    cases = []
    for engine in sorted(engines, key=lambda engine: engine != "autograd"):
        used = min(samples, dim) if engine == "sdgd" else samples
        row = {
            "dim": dim,
            "model": name,
            "points": count,
            "engine": engine,
            "samples": used if engine in ESTIMATORS else "",
            "parameters": count_parameters(model),
        }
        loss = None
        if engine == "autograd" and skip_autograd is not None:
            row["status"] = skip_autograd
        else:
            loss = training_step(model, x, forcing, engine, row["samples"] or None, seed)
            row["status"] = "ok"
        cases.append(Case(row, model, loss))
    return cases


def measure_group(
    dim: int,
    models: Sequence[str],
    count: int,
    engines: Sequence[str],
    repeats: int,
    device: torch.device,
    samples: int,
    skip_autograd: str | None,
    max_seconds: float,
    seed: int,
) -> list[dict]:
    """All models and engines on one (d, points), their timed steps interleaved
    (:func:`interleaved_rounds`); speed-ups against the same model's autograd loop, paired
    ratios against the first model's same engine."""
    by_model = {
        name: model_cases(dim, name, count, engines, device, samples, skip_autograd, seed)
        for name in models
    }
    cases = [case for group in by_model.values() for case in group]
    running = [case for case in cases if case.loss is not None]
    for case in running:
        warm_up(case, device, repeats, max_seconds)
    interleaved_rounds(running, device)
    for case in running:
        case.row.update(time_columns(case))
    base = {case.row["engine"]: case for case in by_model[models[0]] if case.loss is not None}
    for group in by_model.values():
        reference = next((c.row for c in group if c.row["engine"] == "autograd" and c.times), None)
        for case in group:
            if case.loss is None:
                continue
            if reference is not None and case.row is not reference:
                case.row["speedup_vs_autograd"] = round(
                    reference["step_ms"] / case.row["step_ms"], 2
                )
                case.row["speedup_cpu_vs_autograd"] = round(
                    reference["step_cpu_ms"] / case.row["step_cpu_ms"], 2
                )
            engine_base = base.get(case.row["engine"])
            if engine_base is not None and engine_base is not case:
                case.row["vs_model"] = models[0]
                case.row["paired_ratio_vs_model"] = round(paired_ratio(case, engine_base), 3)
    return [case.row for case in cases]


# --- command line ---------------------------------------------------------------------------


def parse_names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def get_args_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="pinnkan bench laplacian", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dim", type=int_list, default=[20, 100], help="dimensions d, e.g. 20,100,1000 (20,100)"
    )
    parser.add_argument(
        "--model",
        type=parse_names,
        default=["kan", "metakan", "mlp"],
        help="backbones [d, 32, 32, 32, 1] (kan,metakan,mlp)",
    )
    parser.add_argument(
        "--points", type=int_list, default=[100, 2000], help="points per step (100,2000)"
    )
    parser.add_argument(
        "--engines",
        type=parse_names,
        default=["forward", "autograd", "sdgd"],
        help="Laplacian engines: forward, autograd, sdgd, hutchinson (forward,autograd,sdgd)",
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=16,
        help="SDGD |S| (at most d: min(samples, d) at each --dim; the CSV records it) / "
        "Hutchinson probes (16)",
    )
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed steps per case after a warm-up (5)"
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=60.0,
        help="time budget of one case's repeats, at least one runs (60)",
    )
    parser.add_argument(
        "--autograd-max-dim", type=int, default=1000, help="skip autograd above this d (1000)"
    )
    parser.add_argument(
        "--autograd-max-work",
        type=float,
        default=2.5e7,
        help="skip autograd above d^2*points (2.5e7)",
    )
    add_machine_arguments(parser, "models, points and the estimators' draws")
    parser.add_argument(
        "--out",
        default="results/bench_laplacian.csv",
        help="CSV file to write (results/bench_laplacian.csv)",
    )
    return parser


def print_row(row: dict) -> None:
    """One line per row: d, model, points, engine, step_ms, memory_mb, ``x`` the wall-clock
    speed-up over autograd, ``cpu x`` the CPU-time one, ``/model`` the paired ratio to the
    first model (the CSV's columns of those names), status."""
    speedup = row.get("speedup_vs_autograd", "")
    paired = row.get("paired_ratio_vs_model", "")
    versus = f"/{row['vs_model']} {paired:<6}" if paired != "" else " " * 12
    print(
        f"d={row['dim']:<6} {row['model']:<10} points={row['points']:<6} {row['engine']:<11}"
        f" {row.get('step_ms', ''):>10} ms  {row.get('memory_mb', ''):>9} MB"
        f"  x{speedup:<8} cpu x{row.get('speedup_cpu_vs_autograd', ''):<8} {versus} {row['status']}",
        flush=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    command = shlex.join(
        ["pinnkan", "bench", "laplacian", *(sys.argv[1:] if argv is None else argv)]
    )
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    check_options(args.dim, args.model, args.points, args.engines, args.repeats, args.samples,
                  args.autograd_max_dim, args.max_seconds, args.autograd_max_work,
                  args.threads or None)  # fmt: skip
    device = str(resolve_device(args.device))
    check_csv_path(args.out)  # after the options (its note is printed), before the measurements
    previous_threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    device_text = describe_device(device)
    torch.set_num_threads(previous_threads)
    rows = run_laplacian_benchmark(
        args.dim, args.model, args.points, args.engines, args.repeats, device,
        args.samples, args.autograd_max_dim, args.max_seconds, args.seed,
        args.threads or None, print_row, args.autograd_max_work,
    )  # fmt: skip
    header = {
        "command": command,
        "device": device_text,
        "torch": torch.__version__,
        "meta kernels": describe_meta_kernels(device),
        "malloc": malloc_setting(),
        "date": started,
        "seed": f"{args.seed} (models, points and the estimators' draws)",
        "points": "x = direction * r with r ~ U(0, 1) (radial law), drawn per case from the seed",
        "measured": (
            "one training step of (1-|x|^2)*N(x): Laplacian + mean((lap - sum sin x)^2) + "
            f"backward, float32; step_ms (wall) and step_cpu_ms (process CPU) = medians of up to {args.repeats} repeats after a "
            "warm-up, the models and engines of one (d, points) interleaved round by round; "
            "paired_ratio_vs_model = median over rounds of step / the first model's step (same engine); "
            "memory = bytes saved for backward (CPU) or the step's CUDA peak above its start"
        ),
        "columns": "; ".join(f"{name}: {note}" for name, note in COLUMN_NOTES.items()),
    }
    write_csv(rows, args.out, header, COLUMNS)
    print(f"wrote {len(rows)} rows to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
