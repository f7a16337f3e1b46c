"""The radial floor of a ball problem: how well the best radial function fits its exact solution.

    python benchmarks/radial_floor.py --problem poisson --dims 20,100,1000

A network whose first-layer edges all compute the same function sees x only through symmetric
sums Σ_i φ(x_i), i.e. (on these points) through |x|. The best such approximation of the exact
solution, û = (1 − |x|²) Σ_{k≤K} a_k |x|^{2k} with a fitted by least squares on the fixed test set
of the runs (radial law, 20,000 points), has relative ℓ2 error "floor": a run stuck at that error
has collapsed to the radial part (results/table8.md, MetaKAN at d = 1000).
"""

from __future__ import annotations

import argparse

import torch

from pinnkan import get_problem
from pinnkan.evaluation import make_test_set
from pinnkan.train import TrainConfig


def radial_floor(problem: str, dim: int, degree: int, law: str) -> float:
    """Relative ℓ2 error of the least-squares fit (1 − |x|²) Σ_{k ≤ degree} a_k |x|^{2k}."""
    ball = get_problem(problem, dim=dim)
    config = TrainConfig(law=law, test_points=20000)
    x, exact = make_test_set(ball, config, torch.device("cpu"), torch.float64)
    squared = x.pow(2).sum(dim=1)
    features = torch.stack([(1 - squared) * squared**k for k in range(degree + 1)], dim=1)
    weights = torch.linalg.lstsq(features, exact.unsqueeze(1)).solution
    residual = exact - (features @ weights).squeeze(1)
    return float(residual.norm() / exact.norm())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default="poisson")
    parser.add_argument("--dims", default="20,100,1000")
    parser.add_argument("--degree", type=int, default=6)
    parser.add_argument("--law", default="radial")
    args = parser.parse_args()
    for dim in (int(d) for d in args.dims.split(",")):
        floor = radial_floor(args.problem, dim, args.degree, args.law)
        print(f"{args.problem} d={dim}: radial floor (relative l2) {floor:.4f}")


if __name__ == "__main__":
    main()
