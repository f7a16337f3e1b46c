"""MetaKAN vs KAN training step, interleaved, with its parts timed separately.

    python benchmarks/meta_step.py --dim 100 --points 100 --repeats 200
    python benchmarks/meta_step.py --dim 1000 --points 100 --repeats 100 --engine sdgd
    python benchmarks/meta_step.py --device cuda --dim 100 --points 100 --repeats 200

Same case as ``pinnkan bench laplacian`` (û = (1 − |x|²)·N(x), N = [d, 32, 32, 32, 1], G = 5,
k = 3, meta hidden 128, forward Laplacian engine or ``--engine``, float32, one thread; the
estimators with 16 samples), but the models' steps
alternate within one process so that a loaded machine affects both alike. Per model, the time
(median and min over the repeats; on the CPU process CPU time, on CUDA wall-clock time between
two ``torch.cuda.synchronize`` calls) of:

* ``step``: Laplacian + residual loss + backward (what ``pinnkan bench laplacian`` times);
* ``adam``: one step of the trainer's Adam after it (fused, ``pinnkan.optim``);
* ``coefficients``: ``net.coefficients()`` forward + backward of Σ w alone (KAN: returns its
  parameters).

The last line gives each model's time over KAN's, paired within a repeat (median of the
ratios), for the step and for step + Adam.

"metakan-fixed" is the MetaKAN with its generated coefficients frozen into plain trainable
tensors: the same network and values without the generation, so "metakan" − "metakan-fixed"
measures the generation inside a step (with the caches as a step leaves them).
"metakan-torch" is the MetaKAN generating its coefficients with torch operations instead of the
compiled CPU kernels; "kan-torch" the KAN evaluating its B-spline basis and derivatives by the
torch recursion instead of the B-spline kernels (``PINNKAN_NUMBA=0`` does both).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from unittest import mock

import torch

from pinnkan.bench.laplacian import ball_points, build_backbone
from pinnkan.derivatives import ESTIMATORS, laplacian
from pinnkan.device import resolve_device, synchronize
from pinnkan.malloc import malloc_setting, reuse_freed_memory
from pinnkan.nn.constraint import BallHardConstraint
from pinnkan.nn.kan import DirectCoefficients, KANNetwork
from pinnkan.optim import make_optimizer, parameter_groups

# metakan-node: MetaKAN with node_mean=True; metakan-fixed: the MetaKAN with its generated
# coefficients frozen into trainable tensors, i.e. its step without the generation (a control:
# "metakan" − "metakan-fixed" is what generating the coefficients costs inside a step);
# metakan-torch: the MetaKAN generating with torch operations instead of the numba kernels
MODELS = ("kan", "kan-torch", "metakan", "metakan-torch", "metakan-node", "metakan-fixed")
# what the "-torch" variants switch off: the B-spline kernels (KAN) or the MetaKAN kernels
TORCH_PATHS = {
    "kan-torch": ("pinnkan.basis.bspline.use_kernels", lambda *args: False),
    "metakan-torch": ("pinnkan.nn.scalar_relu.numba_kernels", lambda: None),
}


def elapsed_ms(action: Callable[[], object], device: torch.device) -> float:
    """Process CPU time of ``action`` on the CPU; wall-clock time to its end on CUDA."""
    clock = time.perf_counter if device.type == "cuda" else time.process_time
    synchronize(device)
    start = clock()
    action()
    synchronize(device)
    return 1e3 * (clock() - start)


def frozen_generation(net: KANNetwork) -> KANNetwork:
    """``net`` with its coefficient source replaced by its current output as parameters."""
    with torch.no_grad():
        values = net.coefficients()
        source = DirectCoefficients(list(net.layers))
        for weight, value in zip(source.weights, values, strict=True):
            weight.copy_(value)
    net.coefficients = source
    return net


def backbone(name: str, dim: int, generator: torch.Generator) -> torch.nn.Module:
    """The benchmark's backbone (see :data:`MODELS` for the MetaKAN variants)."""
    if name == "metakan-node":
        return build_backbone("metakan", dim, generator, node_mean=True)
    if name == "metakan-fixed":
        return frozen_generation(build_backbone("metakan", dim, generator))
    return build_backbone(name.removesuffix("-torch"), dim, generator)


def parts(
    name: str,
    dim: int,
    points: int,
    seed: int,
    device: torch.device | str = "cpu",
    prepare: Callable[[torch.nn.Module], torch.nn.Module] | None = None,
    engine: str = "forward",
) -> dict[str, Callable[[], object]]:
    """The timed actions of one model on ``device`` (``step`` must run before ``adam``);
    ``prepare`` changes the backbone first (an ablation's variant); ``engine`` the Laplacian's
    (an estimator draws 16 samples a step from its own seeded generator)."""
    generator = torch.Generator().manual_seed(seed)
    net = backbone(name, dim, generator)
    model = BallHardConstraint(prepare(net) if prepare else net).to(device)
    x = ball_points(points, dim, generator).to(device)
    forcing = torch.sin(x).sum(dim=1)
    optimizer = make_optimizer("adam", parameter_groups(model, 1e-6))  # the trainer's Adam
    net = model.net

    samples = min(16, dim) if engine == "sdgd" else 16  # as `pinnkan bench laplacian`
    draws = {"samples": samples, "generator": torch.Generator().manual_seed(seed)}
    options = draws if engine in ESTIMATORS else {}

    def step() -> None:
        model.zero_grad(set_to_none=True)
        _, lap = laplacian(model, x, engine, **options)
        (lap - forcing).pow(2).mean().backward()

    def coefficients() -> None:
        model.zero_grad(set_to_none=True)
        torch.stack([w.sum() for w in net.coefficients()]).sum().backward()

    if name in TORCH_PATHS:  # Adam runs no kernel
        step = with_torch_path(step, name)
        coefficients = with_torch_path(coefficients, name)
    return {"step": step, "adam": optimizer.step, "coefficients": coefficients}


def with_torch_path(action: Callable[[], object], name: str) -> Callable[[], object]:
    """``action`` run with the kernels that ``name`` switches off (:data:`TORCH_PATHS`)."""
    target, replacement = TORCH_PATHS[name]

    def run() -> object:
        with mock.patch(target, replacement):
            return action()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--points", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--engine", default="forward", choices=("forward", "sdgd", "hutchinson"))
    args = parser.parse_args()
    reuse_freed_memory()  # as the pinnkan command does
    torch.set_num_threads(1)
    device = resolve_device(args.device)
    actions = {
        name: parts(name, args.dim, args.points, args.seed, device, engine=args.engine)
        for name in MODELS
    }
    times: dict[tuple[str, str], list[float]] = {}
    for repeat in range(args.repeats + 3):
        for name, timed in actions.items():
            for part, action in timed.items():
                elapsed = elapsed_ms(action, device)
                if repeat >= 3:  # warm-up
                    times.setdefault((name, part), []).append(elapsed)
    unit = "wall ms on " + torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU ms"
    print(f"d={args.dim} points={args.points} engine={args.engine} repeats={args.repeats}"
          f"  ({unit}: median / min)"
          f"  malloc: {malloc_setting()}")  # fmt: skip
    for part in ("step", "adam", "coefficients"):
        cells = [
            f"{name} {statistics.median(times[name, part]):7.3f} / {min(times[name, part]):7.3f}"
            for name in MODELS
        ]
        print(f"{part:13s} " + "  ".join(cells))
    print(paired_ratios(times, "kan", [name for name in MODELS if name != "kan"]))


def paired_ratios(times: dict[tuple[str, str], list[float]], base: str, names: list[str]) -> str:
    """Median over the repeats of each model's time / ``base``'s time in the same repeat, for the
    step and for step + Adam: the models of one repeat run back to back, so a slow stretch of a
    shared machine slows both sides of a ratio, where it moves the medians of the lines above."""

    def median_ratio(name: str, parts: tuple[str, ...]) -> float:
        mine = [sum(values) for values in zip(*(times[name, part] for part in parts))]
        theirs = [sum(values) for values in zip(*(times[base, part] for part in parts))]
        return statistics.median(a / b for a, b in zip(mine, theirs, strict=True))

    cells = [
        f"{name} {median_ratio(name, ('step',)):.3f} / {median_ratio(name, ('step', 'adam')):.3f}"
        for name in names
    ]
    return f"{'/ ' + base:13s} " + "  ".join(cells) + "  (paired: step / step + adam)"


if __name__ == "__main__":
    main()
