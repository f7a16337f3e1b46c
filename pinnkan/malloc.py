"""Keep freed memory in the process for the next training step (glibc's ``mallopt``).

A training step allocates and frees the same large temporaries every time: at d = 1,000 with
100 points the forward engine's are 1–13 MB each, at d = 10,000 up to 128 MB. glibc's
``malloc`` serves every block above its mmap threshold (128 KiB, rising with use to at most
32 MiB) by a fresh ``mmap`` and gives it back to the system with ``munmap`` when it is freed,
and it trims the top of its heap whenever more than twice that threshold lies free there. The
next step then touches fresh pages, each of which the kernel must map and zero (a minor page
fault): at d = 10,000 about half of a CPU training step was spent so, in the kernel.

:func:`reuse_freed_memory` sets, process-wide,

* ``M_MMAP_MAX = 0``: every block comes from the heap, none is given back by ``munmap``;
* ``M_TRIM_THRESHOLD = 1 GiB``: the heap's free top goes back to the system only above 1 GiB,

so the steps reuse the pages of the ones before. The resident memory stays at the peak of a
step (as the same process had at that peak anyway) plus at most 1 GiB of free heap; it does
not grow from step to step. Measured with ``python benchmarks/malloc_reuse.py`` (separate
processes, alternated, since glibc's default cannot be restored in a process that changed it;
``results/bench_malloc.md``).

It acts only on Linux with glibc (elsewhere it does nothing); ``PINNKAN_MALLOC=0`` in the
environment turns it off. The ``pinnkan`` command calls it once at start; a library user calls
it before training (it is process-wide, like ``torch.set_num_threads``). It changes no value
that is computed, only where memory comes from.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys

# mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
TRIM_THRESHOLD_BYTES = 1 << 30

REUSE = "reuse (glibc mallopt: M_MMAP_MAX=0, M_TRIM_THRESHOLD=1 GiB)"
DEFAULT = "default"

_setting = DEFAULT


def reuse_enabled() -> bool:
    """False where ``PINNKAN_MALLOC=0`` is set."""
    return os.environ.get("PINNKAN_MALLOC", "1") != "0"


def has_glibc() -> bool:
    """Whether this process runs on Linux with glibc (whose ``mallopt`` takes the settings)."""
    return sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def reuse_freed_memory() -> bool:
    """Keep freed memory in the heap for reuse (see the module docstring); returns whether the
    settings are in force. Calling it again does nothing more."""
    global _setting
    if _setting == REUSE:
        return True
    if not (reuse_enabled() and has_glibc()):
        return False
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    if mallopt(M_MMAP_MAX, 0) and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES):
        _setting = REUSE
    return _setting == REUSE


def malloc_setting() -> str:
    """:data:`REUSE` once :func:`reuse_freed_memory` has acted in this process, else "default"."""
    return _setting
