"""Keys a preset or recipe does not define are one-line errors (exit 2, nothing written), not
ignored; a recipe or preset that is not there is "not found", with the built-in ones named."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinnkan.cli import main
from pinnkan.presets import FIT_RECIPE, PRESET, SWEEP_RECIPE, load_preset, preset_files
from pinnkan.recipes import load_recipe

PRESET_TEXT = "[train]\nsteps = 2\n[model]\ngrid = 3\n"
FIT_TEXT = (
    'description = "test"\ntable = "table2"\n[fit]\nsteps = 1\n[model]\nk = 3\n'
    '[[runs]]\nproblem = "feynman:I.12.5"\nmodel = "kan"\ngrid = 3\n'
)


def one_line_error(capsys, code: int) -> str:
    """The single stderr line of a refused command (exit 2, nothing on stdout)."""
    out, err = capsys.readouterr()
    assert code == 2 and out == "", (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pinnkan: error: "), err
    return lines[0]


@pytest.mark.parametrize(
    "text, message",
    [
        (PRESET_TEXT.replace("grid", "gird"), "[model] key='gird' is not known; allowed: "),
        (PRESET_TEXT + "[trian]\nsteps = 3\n", "key='trian' is not known; allowed: description"),
        (PRESET_TEXT.replace("steps", "stepz"), "[train] key='stepz' is not known; allowed: "),
        (PRESET_TEXT + "[fit]\nsteps = 3\n", "bad.toml' key='fit' is not known"),
    ],
)
def test_solve_refuses_unknown_preset_keys(tmp_path: Path, capsys, text: str, message) -> None:
    preset = tmp_path / "bad.toml"
    preset.write_text(text)
    out = tmp_path / "new" / "run.h5"
    argv = ["solve", "--problem", "poisson", "--dim", "2", "--preset", str(preset)]
    code = main([*argv, "--out", str(out), "--quiet"])
    assert message in one_line_error(capsys, code)
    assert not out.parent.exists()


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("steps = 1", "stepz = 1", "[fit] key='stepz' is not known; allowed: device, dtype"),
        ("steps = 1", "model_options = 1", "[fit] key='model_options' is not known"),
        ("steps = 1", "seed = 1", "[fit] key='seed' is not known"),
        ("k = 3", "gird = 3", "[model] key='gird' is not known; allowed: activation"),
        ("[fit]", "[trian]", "key='trian' is not known; allowed: description, fit, model"),
    ],
)
def test_fit_recipe_refuses_unknown_keys(tmp_path: Path, capsys, old, new, message) -> None:
    recipe = tmp_path / "bad.toml"
    recipe.write_text(FIT_TEXT.replace(old, new))
    runs = tmp_path / "runs"
    code = main(["fit", "--recipe", str(recipe), "--out-dir", str(runs)])
    assert message in one_line_error(capsys, code)
    assert not runs.exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["fit", "--recipe", "solvers/table2.toml", "--out-dir", "x"],
            "recipe 'solvers/table2.toml' was not found; built-in recipes: table2, table4,",
        ),
        (["fit", "--recipe", "table8", "--out-dir", "x"], "recipe 'table8' key='name'"),
        (
            ["sweep", "missing.toml", "--out-dir", "x"],
            "recipe 'missing.toml' was not found; built-in recipes: table8,",
        ),
        (["sweep", "table2", "--out-dir", "x"], "recipe 'table2' key='table' is not known"),
        (
            ["solve", "--problem", "poisson", "--preset", "fastest", "--out", "x/run.h5"],
            "preset 'fastest' was not found; built-in presets: paper, sdgd, table8,",
        ),
    ],
)
def test_missing_or_wrong_kind_of_recipe(tmp_path: Path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)  # where solvers/table2.toml is not
    assert message in one_line_error(capsys, main(argv))
    assert not (tmp_path / "x").exists()


def test_a_fit_recipe_can_be_named_like_a_built_in_one(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_recipe("table2")["table"] == "table2"


def test_every_shipped_file_passes_the_checks_of_its_kind() -> None:
    from pinnkan.recipes import plan as fit_plan
    from pinnkan.sweep import plan as sweep_plan

    kinds = {"paper": PRESET, "sdgd": PRESET, "table8": SWEEP_RECIPE}
    for name in preset_files():
        load_preset(name, kinds.get(name, FIT_RECIPE))
    assert sweep_plan(load_preset("table8", SWEEP_RECIPE), [0], Path("unused"))
    for name in ("table2", "table4"):
        assert fit_plan(load_recipe(name), [0], Path("unused"))
