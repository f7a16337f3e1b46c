"""Hutchinson probes: one ``torch.randint`` draw per sign against 62 signs per random word.

    python benchmarks/rademacher_draw.py --dims 1000,10000 --repeats 30

Per d, with ``points`` × 16 probes × d signs (float32, one thread), the process CPU time (median
over the repeats, the two ways alternating) of:

* ``draw``: the probes alone: ``per-sign`` is what pinnkan did before 2026-12-07 (int8
  ``torch.randint(0, 2)`` per sign, then 2b − 1), ``packed`` is :func:`pinnkan.directions.rademacher`
  (the numba kernel where it runs, see ``PINNKAN_NUMBA``);
* ``step``: one Hutchinson training step of the MLP [d, 32, 32, 32, 1] of
  ``pinnkan bench laplacian`` (Laplacian + residual loss + backward), with each way of drawing.

The last column is the paired ratio packed / per-sign (median over the repeats).
"""

from __future__ import annotations

import argparse
import statistics
import time
from unittest import mock

import torch

from pinnkan import derivatives, directions
from pinnkan.bench.laplacian import ball_points, build_backbone, training_step
from pinnkan.malloc import reuse_freed_memory
from pinnkan.nn.constraint import BallHardConstraint

PROBES = 16


def per_sign(shape, generator, device, dtype) -> torch.Tensor:
    """The former draw: one int8 ``randint`` per sign on the generator's device, then 2b − 1."""
    draw_on = directions.sampling_device(generator, device)
    bits = torch.randint(0, 2, shape, generator=generator, device=draw_on, dtype=torch.int8)
    return (2 * bits.to(device) - 1).to(dtype)


def cpu_ms(action) -> float:
    start = time.process_time()
    action()
    return 1e3 * (time.process_time() - start)


def actions(dim: int, points: int, way) -> dict[str, object]:
    """The draw alone and a Hutchinson step, both drawing with ``way``."""
    generator = torch.Generator().manual_seed(0)
    shape = (points, PROBES, dim)
    model = BallHardConstraint(build_backbone("mlp", dim, generator))
    x = ball_points(points, dim, generator)
    loss = training_step(model, x, torch.sin(x).sum(dim=1), "hutchinson", PROBES, 0)

    def draw() -> None:
        way(shape, generator, torch.device("cpu"), torch.float32)

    def step() -> None:
        with mock.patch.object(derivatives, "draw_directions", drawing(way)):
            loss().backward()

    return {"draw": draw, "step": step}


def drawing(way):
    """``draw_directions`` with Hutchinson probes drawn by ``way`` (pinnkan's own for
    :func:`pinnkan.directions.rademacher`, which keeps them packed until a chunk needs them)."""
    if way is directions.rademacher:
        return directions.draw_directions

    def draw(method, x, samples, generator):
        if method != "hutchinson":
            return directions.draw_directions(method, x, samples, generator)
        probes = way((x.shape[0], samples, x.shape[1]), generator, x.device, x.dtype)
        return directions.Directions(x.shape[1], 1.0 / samples, vectors=probes)

    return draw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", default="1000,10000")
    parser.add_argument("--points", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    reuse_freed_memory()  # as the pinnkan command does
    torch.set_num_threads(1)
    for dim in (int(text) for text in args.dims.split(",")):
        ways = {"per-sign": per_sign, "packed": directions.rademacher}
        timed = {name: actions(dim, args.points, way) for name, way in ways.items()}
        times: dict[tuple[str, str], list[float]] = {}
        for repeat in range(args.repeats + 2):
            for name, parts in timed.items():
                for part, action in parts.items():
                    elapsed = cpu_ms(action)
                    if repeat >= 2:  # warm-up
                        times.setdefault((name, part), []).append(elapsed)
        for part in ("draw", "step"):
            old, new = times["per-sign", part], times["packed", part]
            ratio = statistics.median(b / a for a, b in zip(old, new, strict=True))
            print(
                f"d={dim:<6} points={args.points} {part:5s} per-sign {statistics.median(old):8.3f} ms"
                f"  packed {statistics.median(new):8.3f} ms  packed/per-sign {ratio:.3f} (paired)"
            )


if __name__ == "__main__":
    main()
