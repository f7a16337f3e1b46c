"""Generated text files: atomic writes, and hand-written notes kept across regeneration."""

from __future__ import annotations

import os

import pytest

from pinnkan.bench.table import write_csv
from pinnkan.text_file import (
    NOTES_MARKER,
    hand_written_notes,
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


def test_only_a_line_that_is_exactly_the_marker_counts(tmp_path):
    path = tmp_path / "table.md"
    path.write_text(f"| cell quoting {NOTES_MARKER} |\n  {NOTES_MARKER}\nrest\n")
    assert hand_written_notes(path) == ""
    assert hand_written_notes(tmp_path / "missing.md") == ""


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
