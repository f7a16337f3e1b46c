"""Training steps with glibc's default malloc against pinnkan's heap reuse (``pinnkan.malloc``).

    python benchmarks/malloc_reuse.py --dims 100,1000,10000 --points 100 --steps 6 --rounds 3

The setting is process-wide and glibc's default cannot be restored in a process that changed
it, so each measurement runs in a fresh child process (``PINNKAN_MALLOC=0`` for the default),
and the two settings alternate ``rounds`` times so that a machine whose speed drifts affects
both alike. A child builds the ``pinnkan bench laplacian`` models ([d, 32, 32, 32, 1], float32,
one torch thread), runs two warm-up steps, then times ``steps`` training steps (forward
Laplacian engine + residual loss + backward + Adam) by wall clock and process CPU time, and
counts the minor page faults (``getrusage``); the parent prints, per (d, model), the medians
over all rounds, their ratio and the child's peak resident memory (``ru_maxrss``, largest over
the rounds).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch

from pinnkan.bench.laplacian import ball_points, build_backbone, training_step
from pinnkan.cli import int_list
from pinnkan.malloc import REUSE, malloc_setting, reuse_freed_memory
from pinnkan.nn.constraint import BallHardConstraint

SETTINGS = {"default": "0", "reuse": "1"}


def minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def child(dim: int, model_name: str, points: int, steps: int, seed: int) -> dict:
    """One model's timed steps in this process (after :func:`reuse_freed_memory`)."""
    reuse_freed_memory()
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(seed)
    model = BallHardConstraint(build_backbone(model_name, dim, generator))
    x = ball_points(points, dim, generator)
    loss = training_step(model, x, torch.sin(x).sum(dim=1), "forward", None, seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-6)
    wall, cpu, faults = [], [], []
    for index in range(steps + 2):
        start, start_cpu, start_faults = time.perf_counter(), time.process_time(), minor_faults()
        loss().backward()
        optimizer.step()
        if index >= 2:  # warm-up
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
            faults.append(minor_faults() - start_faults)
    return {
        "setting": malloc_setting(),
        "wall_ms": [1e3 * t for t in wall],
        "cpu_ms": [1e3 * t for t in cpu],
        "faults": faults,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_child(setting: str, dim: int, model: str, args: argparse.Namespace) -> dict:
    """:func:`child` in a fresh interpreter with ``PINNKAN_MALLOC`` for ``setting``."""
    command = [sys.executable, __file__, "--child", "--dims", str(dim), "--models", model,
               "--points", str(args.points), "--steps", str(args.steps), "--seed", str(args.seed)]  # fmt: skip
    env = {**os.environ, "PINNKAN_MALLOC": SETTINGS[setting]}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    result = json.loads(done.stdout.splitlines()[-1])
    if (result["setting"] == REUSE) != (setting == "reuse"):
        raise SystemExit(f"malloc_reuse: the {setting} child ran with {result['setting']!r}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int_list, default=[100, 1000, 10000])
    parser.add_argument("--models", default="kan,metakan")
    parser.add_argument("--points", type=int, default=100)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    models = args.models.split(",")
    if args.child:
        print(json.dumps(child(args.dims[0], models[0], args.points, args.steps, args.seed)))
        return
    print(
        f"points={args.points} steps={args.steps} rounds={args.rounds}  (medians over all timed steps)"
    )
    print("d      model    wall ms default / reuse (ratio)   cpu ms default / reuse (ratio)"
          "   faults/step default / reuse   max RSS MB default / reuse")  # fmt: skip
    for dim in args.dims:
        for model in models:
            runs: dict[str, list[dict]] = {name: [] for name in SETTINGS}
            for _ in range(args.rounds):
                for name in SETTINGS:
                    runs[name].append(run_child(name, dim, model, args))
            print(summary_line(dim, model, runs))


def summary_line(dim: int, model: str, runs: dict[str, list[dict]]) -> str:
    """One row: medians over every timed step of every round, per setting, and their ratios."""

    def median(name: str, key: str) -> float:
        return statistics.median(value for run in runs[name] for value in run[key])

    def pair(key: str, digits: int) -> str:
        default, reuse = median("default", key), median("reuse", key)
        ratio = f" ({reuse / default:.2f})" if key != "faults" else ""
        return f"{default:.{digits}f} / {reuse:.{digits}f}{ratio}"

    rss = [max(run["max_rss_mb"] for run in runs[name]) for name in SETTINGS]
    return (
        f"{dim:<6d} {model:8s} {pair('wall_ms', 1):>32s}   {pair('cpu_ms', 1):>30s}   "
        f"{pair('faults', 0):>27s}   {rss[0]:.0f} / {rss[1]:.0f}"
    )


if __name__ == "__main__":
    main()
