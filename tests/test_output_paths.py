"""Output paths from the command line: every command that writes a file refuses a path it must
not write (exit 2, one line, before any work, nothing created or destroyed), replaces only what
it may (a file pinnkan wrote, with a note), gives its files the usual permissions, and reports a
write that fails at the end in one line."""

from __future__ import annotations

import dataclasses
import errno
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pinnkan import cli, fit, plot, results, runner, text_file
from pinnkan.bench.table import write_csv
from pinnkan.results import Run, read_run, write_run
from pinnkan.text_file import replacement_note, write_generated_markdown, write_text_atomically

TINY = ["--dim", "3", "--width", "3,8,1", "--test-points", "200", "--device", "cpu", "--quiet"]
LAPLACIAN_SMALL = ["--dim", "3", "--model", "kan", "--points", "5", "--repeats", "1"]
MEMORY_SMALL = ["--hidden-widths", "4", "--grids", "5", "--meta-hiddens", "8", "--repeats", "1"]
TINY_RECIPE = (
    'description = "test"\ntable = "table2"\n'
    "[fit]\nsteps = 1\ntrain_points = 50\ntest_points = 20\n"
    '[[runs]]\nproblem = "feynman:I.12.5"\nmodel = "kan"\ngrid = 3\n'
)


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


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> Path:
    """A one-run recipe; its runs go to ``runs/`` beside it (kept from one test to the next)."""
    path = tmp_path_factory.mktemp("recipe") / "tiny.toml"
    path.write_text(TINY_RECIPE)
    return path


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
        f"pinnkan: note: {out} exists; {replacement_note('run file')}"
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


# --- 5: a report, table or benchmark CSV replaces only a file pinnkan wrote ---------------------

TEXT_FILES: dict[str, tuple[str, Callable[[Path, Path, Path], list]]] = {
    "report": ("markdown file", lambda out, run, recipe: ["report", run, "--out", out]),
    "fit --table": (
        "markdown file",
        lambda out, run, recipe: [
            "fit", "--recipe", recipe, "--out-dir", recipe.parent / "runs", "--table", out
        ],
    ),
    "bench laplacian": ("CSV file", lambda out, run, recipe: COMMANDS["bench laplacian"](out, run)),
    "bench memory": ("CSV file", lambda out, run, recipe: COMMANDS["bench memory"](out, run)),
}  # fmt: skip


@pytest.mark.parametrize("command", TEXT_FILES)
def test_a_file_pinnkan_did_not_write_is_refused(
    tmp_path, capsys, run_file, recipe, no_training, command
):
    what, argv = TEXT_FILES[command]
    mine = tmp_path / "mine.txt"
    mine.write_text("my notes\n")
    code, _, err = run_cli(argv(mine, run_file, recipe), capsys)
    assert_one_line_error(code, err, str(mine), f"is not a pinnkan {what}", "refusing to replace")
    assert mine.read_text() == "my notes\n"
    assert os.listdir(tmp_path) == ["mine.txt"]


@pytest.mark.parametrize("command", TEXT_FILES)
def test_a_file_pinnkan_wrote_is_replaced_with_one_note(
    tmp_path, capsys, run_file, recipe, command
):
    what, argv = TEXT_FILES[command]
    out = tmp_path / "out"
    code, _, err = run_cli(argv(out, run_file, recipe), capsys)
    assert code == 0 and "note" not in err, err
    code, _, err = run_cli(argv(out, run_file, recipe), capsys)
    assert code == 0, err
    assert [line for line in err.splitlines() if "note" in line] == [
        f"pinnkan: note: {out} exists; {replacement_note(what)}"
    ]
    assert os.listdir(tmp_path) == ["out"]


def test_a_command_that_fails_after_the_note_keeps_the_old_file(tmp_path, capsys, run_file):
    """The note is printed before any work and promises only a replacement when written."""
    out = tmp_path / "report.md"
    assert run_cli(["report", run_file, "--out", out], capsys)[0] == 0
    before = out.read_bytes()
    code, _, err = run_cli(["report", run_file, tmp_path / "missing.h5", "--out", out], capsys)
    note, error = err.strip().splitlines()
    assert code == 2 and note.endswith("(kept if the command fails)") and "missing.h5" in error
    assert out.read_bytes() == before


def test_report_out_on_a_run_file_is_refused_in_one_line(tmp_path, capsys, run_file):
    """``--out run.h5`` (an HDF5 file, not text) is refused, not read as UTF-8."""
    target = tmp_path / "run.h5"
    shutil.copy(run_file, target)
    before = target.read_bytes()
    for runs in (run_file, target):
        code, _, err = run_cli(["report", runs, "--out", target], capsys)
        assert_one_line_error(code, err, str(target), "is not a pinnkan markdown file")
    assert target.read_bytes() == before and os.listdir(tmp_path) == ["run.h5"]


# --- 6: figures go to a folder, checked before the first figure is drawn -----------------------


@pytest.fixture
def no_drawing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drawing fails the test: the output folder must be refused before any figure is drawn."""

    def drawn(*args: object) -> None:
        raise AssertionError("a figure was drawn before the output folder was checked")

    for name, kind in list(plot.KINDS.items()):
        monkeypatch.setitem(plot.KINDS, name, dataclasses.replace(kind, draw=drawn))


def test_plot_out_on_an_existing_file_is_refused_before_drawing(
    tmp_path, capsys, run_file, no_drawing
):
    blocker = tmp_path / "figures"
    blocker.write_text("not a folder\n")
    code, stdout, err = run_cli(["plot", run_file, "--out", blocker], capsys)
    assert_one_line_error(code, err, repr(str(blocker)), "is not a folder")
    assert stdout == "" and blocker.read_text() == "not a folder\n"
    assert os.listdir(tmp_path) == ["figures"]


def test_plot_checks_the_folder_of_every_file_before_drawing(
    tmp_path, capsys, run_file, no_drawing, monkeypatch
):
    first, second = tmp_path / "first", tmp_path / "second"
    for folder in (first, second):
        folder.mkdir()
        shutil.copy(run_file, folder / "run.h5")
    refuse_to_create_in(monkeypatch, second)
    code, stdout, err = run_cli(["plot", first / "run.h5", second / "run.h5"], capsys)
    assert_one_line_error(code, err, f"output directory {second} is not writable")
    assert stdout == "" and os.listdir(first) == os.listdir(second) == ["run.h5"]


# --- 7: a folder is probed by creating a file in it (os.access is wrong for root) --------------


def refuse_to_create_in(monkeypatch: pytest.MonkeyPatch, locked: Path) -> None:
    """The probe of ``locked`` fails as in a read-only folder, for root too."""
    probe = text_file.probe_folder

    def probe_folder(folder: Path, make_folder: bool) -> None:
        if folder == locked:
            raise PermissionError(errno.EACCES, "Permission denied")
        probe(folder, make_folder)

    monkeypatch.setattr(text_file, "probe_folder", probe_folder)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_folder_where_no_file_can_be_created_is_refused_in_one_line(
    tmp_path, capsys, run_file, no_training, monkeypatch, command
):
    refuse_to_create_in(monkeypatch, tmp_path)
    code, _, err = run_cli(COMMANDS[command](str(tmp_path / "out"), run_file), capsys)
    assert_one_line_error(code, err, f"output directory {tmp_path} is not writable")
    assert os.listdir(tmp_path) == []


# --- 8: a write that fails after all is one line, the previous file kept -----------------------


def no_space(*args: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_failed_write_at_the_end_of_a_solve_names_the_checkpoint_kept(
    tmp_path, capsys, monkeypatch
):
    out = tmp_path / "run.h5"
    write_file = results.write_file

    def final_write_fails(path: Path, run: Run) -> None:
        (no_space if run.status != "running" else write_file)(path, run)

    monkeypatch.setattr(results, "write_file", final_write_fails)
    code, _, err = run_cli(solve_argv(out, "--checkpoint-every", "2"), capsys)
    assert_one_line_error(
        code,
        err,
        f"cannot write {out}: No space left on device",
        f"{out} still holds the checkpoint of step 4: pinnkan resume {out} continues it",
    )
    kept = read_run(out)
    assert kept.status == "running" and kept.checkpoint["step"] == 4
    assert os.listdir(tmp_path) == ["run.h5"]
    monkeypatch.undo()
    code, _, err = run_cli(["resume", out, "--quiet"], capsys)  # the advice works
    assert code == 0, err
    assert read_run(out, load_model=False).status == "completed"


def test_a_full_disk_at_the_final_write_after_a_last_step_checkpoint_can_be_finished(
    tmp_path, capsys, monkeypatch
):
    """The file is built in memory and written by plain I/O, so a full disk is one line (h5py's
    own writes failed inside its close and ended in a segmentation fault); the checkpoint of the
    last step is kept, and ``resume`` finishes that run (it used to refuse: no steps left)."""
    out, twin = tmp_path / "run.h5", tmp_path / "twin.h5"
    write_file, write_bytes = results.write_file, Path.write_bytes
    final = []

    def flag_final(path: Path, run: Run) -> None:
        final.append(run.status != "running")
        write_file(path, run)

    def disk_full_at_the_end(self: Path, data: bytes) -> int:
        if final and final[-1]:
            no_space()
        return write_bytes(self, data)

    monkeypatch.setattr(results, "write_file", flag_final)
    monkeypatch.setattr(Path, "write_bytes", disk_full_at_the_end)
    code, _, err = run_cli(solve_argv(out, "--checkpoint-every", "5"), capsys)
    assert_one_line_error(code, err, f"cannot write {out}: No space left on device",
                          f"checkpoint of step 5: pinnkan resume {out} continues it")  # fmt: skip
    assert read_run(out).status == "running" and os.listdir(tmp_path) == ["run.h5"]
    monkeypatch.undo()
    code, _, err = run_cli(["resume", out, "--quiet"], capsys)
    assert code == 0, err
    assert run_cli(solve_argv(twin, "--checkpoint-every", "5"), capsys)[0] == 0
    finished, reference = read_run(out, load_model=False), read_run(twin, load_model=False)
    assert finished.status == "completed" and finished.metrics["steps"] == 5
    assert finished.metrics["rel_l2"] == reference.metrics["rel_l2"]
    assert list(finished.history["loss"]) == list(reference.history["loss"])


def test_signals_during_the_final_write_let_it_finish(tmp_path, capsys, monkeypatch):
    """SIGINT/SIGTERM while the finished run is written only ask the trainer to stop (it has):
    the default handlers killed the process there, leaving no run file and a temporary one."""
    import signal

    out = tmp_path / "run.h5"
    write_file, handlers = results.write_file, []

    def recording(path: Path, run: Run) -> None:
        if run.status != "running":
            handlers.append(signal.getsignal(signal.SIGTERM))
            if callable(handlers[-1]):  # never the default handler: it would end the tests
                signal.raise_signal(signal.SIGTERM)  # handled: the write goes on
        write_file(path, run)

    monkeypatch.setattr(results, "write_file", recording)
    code, _, err = run_cli(solve_argv(out), capsys)
    assert code == 0, err
    assert len(handlers) == 1 and callable(handlers[0])
    assert read_run(out, load_model=False).status == "completed"
    assert os.listdir(tmp_path) == ["run.h5"]


@pytest.mark.parametrize("command", ["solve", "fit"])
def test_a_run_file_being_written_by_another_process_is_refused(tmp_path, capsys, command):
    """Two runs given one --out overwrote each other's checkpoints and both reported success;
    the second is now refused in one line while the first holds the file's lock, and a run
    leaves no lock file behind."""
    out = tmp_path / "run.h5"
    with text_file.writing_alone(out):  # as another pinnkan process would hold it
        code, _, err = run_cli(COMMANDS[command](str(out), out), capsys)
        assert_one_line_error(code, err, str(out), "is being written by another pinnkan process")
        assert "give another --out (--out-dir for a recipe or sweep)" in err  # both reach it
        assert not out.exists()
    code, _, err = run_cli(COMMANDS[command](str(out), out), capsys)
    assert code == 0, err
    assert os.listdir(tmp_path) == ["run.h5"]


def test_a_resume_of_a_run_file_being_written_says_to_wait(tmp_path, capsys):
    """The refusal told a resume to "give another --out", a flag resume does not have."""
    out = tmp_path / "run.h5"
    code, _, err = run_cli(solve_argv(out), capsys)
    assert code == 0, err
    with text_file.writing_alone(out):
        code, _, err = run_cli(["resume", str(out), "--steps", "9"], capsys)
    assert_one_line_error(code, err, str(out), "is being written by another pinnkan process")
    assert "wait for that run to end" in err and "--out" not in err


def test_the_deepxde_engine_refuses_a_run_file_being_written(tmp_path, capsys):
    """It wrote over a run file that another pinnkan process held (refused before DeepXDE is
    imported, so this runs in-process)."""
    out = tmp_path / "run.h5"
    with text_file.writing_alone(out):
        code, _, err = run_cli(solve_argv(out, "--engine", "deepxde"), capsys)
        assert_one_line_error(code, err, str(out), "is being written by another pinnkan process")
    assert os.listdir(tmp_path) == []


def test_a_folder_refused_during_a_solve_names_the_checkpoint_kept(tmp_path, capsys, monkeypatch):
    """The folder is checked again at each write: made read-only mid-run, one line."""
    out = tmp_path / "run.h5"
    probe = text_file.probe_folder

    def read_only_once_written(folder: Path, make_folder: bool) -> None:
        if out.exists():
            raise OSError(errno.EROFS, "Read-only file system")
        probe(folder, make_folder)

    monkeypatch.setattr(text_file, "probe_folder", read_only_once_written)
    code, _, err = run_cli(solve_argv(out, "--checkpoint-every", "2"), capsys)
    assert_one_line_error(
        code, err, "is not writable: Read-only file system", "still holds the checkpoint of step 2"
    )
    assert read_run(out, load_model=False).status == "running"


@pytest.mark.parametrize("command", ["report", "bench memory"])
def test_a_failed_text_write_is_one_line(tmp_path, capsys, run_file, monkeypatch, command):
    out = tmp_path / "out"
    monkeypatch.setattr(text_file, "write_text", no_space)
    code, _, err = run_cli(COMMANDS[command](str(out), run_file), capsys)
    assert_one_line_error(code, err, f"cannot write {out}: No space left on device")
    assert os.listdir(tmp_path) == []
