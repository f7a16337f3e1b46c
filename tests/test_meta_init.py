"""MetaKAN initialisation: "centered" moves only the output bias, to zero-mean coefficients.

Why it matters (see ``pinnkan/nn/meta.py``): with the paper's init the generated coefficients
have a non-zero mean w̄, so a first-layer unit carries a common part of size √n_0·|φ(·; w̄)| that
grows with the input dimension and pushes every unit out of the next layer's grid.
"""

from __future__ import annotations

import pytest
import torch

from pinnkan.basis.wavelet import UNIT_SCALE
from pinnkan.nn import build_model, count_parameters

WIDTH = [6, 5, 4, 1]


def metakan(init: str, width=WIDTH, seed: int = 0, **options):
    generator = torch.Generator().manual_seed(seed)
    options = {"grid": 5, "k": 3, "meta_hidden": 16, **options}
    return build_model("metakan", width, generator, meta_init=init, **options).double()


def raw_coefficients(model) -> list[torch.Tensor]:
    """M(z) per layer, without the fixed 1/√n_l factor."""
    source = model.coefficients
    return [w / scale for w, scale in zip(source(), source.scales, strict=True)]


@pytest.mark.parametrize("clusters", [1, 2, 3])
def test_centered_coefficients_have_zero_mean_over_each_cluster(clusters: int) -> None:
    model = metakan("centered", clusters=clusters)
    raw = raw_coefficients(model)
    for members in model.coefficients.members:
        edges = torch.cat([raw[i].reshape(-1, raw[i].shape[-1]) for i in members])
        assert edges.mean(dim=0).abs().max() < 1e-6
    paper = raw_coefficients(metakan("paper", clusters=clusters))
    shift = max(float(w.detach().mean((0, 1)).abs().max()) for w in paper)
    assert shift > 1e-2  # there was a mean to remove


def test_a_cluster_of_one_edge_is_not_centred_to_zero() -> None:
    """[1, 2, 1, 1] with a meta-learner per layer (a Feynman I.6.20a shape): the last layer's
    one edge was its own mean, centring made it 0 and the network's output identically 0 (and
    the gradients of the layers before it). It keeps the paper's start; the others are centred."""
    width = [1, 2, 1, 1]
    centered, paper = metakan("centered", width, clusters=3), metakan("paper", width, clusters=3)
    raw, start = raw_coefficients(centered), raw_coefficients(paper)
    torch.testing.assert_close(raw[2], start[2])
    assert float(raw[2].detach().abs().max()) > 1e-2
    for layer in (0, 1):  # two edges each: centred, w_1 = −w_2
        assert raw[layer].mean(dim=(0, 1)).abs().max() < 1e-6
    x = torch.linspace(-1, 1, 50, dtype=torch.float64)[:, None]
    assert float(centered(x).detach().std()) > 1e-3
    centered(x).pow(2).sum().backward()
    assert all(float(p.grad.abs().max()) > 0 for p in centered.coefficients.prompts[:2])


def test_centered_differs_from_paper_only_in_the_output_bias_by_the_mean() -> None:
    paper, centered = metakan("paper"), metakan("centered")
    assert count_parameters(paper) == count_parameters(centered)
    for (name, a), (_, b) in zip(
        paper.named_parameters(), centered.named_parameters(), strict=True
    ):
        if name.endswith("output.bias"):
            continue
        assert torch.equal(a, b), name
    shift = torch.cat([w.reshape(-1, w.shape[-1]) for w in raw_coefficients(paper)]).mean(0)
    for w_paper, w_centered in zip(raw_coefficients(paper), raw_coefficients(centered)):
        # the shift was computed in float32, at construction
        torch.testing.assert_close(w_centered, w_paper - shift, rtol=0, atol=1e-6)


def test_centered_state_round_trips_without_recentering() -> None:
    """Loading a trained state gives that state's coefficients, not a newly centred init."""
    trained = metakan("centered", seed=1)
    with torch.no_grad():
        trained.coefficients.meta_learners[0].output.bias += 0.5
    restored = metakan("centered", seed=2)
    restored.load_state_dict(trained.state_dict())
    for a, b in zip(trained.coefficients(), restored.coefficients(), strict=True):
        assert torch.equal(a, b)


@torch.no_grad()
def test_default_is_centered_and_paper_without_output_bias() -> None:
    assert build_model("metakan", WIDTH).config["meta_init"] == "centered"
    plain = build_model("metakan", WIDTH, meta_bias=False)
    assert plain.config["meta_init"] == "paper"  # nothing to shift: no error, no centring
    rebuilt = build_model(**plain.config)  # the recorded choice rebuilds the same model
    assert rebuilt.config == plain.config


def first_layer_offset(init: str, dim: int, seed: int) -> float:
    """Mean |h| of the first layer's outputs over points in the unit ball."""
    model = metakan(init, width=[dim, 8, 1], seed=seed, meta_hidden=32)
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(200, dim, generator=generator, dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True) * torch.rand(200, 1, generator=generator).double()
    layer, weight = model.layers[0], model.coefficients()[0]
    with torch.no_grad():
        return float(layer(x, weight).abs().mean())


def test_centered_first_layer_stays_order_one_as_the_dimension_grows() -> None:
    """Paper init: the common part grows like √d (≈ 6 at d = 1000); centred it does not."""

    def median(init: str, dim: int) -> float:
        return float(torch.tensor([first_layer_offset(init, dim, s) for s in range(5)]).median())

    paper = {d: median("paper", d) for d in (10, 2000)}
    centered = {d: median("centered", d) for d in (10, 2000)}
    assert paper[2000] > 4 * paper[10] and paper[2000] > 2.0
    assert centered[2000] < 0.5 and centered[2000] < 2 * centered[10]


# --- node means: per-node mean coefficients trained directly --------------------------------


def test_node_mean_parameter_count_adds_one_coefficient_vector_per_node() -> None:
    width = [20, 32, 32, 32, 1]
    plain = build_model("metakan", width, grid=5, k=3, meta_hidden=128)
    nodes = build_model("metakan", width, grid=5, k=3, meta_hidden=128, node_mean=True)
    assert count_parameters(plain) == 4137  # the paper's count
    assert count_parameters(nodes) == 4137 + (32 + 32 + 32 + 1) * (5 + 3 + 1)


def test_node_mean_is_each_nodes_edge_mean() -> None:
    model = metakan("centered", node_mean=True)
    source = model.coefficients
    with torch.no_grad():
        for mean in source.node_means:
            mean.copy_(torch.randn(mean.shape, generator=torch.Generator().manual_seed(5)))
    for w, mean in zip(source(), source.node_means, strict=True):
        torch.testing.assert_close(w.mean(dim=1), mean, rtol=0, atol=1e-12)


def test_node_mean_keeps_the_common_gradient_away_from_the_prompts() -> None:
    """A loss Σ_ji ⟨C_j, w_ji⟩ (the same direction for all edges of a node) moves only a_j.

    Without node means the prompts receive ⟨C_j, M'(z_ji)⟩/√n ≠ 0 for it, different per edge.
    """
    for node_mean, prompts_move in ((True, False), (False, True)):
        model = metakan("centered", node_mean=node_mean)
        source = model.coefficients
        directions = [torch.randn(w.shape[0], 1, w.shape[2], dtype=w.dtype) for w in source()]
        loss = sum((w * c).sum() for w, c in zip(source(), directions, strict=True))
        loss.backward()
        largest = max(float(p.grad.abs().max()) for p in source.prompts)
        assert (largest > 1e-3) == prompts_move, (node_mean, largest)
        if node_mean:
            for mean, c, (_, inputs) in zip(source.node_means, directions, source.shapes):
                torch.testing.assert_close(mean.grad, inputs * c.squeeze(1))


@pytest.mark.parametrize("node_mean", [False, True])
def test_metawavkan_divides_only_the_amplitude_by_the_fan_in(node_mean: bool) -> None:
    """φ = a ψ((t − μ)/softplus(s)) is linear in a only: w = (M_a(z)/√n, M_μ(z), M_s(z)). The
    factor on μ and s put all 32,000 first-layer edges of a d = 1000 net at one wavelet near 0
    (μ spread 0.004) and made a unit move of μ take an output change of √n."""
    width = [400, 6, 1]
    model = build_model(
        "metawavkan", width, torch.Generator().manual_seed(0), meta_hidden=8, node_mean=node_mean
    ).double()
    source = model.coefficients
    (meta,) = source.meta_learners
    prompts = source.prompts[0]
    generated = source()[0].detach()
    expected = meta(prompts).detach() * torch.tensor([400**-0.5, 1.0, 1.0], dtype=torch.float64)
    if node_mean:
        expected = expected - expected.mean(dim=1, keepdim=True) + source.node_means[0][:, None]
    torch.testing.assert_close(generated, expected.detach())
    # the centred start is the direct WavKAN's mean: a and μ at 0, σ = softplus(s) at 1
    edges = meta(source.cluster_prompts([0, 1])).detach()  # M(z) of the cluster's edges
    if node_mean:
        edges = torch.cat([w.detach().reshape(-1, 3) for w in source()])
    target = torch.tensor([0.0, 0.0, UNIT_SCALE], dtype=torch.float64)
    torch.testing.assert_close(edges.mean(dim=0), target, rtol=0, atol=1e-6)  # (float32 shift)


def test_metawavkan_gradient_reaches_translations_without_the_fan_in_factor() -> None:
    """∂w_μ/∂(output bias of μ) = 1 for every edge (it was 1/√n)."""
    model = build_model("metawavkan", [100, 3, 1], torch.Generator().manual_seed(1), meta_hidden=4)
    (meta,) = model.coefficients.meta_learners
    model.coefficients()[0][..., 1].sum().backward()
    assert float(meta.output.bias.grad[1]) == pytest.approx(100 * 3)
    assert float(meta.output.bias.grad[0]) == 0.0


def test_metawavkan_of_before_the_change_divides_all_three_by_the_fan_in() -> None:
    """``meta_fan_in="all"``: w = M(z)/√n for a, μ and s, centred to zero mean (what a
    MetaWavKAN was before 2026-12-07, and what its run files rebuild with)."""
    model = build_model(
        "metawavkan", [400, 6, 1], torch.Generator().manual_seed(0), meta_hidden=8,
        meta_fan_in="all",
    ).double()  # fmt: skip
    source = model.coefficients
    (meta,) = source.meta_learners
    torch.testing.assert_close(source()[0], meta(source.prompts[0]) / 20.0)
    torch.testing.assert_close(
        meta(source.cluster_prompts([0, 1])).mean(dim=0),
        torch.zeros(3, dtype=torch.float64),
        rtol=0,
        atol=1e-6,
    )


def test_an_old_metawavkan_run_file_rebuilds_and_resumes_as_it_was_trained(tmp_path) -> None:
    """A run file without ``meta_fan_in`` in its model config was made when the factor was on
    all three coefficients: its stored predictions are reproduced, and a resume trains that
    model (not today's default, which would give another function from the same weights)."""
    from pinnkan.evaluation import predict
    from pinnkan.plots.rebuild import rebuild_problem, rebuild_solution
    from pinnkan.results import read_run, write_run
    from pinnkan.runner import SolveSpec, resume_pde, solve_pde
    from pinnkan.train import TrainConfig

    train = TrainConfig(steps=3, test_points=50, eval_every=1, checkpoint_every=2)
    spec = SolveSpec(
        problem="poisson", problem_options={"dim": 3}, model="metawavkan",
        model_options={"meta_hidden": 4, "meta_fan_in": "all"}, width=[3, 4, 1], train=train,
    )  # fmt: skip
    out = tmp_path / "old.h5"
    solve_pde(spec, str(out))
    run = read_run(out)  # as a file of before the option: the key in neither config
    for config in (run.config["model"], run.model_config):
        del config["meta_fan_in"]
    del run.config["spec"]["model_options"]["meta_fan_in"]
    write_run(out, run)
    run = read_run(out)
    solution = rebuild_solution(run, rebuild_problem(run).geometry.radius)
    stored = torch.as_tensor(run.test_set["prediction"])
    assert torch.allclose(predict(solution, torch.as_tensor(run.test_set["x"])), stored, atol=1e-6)
    resumed = resume_pde(str(out), steps=4)
    assert resumed.status == "completed" and resumed.model_config["meta_fan_in"] == "all"
