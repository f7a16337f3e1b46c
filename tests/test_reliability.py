"""Reliability of solver runs (issue #7): interruption by SIGINT/SIGTERM and bit-exact resume,
damaged and foreign run files, divergence with rollback, atomic writes, resume errors.

Two tests start ``python -m pinnkan solve`` in a subprocess and signal it; everything else runs
the command line in process (``pinnkan.cli.main``).
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from pinnkan import cli
from pinnkan.checkpoint import deserialize_state, serialize_state
from pinnkan.nn.build import build_model
from pinnkan.problems import get_problem
from pinnkan.results import read_run, write_run
from pinnkan.train import PDETrainer, TrainConfig

CLOCK_COLUMNS = ("train_time_s", "wall_time_s", "peak_memory_bytes")
TINY = ["--dim", "3", "--width", "3,8,1", "--test-points", "200", "--device", "cpu", "--quiet"]
LONG_RUN = [*TINY, "--steps", "300", "--lr", "1e-2", "--eval-every", "20", "--seed", "5"]


def solve_argv(out: Path, *extra: str, problem: str = "poisson") -> list[str]:
    return ["solve", "--problem", problem, *extra, "--out", str(out)]


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = cli.main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_same_training(first, second) -> None:
    """Bitwise-equal history (clock columns aside), errors, test predictions and parameters."""
    names = [name for name in first.history if name not in CLOCK_COLUMNS]
    assert names == [name for name in second.history if name not in CLOCK_COLUMNS]
    for name in names:
        np.testing.assert_array_equal(first.history[name], second.history[name], err_msg=name)
    for name in ("steps", "rel_l2", "rel_l1", "rel_linf"):
        assert first.metrics[name] == second.metrics[name], name
    np.testing.assert_array_equal(first.test_set["prediction"], second.test_set["prediction"])
    for key, tensor in first.model_state.items():
        assert torch.equal(tensor, second.model_state[key]), key


def leftovers(folder: Path) -> list[str]:
    """Hidden or temporary files a run must not leave behind."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") or "tmp" in p.name)


# --- interruption and resume (subprocess) ------------------------------------------------------


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> object:
    """The reference: the long run, start to end, in process (no checkpoint written on the way,
    so this also shows that writing checkpoints does not disturb training)."""
    out = tmp_path_factory.mktemp("reference") / "reference.h5"
    assert cli.main(solve_argv(out, *LONG_RUN)) == 0
    return read_run(out)


def file_status(path: Path) -> str | None:
    try:
        with h5py.File(path, "r") as file:
            return str(file.attrs["status"])
    except (OSError, KeyError):
        return None


def start_and_signal(out: Path, sig: signal.Signals) -> subprocess.CompletedProcess:
    """Start the long run in a subprocess, wait for its first checkpoint, send ``sig``."""
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, "-m", "pinnkan", *solve_argv(out, *LONG_RUN, "--checkpoint-every", "5")]
    process = subprocess.Popen(
        argv, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    try:
        while file_status(out) != "running":
            assert process.poll() is None, (
                f"the run ended before it could be signalled: {process.communicate()}"
            )
            assert time.monotonic() < deadline, "no checkpoint after 120 s"
            time.sleep(0.02)
        process.send_signal(sig)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_then_resume_equals_the_uninterrupted_run(tmp_path, capsys, uninterrupted, sig):
    out = tmp_path / "run.h5"
    done = start_and_signal(out, sig)
    assert done.returncode == 1, done.stderr
    assert "interrupted" in done.stderr and f"pinnkan resume {out}" in done.stderr
    stopped = read_run(out)
    assert stopped.status == "interrupted"
    assert 0 < stopped.checkpoint["step"] < 300
    assert stopped.metrics["steps"] == stopped.checkpoint["step"]
    assert leftovers(tmp_path) == []

    code, _, err = run_cli(["resume", out, "--quiet"], capsys)
    assert code == 0, err
    resumed = read_run(out)
    assert resumed.status == "completed"
    assert_same_training(resumed, uninterrupted)
    assert leftovers(tmp_path) == []


# --- checkpoint state in process ---------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"optimizer": "adam", "resample_every": 3, "schedule": "cosine"},
        {"optimizer": "lbfgs", "lr": 0.5, "lbfgs_max_iter": 3, "constraint": "soft"},
        {"optimizer": "adam", "laplacian": "hutchinson"},
    ],
    ids=["adam", "lbfgs-soft", "hutchinson"],
)
def test_checkpoint_state_continues_bit_for_bit(options):
    """Train 8 steps, serialise the state, continue in a fresh trainer: same as 14 steps."""
    problem = get_problem("poisson", dim=3)
    config = TrainConfig(
        **{"steps": 14, "lr": 1e-2, "points": 40, "test_points": 200, "eval_every": 2, **options}
    )

    def trainer(stop_at: int | None = None) -> PDETrainer:
        model = build_model("kan", [3, 4, 1], generator=torch.Generator().manual_seed(0))
        built = PDETrainer(problem, model, config)
        if stop_at is not None:
            built.config = TrainConfig(**{**config.to_dict(), "steps": stop_at})
        return built

    reference = trainer().run()
    first = trainer(stop_at=8)
    first.run()
    state = deserialize_state(serialize_state(first.state_dict()))
    second = trainer()
    second.load_state_dict(state)
    continued = second.run()
    for name in reference.history:
        if name not in CLOCK_COLUMNS:
            np.testing.assert_array_equal(reference.history[name], continued.history[name], name)
    assert reference.metrics["rel_l2"] == continued.metrics["rel_l2"]


def test_resume_a_completed_run_with_more_steps(tmp_path, capsys):
    """Constant schedule: 10 steps + resume to 20 == 20 steps."""
    flags = [*TINY, "--lr", "1e-2", "--schedule", "constant", "--eval-every", "5"]
    assert cli.main(solve_argv(tmp_path / "straight.h5", *flags, "--steps", "20")) == 0
    assert cli.main(solve_argv(tmp_path / "split.h5", *flags, "--steps", "10")) == 0
    code, _, err = run_cli(["resume", tmp_path / "split.h5", "--steps", "20", "--quiet"], capsys)
    assert code == 0, err
    assert_same_training(read_run(tmp_path / "split.h5"), read_run(tmp_path / "straight.h5"))
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_resume_with_more_steps_continues_on_the_longer_schedule(tmp_path, capsys, optimizer):
    """Linear schedule, 4 steps, then resume to 8: the first resumed step runs at lr·(1 − 4/8),
    not at the 4-step schedule's last rate 0 (with L-BFGS a zero rate broke the line search)."""
    out = tmp_path / "run.h5"
    flags = [*TINY, "--optimizer", optimizer, "--lr", "1e-2", "--schedule", "linear"]
    assert cli.main(solve_argv(out, *flags, "--steps", "4", "--eval-every", "1")) == 0
    before = read_run(out).model_state
    code, _, err = run_cli(["resume", out, "--steps", "5", "--quiet"], capsys)
    assert code == 0, err
    after = read_run(out)
    assert after.status == "completed" and after.metrics["steps"] == 5
    assert any(not torch.equal(before[key], after.model_state[key]) for key in before)
    # step 5 ran at lr·ρ(4/5) of the 5-step schedule (on the 4-step one it would be ρ(4/4) = 0)
    assert after.history["lr"][-1] == pytest.approx(1e-2 * (1 - 4 / 5), rel=1e-12)


# --- damaged and foreign files -----------------------------------------------------------------


@pytest.fixture(scope="module")
def completed_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("completed") / "run.h5"
    assert cli.main(solve_argv(out, *TINY, "--steps", "6", "--eval-every", "3")) == 0
    return out


def assert_one_line_error(code: int, err: str, needle: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pinnkan: error: "), err
    assert needle in lines[0], err


@pytest.mark.parametrize("command", ["show", "resume"])
def test_truncated_run_file(tmp_path, capsys, completed_run, command):
    damaged = tmp_path / "damaged.h5"
    data = completed_run.read_bytes()
    damaged.write_bytes(data[: len(data) // 2])
    code, _, err = run_cli([command, damaged], capsys)
    assert_one_line_error(code, err, str(damaged))


@pytest.mark.parametrize("command", ["show", "resume"])
def test_foreign_hdf5_file(tmp_path, capsys, command):
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as file:
        file.create_dataset("temperature", data=np.arange(5.0))
    code, _, err = run_cli([command, foreign], capsys)
    assert_one_line_error(code, err, str(foreign))
    assert "not a pinnkan run file" in err


# --- divergence --------------------------------------------------------------------------------


def faulty_pde(class_name: str, name: str, docstring: str, fault: str) -> str:
    """Source of a Poisson subclass whose network operator runs ``fault`` (Python lines using
    ``calls``, the number of network evaluations so far: the trainer's untimed warm-up is call 1,
    training step s is call s + 1) before returning Δu."""
    return f'''
import torch

from pinnkan.problem import NetworkFields
from pinnkan.problems.poisson import Poisson


class {class_name}(Poisson):
    """{docstring}"""

    name = "{name}"

    def __init__(self, dim: int = 3, seed: int = 0):
        super().__init__(dim, seed)
        self.network_calls = 0

    def operator(self, fields):
        if isinstance(fields, NetworkFields):
            self.network_calls += 1
            calls = self.network_calls
            {fault}
        return fields.laplacian
'''


EXPLODING_PDE = faulty_pde(
    "Exploding",
    "exploding",
    "Poisson whose network residual becomes NaN from the 12th training step on.",
    'if calls >= 13:\n                return fields.laplacian * float("nan")',
)


def test_divergence_keeps_the_last_good_checkpoint(tmp_path, capsys):
    source = tmp_path / "exploding.py"
    source.write_text(EXPLODING_PDE)
    out = tmp_path / "runs" / "run.h5"
    flags = [*TINY, "--steps", "50", "--eval-every", "2", "--checkpoint-every", "5"]
    code, stdout, err = run_cli(solve_argv(out, *flags, problem=f"{source}:Exploding"), capsys)
    assert code == 1
    message = err.strip().splitlines()[0]
    assert message.startswith("pinnkan: diverged: ")
    assert "step 12" in message and "checkpoint of step 10" in message and "--lr" in message
    run = read_run(out)
    assert run.status == "diverged"
    assert run.checkpoint["step"] == 10 <= 12
    assert run.metrics["steps"] == 10
    assert "step 12" in run.metrics["message"]
    parameters = run.checkpoint["model"]
    assert all(torch.isfinite(tensor).all() for tensor in parameters.values())
    assert all(torch.isfinite(tensor).all() for tensor in run.model_state.values())
    assert math.isfinite(run.metrics["rel_l2"])
    # the history that led to the divergence is kept: rows after step 1, then every 2 to 10
    assert list(run.history["step"]) == [1, 2, 4, 6, 8, 10]

    assert leftovers(out.parent) == []


NAN_GRADIENT_PDE = faulty_pde(
    "NanGradient",
    "nan-gradient",
    "Finite residual, NaN gradient at the 10th step: 0·sqrt(0·Δu) = 0, its derivative 0·∞·0.",
    "if calls == 11:\n                return fields.laplacian + 0 * torch.sqrt(0 * fields.laplacian)",
)


@pytest.mark.parametrize("checkpoint_every", [5, 0])
def test_nan_gradient_with_finite_loss_is_a_divergence(tmp_path, capsys, checkpoint_every):
    """The losses stay finite, the parameters become NaN after the last step: the run must not
    end "completed" with a NaN model, nor keep a NaN checkpoint (parameters are checked before
    each checkpoint and at the end, not after every step)."""
    source = tmp_path / "nan_gradient.py"
    source.write_text(NAN_GRADIENT_PDE)
    out = tmp_path / "run.h5"
    flags = [*TINY, "--steps", "10", "--checkpoint-every", str(checkpoint_every)]
    argv = solve_argv(out, *flags, problem=f"{source}:NanGradient")
    code, _, err = run_cli(argv, capsys)
    assert code == 1
    assert "diverged" in err and "a parameter became non-finite by step 10" in err
    run = read_run(out)
    assert run.status == "diverged"
    assert run.checkpoint["step"] == (5 if checkpoint_every else 0)
    assert all(torch.isfinite(tensor).all() for tensor in run.checkpoint["model"].values())
    assert all(torch.isfinite(tensor).all() for tensor in run.model_state.values())


def test_huge_learning_rate_diverges(tmp_path, capsys):
    out = tmp_path / "run.h5"
    # lr 1e8: Adam moves every parameter by ~1e8 per step, and the loss overflows at step 2
    # (at 1e6 the KAN stays finite, with a relative error of ~1e10, which is no divergence)
    flags = [*TINY, "--steps", "100", "--lr", "1e8", "--checkpoint-every", "0"]
    code, _, err = run_cli(solve_argv(out, *flags), capsys)
    assert code == 1
    assert "diverged" in err and "at step" in err
    run = read_run(out)
    assert run.status == "diverged"
    assert run.checkpoint["step"] == 0  # no checkpoint was due: back to the initial model
    assert all(torch.isfinite(tensor).all() for tensor in run.checkpoint["model"].values())
    initial = build_model("kan", [3, 8, 1], generator=torch.Generator().manual_seed(0))
    for key, tensor in initial.named_parameters():
        assert torch.equal(run.model_state[key], tensor), key


# --- resume errors -----------------------------------------------------------------------------


def test_resume_a_run_without_checkpoint(tmp_path, capsys, completed_run):
    run = read_run(completed_run)
    run.checkpoint = None
    bare = tmp_path / "bare.h5"
    write_run(bare, run)
    code, _, err = run_cli(["resume", bare], capsys)
    assert_one_line_error(code, err, "no checkpoint")


def test_resume_a_completed_run_without_more_steps(tmp_path, capsys, completed_run):
    before = completed_run.read_bytes()
    code, _, err = run_cli(["resume", completed_run], capsys)
    assert_one_line_error(code, err, "already has 6 steps")
    code, _, err = run_cli(["resume", completed_run, "--steps", "4"], capsys)
    assert_one_line_error(code, err, "already has 6 steps")
    assert completed_run.read_bytes() == before
