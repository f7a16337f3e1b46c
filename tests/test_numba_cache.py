"""The compiled kernels' disk cache under processes that compile at once (pinnkan.numba_cache).

Unlocked, numba's cache loses index entries and sends signatures to another signature's machine
code when processes save at the same moment: with plain ``njit(cache=True)``, 4 processes
compiling 8 closures × 3 dtypes each left 4 to 9 of 96 signatures computing another closure's
value; the last test here fails in 2 of 3 runs without the lock, and never with it.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("numba")
fcntl = pytest.importorskip("fcntl")

from numba.core.dispatcher import Dispatcher  # noqa: E402

from pinnkan.numba_cache import LOCK_NAME, lock_cache  # noqa: E402

KERNELS = """
import functools

from pinnkan.numba_cache import cached_njit


@functools.cache
def times(m):
    @cached_njit()
    def scaled(x):
        return m * x

    return scaled
"""

COMPILE = """
import os, sys, time
from pathlib import Path
import numpy as np
sys.path.insert(0, {folder!r})
import kernels

first, processes = int(sys.argv[1]), int(sys.argv[2])
Path({folder!r}, f"ready-{{first}}").touch()
deadline = time.time() + 120
while len(list(Path({folder!r}).glob("ready-*"))) < processes and time.time() < deadline:
    time.sleep(0.001)
for m in range(first, first + {per_process}):
    for dtype in (np.float32, np.float64):
        assert kernels.times(m)(dtype(1)) == m
"""

CHECK = """
import sys
import numpy as np
sys.path.insert(0, {folder!r})
import kernels

wrong = missing = 0
for m in range({count}):
    for dtype in (np.float32, np.float64):
        kernel = kernels.times(m)
        wrong += kernel(dtype(1)) != m
    missing += len(kernel.stats.cache_misses)
print(wrong, missing)
"""


def environment() -> dict[str, str]:
    """This environment with numba's cache next to the source (the test's folder)."""
    return {key: value for key, value in os.environ.items() if key != "NUMBA_CACHE_DIR"}


def start(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(),
    )


def lock_is_held(path: Path) -> bool:
    """Whether some open file holds the ``flock`` of ``path`` (tried from a new descriptor)."""
    descriptor = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)
    return False


class RecordingCache:
    """numba's FunctionCache as far as :func:`lock_cache` reads it; records whether the lock
    is held while the cache is read and written."""

    def __init__(self, folder: Path) -> None:
        self._cache_path = str(folder)
        self.held: list[bool] = []

    def load_overload(self, signature, context):
        self.held.append(lock_is_held(Path(self._cache_path, LOCK_NAME)))

    def save_overload(self, signature, data):
        self.held.append(lock_is_held(Path(self._cache_path, LOCK_NAME)))


def test_cache_reads_and_writes_hold_the_folder_lock(tmp_path: Path) -> None:
    cache = RecordingCache(tmp_path)
    assert lock_cache(SimpleNamespace(_cache=cache))
    cache.load_overload("sig", "context")
    cache.save_overload("sig", "data")
    assert cache.held == [True, True]
    assert not lock_is_held(tmp_path / LOCK_NAME)  # released after each


def test_every_kernel_of_the_package_has_a_locked_cache() -> None:
    """Each compiled kernel's cache goes through the lock (numba's names still as expected)."""
    modules = ["pinnkan.basis.bspline_numba", "pinnkan.basis.per_edge_numba"]
    modules += ["pinnkan.nn.scalar_relu_numba", "pinnkan.signs_numba"]
    kernels = [
        value
        for name in modules
        for value in vars(importlib.import_module(name)).values()
        if isinstance(value, Dispatcher)
    ]
    kernels += list(importlib.import_module("pinnkan.nn.scalar_relu_numba").kernels_of_width(3))
    assert len(kernels) > 20
    for kernel in kernels:
        for method in (kernel._cache.load_overload, kernel._cache.save_overload):
            assert hasattr(method, "__wrapped__"), kernel


def test_processes_compiling_at_once_leave_a_cache_every_process_can_read(tmp_path: Path) -> None:
    """Three processes compile 6 closures × 2 dtypes each at the same moment into one cache;
    a fourth then finds all 36 there, each giving its own closure's value."""
    (tmp_path / "kernels.py").write_text(KERNELS)
    per_process, processes = 6, 3
    code = COMPILE.format(folder=str(tmp_path), per_process=per_process)
    running = [start(code, str(first * per_process), str(processes)) for first in range(processes)]
    for process in running:
        assert process.wait(timeout=300) == 0, process.stderr.read()
    check = start(CHECK.format(folder=str(tmp_path), count=per_process * processes))
    output, errors = check.communicate(timeout=300)
    assert check.returncode == 0, errors
    assert output.split() == ["0", "0"]  # no wrong value, no signature missing from the cache
