"""Numba's disk cache, safe when several processes compile at once.

The compiled CPU kernels (:mod:`pinnkan.kernels`) are cached on disk by numba
(``njit(cache=True)``): an index file per function maps each compiled signature to a data file,
named by the index's length when it is saved. Two processes that compile new signatures of one
function at the same moment (``pinnkan sweep --jobs 2`` on a fresh installation, two test runs)
can both read the index before either writes it, and give their data files one name: the later
writer wins, and the index then sends one signature to the other's machine code, which fails
(``'descr' is NULL``) or, worse, computes something else, in every later process
(numba/numba#10128 describes the same race for gufuncs).

:func:`cached_njit` is ``njit(cache=True, …)`` whose cache reads and writes run one process at
a time: under an exclusive lock (``flock``; ``msvcrt.locking`` on Windows) on :data:`LOCK_NAME`
in the cache folder. Compiling itself
stays parallel; only the short read-modify-write of the index and the write of the data file
wait. Where the lock file cannot be opened, the cache works as numba's alone.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
from collections.abc import Callable, Iterator
from typing import Any

from numba import njit
from numba.core import serialize

from . import file_lock as locks

LOCK_NAME = "pinnkan-numba-cache.lock"
CACHE_METHODS = ("load_overload", "save_overload")  # numba's FunctionCache reads and writes


def cached_njit(**options: Any) -> Callable[[Callable], Any]:
    """``numba.njit(cache=True, **options)`` with its disk cache locked across processes."""

    def decorate(function: Callable) -> Any:
        dispatcher = njit(cache=True, **options)(named_by_closure(function))
        lock_cache(dispatcher)
        return dispatcher

    return decorate


def named_by_closure(function: Callable) -> Callable:
    """``function`` with a digest of its closure's values appended to its ``__qualname__``.

    The closures of one factory (``kernels_of_width(m)`` for each m) share a qualname, and numba
    names compiled code by qualname, a per-process counter and the argument types. Two closures
    compiled in different processes can so get the same symbol names; loaded together from the
    disk cache they clash, and one runs with the other's environment (``'descr' is NULL``, seen
    with MetaKAN, MetaFastKAN and MetaWavKAN generations cached by three processes). With the
    digest each closure value has its own names (and its own cache index file); the digest is
    that of numba's own cache key, so it is the same in every process."""
    if function.__closure__:
        values = tuple(cell.cell_contents for cell in function.__closure__)
        digest = hashlib.sha256(serialize.dumps(values)).hexdigest()[:12]
        function.__qualname__ = f"{function.__qualname__}_{digest}"
    return function


def lock_cache(dispatcher: Any) -> bool:
    """Make ``dispatcher``'s cache reads and writes hold :func:`file_lock` on the lock file of
    its cache folder; returns whether it could (False: numba's cache as it is)."""
    cache = getattr(dispatcher, "_cache", None)
    folder = getattr(cache, "_cache_path", None)
    if not locks.AVAILABLE or folder is None or not all(hasattr(cache, m) for m in CACHE_METHODS):
        return False
    path = os.path.join(folder, LOCK_NAME)
    for name in CACHE_METHODS:
        setattr(cache, name, holding_lock(path, getattr(cache, name)))
    return True


def holding_lock(path: str, method: Callable) -> Callable:
    """``method`` run under :func:`file_lock` ``(path)``."""

    @functools.wraps(method)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with file_lock(path):
            return method(*args, **kwargs)

    return locked


@contextlib.contextmanager
def file_lock(path: str) -> Iterator[None]:
    """An exclusive lock (:mod:`pinnkan.file_lock`, waiting for it) on the file ``path``
    (created if missing) for the block; without one where the file cannot be opened (a
    read-only folder: numba then does not write either)."""
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        descriptor = None
    if descriptor is None:
        yield
        return
    try:
        locks.acquire(descriptor, wait=True)
        try:
            yield
        finally:
            locks.release(descriptor)
    finally:
        os.close(descriptor)
