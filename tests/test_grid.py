"""Grid update and extension keep the network's function; knots follow the data; rebuilds load."""

from __future__ import annotations

import pytest
import torch

import pinnkan
from pinnkan import build_model
from pinnkan.grid import extend_grid, layer_inputs, rebuild_model, update_grid
from pinnkan.knots import knots_from_samples, refine_knots

WIDTH = [3, 4, 2, 1]


def network(name: str, seed: int = 0, **options) -> torch.nn.Module:
    """``name``: kan, metakan or metakan-node (MetaKAN with random node means)."""
    node_mean = name == "metakan-node"
    if name.startswith("metakan"):  # the paper init: a function that varies well above round-off
        name = "metakan"
        options = {"meta_hidden": 16, "meta_init": "paper", "node_mean": node_mean, **options}
    generator = torch.Generator().manual_seed(seed)
    options = {"grid_range": (-2.0, 2.0), **options}
    model = build_model(name, WIDTH, generator=generator, grid=5, **options).double()
    if node_mean:
        with torch.no_grad():
            for mean in model.coefficients.node_means:
                mean.copy_(0.5 * torch.randn(mean.shape, generator=generator, dtype=mean.dtype))
    return model


def inside_points(count: int = 2000, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(count, WIDTH[0], generator=generator, dtype=torch.float64) * 2 - 1


def relative_change(before: torch.Tensor, after: torch.Tensor) -> float:
    return float((after - before).abs().max() / before.abs().max())


@pytest.mark.parametrize("name", ["kan", "metakan", "metakan-node"])
@pytest.mark.parametrize("new_grid", [10, 20])
def test_extension_preserves_the_function(name: str, new_grid: int) -> None:
    model = network(name)
    x = inside_points()
    assert all(float(h.abs().max()) < 2 for h in layer_inputs(model, x))  # inside the grid range
    with torch.no_grad():
        before = model(x)
    extend_grid(model, new_grid)
    with torch.no_grad():
        after = model(x)
    assert relative_change(before, after) < 1e-4  # measured 5e-7 … 2e-5 (the ridge's bias)
    assert model.config["grid"] == new_grid
    assert all(layer.family.num_coefficients == new_grid + 4 for layer in model.layers)


@pytest.mark.parametrize("new_grid", [10, 20])
def test_nested_extension_is_exact_but_for_the_ridge(new_grid: int) -> None:
    """The old spline space lies in the new one: without the ridge's bias (1e-14 instead of the
    default 1e-8) the KAN's function is kept to round-off of the nearly collinear end splines."""
    model = network("kan")
    x = inside_points()
    with torch.no_grad():
        before = model(x)
    extend_grid(model, new_grid, ridge=1e-14)
    with torch.no_grad():
        assert relative_change(before, model(x)) < 1e-7  # measured 1e-9, 2e-8


def test_extension_changes_the_coefficient_shapes_consistently() -> None:
    kan, meta = network("kan"), network("metakan")
    extend_grid(kan, 10)
    extend_grid(meta, 10)
    assert [tuple(w.shape) for w in kan.coefficients()] == [(4, 3, 14), (2, 4, 14), (1, 2, 14)]
    assert [tuple(w.shape) for w in meta.coefficients()] == [(4, 3, 14), (2, 4, 14), (1, 2, 14)]
    assert meta.coefficients.meta_learners[0].output.out_features == 14


def test_node_means_stay_the_edge_means_after_extension() -> None:
    """The refit fills the new node means (m' = G' + k + 1 columns) so that they remain the
    nodes' edge means and carry the common part: zeroing them changes the function."""
    model = network("metakan-node")
    x = inside_points()
    extend_grid(model, 10)
    source = model.coefficients
    assert [tuple(mean.shape) for mean in source.node_means] == [(4, 14), (2, 14), (1, 14)]
    for w, mean in zip(source(), source.node_means, strict=True):
        torch.testing.assert_close(w.mean(dim=1), mean, rtol=0, atol=1e-12)
    with torch.no_grad():
        before = model(x)
        for mean in source.node_means:
            mean.zero_()
        assert relative_change(before, model(x)) > 0.1


def test_non_nested_extension_is_close() -> None:
    model = network("kan")
    x = inside_points()
    with torch.no_grad():
        before = model(x)
    extend_grid(model, 7)
    with torch.no_grad():
        assert relative_change(before, model(x)) < 2e-2


def test_refined_uniform_knots_stay_uniform_and_nested() -> None:
    knots = torch.linspace(-1, 1, 6, dtype=torch.float64)
    step = knots[1] - knots[0]
    extended = torch.cat(
        [knots[0] - step * torch.arange(3, 0, -1), knots, knots[-1] + step * torch.arange(1, 4)]
    )
    refined = refine_knots(extended[None, :], order=3, new_grid=10)
    assert refined.shape == (1, 10 + 2 * 3 + 1)
    assert torch.allclose(refined.diff(), torch.full((16,), 0.2, dtype=torch.float64))
    assert all(torch.isclose(refined, value).any() for value in knots)


def test_knots_follow_the_data_distribution() -> None:
    generator = torch.Generator().manual_seed(0)
    x = (torch.randn(4000, 1, generator=generator, dtype=torch.float64) * 0.2).clamp(-0.9, 0.9)
    knots = knots_from_samples(x, grid=6, order=3, grid_eps=0.02)[0]
    interior = knots[3:-3]
    assert interior[0] == pytest.approx(float(x.min()), abs=1e-9)
    assert interior[-1] == pytest.approx(float(x.max()), abs=1e-9)
    fraction_inside = float(((x >= interior[2]) & (x <= interior[4])).double().mean())
    assert fraction_inside == pytest.approx(2 / 6, abs=0.03)  # knots at quantiles
    assert bool((knots.diff() > 0).all())


@pytest.mark.parametrize("name", ["kan", "metakan", "metakan-node"])
def test_update_keeps_the_function_and_moves_knots_to_the_data(name: str) -> None:
    model = network(name)
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(1000, 3, generator=generator, dtype=torch.float64) * 0.3
    with torch.no_grad():
        before = model(x)
    old_knots = model.layers[0].family.knots.clone()
    update_grid(model, x)
    with torch.no_grad():
        after = model(x)
    spread = float(before.max() - before.min())
    assert float((after - before).abs().max()) < 0.1 * spread
    assert float((after - before).square().mean()) < 1e-3 * float(before.var())
    new_knots = model.layers[0].family.knots
    assert float(new_knots[:, 3].max()) > float(old_knots[:, 3].max())  # grid shrank to the data
    assert float(new_knots[:, -4].min()) < float(old_knots[:, -4].min())


def test_metakan_update_fails_without_refitting_the_meta_learner() -> None:
    """Moving the knots alone changes a MetaKAN's function: the refit is what keeps it."""
    model = network("metakan")
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(1000, 3, generator=generator, dtype=torch.float64) * 0.3
    with torch.no_grad():
        before = model(x)
        for layer in model.layers:
            layer.family.knots = knots_from_samples(x[:, :1], 5, 3).expand(layer.in_features, -1)
        moved = model(x)
    assert float((moved - before).square().mean()) > 1e-2 * float(before.var())


@pytest.mark.parametrize("name", ["kan", "metakan", "metakan-node"])
def test_rebuild_after_extension_loads_the_state(name: str) -> None:
    model = network(name)
    x = inside_points(200)
    update_grid(model, x)
    extend_grid(model, 10)
    state = {key: value.clone() for key, value in model.state_dict().items()}
    rebuilt = rebuild_model(model.config, state)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))


def test_rebuild_with_different_grids_per_layer() -> None:
    from pinnkan.grid import set_layer_grid

    model = network("kan")
    set_layer_grid(model, 1, 8)
    state = model.state_dict()
    rebuilt = rebuild_model(model.config, state)
    assert rebuilt.layers[1].family.grid == 8 and rebuilt.layers[0].family.grid == 5
    x = inside_points(50)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))


def test_grid_operations_refuse_models_without_a_grid() -> None:
    mlp = build_model("mlp", WIDTH)
    with pytest.raises(ValueError, match="no B-spline grid"):
        extend_grid(mlp, 10)
    with pytest.raises(ValueError, match="grid_eps"):
        update_grid(network("kan"), inside_points(10), grid_eps=0.0)


NAN_SAMPLES = torch.tensor([[float("nan"), 0.0]] + [[0.1 * i, 0.2] for i in range(9)])


@pytest.mark.parametrize(
    ("x", "update_message", "extension_message"),
    [
        (torch.zeros(0, 2), "from 0 samples is not allowed with grid=5", "0 samples .* grid=7"),
        (torch.rand(5, 2), "from 5 samples .* grid=5: its 6 knots", "grid=7: its 8 knots"),
        (NAN_SAMPLES, "not finite .* at 1 of 10 points", "not finite .* at 1 of 10 points"),
    ],
    ids=["empty", "fewer than G + 1", "NaN"],
)
@pytest.mark.parametrize("name", ["kan", "metakan"])
def test_grid_samples_are_checked(name, x, update_message, extension_message) -> None:
    """One NaN sample made every knot NaN and the network NaN everywhere, silently; an empty
    batch was an IndexError; one sample gave degenerate knots (output changed 10,455×)."""
    model = build_model(name, width=[2, 3, 1], grid=5, k=3)
    with pytest.raises(ValueError, match=update_message):
        update_grid(model, x)
    with pytest.raises(ValueError, match=extension_message):
        extend_grid(model, 7, x)


def test_a_meta_refit_too_large_for_the_machine_is_one_line(monkeypatch) -> None:
    """G = 200 with meta_hidden 64 builds a 13,260² float64 system (and a second one for the
    solver): on a machine without the memory the kernel killed the process without a word."""
    import pinnkan.grid as grid

    model = build_model("metakan", width=[2, 3, 1], grid=5, k=3)
    pages = {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": 2**18}  # 1 GiB
    monkeypatch.setattr(grid.os, "sysconf", pages.__getitem__)
    with pytest.raises(ValueError, match=r"13,260 × 13,260 linear system \(2.6 GiB .* 1.0 GiB"):
        extend_grid(model, 200, torch.rand(300, 2) * 2 - 1)


def test_an_input_constant_in_the_samples_keeps_its_knots() -> None:
    """Its quantile knots fell within 2e-5 of one another (knots 6.7e-6 apart): the function
    off the sample was lost and |Δu| reached 168 (float32 and float64 engines then disagreed)."""
    torch.manual_seed(0)
    model = build_model("kan", [2, 3, 1], k=2, grid=3).double()
    before = model.layers[0].family.knots.clone()
    samples = torch.randn(64, 2, dtype=torch.float64)
    samples[:, 1] = 0.25
    x = torch.tensor([[0.1, 0.25], [0.2, 0.25], [0.0, 0.25], [0.2, 0.3]], dtype=torch.float64)
    lap_before = pinnkan.laplacian(model, x)[1].detach()
    update_grid(model, samples)
    knots = model.layers[0].family.knots
    torch.testing.assert_close(knots[1], before[1])  # the constant input's
    assert not torch.allclose(knots[0], before[0])  # the other input's follow its samples
    lap_after = pinnkan.laplacian(model, x)[1].detach()
    # measured: 3.2× (the update's own change); with the collapsed knots 250×
    assert lap_after.abs().max() < 10 * lap_before.abs().max()
