"""Early stopping on held-out training points (``pinnkan fit --validation``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from fit_helpers import small_fit_config

from pinnkan.cli import main
from pinnkan.early_stopping import BestState, holdout_size, split_validation
from pinnkan.fit import RegressionTrainer, fit, initial_model, prepare
from pinnkan.fit_config import FitConfig
from pinnkan.regression import TargetScaling
from pinnkan.restarts import init_seed
from pinnkan.results import read_run


def small(**changes) -> FitConfig:
    return small_fit_config(**{"steps": 6, "validation": 0.25, **changes})


def test_split_holds_out_the_last_points_and_loses_none() -> None:
    _, _, data = prepare(small())
    fitting, (x_val, y_val) = split_validation(data, 0.25)
    assert (len(fitting.y_train), len(y_val)) == (150, 50)
    assert torch.equal(torch.cat([fitting.x_train, x_val]), data.x_train)
    assert torch.equal(torch.cat([fitting.y_train, y_val]), data.y_train)
    assert fitting.x_test is data.x_test and fitting.y_test is data.y_test
    same, none = split_validation(data, 0.0)
    assert same is data and none is None


def test_holdout_size_rounds_and_rejects_empty_sides() -> None:
    assert holdout_size(1000, 0.2) == 200
    assert holdout_size(10, 0.26) == 3
    assert holdout_size(10, 0.0) == 0
    with pytest.raises(ValueError, match=r"validation=0.01 of train_points=10 leaves 0"):
        holdout_size(10, 0.01)
    with pytest.raises(ValueError, match=r"validation=0.99 of train_points=10"):
        holdout_size(10, 0.99)


def test_best_state_keeps_the_lowest_finite_loss_and_restores_it() -> None:
    model = torch.nn.Linear(1, 1)
    best = BestState(model)
    best.restore()  # nothing offered: the model is left alone
    values = {}
    for step, (weight, loss) in enumerate([(1.0, 3.0), (2.0, 1.0), (3.0, math.nan), (4.0, 2.0)]):
        with torch.no_grad():
            model.weight.fill_(weight)
        values[step] = weight
        best.offer(step, loss)
    assert (best.step, best.loss) == (1, 1.0)
    best.restore()
    assert model.weight.item() == values[1]
    best.forget()
    assert (best.step, best.loss) == (-1, math.inf)
    best.offer(7, 5.0)
    assert best.step == 7  # after forget, any finite loss is the new best


def test_run_ends_at_the_state_of_lowest_validation_mse(tmp_path: Path) -> None:
    config = small()
    run = fit(config, str(tmp_path / "run.h5"))
    history = run.history
    # a history row belongs to the step being taken (1 … steps); its val_mse is measured after it
    per_step = {int(s): v for s, v in zip(history["step"], history["val_mse"]) if not math.isnan(v)}
    assert len(per_step) == config.steps  # one validation MSE per optimiser step
    best_step = min(per_step, key=per_step.__getitem__)
    # the initial state (step 0) is measured too: compute it independently
    problem, model, data = prepare(config)
    fitting, (x_val, y_val) = split_validation(data, config.validation)
    scaling = TargetScaling.of(fitting.y_train, config.standardize)
    with torch.no_grad():
        initial = float((scaling(model(x_val).squeeze(-1)) - y_val).square().mean())
    expected_step, expected = min([(0, initial), *per_step.items()], key=lambda item: item[1])
    assert run.metrics["best_step"] == expected_step
    assert run.metrics["val_mse"] == pytest.approx(expected, rel=1e-12)
    if expected_step != 0:
        assert expected_step == best_step
    # the saved model IS that state: its validation MSE, recomputed from the run file's state
    model.load_state_dict(run.model_state)
    with torch.no_grad():
        restored = float((scaling(model(x_val).squeeze(-1)) - y_val).square().mean())
    assert restored == pytest.approx(expected, rel=1e-10)
    assert run.config["train"]["validation"] == 0.25


def test_early_stopping_returns_an_earlier_state_when_validation_rises(tmp_path: Path) -> None:
    """Adam with a large rate: the validation MSE is not monotone, and the run must end at its
    minimum, not at the last step."""
    config = small(optimizer="adam", lr=0.3, steps=40)
    run = fit(config, str(tmp_path / "run.h5"))
    values = [v for v in run.history["val_mse"] if not math.isnan(v)]
    assert values[-1] > min(values)  # the setting really overshoots at the end
    assert run.metrics["val_mse"] == pytest.approx(min(values), rel=1e-12)
    assert run.metrics["best_step"] < config.steps
    assert validation_mse_of(run, config) == pytest.approx(min(values), rel=1e-10)


def test_a_grid_update_keeps_the_best_state_a_candidate(tmp_path: Path) -> None:
    """Updates keep every shape, so the state before one can still be restored (knots and
    all); they made the run forget it and end at the best state after the last update
    (here: best step 9 at 8.9e-4 instead of step 4 at 7.2e-4)."""
    config = FitConfig(
        problem="feynman:I.9.18", train_points=60, validation=0.3, update_grid_every=4, steps=12
    )
    run = fit(config, str(tmp_path / "run.h5"))
    per_step = {
        int(s): v for s, v in zip(run.history["step"], run.history["val_mse"]) if not math.isnan(v)
    }
    best = min(per_step, key=per_step.__getitem__)
    assert best < 5 < config.steps and min(list(per_step.values())[4:]) > per_step[best]
    assert run.metrics["best_step"] == best
    assert run.metrics["val_mse"] == pytest.approx(per_step[best], rel=1e-12)
    assert validation_mse_of(run, config) == pytest.approx(per_step[best], rel=1e-10)
    _, model, data = prepare(config)  # the test MSE is the restored state's, on its own knots
    model.load_state_dict(run.model_state)
    with torch.no_grad():
        test_mse = float((model(data.x_test).squeeze(-1) - data.y_test).square().mean())
    assert run.metrics["mse"] == pytest.approx(test_mse, rel=1e-10)


def validation_mse_of(run, config: FitConfig) -> float:
    """Validation MSE of the model state saved in ``run``, recomputed from scratch."""
    _, model, data = prepare(config)
    fitting, (x_val, y_val) = split_validation(data, config.validation)
    scaling = TargetScaling.of(fitting.y_train, config.standardize)
    model.load_state_dict(run.model_state)
    with torch.no_grad():
        return float((scaling(model(x_val).squeeze(-1)) - y_val).square().mean())


def test_restarts_compare_validation_mse(tmp_path: Path) -> None:
    config = small(restarts=3, restart_steps=2)
    run = fit(config, str(tmp_path / "run.h5"))
    problem, _, data = prepare(config)
    fitting, validation = split_validation(data, config.validation)
    for index, loss in enumerate(run.config["restart_losses"]):
        model = initial_model(config, problem, init_seed(config.seed, index))
        trainer = RegressionTrainer(model, fitting, config, None, validation)
        trainer.run(until=2)
        assert trainer.validation_mse() == pytest.approx(loss, rel=1e-12)
        assert trainer.train_loss() != pytest.approx(loss, rel=1e-6)


@pytest.mark.parametrize("value", [-0.1, 1.0, True, "0.2"])
def test_bad_validation_fraction_is_rejected(value) -> None:
    with pytest.raises(ValueError, match=r"validation=.* is not allowed; it must be a fraction"):
        small(validation=value)


def test_cli_rejects_a_validation_set_that_leaves_nothing_to_fit(tmp_path, capsys) -> None:
    out = tmp_path / "run.h5"
    code = main(
        ["fit", "--problem", "feynman:I.12.5", "--train-points", "4", "--validation", "0.9",
         "--steps", "2", "--out", str(out)]
    )  # fmt: skip
    assert code != 0 and not out.exists()
    message = capsys.readouterr().err.strip().splitlines()
    assert len(message) == 1 and "validation=0.9 of train_points=4" in message[0]


def test_the_command_line_says_which_step_the_run_kept(tmp_path, capsys) -> None:
    """The summary showed the kept step's test MSE under the last step's number, with no word
    of early stopping; the progress lines had no validation MSE."""
    out = tmp_path / "run.h5"
    argv = ["fit", "--problem", "feynman:I.12.5", "--optimizer", "adam", "--lr", "0.3",
            "--steps", "15", "--validation", "0.3", "--train-points", "100", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr()
    run = read_run(out, load_model=False)
    best, val = run.metrics["best_step"], run.metrics["val_mse"]
    assert best < 15  # the setting overshoots: an earlier step is kept
    assert f"early stopping  kept step {best} of 15 (validation MSE {val:.3e})" in printed.out
    last = printed.err.strip().splitlines()[-1]
    assert last.startswith("step 15/15") and "validation MSE" in last
    assert main(["show", str(out), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["best_step"], shown["val_mse"]) == (best, val)
    at = argv.index("--validation")
    plain = argv[:at] + argv[at + 2 : -2]
    assert main([*plain, "--out", str(tmp_path / "plain.h5")]) == 0  # no --validation
    printed = capsys.readouterr()
    assert "early stopping" not in printed.out and "validation MSE" not in printed.err
