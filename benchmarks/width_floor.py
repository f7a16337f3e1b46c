"""The width floor of the two-body ball problem, and where a run's error lives.

    python benchmarks/width_floor.py --problem poisson --dim 100 --widths 16,32,64,100
    python benchmarks/width_floor.py --run results/runs/table8/poisson-d100-kan-s0.h5

The exact solution u*(x) = (1 − |x|²) g(x), g(x) = Σ_i c_i sin(x_i + cos x_{i+1} + x_{i+1} cos x_i),
is, on the radial-law test points at d = 100 (|x_i| ≲ 0.2), a quadratic to 1e-3:

    g(x) ≈ a(|x|²) + b·x + Σ_i D_i x_i² + Σ_i T_i x_i x_{i+1}                          (Q)

(least squares on the features (1 − |x|²)·{|x|^{2k} (k ≤ 6), x_i, x_i², x_i x_{i+1}}).

A KAN (or MLP) whose first hidden layer has w units computes N(x) = F(h_1(x), …, h_w(x)) with
h_j(x) = Σ_i φ_ij(x_i) (MLP: φ_ij(t) = W_ji t), so for i ≠ k

    ∂²N/∂x_i∂x_k = Σ_{j,l} ∂²F/∂h_j∂h_l · φ'_ij(x_i) φ'_kl(x_k):

at every x its off-diagonal Hessian is that of a matrix of rank ≤ w, while the neighbour part of
(Q) has the off-diagonal Hessian T, a random tridiagonal matrix of full rank d − 1. The *floor* of
width w is estimated by replacing Σ_i T_i x_i x_{i+1} with Σ_{k≤w} s_k (v_k·x)² over the w
eigenvectors v_k of T of largest |eigenvalue| (fitted jointly with the other terms of (Q)): an
estimate, not a proof (the eigenvectors are a choice, not the optimum, and a network is not exactly
quadratic), of the best relative ℓ2 error any width-w network can reach.

``--run FILE`` splits a run's test error e = û − u* the same way: the fraction of ‖e‖ left after
least-squares projection onto the radial features, then also the linear, the diagonal quadratic
and the neighbour features. (results/table8.md: the d = 100 KAN's error is 97 % neighbour terms.)
"""

from __future__ import annotations

import argparse

import torch
from torch import Tensor

from pinnkan import get_problem
from pinnkan.evaluation import make_test_set
from pinnkan.results import read_run
from pinnkan.train import TrainConfig


def feature_blocks(x: Tensor, degree: int = 6) -> dict[str, Tensor]:
    """(1 − |x|²) times: |x|^{2k}, x_i, x_i², x_i x_{i+1}; ``x (n, d)`` -> blocks ``(n, ·)``."""
    squared = x.pow(2).sum(dim=1)
    boundary = (1 - squared).unsqueeze(1)
    radial = torch.stack([squared**k for k in range(degree + 1)], dim=1)
    return {
        "radial": boundary * radial,
        "linear": boundary * x,
        "diagonal": boundary * x.pow(2),
        "neighbour": boundary * x[:, :-1] * x[:, 1:],
    }


def least_squares(features: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Coefficients ``(p,)`` and residual ``(n,)`` of the fit ``features (n, p) · c ≈ target (n,)``."""
    solution = torch.linalg.lstsq(features, target.unsqueeze(1), driver="gelsd").solution
    coefficients = solution.squeeze(1)  # gelsd (SVD): the blocks are nearly dependent
    return coefficients, target - features @ coefficients


def relative(residual: Tensor, reference: Tensor) -> float:
    return float(residual.norm() / reference.norm())


def width_floors(x: Tensor, exact: Tensor, widths: list[int]) -> dict[str, float]:
    """Relative ℓ2 of (Q), of (Q) without neighbour terms, and the floor of each width."""
    blocks = feature_blocks(x)
    base = torch.cat([blocks["radial"], blocks["linear"], blocks["diagonal"]], dim=1)
    coefficients, residual = least_squares(torch.cat([base, blocks["neighbour"]], dim=1), exact)
    floors = {"quadratic model (Q)": relative(residual, exact)}
    floors["(Q) without neighbour terms"] = relative(least_squares(base, exact)[1], exact)
    neighbour = coefficients[base.shape[1] :]
    dim = x.shape[1]
    tridiagonal = torch.zeros(dim, dim, dtype=x.dtype)
    index = torch.arange(dim - 1)
    tridiagonal[index, index + 1] = neighbour / 2
    eigenvalues, eigenvectors = torch.linalg.eigh(tridiagonal + tridiagonal.T)
    order = eigenvalues.abs().argsort(descending=True)
    boundary = 1 - x.pow(2).sum(dim=1, keepdim=True)
    for width in widths:
        squares = boundary * (x @ eigenvectors[:, order[:width]]).pow(2)
        residual = least_squares(torch.cat([base, squares], dim=1), exact)[1]
        floors[f"width {width}"] = relative(residual, exact)
    return floors


def error_structure(x: Tensor, error: Tensor) -> dict[str, float]:
    """Fraction of ‖error‖ left after projecting onto the radial, … , neighbour features."""
    blocks = feature_blocks(x)
    left, used = {}, []
    for name, block in blocks.items():
        used.append(block)
        left[f"after {name}"] = relative(least_squares(torch.cat(used, dim=1), error)[1], error)
    return left


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default="poisson")
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--widths", default="16,32,64,100")
    parser.add_argument("--run", help="a run file: split its test error instead")
    args = parser.parse_args()
    if args.run:
        run = read_run(args.run)
        x = torch.as_tensor(run.test_set["x"], dtype=torch.float64)
        exact = torch.as_tensor(run.test_set["exact"], dtype=torch.float64).reshape(-1)
        prediction = torch.as_tensor(run.test_set["prediction"], dtype=torch.float64).reshape(-1)
        print(f"{args.run}: relative l2 {relative(prediction - exact, exact):.3e}")
        for name, value in error_structure(x, prediction - exact).items():
            print(f"  fraction of the error left {name:16s} {value:.3f}")
        return
    ball = get_problem(args.problem, dim=args.dim)
    config = TrainConfig(law="radial", test_points=20000)
    x, exact = make_test_set(ball, config, torch.device("cpu"), torch.float64)
    for name, value in width_floors(x, exact, [int(w) for w in args.widths.split(",")]).items():
        print(f"{args.problem} d={args.dim} {name:28s} relative l2 {value:.2e}")


if __name__ == "__main__":
    main()
