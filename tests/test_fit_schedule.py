"""Grid-extension schedule and the inputs it refuses; standardisation needs two fitting points."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from fit_helpers import small_kan_fit_config

from pinnkan.cli import main
from pinnkan.fit import extension_schedule, fit, prepare
from pinnkan.fit_config import FitConfig
from pinnkan.regression import TargetScaling


def small(**changes) -> FitConfig:
    return small_kan_fit_config(**{"train_points": 50, "test_points": 20, **changes})


@pytest.mark.parametrize("count", range(1, 6))
@pytest.mark.parametrize("steps", range(1, 40))
def test_every_extension_has_its_own_step_with_training_before_and_after(
    steps: int, count: int
) -> None:
    grids = list(range(10, 10 + count))
    if steps < count + 1:
        with pytest.raises(ValueError, match=f"needs steps ≥ {count + 1}"):
            extension_schedule(steps, grids)
        return
    schedule = extension_schedule(steps, grids)
    assert list(schedule.values()) == grids  # all of them, in order
    assert sorted(schedule) == list(schedule)
    assert min(schedule) >= 1 and max(schedule) <= steps - 1


def test_schedule_keeps_equal_stages() -> None:
    assert extension_schedule(50, [20]) == {25: 20}  # the Table 2 recipe: 25 + 25 steps
    assert extension_schedule(3, [10, 20]) == {1: 10, 2: 20}


def test_last_extension_is_reached_and_trained(tmp_path: Path) -> None:
    run = fit(small(steps=3, extend_grids=[10, 20]), str(tmp_path / "run.h5"))
    assert run.model_config["grid"] == 20
    grids = np.asarray(run.history["grid"])
    assert list(grids[~np.isnan(grids)]) == [5.0, 10.0, 20.0]  # one step at each grid


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"steps": 2, "extend_grids": [10, 20]}, r"extend_grids=\[10, 20\] needs steps ≥ 3"),
        ({"steps": 1, "extend_grids": [10, 20]}, r"needs steps ≥ 3 .*got steps=1"),
        ({"steps": 1, "extend_grids": [10]}, r"needs steps ≥ 2 .*got steps=1"),
        ({"extend_grids": [20, 10]}, r"extend_grids=\[20, 10\] .*strictly increasing"),
        ({"extend_grids": [10, 10]}, "strictly increasing"),
        ({"standardize": True, "train_points": 1}, "standardize=True needs at least 2"),
        (
            {"standardize": True, "train_points": 3, "validation": 0.5},
            r"train_points=3 \(1 after the validation split\)",
        ),
    ],
)
def test_config_refuses_what_training_cannot_do(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        small(**changes)


@pytest.mark.parametrize("grids", [[3, 4], [5, 10], [4]])
def test_extension_must_refine_the_model_grid(tmp_path: Path, grids: list[int]) -> None:
    config = small(extend_grids=grids)
    with pytest.raises(ValueError, match="larger than the model's starting grid 5"):
        prepare(config)
    with pytest.raises(ValueError, match="with grid=5"):
        fit(config, str(tmp_path / "runs" / "bad.h5"))
    assert not (tmp_path / "runs").exists()


def test_default_grid_is_the_starting_grid() -> None:
    with pytest.raises(ValueError, match="grid=5"):
        prepare(small(model_options={}, extend_grids=[3, 4]))


def test_standardize_one_target_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2 training targets; got 1"):
        TargetScaling.of(torch.tensor([2.0]), standardize=True)
    assert TargetScaling.of(torch.tensor([2.0]), standardize=False) == TargetScaling()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--steps", "2", "--extend-grids", "10,20"], "needs steps ≥ 3"),
        (["--steps", "3", "--extend-grids", "3,2"], "strictly increasing"),
        (["--steps", "3", "--extend-grids", "3,4"], "starting grid 5"),
        (["--standardize", "--train-points", "1"], "at least 2 fitting points"),
    ],
)
def test_cli_refuses_with_one_line_and_no_file(
    tmp_path: Path, capsys, flags: list[str], message: str
) -> None:
    out = tmp_path / "runs" / "bad.h5"
    command = ["fit", "--problem", "feynman:I.12.5", "--test-points", "20", "--out", str(out)]
    assert main([*command, "--quiet", "--train-points", "50", *flags]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1
    assert error[0].startswith("pinnkan: error:") and message in error[0]
    assert not (tmp_path / "runs").exists()
