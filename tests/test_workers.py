"""Worker processes of a batch: results in order, and a stop that reaches every worker (Ctrl-C
started the queued runs of `pinnkan sweep --jobs 2`; SIGINT or SIGTERM to the sweep's process
alone left its workers training; a killed sweep left them training forever; a group SIGTERM
with an idle worker could hang the sweep; a killed worker made it wait forever)."""

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
description = "long solves, two at a time"
[train]
steps = 1000000
points = 16
test_points = 50
checkpoint_every = 100
[[runs]]
problem = "poisson"
dim = {dims}
model = "mlp"
hidden = [4]
"""
THREE = [2, 3, 4]  # two run, the third waits


def square(value: int) -> int:
    return value * value


@pytest.mark.parametrize("jobs", [1, 2])
def test_results_come_in_order(jobs: int) -> None:
    results: list[int] = []
    run_all(square, range(7), jobs, results.append)
    assert results == [0, 1, 4, 9, 16, 25, 36]
    inside: list[int] = []
    run_all(square, range(3), jobs, inside.append, in_process=True)
    assert inside == [0, 1, 4]


def slow_item(job: tuple[int, str]) -> int:
    """Item 0 is quick; the others sleep, then leave a mark that they ran to their end."""
    index, folder = job
    time.sleep(0.2 if index == 0 else 3)
    Path(folder, f"done-{index}").touch()
    return index


def test_a_stop_while_a_result_is_reported_starts_no_more_items(tmp_path: Path) -> None:
    """A stop raised in the caller's hands (its print blocked on a slow terminal) closed the
    results' generator: the queued items then ran to their end."""

    def report(result: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_all(slow_item, [(index, str(tmp_path)) for index in range(4)], 2, report)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["done-0"]


@contextlib.contextmanager
def sweep_running(tmp_path: Path, dims: list[int], started: int, ignore_sigint: bool = False):
    """A sweep of long runs, ``--jobs 2``, in its own process group, once ``started`` runs have
    written a checkpoint; whatever the test does, no process of it outlives the test."""
    recipe = tmp_path / "long.toml"
    recipe.write_text(LONG_RECIPE.format(dims=dims))
    out = tmp_path / "runs"
    command = [sys.executable, "-m", "pinnkan", "sweep", str(recipe), "--out-dir", str(out),
               "--jobs", "2", "--device", "cpu"]  # fmt: skip

    def ignoring() -> None:  # as a shell starts a command in the background
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    sweep = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True, preexec_fn=ignoring if ignore_sigint else None)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while len(list(out.glob("*.h5"))) < started:
            assert sweep.poll() is None and time.monotonic() < deadline, "the runs did not start"
            time.sleep(0.2)
        yield sweep, out
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(sweep.pid, signal.SIGKILL)


def group_processes(sweep: subprocess.Popen) -> list[str]:
    found = subprocess.run(["pgrep", "-g", str(sweep.pid)], capture_output=True, text=True)
    return found.stdout.split()


def finish(sweep: subprocess.Popen) -> str:
    """The sweep's output once it and every worker have exited (within a minute)."""
    output, _ = sweep.communicate(timeout=60)
    deadline = time.monotonic() + 60
    while group_processes(sweep) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not group_processes(sweep), "workers were left running"
    assert "Traceback" not in output, output
    return output


def statuses(out: Path) -> dict[str, str]:
    return {path.name: read_run(path, load_model=False).status for path in sorted(out.glob("*.h5"))}


INTERRUPTED = {"poisson-d2-mlp-s0.h5": "interrupted", "poisson-d3-mlp-s0.h5": "interrupted"}


@pytest.mark.parametrize(
    "how", ["Ctrl-C (the whole group)", "SIGINT to the sweep", "SIGTERM to the sweep"]
)
def test_a_stopped_sweep_stops_its_runs_and_starts_no_more(tmp_path: Path, how: str) -> None:
    with sweep_running(tmp_path, THREE, started=2) as (sweep, out):
        sig = signal.SIGTERM if "SIGTERM" in how else signal.SIGINT
        if "group" in how:
            os.killpg(sweep.pid, sig)
        else:
            os.kill(sweep.pid, sig)
        output = finish(sweep)
        assert sweep.returncode == 1, output
        assert output.rstrip().endswith("sweep interrupted; rerun the same command to continue")
        assert statuses(out) == INTERRUPTED  # with their checkpoints; the third never started
        for path in out.glob("*.h5"):
            assert read_run(path, load_model=False).checkpoint["step"] >= 100


def test_a_group_sigterm_with_an_idle_worker_ends_the_sweep(tmp_path: Path) -> None:
    """One run, two workers: the idle one died of the group's SIGTERM and the sweep could hang
    in its shutdown (3 of 15 tries), after a traceback of the idle worker."""
    with sweep_running(tmp_path, [2], started=1) as (sweep, out):
        os.killpg(sweep.pid, signal.SIGTERM)
        finish(sweep)
        assert sweep.returncode == 1 and statuses(out) == {"poisson-d2-mlp-s0.h5": "interrupted"}


def test_a_killed_worker_is_one_line_and_starts_no_more(tmp_path: Path) -> None:
    """kill -9 of a worker (the out-of-memory killer): the sweep waited forever and trained the
    queued run in the other worker."""
    with sweep_running(tmp_path, THREE, started=2) as (sweep, out):
        children = subprocess.run(["pgrep", "-P", str(sweep.pid)], capture_output=True, text=True)
        os.kill(int(children.stdout.split()[0]), signal.SIGKILL)
        output = finish(sweep)
        assert sweep.returncode == 1
        assert "pinnkan: error: a worker process died while running" in output
        assert sorted(statuses(out)) == sorted(INTERRUPTED)  # the killed one: its checkpoint


def test_a_sweep_in_the_background_keeps_ignoring_sigint(tmp_path: Path) -> None:
    """Started with SIGINT ignored, a group SIGINT stopped the runs but not the sweep, which
    trained the queued run; now the runs go on, and SIGTERM stops them all."""
    with sweep_running(tmp_path, THREE, started=2, ignore_sigint=True) as (sweep, out):
        os.killpg(sweep.pid, signal.SIGINT)
        time.sleep(2)
        assert sweep.poll() is None and set(statuses(out).values()) == {"running"}
        os.killpg(sweep.pid, signal.SIGTERM)
        finish(sweep)
        assert sweep.returncode == 1 and statuses(out) == INTERRUPTED


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_workers_of_a_killed_sweep_keep_their_runs_and_exit(tmp_path: Path) -> None:
    with sweep_running(tmp_path, THREE, started=2) as (sweep, out):
        os.kill(sweep.pid, signal.SIGKILL)
        sweep.wait(timeout=10)
        deadline = time.monotonic() + 60
        while group_processes(sweep) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not group_processes(sweep), "workers were left running"
        assert statuses(out) == INTERRUPTED
