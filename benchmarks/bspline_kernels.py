"""B-spline basis with two derivatives: the compiled kernels against the torch recursion.

    python benchmarks/bspline_kernels.py --shapes 100x32,100x100,2000x32 --repeats 200

For x ``(batch, in)`` uniform on [−1, 1], G = 5, k = 3 (float32, one thread), the median CPU time
of (B, B', B'') forward and of the backward ∂L/∂x of Σ (B + B' + B''), by
``BSplineDerivatives`` (:mod:`pinnkan.basis.bspline_numba`) and by
``spline_derivatives_reference`` (the torch recursion that runs on CUDA and with
``PINNKAN_NUMBA=0``), alternated in one process; ns per point (one input of one sample).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from pinnkan.basis.bspline import spline_derivatives_reference, uniform_knots
from pinnkan.basis.bspline_numba import BSplineDerivatives


def timed(action: Callable[[], object]) -> float:
    start = time.process_time()
    action()
    return time.process_time() - start


def actions(function, x: torch.Tensor, knots: torch.Tensor) -> dict[str, Callable[[], object]]:
    """Forward alone, and forward + backward (the backward is the difference)."""
    leaf = x.clone().requires_grad_(True)

    def forward() -> None:
        with torch.no_grad():
            function(leaf, knots, 3)

    def both() -> None:
        (grad,) = torch.autograd.grad(sum(out.sum() for out in function(leaf, knots, 3)), leaf)

    return {"forward": forward, "both": both}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="100x32,100x100,2000x32")
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    print("| batch × in | kernels forward | kernels backward | recursion forward | "
          "recursion backward | forward + backward, kernels / recursion |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for shape in args.shapes.split(","):
        batch, inputs = map(int, shape.split("x"))
        x = torch.rand(batch, inputs, generator=generator) * 2 - 1
        knots = uniform_knots(5, 3, (-1.0, 1.0)).expand(inputs, -1).float().contiguous()
        variants = {
            "kernels": actions(BSplineDerivatives.apply, x, knots),
            "recursion": actions(spline_derivatives_reference, x, knots),
        }
        times: dict[tuple[str, str], list[float]] = {}
        for repeat in range(args.repeats + 3):
            for name, parts in variants.items():
                for part, action in parts.items():
                    if repeat >= 3:
                        times.setdefault((name, part), []).append(timed(action))
                    else:
                        action()
        per_point = 1e9 / (batch * inputs)
        cells, totals = [], {}
        for name in variants:
            forward = statistics.median(times[name, "forward"])
            both = statistics.median(times[name, "both"])
            cells += [f"{forward * per_point:.1f} ns", f"{(both - forward) * per_point:.1f} ns"]
            totals[name] = both
        ratio = totals["kernels"] / totals["recursion"]
        print(f"| {batch} × {inputs} | " + " | ".join(cells) + f" | {ratio:.3f} |")


if __name__ == "__main__":
    main()
