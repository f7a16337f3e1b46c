"""Worker processes for a batch of runs (``pinnkan sweep``, ``pinnkan fit --recipe``), and a
stop that reaches all of them.

:func:`run_all` yields ``worker(item)`` for every item, ``jobs`` processes at a time. A stop
(Ctrl-C in the terminal, which signals every process of the group; SIGINT or SIGTERM sent to
the batch's own process only, as a scheduler does) ends the batch:

* items not yet started never start (a shared stop event, checked before each item);
* running items get SIGINT in their worker: a solve stops after its step and writes its
  checkpoint with status "interrupted" (``pinnkan.runner.stop_on_signals``), a fit stops at once
  and writes nothing;
* once they have ended, :class:`KeyboardInterrupt` reaches the caller.

A worker whose batch process died (killed) gets SIGTERM from the kernel (Linux
``PR_SET_PDEATHSIG``), ends its item as above and exits instead of waiting for work forever.
Idle workers ignore SIGINT, so a Ctrl-C prints no traceback of theirs.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from .malloc import reuse_freed_memory

SKIPPED = None  # what a worker returns for an item it did not start (the batch is stopping)
PR_SET_PDEATHSIG = 1  # prctl option: the signal a child gets when its parent dies

# worker-side state, set by the pool's initializer
_stop: Any = None
_parent = 0
_busy = threading.Event()


def worker_pool(jobs: int, stop: Any = None) -> ProcessPoolExecutor:
    """``jobs`` worker processes for the runs of a batch (each reusing freed memory), sharing
    the ``stop`` event of :func:`run_all`.

    Where CUDA is available the workers are spawned: asking torch whether CUDA is there already
    makes a forked child unable to use it ("Cannot re-initialize CUDA in forked subprocess"), so
    every run of a sweep on a GPU machine would fail. Elsewhere the platform's default (fork on
    Linux: workers start at once, without importing torch again)."""
    context = pool_context()
    stop = context.Event() if stop is None else stop
    return ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=context,
        initializer=start_worker,
        initargs=(stop, os.getpid()),
    )


def pool_context() -> Any:
    """The multiprocessing context of the workers: spawn where CUDA is available, else the
    platform's default."""
    import torch

    return multiprocessing.get_context("spawn" if torch.cuda.is_available() else None)


def run_all(
    worker: Callable[[Any], Any], items: Iterable[Any], jobs: int, in_process: bool = False
) -> Iterator[Any]:
    """``worker(item)`` for each item, in order, in ``jobs`` worker processes (``in_process``:
    in this one, for workers that a stop ends by KeyboardInterrupt, such as a fit). A stop ends
    the batch as the module docstring says, then raises KeyboardInterrupt."""
    items = list(items)
    if in_process:
        with terminate_as_interrupt():
            yield from map(worker, items)
        return
    stop = pool_context().Event()
    with terminate_as_interrupt(), worker_pool(jobs, stop) as pool:
        futures = [pool.submit(run_item, worker, item) for item in items]
        try:
            for future in futures:
                yield future.result()
        except KeyboardInterrupt:
            stop.set()  # queued items are skipped; running ones get SIGINT in their worker
            pool.shutdown(wait=True, cancel_futures=True)
            raise


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM to this process is a KeyboardInterrupt while the batch runs (main thread only):
    the batch then stops its runs instead of dying and leaving its workers behind."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# --- in the worker processes -------------------------------------------------------------------


def start_worker(stop: Any, parent: int) -> None:
    """Pool initializer: reuse freed memory, ignore SIGINT while idle, die with the parent
    (Linux), and watch the stop event."""
    global _stop, _parent
    _stop, _parent = stop, parent
    reuse_freed_memory()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()
    threading.Thread(target=interrupt_on_stop, daemon=True).start()


def die_with_parent() -> None:
    """Ask the kernel for SIGTERM when the batch process dies (Linux; elsewhere nothing)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def interrupt_on_stop() -> None:
    """Watcher thread: when the batch stops, SIGINT this worker if it is running an item."""
    _stop.wait()
    if _busy.is_set():
        os.kill(os.getpid(), signal.SIGINT)


def run_item(worker: Callable[[Any], Any], item: Any) -> Any:
    """One item in a worker: skipped once the batch stops or its process is gone; SIGINT is
    live while it runs; a worker whose batch process died exits after it."""
    if _stop.is_set() or os.getppid() != _parent:
        return SKIPPED
    signal.signal(signal.SIGINT, signal.default_int_handler)
    _busy.set()
    try:
        return worker(item)
    finally:
        _busy.clear()
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if os.getppid() != _parent:  # orphaned: nobody will read the result or send more work
            os._exit(1)
