"""``pinnkan.file_lock``: one holder at a time, across processes; the Windows branch (msvcrt)
run here through a stand-in with Windows' semantics (a locked byte refuses another open file,
a file that is open cannot be removed)."""

from __future__ import annotations

import errno
import multiprocessing
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from pinnkan import file_lock, text_file


def open_lock(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)


def hold_until_told(path: str, held, release) -> None:
    """Child process: hold the lock until ``release`` is set."""
    descriptor = open_lock(Path(path))
    assert file_lock.acquire(descriptor, wait=False)
    held.set()
    release.wait(30)
    file_lock.release(descriptor)
    os.close(descriptor)


@pytest.mark.skipif(not file_lock.AVAILABLE, reason="no file locks on this system")
def test_a_lock_held_by_another_process_is_refused_then_waited_for(tmp_path):
    path = tmp_path / "a.lock"
    context = multiprocessing.get_context("spawn")
    held, release = context.Event(), context.Event()
    child = context.Process(target=hold_until_told, args=(str(path), held, release))
    child.start()
    try:
        assert held.wait(60)
        descriptor = open_lock(path)
        assert not file_lock.acquire(descriptor, wait=False)
        release.set()
        assert file_lock.acquire(descriptor, wait=True)  # returns once the child lets go
        file_lock.release(descriptor)
        os.close(descriptor)
    finally:
        release.set()
        child.join(30)
    assert child.exitcode == 0


class WindowsLocks:
    """``msvcrt.locking`` as Windows does it, for the first byte of a file: a byte locked
    through one open file refuses every other (EACCES), also in the same process."""

    LK_NBLCK, LK_UNLCK = 2, 0

    def __init__(self) -> None:
        self.holders: dict[int, int] = {}  # file (inode) -> descriptor holding its first byte
        self.calls = 0

    def locking(self, descriptor: int, mode: int, length: int) -> None:
        assert length == 1 and os.lseek(descriptor, 0, os.SEEK_CUR) == 0
        self.calls += 1
        file = os.fstat(descriptor).st_ino
        if mode == self.LK_UNLCK:
            assert self.holders.pop(file) == descriptor
        elif self.holders.setdefault(file, descriptor) != descriptor:
            raise OSError(errno.EACCES, "Permission denied")


@pytest.fixture
def windows(monkeypatch) -> WindowsLocks:
    """pinnkan.file_lock as on Windows (no fcntl, msvcrt's locks, and a locked file cannot be
    removed: Windows refuses to remove a file that is open)."""
    locks = WindowsLocks()
    monkeypatch.setattr(file_lock, "fcntl", None)
    monkeypatch.setattr(file_lock, "msvcrt", locks)
    monkeypatch.setattr(file_lock, "REMOVE_WHILE_HELD", False)
    unlink = Path.unlink

    def refuse_while_locked(path: Path, missing_ok: bool = False) -> None:
        if path.exists() and path.stat().st_ino in locks.holders:
            raise PermissionError(errno.EACCES, "The process cannot access the file", str(path))
        unlink(path, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", refuse_while_locked)
    return locks


def test_windows_a_second_writer_is_refused_and_the_lock_file_removed(tmp_path, windows):
    out = tmp_path / "run.h5"
    with text_file.writing_alone(out):
        refused = pytest.raises(ValueError, match="being written by another pinnkan process")
        with refused, text_file.writing_alone(out):
            pass
        assert (tmp_path / ".run.h5.lock").exists()
    assert os.listdir(tmp_path) == [] and windows.holders == {}
    with text_file.writing_alone(out):  # free again
        pass


def test_windows_a_waiting_lock_retries_until_free(tmp_path, windows, monkeypatch):
    path = tmp_path / "a.lock"
    holder, waiter = open_lock(path), open_lock(path)
    assert file_lock.acquire(holder, wait=True)
    tries = []

    def let_go_after_two_tries(seconds: float) -> None:
        tries.append(seconds)
        if len(tries) == 2:
            file_lock.release(holder)

    monkeypatch.setattr(file_lock, "time", SimpleNamespace(sleep=let_go_after_two_tries))
    assert file_lock.acquire(waiter, wait=True)
    assert tries == [file_lock.RETRY_SECONDS] * 2
    assert windows.holders == {os.fstat(waiter).st_ino: waiter}
    file_lock.release(waiter)
    os.close(holder)
    os.close(waiter)


def test_windows_an_error_that_is_not_a_held_lock_is_raised(tmp_path, windows, monkeypatch):
    """Every OSError counted as "held": a file system without locks made the writer report
    another pinnkan process, and a waiting lock retry forever."""

    def no_locks(descriptor: int, mode: int, length: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(windows, "locking", no_locks)
    descriptor = open_lock(tmp_path / "a.lock")
    for wait in (False, True):
        with pytest.raises(OSError, match="No locks available"):
            file_lock.acquire(descriptor, wait=wait)
    os.close(descriptor)


def test_without_file_locks_a_writer_runs_unchecked(tmp_path, monkeypatch):
    monkeypatch.setattr(file_lock, "AVAILABLE", False)
    out = tmp_path / "run.h5"
    with text_file.writing_alone(out), text_file.writing_alone(out):
        pass
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(not file_lock.AVAILABLE, reason="no file locks on this system")
def test_a_writer_is_not_refused_by_a_readers_brief_check(tmp_path):
    """``pinnkan show`` checks a run's lock by taking it for a moment; a solve starting in that
    moment was refused as if another run wrote the file. A hold of 0.1 s is waited out, one of
    the whole window is still a writer."""
    import threading

    out = tmp_path / "run.h5"
    lock = tmp_path / ".run.h5.lock"
    reader = open_lock(lock)
    assert file_lock.acquire(reader, wait=False)
    timer = threading.Timer(0.1, file_lock.release, args=(reader,))
    timer.start()
    with text_file.writing_alone(out):
        pass
    timer.join()
    os.close(reader)
    holder = open_lock(lock)
    assert file_lock.acquire(holder, wait=False)
    refused = pytest.raises(ValueError, match="is being written by another pinnkan process")
    with refused, text_file.writing_alone(out):
        pass
    os.close(holder)
