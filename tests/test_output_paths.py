"""Output paths from the command line: every command that writes a file refuses a path it must
not write (exit 2, one line, before any work, nothing created or destroyed), replaces only what
it may, and gives its files the usual permissions."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pinnkan import cli, fit, runner
from pinnkan.bench.table import write_csv
from pinnkan.results import Run, read_run, write_run
from pinnkan.text_file import write_generated_markdown, write_text_atomically

TINY = ["--dim", "3", "--width", "3,8,1", "--test-points", "200", "--device", "cpu", "--quiet"]
LAPLACIAN_SMALL = ["--dim", "3", "--model", "kan", "--points", "5", "--repeats", "1"]
MEMORY_SMALL = ["--hidden-widths", "4", "--grids", "5", "--meta-hiddens", "8", "--repeats", "1"]


def solve_argv(out: str | Path, *extra: str) -> list[str]:
    return ["solve", "--problem", "poisson", *TINY, "--steps", "5", "--out", str(out), *extra]


def fit_argv(out: str | Path) -> list[str]:
    return ["fit", "--problem", "feynman:I.12.5", "--steps", "2", "--quiet", "--out", str(out)]


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = cli.main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pinnkan: error: "), err
    for needle in needles:
        assert needle in lines[0], err


def mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777


@pytest.fixture(scope="module")
def run_file(tmp_path_factory) -> Path:
    """A real (tiny) run file for ``pinnkan report``."""
    out = tmp_path_factory.mktemp("runs") / "run.h5"
    assert cli.main(solve_argv(out)) == 0
    return out


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """Training fails the test: the output path must be refused before it starts."""

    def trained(*args: object, **kwargs: object) -> None:
        raise AssertionError("training started before the output path was checked")

    monkeypatch.setattr(runner, "PDETrainer", trained)
    monkeypatch.setattr(fit, "best_trainer", trained)


@pytest.fixture
def umask_027() -> Iterator[None]:
    previous = os.umask(0o027)
    yield
    os.umask(previous)


COMMANDS: dict[str, Callable[[str, Path], list[str]]] = {
    "solve": lambda out, run: solve_argv(out),
    "fit": lambda out, run: fit_argv(out),
    "report": lambda out, run: ["report", run, "--out", out],
    "bench laplacian": lambda out, run: ["bench", "laplacian", *LAPLACIAN_SMALL, "--out", out],
    "bench memory": lambda out, run: ["bench", "memory", *MEMORY_SMALL, "--out", out],
}


# --- 1: an existing file that is not a run file is never replaced ------------------------------


@pytest.mark.parametrize("command", ["solve", "fit"])
def test_a_file_that_is_not_a_run_file_is_refused(tmp_path, capsys, no_training, command):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    code, _, err = run_cli(COMMANDS[command](str(notes), notes), capsys)
    assert_one_line_error(code, err, str(notes), "not a pinnkan run file", "another path")
    assert notes.read_text() == "my notes\n"
    assert os.listdir(tmp_path) == ["notes.txt"]


def test_rerunning_into_a_run_file_replaces_it_with_one_note(tmp_path, capsys):
    out = tmp_path / "run.h5"
    code, _, err = run_cli(solve_argv(out), capsys)
    assert code == 0 and "note" not in err
    code, _, err = run_cli(solve_argv(out, "--seed", "3"), capsys)
    assert code == 0
    assert [line for line in err.splitlines() if "note" in line] == [
        f"pinnkan: note: replacing the existing run file {out}"
    ]
    assert read_run(out, load_model=False).config["seed"] == 3
    code, _, err = run_cli(["resume", out, "--steps", "8", "--quiet"], capsys)
    assert code == 0 and "note" not in err  # a resume continues its own file


# --- 2, 3: a directory, or a path ending in a separator, is not a file name --------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_an_existing_directory_is_refused_in_one_line(
    tmp_path, capsys, run_file, no_training, command
):
    folder = tmp_path / "adir"
    folder.mkdir()
    code, _, err = run_cli(COMMANDS[command](str(folder), run_file), capsys)
    assert_one_line_error(code, err, repr(str(folder)), "is a directory")
    assert os.listdir(tmp_path) == ["adir"] and os.listdir(folder) == []


@pytest.mark.parametrize("command", COMMANDS)
def test_a_path_ending_in_a_separator_is_refused_in_one_line(
    tmp_path, capsys, run_file, no_training, command
):
    out = f"{tmp_path / 'newdir'}{os.sep}"
    code, stdout, err = run_cli(COMMANDS[command](out, run_file), capsys)
    assert_one_line_error(code, err, repr(out), "give a", "file name")
    assert os.listdir(tmp_path) == [] and "run file:" not in stdout


# --- 4: permissions of written files -----------------------------------------------------------

WRITERS: dict[str, Callable[[Path], None]] = {
    "run file": lambda path: write_run(path, Run()),
    "text": lambda path: write_text_atomically(path, "text\n"),
    "markdown": lambda path: write_generated_markdown(path, "# table\n"),
    "csv": lambda path: write_csv([{"a": 1}], str(path), {"command": "x"}, ["a"]),
}


@pytest.mark.parametrize("writer", WRITERS)
def test_new_files_get_the_usual_mode_and_replaced_files_keep_theirs(tmp_path, umask_027, writer):
    path = tmp_path / "sub" / "out"
    WRITERS[writer](path)
    assert mode(path) == 0o640  # 0o666 & ~umask, not the 0o600 of a private temporary file
    os.chmod(path, 0o604)
    WRITERS[writer](path)
    assert mode(path) == 0o604
    assert os.listdir(path.parent) == ["out"]


def test_report_out_has_the_usual_mode(tmp_path, capsys, run_file, umask_027):
    out = tmp_path / "report.md"
    assert run_cli(["report", run_file, "--out", out], capsys)[0] == 0
    assert mode(out) == 0o640
    os.chmod(out, 0o644)
    assert run_cli(["report", run_file, "--out", out], capsys)[0] == 0
    assert mode(out) == 0o644
