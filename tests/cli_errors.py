"""The shape of a refused command, shared by the command-line test modules."""

from __future__ import annotations


def one_line_error(capsys, code: int) -> str:
    """The single stderr line of a refused command (exit 2, nothing on stdout)."""
    out, err = capsys.readouterr()
    assert code == 2 and out == "", (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pinnkan: error: "), err
    return lines[0]
