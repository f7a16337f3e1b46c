"""Batches of runs (``pinnkan sweep``, ``pinnkan fit --recipe``): a run that fails is one
``FAILED`` line and the others go on; the batch then exits 1 with one summary line."""

from __future__ import annotations

import sys


def failure_line(name: str, error: BaseException) -> str:
    """The log line of a run that raised ``error``."""
    return f"{name}: FAILED ({type(error).__name__}: {error})"


def exit_status(failed: int, planned: int, unwritten_table: str | None = None) -> int:
    """1, with one line on stderr, when runs failed (their FAILED lines are above); else 0.
    ``unwritten_table``: a table not written because no run has a file."""
    if not failed:
        return 0
    table_note = f"; no table written to {unwritten_table}" if unwritten_table else ""
    print(
        f"pinnkan: {failed} of {planned} runs failed (FAILED lines above){table_note}; fix the "
        "cause and rerun the same command: finished runs are kept",
        file=sys.stderr,
    )
    return 1
