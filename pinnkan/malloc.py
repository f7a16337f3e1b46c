"""Keep freed memory in the process for the next training step (glibc's ``mallopt``).

A training step allocates and frees the same large temporaries every time: at d = 1,000 with
100 points the forward engine's are 1–13 MB each, at d = 10,000 up to 128 MB. glibc's
``malloc`` serves a block above its mmap threshold (128 KiB at first, adapting with use up to
32 MiB) by a fresh ``mmap`` and gives it back to the system with ``munmap`` when it is freed,
and it trims the free top of its heap too. The next step then touches fresh pages, each of
which the kernel must map and zero (a minor page fault): at d = 10,000 that was about half of
a CPU training step.

:func:`reuse_freed_memory` sets, process-wide,

* ``M_MMAP_MAX = 0``: every block comes from the heap, none is given back by ``munmap``;
* ``M_TRIM_THRESHOLD = 1 GiB``: the heap's free top goes back to the system only above 1 GiB,

so the steps reuse the pages of the ones before. The price is memory: what a step frees stays
with the process, so its resident memory holds the largest blocks of all phases of a step at
once: the peak was 13–17 % higher at d = 10,000 (about a quarter more than the step's own
memory, the process's ~450 MB of libraries aside), unchanged at d ≤ 1,000. It does not grow from
step to step with fixed shapes (runs that change shapes, e.g. grid updates, are not measured).
Free memory below live blocks is never given back, whatever its size. Where memory is tight,
``PINNKAN_MALLOC=0`` in the environment turns this off. Measured with
``python benchmarks/malloc_reuse.py`` (``results/bench_malloc.md``).

It acts only on Linux with glibc, and not where the user chose the allocator's behaviour
(an allocator in ``LD_PRELOAD``, glibc malloc tunables in ``GLIBC_TUNABLES`` or ``MALLOC_*_``
variables): :func:`malloc_setting` then says so. The ``pinnkan`` command (and its worker
processes) call it once at start; a library user calls it before training (it is
process-wide, like ``torch.set_num_threads``). It changes no value that is computed, only
where memory comes from.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable

# mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
TRIM_THRESHOLD_BYTES = 1 << 30  # passed as a C int: must stay below 2**31

REUSE = "reuse (glibc mallopt: M_MMAP_MAX=0, M_TRIM_THRESHOLD=1 GiB)"
DEFAULT = "default"
MALLOC_VARIABLES = (
    "MALLOC_MMAP_MAX_",
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "MALLOC_ARENA_MAX",
)

_setting = DEFAULT


def reuse_enabled() -> bool:
    """False where ``PINNKAN_MALLOC=0`` is set."""
    return os.environ.get("PINNKAN_MALLOC", "1") != "0"


def has_glibc() -> bool:
    """Whether this process runs on Linux with glibc (whose ``mallopt`` takes the settings)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        return platform.libc_ver()[0] == "glibc"
    except OSError:  # it may read the interpreter's binary
        return False


def user_allocator_choice() -> str | None:
    """The user's own allocator setting that this must not override, or None: an allocator
    (a library whose name has "malloc" or "hoard") in ``LD_PRELOAD``, malloc tunables in
    ``GLIBC_TUNABLES``, or one of :data:`MALLOC_VARIABLES`."""
    preload = os.environ.get("LD_PRELOAD", "")
    if any(name in preload.lower() for name in ("malloc", "hoard")):
        return f"LD_PRELOAD={preload}"
    if "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", ""):
        return f"GLIBC_TUNABLES={os.environ['GLIBC_TUNABLES']}"
    chosen = [name for name in MALLOC_VARIABLES if name in os.environ]
    return f"{chosen[0]}={os.environ[chosen[0]]}" if chosen else None


def load_mallopt() -> Callable[[int, int], int] | None:
    """glibc's ``int mallopt(int, int)`` through ctypes, or None where it cannot be loaded."""
    try:
        import ctypes

        function = ctypes.CDLL(None).mallopt
    except (ImportError, OSError, AttributeError):
        return None
    function.argtypes, function.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return function


def reuse_freed_memory() -> bool:
    """Keep freed memory in the heap for reuse (see the module docstring); returns whether the
    settings are in force. Calling it again does nothing more."""
    global _setting
    if _setting == REUSE:
        return True
    if not (reuse_enabled() and has_glibc()) or user_allocator_choice() is not None:
        return False
    mallopt = load_mallopt()
    if mallopt is None:
        return False
    mmap_off = mallopt(M_MMAP_MAX, 0) == 1
    trim_raised = mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
    if mmap_off and trim_raised:
        _setting = REUSE
    elif mmap_off or trim_raised:  # glibc accepts both; recorded honestly if it ever does not
        _setting = f"partial (M_MMAP_MAX=0: {mmap_off}, M_TRIM_THRESHOLD=1 GiB: {trim_raised})"
    return _setting == REUSE


def malloc_setting() -> str:
    """:data:`REUSE` once :func:`reuse_freed_memory` has acted in this process, a "partial"
    text if glibc refused one of the two, "user (…)" where the user's own setting rules, else
    "default"."""
    if _setting != DEFAULT:
        return _setting
    choice = user_allocator_choice()
    return f"user ({choice})" if choice is not None else DEFAULT
