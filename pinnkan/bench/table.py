"""The benchmarks' CSV: ``# key: value`` lines (command, device, torch, date, what is measured),
then a header row and one row per case. Written atomically, like run files.

Also the checks both benchmarks run on their arguments before measuring anything, so that a bad
value fails at once with one line (``ValueError``) instead of after minutes of measurements.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from ..environment import processor_name
from ..text_file import check_output_file, is_pinnkan_csv, write_text_atomically
from ..validation import SEED_MAX, check_choice, check_int


def check_counts(option: str, values: Sequence[int], minimum: int = 1) -> None:
    """A non-empty list of distinct integers ≥ ``minimum`` (dimensions, point counts, widths,
    grids): a repeated value would measure its cases twice."""
    if not values:
        raise ValueError(f"{option} is empty; give at least one integer ≥ {minimum}")
    for value in values:
        check_int(option, value, minimum)
    check_once(option, [str(value) for value in values])


def check_once(option: str, values: Sequence[str]) -> None:
    repeated = sorted({value for value in values if list(values).count(value) > 1})
    if repeated:
        raise ValueError(
            f"{option}={','.join(values)} names {', '.join(repeated)} twice; give each once"
        )


def check_names(option: str, values: Sequence[str], allowed: Sequence[str]) -> None:
    """A non-empty list of distinct names, each one of ``allowed``."""
    if not values:
        raise ValueError(f"{option} is empty; allowed: {', '.join(allowed)}")
    for value in values:
        check_choice(option, value, allowed)
    check_once(option, values)


def check_threads(threads: int | None) -> None:
    """``None`` or 0 (leave torch's setting) or a thread count ≥ 1."""
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or threads < 0
    ):
        raise ValueError(
            f"threads={threads!r} is not allowed; give a count ≥ 1, or 0 to leave torch's setting"
        )


def add_machine_arguments(parser: argparse.ArgumentParser, seeded: str) -> None:
    """The flags every benchmark has: ``--device``, ``--threads`` and ``--seed`` (of ``seeded``)."""
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (%(default)s)")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (0: leave as is; %(default)s)"
    )
    parser.add_argument(
        "--seed", type=seed_argument, default=0, help=f"seed of {seeded} (%(default)s)"
    )


def seed_argument(text: str) -> int:
    """``--seed``: an integer 0 … 2³² − 1 (a larger one overflowed the generators)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"{value} is not allowed; give an integer 0 … {SEED_MAX}")
    return value


def check_csv_path(path: str | Path) -> None:
    """``path`` can be written as a CSV file (:func:`pinnkan.text_file.check_output_file`): an
    existing file is replaced, with a note, only if it is a benchmark CSV pinnkan wrote.

    Leaves nothing behind, so it may run before the other checks: the folder is made by the write.
    """
    check_output_file(path, "CSV file", is_pinnkan_csv)


def describe_device(device: str) -> str:
    """GPU name, or the CPU with the torch thread count actually used."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return (
        f"cpu; {torch.get_num_threads()} torch thread(s) of {os.cpu_count()} cores; "
        f"{processor_name()}"
    )


def write_csv(rows: list[dict], path: str, header: dict[str, str], columns: list[str]) -> None:
    """Write the ``# key: value`` header and the rows; atomically (never a half-written CSV)."""
    text = io.StringIO(newline="")
    for key, value in header.items():
        text.write(f"# {key}: {value}\n")
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomically(path, text.getvalue())
