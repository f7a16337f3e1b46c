"""Benchmark tables: CSV files with ``#`` comment lines first, then a header and rows.

Columns are found by name, flexibly: names are compared after lower-casing, dropping a unit in
brackets and turning other separators into ``_`` ("Peak memory (bytes)" -> "peak_memory").
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def normalize(name: str) -> str:
    """``"Step time [ms]"`` -> ``"step_time"``; ``"meta-hidden"`` -> ``"meta_hidden"``."""
    name = re.sub(r"[\(\[].*?[\)\]]", "", name.strip().lower())
    return re.sub(r"[^a-z0-9]+", "_", name).strip("_")


@dataclass(frozen=True)
class Table:
    """A benchmark table: ``header`` names, ``rows`` as dicts of strings, ``comments``."""

    path: Path
    header: list[str]
    rows: list[dict[str, str]]
    comments: list[str]

    def find(self, *candidates: str) -> str | None:
        """The first header name matching a candidate (exactly, after :func:`normalize`)."""
        by_key = {normalize(name): name for name in self.header}
        return next((by_key[key] for key in map(normalize, candidates) if key in by_key), None)

    def find_containing(self, *fragments: str) -> str | None:
        """The first header name whose normalised form contains every fragment."""
        return next((n for n in self.header if all(f in normalize(n) for f in fragments)), None)

    def require(self, what: str, *candidates: str) -> str:
        name = self.find(*candidates)
        if name is None:
            raise ValueError(
                f"table {self.path} has no {what} column (looked for {', '.join(candidates)}); "
                f"columns: {', '.join(self.header)}"
            )
        return name

    def numbers(self, name: str) -> np.ndarray:
        """Column ``name`` as floats ``(rows,)``; empty or non-numeric cells are NaN."""
        return np.array([to_float(row.get(name, "")) for row in self.rows])

    def strings(self, name: str | None) -> list[str]:
        """Column ``name`` as stripped strings (all ``""`` when ``name`` is None)."""
        return [("" if name is None else (row.get(name) or "")).strip() for row in self.rows]


def to_float(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


def read_table(path: str | Path) -> Table:
    """Read a benchmark CSV; ValueError when it is missing, empty or has no header."""
    location = Path(path)
    if location.is_dir():
        raise ValueError(f"benchmark table {location} is a folder; give a .csv file")
    if not location.is_file():
        raise ValueError(f"benchmark table {location} does not exist")
    try:
        with location.open(newline="", encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except UnicodeDecodeError as error:
        raise ValueError(
            f"benchmark table {location} is not a text CSV (byte {error.start} is not UTF-8); "
            "give a CSV that pinnkan bench wrote, or a run file (.h5)"
        ) from error
    comments = [line.lstrip("#").strip() for line in lines if line.lstrip().startswith("#")]
    body = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not body:
        raise ValueError(f"benchmark table {location} has no header row")
    reader = csv.DictReader(body)
    header = [name.strip() for name in reader.fieldnames or []]
    rows = [{key.strip(): value for key, value in row.items() if key} for row in reader]
    if not rows:
        raise ValueError(f"benchmark table {location} has a header but no rows")
    return Table(location, header, rows, comments)
