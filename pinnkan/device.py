"""Device and precision resolution, and peak-memory measurement.

Peak memory: on CUDA, ``torch.cuda.max_memory_allocated`` (bytes held by tensors, reset at the
start of a run); on CPU, the process's peak resident set size (``ru_maxrss``), which also counts
the Python interpreter and libraries — compare CPU figures only between runs of one process.
"""

from __future__ import annotations

import resource
import sys
from collections.abc import Callable

import torch
from torch import Tensor

from .wording import counted

DEVICES = ("auto", "cpu", "cuda")
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_device(name: str) -> torch.device:
    """ "auto" -> CUDA when available, else CPU; "cuda" or "cuda:N" must name a GPU present."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
        return cuda_device(name)
    raise ValueError(f"device={name!r} is not known; allowed: {', '.join(DEVICES)} or cuda:N")


def cuda_device(name: str) -> torch.device:
    """``torch.device(name)`` for "cuda" or "cuda:N", N below the number of GPUs found."""
    if not torch.cuda.is_available():
        raise ValueError(f"device={name!r} is not available: no CUDA GPU found; use cpu or auto")
    device = torch.device(name)
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise ValueError(
            f"device={name!r} is not available: {count} CUDA GPU(s) found, "
            f"allowed: cuda:0 … cuda:{count - 1}"
        )
    return device


def default_device() -> torch.device:
    """Where new tensors go: the CPU unless ``torch.set_default_device`` (or a library, e.g.
    DeepXDE on a GPU machine) changed it."""
    return torch.empty(0).device


def sampling_device(
    generator: torch.Generator | None, device: torch.device | str | None = None
) -> torch.device:
    """Where to draw: the generator's own device (a CPU generator cannot draw on a GPU, and the
    same seed then gives the same numbers wherever they are used), else ``device``, else the
    default device."""
    if generator is not None:
        return generator.device
    return torch.device(device) if device is not None else default_device()


def draw(sample: Callable[..., Tensor], *size, generator: torch.Generator | None, **options):
    """``sample(*size, generator=generator, **options)`` (``torch.randn``, ``torch.rand``, …)
    drawn on :func:`sampling_device`, then put on the default device (where the caller's other
    new tensors go)."""
    device = sampling_device(generator)
    return sample(*size, generator=generator, device=device, **options).to(default_device())


def resolve_dtype(name: str) -> torch.dtype:
    if name not in DTYPES:
        raise ValueError(f"dtype={name!r} is not known; allowed: {', '.join(DTYPES)}")
    return DTYPES[name]


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({counted(torch.get_num_threads(), 'thread')})"


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA); nothing to wait for on the CPU. Timers around
    a GPU step need it at both ends."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is KiB on Linux
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale)
