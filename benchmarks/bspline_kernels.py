"""B-spline basis with two derivatives: the compiled kernels against the torch recursion.

    python benchmarks/bspline_kernels.py --shapes 100x32,100x100,2000x32 --repeats 200
    python benchmarks/bspline_kernels.py --values --shapes 100x1000,100x10000 --repeats 20

For x ``(batch, in)`` uniform on [−1, 1], G = 5, k = 3 (float32, one thread), the median CPU time
of (B, B', B'') forward and of the backward ∂L/∂x of Σ (B + B' + B''), by
``BSplineDerivatives`` (:mod:`pinnkan.basis.bspline_numba`) and by
``spline_derivatives_reference`` (the torch recursion that runs on CUDA and with
``PINNKAN_NUMBA=0``), alternated in one process; ns per point (one input of one sample).
With ``--values``: the values alone with the SiLU column, ``[SiLU, B_1, …]`` (what a layer's
plain forward and the value part of an SDGD first layer evaluate), against the torch recursion
of the values and torch's SiLU. Freed memory is reused as the ``pinnkan`` command sets it.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from pinnkan.basis.bspline import basis_reference, spline_derivatives_reference, uniform_knots
from pinnkan.basis.bspline_numba import BSplineDerivatives
from pinnkan.malloc import reuse_freed_memory


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
        outputs = function(leaf, knots, 3)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        (grad,) = torch.autograd.grad(sum(out.sum() for out in outputs), leaf)

    return {"forward": forward, "both": both}


# (B, B', B'') of the splines alone, or the values alone with the SiLU column
JETS = {"kernels": BSplineDerivatives.apply, "recursion": spline_derivatives_reference}
VALUES = {
    "kernels": lambda x, knots, order: BSplineDerivatives.apply(x, knots, order, False, True),
    "recursion": lambda x, knots, order: basis_reference(x, knots, order, False, True)[0],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="100x32,100x100,2000x32")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--values", action="store_true", help="values alone, SiLU column first")
    args = parser.parse_args()
    torch.set_num_threads(1)
    reuse_freed_memory()
    functions = VALUES if args.values else JETS
    generator = torch.Generator().manual_seed(0)
    print("| batch × in | kernels forward | kernels backward | recursion forward | "
          "recursion backward | forward + backward, kernels / recursion |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for shape in args.shapes.split(","):
        batch, inputs = map(int, shape.split("x"))
        x = torch.rand(batch, inputs, generator=generator) * 2 - 1
        knots = uniform_knots(5, 3, (-1.0, 1.0)).expand(inputs, -1).float().contiguous()
        variants = {name: actions(function, x, knots) for name, function in functions.items()}
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
