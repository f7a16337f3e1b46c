"""Training step with the Gram products of :mod:`pinnkan.gram_products` against plain autograd.

    python benchmarks/gram_products.py --dim 100 --points 100,2000 --repeats 50

Same case as ``pinnkan bench laplacian`` and ``benchmarks/meta_step.py`` (û = (1 − |x|²)·N(x),
N = [d, 32, 32, 32, 1], G = 5, k = 3, forward Laplacian engine, float32, one thread). "fused"
is the engine as it is; "plain" is the same engine with the Gram matrix formed and carried by
torch operations, as before commit "gram products" (``G = w · SymmetricGram(J)``, ``Aᵀ (G A)``,
``((G A) ∘ A)·1`` and diag G read by ``torch.diagonal``), so that autograd's backward pays a
product per operand and dense zeros for each diagonal. Both run alternately in one process; the
table gives the median CPU time of a step (Laplacian + loss + backward) and fused / plain.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
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


PLAIN = {
    "pinnkan.forward_laplacian.to_gram": plain_to_gram,
    "pinnkan.forward_laplacian.through_slopes": plain_through_slopes,
}


def plain(action: Callable[[], object]) -> Callable[[], object]:
    """``action`` with the engine's Gram products replaced by the plain torch ones."""

    def run() -> object:
        with mock.patch.multiple("pinnkan.forward_laplacian", **{
            target.rsplit(".", 1)[1]: function for target, function in PLAIN.items()
        }):  # fmt: skip
            return action()

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
    print("| model | points | plain | fused | fused / plain |")
    print("|---|---|---|---|---|")
    for points in map(int, args.points.split(",")):
        for name in args.models.split(","):
            step = parts(name, args.dim, points, args.seed)["step"]
            variants = {"plain": plain(step), "fused": step}
            times: dict[str, list[float]] = {"plain": [], "fused": []}
            for repeat in range(args.repeats + 2):
                for variant, action in variants.items():
                    elapsed = elapsed_ms(action, device)
                    if repeat >= 2:  # warm-up
                        times[variant].append(elapsed)
            before, after = (statistics.median(times[v]) for v in ("plain", "fused"))
            print(f"| {name} | {points} | {before:.2f} | {after:.2f} | {after / before:.3f} |")


if __name__ == "__main__":
    main()
