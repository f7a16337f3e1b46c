"""Where a run ran: package versions, platform, device name, git commit and creation time.

:func:`environment_info` is stored in a run file's configuration as ``config["environment"]``
(docs/runfile.md); it names no host.
"""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from .malloc import malloc_setting


def environment_info(
    device: str | torch.device | None = None, model: torch.nn.Module | None = None
) -> dict[str, Any]:
    """Versions, hostname-free platform, device name, git commit and creation time (UTC), the
    malloc setting (:func:`pinnkan.malloc.malloc_setting`); with ``model``, which code generates
    its Meta coefficients (:func:`model_meta_kernels`)."""
    package = Path(__file__).resolve().parent
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "h5py": h5py.__version__,
        "hdf5": h5py.version.hdf5_version,
        "numba": package_version("numba"),
        "meta_kernels": meta_kernels(device)
        if model is None
        else model_meta_kernels(model, device),
        "pinnkan": pinnkan_version(),
        "malloc": malloc_setting(),
        "cuda": torch.version.cuda,
        "platform": platform.platform(),
        "device_name": device_name(device),
        "git_commit": git_commit(package),
        "git_dirty": git_dirty(package),
        "created_utc": utc_now().isoformat(timespec="seconds"),
    }


def device_name(device: str | torch.device | None) -> str:
    """The GPU's name for a CUDA device, the processor's (:func:`processor_name`) for the CPU."""
    where = torch.device(device if device is not None else "cpu")
    if where.type == "cuda" and torch.cuda.is_available():
        return torch.cuda.get_device_name(where)
    if where.type == "cpu":
        return processor_name()
    return where.type


def processor_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``, e.g. "AMD EPYC 7B13"), else what ``platform``
    knows (often just the architecture, "x86_64")."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def git_output(package: Path, *arguments: str) -> str | None:
    """``git <arguments>`` in the checkout whose top level holds ``package``; None otherwise."""
    try:
        top = run_git(package, "rev-parse", "--show-toplevel")
        if Path(top).resolve() != package.parent.resolve():
            return None
        return run_git(package, *arguments)
    except (OSError, subprocess.SubprocessError):
        return None


def run_git(directory: Path, *arguments: str) -> str:
    done = subprocess.run(
        ["git", *arguments], cwd=directory, capture_output=True, text=True, timeout=10, check=True
    )
    return done.stdout.strip()


def git_commit(package: Path) -> str | None:
    """``git rev-parse HEAD`` of the pinnkan checkout holding ``package``; None if not one."""
    return git_output(package, "rev-parse", "HEAD")


def git_dirty(package: Path) -> bool | None:
    status = git_output(package, "status", "--porcelain", "--untracked-files=no")
    return None if status is None else bool(status)


def package_version(name: str) -> str | None:
    """The installed version of a distribution, None where it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def meta_kernels(device: str | torch.device | None = None) -> str:
    """Which code generates MetaKAN coefficients on ``device``: "numba" kernels or "torch" ops.

    The kernels run on the CPU only; decided from the installed packages and ``PINNKAN_NUMBA``,
    without importing numba.
    """
    on_cpu = torch.device(device if device is not None else "cpu").type == "cpu"
    off = os.environ.get("PINNKAN_NUMBA", "1") == "0"
    return "numba" if on_cpu and not off and package_version("numba") is not None else "torch"


def model_meta_kernels(model: torch.nn.Module, device: str | torch.device | None = None) -> str:
    """What generates ``model``'s coefficients: "none" without a meta-learner (KAN, MLP, …),
    "torch" where no meta-learner is the piecewise-linear kind the kernels take (scalar prompts,
    ReLU), else :func:`meta_kernels` on ``device``."""
    from .nn.meta import MetaLearner

    learners = [module for module in model.modules() if isinstance(module, MetaLearner)]
    if not learners:
        return "none"
    if not any(learner.piecewise_linear for learner in learners):
        return "torch"
    return meta_kernels(device)


def describe_meta_kernels(device: str | torch.device | None = None) -> str:
    """One line for benchmark headers, e.g. "numba (numba 0.68.1)" or "torch (numba none)"."""
    return f"{meta_kernels(device)} (numba {package_version('numba') or 'none'})"


def pinnkan_version() -> str:
    from . import __version__

    return __version__


def utc_now() -> datetime:
    return datetime.now(UTC)
