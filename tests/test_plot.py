"""Figures from run files: the maths behind each picture, and every kind rendered for real."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.colors import LogNorm, Normalize
from matplotlib.image import imread
from scipy import stats

from pinnkan import cli, plot, plot_cli
from pinnkan.geometry import Ball
from pinnkan.nn import build_model
from pinnkan.plots.canvas import error_norm, spans_decades
from pinnkan.plots.curves import merged_losses
from pinnkan.plots.edges import edge_coefficients, edge_values, layer_inputs
from pinnkan.plots.errors import log_bins, radial_profile
from pinnkan.plots.fields import slice_field
from pinnkan.plots.options import PlotOptions
from pinnkan.plots.parity import parity_statistics
from pinnkan.plots.plane import axis_plane, disc_grid, random_plane
from pinnkan.plots.prompts import prompt_distances
from pinnkan.plots.rebuild import rebuild_model, rebuild_problem, rebuild_solution
from pinnkan.plots.similarity import cosine_similarity
from pinnkan.plots.table import read_table
from pinnkan.results import Run, read_run, write_run
from pinnkan.runner import SolveSpec, solve_pde
from pinnkan.train import TrainConfig, predict

SMALL = PlotOptions(resolution=33, bins=8, max_edges=3, samples=21, dpi=40)


# --- run files made in the test ----------------------------------------------------------------


def solve(model: str, width: list[int], out: Path, **model_options) -> Path:
    train = TrainConfig(steps=8, lr=1e-2, test_points=300, eval_every=2, laplacian="forward")
    spec = SolveSpec(
        problem="poisson",
        problem_options={"dim": 3},
        model=model,
        model_options=model_options,
        width=width,
        train=train,
    )
    solve_pde(spec, str(out))
    return out


def regression_run(out: Path) -> Path:
    """A fitted-by-hand regression run of f3(x) = exp(−mean x²) on [−1, 1]²."""
    generator = torch.Generator().manual_seed(3)
    model = build_model("kan", [2, 2, 1], generator=generator)
    x = torch.rand(200, 2, generator=generator) * 2 - 1
    y_true = (-x.square().mean(dim=1)).exp()
    y_pred = predict(model, x)
    mse = float((y_pred - y_true).square().mean())
    steps = np.arange(1, 6) * 10
    run = Run(
        config={
            "kind": "regression",
            "problem": {"name": "highdim:f3", "dim": 2, "variant": "f3"},
            "model": model.config,
            "train": {"steps": 50, "seed": 0},
            "seed": 0,
        },
        history={"step": steps, "loss": 1.0 / steps, "mse": 2.0 / steps},
        metrics={"mse": mse, "params": 36, "steps": 50},
        status="completed",
        test_set={"x": x.numpy(), "y_true": y_true.numpy(), "y_pred": y_pred.numpy()},
        model_state=model.state_dict(),
    )
    write_run(out, run)
    return out


def renamed_problem(source: Path, out: Path) -> Path:
    """A copy of a run whose problem is no longer known (e.g. a moved user file)."""
    run = read_run(source)
    run.config["problem"] = {**run.config["problem"], "name": "gone.py:Missing"}
    run.config["spec"] = {**run.config["spec"], "problem": "gone.py:Missing"}
    write_run(out, run)
    return out


MEMORY_CSV = """# command: python -m benchmarks.memory
# device: cpu
model,width,edges,grid,meta_hidden,parameters,modelled_peak_bytes,device_peak_bytes,time_ms
kan,4-8-8-1,104,5,,936,100000,,1.0
metakan,4-8-8-1,104,5,16,409,60000,,1.2
mlp,4-8-8-1,104,5,,104,20000,,0.5
kan,4-32-32-1,1184,5,,10656,900000,,3.0
metakan,4-32-32-1,1184,5,16,1489,400000,,3.1
mlp,4-32-32-1,1184,5,,1184,90000,,1.0
kan,4-32-32-1,1184,20,,28416,2000000,,5.0
metakan,4-32-32-1,1184,20,16,1744,500000,,4.0
mlp,4-32-32-1,1184,20,,1184,90000,,1.0
"""

LAPLACIAN_CSV = """# laplacian engines, cpu
dim,points,engine,model,step_time_ms,ratio_to_autograd
10,100,autograd,kan,20.0,1.0
10,100,forward,kan,4.0,0.2
100,100,autograd,kan,200.0,1.0
100,100,forward,kan,10.0,0.05
10,100,autograd,metakan,22.0,1.0
10,100,forward,metakan,5.0,0.23
100,100,autograd,metakan,210.0,1.0
100,100,forward,metakan,11.0,0.052
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("plots")
    (folder / "bench_memory.csv").write_text(MEMORY_CSV)
    (folder / "bench_laplacian.csv").write_text(LAPLACIAN_CSV)
    return {
        "kan": solve("kan", [3, 4, 1], folder / "kan.h5"),
        "metakan": solve("metakan", [3, 3, 1], folder / "metakan.h5", meta_hidden=8),
        "regression": regression_run(folder / "regression.h5"),
        "unknown_problem": renamed_problem(folder / "kan.h5", folder / "unknown.h5"),
        "memory": folder / "bench_memory.csv",
        "laplacian": folder / "bench_laplacian.csv",
    }


# --- rebuilding the trained network ------------------------------------------------------------


def test_rebuilt_network_reproduces_the_stored_test_predictions(files):
    run = read_run(files["kan"])
    x = torch.as_tensor(run.test_set["x"])
    solution = rebuild_solution(run, rebuild_problem(run).geometry.radius)
    stored = torch.as_tensor(run.test_set["prediction"])
    assert torch.allclose(predict(solution, x), stored, rtol=1e-5, atol=1e-6)
    # the hard constraint matters: the bare backbone gives other values inside the ball
    bare = predict(rebuild_model(run), x)
    assert not torch.allclose(bare, stored, atol=1e-3)
    envelope = 1 - x.square().sum(dim=1)
    assert torch.allclose(envelope * bare, stored, rtol=1e-5, atol=1e-6)


def test_rebuild_without_weights_is_refused(files):
    run = read_run(files["kan"], load_model=False)
    with pytest.raises(ValueError, match="holds no model weights"):
        rebuild_model(run)


# --- the slice plane ---------------------------------------------------------------------------


def test_axis_plane_fixes_the_other_coordinates():
    plane = axis_plane(5, (1, 3), offset=0.2)
    points = plane.points(np.array([0.3, -0.1]), np.array([0.5, 0.0]))
    np.testing.assert_allclose(points[:, 1], [0.3, -0.1])
    np.testing.assert_allclose(points[:, 3], [0.5, 0.0])
    np.testing.assert_allclose(points[:, [0, 2, 4]], 0.2)
    assert plane.radius == pytest.approx(math.sqrt(1 - 3 * 0.2**2))


def test_random_plane_is_orthonormal_and_cuts_the_ball_in_a_disc():
    plane = random_plane(7, seed=4, offset=0.5, ball_radius=2.0)
    np.testing.assert_allclose(plane.basis @ plane.basis.T, np.eye(2), atol=1e-12)
    np.testing.assert_allclose(plane.basis @ plane.origin, 0.0, atol=1e-12)
    assert np.linalg.norm(plane.origin) == pytest.approx(0.5)
    assert plane.radius == pytest.approx(math.sqrt(4.0 - 0.25))
    angles = np.linspace(0, 2 * np.pi, 50)
    rim = plane.points(plane.radius * np.cos(angles), plane.radius * np.sin(angles))
    np.testing.assert_allclose(np.linalg.norm(rim, axis=1), 2.0)
    points, inside = disc_grid(plane, 17)
    assert np.all(np.linalg.norm(points[inside.ravel()], axis=1) <= 2.0 + 1e-12)
    assert np.all(np.linalg.norm(points[~inside.ravel()], axis=1) > 2.0)
    again = random_plane(7, seed=4, offset=0.5, ball_radius=2.0)
    np.testing.assert_array_equal(again.basis, plane.basis)
    assert not np.allclose(random_plane(7, seed=5).basis, plane.basis)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: axis_plane(4, (1, 1)), "two different axes"),
        (lambda: axis_plane(4, (0, 4)), "axes are integers 0 … 3"),
        (lambda: axis_plane(4, (0, 1), offset=0.8), "outside the ball"),
        (lambda: random_plane(3, seed=0, offset=1.0), "outside the ball"),
        (lambda: axis_plane(2, (0, 1), offset=0.1), "dimension 2"),
    ],
)
def test_bad_planes_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_slice_field_is_the_exact_solution_at_the_plane(files):
    run = read_run(files["kan"])
    options = PlotOptions(resolution=9, axes=(0, 2), offset=0.3)
    field = slice_field(run, options)
    centre = torch.tensor([[0.0, 0.3, 0.0]], dtype=torch.float64)
    exact = rebuild_problem(run).exact_solution().value(centre)
    assert field.exact[4, 4] == pytest.approx(float(exact[0]), rel=1e-12)
    assert np.isnan(field.exact[0, 0]) and np.isnan(field.error[0, 0])  # corner is off the disc
    np.testing.assert_allclose(field.error, np.abs(field.prediction - field.exact))


# --- error statistics --------------------------------------------------------------------------


@pytest.mark.parametrize("law", ["radial", "volume"])
def test_radial_profile_counts_follow_the_sampling_law(law):
    dim, bins, n = 4, 10, 4000
    generator = torch.Generator().manual_seed(11)
    points = Ball(dim).sample_interior(n, law=law, generator=generator).double().numpy()
    radius = np.linalg.norm(points, axis=1)
    profile = radial_profile(points, radius, np.ones(n), bins, 1.0)
    edges = profile.edges
    expected = n * np.diff(edges if law == "radial" else edges**dim)
    assert profile.count.sum() == n
    assert stats.chisquare(profile.count, expected).pvalue > 1e-3
    # error = |x|: every shell's mean, median and band lie inside the shell
    assert np.all((profile.mean >= edges[:-1]) & (profile.mean <= edges[1:]))
    assert np.all((profile.lower <= profile.median) & (profile.median <= profile.upper))


def test_radial_profile_marks_empty_shells():
    points = np.array([[0.05, 0.0], [0.06, 0.0]])
    profile = radial_profile(points, np.array([1.0, 3.0]), np.ones(2), 4, 1.0)
    assert profile.count.tolist() == [2, 0, 0, 0]
    assert profile.mean[0] == pytest.approx(2.0)
    assert np.isnan(profile.mean[1:]).all()


def test_log_bins_cover_the_errors_in_whole_decades():
    errors = np.array([3e-6, 2e-4, 0.07])
    edges = log_bins(errors, 12)
    assert edges[0] == pytest.approx(1e-6) and edges[-1] == pytest.approx(0.1)
    assert np.allclose(np.diff(np.log10(edges)), 5 / 12)


def test_error_colour_scale_is_logarithmic_only_across_decades():
    wide = np.geomspace(1e-6, 1e-1, 200)
    narrow = np.linspace(1e-3, 5e-3, 200)
    assert spans_decades(wide) and not spans_decades(narrow)
    assert isinstance(error_norm(wide), LogNorm)
    norm = error_norm(narrow)
    assert not isinstance(norm, LogNorm) and norm.vmin == 0.0 and norm.vmax == pytest.approx(5e-3)


def test_parity_statistics():
    truth = np.array([1.0, 2.0, 3.0, 4.0])
    assert parity_statistics(truth, truth) == (0.0, 1.0)
    mse, r_squared = parity_statistics(truth, np.full(4, truth.mean()))
    assert mse == pytest.approx(1.25) and r_squared == pytest.approx(0.0)


def test_a_loss_term_equal_to_the_total_is_drawn_once():
    interior, boundary = np.array([3.0, 1.0, 0.5]), np.array([0.2, 0.1, 0.05])
    hard = {"loss_interior": interior, "loss": interior.copy(), "loss_boundary": boundary}
    lines = dict(merged_losses(hard, ["loss_interior", "loss", "loss_boundary"]))
    assert list(lines) == ["loss", "loss_boundary"]
    assert lines["loss"] == "total loss (= interior residual loss)"
    soft = {**hard, "loss": 0.01 * interior + boundary}
    assert len(merged_losses(soft, ["loss_interior", "loss", "loss_boundary"])) == 3
    labels = dict(merged_losses(soft, ["loss_interior", "loss", "loss_boundary"], alpha=0.01))
    assert labels["loss"] == "total = α·interior + boundary (α = 0.01)"  # below the interior


# --- what the network learned ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["kan", "fastkan", "wavkan", "metakan"])
def test_edge_functions_sum_to_the_layer_output(name):
    generator = torch.Generator().manual_seed(0)
    network = build_model(name, [3, 4, 2], generator=generator, bias=True).double()
    with torch.no_grad():
        for layer in network.layers:
            layer.bias.normal_(generator=generator)
    x = torch.rand(16, 3, generator=generator, dtype=torch.float64) * 2 - 1
    inputs = layer_inputs(network, x)
    weights = edge_coefficients(network)
    for index, (layer, weight) in enumerate(zip(network.layers, weights, strict=True)):
        edges = edge_values(layer, weight, inputs[index])
        assert edges.shape == (16, layer.in_features, layer.out_features)
        expected = layer(inputs[index], weight)
        assert torch.allclose(edges.sum(dim=1) + layer.bias, expected, atol=1e-12)
    assert torch.allclose(network.layers[-1](inputs[-1], weights[-1]), network(x))


def test_cosine_similarity():
    generator = np.random.default_rng(0)
    vectors = generator.standard_normal((6, 5))
    vectors[1] = 2.5 * vectors[0]
    vectors[2] = -vectors[0]
    vectors[3] = 0.0
    similarity = cosine_similarity(vectors)
    np.testing.assert_allclose(similarity, similarity.T)
    assert similarity[0, 1] == pytest.approx(1.0) and similarity[0, 2] == pytest.approx(-1.0)
    assert np.all(similarity[3] == 0.0)
    reference = torch.nn.functional.cosine_similarity(
        torch.as_tensor(vectors[4:, None]), torch.as_tensor(vectors[None, 4:]), dim=-1
    )
    np.testing.assert_allclose(similarity[4:, 4:], reference.numpy(), rtol=1e-12)
    orthogonal = cosine_similarity(np.eye(3))
    np.testing.assert_allclose(orthogonal, np.eye(3))


def test_prompt_distances():
    scalars = np.array([[0.5], [-1.0], [2.0]])
    np.testing.assert_allclose(prompt_distances(scalars), np.abs(scalars - scalars.T))
    vectors = np.random.default_rng(1).standard_normal((7, 3))
    reference = torch.cdist(torch.as_tensor(vectors), torch.as_tensor(vectors))
    np.testing.assert_allclose(prompt_distances(vectors), reference.numpy(), atol=1e-12)


# --- benchmark tables --------------------------------------------------------------------------


def test_benchmark_table_reading(files):
    table = read_table(files["memory"])
    assert table.comments == ["command: python -m benchmarks.memory", "device: cpu"]
    assert table.find("Meta-Hidden", "x") == "meta_hidden"
    assert table.find("Peak memory (bytes)") is None
    np.testing.assert_array_equal(table.numbers("edges")[:3], [104, 104, 104])
    assert np.isnan(table.numbers("meta_hidden")[0]) and table.numbers("meta_hidden")[1] == 16
    assert np.isnan(table.numbers("device_peak_bytes")).all()
    with pytest.raises(ValueError, match="no engine column"):
        table.require("engine", "engine")


# --- which kinds a file gets ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kinds"),
    [
        ("kan", ["field", "radial", "histogram", "curves", "activations", "similarity"]),
        (
            "metakan",
            ["field", "radial", "histogram", "curves", "activations", "similarity", "prompts"],
        ),
        ("regression", ["histogram", "curves", "activations", "similarity", "parity"]),
        ("memory", ["memory"]),
        ("laplacian", ["laplacian"]),
    ],
)
def test_default_kinds_are_those_that_apply(files, name, kinds):
    source = plot.load_source(files[name])
    assert [kind.name for kind in plot.select_kinds(source, None, name)] == kinds


@pytest.mark.parametrize(
    ("name", "kind", "message"),
    [
        ("kan", "prompts", "model 'kan' has no prompts"),
        ("regression", "field", "regression run, not a PDE run"),
        ("kan", "parity", "pde run, not a regression run"),
        ("kan", "memory", "benchmark table"),
        ("memory", "laplacian", "not a laplacian benchmark"),
        ("laplacian", "curves", "run files"),
        ("kan", "pictures", "not known"),
        ("unknown_problem", "field", "problem cannot be rebuilt"),
    ],
)
def test_kinds_that_do_not_apply_are_refused(files, tmp_path, name, kind, message):
    with pytest.raises(ValueError, match=message) as caught:
        plot.plot_file(files[name], [kind], out=tmp_path)
    assert str(files[name]) in str(caught.value) or kind == "pictures"
    assert "\n" not in str(caught.value)
    assert not list(tmp_path.iterdir())


# --- rendering -----------------------------------------------------------------------------------

EXPECTED_INCHES = {"field": (13.5, 4.3), "histogram": (7.5, 4.5), "parity": (6.2, 6.0)}


def check_png(path: Path, inches: tuple[float, float] | None, dpi: int) -> np.ndarray:
    image = imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    if inches is not None:
        assert image.shape[:2] == (round(inches[1] * dpi), round(inches[0] * dpi))
    assert image[..., :3].std() > 0.05  # something is drawn, not a blank canvas
    return image


@pytest.mark.parametrize(
    ("name", "kinds"),
    [
        ("kan", ["field", "radial", "histogram", "curves", "activations", "similarity"]),
        ("metakan", ["prompts", "activations"]),
        ("regression", ["parity", "curves"]),
        ("memory", ["memory"]),
        ("laplacian", ["laplacian"]),
    ],
)
def test_every_kind_renders(files, tmp_path, name, kinds):
    written = plot.plot_file(files[name], kinds, out=tmp_path, options=SMALL)
    assert [path.name for path in written] == [f"{files[name].stem}-{k}.png" for k in kinds]
    source = plot.load_source(files[name])
    for kind, path in zip(kinds, written, strict=True):
        inches = EXPECTED_INCHES.get(kind)
        if inches is None:
            inches = tuple(plot.KINDS[kind].draw(source, SMALL).get_size_inches())
        check_png(path, inches, SMALL.dpi)


def test_parity_title_fits_the_figure(files):
    """A long run title (Feynman I.9.18, a deep width) is wrapped, not clipped at the edges."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    run = read_run(files["regression"], load_model=True)
    run.config["problem"] = {"name": "feynman:I.9.18", "dim": 9, "variant": "I.9.18"}
    run.model_config = None
    run.config["model"] = {**run.config["model"], "width": [9, 5, 5, 5, 1]}
    run.metrics.update(params=12_345, steps=20)
    figure = plot.KINDS["parity"].draw(run, SMALL)
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    title = figure.axes[0].title
    box, page = title.get_window_extent(canvas.get_renderer()), figure.bbox
    assert "20 steps" in title.get_text()
    assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1


def test_activation_grid_is_capped_per_layer(files):
    run = read_run(files["kan"])
    figure = plot.KINDS["activations"].draw(run, PlotOptions(max_edges=2, samples=11))
    # layers [3 → 4] and [4 → 1]: 2×2 + 1×2 small plots
    assert len(figure.axes) == 6
    capped = figure.axes[0].lines[0].get_xydata()
    assert capped.shape == (11, 2)


@pytest.mark.parametrize("name", ["kan", "metakan"])
def test_activations_of_a_run_without_test_points_span_the_grid(files, name):
    """A run file whose test set has no x (the format allows it) crashed the figure: the layers
    ran on 0 points and reshape(0, -1) is ambiguous. The curves now span the grid range, and
    the caption says so."""
    run = read_run(files[name])
    run.test_set = {}
    figure = plot.KINDS["activations"].draw(run, PlotOptions(max_edges=2, samples=11))
    t = figure.axes[0].lines[0].get_xydata()[:, 0]
    assert t[0] == -1.0 and t[-1] == 1.0
    assert "t spans the grid range [-1, 1] (the run file stores no test points)" in (
        figure._suptitle.get_text()
    )
    with_points = plot.KINDS["activations"].draw(read_run(files[name]), SMALL)
    assert "t spans the values input i takes at the test points" in with_points._suptitle.get_text()


def test_pdf_and_png_formats(files, tmp_path):
    written = plot.plot_file(files["kan"], ["histogram"], tmp_path, ("png", "pdf"), SMALL)
    assert [path.suffix for path in written] == [".png", ".pdf"]
    assert written[1].read_bytes().startswith(b"%PDF")


# --- command line ----------------------------------------------------------------------------------


def plot_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pinnkan plot")
    plot_cli.add_plot_arguments(parser)
    return parser


def test_run_plot_from_command_line_flags(files, tmp_path, capsys):
    argv = [str(files["kan"]), "--kind", "field,curves", "--out", str(tmp_path)]
    argv += ["--plane", "random", "--plane-seed", "3", "--resolution", "17", "--dpi", "30"]
    assert plot_cli.run_plot(plot_parser().parse_args(argv)) == 0
    printed = capsys.readouterr().out.split()
    assert [Path(line).name for line in printed] == ["kan-field.png", "kan-curves.png"]
    check_png(tmp_path / "kan-field.png", EXPECTED_INCHES["field"], 30)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--axes", "0"], "axes='0' is not allowed"),
        (["--format", "jpg"], "format 'jpg' is not allowed"),
        (["--offset", "1.2", "--kind", "field"], "outside the ball"),
        (["--resolution", "4"], "resolution=4 is not allowed"),
    ],
)
def test_run_plot_bad_flags(files, tmp_path, flags, message):
    args = plot_parser().parse_args([str(files["kan"]), "--out", str(tmp_path), *flags])
    with pytest.raises(ValueError, match=message):
        plot_cli.run_plot(args)


def cli_has(command: str) -> bool:

    parser = cli.get_args_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return command in subparsers.choices


@pytest.mark.skipif(not cli_has("plot"), reason="`pinnkan plot` is not wired into the CLI yet")
def test_pinnkan_plot_command(files, tmp_path, capsys):

    argv = ["plot", str(files["metakan"]), "--kind", "prompts", "--out", str(tmp_path)]
    assert cli.main([*argv, "--dpi", "30"]) == 0
    check_png(tmp_path / "metakan-prompts.png", None, 30)
    assert cli.main(["plot", str(files["kan"]), "--kind", "prompts"]) == 2
    assert "pinnkan: error: figure kind 'prompts' does not apply" in capsys.readouterr().err


RESULTS = Path(__file__).resolve().parent.parent / "results"


@pytest.mark.parametrize(
    "name, panels",
    [("bench_laplacian.csv", (2, 2)), ("bench_laplacian_highdim.csv", (1, 1))],
)
def test_the_committed_laplacian_benchmarks_plot(tmp_path, name: str, panels: tuple) -> None:
    """What `pinnkan bench laplacian` writes (``step_ms``, speed-ups empty where the autograd
    loop was skipped): a column per point count, a speed-up row only where there are speed-ups."""
    from pinnkan.plots.benchmarks import draw_laplacian
    from pinnkan.plots.table import read_table

    figure = draw_laplacian(read_table(RESULTS / name), None)
    assert len(figure.axes) == panels[0] * panels[1]
    assert figure.axes[0].get_ylabel() == "time per step (ms)"
    assert all(axis.get_lines() for axis in figure.axes)
    if panels[0] == 2:  # the autograd loop's speed-up, not the models' paired ratio
        assert figure.axes[-1].get_ylabel() == "speedup vs autograd"
    assert cli.main(["plot", str(RESULTS / name), "--out", str(tmp_path), "--dpi", "30"]) == 0
    assert (tmp_path / f"{Path(name).stem}-laplacian.png").exists()


def test_activation_probes_of_a_normalized_fit_are_the_network_inputs(tmp_path):
    """A fit with ``normalize`` trained on inputs mapped onto [-1, 1]^d: the edge functions are
    drawn over those (the raw inputs were fed before: ranges in physical units, and every later
    layer's inputs from a wrong forward pass)."""
    from fit_helpers import small_kan_fit_config

    from pinnkan.fit import fit
    from pinnkan.plots.activations import probe_points
    from pinnkan.plots.rebuild import rebuild_kan

    out = tmp_path / "fit.h5"
    fit(small_kan_fit_config(problem="feynman:I.6.20", steps=2, normalize=True), str(out))
    run = read_run(out, load_model=True)
    network = rebuild_kan(run)
    x = probe_points(run, network)
    raw = torch.as_tensor(run.test_set["x"]).to(x.dtype)
    assert x.abs().max() <= 1 + 1e-6 and not torch.allclose(x, raw)
    with torch.no_grad():
        predicted = network(x).squeeze(-1).numpy()
    np.testing.assert_allclose(predicted, run.test_set["prediction"], rtol=1e-5, atol=1e-6)


def test_histogram_names_the_error_of_its_kind_of_run(files, tmp_path):
    """A fit stores ``exact``/``prediction`` like a solve: the label follows the run's kind
    (a fit's histogram said |û − u| beside a parity plot of y and ŷ)."""
    from fit_helpers import small_kan_fit_config

    from pinnkan.fit import fit
    from pinnkan.plots.errors import draw_histogram

    out = tmp_path / "fit.h5"
    fit(small_kan_fit_config(steps=2), str(out))
    for path, symbol in ((out, r"|\hat y - y|"), (files["kan"], r"|\hat u - u|")):
        figure = draw_histogram(read_run(path, load_model=False), SMALL)
        assert symbol in figure.axes[0].get_xlabel()


@pytest.mark.parametrize("status", ["diverged", "failed", "interrupted", "running"])
def test_titles_say_when_a_run_did_not_complete(files, status):
    """A diverged run's figures read "· 0 steps", like a finished run of zero steps."""
    from pinnkan.plots.titles import run_title

    run = read_run(files["kan"])
    assert run.status == "completed" and "DIVERGED" not in run_title(run)
    run.status = status
    run.metrics["steps"] = 7
    title = run_title(run)
    assert title.endswith(f" · {status.upper()}, weights of step 7") and "7 steps" not in title
    run.metrics["best_step"] = 2  # a fit with --validation restored the state of step 2
    assert run_title(run).endswith(f" · {status.upper()}, weights of step 2")


def test_u_and_prediction_share_a_scale_unless_far_apart():
    """A prediction 6e7 large put u (≈ 1) in one flat colour of a shared ±6e7 scale."""
    from pinnkan.plots.fields import solution_norms

    u = np.array([[-1.0, 0.5], [np.nan, 1.0]])
    exact, prediction, note = solution_norms(u, 3 * u)
    assert exact is prediction and (exact.vmin, exact.vmax, note) == (-3.0, 3.0, "")
    exact, prediction, note = solution_norms(u, 6e7 * u)
    assert (exact.vmax, prediction.vmax, note) == (1.0, 6e7, " (own scale)")


def test_field_pixels_are_centred_on_the_nodes_and_clipping_is_marked():
    """Nodes at linspace(−ρ, ρ, N): pixel edges half a spacing beyond ±ρ (they were at ±ρ)."""
    import matplotlib.pyplot as plt

    from pinnkan.plots.fields import clipped_below, show_disc

    plane = axis_plane(3, (0, 1), 0.0, 1.0)
    values = np.arange(25.0).reshape(5, 5)
    figure, axis = plt.subplots()
    image = show_disc(axis, values, plane, "viridis", Normalize(0, 24))
    assert image.get_extent() == pytest.approx([-1.25, 1.25, -1.25, 1.25])
    plt.close(figure)
    errors = np.array([1e-9, 1e-3, 1e-1, 1.0])
    assert clipped_below(errors, LogNorm(vmin=1e-3, vmax=1.0))
    assert not clipped_below(errors, Normalize(vmin=1e-3, vmax=1.0))


def test_damaged_weights_are_one_line_before_any_figure(files, tmp_path, capsys):
    """Stored weights that do not fit the model config gave a load_state_dict traceback after
    the curves figure was already written."""
    run = read_run(files["kan"])
    name = next(iter(run.model_state))
    run.model_state[name] = torch.zeros(3, 3, 3, dtype=run.model_state[name].dtype)
    damaged = tmp_path / "damaged.h5"
    write_run(damaged, run)
    out = tmp_path / "figures"
    assert cli.main(["plot", str(damaged), "--kind", "curves,field", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"pinnkan: error: run file {damaged} is damaged: its model weights")
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda path: None, "does not exist"),
        (lambda path: path.mkdir(), "is a folder; give a .csv file"),  # said "does not exist"
        (lambda path: path.write_bytes(b"\x89HDF\r\n"), "is not a text CSV (byte 0 is not UTF-8)"),
        (lambda path: path.write_text("# only a comment\n"), "has no header row"),
        (lambda path: path.write_text("a,b\n"), "has a header but no rows"),
    ],
)
def test_a_bad_benchmark_table_is_one_line_naming_it(tmp_path, capsys, make, message):
    path = tmp_path / "bench.csv"
    make(path)
    assert cli.main(["plot", str(path), "--out", str(tmp_path / "figures")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"pinnkan: error: benchmark table {path} {message}")
    assert "\n" not in err


@pytest.mark.parametrize(
    ("flags", "notes"),
    [
        (
            ["--kind", "curves", "--axes", "0,99", "--offset", "5", "--bins", "3"],
            [
                "--axes 0,99 is not used: no field figure is drawn",
                "--offset 5 is not used: no field figure is drawn",
                "--bins 3 is not used: only the radial and histogram figures use it",
            ],
        ),
        (
            ["--kind", "field", "--plane", "random", "--axes", "0,0", "--resolution", "16"],
            ["--axes 0,0 is not used: a random plane has no coordinate axes"],
        ),
        (
            ["--kind", "field", "--plane-seed", "3", "--resolution", "16"],
            ["--plane-seed 3 is not used: only --plane random is drawn from a seed"],
        ),
        (["--kind", "field", "--resolution", "16"], []),
    ],
)
def test_plot_notes_flags_its_figures_do_not_use(files, tmp_path, capsys, flags, notes):
    assert cli.main(["plot", str(files["kan"]), *flags, "--out", str(tmp_path), "--dpi", "30"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [f"pinnkan: note: {note}" for note in notes]


def test_plot_notes_unused_flags_without_kind_too(files, tmp_path, capsys):
    """Without --kind the figures are every kind that applies: a benchmark CSV draws no field
    and no error statistics, so --axes and --bins did nothing, silently."""
    argv = ["plot", str(files["laplacian"]), "--axes", "0,2", "--bins", "10"]
    assert cli.main([*argv, "--out", str(tmp_path), "--dpi", "30"]) == 0
    assert capsys.readouterr().err.splitlines() == [
        "pinnkan: note: --axes 0,2 is not used: no field figure is drawn",
        "pinnkan: note: --bins 10 is not used: only the radial and histogram figures use it",
    ]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--max-edges", "0"], "--max-edges=0 is not allowed; it must be an integer ≥ 1"),
        (["--plane-seed", "-1"], "--plane-seed=-1 is not allowed; it must be an integer ≥ 0"),
        (["--axes", "0"], "--axes='0' is not allowed; give two integers like 0,1"),
        (["--offset", "nan"], "--offset=nan is not allowed; give a finite number"),
        (["--axes", "0,0"], "--axes=0,0 are not allowed; give two different axes"),
    ],
)
def test_bad_plot_flags_are_named_as_typed(files, tmp_path, capsys, flags, message):
    """They were named by their fields ("max_edges=0 is not allowed")."""
    assert cli.main(["plot", str(files["kan"]), *flags, "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().startswith(f"pinnkan: error: {message}")


def text_boxes_fit(figure) -> bool:
    """Every title (the suptitle, each panel's) and legend lies inside the figure, and no two
    panel titles overlap."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer, page = canvas.get_renderer(), figure.bbox
    titles = [axis.title for axis in figure.axes if axis.title.get_text()]
    boxes = [text.get_window_extent(renderer) for text in titles]
    extras = [figure._suptitle] if figure._suptitle is not None else []
    extras += [axis.get_legend() for axis in figure.axes if axis.get_legend() is not None]
    inside = all(
        page.x0 <= box.x0 and box.x1 <= page.x1 and box.y1 <= page.y1
        for box in boxes + [item.get_window_extent(renderer) for item in extras]
    )
    apart = all(not a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    return inside and apart


def test_long_titles_and_legends_stay_inside_their_figures(tmp_path):
    """A d = 100 MetaKAN's heatmap titles were cut at the left and ran into each other; a
    benchmark CSV's long name cut its title, and its legend covered a line."""
    from pinnkan.plots.heatmaps import layer_heatmaps

    titles = [
        "layer 0: 100 → 16 (9 coefficients, first 1024 of 1600 edges)",
        "layer 1: 16 → 1 (9 coefficients)",
    ]
    matrices = [np.eye(64), np.eye(16)]
    figure = layer_heatmaps(matrices, [(100, 16), (16, 1)], Normalize(-1, 1), "RdBu_r", "c", titles)
    assert text_boxes_fit(figure)
    long_name = tmp_path / "bench_laplacian_highdim_with_a_long_name.csv"
    long_name.write_text(LAPLACIAN_CSV)
    figure = plot.KINDS["laplacian"].draw(plot.load_source(long_name), SMALL)
    assert text_boxes_fit(figure)


def with_predictions(source: Path, out: Path, change) -> Path:
    """A copy of a run with its test predictions changed by ``change(prediction, exact)``."""
    run = read_run(source)
    prediction, exact = run.test_set["prediction"], run.test_set["exact"]
    run.test_set["prediction"] = change(prediction.copy(), exact)
    write_run(out, run)
    return out


def test_a_run_without_finite_errors_is_refused_before_any_figure(files, tmp_path, capsys):
    """The histogram passed the check and then failed while drawing, after the field and the
    radial figures were written (exit 2 with a partial set of files)."""
    all_nan = with_predictions(
        files["kan"], tmp_path / "nan.h5", lambda p, e: np.full_like(p, np.nan)
    )
    exact = with_predictions(files["kan"], tmp_path / "exact.h5", lambda p, e: e.copy())
    for path in (all_nan, exact):
        out = tmp_path / f"{path.stem}-one"
        assert cli.main(["plot", str(path), "--kind", "field,histogram", "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.endswith(f"to run {path}: it has no non-zero finite test errors")
        assert not out.exists()
        out = tmp_path / f"{path.stem}-all"  # no --kind: the others are drawn, with a note each
        assert cli.main(["plot", str(path), "--out", str(out)]) == 0
        notes = [line for line in capsys.readouterr().err.splitlines() if "note: no" in line]
        assert [line.split(" figure")[0].split()[-1] for line in notes] == ["radial", "histogram"]
        assert (out / f"{path.stem}-field.png").exists()


def test_non_finite_predictions_are_counted_not_hidden(files, tmp_path):
    """Every other prediction NaN: the radial statistics were all NaN (a blank figure) and the
    titles counted points as if all were drawn."""
    from pinnkan.plots.errors import draw_histogram, draw_radial

    def every_other_nan(prediction, exact):
        prediction[::2] = np.nan
        return prediction

    run = read_run(with_predictions(files["kan"], tmp_path / "half.h5", every_other_nan))
    shown = len(run.test_set["prediction"]) // 2
    radial = draw_radial(run, SMALL).axes[0]
    assert (
        f"at {shown:,} test points\n{shown:,} non-finite predictions not shown"
        in radial.get_title()
    )
    mean_line = radial.get_lines()[0].get_ydata()
    assert np.isfinite(mean_line).sum() > 0  # the statistics of the finite points are drawn
    histogram = draw_histogram(run, SMALL).axes[0]
    assert (
        f"{shown:,} test points\n{shown:,} non-finite predictions not shown"
        in histogram.get_title()
    )


def test_a_bad_mplbackend_is_one_line(tmp_path):
    """matplotlib refuses an unknown MPLBACKEND when imported: `pinnkan plot` (even --help)
    ended in its traceback."""
    import os
    import subprocess
    import sys

    environment = {**os.environ, "MPLBACKEND": "bogus"}
    done = subprocess.run([sys.executable, "-m", "pinnkan", "plot", "--help"], env=environment,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "pinnkan: error: MPLBACKEND='bogus' is not a backend matplotlib knows, and matplotlib "
        "will not load; unset it (pinnkan draws on matplotlib's Agg canvas and needs no backend) "
        "or give one such as agg"
    ]
