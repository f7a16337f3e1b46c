"""`pinnkan sweep`: a TOML grid of solves, resumable (completed runs are skipped)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_errors import one_line_error

from pinnkan import read_run
from pinnkan.cli import main
from pinnkan.results import write_run

RECIPE = """
name = "tiny"
description = "two problems x one model, a few steps"
[train]
steps = 5
eval_every = 5
test_points = 50
points = 16
[model]
activation = "tanh"
meta_hidden = 8
[[runs]]
problem = ["poisson", "allen_cahn"]
dim = 2
model = "mlp"
"""


def tiny_recipe(folder: Path) -> Path:
    """:data:`RECIPE` written to ``folder/tiny.toml``."""
    recipe = folder / "tiny.toml"
    recipe.write_text(RECIPE)
    return recipe


def test_sweep_runs_each_entry_and_seed_then_skips_them(tmp_path: Path, capsys) -> None:
    recipe = tiny_recipe(tmp_path)
    out = tmp_path / "runs"
    assert (
        main(["sweep", str(recipe), "--seeds", "0,1", "--out-dir", str(out), "--device", "cpu"])
        == 0
    )
    files = sorted(path.name for path in out.glob("*.h5"))
    assert files == [
        "allen_cahn-d2-mlp-s0.h5", "allen_cahn-d2-mlp-s1.h5",
        "poisson-d2-mlp-s0.h5", "poisson-d2-mlp-s1.h5",
    ]  # fmt: skip
    run = read_run(out / "poisson-d2-mlp-s1.h5", load_model=False)
    assert run.status == "completed"
    assert run.config["train"]["seed"] == 1 and run.config["train"]["steps"] == 5
    assert "meta_hidden" not in run.config["model"]  # options the model does not take are dropped
    capsys.readouterr()
    assert main(["sweep", str(recipe), "--seeds", "0,1", "--out-dir", str(out)]) == 0
    assert "4 runs planned, 4 already done" in capsys.readouterr().out


def test_a_completed_run_of_other_settings_is_refused_not_kept(tmp_path: Path, capsys) -> None:
    """After the recipe's steps went from 5 to 7, its completed runs counted as "already
    done" (the files said 5 steps); they are refused by name, and kept as they are."""
    recipe = tiny_recipe(tmp_path)
    out = tmp_path / "runs"
    argv = ["sweep", str(recipe), "--out-dir", str(out), "--only", "poisson"]
    assert main(argv) == 0
    kept = (out / "poisson-d2-mlp-s0.h5").read_bytes()
    recipe.write_text(RECIPE.replace("steps = 5", "steps = 7"))
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"pinnkan: error: {out / 'poisson-d2-mlp-s0.h5'} holds a completed run of other settings "
        "(train.steps 5, the recipe: 7); give another --out-dir, or remove the file to train the "
        "recipe's run"
    )
    assert (out / "poisson-d2-mlp-s0.h5").read_bytes() == kept


def test_a_diverged_run_is_a_failed_line_and_exit_1(tmp_path: Path, capsys) -> None:
    """It printed "diverged, rel_l2 1.0e+00" among the successes and the sweep exited 0."""
    recipe = tmp_path / "div.toml"
    recipe.write_text(RECIPE.replace("steps = 5", "steps = 5\nlr = 1e30\nschedule = 'constant'"))
    argv = ["sweep", str(recipe), "--out-dir", str(tmp_path / "runs"), "--only", "poisson"]
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert "poisson-d2-mlp-s0.h5: FAILED (diverged: " in out
    assert "1 of 1 run failed" in err


def test_a_failed_run_does_not_stop_the_others_and_the_sweep_exits_1(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    """A run that raises (e.g. CUDA out of memory) is one FAILED line; the other runs are
    written and the sweep exits 1 with one summary line (it ended with the error before)."""
    import pinnkan.sweep as sweep

    real_solve = sweep.solve_pde

    def solve_or_fail(spec, out, *args, **kwargs):
        if spec.problem == "allen_cahn":
            raise RuntimeError("out of memory")
        return real_solve(spec, out, *args, **kwargs)

    monkeypatch.setattr(sweep, "solve_pde", solve_or_fail)  # the workers are forked
    out = tmp_path / "runs"
    argv = ["sweep", str(tiny_recipe(tmp_path)), "--out-dir", str(out), "--device", "cpu"]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "allen_cahn-d2-mlp-s0.h5: FAILED (RuntimeError: out of memory)" in captured.out
    assert captured.err.strip().splitlines()[-1].startswith("pinnkan: 1 of 2 runs failed")
    assert sorted(path.name for path in out.glob("*.h5")) == ["poisson-d2-mlp-s0.h5"]


def test_a_rerun_continues_a_failed_run_from_its_checkpoint(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    """The FAILED line of a run that raised says `pinnkan resume` continues it; rerunning the
    sweep trained it again from step 0 (over the kept checkpoint). It now continues it."""
    from pinnkan.train import PDETrainer

    step = PDETrainer.training_step

    def fail_in_step_4(trainer):
        if trainer.problem.name == "allen_cahn" and trainer.step == 3:
            raise RuntimeError("out of memory")
        return step(trainer)

    recipe = tmp_path / "tiny.toml"
    recipe.write_text(RECIPE.replace("points = 16\n", "points = 16\ncheckpoint_every = 2\n"))
    out = tmp_path / "runs"
    argv = ["sweep", str(recipe), "--out-dir", str(out), "--device", "cpu"]
    with monkeypatch.context() as patch:
        patch.setattr(PDETrainer, "training_step", fail_in_step_4)  # the workers are forked
        assert main(argv) == 1
    captured = capsys.readouterr()
    assert "allen_cahn-d2-mlp-s0.h5 holds the checkpoint of step 2 (status failed)" in captured.out
    assert "unfinished ones continue from their checkpoints" in captured.err
    assert main(argv) == 0
    lines = capsys.readouterr().out
    assert "2 runs planned, 1 already done" in lines
    assert "allen_cahn-d2-mlp-s0.h5: completed (continued from its checkpoint)" in lines
    run = read_run(out / "allen_cahn-d2-mlp-s0.h5", load_model=False)
    assert run.status == "completed" and run.metrics["steps"] == 5


def test_shipped_table8_recipe_plans_the_paper_grid(capsys) -> None:
    assert main(["sweep", "table8", "--seeds", "0,1,2", "--out-dir", "unused", "--dry-run"]) == 0
    # (3 PDEs x 4 dims x 3 models + 3 PDEs x 2 wide models at d = 100
    #  + 3 PDEs x 3 dims of MetaKAN with the centred init
    #  + 3 PDEs x 4 dims of MetaKAN with node means + 3 PDEs of wide MetaKAN with node means
    #  + 3 PDEs of wide MetaKAN with node means and 2-d prompts
    #  + the anchors' instances: 3 PDEs of KAN and of wide MetaKAN with 2-d prompts; Poisson
    #  of SDGD's MLP and of the d = 1000 MLP)
    #  x 3 seeds
    assert "270 runs planned" in capsys.readouterr().out


def test_shipped_table8_recipe_pins_the_metakan_init_of_each_block() -> None:
    """The rows made before the centred default keep the paper init; the 'centered' block not."""
    from pinnkan.presets import load_preset
    from pinnkan.sweep import plan

    inits = {
        path.name: spec.model_options["meta_init"]
        for spec, path in plan(load_preset("table8"), [0], Path("unused"))
        if spec.model == "metakan"
    }
    assert inits["poisson-d100-metakan-s0.h5"] == "paper"
    assert inits["poisson-d1000-metakan-s0.h5"] == "paper"
    assert inits["poisson-d100-metakan-wide-s0.h5"] == "paper"
    assert inits["poisson-d20-metakan-centered-s0.h5"] == "centered"
    assert inits["poisson-d1000-metakan-node-s0.h5"] == "centered"
    assert inits["poisson-d100-metakan-wide_node-s0.h5"] == "centered"
    assert inits["sine_gordon-d100-metakan-wide_p2-s0.h5"] == "centered"
    assert inits["poisson-d100-metakan-anchor_wide_p2-s0.h5"] == "centered"
    assert inits["allen_cahn-d100-metakan-anchor_meta-s0.h5"] == "centered"
    assert inits["poisson-d1000-metakan-anchor_node-s0.h5"] == "centered"
    # paper grid, wide, centered, node, wide_node, wide_p2, anchor_wide_p2, anchor_meta,
    # anchor_node (d = 1000, then d = 100)
    assert len(inits) == 4 * 3 + 3 + 3 * 3 + 4 * 3 + 3 + 3 + 3 + 3 + 1 + 3


def test_a_block_can_set_hidden_widths_and_a_file_tag(tmp_path: Path) -> None:
    recipe = tmp_path / "wide.toml"
    recipe.write_text(RECIPE + '[[runs]]\nproblem = "poisson"\ndim = 3\nmodel = "kan"\n'
                      'hidden = [6, 4]\ntag = "wide"\ngrid = 3\n')  # fmt: skip
    out = tmp_path / "runs"
    assert main(["sweep", str(recipe), "--out-dir", str(out), "--only", "wide"]) == 0
    assert sorted(path.name for path in out.glob("*.h5")) == ["poisson-d3-kan-wide-s0.h5"]
    run = read_run(out / "poisson-d3-kan-wide-s0.h5", load_model=False)
    assert run.config["model"]["width"] == [3, 6, 4, 1] and run.config["model"]["grid"] == 3
    # the paper's count for a [3, 6, 4, 1] KAN, G = 3, k = 3: (3·6 + 6·4 + 4·1)·(G + k + 1)
    assert run.metrics["params"] == 46 * 7


@pytest.mark.parametrize("given", ["absolute", "relative"])
def test_a_user_problem_path_names_a_file_inside_the_out_dir(tmp_path, capsys, monkeypatch, given):
    """The run file was named by the raw problem string: "/abs/x.py:C-d3-…" was written beside
    the user's file and "../x.py:C-…" outside --out-dir, always with a ':'."""
    source = Path(__file__).parent.parent / "examples" / "helmholtz.py"
    monkeypatch.chdir(tmp_path)
    problem = str(source) if given == "absolute" else os.path.relpath(source, tmp_path)
    recipe = tmp_path / "user.toml"
    recipe.write_text(f"[[runs]]\nproblem = '{problem}:Helmholtz'\ndim = 3\nmodel = 'mlp'\n")
    assert main(["sweep", str(recipe), "--out-dir", "runs", "--dry-run"]) == 0
    planned = [line.split("would run ", 1)[1] for line in capsys.readouterr().out.splitlines()
               if "would run" in line]  # fmt: skip
    assert len(planned) == 1 and Path(planned[0]).parent == Path("runs")
    assert ":" not in planned[0] and planned[0].endswith("helmholtz.py-Helmholtz-d3-mlp-s0.h5")
    assert main(["sweep", str(recipe), "--out-dir", "runs", "--only", "nothing"]) == 2
    listed = capsys.readouterr().err  # the names' parts as the files have them
    assert "helmholtz.py-Helmholtz; dim 3; model mlp; seed 0" in listed and ":H" not in listed


def test_a_block_can_pick_the_problem_instance(tmp_path: Path) -> None:
    """coefficients and problem_seed = "training": one instance per seed, as the SDGD scripts."""
    recipe = tmp_path / "anchor.toml"
    recipe.write_text(RECIPE + '[[runs]]\nproblem = "poisson"\ndim = 3\nmodel = "mlp"\n'
                      'coefficients = "numpy"\nproblem_seed = "training"\ntag = "anchor"\n'
                      '[[runs]]\nproblem = "poisson"\ndim = 3\nmodel = "mlp"\n'
                      'problem_seed = 5\ntag = "fixed"\n')  # fmt: skip
    out = tmp_path / "runs"
    assert main(["sweep", str(recipe), "--seeds", "1,2", "--out-dir", str(out),
                 "--only", "anchor,fixed"]) == 0  # fmt: skip
    for seed in (1, 2):
        problem = read_run(out / f"poisson-d3-mlp-anchor-s{seed}.h5", load_model=False)
        assert problem.config["problem"] == {
            "name": "poisson", "dim": 3, "seed": seed, "coefficients": "numpy"
        }  # fmt: skip
        assert problem.config["spec"]["problem_options"]["seed"] == "training"
        fixed = read_run(out / f"poisson-d3-mlp-fixed-s{seed}.h5", load_model=False)
        assert fixed.config["problem"] == {"name": "poisson", "dim": 3, "seed": 5}
    assert (
        main(
            [
                "sweep",
                str(recipe),
                "--seeds",
                "1,2",
                "--out-dir",
                str(out),
                "--only",
                "anchor,fixed",
                "--dry-run",
            ]
        )
        == 0
    )  # fmt: skip  (all kept)


RUN = "[[runs]]\nproblem = 'poisson'\ndim = 2\nmodel = 'mlp'\n"


@pytest.mark.parametrize(
    "text, message",
    [
        ("[train]\nsteps = 5\n", "no [[runs]]"),
        (
            "[[runs]]\nproblem='poisson'\ndim=2\nmodel='mlp'\nproblem_seed=-1\n",
            'problem_seed=-1 is not allowed; give an integer ≥ 0 or "training"',
        ),
        (
            "[[runs]]\nproblem='poisson'\ndim=2\nmodel='mlp'\ncoefficients='jax'\n",
            "coefficients='jax' is not known; allowed: torch, numpy",
        ),
        ("[[runs]]\nproblem='poisson'\ndim=2\nmodel='mlp'\nhidden=[0]\n", "hidden=[0] is not"),
        ("[[runs]]\nproblem='poisson'\ndim=2\nmodel='mlp'\ntag='a/b'\n", "tag='a/b' is not"),
        ("[[runs]]\nproblem = 'poisson'\n", "lacks 'dim'"),
        ("[[runs]\n", "not valid TOML"),
        # unknown keys: refused (they used to be ignored and a default run trained)
        (RUN + "stepz = 3\n", "[[runs]] block key='stepz' is not known; allowed: "),
        (RUN + "width = [2, 8, 1]\n", "key='width' is not known; allowed: activation, alpha"),
        (RUN + "grid = 3\n", "key='grid' is not known"),  # no option of the block's mlp
        (RUN + "seed = 3\n", "key='seed' is not known"),  # --seeds sets the seeds
        ("[model]\ngird = 3\n" + RUN, "[model] key='gird' is not known; allowed: activation"),
        ("[trian]\nsteps = 3\n" + RUN, "key='trian' is not known; allowed: description, model"),
        ("[train]\nstepz = 3\n" + RUN, "[train] key='stepz' is not known; allowed: alpha"),
        ("[train]\nseed = 3\n" + RUN, "[train] key='seed' is not known"),  # it was listed
        (RUN.replace("'poisson'", "[]"), "a [[runs]] block has an empty 'problem' list"),
        (RUN.replace("dim = 2", "dim = []"), "a [[runs]] block has an empty 'dim' list"),
        (RUN.replace("'mlp'", "[]"), "a [[runs]] block has an empty 'model' list"),
        # two blocks whose runs differ only in what the file name leaves out
        (
            RUN + RUN.replace("[[runs]]\n", "[[runs]]\nlr = 0.1\n"),
            "would both write poisson-d2-mlp-s0.h5",
        ),
    ],
)
def test_bad_recipes_are_refused(tmp_path: Path, capsys, text: str, message: str) -> None:
    recipe = tmp_path / "bad.toml"
    recipe.write_text(text)
    assert main(["sweep", str(recipe), "--out-dir", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "x").exists()


def test_a_block_key_may_be_an_option_of_any_of_its_models(tmp_path: Path) -> None:
    from pinnkan.presets import load_preset
    from pinnkan.sweep import plan

    recipe = tmp_path / "mixed.toml"
    recipe.write_text("[[runs]]\nproblem = 'poisson'\ndim = 2\nmodel = ['kan', 'mlp']\ngrid = 3\n")
    specs = {spec.model: spec for spec, _ in plan(load_preset(str(recipe)), [0], tmp_path)}
    assert specs["kan"].model_options == {"grid": 3} and specs["mlp"].model_options == {}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--seeds", "a"], "argument --seeds: 'a' is not a comma-separated list of integers"),
        (["--seeds", "0,,1"], "'0,,1' has an empty entry"),
        (["--seeds", "-1"], "--seeds=-1 is not allowed; it must be an integer ≥ 0"),
        (["--seeds", "0,1,0"], "--seeds 0,1,0 repeats seed 0; give each once"),  # blamed tags
        (["--jobs", "0"], "--jobs=0 is not allowed; it must be an integer ≥ 1"),
        (["--jobs", "-1"], "--jobs=-1 is not allowed; it must be an integer ≥ 1"),
    ],
)
def test_bad_sweep_flags_are_refused(tmp_path: Path, capsys, argv: list[str], message) -> None:
    recipe = tiny_recipe(tmp_path)
    assert main(["sweep", str(recipe), "--out-dir", str(tmp_path / "x"), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "x").exists()


def test_a_missing_recipe_is_not_found_and_the_built_in_ones_are_named(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", "missing.toml", "--out-dir", "x"]) == 2
    err = capsys.readouterr().err
    assert "recipe 'missing.toml' was not found; built-in recipes: table8," in err
    assert not (tmp_path / "x").exists()


def test_sweep_help_shows_the_defaults(capsys) -> None:
    assert main(["sweep", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "parallel worker processes (default 1)" in help_text
    assert "auto, cpu, cuda or cuda:N (default: auto)" in help_text


# --- everything checked before the output folder is made ----------------------------------------


@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]])
@pytest.mark.parametrize(
    "device, message",
    [
        ("gpu", "device='gpu' is not known; allowed: auto, cpu, cuda or cuda:N"),
        ("cuda:99", "device='cuda:99' is not available: "),
    ],
)
def test_a_bad_device_is_refused_before_the_folder_is_made(
    tmp_path: Path, capsys, device: str, message: str, dry_run: list[str]
) -> None:
    """It used to be checked only by the workers, after the output folder had been made."""
    recipe = tiny_recipe(tmp_path)
    out = tmp_path / "runs"
    code = main(["sweep", str(recipe), "--out-dir", str(out), "--device", device, *dry_run])
    assert message in one_line_error(capsys, code)
    assert not out.exists()


@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]])
def test_an_out_dir_that_is_a_file_is_one_line_error(tmp_path: Path, capsys, dry_run) -> None:
    """It used to end in a FileExistsError traceback from mkdir."""
    recipe = tiny_recipe(tmp_path)
    out = tmp_path / "taken"
    out.write_text("not a folder")
    assert main(["sweep", str(recipe), "--out-dir", str(out), *dry_run]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == (
        f"pinnkan: error: output directory {out} cannot be created: {out} is a file, "
        "not a directory"
    )
    assert out.read_text() == "not a folder"


@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]])
@pytest.mark.parametrize(
    "only, message",
    [
        (
            "xyz",
            "--only 'xyz' matches none of the 4 planned runs; run names are "
            "PROBLEM-dDIM-MODEL[-TAG]-sSEED with problem allen_cahn, poisson; dim 2; model mlp; "
            "seed 0, 1",
        ),
        ("poisson,kan", "--only 'kan' matches none of the 4 planned runs"),  # each must match
        ("poisson,,mlp", "--only 'poisson,,mlp' has an empty entry"),
    ],
)
def test_an_only_filter_matching_no_run_is_an_error(
    tmp_path: Path, capsys, only: str, message: str, dry_run: list[str]
) -> None:
    """It used to plan 0 runs and exit 0 (after making the folder)."""
    recipe = tiny_recipe(tmp_path)
    out = tmp_path / "runs"
    argv = ["sweep", str(recipe), "--seeds", "0,1", "--out-dir", str(out), "--only", only]
    assert message in one_line_error(capsys, main([*argv, *dry_run]))
    assert not out.exists()


def test_the_name_parts_list_tags(tmp_path: Path, capsys) -> None:
    recipe = tmp_path / "tagged.toml"
    recipe.write_text(RECIPE + '[[runs]]\nproblem = "poisson"\ndim = 3\nmodel = "kan"\n'
                      'tag = "wide"\ngrid = 3\n')  # fmt: skip
    assert main(["sweep", str(recipe), "--out-dir", str(tmp_path / "x"), "--only", "d4"]) == 2
    assert (
        "with problem allen_cahn, poisson; dim 2, 3; model kan, mlp; tag wide; seed 0"
        in capsys.readouterr().err
    )


def test_an_entry_that_cannot_be_built_is_refused_before_the_folder_is_made(
    tmp_path: Path, capsys
) -> None:
    """A model option the workers' prepare() refuses (k = 1 has no Laplacian) is found first."""
    recipe = tmp_path / "bad.toml"
    recipe.write_text(RECIPE + '[[runs]]\nproblem = "poisson"\ndim = 2\nmodel = "kan"\nk = 1\n')
    out = tmp_path / "runs"
    assert main(["sweep", str(recipe), "--out-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert "k=1 cannot represent a Laplacian" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize("cuda", [False, True])
def test_workers_are_spawned_where_cuda_is_available(monkeypatch, cuda: bool) -> None:
    """Asking torch about CUDA makes forked children unable to use it: on a GPU machine every
    run of a sweep failed with "Cannot re-initialize CUDA in forked subprocess"."""
    import multiprocessing

    import torch

    from pinnkan.workers import worker_pool

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    with worker_pool(1) as pool:
        method = pool._mp_context.get_start_method()  # noqa: SLF001 (no public accessor)
    assert method == ("spawn" if cuda else multiprocessing.get_start_method())


def test_a_metawavkan_file_of_before_meta_fan_in_is_another_model(tmp_path: Path, capsys) -> None:
    """A completed MetaWavKAN file without ``meta_fan_in`` (the factor on all three
    coefficients) counted as the recipe's run, which now trains the amplitude-only model;
    options spelled out at their defaults still match."""
    recipe = tmp_path / "wav.toml"
    recipe.write_text(RECIPE.replace('model = "mlp"', 'model = "metawavkan"\nmeta_hidden = 8'))
    argv = ["sweep", str(recipe), "--out-dir", str(tmp_path / "runs"), "--only", "poisson"]
    assert main(argv) == 0
    recipe.write_text(
        recipe.read_text().replace("meta_hidden = 8", "meta_hidden = 8\nbias = false")
    )
    capsys.readouterr()
    assert main(argv) == 0  # bias = false is the default: the same run
    assert "1 run planned, 1 already done" in capsys.readouterr().out
    path = tmp_path / "runs" / "poisson-d2-metawavkan-s0.h5"
    run = read_run(path)
    del run.config["model"]["meta_fan_in"]
    run.model_config.pop("meta_fan_in")
    write_run(path, run)
    assert main(argv) == 2
    assert (
        "(spec.model_options.meta_fan_in 'all', the recipe: 'amplitude')" in capsys.readouterr().err
    )
