"""Exclusive advisory locks between processes, on an open lock file: ``flock`` on POSIX,
``msvcrt.locking`` of the file's first byte on Windows.

Used by :func:`pinnkan.text_file.writing_alone` (one pinnkan process writes a run file; the
others are refused at once) and :func:`pinnkan.numba_cache.file_lock` (numba's disk cache is
read and written one process at a time; the others wait). Both kinds of lock end with the
process that holds them, so a killed run leaves no stale lock behind. Where neither module
exists, :data:`AVAILABLE` is false and callers go on unlocked.
"""

from __future__ import annotations

import errno
import os
import time

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
try:
    import msvcrt
except ImportError:  # POSIX
    msvcrt = None

AVAILABLE = fcntl is not None or msvcrt is not None
# POSIX may remove a lock file that is held (a later writer makes a new one); Windows cannot
# remove a file that is open, so there it is removed after the lock is released.
REMOVE_WHILE_HELD = fcntl is not None
RETRY_SECONDS = 0.05  # Windows, waiting: the pause between tries
HELD = {errno.EACCES, errno.EDEADLOCK}  # msvcrt.locking's errors for a byte another file locked


def acquire(descriptor: int, wait: bool) -> bool:
    """Lock the open file ``descriptor`` exclusively; True once held. With ``wait=False``,
    False at once where another process holds it; with ``wait=True``, wait until it is free."""
    if fcntl is not None:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            return False
        return True
    while True:
        try:
            os.lseek(descriptor, 0, os.SEEK_SET)  # msvcrt locks bytes from the file position
            msvcrt.locking(descriptor, msvcrt.LK_NBLCK, 1)
        except OSError as error:
            if error.errno not in HELD:  # no locks on this file system …: not "held"
                raise
            if not wait:
                return False
            time.sleep(RETRY_SECONDS)
        else:
            return True


def acquire_within(descriptor: int, seconds: float) -> bool:
    """:func:`acquire` without waiting, tried again for up to ``seconds``: a lock held that
    briefly is a reader's check (``pinnkan show`` asking whether a run is being written), not
    a writer's."""
    deadline = time.monotonic() + seconds
    while not acquire(descriptor, wait=False):
        if time.monotonic() >= deadline:
            return False
        time.sleep(RETRY_SECONDS)
    return True


def release(descriptor: int) -> None:
    """Unlock a lock taken by :func:`acquire` (closing the file also releases a ``flock``;
    Windows asks for the explicit unlock)."""
    if fcntl is not None:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        return
    os.lseek(descriptor, 0, os.SEEK_SET)
    msvcrt.locking(descriptor, msvcrt.LK_UNLCK, 1)
