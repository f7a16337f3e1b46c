"""Generated text files: atomic writes, and hand-written notes kept across regeneration; output
paths probed for real; only files pinnkan wrote recognised as replaceable."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from pinnkan import text_file
from pinnkan.bench.table import write_csv
from pinnkan.plots.canvas import save_figure
from pinnkan.results import Run, write_run
from pinnkan.text_file import (
    NOTES_MARKER,
    WriteError,
    check_output_file,
    check_output_folder,
    hand_written_notes,
    is_pinnkan_csv,
    is_pinnkan_markdown,
    replace_atomically,
    write_generated_markdown,
    write_text_atomically,
)

NOTES = f"{NOTES_MARKER}\n\n## Why\n\nBy hand.\n"


def test_notes_below_the_marker_survive_regeneration(tmp_path):
    path = tmp_path / "table.md"
    path.write_text("# old rows\n| 1 |\n\n" + NOTES)
    assert write_generated_markdown(path, "# new rows\n| 2 |")
    assert path.read_text() == "# new rows\n| 2 |\n\n" + NOTES
    assert write_generated_markdown(path, "# newer\n")  # idempotent: still one copy of the notes
    assert path.read_text() == "# newer\n\n" + NOTES


def test_without_a_marker_the_file_is_replaced_whole(tmp_path):
    path = tmp_path / "table.md"
    path.write_text("# old\n## Reading this table (written by hand)\ntext\n")
    assert not write_generated_markdown(path, "# new\n")
    assert path.read_text() == "# new\n"
    assert not write_generated_markdown(tmp_path / "sub" / "fresh.md", "x")
    assert (tmp_path / "sub" / "fresh.md").read_text() == "x\n"


def test_only_a_marker_line_counts(tmp_path):
    path = tmp_path / "table.md"
    path.write_text(f"| cell quoting {NOTES_MARKER} |\n  {NOTES_MARKER}\nrest\n")
    assert hand_written_notes(path) == ""
    assert hand_written_notes(tmp_path / "missing.md") == ""
    path.write_text("| cell |\n<!-- notes:\nnot closed on its line\n")
    assert hand_written_notes(path) == ""


@pytest.mark.parametrize(
    "marker",
    [
        "<!-- notes: … -->",  # as `--help` shows it
        "<!-- notes: everything below this line is written by hand … -->",  # as the README
        "<!-- notes:-->",
        "<!-- notes: mine -->  ",
    ],
)
def test_short_markers_as_the_help_writes_them_keep_the_notes(tmp_path, marker):
    """The help's and README's shortened marker lines keep the notes (they were dropped,
    silently, because only the full sentence counted)."""
    path = tmp_path / "table.md"
    notes = f"{marker}\nHAND NOTE\n"
    path.write_text("# old rows\n\n" + notes)
    assert write_generated_markdown(path, "# new rows")
    assert path.read_text() == "# new rows\n\n" + notes


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "table.md"
    path.write_text("old\n" + NOTES)

    def broken_replace(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_generated_markdown(path, "new")
    with pytest.raises(OSError, match="disk full"):
        write_csv([{"a": 1}], str(tmp_path / "bench.csv"), {"command": "x"}, ["a"])
    assert path.read_text() == "old\n" + NOTES
    assert sorted(item.name for item in tmp_path.iterdir()) == ["table.md"]


def test_csv_header_lines_then_rows(tmp_path):
    path = tmp_path / "bench.csv"
    write_csv([{"a": 1, "b": "x,y"}], str(path), {"command": "pinnkan bench"}, ["a", "b"])
    assert path.read_text() == '# command: pinnkan bench\na,b\n1,"x,y"\n'
    write_text_atomically(path, "replaced")
    assert path.read_text() == "replaced"


# --- a failed write: one line, the old file kept ------------------------------------------------


def disk_full(temporary: Path) -> None:
    temporary.write_text("half a file")
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_failed_write_is_one_line_naming_the_file(tmp_path):
    path = tmp_path / "table.md"
    path.write_text("old\n")
    with pytest.raises(WriteError) as caught:
        replace_atomically(path, disk_full)
    assert str(caught.value) == f"cannot write {path}: No space left on device"
    assert isinstance(caught.value, OSError)  # callers catching OSError still do
    assert path.read_text() == "old\n" and os.listdir(tmp_path) == ["table.md"]


def test_figures_are_written_atomically(tmp_path, monkeypatch):
    """A figure that fails half-way leaves the previous figure whole and no temporary file."""
    path = tmp_path / "run-curves.png"
    figure = Figure(figsize=(1, 1))
    save_figure(figure, path, dpi=20)
    before = path.read_bytes()
    assert before.startswith(b"\x89PNG") and os.listdir(tmp_path) == [path.name]
    save_figure(figure, tmp_path / "sub" / "run-curves.svg", dpi=20)  # format from the suffix
    assert (tmp_path / "sub" / "run-curves.svg").read_text().startswith("<?xml")

    def full(self, target, **options):
        disk_full(Path(target))

    monkeypatch.setattr(Figure, "savefig", full)
    with pytest.raises(WriteError, match="No space left on device"):
        save_figure(figure, path, dpi=20)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == [path.name, "sub"]


# --- checking an output path: probed for real, nothing left behind -----------------------------


def refuse_to_create_in(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Creating a file or folder directly in ``folder`` fails as in a read-only folder, also for
    root (whom permissions do not stop, and to whom ``os.access`` says yes)."""
    real_open, real_mkdir = os.open, os.mkdir

    def denied(path) -> OSError:
        return PermissionError(errno.EACCES, "Permission denied", os.fspath(path))

    def guarded_open(path, flags, *args, **kwargs):
        if flags & os.O_CREAT and Path(path).parent == folder:
            raise denied(path)
        return real_open(path, flags, *args, **kwargs)

    def guarded_mkdir(path, *args, **kwargs):
        if Path(path).parent == folder:
            raise denied(path)
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded_open)
    monkeypatch.setattr(os, "mkdir", guarded_mkdir)


def test_checking_output_paths_leaves_nothing_behind(tmp_path):
    old = tmp_path / "old.md"
    old.write_text("Command: `pinnkan report runs`\n")
    assert check_output_file(tmp_path / "a.md") == tmp_path
    assert check_output_file(tmp_path / "new" / "deeper" / "a.md") == tmp_path / "new" / "deeper"
    check_output_file(old, "markdown file", is_pinnkan_markdown, note=False)
    assert check_output_folder(tmp_path) == tmp_path
    assert check_output_folder(tmp_path / "figures") == tmp_path / "figures"
    assert os.listdir(tmp_path) == ["old.md"]


def test_a_folder_where_no_file_can_be_created_is_refused(tmp_path, monkeypatch):
    """The folder is probed by creating a file in it (or a folder, when it is to be made)."""
    refuse_to_create_in(monkeypatch, tmp_path)
    with pytest.raises(ValueError, match="is not writable: Permission denied"):
        check_output_file(tmp_path / "a.md")
    with pytest.raises(ValueError, match="is not writable: Permission denied"):
        check_output_folder(tmp_path)
    where = re.escape(f"output directory {tmp_path / 'new'} cannot be created in {tmp_path}")
    with pytest.raises(ValueError, match=f"{where}: Permission denied"):
        check_output_file(tmp_path / "new" / "a.md")
    monkeypatch.undo()
    assert os.listdir(tmp_path) == []


def test_a_folder_whose_file_system_takes_no_files_is_named_so(tmp_path, monkeypatch):
    """Creating a file in /proc fails with ENOENT: "No such file or directory" read as if the
    folder were missing."""
    real_open = os.open

    def no_entry(path, flags, *args, **kwargs):
        if flags & os.O_CREAT and Path(path).parent == tmp_path:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", os.fspath(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", no_entry)
    expected = "is not writable: its file system takes no new files there (No such file"
    with pytest.raises(ValueError, match=re.escape(expected)):
        check_output_file(tmp_path / "a.h5")


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes in read-only folders"
)
def test_a_read_only_folder_is_refused(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(ValueError, match="is not writable: Permission denied"):
            check_output_file(folder / "a.md")
        with pytest.raises(ValueError, match="cannot be created in"):
            check_output_folder(folder / "figures")
    finally:
        folder.chmod(0o700)
    assert os.listdir(folder) == []


# --- recognising the files pinnkan wrote --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ours"),
    [
        ("# pinnkan report\n\nCommand: `pinnkan report runs --out r.md`\n", True),
        ("# Table 2\n\nintro\n\n- command: `pinnkan fit --recipe t.toml --table t.md`\n", True),
        (f"# written by hand, to be regenerated\n\n{NOTES_MARKER}\nnotes\n", True),
        ("# my notes\n\nCommand: `python benchmarks/rademacher_draw.py`\n", False),
        ("# my notes\n\nsee `pinnkan report`, Command: `pinnkan report x`\n", False),
        ("\n" * 20 + "Command: `pinnkan report runs`\n", False),  # not among the first lines
    ],
)
def test_pinnkan_markdown_is_recognised_by_its_command_line(tmp_path, text, ours):
    path = tmp_path / "table.md"
    path.write_text(text)
    assert is_pinnkan_markdown(path) is ours
    assert not is_pinnkan_csv(path)


def test_pinnkan_csv_is_recognised_by_its_command_line(tmp_path):
    ours = tmp_path / "bench.csv"
    write_csv([{"a": 1}], str(ours), {"command": "pinnkan bench memory --out bench.csv"}, ["a"])
    assert is_pinnkan_csv(ours) and not is_pinnkan_markdown(ours)
    other = tmp_path / "other.csv"
    for text in ("# command: python bench.py\na\n1\n", "a,b\n1,2\n", ""):
        other.write_text(text)
        assert not is_pinnkan_csv(other), text


def test_binary_and_missing_files_are_not_pinnkan_text(tmp_path):
    """A run file (HDF5), an image, a missing file: never read as text, never ours."""
    run = tmp_path / "run.h5"
    write_run(run, Run())
    image = tmp_path / "figure.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    for path in (run, image, tmp_path / "missing.md"):
        assert not is_pinnkan_markdown(path) and not is_pinnkan_csv(path)


@pytest.mark.parametrize("action", ["probe", "write"])
def test_a_stop_right_after_a_file_is_created_leaves_nothing(tmp_path, monkeypatch, action):
    """A KeyboardInterrupt (Ctrl-C, a batch's SIGTERM) between creating the folder probe or the
    temporary file and the code that removes it left ``.pinnkan-probe.*.tmp`` or
    ``.NAME.*.tmp`` behind (5 of 300 random stops of write_run)."""
    real_close = os.close

    def interrupted_close(descriptor: int) -> None:
        real_close(descriptor)
        raise KeyboardInterrupt

    target = tmp_path / "out.txt"
    monkeypatch.setattr(os, "close", interrupted_close)
    with pytest.raises(KeyboardInterrupt):
        if action == "probe":
            text_file.probe_folder(tmp_path, make_folder=False)
        else:
            text_file.write_and_rename(target, lambda path: path.write_text("x"))
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_signals_arriving_in_a_deferred_block_take_effect_after_it() -> None:
    import signal

    with pytest.raises(KeyboardInterrupt), text_file.signals_deferred():
        signal.raise_signal(signal.SIGINT)
        survived = True  # the block ran to its end
    assert survived
