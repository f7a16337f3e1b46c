"""Counts in printed text: ``counted(1, "run")`` is "1 run", ``counted(2_000, "step")`` "2,000
steps" (thousands separated, as pinnkan prints counts)."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` and ``noun``, the noun in the plural (``plural``, else noun + "s") unless the
    count is 1."""
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"
