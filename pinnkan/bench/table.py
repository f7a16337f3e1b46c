"""The benchmarks' CSV: ``# key: value`` lines (command, device, torch, date, what is measured),
then a header row and one row per case. Written atomically, like run files."""

from __future__ import annotations

import csv
import os
import platform
import tempfile
from pathlib import Path

import torch


def describe_device(device: str) -> str:
    """GPU name, or the CPU with the torch thread count actually used."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return (
        f"cpu; {torch.get_num_threads()} torch thread(s) of {os.cpu_count()} cores; "
        f"{platform.processor() or platform.machine()}"
    )


def write_csv(rows: list[dict], path: str, header: dict[str, str], columns: list[str]) -> None:
    """Write to a temporary file beside ``path`` and rename: never a half-written CSV."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "w", newline="") as file:
            for key, value in header.items():
                file.write(f"# {key}: {value}\n")
            writer = csv.DictWriter(file, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
