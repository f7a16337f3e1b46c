"""Physics-informed trainer: configuration, schedules, parameter groups, errors, convergence,
L-BFGS history, reproducibility, resampling, the fixed test set and Laplacian-engine parity.

Sizes are tiny (d = 3, widths [3, 8, 1]) so that the whole file runs in seconds on one thread.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pinnkan.nn.build import build_model
from pinnkan.optim import (
    fused_adam_applies,
    make_optimizer,
    make_scheduler,
    parameter_groups,
    restart_schedule,
    schedule_factor,
)
from pinnkan.problems import get_problem
from pinnkan.train import PDETrainer, TrainConfig, make_test_set, relative_errors

CLOCK_COLUMNS = ("train_time_s", "wall_time_s", "peak_memory_bytes")


def poisson(dim: int = 3):
    return get_problem("poisson", dim=dim)


def kan(width: list[int], seed: int = 0, name: str = "kan", **options):
    return build_model(name, width, generator=torch.Generator().manual_seed(seed), **options)


def small_config(**overrides) -> TrainConfig:
    options = {"steps": 20, "lr": 1e-2, "points": 50, "test_points": 200, "eval_every": 5}
    return TrainConfig(**{**options, **overrides})


def train(config: TrainConfig, dim: int = 3, width=None, dtype=torch.float32, model=None):
    model = model if model is not None else kan(width or [dim, 8, 1], config.seed)
    return PDETrainer(poisson(dim), model, config, dtype=dtype).run()


def numeric_history(history: dict[str, list[float]]) -> dict[str, np.ndarray]:
    """History without the clock columns (which differ between identical runs)."""
    return {k: np.asarray(v) for k, v in history.items() if k not in CLOCK_COLUMNS}


# --- TrainConfig validation -------------------------------------------------------------------

BAD_FIELDS = [
    ("steps", 0),
    ("steps", 2.5),
    ("optimizer", "sgd"),
    ("lr", 0.0),
    ("lr", -1e-3),
    ("lr", math.nan),
    ("lr", math.inf),
    ("prompt_lr", 0.0),
    ("meta_lr", -1.0),
    ("schedule", "step"),
    ("final_lr_fraction", 0.0),
    ("points", 0),
    ("boundary_points", -1),
    ("resample_every", -1),
    ("law", "uniform"),
    ("constraint", "penalty"),
    ("alpha", 0.0),
    ("test_points", 0),
    ("eval_every", 0),
    ("laplacian", "finite_difference"),
    ("laplacian_samples", -1),
    ("seed", -1),
    ("seed", True),
    ("seed", 2**32),  # overflowed the generators: "Overflow when unpacking long long"
    ("lbfgs_max_iter", 0),
    ("checkpoint_every", -1),
]


@pytest.mark.parametrize(("name", "value"), BAD_FIELDS)
def test_train_config_rejects_bad_field_naming_it(name, value):
    with pytest.raises(ValueError, match=rf"^{name}=") as error:
        TrainConfig(**{name: value})
    assert "\n" not in str(error.value)


def test_train_config_accepts_defaults_and_round_trips():
    config = TrainConfig()
    assert TrainConfig(**config.to_dict()) == config


# --- schedules ----------------------------------------------------------------------------------


def test_linear_schedule_falls_to_zero_at_the_last_step():
    rho = schedule_factor("linear", 100)
    assert rho(0) == 1.0
    assert rho(25) == pytest.approx(0.75)
    assert rho(100) == 0.0
    assert rho(150) == 0.0


def test_cosine_schedule_is_half_a_cosine():
    rho = schedule_factor("cosine", 100)
    assert rho(0) == pytest.approx(1.0)
    assert rho(50) == pytest.approx(0.5)
    assert rho(25) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert rho(100) == pytest.approx(0.0, abs=1e-15)
    assert rho(150) == rho(100)  # past the last step the rate stays at its end (cos would rise)


def test_exponential_schedule_ends_at_the_final_fraction():
    rho = schedule_factor("exponential", 100, final_fraction=0.01)
    assert rho(0) == pytest.approx(1.0)
    assert rho(50) == pytest.approx(0.1)
    assert rho(100) == pytest.approx(0.01)
    # geometric: equal ratios over equal intervals
    assert rho(30) / rho(20) == pytest.approx(rho(80) / rho(70))
    assert rho(150) == rho(100)  # past the last step the rate stays at the final fraction


def test_each_optimizer_has_its_own_default_rate():
    """`solve --optimizer lbfgs` ran L-BFGS at Adam's 1e-3 (steps of 1/1000 of the full one)."""
    assert TrainConfig().lr == 1e-3
    assert TrainConfig(optimizer="lbfgs").lr == 1.0
    assert TrainConfig(optimizer="lbfgs", lr=0.5).lr == 0.5
    assert TrainConfig(**TrainConfig(optimizer="lbfgs").to_dict()).lr == 1.0  # recorded as 1


def test_constant_schedule_and_unknown_name():
    rho = schedule_factor("constant", 10)
    assert [rho(t) for t in (0, 5, 10)] == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="schedule='step'"):
        schedule_factor("step", 10)


def test_scheduler_drives_the_optimizer_learning_rate():
    parameter = torch.nn.Parameter(torch.zeros(2))
    optimizer = make_optimizer("adam", [{"name": "network", "params": [parameter], "lr": 0.1}])
    scheduler = make_scheduler(optimizer, "linear", 4)
    rates = []
    for _ in range(4):
        optimizer.step()
        scheduler.step()
        rates.append(optimizer.param_groups[0]["lr"])
    assert rates == pytest.approx([0.075, 0.05, 0.025, 0.0])


def test_adam_is_fused_on_the_cpu_and_equals_the_default_adam():
    """The fused kernel takes the same steps as torch's default Adam (float64, 5 steps, three
    groups with their own rates), and only where torch has it: not for an integer tensor."""
    model = kan([3, 4, 1], name="metakan", meta_hidden=8).double()
    twin = kan([3, 4, 1], name="metakan", meta_hidden=8).double()
    twin.load_state_dict(model.state_dict())
    fused = make_optimizer("adam", parameter_groups(model, 1e-2, 5e-2, 2e-3))
    default = torch.optim.Adam(parameter_groups(twin, 1e-2, 5e-2, 2e-3))
    assert fused.defaults["fused"] and not default.defaults["fused"]
    x = torch.rand(16, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for _ in range(5):
        for net, optimizer in ((model, fused), (twin, default)):
            optimizer.zero_grad()
            net(x).square().mean().backward()
            optimizer.step()
    moved = max((p - q).abs().max() for p, q in zip(model.parameters(), twin.parameters()))
    assert moved < 1e-12
    start = kan([3, 4, 1], name="metakan", meta_hidden=8).double()
    assert max((p - q).abs().max() for p, q in zip(model.parameters(), start.parameters())) > 1e-3
    assert not fused_adam_applies([{"params": [torch.zeros(2, dtype=torch.int64)]}])


@pytest.mark.parametrize("name", ["kan", "metakan"])
def test_trainer_refuses_splines_without_a_second_derivative(name: str):
    """k = 1 (piecewise linear) has Δ = 0 on every spline: refused for a second-order PDE by
    the trainer itself (the CLI's check used to be the only one), accepted with k = 2."""
    with pytest.raises(ValueError, match=r"^k=1 cannot represent a Laplacian .* use k ≥ 2$"):
        PDETrainer(poisson(), kan([3, 4, 1], name=name, k=1), small_config())
    PDETrainer(poisson(), kan([3, 4, 1], name=name, k=2), small_config())


# --- parameter groups ---------------------------------------------------------------------------


def test_metakan_prompts_and_meta_learner_get_their_own_rates():
    model = kan([3, 4, 1], name="metakan", meta_hidden=8)
    groups = parameter_groups(model, lr=1e-3, prompt_lr=5e-2, meta_lr=2e-4)
    by_name = {group["name"]: group for group in groups}
    assert by_name["prompts"]["lr"] == 5e-2
    assert by_name["meta_learner"]["lr"] == 2e-4
    # the groups partition the trainable parameters
    grouped = [id(p) for group in groups for p in group["params"]]
    assert len(grouped) == len(set(grouped))
    assert set(grouped) == {id(p) for p in model.parameters() if p.requires_grad}
    prompts = {id(p) for p in by_name["prompts"]["params"]}
    assert prompts == {id(p) for name, p in model.named_parameters() if "prompts" in name}


def test_trainer_optimizer_uses_the_group_rates():
    model = kan([3, 4, 1], name="metakan", meta_hidden=8)
    config = small_config(prompt_lr=3e-2, meta_lr=4e-4, schedule="constant")
    trainer = PDETrainer(poisson(), model, config)
    rates = {group["name"]: group["lr"] for group in trainer.optimizer.param_groups}
    assert rates["prompts"] == 3e-2 and rates["meta_learner"] == 4e-4


@pytest.mark.parametrize("options", [{}, {"bias": True}])
def test_lbfgs_runs_every_parameter_at_the_base_rate(options):
    """L-BFGS has one group: it took the last group's rate, which for a MetaKAN
    (no "network" group: no node biases) was --meta-lr (0.25 under --lr 1e-3)."""
    model = kan([3, 4, 1], name="metakan", meta_hidden=8, **options)
    config = small_config(optimizer="lbfgs", lr=1e-3, prompt_lr=0.5, meta_lr=0.25)
    trainer = PDETrainer(poisson(), model, config)
    assert [group["lr"] for group in trainer.optimizer.param_groups] == [1e-3]
    assert make_optimizer("lbfgs", parameter_groups(model, 2e-3)).param_groups[0]["lr"] == 2e-3
    with pytest.raises(ValueError, match="L-BFGS runs one rate"):
        make_optimizer("lbfgs", parameter_groups(model, 1e-3, 0.5))


@pytest.mark.parametrize("schedule", ["linear", "cosine", "constant"])
def test_the_logged_rate_is_the_one_the_step_ran_at(schedule):
    """Row s of the history gives lr·ρ(s − 1), the rate step s used (it gave the next step's
    rate, lr·ρ(s): 0 on the last row of a linear schedule)."""
    config = small_config(steps=10, eval_every=1, schedule=schedule, lr=0.02)
    history = train(config).history
    factor = schedule_factor(schedule, 10)
    expected = [0.02 * factor(step - 1) for step in history["step"]]
    assert history["lr"] == pytest.approx(expected, rel=1e-12, abs=0)
    assert history["lr"][-1] > 0 or schedule == "constant"


def test_plain_kan_has_one_group_at_the_base_rate():
    groups = parameter_groups(kan([3, 4, 1]), lr=1e-3, prompt_lr=5e-2, meta_lr=2e-4)
    assert [(group["name"], group["lr"]) for group in groups] == [("network", 1e-3)]


# --- relative errors ----------------------------------------------------------------------------


def test_relative_errors_by_hand():
    exact = torch.tensor([3.0, -4.0, 0.0, 1.0])
    prediction = torch.tensor([3.0, -2.0, 1.0, 1.0])
    # error = (0, 2, 1, 0): ‖e‖₂ = √5, ‖u‖₂ = √26; ‖e‖₁ = 3, ‖u‖₁ = 8; ‖e‖∞ = 2, ‖u‖∞ = 4
    errors = relative_errors(prediction, exact)
    assert errors["rel_l2"] == pytest.approx(math.sqrt(5 / 26), rel=1e-12)
    assert errors["rel_l1"] == pytest.approx(3 / 8, rel=1e-12)
    assert errors["rel_linf"] == pytest.approx(0.5, rel=1e-12)


def test_relative_errors_are_zero_for_the_exact_solution():
    exact = torch.linspace(-1, 1, 7)
    assert set(relative_errors(exact, exact).values()) == {0.0}


# --- convergence --------------------------------------------------------------------------------


def initial_and_final_error(config: TrainConfig) -> tuple[float, float]:
    trainer = PDETrainer(poisson(3), kan([3, 8, 1], config.seed), config)
    before = trainer.evaluate()["rel_l2"]
    result = trainer.run()
    assert result.status == "completed"
    return before, result.metrics["rel_l2"]


def test_hard_constraint_adam_converges():
    """Measured: 0.91 -> 2.4e-3 after 300 steps (threshold 2e-2 leaves an 8x margin)."""
    config = small_config(steps=300, points=100, eval_every=100)
    before, after = initial_and_final_error(config)
    assert after < 2e-2
    assert before / after > 30


def test_soft_constraint_paper_loss_converges():
    """α·loss_int + loss_bnd with boundary points; measured 0.89 -> 1.5e-2 after 300 steps."""
    config = small_config(
        steps=300, points=100, eval_every=100, constraint="soft", alpha=0.01, boundary_points=100
    )
    before, after = initial_and_final_error(config)
    assert after < 5e-2
    assert before / after > 15


@pytest.mark.parametrize(
    ("name", "dim", "options"),
    [
        ("metakan", 3, {}),
        ("kan", 6, {"laplacian": "sdgd", "laplacian_samples": 2}),
        ("kan", 6, {"laplacian": "hutchinson", "laplacian_samples": 2}),
    ],
    ids=["metakan", "kan-sdgd", "kan-hutchinson"],
)
def test_metakan_and_estimator_pinns_converge(name: str, dim: int, options: dict):
    """Measured after 300 steps: MetaKAN 1.02 -> 5.6e-2 (18x); SDGD with 2 of 6 coordinates
    1.04 -> 5.7e-2 (18x); Hutchinson with 2 probes 1.04 -> 5.2e-2 (20x)."""
    config = small_config(steps=300, points=100, eval_every=100, **options)
    extra = {"meta_hidden": 8} if name == "metakan" else {}
    trainer = PDETrainer(poisson(dim), kan([dim, 8, 1], config.seed, name, **extra), config)
    before = trainer.evaluate()["rel_l2"]
    after = trainer.run().metrics["rel_l2"]
    assert after < 0.15
    assert before / after > 7


@pytest.mark.parametrize("method", ["sdgd", "hutchinson"])
def test_the_loss_is_the_configured_estimator_on_the_step_draw(method: str):
    """At d = 6 with 2 samples the estimator is not the exact Laplacian: the trainer's loss is
    the mean squared residual of ``method`` with the directions drawn from its generator, and
    differs from the exact-Laplacian loss."""
    config = small_config(steps=1, laplacian=method, laplacian_samples=2)
    problem = poisson(6)
    trainer = PDETrainer(problem, kan([6, 8, 1]), config, dtype=torch.float64)
    trainer.collocation()
    draw = torch.Generator().set_state(trainer.generator.get_state())
    loss = trainer.loss_terms()["loss"].detach()
    network, x = trainer.network, trainer.points
    residual = problem.residual(network, x, method=method, samples=2, generator=draw)
    torch.testing.assert_close(loss, residual.pow(2).mean().detach(), rtol=1e-12, atol=0)
    exact = problem.residual(network, x, method="forward").pow(2).mean().detach()
    assert abs(float(loss - exact)) > 1e-6 * float(exact)  # 4e-3 relative for Hutchinson


def test_soft_constraint_logs_both_loss_terms():
    config = small_config(steps=5, eval_every=1, constraint="soft", alpha=0.5, boundary_points=30)
    history = train(config).history
    combined = 0.5 * np.asarray(history["loss_interior"]) + np.asarray(history["loss_boundary"])
    np.testing.assert_allclose(history["loss"], combined, rtol=1e-6)


@pytest.mark.parametrize(
    ("steps", "every", "expected"),
    [(3, 100, [1, 3]), (12, 4, [1, 4, 8, 12]), (10, 4, [1, 4, 8, 10]), (1, 5, [1])],
)
def test_records_after_the_first_every_nth_and_the_last_step(steps, every, expected):
    """A run shorter than ``eval_every`` has a curve of two points, not one."""
    history = train(small_config(steps=steps, eval_every=every)).history
    assert history["step"] == expected
    assert all(math.isfinite(value) for value in history["rel_l2"])


# --- L-BFGS -------------------------------------------------------------------------------------


def test_lbfgs_logs_one_row_per_inner_iteration():
    config = small_config(steps=3, optimizer="lbfgs", lr=1.0, lbfgs_max_iter=5, eval_every=1)
    history = {k: np.asarray(v) for k, v in train(config).history.items()}
    inner = ~np.isnan(history["lbfgs_iteration"])
    assert inner.sum() >= 3
    step_rows = np.flatnonzero(~inner)
    assert history["step"][step_rows].tolist() == [1, 2, 3]
    start = 0
    for row in step_rows:
        iterations = history["lbfgs_iteration"][start:row]
        assert iterations.tolist() == list(range(1, len(iterations) + 1))
        assert 1 <= len(iterations) <= int(5 * 1.25)  # torch's max_eval = 1.25·max_iter
        assert (history["step"][start:row] == history["step"][row]).all()
        # the step's loss is the last closure evaluation
        assert history["loss"][row] == history["loss"][row - 1]
        start = row + 1
    losses = history["loss"][inner]
    assert losses.min() < 0.5 * losses[0]


@pytest.mark.parametrize("method", ["sdgd", "hutchinson"])
def test_lbfgs_inner_iterations_see_one_draw_of_directions(method: str, monkeypatch):
    """With an estimator, every loss evaluation of one L-BFGS step starts from the generator
    state of the step's start (the same directions: one objective for the line search), and
    the next step draws new ones."""
    states: dict[int, list[bytes]] = {}
    evaluate = PDETrainer.loss_terms

    def recording(self):
        if len(self.points) == self.config.points:  # not the warm-up's few points
            states.setdefault(self.step, []).append(bytes(self.generator.get_state().numpy()))
        return evaluate(self)

    monkeypatch.setattr(PDETrainer, "loss_terms", recording)
    config = small_config(
        steps=3, optimizer="lbfgs", lr=1.0, lbfgs_max_iter=4, laplacian=method, eval_every=3
    )
    train(config, dim=4, width=[4, 6, 1])
    assert sorted(states) == [0, 1, 2]
    assert all(len(seen) >= 2 for seen in states.values())  # inner iterations ran
    assert all(len(set(seen)) == 1 for seen in states.values())
    assert len({seen[0] for seen in states.values()}) == 3


# --- reproducibility ----------------------------------------------------------------------------


def test_same_seed_gives_identical_history_and_metrics():
    config = small_config(steps=10, eval_every=2, seed=3)
    first, second = train(config), train(config)
    a, b = numeric_history(first.history), numeric_history(second.history)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    for name in ("rel_l2", "rel_l1", "rel_linf"):
        assert first.metrics[name] == second.metrics[name]


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"constraint": "soft", "laplacian": "sdgd"},
        {"resample_every": 0},
        {"optimizer": "lbfgs", "steps": 3},
    ],
    ids=["hard-adam", "soft-sdgd", "fixed-points", "lbfgs"],
)
def test_warm_up_is_timed_apart_and_leaves_the_run_as_it_was(options, monkeypatch):
    """The untimed first loss and gradient (numba's compilation) changes no number of the run:
    the same history and errors as a run without it, its seconds in ``warm_up_s``."""
    config = small_config(**{"steps": 6, "eval_every": 2, "seed": 5, **options})
    warmed = train(config)
    monkeypatch.setattr(PDETrainer, "warm_up", lambda self: None)
    cold = train(config)
    a, b = numeric_history(warmed.history), numeric_history(cold.history)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert warmed.metrics["rel_l2"] == cold.metrics["rel_l2"]
    assert warmed.metrics["warm_up_s"] > 0 == cold.metrics["warm_up_s"]


def test_different_seed_gives_a_different_run():
    first = train(small_config(steps=10, eval_every=2, seed=3))
    second = train(small_config(steps=10, eval_every=2, seed=4))
    assert not np.array_equal(first.history["loss"], second.history["loss"])
    assert first.metrics["rel_l2"] != second.metrics["rel_l2"]


def test_stochastic_laplacian_is_reproducible_from_the_seed():
    """Hutchinson probes come from the trainer's seeded generator, not the global RNG."""
    config = small_config(steps=4, eval_every=1, laplacian="hutchinson")
    first = train(config)
    torch.manual_seed(12345)  # the global RNG must not matter
    second = train(config)
    np.testing.assert_array_equal(first.history["loss"], second.history["loss"])


# --- collocation points -------------------------------------------------------------------------


class RecordingTrainer(PDETrainer):
    """Records the collocation points used at every step."""

    def collocation(self) -> None:
        super().collocation()
        self.__dict__.setdefault("used", []).append(self.points.clone())


def points_used(resample_every: int, steps: int = 7) -> list[torch.Tensor]:
    config = small_config(steps=steps, resample_every=resample_every, eval_every=steps)
    trainer = RecordingTrainer(poisson(3), kan([3, 4, 1]), config)
    trainer.run()
    return trainer.used


@pytest.mark.parametrize("every", [1, 3])
def test_points_are_redrawn_every_k_steps(every):
    used = points_used(every)
    for step in range(1, len(used)):
        same = torch.equal(used[step], used[step - 1])
        assert same == (step % every != 0), f"step {step}"


def test_resample_zero_keeps_the_first_points():
    used = points_used(0)
    assert all(torch.equal(points, used[0]) for points in used)


def test_test_set_does_not_depend_on_the_training_seed():
    problem = poisson(3)
    x0, u0 = make_test_set(problem, small_config(seed=0), torch.device("cpu"), torch.float32)
    x1, u1 = make_test_set(problem, small_config(seed=7), torch.device("cpu"), torch.float32)
    assert torch.equal(x0, x1) and torch.equal(u0, u1)
    assert x0.shape == (200, 3)
    torch.testing.assert_close(u0, problem.exact_value(x0))
    # and the trainer's first collocation points are not the test points
    trainer = PDETrainer(problem, kan([3, 4, 1]), small_config(points=200))
    trainer.collocation()
    assert not torch.equal(trainer.points, trainer.x_test)
    big = small_config(test_points=9000)  # more than one chunk of the exact values
    x, u = make_test_set(problem, big, torch.device("cpu"), torch.float64)
    assert torch.equal(u, problem.exact_value(x)) and not u.requires_grad


# --- Laplacian engines --------------------------------------------------------------------------


def test_forward_and_autograd_laplacian_give_the_same_trajectory():
    histories = {}
    for engine in ("forward", "autograd"):
        config = small_config(steps=5, eval_every=1, laplacian=engine)
        histories[engine] = train(config, dtype=torch.float64, width=[3, 4, 4, 1]).history
    forward, autograd = histories["forward"], histories["autograd"]
    assert len(forward["loss"]) == 5
    np.testing.assert_allclose(forward["loss"], autograd["loss"], rtol=1e-10)
    np.testing.assert_allclose(forward["rel_l2"], autograd["rel_l2"], rtol=1e-10)
    assert forward["loss"][-1] < forward["loss"][0]


@pytest.mark.parametrize("name", ["poisson", "allen_cahn", "sine_gordon"])
@pytest.mark.parametrize("dim", [2, 5, 20, 50, 100, 1000])
def test_hard_constraint_accepts_every_builtin_ball_problem(name: str, dim: int) -> None:
    """The zero-boundary check must not trip on float32 round-off of 1 − |x|² on the sphere."""
    from pinnkan.problems import get_problem
    from pinnkan.runner import check_problem

    check_problem(get_problem(name, dim=dim), TrainConfig(constraint="hard"))


@pytest.mark.parametrize("steps", [4, 8])
def test_restart_schedule_sets_the_rates_of_the_loaded_schedule(steps: int) -> None:
    """A checkpoint taken at the end of a 4-step linear schedule (rate 0), loaded into a
    ``steps``-step one: rate lr·(1 − 4/steps); for the same schedule, the saved number itself."""
    weight = torch.nn.Parameter(torch.ones(2))
    optimizer = make_optimizer("adam", [{"params": [weight], "lr": 0.1}])
    scheduler = make_scheduler(optimizer, "linear", 4)
    for _ in range(4):
        weight.sum().backward()
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == 0.0
    saved = optimizer.state_dict(), scheduler.state_dict()
    fresh = make_optimizer("adam", [{"params": [weight], "lr": 0.1}])
    longer = make_scheduler(fresh, "linear", steps)
    fresh.load_state_dict(saved[0])
    longer.load_state_dict(saved[1])
    restart_schedule(fresh, longer)
    expected = 0.1 * schedule_factor("linear", steps)(4)
    assert fresh.param_groups[0]["lr"] == expected == longer.get_last_lr()[0]


class InterruptedAfterNan(PDETrainer):
    """Its 4th step leaves a NaN parameter (the losses of that step were finite), then a signal
    asks it to stop."""

    def training_step(self) -> dict[str, float]:
        terms = super().training_step()
        if self.step == 3:
            with torch.no_grad():
                next(self.model.parameters()).view(-1)[0] = math.nan
            self.stop()
        return terms


def test_an_interruption_does_not_keep_non_finite_parameters():
    """Parameters are checked at an interruption too: the run is "diverged", rolled back to its
    last checkpoint (step 3), never "interrupted" with a NaN model to save and resume."""
    config = small_config(steps=20, checkpoint_every=3)  # none due at step 4
    trainer = InterruptedAfterNan(poisson(), kan([3, 8, 1]), config)
    result = trainer.run()
    assert result.status == "diverged" and "by step 4" in result.message
    assert trainer.step == 3
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


def test_a_roll_back_keeps_the_wall_time_spent_once():
    """roll_back restored the checkpoint's clock but kept counting from the run's start: the
    time up to the checkpoint counted twice (3.7 s for 2 s of steps, saved in the checkpoint)."""
    import time

    from pinnkan.checkpoint import serialize_state

    trainer = PDETrainer(poisson(3), kan([3, 8, 1]), small_config(steps=2))
    trainer.started = time.perf_counter() - 10.0  # as if 10 s had run, checkpoint now
    trainer.last_good = serialize_state(trainer.state_dict())
    trainer.roll_back()
    assert 9.9 < trainer.elapsed() < 10.9


def test_a_single_process_resume_does_not_keep_a_multi_process_runs_states():
    """It kept the stored per-process list and re-saved it with every later checkpoint: a later
    two-process resume gave each process the sampling state of the first resume's step."""
    from pinnkan.checkpoint import deserialize_state, serialize_state

    trainer = PDETrainer(poisson(3), kan([3, 8, 1]), small_config(steps=2))
    state = deserialize_state(serialize_state(trainer.state_dict()))
    own = {key: state[key] for key in ("generator", "points", "boundary")}
    state["processes"] = [own, own]  # as a 2-process run stored it
    trainer.load_state_dict(state)
    assert trainer.process_states is None and trainer.state_dict()["processes"] is None
