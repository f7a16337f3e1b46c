"""The benchmarks' CSV: ``# key: value`` lines (command, device, torch, date, what is measured),
then a header row and one row per case. Written atomically, like run files."""

from __future__ import annotations

import csv
import io
import os
import platform

import torch

from ..text_file import write_text_atomically


def describe_device(device: str) -> str:
    """GPU name, or the CPU with the torch thread count actually used."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return (
        f"cpu; {torch.get_num_threads()} torch thread(s) of {os.cpu_count()} cores; "
        f"{platform.processor() or platform.machine()}"
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
