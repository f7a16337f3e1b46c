"""How much of the coordinate-specific gradient a MetaKAN prompt passes on to its edge.

    python benchmarks/prompt_signal.py --dims 100,1000 --seeds 0,1,2

The two-body solution on the test points is u* ≈ (1 − |x|²)(sin 1·Σ c_i + Σ_i b_i x_i + …) with
b_i = cos 1·(c_i + c_{i−1}) random: after the radial part, a network must give the first-layer
edges slopes that follow b_i. Take the supervised loss L = mean ((1 − |x|²)N(x) − u*(x))² on
2,000 radial-law points at initialisation (float64), and per first-layer edge (j, i)

* G_ji = ∂L/∂w_ji ∈ R^m, the gradient a KAN applies to the edge's coefficients, and
  v = ∂φ'(0; w)/∂w, so that a KAN step changes the edge's slope at 0 by Δs_ji ∝ −⟨G_ji, v⟩;
* a MetaKAN (w_ji = M(z_ji)/√n) changes only the prompt, Δz_ji ∝ −⟨G_ji, T_ji⟩ with the tangent
  T_ji = M'(z_ji)/√n, so the slope moves by Δs_ji ∝ −⟨T_ji, v⟩⟨G_ji, T_ji⟩.

Printed: the mean over hidden units j of |corr_i(Δs_ji, b_i)|, for the KAN step and the prompt
step, with the MetaKAN's two initialisations and with node means (``node_mean=True``), beside the chance level √(2/(π(d − 1))) of two
independent random vectors. The KAN step is well above chance; the prompt step is at chance:
it moves the slopes independently of b. A reading (not proven here): a component of G common to
all edges of a unit (e.g. the radial part of the residual) shifts every KAN slope alike, which
the correlation over i ignores, but projected on tangents T_ji that differ from edge to edge it
becomes noise over i that drowns the b-specific part. With node means the prompts see G minus
its node mean, and their steps line up with b about as well as the KAN's.
"""

from __future__ import annotations

import argparse
import math
import statistics

import torch

from pinnkan.geometry import Ball
from pinnkan.nn import build_model
from pinnkan.problems.two_body import TwoBodySolution

WIDTH = [32, 32, 32, 1]


def correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()))


def linear_coefficients(solution: TwoBodySolution) -> torch.Tensor:
    """b_i = cos 1·(c_i + c_{i−1}) (c_0 = c_d = 0): the slopes of u* at 0 up to the envelope."""
    c = solution.coefficients
    zero = c.new_zeros(1)
    return torch.cos(torch.tensor(1.0, dtype=c.dtype)) * (
        torch.cat([c, zero]) + torch.cat([zero, c])
    )


def slope_direction(layer, dim: int, step: float = 1e-4) -> torch.Tensor:
    """v_k = φ'(0; e_k): the slope at 0 of the edge with coefficient vector e_k, ``(m,)``."""
    m = layer.family.num_coefficients
    unit = torch.eye(m, dtype=torch.float64).unsqueeze(1).expand(m, dim, m).contiguous()
    plus = layer.family(torch.full((1, dim), step, dtype=torch.float64), unit)
    minus = layer.family(torch.full((1, dim), -step, dtype=torch.float64), unit)
    return ((plus - minus) / (2 * step * dim)).squeeze(0)


def first_layer_gradient(model, x: torch.Tensor, target: torch.Tensor) -> list[torch.Tensor]:
    """``[w^{(0)}, …]`` and ∂L/∂w^{(0)} ``(n_1, n_0, m)`` for the supervised loss."""
    weights = model.coefficients()
    weights[0].retain_grad()
    h = x
    for layer, weight in zip(model.layers, weights, strict=True):
        h = layer(h, weight)
    prediction = (1 - x.pow(2).sum(1)) * h.squeeze(-1)
    (prediction - target).pow(2).mean().backward()
    return weights[0].grad


def step_correlations(dim: int, seed: int, init: str, node_mean: bool) -> tuple[float, float]:
    """(KAN step, MetaKAN prompt step): mean_j |corr_i(Δs_ji, b_i)|.

    With node means the prompts see the edge gradient minus its node's mean (w = M/√n − mean +
    a); the KAN step is taken with the full gradient either way.
    """
    generator = torch.Generator().manual_seed(seed)
    options = {"grid": 5, "k": 3, "meta_hidden": 128, "meta_init": init, "node_mean": node_mean}
    model = build_model("metakan", [dim, *WIDTH], generator, **options).double()
    solution = TwoBodySolution(dim, seed=0)
    x = Ball(dim).sample_interior(2000, "radial", generator, dtype=torch.float64)
    gradient = first_layer_gradient(model, x, solution.value(x))
    seen = gradient - gradient.mean(dim=1, keepdim=True) if node_mean else gradient
    source = model.coefficients
    z = source.prompts[0].detach()
    meta, scale = source.meta_learners[0], source.scales[0]
    with torch.no_grad():
        tangent = (meta(z + 1e-4) - meta(z - 1e-4)) / 2e-4 * scale
    v = slope_direction(model.layers[0], dim)
    b = linear_coefficients(solution)
    kan_step = gradient @ v
    prompt_step = (tangent @ v) * (seen * tangent).sum(-1)
    units = range(gradient.shape[0])
    kan = statistics.mean(abs(correlation(kan_step[j], b)) for j in units)
    prompt = statistics.mean(abs(correlation(prompt_step[j], b)) for j in units)
    return kan, prompt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", default="100,1000")
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    print("mean_j |corr_i(slope step, b_i)| at initialisation, mean over seeds", seeds)
    header = ["d", "chance", "KAN step", "paper init", "centred", "node means"]
    print(" " * 33 + "prompt step, MetaKAN with:")
    print(" ".join(f"{h:>10}" for h in header))
    settings = {"paper init": ("paper", False), "centred": ("centered", False)}
    settings["node means"] = ("centered", True)
    for dim in (int(d) for d in args.dims.split(",")):
        row = {"chance": math.sqrt(2 / (math.pi * (dim - 1)))}
        for label, (init, node_mean) in settings.items():
            pairs = [step_correlations(dim, seed, init, node_mean) for seed in seeds]
            row[label] = statistics.mean(p[1] for p in pairs)
            row.setdefault("KAN step", statistics.mean(p[0] for p in pairs))
        print(f"{dim:>10} " + " ".join(f"{row[h]:>10.3f}" for h in header[1:]))


if __name__ == "__main__":
    main()
