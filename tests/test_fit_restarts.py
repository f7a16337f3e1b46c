"""Restarts (K initialisations, keep the lowest training loss) and the L-BFGS step guard."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from fit_helpers import small_fit_config

from pinnkan.cli import main
from pinnkan.fit import RegressionTrainer, fit, initial_model, prepare
from pinnkan.fit_config import FitConfig
from pinnkan.guard import StepGuard
from pinnkan.restarts import choose_start, init_seed, lowest_loss


def small(**changes) -> FitConfig:
    return small_fit_config(**changes)


def test_candidate_seeds_start_with_the_run_seed_and_differ() -> None:
    assert init_seed(7, 0) == 7
    seeds = [init_seed(seed, index) for seed in range(3) for index in range(4)]
    assert len(set(seeds)) == len(seeds)
    assert init_seed(2, 3) == init_seed(2, 3)


def test_lowest_loss_ignores_non_finite_and_takes_the_first_tie() -> None:
    assert lowest_loss([3.0, math.nan, 1.0, math.inf, 1.0]) == 2
    assert lowest_loss([math.nan, math.inf]) == 0
    calls = []
    candidates = [lambda v=v: (calls.append(v) or v, f"model {v}") for v in (0.5, 0.2, 0.9)]
    index, best, losses = choose_start(candidates)
    assert (index, best, losses, calls) == (1, "model 0.2", [0.5, 0.2, 0.9], [0.5, 0.2, 0.9])


def test_restarts_keep_the_candidate_of_lowest_training_loss(tmp_path: Path) -> None:
    config = small(restarts=3, restart_steps=2)
    run = fit(config, str(tmp_path / "run.h5"))
    losses = run.config["restart_losses"]
    assert len(losses) == 3 and run.metrics["restarts"] == 3
    assert run.metrics["restart_index"] == min(range(3), key=losses.__getitem__)
    # every candidate's warm-up loss is that of an independent 2-step run from its seed
    problem, _, data = prepare(config)
    for index, loss in enumerate(losses):
        model = initial_model(config, problem, init_seed(config.seed, index))
        trainer = RegressionTrainer(model, data, config, None)
        trainer.run(until=2)
        assert trainer.train_loss() == pytest.approx(loss, rel=1e-12)
    # the chosen candidate's history goes on from its warm-up: 4 steps in all, loss decreasing
    assert run.metrics["steps"] == 4
    assert run.metrics["train_mse"] <= losses[run.metrics["restart_index"]]


def test_one_restart_is_the_plain_run(tmp_path: Path) -> None:
    plain = fit(small(), str(tmp_path / "plain.h5"))
    config = small(restarts=1)
    problem, model, data = prepare(config)
    trainer = RegressionTrainer(model, data, config, None)
    trainer.run()
    assert plain.config["restart_losses"] == [] and "restart_index" not in plain.metrics
    assert plain.history["loss"] == trainer.history["loss"]
    assert plain.metrics["train_mse"] == trainer.train_loss()


def test_guard_rolls_back_a_broken_step_and_keeps_a_good_one() -> None:
    model = torch.nn.Linear(2, 1).double()
    x = torch.tensor([[1.0, 2.0], [-1.0, 0.5]], dtype=torch.float64)

    def loss() -> float:
        with torch.no_grad():
            return float(model(x).square().mean())

    guard = StepGuard(model, loss)
    start = {name: t.clone() for name, t in model.state_dict().items()}
    guard.before()
    with torch.no_grad():
        model.weight.fill_(math.nan)
    assert guard.after() and guard.rollbacks == 1
    assert all(torch.equal(model.state_dict()[n], t) for n, t in start.items())
    guard.before()
    with torch.no_grad():
        model.weight.mul_(10.0).add_(5.0)  # a step uphill
    assert guard.after() and guard.rollbacks == 2 and loss() == guard.good_loss
    guard.before()  # a step that changes nothing: the optimiser's history is to be cleared
    assert guard.after() and guard.resets == 1
    guard.before()
    with torch.no_grad():
        model.weight.zero_()
        model.bias.zero_()
    assert not guard.after() and guard.good_loss == 0.0


def test_guarded_trainer_undoes_a_step_that_blows_up() -> None:
    config = small(step_guard=True)
    _, model, data = prepare(config)
    trainer = RegressionTrainer(model, data, config, None)
    trainer.run(until=1)
    before = {name: t.clone() for name, t in model.state_dict().items()}
    loss_before = trainer.train_loss()
    optimizer = trainer.optimizer

    def blow_up(closure):
        loss = closure()
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.mul_(1e200)
        return loss

    optimizer.step = blow_up
    trainer.take_step()
    assert trainer.guard.rollbacks == 1 and trainer.optimizer is not optimizer
    assert all(torch.equal(model.state_dict()[n], t) for n, t in before.items())
    trainer.run(until=3)  # and training goes on from there
    assert math.isfinite(trainer.train_loss()) and trainer.train_loss() <= loss_before


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"restarts": 0}, "restarts=0"),
        ({"restart_steps": 0}, "restart_steps=0"),
        ({"restarts": 2, "restart_steps": 4}, "restart_steps=4 is not allowed with steps=4"),
        ({"step_guard": True, "optimizer": "adam"}, "step_guard=True is not allowed"),
        ({"step_guard": "yes"}, "step_guard"),
    ],
)
def test_bad_restart_settings_are_one_line_errors(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message) as error:
        small(**changes)
    assert "\n" not in str(error.value)


def test_cli_restarts_flag(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run.h5"
    base = ["fit", "--problem", "feynman:I.12.5", "--width", "2,2,1", "--quiet", "--steps", "3"]
    assert main([*base, "--restarts", "0", "--out", str(out)]) == 2
    assert "restarts=0" in capsys.readouterr().err and not out.exists()
    flags = ["--restarts", "2", "--restart-steps", "1", "--step-guard", "--train-points", "100"]
    assert main([*base, *flags, "--out", str(out)]) == 0
    from pinnkan.results import read_run

    run = read_run(out)
    assert run.metrics["restarts"] == 2 and run.metrics["restart_index"] in (0, 1)
    assert run.config["train"]["step_guard"] is True
