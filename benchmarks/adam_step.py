"""torch's default Adam against the fused Adam that pinnkan's trainer uses, interleaved.

    python benchmarks/adam_step.py --dim 100 --repeats 300

Same backbones as ``benchmarks/meta_step.py`` (N = [d, 32, 32, 32, 1], G = 5, k = 3, meta hidden
128, float32, one thread). Per model, the process CPU time of one ``optimizer.step()`` (median
and min over the repeats, after warm-up) for the default Adam (on the CPU torch's per-tensor
loop) and for ``pinnkan.optim.make_optimizer("adam", …)`` (fused where torch has the kernel),
each on its own copy of the model with the same fixed gradients.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from pinnkan.bench.laplacian import build_backbone
from pinnkan.optim import make_optimizer, parameter_groups

MODELS = ("kan", "metakan")


def optimizers(name: str, dim: int, seed: int) -> dict[str, torch.optim.Optimizer]:
    """``{"default": …, "pinnkan": …}`` for two copies of one model with gradients set."""
    model = build_backbone(name, dim, torch.Generator().manual_seed(seed))
    twin = copy.deepcopy(model)
    for net in (model, twin):
        for parameter in net.parameters():
            parameter.grad = torch.full_like(parameter, 1e-3)
    return {
        "default": torch.optim.Adam(parameter_groups(model, 1e-6)),
        "pinnkan": make_optimizer("adam", parameter_groups(twin, 1e-6)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    runs = {name: optimizers(name, args.dim, args.seed) for name in MODELS}
    times: dict[tuple[str, str], list[float]] = {}
    for repeat in range(args.repeats + 10):
        for name, pair in runs.items():
            for kind, optimizer in pair.items():
                start = time.process_time()
                optimizer.step()
                if repeat >= 10:  # warm-up
                    times.setdefault((name, kind), []).append(1e3 * (time.process_time() - start))
    print(f"d={args.dim} repeats={args.repeats}  (CPU ms: median / min)")
    for name in MODELS:
        default, fused = times[name, "default"], times[name, "pinnkan"]
        params = [p for group in runs[name]["pinnkan"].param_groups for p in group["params"]]
        print(
            f"{name:8s} default {statistics.median(default):6.3f} / {min(default):6.3f}"
            f"  pinnkan {statistics.median(fused):6.3f} / {min(fused):6.3f}"
            f"  ratio {statistics.median(fused) / statistics.median(default):.2f}"
            f"  ({len(params)} tensors, {sum(p.numel() for p in params)} numbers)"
        )


if __name__ == "__main__":
    main()
