"""Regression training: validation, run files, logging, grid changes during training, recipes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from fit_helpers import small_fit_config, small_kan_fit_config

from pinnkan import build_model
from pinnkan import fit as fit_module
from pinnkan.cli import main
from pinnkan.environment import processor_name
from pinnkan.fit import fit, prepare
from pinnkan.fit_config import FitConfig, default_width
from pinnkan.fixed_points import FixedPoints
from pinnkan.grid import rebuild_model
from pinnkan.problems import get_problem
from pinnkan.recipes import plan
from pinnkan.regression import Regression, TargetScaling
from pinnkan.results import read_run, write_run
from pinnkan.tables import make_table, meta_learner_parameters, run_device


def small(**changes) -> FitConfig:
    return small_kan_fit_config(**changes)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fit") / "run.h5"
    fit(small(steps=4, standardize=True), str(path))
    return path


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"problem": "feynman:I.99.9"}, "not known"),
        ({"problem": "nonsense"}, "not known"),
        ({"width": [3, 2, 1]}, "does not fit"),
        ({"width": [2, 2, 2]}, "does not fit"),
        ({"steps": 0}, "steps=0"),
        ({"lr": 0.0}, "lr=0.0"),
        ({"lr": -1.0}, "lr=-1.0"),
        ({"optimizer": "sgd"}, "optimizer"),
        ({"model": "mlp", "model_options": {}, "extend_grids": [10]}, "no B-spline grid"),
    ],
)
def test_bad_input_raises_and_writes_nothing(tmp_path: Path, changes: dict, message: str) -> None:
    out = tmp_path / "runs" / "bad.h5"
    with pytest.raises(ValueError, match=message):
        fit(small(**changes), str(out))
    assert not (tmp_path / "runs").exists()


def test_cli_bad_input_exits_2_without_a_file(tmp_path: Path, capsys) -> None:
    out = tmp_path / "bad.h5"
    base = ["fit", "--problem", "feynman:I.12.5", "--out", str(out), "--quiet"]
    for extra in (["--steps", "0"], ["--lr", "-1"], ["--width", "3,1"], ["--problem", "x:y"]):
        assert main([*base, *extra]) == 2
        assert capsys.readouterr().err.startswith("pinnkan: error:")
    assert not out.exists()


def test_run_file_round_trip_through_show(trained: Path, capsys) -> None:
    assert main(["show", str(trained), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["problem"] == "feynman:I.12.5"
    assert facts["model"] == "kan"
    assert facts["params"] == 6 * 9
    assert facts["status"] == "completed"
    assert facts["steps"] == 4
    run = read_run(trained)
    assert run.config["kind"] == "regression"
    assert run.metrics["rmse"] == pytest.approx(math.sqrt(run.metrics["mse"]))
    residual = run.test_set["prediction"] - run.test_set["exact"]
    assert run.metrics["mse"] == pytest.approx(float(np.mean(residual**2)))
    x = run.test_set["x"]
    assert np.allclose(run.test_set["exact"], x[:, 0] * x[:, 1])  # raw points, f = q2·Ef
    assert main(["show", str(trained)]) == 0
    shown = capsys.readouterr().out
    assert "test MSE" in shown and "laplacian" not in shown and "rel. L1" not in shown


def test_rebuilt_model_reproduces_the_stored_predictions(trained: Path) -> None:
    run = read_run(trained)
    model = rebuild_model(run.model_config, run.model_state)
    lower = torch.tensor(run.config["normalization"]["lower"], dtype=torch.float64)
    upper = torch.tensor(run.config["normalization"]["upper"], dtype=torch.float64)
    z = 2 * (torch.from_numpy(run.test_set["x"]) - lower) / (upper - lower) - 1
    scaling = TargetScaling(**run.config["target_scaling"])
    with torch.no_grad():
        prediction = scaling(model(z).squeeze(-1)).numpy()
    assert np.allclose(prediction, run.test_set["prediction"], rtol=1e-12, atol=1e-12)


def test_lbfgs_logs_every_inner_evaluation(trained: Path) -> None:
    history = read_run(trained, load_model=False).history
    evaluations = history["evaluation"]
    assert np.array_equal(evaluations, np.arange(1, len(evaluations) + 1))
    assert len(evaluations) > 4  # several inner iterations per step
    assert np.all(np.diff(history["step"]) >= 0)
    ends = ~np.isnan(history["test_mse"])
    assert ends.sum() == 4  # one test evaluation at the end of each step


def test_warm_up_changes_no_number_of_the_fit(tmp_path: Path, monkeypatch) -> None:
    """The untimed first pass (numba's compilation) leaves the trajectory bit for bit as it was."""
    warmed = fit(small(steps=3), str(tmp_path / "warm.h5"))
    monkeypatch.setattr(fit_module, "warm_up", lambda model, x: 0.0)
    cold = fit(small(steps=3), str(tmp_path / "cold.h5"))
    np.testing.assert_array_equal(warmed.history["loss"], cold.history["loss"])
    assert warmed.metrics["mse"] == cold.metrics["mse"]
    assert warmed.metrics["warm_up_s"] > 0 == cold.metrics["warm_up_s"]


def test_training_reduces_the_error(tmp_path: Path) -> None:
    run = fit(small(steps=10), str(tmp_path / "run.h5"))
    initial = run.history["loss"][0]
    assert run.metrics["train_mse"] < 1e-2 * initial
    assert run.metrics["mse"] < 1e-2 * initial


@pytest.mark.parametrize("name", ["kan", "metakan"])
def test_fixed_points_cache_matches_the_model(name: str) -> None:
    options = {"meta_hidden": 8} if name == "metakan" else {}
    model = build_model(name, [3, 4, 1], generator=torch.Generator().manual_seed(0), **options)
    model = model.double()
    x = torch.rand(50, 3, dtype=torch.float64) * 2 - 1
    cached = FixedPoints(model, x)
    with torch.no_grad():
        assert torch.allclose(cached(), model(x).squeeze(-1), rtol=1e-13, atol=1e-14)


def test_default_widths() -> None:
    assert default_width(get_problem("feynman:I.12.5")) == [2, 2, 1]
    assert default_width(get_problem("feynman:I.9.18")) == [9, 5, 5, 5, 1]  # 9 variables here
    assert default_width(get_problem("highdim:f2", dim=7)) == [7, 1, 1]

    class Plane(Regression):
        def __init__(self) -> None:
            super().__init__("plane", ["a", "b"], [(0, 1), (0, 1)])

        def target(self, x: torch.Tensor) -> torch.Tensor:
            return x.sum(dim=1)

    with pytest.raises(ValueError, match="--width"):
        default_width(Plane())


def test_grid_extension_during_training_is_saved_and_reloaded(tmp_path: Path) -> None:
    config = small(model="metakan", model_options={"grid": 5, "meta_hidden": 8})
    config = FitConfig(**{**config.to_dict(), "steps": 4, "extend_grids": [10]})
    run = fit(config, str(tmp_path / "run.h5"))
    grids = np.asarray(run.history["grid"])
    assert set(grids[~np.isnan(grids)]) == {5.0, 10.0}
    stored = read_run(tmp_path / "run.h5")
    assert stored.model_config["grid"] == 10
    model = rebuild_model(stored.model_config, stored.model_state)
    assert model.coefficients.meta_learners[0].output.out_features == 14


def test_standardised_targets() -> None:
    y = torch.tensor([1.0, 3.0, 5.0], dtype=torch.float64)
    scaling = TargetScaling.of(y, standardize=True)
    assert (scaling.shift, scaling.scale) == (3.0, 2.0)
    assert torch.equal(scaling(torch.tensor([0.5])), torch.tensor([4.0]))
    assert TargetScaling.of(y, standardize=False) == TargetScaling(0.0, 1.0)


def test_prepare_seeds_model_and_data() -> None:
    _, first, data_first = prepare(small(seed=3))
    _, second, data_second = prepare(small(seed=3))
    _, third, _ = prepare(small(seed=4))
    assert torch.equal(data_first.x_train, data_second.x_train)
    same = [torch.equal(a, b) for a, b in zip(first.parameters(), second.parameters())]
    assert all(same)
    assert not all(torch.equal(a, b) for a, b in zip(first.parameters(), third.parameters()))


RECIPE = {
    "description": "test",
    "table": "table2",
    "fit": {"steps": 1, "train_points": 50, "test_points": 20, "normalize": True},
    "model": {"bias": True},
    "runs": [
        {"problem": ["feynman:I.12.5", "feynman:I.14.3"], "model": ["kan", "metakan"],
         "grid": 5, "meta_hidden": 4},
        {"problem": "feynman:I.12.5", "model": "kan", "grid": 3, "extend_grids": [6], "steps": 2},
    ],
}  # fmt: skip


def test_recipe_plan_expands_products_and_names_files(tmp_path: Path) -> None:
    runs = plan(RECIPE, [0, 1], tmp_path)
    assert len(runs) == 2 * (4 + 1)
    names = {planned.path.name for planned in runs}
    assert "feynman-I.12.5-metakan-g5-s1.h5" in names
    assert "feynman-I.12.5-kan-g6-s0.h5" in names  # named by the final grid
    kan = next(p.config for p in runs if p.config.model == "kan")
    assert "meta_hidden" not in kan.model_options
    with pytest.raises(ValueError, match="neither a fit field nor a model option"):
        plan({**RECIPE, "runs": [{"problem": "feynman:I.12.5", "colour": "red"}]}, [0], tmp_path)


def test_adam_without_a_rate_gets_adams_default_everywhere(tmp_path: Path) -> None:
    """A recipe's Adam (and FitConfig's) ran at lr = 1, L-BFGS's default; the command line's
    at 1e-3."""
    assert FitConfig(problem="feynman:I.12.5", optimizer="adam").lr == 1e-3
    assert FitConfig(problem="feynman:I.12.5").lr == 1.0
    assert FitConfig(problem="feynman:I.12.5", optimizer="adam", lr=0.5).lr == 0.5
    recipe = {**RECIPE, "fit": {**RECIPE["fit"], "optimizer": "adam"}}
    assert {planned.config.lr for planned in plan(recipe, [0], tmp_path)} == {1e-3}


def test_fit_notes_flags_its_settings_leave_unused(tmp_path: Path, capsys) -> None:
    argv = ["fit", "--problem", "feynman:I.12.5", "--optimizer", "adam", "--steps", "2"]
    unused = ["--lbfgs-iterations", "5", "--restart-steps", "2", "--update-grid-until", "3"]
    assert main([*argv, *unused, "--quiet", "--out", str(tmp_path / "run.h5")]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "is not used" in line]
    assert notes == [
        "pinnkan: note: --lbfgs-iterations 5 is not used: only L-BFGS has inner iterations "
        "(optimizer 'adam')",
        "pinnkan: note: --restart-steps 2 is not used: there is one initialisation to train "
        "(--restarts 1)",
        "pinnkan: note: --update-grid-until 3 is not used: the grid is never updated "
        "(--update-grid-every 0)",
    ]


def test_recipe_table_has_ours_beside_the_paper(tmp_path: Path) -> None:
    runs = plan(RECIPE, [0], tmp_path)
    for planned in runs[:2]:
        fit(planned.config, str(planned.path))
    text = make_table(RECIPE, runs, "pinnkan fit --recipe test.toml")
    row = next(line for line in text.splitlines() if line.startswith("| I.12.5 |"))
    assert "1.32e-03" in row  # the paper's KAN G=5 MSE
    assert "57 / 57" in row  # paper's and our KAN parameter count agree
    assert "missing" in text  # runs not trained are reported as missing
    assert f"- device (from the run files): {processor_name()}, cpu (" in text


@pytest.mark.parametrize(
    "options",
    [
        {"meta_hidden": 128},  # the paper's PDE MetaKAN: 1,417 of its 4,137
        {"meta_hidden": 7, "clusters": 2, "prompt_dim": 3, "meta_bias": False, "grid": 3, "k": 2},
        {"meta_hidden": 5, "clusters": 3, "prompt_dim": 2, "grid": 4, "k": 1},
    ],
)
def test_the_tables_meta_learner_count_is_the_meta_learners_parameters(options) -> None:
    """The bracketed count of the tables, C·(p·h + h·m [+ h + m]), against the modules."""
    model = build_model("metakan", [20, 32, 32, 32, 1], **options)
    modules = sum(p.numel() for p in model.coefficients.meta_learners.parameters())
    assert meta_learner_parameters(model.config) == modules
    if options == {"meta_hidden": 128}:
        assert modules == 1_417


def test_a_standardised_fits_loss_is_logged_in_target_units(tmp_path: Path) -> None:
    """The loss is trained on standardised targets; history and train_mse are in y's units."""
    config = FitConfig(problem="feynman:I.6.20a", model="kan", width=[1, 3, 1], steps=3,
                       train_points=64, test_points=32, standardize=True, optimizer="adam")  # fmt: skip
    run = fit(config, str(tmp_path / "run.h5"))
    assert run.config["target_scaling"]["scale"] ** 2 < 0.1  # a unit slip would show 10×
    assert run.history["loss"][-1] == pytest.approx(run.metrics["train_mse"], rel=0.05)


def test_a_tables_device_is_where_its_runs_ran() -> None:
    """The header named the CPU of the machine writing the table, not the runs' device."""
    on_gpu = {"device": "cuda:0", "device_name": "NVIDIA H100 80GB HBM3"}
    assert run_device(on_gpu | {"environment": {"device_name": "NVIDIA H100 80GB HBM3"}}) == (
        "NVIDIA H100 80GB HBM3"
    )
    on_cpu = {"device": "cpu", "device_name": "cpu (1 thread)"}
    assert run_device(on_cpu | {"environment": {"device_name": "AMD EPYC 7B13"}}) == (
        "AMD EPYC 7B13, cpu (1 thread)"
    )
    assert run_device(on_cpu) == "cpu (1 thread)"  # a run file without its environment


def test_recipe_table_header_states_the_runs_settings(tmp_path: Path) -> None:
    """Points, input mapping and dtype come from the runs (they were fixed text: "1000
    training and 1000 test points, inputs mapped onto [-1, 1]^d", "float64")."""
    runs = plan(RECIPE, [0], tmp_path)
    text = make_table(RECIPE, runs, "pinnkan fit --recipe test.toml")
    assert "50 training and 20 test points, inputs mapped onto [-1, 1]^d" in text
    assert "- device (from the run files): no run file yet; float64" in text
    recipe = {**RECIPE, "fit": {**RECIPE["fit"], "normalize": False, "dtype": "float32"}}
    text = make_table(recipe, plan(recipe, [0], tmp_path), "pinnkan fit --recipe test.toml")
    assert "50 training and 20 test points, inputs as drawn (not mapped)" in text
    assert "no run file yet; float32" in text and "1000" not in text


def test_recipe_table_header_names_the_ranges_of_its_problems(tmp_path: Path) -> None:
    """A Feynman table's header named the high-dimensional functions' range too (fixed text)."""
    text = make_table(RECIPE, plan(RECIPE, [0], tmp_path), "pinnkan fit --recipe test.toml")
    assert "uniform in its range (problems/feynman.csv), 50 training" in text
    recipe = {**RECIPE, "runs": [{"problem": ["highdim:f1", "feynman:I.12.5"], "model": "kan"}]}
    text = make_table(recipe, plan(recipe, [0], tmp_path), "pinnkan fit --recipe test.toml")
    assert "uniform in its range (problems/feynman.csv; [-1, 1] for f1–f3), 50" in text


def test_a_recipe_without_grid_is_labelled_with_the_models_default_grid(tmp_path: Path) -> None:
    recipe = {**RECIPE, "runs": [{"problem": "feynman:I.12.5", "model": ["kan", "mlp"]}]}
    runs = plan(recipe, [0], tmp_path)
    assert [p.path.name for p in runs] == [
        "feynman-I.12.5-kan-g5-s0.h5",  # the default G = 5, named as if the recipe said so
        "feynman-I.12.5-mlp-s0.h5",  # no grid at all
    ]
    fit(runs[0].config, str(runs[0].path))
    text = make_table(recipe, runs[:1], "pinnkan fit --recipe test.toml")
    assert "## G = 5" in text and "G = None" not in text
    row = next(line for line in text.splitlines() if line.startswith("| I.12.5 |"))
    assert "1.32e-03" in row  # the paper's KAN G = 5 value is found


def test_recipe_table_keeps_hand_written_notes(tmp_path: Path, capsys) -> None:
    from pinnkan.cli import main
    from pinnkan.text_file import NOTES_MARKER

    recipe = tmp_path / "tiny.toml"
    recipe.write_text(
        'description = "test"\ntable = "table2"\n'
        "[fit]\nsteps = 1\ntrain_points = 50\ntest_points = 20\n"
        '[[runs]]\nproblem = "feynman:I.12.5"\nmodel = "kan"\ngrid = 3\n'
    )
    table = tmp_path / "table.md"
    command = ["fit", "--recipe", str(recipe), "--out-dir", str(tmp_path / "runs")]
    assert main([*command, "--table", str(table)]) == 0
    notes = f"{NOTES_MARKER}\n\n## By hand\n"
    table.write_text(table.read_text() + "\n" + notes)
    assert main([*command, "--table", str(table)]) == 0
    text = table.read_text()
    assert text.endswith(notes) and text.count("## By hand") == 1
    assert "| I.12.5 |" in text[: text.index(NOTES_MARKER)]
    assert "hand-written notes kept" in capsys.readouterr().out


def tiny_recipe(tmp_path: Path) -> Path:
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(
        'description = "test"\ntable = "table2"\n'
        "[fit]\nsteps = 1\ntrain_points = 50\ntest_points = 20\n"
        '[[runs]]\nproblem = "feynman:I.12.5"\nmodel = "kan"\ngrid = 3\n'
    )
    return recipe


def test_recipe_takes_device_and_dtype_from_the_command_line(tmp_path: Path) -> None:
    from pinnkan.cli import main

    command = ["fit", "--recipe", str(tiny_recipe(tmp_path)), "--out-dir", str(tmp_path / "runs")]
    assert main([*command, "--dtype", "float32", "--device", "cpu"]) == 0
    (path,) = (tmp_path / "runs").iterdir()
    run = read_run(path)
    assert run.config["dtype"] == "float32" and run.config["device"] == "cpu"


def test_recipe_command_line_dtype_overrides_a_blocks(tmp_path: Path) -> None:
    recipe = {**RECIPE, "runs": [{"problem": "feynman:I.12.5", "dtype": "float64"}]}
    (planned,) = plan(recipe, [0], tmp_path, {"dtype": "float32"})
    assert planned.config.dtype == "float32"


def test_recipe_refuses_to_keep_runs_of_another_dtype(tmp_path: Path, capsys) -> None:
    """Run files are named without their dtype: a kept float64 run must not stand in for the
    float32 run asked for (nor be tabled as one)."""
    from pinnkan.cli import main

    command = ["fit", "--recipe", str(tiny_recipe(tmp_path)), "--out-dir", str(tmp_path / "runs")]
    assert main(command) == 0
    (path,) = (tmp_path / "runs").iterdir()
    before = path.read_bytes()
    capsys.readouterr()
    assert main([*command, "--dtype", "float32", "--table", str(tmp_path / "t.md")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{path} holds a float64 run" in err[0] and "float32" in err[0]
    assert path.read_bytes() == before and not (tmp_path / "t.md").exists()
    assert main([*command, "--dtype", "float64"]) == 0  # the same precision: kept


@pytest.mark.parametrize(
    "flags",
    [
        ["--steps", "3"],
        ["--model", "mlp"],
        ["--model", "kan"],
        ["--problem", "feynman:I.6.2"],
        ["--grid", "4"],
    ],
)
def test_recipe_refuses_run_flags_it_would_ignore(tmp_path: Path, capsys, flags) -> None:
    from pinnkan.cli import main

    command = ["fit", "--recipe", str(tiny_recipe(tmp_path)), "--out-dir", str(tmp_path / "runs")]
    assert main([*command, *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{flags[0]} is not used with --recipe" in err[0]
    assert not (tmp_path / "runs").exists()
    allowed = err[0].split("allowed with it: ")[1].split(", ")
    assert "--only" in allowed and "--dry-run" in allowed  # the list had left them out
    assert {"--seeds", "--out-dir", "--table", "--jobs", "--device", "--dtype", "--quiet"} < set(
        allowed
    )


def test_recipe_table_path_is_checked_before_training(tmp_path: Path, capsys) -> None:
    from pinnkan.cli import main

    command = ["fit", "--recipe", str(tiny_recipe(tmp_path)), "--out-dir", str(tmp_path / "runs")]
    assert main([*command, "--table", str(tmp_path)]) == 2  # a directory, not a file
    assert "is a directory" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_recipe_out_dir_that_is_a_file_is_refused_before_training(tmp_path, capsys) -> None:
    from pinnkan.cli import main

    taken = tmp_path / "fit.h5"
    taken.write_text("a file")
    command = ["fit", "--recipe", str(tiny_recipe(tmp_path)), "--out-dir", str(taken)]
    assert main([*command, "--table", str(tmp_path / "t.md")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(taken) in err[0] and "not a folder" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.h5", "tiny.toml"]


@pytest.mark.parametrize("failing", ["all", "one"])
def test_recipe_with_failed_runs_exits_1_and_tables_only_what_ran(
    tmp_path, capsys, monkeypatch, failing: str
) -> None:
    """Failed runs are reported (exit 1, one summary line); a table is written only when some
    run has a file (it used to exit 0 with a table of 'missing' cells)."""
    import pinnkan.recipes as recipes
    from pinnkan.cli import main

    real_fit = recipes.fit

    def fit_or_fail(config, out):
        if failing == "all" or config.model == "metakan":
            raise ValueError("this run cannot be trained")
        return real_fit(config, out)

    monkeypatch.setattr(recipes, "fit", fit_or_fail)
    recipe = tiny_recipe(tmp_path)
    recipe.write_text(recipe.read_text().replace('model = "kan"', 'model = ["kan", "metakan"]'))
    table = tmp_path / "t.md"
    command = ["fit", "--recipe", str(recipe), "--out-dir", str(tmp_path / "runs")]
    assert main([*command, "--table", str(table), "--quiet"]) == 1
    captured = capsys.readouterr()
    summary = captured.err.strip().splitlines()[-1]
    planned = captured.out.count("FAILED") + captured.out.count("MSE")
    assert "FAILED (ValueError: this run cannot be trained)" in captured.out
    assert summary.startswith(f"pinnkan: {captured.out.count('FAILED')} of {planned} runs failed")
    assert table.exists() == (failing == "one")
    assert ("no table written" in summary) == (failing == "all")


@pytest.mark.parametrize(("until", "expected"), [(0, [0, 2, 4]), (3, [0, 2])])
def test_fit_updates_the_grid_on_the_schedule(tmp_path, monkeypatch, until, expected):
    """``update_grid_until`` = 0 (its default): updates every e steps to the end of the fit."""
    import pinnkan.fit as fit_module

    steps: list[int] = []
    real_adapt = fit_module.RegressionTrainer.adapt_grid
    real_update = fit_module.update_grid

    def adapt(trainer):
        current.append(trainer.step)
        return real_adapt(trainer)

    def recorded(model, x, grid_eps):
        steps.append(current[-1])
        return real_update(model, x, grid_eps)

    current: list[int] = []
    monkeypatch.setattr(fit_module.RegressionTrainer, "adapt_grid", adapt)
    monkeypatch.setattr(fit_module, "update_grid", recorded)
    config = small_fit_config(model="kan", model_options={"grid": 5}, steps=6,
                              update_grid_every=2, update_grid_until=until)  # fmt: skip
    fit(config, str(tmp_path / "run.h5"))
    assert steps == expected


@pytest.mark.parametrize(
    ("extra", "flags"),
    [
        (["--seeds", "0,1,2", "--table", "t.md", "--out-dir", "zz", "--jobs", "2"],
         "--seeds, --table, --out-dir, --jobs are"),
        (["--seeds", "0,1"], "--seeds is"),
        (["--jobs", "1"], "--jobs is"),
    ],
)  # fmt: skip
def test_recipe_flags_without_recipe_are_refused(
    tmp_path: Path, capsys, monkeypatch, extra: list, flags: str
) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "f.h5"
    base = ["fit", "--problem", "feynman:I.12.5", "--steps", "1", "--out", str(out), "--quiet"]
    assert main([*base, *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"pinnkan: error: {flags} only used with --recipe")
    assert err.count("\n") == 1
    assert not out.exists() and not (tmp_path / "zz").exists() and not (tmp_path / "t.md").exists()


def test_a_diverged_recipe_run_fails_and_is_trained_again(tmp_path: Path, capsys) -> None:
    """A run that diverged (here Adam at lr 1e200) printed its NaN MSE as a result, the command
    exited 0 and a rerun counted it as done; it is a FAILED line, exit 1, and trained again."""
    recipe = tiny_recipe(tmp_path)
    recipe.write_text(
        recipe.read_text().replace("steps = 1", 'steps = 3\noptimizer = "adam"\nlr = 1e200')
    )
    command = ["fit", "--recipe", str(recipe), "--out-dir", str(tmp_path / "runs")]
    for _ in range(2):
        assert main(command) == 1
        out, err = capsys.readouterr()
        assert "1 run, 0 already done, 1 to train" in out
        assert "FAILED (diverged: loss became non-finite" in out
        assert "1 of 1 run failed" in err
    (path,) = (tmp_path / "runs").iterdir()
    assert read_run(path, load_model=False).status == "diverged"


def test_a_recipe_run_of_other_settings_is_refused_not_kept(tmp_path: Path, capsys) -> None:
    recipe = tiny_recipe(tmp_path)
    command = ["fit", "--recipe", str(recipe), "--out-dir", str(tmp_path / "runs")]
    assert main(command) == 0
    recipe.write_text(recipe.read_text().replace("steps = 1", "steps = 2"))
    capsys.readouterr()
    assert main(command) == 2
    err = capsys.readouterr().err
    assert "holds a completed run of other settings (steps 1, the recipe: 2)" in err


def test_a_table_the_recipe_does_not_name_is_refused_before_training(tmp_path, capsys) -> None:
    recipe = tiny_recipe(tmp_path)
    recipe.write_text(recipe.read_text().replace('table = "table2"\n', ""))
    command = ["fit", "--recipe", str(recipe), "--out-dir", str(tmp_path / "runs")]
    assert main([*command, "--table", str(tmp_path / "t.md")]) == 2
    assert "recipe table=None is not known" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize(
    ("seeds", "message"),
    [("0,0", "--seeds 0,0 repeats seed 0; give each once"), ("-1", "--seeds=-1 is not allowed")],
)
def test_recipe_seeds_are_checked(tmp_path: Path, capsys, seeds: str, message: str) -> None:
    command = ["fit", "--recipe", str(tiny_recipe(tmp_path)), "--out-dir", str(tmp_path / "r")]
    assert main([*command, "--seeds", seeds]) == 2
    assert message in capsys.readouterr().err


USER_REGRESSIONS = """
import torch
from pinnkan.regression import Regression


class NaNTarget(Regression):
    def __init__(self):
        super().__init__("nan_target", ["x0", "x1"], [(-1, 1), (-1, 1)])

    def target(self, x):
        return torch.log(x[:, 0])


class ColumnTarget(Regression):
    def __init__(self):
        super().__init__("column_target", ["x0"], [(-1, 1)])

    def target(self, x):
        return x[:, :1]


class BuggyTarget(Regression):
    def __init__(self):
        super().__init__("buggy_target", ["x0"], [(-1, 1)])

    def target(self, x):
        return x[:, 3]


class DomainTarget(Regression):
    def __init__(self):
        super().__init__("domain_target", ["x0"], [(-1, 1)])

    def target(self, x):
        import math

        return x[:, 0] * math.sqrt(-1.0)


class Scaled(Regression):
    def __init__(self, scale: float = 1.0):
        super().__init__("scaled", ["a", "b"], [(-1, 1), (0, 2)])
        self.scale = scale

    def target(self, x):
        return self.scale * x[:, 0] * x[:, 1]


class NoSuperInit(Regression):
    def __init__(self):
        self.name = "no_super_init"

    def target(self, x):
        return x[:, 0]
"""


@pytest.mark.parametrize(
    ("name", "dim", "message"),
    [
        # ended as "diverged … try a smaller --lr"
        ("NaNTarget", 2, "'nan_target': target is not finite (NaN or inf) at "),
        # trained on an n × n broadcast loss, then failed writing the file
        ("ColumnTarget", 1, "'column_target': target returned (1000, 1) at 1000 points"),
        ("BuggyTarget", 1, "'buggy_target' raised IndexError: index 3 is out of bounds"),
        # a ValueError of the user's code lost the problem's name and place
        ("DomainTarget", 1, "'domain_target' raised ValueError: math domain error (/"),
        # AttributeError traceback: 'NoSuperInit' object has no attribute 'dim'
        ("NoSuperInit", 1, "(NoSuperInit) has no attribute 'variables'; call super().__init__("),
    ],
)
def test_a_user_target_is_checked_before_training(tmp_path, capsys, name, dim, message):
    source = tmp_path / "user_regressions.py"
    source.write_text(USER_REGRESSIONS)
    out = tmp_path / "run.h5"
    argv = ["fit", "--problem", f"{source}:{name}", "--width", f"{dim},3,1", "--steps", "2"]
    assert main([*argv, "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pinnkan: error: problem ") and message in err and "\n" not in err
    assert not out.exists()


def test_a_table_names_the_runs_its_template_has_no_row_for(tmp_path: Path) -> None:
    """A table4 recipe at n = 7 (not in the paper's table) wrote a table of 0 rows whose header
    said all runs completed."""
    recipe = {
        "description": "test",
        "table": "table4",
        "fit": {"steps": 1, "train_points": 30, "test_points": 10},
        "runs": [{"problem": "highdim:f1", "dim": [7, 10], "model": "kan", "grid": 3}],
    }
    runs = plan(recipe, [0], tmp_path)
    for planned in runs:
        fit(planned.config, str(planned.path))
    text = make_table(recipe, runs, "pinnkan fit --recipe r.toml --table t.md")
    assert "| 10 |" in text and "| 7 |" not in text
    assert "Not in the paper's Table 4, so in no row above: highdim:f1 n = 7 G = 3 (kan)." in text
    assert "## f1" in text and "## f2" not in text and "## f3" not in text  # no empty sections


def test_cells_no_row_shows_are_named_other_models_and_grids_too() -> None:
    """Other models (fastkan, metawavkan) on a paper row, and a second grid on a Table 4 row,
    were neither shown nor named."""
    from pinnkan.tables import Cell, outside_the_paper_table

    table2 = {
        ("feynman:I.6.20a", None, "kan", 5): Cell(),
        ("feynman:I.6.20a", None, "fastkan", 5): Cell(),
        ("feynman:I.6.20a", None, "metakan", 3): Cell(),  # its own section G = 3
    }
    assert outside_the_paper_table("table2", table2) == ["feynman:I.6.20a G = 5 (fastkan)"]
    table4 = {
        ("highdim:f1", 10, "kan", 5): Cell(),
        ("highdim:f1", 10, "kan", 20): Cell(),
        ("highdim:f1", 10, "metawavkan", 5): Cell(),
    }
    assert outside_the_paper_table("table4", table4) == [
        "highdim:f1 n = 10 G = 20 (kan)",
        "highdim:f1 n = 10 G = 5 (metawavkan)",
    ]


def test_grids_need_more_training_points_than_knots(tmp_path, capsys):
    out = tmp_path / "run.h5"
    argv = ["fit", "--problem", "feynman:I.12.5", "--width", "2,2,1", "--steps", "4"]
    argv += ["--train-points", "8", "--extend-grids", "10", "--quiet", "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "pinnkan: error: a grid from 8 training points is not allowed with grid=10: its 11 knots "
        "are quantiles of the samples; give at least 11 (thousands keep the function best) "
        "(--train-points 8)"
    )
    assert not out.exists()


def test_a_recipe_can_be_planned_and_filtered_as_a_sweep_can(tmp_path: Path, capsys) -> None:
    """`fit --recipe … --dry-run` and `--only` were unknown arguments (sweep has both)."""
    out_dir = tmp_path / "runs"
    command = ["fit", "--recipe", "table2", "--out-dir", str(out_dir), "--dry-run"]
    assert main([*command, "--only", "I.12.5-kan"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "2 runs planned, 0 already done"
    assert [line.split("/")[-1] for line in lines[1:]] == [
        "feynman-I.12.5-kan-g5-s0.h5",
        "feynman-I.12.5-kan-g20-s0.h5",
    ]
    assert not out_dir.exists()  # planned, nothing made
    assert main([*command, "--only", "I.12.5,nowhere"]) == 2
    err = capsys.readouterr().err
    assert "--only 'nowhere' matches none of the 68 planned runs; run names are PROBLEM" in err
    assert main(["fit", "--problem", "feynman:I.12.5", "--dry-run"]) == 2
    assert "--dry-run is only used with --recipe" in capsys.readouterr().err


def test_only_trains_the_selected_runs_of_a_recipe(tmp_path: Path, capsys) -> None:
    """--only filtered the --dry-run listing, and a real run trained the whole recipe."""
    recipe = tmp_path / "two.toml"
    recipe.write_text(
        'description = "test"\n[fit]\nsteps = 1\ntrain_points = 30\ntest_points = 10\n'
        '[[runs]]\nproblem = ["feynman:I.12.5", "feynman:I.14.3"]\nmodel = "kan"\ngrid = 3\n'
    )
    out_dir = tmp_path / "runs"
    assert (
        main(["fit", "--recipe", str(recipe), "--out-dir", str(out_dir), "--only", "I.12.5"]) == 0
    )
    assert "1 run, 0 already done, 1 to train" in capsys.readouterr().out
    assert [path.name for path in out_dir.iterdir()] == ["feynman-I.12.5-kan-g3-s0.h5"]


def test_grid_changes_are_checked_before_any_step(tmp_path, capsys, monkeypatch):
    """A MetaKAN extension too large for the machine was refused only when it came, after the
    stages before it had trained (and nothing was written); the holdout of --validation was not
    counted, and the message spoke of 6 samples where the user gave 12 training points."""
    import pinnkan.grid as grid

    pages = {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": 2**18}  # a machine of 1 GiB
    monkeypatch.setattr(grid.os, "sysconf", pages.__getitem__)
    out = tmp_path / "run.h5"
    argv = ["fit", "--problem", "feynman:I.12.5", "--width", "2,2,1", "--steps", "2"]
    assert main([*argv, "--model", "metakan", "--extend-grids", "200", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pinnkan: error: refitting the meta-learners' output layers") and (
        "step" not in err
    )
    argv += ["--grid", "10", "--train-points", "12", "--validation", "0.5"]
    assert main([*argv, "--update-grid-every", "1", "--out", str(out)]) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(
            "a grid from 6 fitting points is not allowed with grid=10: its 11 knots are quantiles of "
            "the samples; give at least 11 (thousands keep the function best) (--train-points 12 "
            "less the --validation 0.5 holdout)"
        )
    )
    assert not out.exists()


def test_a_user_regression_takes_problem_options(tmp_path, capsys):
    """`fit` had no --problem-option: a user class was built with its defaults only."""
    source = tmp_path / "user_regressions.py"
    source.write_text(USER_REGRESSIONS)
    out = tmp_path / "run.h5"
    argv = ["fit", "--problem", f"{source}:Scaled", "--width", "2,3,1", "--steps", "2", "--quiet"]
    assert main([*argv, "--problem-option", "scale=2", "--out", str(out)]) == 0
    run = read_run(out, load_model=False)
    assert run.config["train"]["problem_options"] == {"scale": 2}
    x = np.asarray(run.test_set["x"])
    np.testing.assert_allclose(run.test_set["exact"], 2 * x[:, 0] * x[:, 1], rtol=1e-12)
    capsys.readouterr()
    assert main([*argv, "--problem-option", "shape=2", "--out", str(out)]) == 2
    assert "option 'shape' is not an option of problem" in capsys.readouterr().err
    with pytest.raises(ValueError, match="problem_options may not set 'dim'"):
        FitConfig(problem="highdim:f2", dim=3, problem_options={"dim": 4})


def test_a_kept_fit_from_before_problem_options_is_still_the_planned_run(tmp_path):
    """Run files of recipes written before the field existed lack it: they are the planned runs
    (problem_options {}), and a file of other problem options is refused."""
    from pinnkan.recipes import check_kept_runs

    recipe = {
        "description": "test",
        "fit": {"steps": 1, "train_points": 30, "test_points": 10},
        "runs": [{"problem": "feynman:I.12.5", "model": "kan", "grid": 3}],
    }
    (planned,) = plan(recipe, [0], tmp_path)
    fit(planned.config, str(planned.path))
    run = read_run(planned.path)
    del run.config["train"]["problem_options"]
    write_run(planned.path, run)
    check_kept_runs([planned])  # kept, not refused
    run.config["train"]["problem_options"] = {"variant": "x"}
    write_run(planned.path, run)
    with pytest.raises(ValueError, match="problem_options"):
        check_kept_runs([planned])
