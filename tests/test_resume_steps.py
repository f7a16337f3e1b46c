"""`pinnkan resume RUN --steps N`: N is the new total, so a resume without steps left says how
many it needs; a resumed run file keeps the run's creation time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_errors import one_line_error

from pinnkan.cli import main
from pinnkan.results import read_run, write_run

TINY = ["--dim", "2", "--model", "mlp", "--width", "2,4,1", "--points", "8", "--test-points", "20"]
CREATED = "2001-02-03T04:05:06+00:00"


@pytest.fixture()
def run_file(tmp_path: Path) -> Path:
    """A completed 4-step run whose creation time is set to ``CREATED``."""
    out = tmp_path / "run.h5"
    argv = ["solve", "--problem", "poisson", *TINY, "--steps", "4", "--eval-every", "2"]
    assert main([*argv, "--device", "cpu", "--quiet", "--out", str(out)]) == 0
    run = read_run(out)
    run.config["environment"]["created_utc"] = CREATED
    write_run(out, run)
    return out


@pytest.mark.parametrize("steps", ["2", "4"])
def test_resume_with_steps_not_above_the_done_ones_says_the_bound(run_file, capsys, steps):
    """It used to end in "give --steps larger", naming no bound and not saying N is a total."""
    before = run_file.read_bytes()
    line = one_line_error(capsys, main(["resume", str(run_file), "--steps", steps, "--quiet"]))
    assert line == (
        f"pinnkan: error: {run_file}: the run already has 4 steps and --steps (steps= in "
        f"Python) is the new total, so {steps} adds none; give more than 4"
    )
    assert run_file.read_bytes() == before


def test_resume_of_a_completed_run_without_steps_says_the_bound(run_file, capsys):
    line = one_line_error(capsys, main(["resume", str(run_file), "--quiet"]))
    assert line == (
        f"pinnkan: error: {run_file}: the run already has 4 steps, the 4 it was set to run; to "
        "continue it give --steps (steps= in Python) larger than 4 (the new total number of steps)"
    )


def test_a_resumed_run_keeps_its_creation_time(run_file, capsys):
    """It used to get the resume's time as ``created_utc``; that now goes to ``resumed_utc``."""
    assert main(["resume", str(run_file), "--steps", "6", "--device", "cpu", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["show", str(run_file), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["created_utc"] == CREATED and facts["steps"] == 6
    environment = read_run(run_file, load_model=False).config["environment"]
    assert environment["created_utc"] == CREATED
    assert environment["resumed_utc"] > CREATED


def test_one_step_and_a_fit_run_are_named_as_such(tmp_path: Path, capsys):
    """ "already has 1 steps"; a fit run file was "not a pinnkan solve run file"."""
    out = tmp_path / "one.h5"
    argv = ["solve", "--problem", "poisson", *TINY, "--steps", "1", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    capsys.readouterr()
    line = one_line_error(capsys, main(["resume", str(out), "--quiet"]))
    assert "the run already has 1 step, the 1 it was set to run" in line
    fit = tmp_path / "fit.h5"
    argv = ["fit", "--problem", "feynman:I.12.5", "--steps", "1", "--quiet", "--out", str(fit)]
    assert main(argv) == 0
    capsys.readouterr()
    line = one_line_error(capsys, main(["resume", str(fit)]))
    assert line == (
        f"pinnkan: error: {fit}: a regression (pinnkan fit) run; only solve runs resume (a fit "
        "is rerun with pinnkan fit)"
    )


def test_a_deepxde_run_is_named_as_such_when_resumed(run_file, capsys):
    """It said only "holds no checkpoint"; the reason is the engine."""
    run = read_run(run_file)
    run.config["engine"] = "deepxde"
    run.checkpoint = None
    write_run(run_file, run)
    line = one_line_error(capsys, main(["resume", str(run_file), "--quiet"]))
    assert "a run of the deepxde engine, which keeps no checkpoints; cannot resume it" in line


def test_a_diverged_run_is_not_resumed_into_the_same_divergence(tmp_path: Path, capsys):
    """Its resume replayed the divergence bit for bit and printed advice (--lr, float64) that
    resume cannot take."""
    out = tmp_path / "run.h5"
    argv = ["solve", "--problem", "poisson", *TINY, "--steps", "6", "--lr", "1e12"]
    assert main([*argv, "--quiet", "--out", str(out)]) == 1
    assert read_run(out, load_model=False).status == "diverged"
    capsys.readouterr()
    line = one_line_error(capsys, main(["resume", str(out), "--quiet"]))
    assert "the run diverged (" in line and "rerun pinnkan solve with other settings" in line
    assert read_run(out, load_model=False).status == "diverged"  # the file is left as it was
