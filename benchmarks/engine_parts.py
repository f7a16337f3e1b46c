"""Training step with each part of the forward engine switched off in turn (an ablation).

    python benchmarks/engine_parts.py --dim 100 --points 100,2000 --repeats 50

Same case as ``pinnkan bench laplacian`` and ``benchmarks/meta_step.py`` (û = (1 − |x|²)·N(x),
N = [d, 32, 32, 32, 1], G = 5, k = 3, forward Laplacian engine, float32, one thread). Variants,
alternated in one process, each the current engine with one part replaced:

* ``current``: the engine as it is;
* ``plain-gram``: the Gram matrix formed and carried by torch operations instead of
  :mod:`pinnkan.gram_products` (``G = w · SymmetricGram(J)``, ``Aᵀ (G A)``, ``((G A) ∘ A)·1``,
  diag G read by ``torch.diagonal``: autograd's backward pays a product per operand and dense
  zeros per diagonal), as before commit 013d48a;
* ``einsum``: the per-edge slopes by ``torch.einsum`` instead of
  :mod:`pinnkan.basis.per_edge_numba` (a permuted, input-major result);
* ``recursion``: the B-spline basis by the torch recursion instead of
  :mod:`pinnkan.basis.bspline_numba`.

Prints the median CPU time of a step (Laplacian + loss + backward) per variant and its ratio to
``current``.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from unittest import mock

import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).parent))

from meta_step import elapsed_ms, parts  # noqa: E402

from pinnkan.jet import Jet, derivative_part  # noqa: E402
from pinnkan.malloc import malloc_setting, reuse_freed_memory  # noqa: E402


class SymmetricGram(torch.autograd.Function):
    """``Jᵀ J`` with the backward ``J (Ḡ + Ḡᵀ)`` (the engine's Gram before the fused products)."""

    @staticmethod
    def forward(ctx, jacobian: Tensor) -> Tensor:
        ctx.save_for_backward(jacobian)
        return jacobian.transpose(-2, -1) @ jacobian

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (jacobian,) = ctx.saved_tensors
        return jacobian @ (grad + grad.transpose(-2, -1))


def plain_to_gram(jet: Jet) -> Jet:
    if jet.jacobian is None:
        return jet
    return jet._replace(jacobian=None, gram=jet.weight * SymmetricGram.apply(jet.jacobian))


def plain_through_slopes(jet: Jet, slopes: Tensor, need: str) -> dict:
    return derivative_part(
        jet,
        lambda jacobian: jacobian @ slopes,
        lambda gram: {"gram": slopes.transpose(1, 2) @ (gram @ slopes)},
        lambda gram: ((gram @ slopes) * slopes).sum(dim=-2),
        need,
    )


@contextlib.contextmanager
def plain_gram() -> Iterator[None]:
    with mock.patch.multiple(
        "pinnkan.forward_laplacian", to_gram=plain_to_gram, through_slopes=plain_through_slopes
    ):
        yield


def switched_off(target: str) -> Callable[[], contextlib.AbstractContextManager]:
    """A context in which the kernel test ``target`` answers False (the torch path runs)."""
    return lambda: mock.patch(target, lambda *args: False)


VARIANTS: dict[str, Callable[[], contextlib.AbstractContextManager]] = {
    "current": contextlib.nullcontext,
    "plain-gram": plain_gram,
    "einsum": switched_off("pinnkan.basis.base.use_per_edge_kernels"),
    "recursion": switched_off("pinnkan.basis.bspline.use_kernels"),
}


def within(context: Callable[[], contextlib.AbstractContextManager], action) -> Callable[[], None]:
    def run() -> None:
        with context():
            action()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--points", default="100,2000", help="comma-separated batch sizes")
    parser.add_argument("--models", default="kan,metakan", help="comma-separated backbones")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    reuse_freed_memory()  # as the pinnkan command does
    torch.set_num_threads(1)
    device = torch.device("cpu")
    print(f"d={args.dim} repeats={args.repeats} (CPU ms, median)  malloc: {malloc_setting()}")
    names = list(VARIANTS)
    print("| model | points | " + " | ".join(names) + " | " + " | ".join(
        f"{name} / current" for name in names[1:]
    ) + " |")  # fmt: skip
    print("|---" * (2 + 2 * len(names) - 1) + "|")
    for points in map(int, args.points.split(",")):
        for model in args.models.split(","):
            step = parts(model, args.dim, points, args.seed)["step"]
            actions = {name: within(context, step) for name, context in VARIANTS.items()}
            times: dict[str, list[float]] = {name: [] for name in names}
            for repeat in range(args.repeats + 2):
                for name, action in actions.items():
                    elapsed = elapsed_ms(action, device)
                    if repeat >= 2:  # warm-up
                        times[name].append(elapsed)
            medians = {name: statistics.median(times[name]) for name in names}
            cells = [f"{medians[name]:.2f}" for name in names]
            ratios = [f"{medians[name] / medians['current']:.3f}" for name in names[1:]]
            print(f"| {model} | {points} | " + " | ".join(cells + ratios) + " |")


if __name__ == "__main__":
    main()
