"""Worker processes for a batch of runs (``pinnkan sweep``, ``pinnkan fit --recipe``), and a
stop that reaches all of them.

:func:`run_all` hands ``worker(item)`` of every item to ``report``, in order, ``jobs``
processes at a time. A stop (Ctrl-C in the terminal, which signals every process of the group;
SIGINT or SIGTERM sent to the batch's own process only, as a scheduler does) ends the batch:

* items not yet started never start (a shared stop flag, checked before each item);
* running items get SIGTERM in their worker: a solve stops after its step and writes its
  checkpoint with status "interrupted" (``pinnkan.runner.stop_on_signals``), a fit stops at once
  and writes nothing;
* once they have ended, every worker exits, and the exception reaches the caller:
  KeyboardInterrupt, or
  :class:`WorkerDiedError` where a worker was killed (e.g. by the out-of-memory killer).

A worker whose batch process died gets SIGTERM from the kernel (Linux ``PR_SET_PDEATHSIG``),
ends its item as above and exits instead of waiting for work forever. Idle workers ignore
SIGINT and die quietly of SIGTERM, so a Ctrl-C prints no traceback of theirs; a batch started
with SIGINT ignored (in the background) keeps it ignored in its workers. The stop flag is a
shared byte without a lock, so that no worker, killed at any moment, can block the batch.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from .malloc import reuse_freed_memory

PR_SET_PDEATHSIG = 1  # prctl option: the signal a child gets when its parent dies
POLL_SECONDS = 0.1  # how often a worker's watcher looks at the stop flag

# worker-side state, set by the pool's initializer
_stop: Any = None
_parent = 0
_interrupts = True  # whether SIGINT stops an item (not where the batch ignores it)
_busy = threading.Event()


class WorkerDiedError(RuntimeError):
    """A worker process of the batch was killed while running an item."""


def pool_context() -> Any:
    """The multiprocessing context of the workers: spawn where CUDA is available (asking torch
    whether CUDA is there already makes a forked child unable to use it: "Cannot re-initialize
    CUDA in forked subprocess"), else the platform's default (fork on Linux: workers start at
    once, without importing torch again)."""
    import torch

    return multiprocessing.get_context("spawn" if torch.cuda.is_available() else None)


def worker_pool(jobs: int, stop: Any = None) -> ProcessPoolExecutor:
    """``jobs`` worker processes for the runs of a batch (each reusing freed memory), sharing
    the ``stop`` flag of :func:`run_all` (a ``RawValue('b')``)."""
    context = pool_context()
    stop = context.RawValue("b", 0) if stop is None else stop
    interrupts = signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
    return ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=context,
        initializer=start_worker,
        initargs=(stop, os.getpid(), interrupts),
    )


def terminate_as_interrupt() -> contextlib.AbstractContextManager[None]:
    """SIGTERM to this process is a KeyboardInterrupt while the batch runs (main thread only):
    the batch then stops its runs instead of dying and leaving its workers behind."""
    return signal_handled(signal.SIGTERM, signal.default_int_handler)


def run_all(
    worker: Callable[[Any], Any],
    items: Iterable[Any],
    jobs: int,
    report: Callable[[Any], None],
    in_process: bool = False,
) -> None:
    """``report(worker(item))`` for each item, in order, with ``jobs`` worker processes
    (``in_process``: in this one, for workers that a stop ends by KeyboardInterrupt, such as a
    fit). A stop ends the batch as the module docstring says, then its exception is raised."""
    items = list(items)
    if in_process:
        with terminate_as_interrupt():
            for item in items:
                report(worker(item))
        return
    stop = pool_context().RawValue("b", 0)
    with terminate_as_interrupt(), worker_pool(jobs, stop) as pool:
        # the workers start with SIGINT ignored, inherited also across the spawn context's
        # exec: a Ctrl-C during their seconds of imports prints no traceback of theirs
        with signal_handled(signal.SIGINT, signal.SIG_IGN):
            futures = [pool.submit(run_item, worker, item) for item in items]
        try:
            for future in futures:
                report(future.result())
        except BaseException as error:  # a stop, a dead worker, an error in report
            stop.value = 1  # queued items are skipped; running ones get SIGTERM
            pool.shutdown(wait=True, cancel_futures=True)
            if isinstance(error, BrokenProcessPool):
                raise WorkerDiedError(
                    "a worker process died while running (killed, e.g. by the out-of-memory "
                    "killer); the runs that finished are kept: rerun the command to continue"
                ) from error
            raise


@contextlib.contextmanager
def signal_handled(number: int, handler: Any) -> Iterator[None]:
    """Signal ``number`` handled by ``handler`` during the block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(number, handler)
    try:
        yield
    finally:
        signal.signal(number, previous)


# --- in the worker processes -------------------------------------------------------------------


def start_worker(stop: Any, parent: int, interrupts: bool) -> None:
    """Pool initializer: reuse freed memory, ignore SIGINT and die quietly of SIGTERM while
    idle, die with the parent (Linux), and watch the stop flag."""
    global _stop, _parent, _interrupts
    _stop, _parent, _interrupts = stop, parent, interrupts
    reuse_freed_memory()
    idle_signals()
    die_with_parent()
    threading.Thread(target=terminate_on_stop, daemon=True).start()


def idle_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the batch's handler, inherited by fork


def die_with_parent() -> None:
    """Ask the kernel for SIGTERM when the batch process dies (Linux; elsewhere nothing)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def terminate_on_stop() -> None:
    """Watcher thread: once the batch stops, SIGTERM this worker if it is running an item, and
    end the worker when the item has ended (it would otherwise wait for work that never comes,
    and a pool another worker's death broke would wait for it)."""
    while not _stop.value:
        time.sleep(POLL_SECONDS)
    if _busy.is_set():
        os.kill(os.getpid(), signal.SIGTERM)
    while _busy.is_set():
        time.sleep(POLL_SECONDS)
    os._exit(0)


def run_item(worker: Callable[[Any], Any], item: Any) -> Any:
    """One item in a worker: skipped (None) once the batch stops or its process is gone;
    SIGTERM (and SIGINT, unless the batch ignores it) stop it while it runs; a worker whose
    batch process died exits after it."""
    _busy.set()  # before the check: a stop from now on is relayed
    try:
        if _stop.value or os.getppid() != _parent:
            return None
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        if _interrupts:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        return worker(item)
    finally:
        _busy.clear()
        idle_signals()
        if os.getppid() != _parent:  # orphaned: nobody will read the result or send more work
            os._exit(1)
