"""A training run stopped by an exception (here a user's problem that raises at its n-th
residual) keeps its last checkpoint: the run file has status "failed" and the error, the
command prints the traceback and one line, exits 1, and ``pinnkan resume`` continues the run
to the result an uninterrupted run gives."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from pinnkan import cli, runner
from pinnkan.results import read_run
from pinnkan.run_failure import error_summary
from pinnkan.summary import format_summary
from pinnkan.text_file import WriteError

FLAKY = '''
import os
import torch
from pinnkan import PDE, Ball


class Flaky(PDE):
    """Δu = f with u = (1 − |x|²) sin x₀; the residual raises at its n-th call (n from the
    environment variable FAIL_AT; 0: never), as a bug in user code would."""

    name = "flaky"
    calls = 0

    def __init__(self, dim: int = 3):
        self.dim, self.geometry = dim, Ball(dim)

    def operator(self, fields):
        Flaky.calls += 1
        if Flaky.calls == int(os.environ.get("FAIL_AT", "0")):
            raise ZeroDivisionError("a bug in the user's operator")
        return fields.laplacian

    def exact_solution(self):
        return lambda x: (1 - x.pow(2).sum(-1)) * torch.sin(x[:, 0])
'''

RAISING_LINE = next(
    number
    for number, line in enumerate(textwrap.dedent(FLAKY).splitlines(), 1)
    if "raise ZeroDivisionError" in line
)
TINY = ["--dim", "3", "--width", "3,6,1", "--test-points", "200", "--device", "cpu", "--quiet"]


@pytest.fixture
def flaky(tmp_path: Path) -> str:
    path = tmp_path / "flaky.py"
    path.write_text(textwrap.dedent(FLAKY))
    return f"{path}:Flaky"


def solve(problem: str, out: Path, fail_at: int, capsys, monkeypatch) -> tuple[int, str]:
    """``pinnkan solve`` of 12 steps, checkpoints every 5; the problem raises at residual
    call ``fail_at`` of this process (the class counter is reset)."""
    monkeypatch.setenv("FAIL_AT", str(fail_at))
    monkeypatch.setattr(runner, "get_problem", counting_reset(runner.get_problem))
    argv = ["solve", "--problem", problem, *TINY, "--steps", "12", "--checkpoint-every", "5"]
    argv += ["--eval-every", "1"]  # a history row per step
    code = cli.main([*argv, "--out", str(out)])
    return code, capsys.readouterr().err


def in_step(step: int) -> int:
    """The operator call made by the residual of training step ``step``: the forcing is the
    operator applied to the exact solution, so each loss calls it twice (residual, forcing),
    after the problem's probe (2 calls: the forcing, the operator on a probe u) and the
    warm-up's loss (2)."""
    return 4 + 2 * (step - 1) + 1


def counting_reset(get_problem):
    def fresh(*args, **kwargs):
        problem = get_problem(*args, **kwargs)
        type(problem).calls = 0
        return problem

    return fresh


def test_a_run_that_raises_keeps_its_checkpoint_and_resumes_to_the_same_result(
    tmp_path, flaky, capsys, monkeypatch
):
    whole = tmp_path / "whole.h5"
    assert solve(flaky, whole, 0, capsys, monkeypatch)[0] == 0
    out = tmp_path / "run.h5"
    code, err = solve(flaky, out, in_step(8), capsys, monkeypatch)
    assert code == 1
    assert "Traceback" in err and "flaky.py" in err  # the user's code needs its traceback
    last = err.strip().splitlines()[-1]
    assert last == (
        f"pinnkan: error: the run stopped after step 7: ZeroDivisionError: a bug in the user's "
        f"operator ({flaky.split(':')[0]}:{RAISING_LINE}, in operator); {out} holds the "
        f"checkpoint of step 5 (status failed): pinnkan resume {out} continues it"
    )
    failed = read_run(out, load_model=False, load_checkpoint=True)
    assert failed.status == "failed" and failed.checkpoint["step"] == 5
    assert failed.metrics["message"].startswith("the run stopped after step 7: ZeroDivisionError")
    assert "message         the run stopped after step 7" in format_summary(failed)
    assert sorted(os.listdir(tmp_path)) == ["flaky.py", "run.h5", "whole.h5"]  # no lock left

    monkeypatch.setenv("FAIL_AT", "0")  # the bug fixed
    assert cli.main(["resume", str(out), "--quiet"]) == 0
    resumed, reference = read_run(out, load_model=False), read_run(whole, load_model=False)
    assert resumed.status == "completed"
    assert resumed.metrics["rel_l2"] == reference.metrics["rel_l2"]
    assert "message" not in format_summary(resumed)
    # the checkpoint kept the rows of steps 6 and 7 that led to the failure; the resume logged
    # them again (steps 1 … 7, 6, 7, 8 …): a resume starts from the checkpoint's rows
    assert list(resumed.history["step"]) == list(reference.history["step"])


def test_a_run_that_raises_before_its_first_step_writes_nothing(
    tmp_path, flaky, capsys, monkeypatch
):
    out = tmp_path / "run.h5"
    code, err = solve(flaky, out, 3, capsys, monkeypatch)  # the warm-up's loss
    assert code == 1
    assert (
        err.strip()
        .splitlines()[-1]
        .startswith("pinnkan: error: the run failed before its first step: ZeroDivisionError")
    )
    assert err.strip().splitlines()[-1].endswith("; nothing was written")
    assert sorted(os.listdir(tmp_path)) == ["flaky.py"]


def test_a_rerun_that_raises_before_its_first_checkpoint_keeps_the_previous_file(
    tmp_path, flaky, capsys, monkeypatch
):
    """The replace note promises the old file is kept if the command fails: a rerun raising
    at step 3 (before its first checkpoint) replaced a completed run by a step-0 "failed" one."""
    out = tmp_path / "run.h5"
    assert solve(flaky, out, 0, capsys, monkeypatch)[0] == 0
    before = out.read_bytes()
    code, err = solve(flaky, out, in_step(3), capsys, monkeypatch)
    assert code == 1
    assert (
        err.strip()
        .splitlines()[-1]
        .endswith("nothing was written (no checkpoint yet: --checkpoint-every 5)")
    )
    assert out.read_bytes() == before and read_run(out, load_model=False).status == "completed"


def test_a_run_whose_final_evaluation_raises_is_finished_by_resume(
    tmp_path, flaky, capsys, monkeypatch
):
    """After the last step the evaluation raised (e.g. out of memory in the final prediction):
    the printed resume command was refused ("the run already has 10 steps")."""
    result = runner.PDETrainer.result
    calls = []

    def out_of_memory_once(trainer, status, message):
        calls.append(status)
        if len(calls) == 1:
            raise MemoryError("the final prediction")
        return result(trainer, status, message)

    monkeypatch.setattr(runner.PDETrainer, "result", out_of_memory_once)
    out = tmp_path / "run.h5"
    monkeypatch.setenv("FAIL_AT", "0")
    argv = ["solve", "--problem", flaky, *TINY, "--steps", "10", "--checkpoint-every", "5"]
    assert cli.main([*argv, "--out", str(out)]) == 1
    assert "holds the checkpoint of step 10 (status failed)" in capsys.readouterr().err
    assert cli.main(["resume", str(out), "--quiet"]) == 0
    assert read_run(out, load_model=False).status == "completed"


def test_a_failed_write_of_the_failed_run_is_named(tmp_path, flaky, capsys, monkeypatch):
    out = tmp_path / "run.h5"
    write = runner.write_run
    writes = []

    def full_disk_after_the_checkpoint(path, run):
        writes.append(run.status)
        if run.status == "failed":
            raise WriteError(f"cannot write {path}: No space left on device")
        write(path, run)

    monkeypatch.setattr(runner, "write_run", full_disk_after_the_checkpoint)
    code, err = solve(flaky, out, in_step(8), capsys, monkeypatch)
    assert code == 1 and writes == ["running", "failed"]
    assert (
        err.strip()
        .splitlines()[-1]
        .endswith(f"writing the run file failed too: cannot write {out}: No space left on device")
    )
    assert read_run(out, load_model=False).status == "running"  # the checkpoint of step 5


def test_debug_raises_the_error_itself(tmp_path, flaky, monkeypatch):
    monkeypatch.setenv("FAIL_AT", "10")
    monkeypatch.setattr(runner, "get_problem", counting_reset(runner.get_problem))
    argv = ["--debug", "solve", "--problem", flaky, *TINY, "--steps", "12"]
    with pytest.raises(runner.RunFailedError) as raised:
        cli.main([*argv, "--out", str(tmp_path / "run.h5")])
    assert isinstance(raised.value.__cause__, ZeroDivisionError)


def test_error_summary_names_type_message_and_place():
    def inner():
        raise ValueError("first line\nsecond line")

    try:
        inner()
    except ValueError as error:
        summary = error_summary(error)
    assert summary.startswith("ValueError: first line")
    assert "second line" not in summary
    assert summary.endswith(f"({__file__}:{inner.__code__.co_firstlineno + 1}, in inner)")
    assert error_summary(MemoryError()) == "MemoryError"


def test_an_interrupt_before_the_first_step_writes_nothing(tmp_path, capsys, monkeypatch):
    """A Ctrl-C during the warm-up wrote a run file 'interrupted at step 0' with no steps (the
    README says an interrupt before training writes nothing)."""
    from pinnkan.train import PDETrainer

    warm_up = PDETrainer.warm_up

    def interrupted_warm_up(self):
        warm_up(self)
        self.stop()  # the signal handler's call

    monkeypatch.setattr(PDETrainer, "warm_up", interrupted_warm_up)
    out = tmp_path / "run.h5"
    code = cli.main(["solve", "--problem", "poisson", *TINY, "--steps", "5", "--out", str(out)])
    assert code == 130
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith("pinnkan: interrupted (no file is left half-written)")
    )
    assert not out.exists()
