"""The ``pinnkan`` command line, in process: list, solve → show, every invalid input of issues
#3 and #7 (exit 2, one line naming the value, no run file), a user PDE from a file, and the
1:1 mapping of TrainConfig fields onto flags."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
import torch

from pinnkan import cli, commands
from pinnkan.environment import pinnkan_version
from pinnkan.nn.build import build_model, count_parameters, list_models
from pinnkan.presets import list_presets, load_preset
from pinnkan.problems import list_problems
from pinnkan.results import read_run
from pinnkan.train import TrainConfig

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TINY = ["--dim", "3", "--width", "3,8,1", "--test-points", "200", "--device", "cpu", "--quiet"]


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def solve_argv(out: Path, *extra: str, problem: str = "poisson") -> list[str]:
    return ["solve", "--problem", problem, *TINY, "--steps", "5", "--out", str(out), *extra]


# --- list ----------------------------------------------------------------------------------------


def test_list_names_every_problem_model_and_preset(capsys):
    code, out, _ = run_cli(["list"], capsys)
    assert code == 0
    sections = out.split("models:")
    problems_part, rest = sections[0], sections[1]
    models_part, presets_part = rest.split("presets:")
    for name in list_problems():
        assert f"  {name} " in problems_part
    for name in list_models():
        assert f"  {name} " in models_part
    assert {"sdgd", "paper"} <= set(list_presets())
    for name in list_presets():
        assert f"  {name} " in presets_part


# --- solve, show -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("engine", "noted"), [("forward", True), ("autograd", True), ("sdgd", False)]
)
def test_solve_notes_laplacian_samples_only_where_no_estimator_uses_them(
    tmp_path, capsys, engine, noted
):
    argv = solve_argv(tmp_path / "run.h5", "--laplacian", engine, "--laplacian-samples", "2")
    code, _, stderr = run_cli(argv, capsys)
    assert code == 0
    note = f"--laplacian-samples 2 is not used: the '{engine}' Laplacian takes no samples"
    assert (note in stderr) == noted


UNUSED_FLAGS = [  # flags, and the note's start (None: used, no note)
    (["--schedule", "linear", "--final-lr-fraction", "0.1"], "--final-lr-fraction 0.1 is not used"),
    (["--schedule", "exponential", "--final-lr-fraction", "0.1"], None),
    (["--alpha", "0.5"], "--alpha 0.5 is not used: the hard constraint"),
    (["--boundary-points", "30"], "--boundary-points 30 is not used: the hard constraint"),
    (["--constraint", "soft", "--alpha", "0.5", "--boundary-points", "30"], None),
    (["--update-grid-until", "3"], "--update-grid-until 3 is not used: the grid is never"),
    (["--update-grid-every", "2", "--update-grid-until", "3"], None),
    (["--grid-eps", "0.5"], "--grid-eps 0.5 is not used: the grid is never"),
    (["--alpha", "2"], "--alpha 2 is not used"),  # as typed, not the parsed 2.0
    (["--lbfgs-max-iter", "7"], "--lbfgs-max-iter 7 is not used: only L-BFGS"),
    (["--optimizer", "lbfgs", "--lbfgs-max-iter", "7"], None),
    (["--grid-points", "50"], "--grid-points 50 is not used: the grid is never"),
    (["--grid-margin", "0.1"], "--grid-margin 0.1 is not used: the grid is never"),
    (["--update-grid-every", "2", "--grid-eps", "0.5", "--grid-margin", "0.1"], None),
]


@pytest.mark.parametrize(("flags", "note"), UNUSED_FLAGS)
def test_solve_notes_each_flag_the_run_does_not_use(tmp_path, capsys, flags, note):
    """These flags changed nothing and were accepted silently; each is now one note."""
    code, _, stderr = run_cli(solve_argv(tmp_path / "run.h5", *flags), capsys)
    assert code == 0, stderr
    notes = [line for line in stderr.splitlines() if "is not used" in line]
    if note is None:
        assert notes == []
    else:
        assert len(notes) == 1 and notes[0].startswith(f"pinnkan: note: {note}")


def test_solve_notes_meta_rates_that_lbfgs_does_not_use(tmp_path, capsys):
    flags = ["--optimizer", "lbfgs", "--prompt-lr", "0.5", "--schedule", "constant"]
    argv = solve_argv(tmp_path / "run.h5", *flags)
    code, _, stderr = run_cli([*argv, "--model", "metakan", "--meta-hidden", "4"], capsys)
    assert code == 0, stderr
    assert "pinnkan: note: --prompt-lr 0.5 is not used: L-BFGS runs every parameter at --lr" in (
        stderr
    )


def test_solve_then_show_and_show_json(tmp_path, capsys):
    out = tmp_path / "run.h5"
    code, stdout, _ = run_cli(solve_argv(out, "--steps", "12", "--eval-every", "4"), capsys)
    assert code == 0
    assert f"run file: {out}" in stdout
    run = read_run(out)
    assert run.status == "completed"
    assert list(run.history["step"]) == [1, 4, 8, 12]

    code, stdout, _ = run_cli(["show", str(out)], capsys)
    assert code == 0
    assert "completed" in stdout and "poisson" in stdout
    assert "test MSE" not in stdout and "rel. L1 / Linf" in stdout  # no row a solve never fills

    code, stdout, _ = run_cli(["show", str(out), "--json"], capsys)
    assert code == 0
    facts = json.loads(stdout)
    expected_params = count_parameters(build_model("kan", [3, 8, 1]))
    assert facts["status"] == "completed"
    assert facts["problem"] == "poisson"
    assert facts["model"] == "kan"
    assert facts["dim"] == 3
    assert facts["steps"] == 12
    assert facts["params"] == expected_params
    assert facts["rel_l2"] == pytest.approx(run.metrics["rel_l2"])
    assert 0 < facts["rel_l2"] < 2
    assert facts["wall_time_s"] > 0


def test_flags_override_the_preset(tmp_path):
    parser = cli.get_args_parser()
    argv = ["solve", "--problem", "poisson", "--dim", "3", "--preset", "paper", "--steps", "7"]
    spec = commands.solve_spec(parser.parse_args(argv))
    paper = load_preset("paper")["train"]
    assert spec.train.steps == 7
    assert spec.train.constraint == paper["constraint"] == "soft"
    assert spec.train.points == paper["points"]
    model_table = load_preset("paper")["model"]
    assert "meta_hidden" in model_table  # not a KAN option: dropped for --model kan
    assert spec.model_options == {k: v for k, v in model_table.items() if k != "meta_hidden"}
    # preset [model] options a model does not accept are dropped, not an error
    spec = commands.solve_spec(parser.parse_args([*argv, "--model", "mlp"]))
    assert spec.model_options == {}


@pytest.mark.parametrize("engine", ["sdgd", "hutchinson"])
def test_estimators_run_with_their_default_sample_count(tmp_path, capsys, engine):
    """d = 3 < 16: SDGD's default takes all d coordinates rather than refusing to run."""
    out = tmp_path / "run.h5"
    code, _, err = run_cli(solve_argv(out, "--laplacian", engine), capsys)
    assert code == 0, err
    assert read_run(out).config["laplacian"] == engine


def test_problem_seed_can_follow_the_training_seed(tmp_path, capsys):
    out = tmp_path / "run.h5"
    argv = solve_argv(out, "--problem-seed", "training", "--seed", "2")
    code, _, err = run_cli([*argv, "--problem-option", "coefficients=numpy"], capsys)
    assert code == 0, err
    run = read_run(out)
    assert run.config["problem"]["seed"] == 2 and run.config["problem"]["coefficients"] == "numpy"
    assert run.config["spec"]["problem_options"]["seed"] == "training"


def test_user_defined_pde_from_a_file(tmp_path, capsys):
    out = tmp_path / "helmholtz.h5"
    problem = f"{EXAMPLES / 'helmholtz.py'}:Helmholtz"
    argv = solve_argv(out, "--steps", "100", "--lr", "1e-2", "--eval-every", "50", problem=problem)
    code, _, err = run_cli(argv, capsys)
    assert code == 0, err
    run = read_run(out)
    assert run.config["problem"] == {"name": "helmholtz", "dim": 3, "wavenumber": 2.0}
    # measured 1.2e-2 after 100 steps; the untrained network is at ~1
    assert run.metrics["rel_l2"] < 5e-2


# --- invalid input: exit 2, one line naming the value, nothing written -------------------------


SYNTAX_ERROR = "def broken(:\n    pass\n"
RAISES_AT_IMPORT = "raise RuntimeError('boom at import time')\n"
NOT_A_PDE = "class NotAPDE:\n    pass\n"
NO_SOLUTION = """
from pinnkan.geometry import Ball
from pinnkan.problem import PDE


class NoSolution(PDE):
    def __init__(self, dim: int = 3):
        self.dim, self.geometry = dim, Ball(dim)

    def operator(self, fields):
        return fields.laplacian
"""


def user_files(folder: Path) -> dict[str, str]:
    texts = {
        "syntax.py": SYNTAX_ERROR,
        "raises.py": RAISES_AT_IMPORT,
        "plain.py": NOT_A_PDE,
        "nosolution.py": NO_SOLUTION,
    }
    for name, text in texts.items():
        (folder / name).write_text(text)
    return {name: str(folder / name) for name in texts}


# (label, problem, extra flags, text the message must contain)
INVALID = [
    ("unknown problem", "nope", [], "'nope'"),
    ("regression problem", "highdim:f2", [], "not a PDE"),
    ("unknown model", "poisson", ["--model", "transformer"], "'transformer'"),
    ("dim below 2", "poisson", ["--dim", "1", "--width", "1,8,1"], "dim=1"),
    ("width not matching dim", "poisson", ["--width", "4,8,1"], "width=[4, 8, 1]"),
    ("width not ending in 1", "poisson", ["--width", "3,8,2"], "width=[3, 8, 2]"),
    ("zero hidden width", "poisson", ["--width", "3,0,1"], "0"),
    ("steps zero", "poisson", ["--steps", "0"], "steps=0"),
    ("steps negative", "poisson", ["--steps", "-4"], "steps=-4"),
    ("lr zero", "poisson", ["--lr", "0"], "lr=0.0"),
    ("lr negative", "poisson", ["--lr", "-0.1"], "lr=-0.1"),
    ("lr nan", "poisson", ["--lr", "nan"], "lr=nan"),
    ("value read as a flag", "poisson", ["--grid-range", "-0.5,0.5"], "--grid-range=-0.5,0.5"),
    ("lr inf", "poisson", ["--lr", "inf"], "lr=inf"),
    ("points zero", "poisson", ["--points", "0"], "points=0"),
    ("test points zero", "poisson", ["--test-points", "0"], "test_points=0"),
    ("unknown law", "poisson", ["--law", "gaussian"], "law='gaussian'"),
    ("unknown schedule", "poisson", ["--schedule", "step"], "schedule='step'"),
    ("unknown optimizer", "poisson", ["--optimizer", "sgd"], "optimizer='sgd'"),
    ("unknown constraint", "poisson", ["--constraint", "penalty"], "constraint='penalty'"),
    ("unknown laplacian", "poisson", ["--laplacian", "fd"], "laplacian='fd'"),
    ("sdgd samples > d", "poisson", ["--laplacian", "sdgd", "--laplacian-samples", "4"], "=4"),
    ("samples zero", "poisson", ["--laplacian", "hutchinson", "--laplacian-samples", "-1"], "=-1"),
    ("k=1, second order", "poisson", ["--k", "1"], "k=1"),
    ("k=1, metakan", "poisson", ["--model", "metakan", "--k", "1"], "k=1"),
    ("k=-1", "poisson", ["--k=-1"], "k=-1 is not allowed; it must be an integer ≥ 1"),
    ("unknown dtype", "poisson", ["--dtype", "float16"], "dtype='float16'"),
    ("unknown device", "poisson", ["--device", "tpu"], "device='tpu'"),
    ("unknown preset", "poisson", ["--preset", "fastest"], "'fastest'"),
    (
        "grid for mlp",
        "poisson",
        ["--model", "mlp", "--grid", "5"],
        "--grid is not a flag of model 'mlp'; its flags: --activation, --bias",
    ),
    ("meta option for kan", "poisson", ["--meta-hidden", "8"], "--meta-hidden is not a flag"),
    ("unknown meta init", "poisson", ["--model", "metakan", "--meta-init", "zero"], "'zero'"),
    ("unknown wavelet", "poisson", ["--model", "wavkan", "--wavelet", "haar"], "'haar'"),
    ("argparse: steps abc", "poisson", ["--steps", "abc"], "'abc'"),
    ("argparse: width", "poisson", ["--width", "3,x,1"], "'3,x,1'"),
    ("width empty entry", "poisson", ["--width", "3,,8,1"], "'3,,8,1' has an empty entry"),
    ("width trailing comma", "poisson", ["--width", "3,8,1,"], "'3,8,1,' has an empty entry"),
    ("argparse: unknown flag", "poisson", ["--stepz", "3"], "--stepz"),
    ("problem seed word", "poisson", ["--problem-seed", "train"], "'train' is not allowed"),
    ("problem seed negative", "poisson", ["--problem-seed=-1"], "--problem-seed: '-1'"),
    (  # degenerate knots: the output changed by 10⁴× its size at one point
        "grid points below G + 1",
        "poisson",
        ["--update-grid-every", "2", "--grid-points", "3"],
        "grid_points=3 is not allowed with grid=5",
    ),
    ("threads past torch's", "poisson", ["--threads", "100000"], "--threads=100000"),  # SIGSEGV
    ("empty out", "poisson", ["--out", ""], "argument --out: '' is not allowed"),  # default path
    ("empty preset", "poisson", ["--preset", " "], "argument --preset: ' ' is not allowed"),
    (
        "coefficient law",
        "poisson",
        ["--problem-option", "coefficients=jax"],
        "coefficients='jax' is not known; allowed: torch, numpy",
    ),
]


def assert_one_line_error(code: int, out: str, err: str, needle: str) -> None:
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("pinnkan: error: "), err
    assert needle in lines[0], err


@pytest.mark.parametrize(
    ("label", "problem", "extra", "needle"), INVALID, ids=[c[0] for c in INVALID]
)
def test_invalid_input_is_one_line_exit_2_and_no_file(
    tmp_path, capsys, label, problem, extra, needle
):
    out = tmp_path / "new" / "run.h5"
    code, stdout, err = run_cli(solve_argv(out, *extra, problem=problem), capsys)
    assert_one_line_error(code, stdout, err, needle)
    assert not out.parent.exists()  # not even the output directory is created


@pytest.mark.parametrize(
    ("name", "target", "needle"),
    [
        ("missing", "absent.py:Helmholtz", "absent.py"),
        ("syntax", "syntax.py:Thing", "SyntaxError"),
        ("raises", "raises.py:Thing", "boom at import time"),
        ("no class", "plain.py:Missing", "'Missing'"),
        ("not a PDE", "plain.py:NotAPDE", "NotAPDE"),
        ("neither solution nor forcing", "nosolution.py:NoSolution", "forcing"),
    ],
)
def test_bad_user_problem_file(tmp_path, capsys, name, target, needle):
    user_files(tmp_path)
    out = tmp_path / "runs" / "run.h5"
    argv = solve_argv(out, problem=str(tmp_path / target))
    code, stdout, err = run_cli(argv, capsys)
    assert_one_line_error(code, stdout, err, needle)
    assert not out.parent.exists()


def test_output_directory_not_writable(tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file, not a directory")
    out = blocker / "run.h5"
    code, stdout, err = run_cli(solve_argv(out), capsys)
    assert_one_line_error(code, stdout, err, str(blocker))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_cuda_without_gpu(tmp_path, capsys):
    out = tmp_path / "run.h5"
    argv = [arg if arg != "cpu" else "cuda" for arg in solve_argv(out)]
    code, stdout, err = run_cli(argv, capsys)
    assert_one_line_error(code, stdout, err, "device='cuda'")
    assert not out.exists()


def test_show_of_a_missing_file(tmp_path, capsys):
    code, stdout, err = run_cli(["show", str(tmp_path / "absent.h5")], capsys)
    assert_one_line_error(code, stdout, err, "absent.h5")


def test_help_exits_0(capsys):
    assert cli.main(["solve", "--help"]) == 0
    assert "--checkpoint-every" in capsys.readouterr().out
    assert cli.main(["plot", "--help"]) == 0  # a subcommand whose flags live in its module
    assert "--plane-seed" in capsys.readouterr().out


def test_only_the_chosen_subcommand_imports_its_module():
    """``pinnkan --help`` and ``pinnkan list`` import neither matplotlib nor sympy nor scipy's
    optimisers (seconds on a small machine); ``pinnkan plot --help`` imports matplotlib."""
    code = (
        "import sys, contextlib, io\n"
        "from pinnkan.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(sys.argv[1:])\n"
        "print(sorted(m for m in ('matplotlib', 'sympy', 'scipy.optimize') if m in sys.modules))"
    )
    for argv, expected in [
        (["--help"], "[]"),
        (["list"], "[]"),
        (["plot", "--help"], "matplotlib"),
    ]:
        result = subprocess.run(
            [sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True
        )
        assert expected in result.stdout.strip().splitlines()[-1], (argv, result.stdout)


# --- flags map 1:1 onto TrainConfig ------------------------------------------------------------


def solve_parser() -> argparse.ArgumentParser:
    parser = cli.get_args_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return subparsers.choices["solve"]


def test_every_train_config_field_has_a_flag():
    destinations = {action.dest: action for action in solve_parser()._actions}
    for item in fields(TrainConfig):
        assert item.name in destinations, f"TrainConfig.{item.name} has no flag"
        flag = "--" + item.name.replace("_", "-")
        assert flag in destinations[item.name].option_strings


NON_DEFAULT = {
    "steps": "17",
    "optimizer": "lbfgs",
    "lr": "0.25",
    "prompt_lr": "0.125",
    "meta_lr": "0.0625",
    "schedule": "cosine",
    "final_lr_fraction": "0.5",
    "points": "33",
    "boundary_points": "44",
    "resample_every": "3",
    "law": "volume",
    "constraint": "soft",
    "alpha": "0.75",
    "test_points": "55",
    "eval_every": "6",
    "laplacian": "autograd",
    "laplacian_samples": "2",
    "seed": "9",
    "lbfgs_max_iter": "7",
    "checkpoint_every": "8",
    "update_grid_every": "5",
    "update_grid_until": "10",
    "grid_eps": "0.5",
    "grid_points": "300",
    "grid_margin": "0.5",
}


def test_every_flag_reaches_train_config():
    assert set(NON_DEFAULT) == {item.name for item in fields(TrainConfig)}
    argv = ["solve", "--problem", "poisson", "--dim", "3", "--model", "metakan"]  # has every rate
    for name, value in NON_DEFAULT.items():
        argv += ["--" + name.replace("_", "-"), value]
    train = commands.solve_spec(cli.get_args_parser().parse_args(argv)).train
    defaults = TrainConfig()
    for item in fields(TrainConfig):
        value = getattr(train, item.name)
        assert value != getattr(defaults, item.name), item.name
        assert str(value) == NON_DEFAULT[item.name], item.name


NONZERO_BOUNDARY_PDE = """
from pinnkan import PDE, Ball, ExactSolution


class Shifted(ExactSolution):
    def value(self, x):
        return 1.0 + x.pow(2).sum(-1)


class NonZero(PDE):
    name = "nonzero"

    def __init__(self, dim: int = 2):
        self.dim, self.geometry = dim, Ball(dim)

    def operator(self, fields):
        return fields.laplacian

    def exact_solution(self):
        return Shifted()
"""


def test_hard_constraint_refuses_nonzero_boundary_values(tmp_path, capsys) -> None:
    source = tmp_path / "nonzero.py"
    source.write_text(NONZERO_BOUNDARY_PDE)
    out = tmp_path / "run.h5"
    code = cli.main(
        ["solve", "--problem", f"{source}:NonZero", "--constraint", "hard", "--out", str(out)]
    )
    assert code == 2
    assert "needs u = 0 on the boundary" in capsys.readouterr().err
    assert not out.exists()


def test_int_list_reads_spaces_and_refuses_empty_entries():
    import argparse

    assert cli.int_list(" 3, 8 ,1") == [3, 8, 1]
    assert cli.int_list("") == []  # the caller says that it needs at least one
    for text in ("3,,8", "3,8,", ",3", " , "):
        with pytest.raises(argparse.ArgumentTypeError, match="empty entry"):
            cli.int_list(text)


def test_bench_without_a_benchmark_names_them(capsys):
    code, stdout, err = run_cli(["bench"], capsys)
    assert_one_line_error(code, stdout, err, "needs a benchmark: laplacian or memory")


@pytest.mark.parametrize(
    "flags, needle",
    [
        (["--problem-option", "dim=7"], "--problem-option dim=7 disagrees with --dim 3"),
        (["--problem-option", "seed=3", "--problem-seed", "4"], "seed=3 disagrees with"),
    ],
)
def test_problem_options_that_contradict_their_flags(tmp_path, capsys, flags, needle):
    out = tmp_path / "run.h5"
    code, stdout, err = run_cli(solve_argv(out, *flags), capsys)
    assert_one_line_error(code, stdout, err, needle)
    assert not out.exists()


def test_output_into_a_closed_pipe_ends_quietly(tmp_path):
    """``pinnkan sweep … --dry-run | head -1``: no traceback, the shell's status 141."""
    seeds = ",".join(map(str, range(30)))  # 2,700 lines: more than a pipe holds
    argv = ["sweep", "table8", "--dry-run", "--seeds", seeds, "--out-dir", str(tmp_path)]
    code = f"import sys; from pinnkan.cli import main; sys.exit(main({argv!r}))"
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout.readline().startswith(b"2,700 runs planned")
    process.stdout.close()
    assert process.wait(timeout=120) == 141
    assert process.stderr.read() == b""


def test_progress_speed_is_steps_over_training_time(capsys):
    """The bar's speed leaves out set-up and warm-up (the trainer's clock), also after a resume;
    without that clock it is measured from the first report on."""
    progress = commands.Progress(600)
    progress(300, {"loss": 1.0, "train_time_s": 3.0})  # e.g. resumed at step 200
    assert "300/600 loss 1.000e+00 100.0 it/s, 3s left" in capsys.readouterr().err
    untimed = commands.Progress(10)
    untimed(2, {"loss": 1.0})
    assert capsys.readouterr().err.strip().endswith("-- it/s")


def test_a_completed_run_that_learned_nothing_gets_a_note(tmp_path, capsys):
    """Adam at a huge --lr keeps a finite loss (not 'diverged') but ends with rel. L2 ≫ 1: a note
    says so and suggests a smaller --lr; a run that learned gets none. Both exit 0."""
    argv = ["solve", "--problem", "poisson", *TINY, "--steps", "5"]
    code, _, err = run_cli([*argv, "--lr", "1e6", "--out", str(tmp_path / "a.h5")], capsys)
    assert code == 0
    assert "the solution was not learned; try a smaller --lr (this run: 1000000.0)" in err
    code, _, err = run_cli([*argv, "--lr", "1e-2", "--out", str(tmp_path / "b.h5")], capsys)
    assert code == 0 and "not learned" not in err


def test_checkpoint_every_is_noted_as_unused_by_the_deepxde_engine():
    from argparse import Namespace

    from pinnkan.train import TrainConfig
    from pinnkan.unused_flags import solve_reasons, unused_flags

    def notes(engine: str) -> list[str]:
        args = Namespace(engine=engine, checkpoint_every=5)
        return unused_flags(args, solve_reasons(args, TrainConfig()))

    assert notes("deepxde") == [
        "--checkpoint-every 5 is not used: the deepxde engine writes no checkpoints (its run "
        "file is written at the end)"
    ]
    assert notes("pinnkan") == []


def test_show_says_whether_a_running_run_file_is_being_written(tmp_path, capsys):
    """A run killed with SIGKILL reads "status running" for ever; show says that no process
    holds its lock (and how to continue it), or that one is writing it now."""
    import dataclasses

    from pinnkan.results import write_run
    from pinnkan.text_file import writing_alone

    out = tmp_path / "run.h5"
    assert cli.main(solve_argv(out)) == 0
    write_run(out, dataclasses.replace(read_run(out), status="running"))
    capsys.readouterr()
    assert cli.main(["show", str(out)]) == 0
    assert (
        "no pinnkan process is writing it (the run was stopped without a word, e.g. killed): "
        f"pinnkan resume {out} continues it from its last checkpoint"
    ) in capsys.readouterr().out
    with writing_alone(out):
        assert cli.main(["show", str(out)]) == 0
        assert "a pinnkan process is writing it now" in capsys.readouterr().out


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("[enforce fail] DefaultCPUAllocator: can't allocate memory: 16 GB"),
        MemoryError(),
    ],
)
def test_running_out_of_memory_before_training_is_one_line(tmp_path, capsys, monkeypatch, error):
    """E.g. --test-points 2000000000: a traceback of torch's allocator before."""
    from pinnkan import train

    def allocate(*args, **kwargs):
        raise error

    monkeypatch.setattr(train, "make_test_set", allocate)
    assert cli.main(solve_argv(tmp_path / "run.h5")) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("pinnkan: error: out of memory: ") and "\n" not in err
    assert err.endswith("ask for less (fewer points, a smaller network or test set)")
    monkeypatch.setattr(train, "make_test_set", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):  # other errors are not dressed up as memory
        cli.main(solve_argv(tmp_path / "run.h5"))


def test_a_spec_from_a_preset_is_the_one_the_command_line_makes(tmp_path):
    """SolveSpec(preset="paper") trained with the library defaults under the preset's name; the
    preset's settings come with SolveSpec.from_preset, as with --preset."""
    from pinnkan import SolveSpec

    argv = ["--problem", "poisson", "--dim", "3", "--model", "metakan", "--preset", "paper"]
    parser = cli.get_args_parser(["solve"])
    args = parser.parse_args(["solve", *argv, "--steps", "5", "--out", str(tmp_path / "r.h5")])
    from_flags = commands.solve_spec(args)
    spec = SolveSpec.from_preset(
        "paper", "poisson", problem_options={"dim": 3}, model="metakan", train={"steps": 5}
    )
    assert spec.train == from_flags.train and spec.model_options == from_flags.model_options
    assert (spec.train.constraint, spec.train.points, spec.train.law) == ("soft", 2000, "volume")
    assert spec.model_options["meta_hidden"] == 128 and spec.preset == "paper"
    with pytest.raises(ValueError, match="preset 'nonsense' was not found"):
        SolveSpec.from_preset("nonsense", "poisson")
    with pytest.raises(ValueError, match="stepz"):
        SolveSpec.from_preset("paper", "poisson", train={"stepz": 5})


def test_another_optimizer_than_the_presets_takes_its_own_rate(tmp_path):
    """--preset sdgd --optimizer lbfgs ran L-BFGS at the preset's Adam rate 1e-3."""
    parser = cli.get_args_parser(["solve"])
    base = ["solve", "--problem", "poisson", "--dim", "3", "--preset", "sdgd"]
    for extra, rate in ((["--optimizer", "lbfgs"], 1.0), (["--optimizer", "lbfgs", "--lr", "0.5"], 0.5),
                        (["--optimizer", "adam"], 1e-3), ([], 1e-3)):  # fmt: skip
        args = parser.parse_args([*base, *extra, "--out", str(tmp_path / "r.h5")])
        assert commands.solve_spec(args).train.lr == rate, extra


@pytest.mark.parametrize(
    "argv",
    [
        ["fit", "--problem", "feynman:I.12.5", "--steps", "2", "--out", ""],
        ["fit", "--recipe", ""],
        ["fit", "--recipe", "table2", "--out-dir", " "],
        ["fit", "--recipe", "table2", "--table", ""],
        ["plot", "run.h5", "--out", ""],
        ["report", "run.h5", "--out", ""],
        ["sweep", "table8", "--out-dir", ""],
    ],
    ids=["fit out", "fit recipe", "fit out-dir", "fit table", "plot", "report", "sweep"],
)
def test_an_empty_path_is_refused_not_taken_for_the_default(tmp_path, monkeypatch, capsys, argv):
    """`--out "$UNSET"` wrote to the default place: fit to results/runs/, plot into the current
    folder, report to stdout, sweep into the current folder."""
    monkeypatch.chdir(tmp_path)
    code, stdout, err = run_cli(argv, capsys)
    assert_one_line_error(code, stdout, err, "is not allowed; give a path")
    assert list(tmp_path.iterdir()) == []


def test_more_threads_than_cpus_is_a_note(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(commands.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(torch, "set_num_threads", lambda threads: None)  # keep the process's
    out = tmp_path / "run.h5"
    code, _, err = run_cli(solve_argv(out, "--threads", "3"), capsys)
    assert code == 0, err
    assert "pinnkan: note: --threads 3 is more than this machine's 2 CPUs" in err


def test_ctrl_c_before_training_is_one_line_and_exit_130(tmp_path, capsys, monkeypatch):
    """It was 'pinnkan: error: KeyboardInterrupt' with exit 2 (the status of bad input)."""

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(commands, "solve_pde", interrupted)
    out = tmp_path / "run.h5"
    code, stdout, err = run_cli(solve_argv(out), capsys)
    assert (code, stdout) == (130, "")
    assert err.strip() == "pinnkan: interrupted (no file is left half-written)"
    assert not out.exists()


def test_out_of_memory_in_training_is_one_line_without_a_traceback(tmp_path, capsys, monkeypatch):
    """It printed torch's traceback and 'the run stopped after step 0 … (no checkpoint yet:
    --checkpoint-every 1000)' for a 5-step run."""
    from pinnkan import train

    def no_memory(self, *args, **kwargs):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8 TB")

    monkeypatch.setattr(train.PDETrainer, "loss_terms", no_memory)
    out = tmp_path / "run.h5"
    code, stdout, err = run_cli(solve_argv(out), capsys)
    assert (code, stdout) == (1, "")
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("pinnkan: error: the run failed before its first step: RuntimeError")
    assert lines[0].endswith("ask for less (fewer points, a smaller network or test set)")
    assert not out.exists()


def test_preset_help_names_every_builtin_preset(capsys):
    """It said "sdgd, paper, or a .toml file"; table8 is a preset too."""
    from pinnkan.presets import PRESET, builtin_names

    assert cli.main(["solve", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"run recipe: {', '.join(builtin_names(PRESET))}, or a .toml file" in help_text
    assert "table8" in builtin_names(PRESET)


def test_version(capsys):
    """`pinnkan --version` said 'the following arguments are required: command'."""
    with pytest.raises(SystemExit) as exit_request:
        cli.get_args_parser(["--version"]).parse_args(["--version"])
    assert exit_request.value.code == 0
    assert capsys.readouterr().out.strip() == f"pinnkan {pinnkan_version()}"
    assert cli.main(["--version"]) == 0


def test_the_threads_note_counts_every_process_and_comes_from_process_0(
    tmp_path, capsys, monkeypatch
):
    """Under torchrun every process printed it, and 2 threads × 2 processes on 2 CPUs gave none."""
    monkeypatch.setattr(commands.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(torch, "set_num_threads", lambda threads: None)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    commands.set_threads(2)
    assert "--threads 2 in each of 2 processes is more than this machine's 2 CPUs" in (
        capsys.readouterr().err
    )
    monkeypatch.setenv("RANK", "1")
    commands.set_threads(2)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("table", ["train", "model"])
def test_a_bad_key_in_a_preset_file_names_the_file(tmp_path, capsys, table):
    """A bad [train] key said only "[train] key='bogus' is not known"."""
    preset = tmp_path / "mine.toml"
    preset.write_text(f"[{table}]\nbogus = 1\n")
    out = tmp_path / "run.h5"
    code, stdout, err = run_cli(solve_argv(out, "--preset", str(preset)), capsys)
    assert_one_line_error(
        code, stdout, err, f"preset '{preset}' [{table}] key='bogus' is not known"
    )


@pytest.mark.parametrize("argv", [["--steps", "-5"], ["--steps", "abc"]])
def test_under_torchrun_only_rank_0_says_what_is_wrong(monkeypatch, capsys, tmp_path, argv):
    """Every process parses the same flags: the error was printed once per process."""
    command = [
        "solve",
        "--problem",
        "poisson",
        "--dim",
        "2",
        *argv,
        "--out",
        str(tmp_path / "r.h5"),
    ]
    monkeypatch.setenv("WORLD_SIZE", "2")
    for rank, lines in (("1", 0), ("0", 1)):
        monkeypatch.setenv("RANK", rank)
        assert cli.main(command) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == lines
    monkeypatch.delenv("WORLD_SIZE")  # not torchrun: a RANK of another tool changes nothing
    for rank in ("1", "abc"):
        monkeypatch.setenv("RANK", rank)
        assert cli.main(command) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_boundary_points_of_over_a_gibibyte_a_step_get_a_note(capsys):
    """The paper preset's N_b = 100·d drew 1.6 GB a step at d = 2000 without a word."""
    from pinnkan.train import TrainConfig

    commands.note_large_boundary(TrainConfig(constraint="soft"), 2000, "float32")
    assert capsys.readouterr().err == (
        "pinnkan: note: 200,000 boundary points × d = 2,000 are 1.5 GiB drawn every step "
        "(the default N_b = 100·d); --boundary-points draws fewer\n"
    )
    for train in (TrainConfig(constraint="soft", boundary_points=1000), TrainConfig()):
        commands.note_large_boundary(train, 2000, "float64")
    commands.note_large_boundary(TrainConfig(constraint="soft"), 100, "float64")
    assert capsys.readouterr().err == ""
