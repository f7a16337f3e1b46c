"""Batches of runs (``pinnkan sweep``, ``pinnkan fit --recipe``): a run that fails is one
``FAILED`` line and the others go on; the batch then exits 1 with one summary line."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from .wording import counted

Planned = TypeVar("Planned")


def select_named(
    planned: Sequence[Planned],
    only: str | None,
    path_of: Callable[[Planned], Path],
    names_hint: Callable[[], str],
) -> list[Planned]:
    """The planned runs whose file names contain one of the comma-separated filters ``only``
    (None: all); a filter that matches no run is an error ending in ``names_hint()`` (what the
    names are made of)."""
    if only is None:
        return list(planned)
    keys = [key.strip() for key in only.split(",")]
    for key in keys:
        if not key:
            raise ValueError(
                f"--only {only!r} has an empty entry; give filters separated by single commas"
            )
        if not any(key in path_of(run).name for run in planned):
            raise ValueError(
                f"--only {key!r} matches none of the {len(planned)} planned runs; {names_hint()}"
            )
    return [run for run in planned if any(key in path_of(run).name for key in keys)]


def product_axis(block: dict[str, Any], key: str) -> list[Any]:
    """A ``[[runs]]`` block's ``key`` as the list its product runs over (a single value: a list
    of one); an empty list would plan no run without a word, so it is refused."""
    value = block[key]
    if value == []:
        raise ValueError(f"a [[runs]] block has an empty {key!r} list; give at least one value")
    return list(value) if isinstance(value, list) else [value]


def failure_line(name: str, error: BaseException) -> str:
    """The log line of a run that raised ``error``."""
    return f"{name}: FAILED ({type(error).__name__}: {error})"


def exit_status(
    failed: int, planned: int, unwritten_table: str | None = None, continues: bool = False
) -> int:
    """1, with one line on stderr, when runs failed (their FAILED lines are above); else 0.
    ``unwritten_table``: a table not written because no run has a file; ``continues``: a rerun
    continues unfinished runs from their checkpoints (a sweep's solves)."""
    if not failed:
        return 0
    table_note = f"; no table written to {unwritten_table}" if unwritten_table else ""
    kept = "finished runs are kept"
    if continues:
        kept += " and unfinished ones continue from their checkpoints"
    print(
        f"pinnkan: {failed} of {counted(planned, 'run')} failed (FAILED lines above)"
        f"{table_note}; fix the cause and rerun the same command: {kept}",
        file=sys.stderr,
    )
    return 1
