"""Grid update inside physics-informed training (:mod:`pinnkan.train_grid`): the network keeps
its function on the sample the update was fitted on, knots follow the data, the optimizer state
is reset while the schedule continues, training still converges, bad options are refused, and a
run resumed after grid updates equals the uninterrupted one bit for bit.

Sizes are tiny (d ≤ 20, widths ≤ 8) so that the file runs in seconds on one thread.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from pinnkan import cli, train
from pinnkan.basis.bspline import uniform_knots
from pinnkan.grid import layer_inputs
from pinnkan.grid_options import grid_update_due
from pinnkan.nn.build import build_model
from pinnkan.nn.constraint import BallHardConstraint
from pinnkan.problems import get_problem
from pinnkan.results import read_run, restore_model
from pinnkan.train import PDETrainer, TrainConfig
from pinnkan.train_grid import grid_generator

CLOCK_COLUMNS = ("train_time_s", "wall_time_s", "peak_memory_bytes")


def grid_config(**overrides) -> TrainConfig:
    options = {
        "steps": 20,
        "lr": 1e-2,
        "points": 50,
        "test_points": 200,
        "eval_every": 5,
        "update_grid_every": 10,
        "update_grid_until": 40,
        "grid_eps": 1.0,
        "grid_margin": 0.25,
        "grid_points": 400,
    }
    return TrainConfig(**{**options, **overrides})


def make_trainer(
    config: TrainConfig, dim: int = 3, width=None, name: str = "kan", **options
) -> PDETrainer:
    generator = torch.Generator().manual_seed(config.seed)
    model = build_model(name, width or [dim, 8, 8, 1], generator=generator, **options)
    return PDETrainer(get_problem("poisson", dim=dim), model, config, dtype=torch.float64)


def grid_sample(trainer: PDETrainer) -> torch.Tensor:
    """The points the trainer's grid update at its current step adapts to."""
    generator = grid_generator(trainer.config.seed, trainer.step)
    return trainer.sample(trainer.config.grid_points, generator)


# --- the update keeps the function and moves the knots ------------------------------------------


@pytest.mark.parametrize(("grid_eps", "margin"), [(1.0, 0.25), (0.02, 0.0), (0.3, 0.1)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_update_keeps_a_solution_that_the_new_grid_contains(grid_eps, margin, seed):
    """Grid range (−4, 4), d = 20: every layer's inputs (|h| ≤ 0.8) lie in the middle knot interval
    [−0.8, 0.8], so each edge function is a cubic plus w_b·SiLU there, which the new spline space
    contains. The update must keep û = (1 − |x|²)·N on its sample up to the ridge: measured
    relative change 3e-6 to 2.4e-5 (O(1) without the refit)."""
    config = grid_config(grid_eps=grid_eps, grid_margin=margin, seed=seed)
    trainer = make_trainer(config, dim=20, grid_range=(-4.0, 4.0))
    x = grid_sample(trainer)
    assert all(float(h.abs().max()) < 0.8 for h in layer_inputs(trainer.model, x))
    knots = [layer.family.knots.clone() for layer in trainer.model.layers]
    with torch.no_grad():
        before = trainer.network(x)
        trainer.adapt_grid()
        after = trainer.network(x)
    assert float((after - before).norm() / before.norm()) < 1e-4
    layers = trainer.model.layers
    assert all(not torch.equal(k, layer.family.knots) for k, layer in zip(knots, layers))


@pytest.mark.parametrize("seed, node_mean", [(0, False), (1, False), (2, False), (0, True)])
def test_metakan_update_keeps_the_solution_and_resets_the_meta_learners(seed, node_mean):
    """MetaKAN: one knot vector for the cluster, the meta-learner's output layer (and the node
    means, with ``node_mean``) refitted jointly over all edges (measured relative change 2e-5 to
    8.5e-4 on the sample, same setting as above); their Adam state is dropped, the prompts' and
    hidden layer's (unchanged) are kept."""
    config = grid_config(seed=seed, update_grid_every=2, update_grid_until=3, steps=2)
    trainer = make_trainer(
        config,
        dim=20,
        name="metakan",
        grid_range=(-4.0, 4.0),
        meta_hidden=16,
        meta_init="paper",
        node_mean=node_mean,
    )
    trainer.run()  # update at step 0, two Adam steps
    x = grid_sample(trainer)
    with torch.no_grad():
        before = trainer.network(x)
        trainer.adapt_grid()
        after = trainer.network(x)
    assert float((after - before).norm() / before.norm()) < 3e-3
    meta = trainer.model.coefficients.meta_learners[0]
    state = trainer.optimizer.state
    assert all(p not in state for p in meta.output.parameters())
    assert all(int(state[p]["step"]) == 2 for p in meta.hidden.parameters())
    assert all(int(state[p]["step"]) == 2 for p in trainer.model.coefficients.prompts)
    if node_mean:
        assert all(p not in state for p in trainer.model.coefficients.node_means)


def test_repeated_update_is_a_projection():
    """A second update at the same step sees the same sample: the first layer gets the same knots
    and the least squares in the same spline space return its edge functions (up to the ridge);
    the later layers move little (their inputs changed by the first refit's residual)."""
    trainer = make_trainer(grid_config(update_grid_every=20))
    trainer.run()  # 20 steps, lr 1e-2: the edge functions are no longer the initial ones
    trainer.adapt_grid()
    x = grid_sample(trainer)
    first, coefficients = trainer.model.layers[0], trainer.model.coefficients
    knots = first.family.knots.clone()
    with torch.no_grad():
        before, edges_before = trainer.network(x), first(x, coefficients.weights[0])
        trainer.adapt_grid()
        after, edges_after = trainer.network(x), first(x, coefficients.weights[0])
    assert torch.equal(first.family.knots, knots)
    assert float((edges_after - edges_before).norm() / edges_before.norm()) < 3e-4  # 5e-5
    assert float((after - before).norm() / before.norm()) < 1e-4  # measured 2e-5 (4e-4 at λ=1e-8)
    assert max(float(w.detach().abs().max()) for w in coefficients()) < 2  # no giants


def test_equal_mass_knots_at_small_grid_eps():
    """grid_eps → 0, no margin: the interior knots are the sample's quantiles j/G, so each of the
    G intervals holds ≈ 1/G of the points, in the first layer and in a hidden layer; before, the
    uniform grid on [−1, 1] had 86-87 % of them in its middle interval (d = 20)."""
    config = grid_config(grid_eps=1e-6, grid_margin=0.0, grid_points=1000)
    trainer = make_trainer(config, dim=20)
    x = grid_sample(trainer)
    first = interval_shares(x, trainer.model.layers[0].family.knots)
    assert first[:, 2].min() > 0.8  # uniform grid: most points in the middle interval
    trainer.adapt_grid()
    inputs = layer_inputs(trainer.model, x)
    for layer, h in zip(trainer.model.layers[:2], inputs[:2]):
        shares = interval_shares(h, layer.family.knots)
        np.testing.assert_allclose(shares, 0.2, atol=0.005)


def test_knots_span_the_widened_range_uniformly_at_grid_eps_one():
    """grid_eps = 1, margin m: interior knots lo' + j(hi' − lo')/G with [lo', hi'] the sample's
    per-input [min, max] widened by m(max − min) on each side."""
    margin = 0.25
    trainer = make_trainer(grid_config(grid_margin=margin), dim=5)
    x = grid_sample(trainer)
    trainer.adapt_grid()
    low, high = x.min(0).values, x.max(0).values
    low, high = low - margin * (high - low), high + margin * (high - low)
    expected = low[:, None] + (high - low)[:, None] * torch.linspace(0, 1, 6, dtype=x.dtype)
    interior = trainer.model.layers[0].family.knots[:, 3:-3]
    torch.testing.assert_close(interior, expected, rtol=0, atol=1e-12)


def interval_shares(x: torch.Tensor, knots: torch.Tensor, order: int = 3) -> torch.Tensor:
    """Share of the points of each input in each interior knot interval: ``(in, G)``."""
    interior, points = knots[:, order:-order], x.T[:, :, None]
    inside = (points >= interior[:, None, :-1]) & (points <= interior[:, None, 1:])
    return inside.double().mean(1)


# --- the optimizer after an update ---------------------------------------------------------------


def test_adam_moments_of_refitted_coefficients_are_reset_and_the_schedule_continues():
    """KAN with node biases, 20 of 40 steps: the coefficients are refitted (their Adam state is
    dropped and restarts at step 1), the biases are not (their state goes on); the optimizer and
    the linear schedule are kept, at the rate lr·(1 − 20/40) of step 20."""
    config = grid_config(steps=40, schedule="linear", update_grid_every=20)
    trainer = make_trainer(config, bias=True)
    while trainer.step < 20:
        trainer.training_step()
        trainer.step += 1
    scheduler, optimizer = trainer.scheduler, trainer.optimizer
    coefficients = list(trainer.model.coefficients.parameters())
    biases = [p for p in trainer.model.parameters() if all(p is not c for c in coefficients)]
    assert biases and all(int(optimizer.state[p]["step"]) == 20 for p in coefficients + biases)
    trainer.adapt_grid()
    assert all(p not in optimizer.state for p in coefficients)
    assert all(int(optimizer.state[p]["step"]) == 20 for p in biases)
    assert trainer.optimizer is optimizer and trainer.scheduler is scheduler
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-2 * (1 - 20 / 40))
    trainer.collocation()
    trainer.optimizer_step()
    assert all(int(optimizer.state[p]["step"]) == 1 for p in coefficients)
    assert all(int(optimizer.state[p]["step"]) == 21 for p in biases)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-2 * (1 - 21 / 40))


def test_lbfgs_history_is_dropped_and_training_goes_on():
    config = grid_config(steps=4, optimizer="lbfgs", lr=1.0, lbfgs_max_iter=5, update_grid_every=2)
    trainer = make_trainer(config)
    trainer.run()
    assert trainer.optimizer.state  # curvature pairs of the last steps
    trainer.adapt_grid()  # step 4 is due
    assert not trainer.optimizer.state
    assert all(math.isfinite(v) for v in trainer.optimizer_step().values())


# --- training converges with grid updates --------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_training_with_grid_updates_converges(seed):
    """d = 10, [10, 8, 8, 1], updates at steps 0, 100, 200: measured rel. ℓ2 1.05 -> 2.4e-2 and
    1.7e-2 after 300 steps (seeds 0, 1; without updates 2.3e-2 and 1.5e-2; in float32 with
    ε = 0.02, no margin and ridge 1e-8: 81 and 2.5)."""
    schedule = {"update_grid_every": 100, "update_grid_until": 300, "grid_points": 500}
    config = grid_config(
        steps=300, points=100, eval_every=300, test_points=1000, seed=seed, **schedule
    )
    trainer = make_trainer(config, dim=10)
    before = trainer.evaluate()["rel_l2"]
    result = trainer.run()
    assert result.status == "completed"
    assert result.metrics["rel_l2"] < 4e-2
    assert before / result.metrics["rel_l2"] > 25


# --- bad input ------------------------------------------------------------------------------------

BAD_FIELDS = [
    ("update_grid_every", -1),
    ("update_grid_every", 2.5),
    ("update_grid_until", -1),
    ("grid_eps", 0.0),
    ("grid_eps", 1.5),
    ("grid_eps", math.nan),
    ("grid_eps", True),
    ("grid_points", 0),
    ("grid_margin", -0.1),
    ("grid_margin", math.inf),
]


@pytest.mark.parametrize(("name", "value"), BAD_FIELDS)
def test_bad_grid_options_are_refused_naming_them(name, value):
    with pytest.raises(ValueError, match=rf"^{name}=") as error:
        TrainConfig(**{name: value})
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("every", "until", "due"),
    [(5, 15, [0, 5, 10]), (5, 0, [0, 5, 10, 15, 20, 25]), (0, 15, []), (0, 0, []), (7, 1, [0])],
)
def test_update_schedule(every, until, due):
    """Steps 0, e, 2e, … below ``until``; ``until`` = 0 runs to the end, ``every`` = 0 never."""
    assert [step for step in range(26) if grid_update_due(step, every, until)] == due


@pytest.mark.parametrize("until", [0, 3])
def test_trainer_updates_on_the_schedule(monkeypatch, until):
    """``update_grid_until`` = 0 (its default): updates every e steps to the end of the run."""
    steps: list[int] = []
    trainer = make_trainer(grid_config(steps=7, update_grid_every=2, update_grid_until=until))
    real_update = train.update_grid_in_place

    def recorded(*args, **options):
        steps.append(trainer.step)
        return real_update(*args, **options)

    monkeypatch.setattr(train, "update_grid_in_place", recorded)
    assert trainer.run().status == "completed"
    assert steps == ([0, 2, 4, 6] if until == 0 else [0, 2])


@pytest.mark.parametrize("name", ["mlp", "fastkan", "wavkan"])
def test_models_without_b_spline_grid_are_refused(name):
    with pytest.raises(ValueError, match="no B-spline grid"):
        make_trainer(grid_config(), name=name)


def test_cli_refuses_grid_updates_of_an_mlp_before_writing_anything(tmp_path, capsys):
    out = tmp_path / "new" / "run.h5"
    argv = ["solve", "--problem", "poisson", "--dim", "3", "--model", "mlp", "--out", str(out)]
    code = cli.main([*argv, "--update-grid-every", "5", "--update-grid-until", "10", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "no B-spline grid" in err[0]
    assert not out.parent.exists()


def test_deepxde_engine_refuses_grid_updates(tmp_path, capsys):
    argv = ["solve", "--problem", "poisson", "--dim", "3", "--engine", "deepxde"]
    argv += ["--update-grid-every", "5", "--update-grid-until", "10", "--quiet"]
    code = cli.main([*argv, "--out", str(tmp_path / "run.h5")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "update_grid_every=5 is not supported" in err[0]
    assert not (tmp_path / "run.h5").exists()


# --- run files and resume -------------------------------------------------------------------------

TINY = ["--dim", "3", "--width", "3,8,1", "--test-points", "200", "--device", "cpu", "--quiet"]
GRID_FLAGS = [
    *["--lr", "1e-2", "--schedule", "constant", "--eval-every", "5", "--seed", "2"],
    *["--update-grid-every", "5", "--update-grid-until", "15", "--grid-points", "300"],
    *["--grid-eps", "0.5", "--grid-margin", "0.2"],
]


def solve(out: Path, steps: int) -> int:
    argv = ["solve", "--problem", "poisson", *TINY, *GRID_FLAGS, "--steps", str(steps)]
    return cli.main([*argv, "--out", str(out)])


def test_resume_after_grid_updates_equals_the_straight_run(tmp_path, capsys):
    """20 steps with updates at 0, 5, 10 == 10 steps (updates at 0, 5) + resume to 20 (update at
    10 after the resume): identical history, errors, predictions, weights and knots."""
    assert solve(tmp_path / "straight.h5", 20) == 0
    assert solve(tmp_path / "split.h5", 10) == 0
    half = read_run(tmp_path / "split.h5", load_checkpoint=True)
    knots = half.checkpoint["model"]["layers.0.family.knots"]
    assert knots.dtype == torch.float32  # the knot buffers keep the model's dtype
    assert not torch.allclose(knots.double(), uniform_knots(5, 3, (-1.0, 1.0)).expand(3, -1))
    assert cli.main(["resume", str(tmp_path / "split.h5"), "--steps", "20", "--quiet"]) == 0
    capsys.readouterr()
    straight, resumed = read_run(tmp_path / "straight.h5"), read_run(tmp_path / "split.h5")
    assert resumed.status == "completed"
    names = [name for name in straight.history if name not in CLOCK_COLUMNS]
    for name in names:
        np.testing.assert_array_equal(straight.history[name], resumed.history[name], err_msg=name)
    assert straight.metrics["rel_l2"] == resumed.metrics["rel_l2"]
    np.testing.assert_array_equal(straight.test_set["prediction"], resumed.test_set["prediction"])
    for key, tensor in straight.model_state.items():
        assert torch.equal(tensor, resumed.model_state[key]), key
    moved = resumed.model_state["layers.0.family.knots"]
    assert not torch.equal(moved, knots)  # the update at step 10 happened after the resume
    rebuilt = BallHardConstraint(restore_model(resumed))  # as `show`/`plot` rebuild a run
    with torch.no_grad():
        prediction = rebuilt(torch.as_tensor(resumed.test_set["x"])).squeeze(-1)
    np.testing.assert_allclose(prediction.numpy(), resumed.test_set["prediction"], rtol=1e-6)
    recorded = resumed.config["train"]
    assert (recorded["update_grid_every"], recorded["update_grid_until"]) == (5, 15)
    assert (recorded["grid_eps"], recorded["grid_margin"], recorded["grid_points"]) == (
        0.5,
        0.2,
        300,
    )


def test_preset_table_sets_grid_update_and_flags_override_it(tmp_path):
    from pinnkan.commands import solve_spec

    preset = tmp_path / "grid.toml"
    preset.write_text(
        "[train]\nupdate_grid_every = 100\nupdate_grid_until = 500\ngrid_margin = 0.5\n"
    )
    argv = ["solve", "--problem", "poisson", "--preset", str(preset), "--update-grid-until", "300"]
    train = solve_spec(cli.get_args_parser().parse_args(argv)).train
    assert (train.update_grid_every, train.update_grid_until, train.grid_margin) == (100, 300, 0.5)
