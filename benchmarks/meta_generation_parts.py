"""Where MetaKAN's extra time per step goes: an ablation of the coefficient generation.

    python benchmarks/meta_generation_parts.py --dim 100 --points 100 --repeats 500

Same case as ``benchmarks/meta_step.py`` (CPU, one thread, float32, forward Laplacian engine).
Five models' steps alternate in one process; printed is each model's step time minus KAN's in
the same repeat (median over the repeats, ms), so that a slow stretch of the machine cancels:

* ``metakan``: the MetaKAN as it runs;
* ``metakan-replayed``: the same, with the two generation kernels replaced by copies of their
  first results into the same outputs (same values downstream, no kernel work): what remains
  is the generation's Python, allocations and autograd node;
* ``metakan-fixed-input-major``: the MetaKAN's coefficients frozen into trainable tensors laid
  out as the generation lays them out (``(in, m, out)`` memory), i.e. no generation at all;
* ``metakan-fixed``: the same frozen coefficients, contiguous as a KAN's parameters.

So ``metakan − metakan-replayed`` is the kernels' time inside a step, ``metakan-replayed −
metakan-fixed-input-major`` the rest of the generation, and ``metakan-fixed −
metakan-fixed-input-major`` what the input-major layout saves the layer products.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))

from meta_step import elapsed_ms, parts  # noqa: E402

import pinnkan.nn.scalar_relu_numba as generation  # noqa: E402
from pinnkan.malloc import reuse_freed_memory  # noqa: E402
from pinnkan.nn.kan import KANNetwork  # noqa: E402

MODELS = ("kan", "metakan", "metakan-replayed", "metakan-fixed-input-major", "metakan-fixed")


def replaying(kernels: tuple) -> tuple:
    """``(generate, generate_backward)`` that run the real kernels once, then copy those first
    outputs (generated coefficients, prompt gradients) into each call's arrays."""
    first: dict[str, tuple] = {}

    def replay(name: str, kernel, args: tuple, written: tuple) -> tuple:
        if name not in first:
            first[name] = (kernel(*args), [array.copy() for array in written])
        result, arrays = first[name]
        for target, source in zip(written, arrays, strict=True):
            np.copyto(target, source)
        return result

    def generate(*args):
        return replay("forward", kernels[0], args, args[-1])

    def generate_backward(*args):
        return replay("backward", kernels[1], args, args[-1])

    return generate, generate_backward


def input_major_fixed(net: KANNetwork) -> KANNetwork:
    """``net`` (a frozen MetaKAN) with each coefficient tensor moved to ``(in, m, out)`` memory."""
    for weight in net.coefficients.weights:
        weight.data = weight.data.permute(1, 2, 0).contiguous().permute(2, 0, 1)
    return net


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--points", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=500)
    args = parser.parse_args()
    reuse_freed_memory()
    torch.set_num_threads(1)
    device = torch.device("cpu")
    source = {"metakan-replayed": "metakan", "metakan-fixed-input-major": "metakan-fixed"}
    prepare = {"metakan-fixed-input-major": input_major_fixed}
    steps = {
        name: parts(source.get(name, name), args.dim, args.points, 0, "cpu", prepare.get(name))[
            "step"
        ]
        for name in MODELS
    }
    real = generation.kernels_of_width
    replayed: dict[int, tuple] = {}

    def replayed_kernels(m: int) -> tuple:
        """One replaying pair per width, built at its first call (in the warm-up repeats)."""
        if m not in replayed:
            replayed[m] = replaying(real(m))
        return replayed[m]

    times: dict[str, list[float]] = {name: [] for name in MODELS}
    for repeat in range(args.repeats + 5):
        for name, step in steps.items():
            if name == "metakan-replayed":
                generation.kernels_of_width = replayed_kernels
            try:
                elapsed = elapsed_ms(step, device)
            finally:
                generation.kernels_of_width = real
            if repeat >= 5:
                times[name].append(elapsed)
    print(f"d={args.dim} points={args.points} repeats={args.repeats}  (CPU ms)")
    print(f"kan step: median {statistics.median(times['kan']):.3f}")
    for name in MODELS[1:]:
        difference = statistics.median(a - b for a, b in zip(times[name], times["kan"]))
        print(f"{name:27s} − kan: {difference:+.3f} ms (median of the paired differences)")


if __name__ == "__main__":
    main()
