"""Worker processes of a batch: results in order, and a stop that reaches every worker (Ctrl-C
started the queued runs of `pinnkan sweep --jobs 2`; SIGINT or SIGTERM to the sweep's process
alone left its workers training; a killed sweep left them training forever)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pinnkan import read_run
from pinnkan.workers import run_all

LONG_RECIPE = """
description = "three long solves, two at a time"
[train]
steps = 1000000
points = 16
test_points = 50
checkpoint_every = 100
[[runs]]
problem = "poisson"
dim = [2, 3, 4]
model = "mlp"
hidden = [4]
"""


def square(value: int) -> int:
    return value * value


@pytest.mark.parametrize("jobs", [1, 2])
def test_results_come_in_order(jobs: int) -> None:
    assert list(run_all(square, range(7), jobs)) == [0, 1, 4, 9, 16, 25, 36]
    assert list(run_all(square, range(3), jobs, in_process=True)) == [0, 1, 4]


@pytest.fixture()
def running_sweep(tmp_path: Path):
    """:func:`start_sweep`; whatever the test does, no process of it outlives the test."""
    sweep, out = start_sweep(tmp_path)
    try:
        yield sweep, out
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(sweep.pid, signal.SIGKILL)


def start_sweep(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    """A sweep of three long runs in its own process group, once both workers have written a
    checkpoint (so that a stop has something to keep)."""
    recipe = tmp_path / "long.toml"
    recipe.write_text(LONG_RECIPE)
    out = tmp_path / "runs"
    command = [sys.executable, "-m", "pinnkan", "sweep", str(recipe), "--out-dir", str(out),
               "--jobs", "2", "--device", "cpu"]  # fmt: skip
    sweep = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while len(list(out.glob("*.h5"))) < 2:
        assert sweep.poll() is None and time.monotonic() < deadline, "the runs did not start"
        time.sleep(0.2)
    return sweep, out


def group_processes(sweep: subprocess.Popen) -> list[str]:
    found = subprocess.run(["pgrep", "-g", str(sweep.pid)], capture_output=True, text=True)
    return found.stdout.split()


def assert_stopped(sweep: subprocess.Popen, out: Path) -> None:
    """Every process of the sweep gone within a minute; the two runs interrupted with their
    checkpoints, the queued third never started."""
    deadline = time.monotonic() + 60
    while group_processes(sweep) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not group_processes(sweep), "workers were left running"
    runs = sorted(out.glob("*.h5"))
    assert [path.name for path in runs] == ["poisson-d2-mlp-s0.h5", "poisson-d3-mlp-s0.h5"]
    for path in runs:
        run = read_run(path, load_model=False)
        assert run.status == "interrupted" and run.checkpoint["step"] >= 100


@pytest.mark.parametrize(
    "how", ["Ctrl-C (the whole group)", "SIGINT to the sweep", "SIGTERM to the sweep"]
)
def test_a_stopped_sweep_stops_its_runs_and_starts_no_more(running_sweep, how: str) -> None:
    sweep, out = running_sweep
    sig = signal.SIGTERM if "SIGTERM" in how else signal.SIGINT
    if "group" in how:
        os.killpg(sweep.pid, sig)
    else:
        os.kill(sweep.pid, sig)
    output, _ = sweep.communicate(timeout=60)
    assert sweep.returncode == 1, output
    assert output.rstrip().endswith("sweep interrupted; rerun the same command to continue")
    assert "Traceback" not in output
    assert_stopped(sweep, out)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_workers_of_a_killed_sweep_keep_their_runs_and_exit(running_sweep) -> None:
    sweep, out = running_sweep
    os.kill(sweep.pid, signal.SIGKILL)
    sweep.wait(timeout=10)
    assert_stopped(sweep, out)
