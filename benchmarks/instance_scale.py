"""How large each two-body problem instance is: rms u on the runs' fixed test set.

    python benchmarks/instance_scale.py --dims 20,50,100,1000 --seeds 0,1,2

The coefficients c_i ~ N(0, 1) are drawn once per problem seed, either from torch's stream
(pinnkan's default) or from NumPy's legacy one (``coefficients="numpy"``, the SDGD/STDE scripts'
draw). Near the centre u ≈ (1 − |x|²)·sin 1·Σ c_i, so rms u follows |Σ c_i|, which varies a lot
between draws; a relative ℓ2 error divides by it. results/table8.md ("Problem instances") uses
this table to compare runs with the public anchors.
"""

from __future__ import annotations

import argparse

import torch

from pinnkan import get_problem
from pinnkan.evaluation import make_test_set
from pinnkan.train import TrainConfig


def rms_u(dim: int, seed: int, coefficients: str, law: str = "radial") -> float:
    """sqrt(mean u²) over the 20,000-point test set of the runs (law ``law``)."""
    problem = get_problem("poisson", dim=dim, seed=seed, coefficients=coefficients)
    config = TrainConfig(law=law, test_points=20000)
    _, exact = make_test_set(problem, config, torch.device("cpu"), torch.float64)
    return float(exact.pow(2).mean().sqrt())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", default="20,50,100,1000", help="comma-separated dimensions")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated problem seeds")
    parser.add_argument("--law", default="radial", help="test-set law: radial or volume")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    names = " / ".join(str(s) for s in seeds)
    print(f"| d | torch, problem seed {names} | numpy, problem seed {names} |")
    print("|---|---|---|")
    for dim in (int(d) for d in args.dims.split(",")):
        cells = [
            " / ".join(f"{rms_u(dim, s, law, args.law):.2f}" for s in seeds)
            for law in ("torch", "numpy")
        ]
        print(f"| {dim} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
