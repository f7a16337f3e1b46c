"""Keys a preset or recipe does not define are one-line errors (exit 2, nothing written), not
ignored; a recipe or preset that is not there is "not found", with the built-in ones named."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_errors import one_line_error

from pinnkan.cli import main
from pinnkan.nn.build import model_options
from pinnkan.presets import (
    FIT_RECIPE,
    PRESET,
    SWEEP_RECIPE,
    builtin_names,
    load_preset,
    preset_files,
)
from pinnkan.recipes import load_recipe

PRESET_TEXT = "[train]\nsteps = 2\n[model]\ngrid = 3\n"
FIT_TEXT = (
    'description = "test"\ntable = "table2"\n[fit]\nsteps = 1\n[model]\nk = 3\n'
    '[[runs]]\nproblem = "feynman:I.12.5"\nmodel = "kan"\ngrid = 3\n'
)


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
        ('"feynman:I.12.5"', "[]", "a [[runs]] block has an empty 'problem' list"),  # 0 runs
        ('model = "kan"', "model = []", "a [[runs]] block has an empty 'model' list"),
        # an unknown equation was a FAILED line once the others had trained
        (
            '"feynman:I.12.5"',
            '["feynman:I.12.5", "feynman:I.6.2a"]',
            "variant='I.6.2a' is not known",
        ),
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
            "recipe 'solvers/table2.toml' was not found; built-in recipes: table2, table4, or "
            "give the path of a .toml file; the built-in one is given by name: "
            "pinnkan fit --recipe table2",
        ),
        (
            ["fit", "--recipe", "table8", "--out-dir", "x"],
            "recipe 'table8' is a sweep recipe (a grid of PDE solves), not a fit recipe "
            "(regression runs and their table); run it with: pinnkan sweep table8",
        ),
        (
            ["sweep", "missing.toml", "--out-dir", "x"],
            "recipe 'missing.toml' was not found; built-in recipes: table8, or give the path of "
            "a .toml file",  # no hint: no built-in file is named "missing"
        ),
        (
            ["sweep", "solvers/table8.toml", "--out-dir", "x"],
            "; the built-in one is given by name: pinnkan sweep table8",
        ),
        (
            ["sweep", "solvers/table2.toml", "--out-dir", "x"],
            "; the built-in one is given by name: pinnkan fit --recipe table2",
        ),
        (
            ["sweep", "table2", "--out-dir", "x"],
            "recipe 'table2' is a fit recipe (regression runs and their table), not a sweep "
            "recipe (a grid of PDE solves); run it with: pinnkan fit --recipe table2",
        ),
        (
            ["solve", "--problem", "poisson", "--preset", "fastest", "--out", "x/run.h5"],
            "preset 'fastest' was not found; built-in presets: paper, sdgd, table8,",
        ),
        (
            ["solve", "--problem", "poisson", "--preset", "solvers/sdgd.toml", "--out", "x/r.h5"],
            "; the built-in one is given by name: pinnkan solve --preset sdgd",
        ),
        (
            ["solve", "--problem", "poisson", "--preset", "table2", "--out", "x/run.h5"],
            "preset 'table2' is a fit recipe (regression runs and their table), not a preset; "
            "run it with: pinnkan fit --recipe table2",
        ),
    ],
)
def test_missing_or_wrong_kind_of_recipe(tmp_path: Path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)  # where solvers/table2.toml is not
    assert message in one_line_error(capsys, main(argv))
    assert not (tmp_path / "x").exists()


def test_missing_hint_only_for_a_built_in_name(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    line = one_line_error(capsys, main(["sweep", "missing.toml", "--out-dir", "x"]))
    assert "built-in one" not in line


def test_fit_without_problem_names_a_recipe_as_the_list_spells_it(capsys) -> None:
    """The hint gives a built-in recipe by name (``--recipe table2``), as `pinnkan list` does;
    it used to say ``--recipe FILE``, and the list ``--recipe solvers/table2.toml``, a path that
    exists only in the source checkout."""
    line = one_line_error(capsys, main(["fit", "--out", "unused.h5"]))
    assert (
        "--problem is required, or --recipe with a built-in recipe's name (e.g. --recipe " in line
    )
    assert "table2;" in line
    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    assert "(run with: pinnkan fit --recipe table2)" in listing
    assert "(run with: pinnkan fit --recipe table4)" in listing
    assert "solvers/" not in listing


def test_list_names_every_preset_solve_takes(capsys) -> None:
    """`pinnkan solve --preset table8` works (a sweep recipe serves as a preset) and its error
    lists table8 among the presets: `pinnkan list` now lists it there too, saying what it gives
    (it used to list table8 only under the recipes)."""
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    presets = out.split("presets:")[1].split("recipes (")[0]
    for name in builtin_names(PRESET):
        assert f"\n  {name} " in presets, name
    assert "recipe table8's [train] and [model] tables, without the keys its [[runs]]" in presets


def test_table8_recipe_is_the_sdgd_preset_with_its_documented_differences() -> None:
    """results/table8.md was made with the table8 recipe; its comment says how its tables differ
    from the sdgd preset's. Keep them so (a change to either must update the comment)."""
    sdgd, table8 = load_preset("sdgd", PRESET), load_preset("table8", SWEEP_RECIPE)
    assert table8["train"] == {**sdgd["train"], "eval_every": 1000, "laplacian": "forward"}
    kan, mlp, metakan = (model_options(name) for name in ("kan", "mlp", "metakan"))
    defaults = {"grid": kan["grid"], "k": kan["k"], "activation": mlp["activation"]}
    assert defaults == {"grid": 5, "k": 3, "activation": "tanh"}  # the library's, written out
    assert metakan["meta_init"] == "centered"  # what the sdgd preset gives a MetaKAN
    assert table8["model"] == {**sdgd["model"], **defaults, "meta_init": "paper"}


def test_preset_table8_gives_the_first_blocks_runs() -> None:
    """`pinnkan solve --preset table8 --problem P --dim D --model M` builds the same spec as the
    sweep's first block (the paper grid); other blocks add their keys."""
    from pinnkan.cli import get_args_parser
    from pinnkan.commands import solve_spec
    from pinnkan.sweep import plan

    parser = get_args_parser()
    first = [
        (spec, path)
        for spec, path in plan(load_preset("table8", SWEEP_RECIPE), [0], Path("unused"))
        if path.name.count("-") == 3 and spec.problem_options["dim"] <= 100
    ]
    assert len(first) == 27
    for spec, path in first:
        dim = str(spec.problem_options["dim"])
        argv = ["solve", "--problem", spec.problem, "--dim", dim, "--model", spec.model]
        assert solve_spec(parser.parse_args([*argv, "--preset", "table8"])) == spec, path.name


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
