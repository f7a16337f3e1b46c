"""A training run stopped by an exception: a bug in a user's problem class, CUDA out of memory,
a failing device.

The run file then keeps the last checkpoint (every ``--checkpoint-every`` steps, 1,000 by
default), with status "failed" and the error in ``metrics/message``, so that nothing before
that checkpoint is lost and ``pinnkan resume`` continues from it once the cause is fixed. The
command prints the exception's traceback (the user's code needs it) and then one line::

    pinnkan: error: the run stopped after step 37: ZeroDivisionError: my bug (my_pde.py:11,
    in operator); run.h5 holds the checkpoint of step 30 (status failed): pinnkan resume run.h5
    continues it

Before the run's first checkpoint nothing is written (a previous file at the path is kept).
"""

from __future__ import annotations

import os
import sysconfig
import traceback


class RunFailedError(RuntimeError):
    """A training run stopped by an exception (its ``__cause__``); the text is one line: what
    was raised, where, and what the run file keeps."""


def first_line(error: BaseException) -> str:
    """The first line of ``error``'s message, or its type's name where it has none."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


OUT_OF_MEMORY_WORDS = ("can't allocate memory", "out of memory")  # torch's CPU and CUDA words


def is_out_of_memory(error: BaseException) -> bool:
    """A failed allocation: MemoryError, torch.OutOfMemoryError, or the RuntimeError of torch's
    CPU allocator ("DefaultCPUAllocator: can't allocate memory …")."""
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and any(word in text for word in OUT_OF_MEMORY_WORDS)


def error_summary(error: BaseException) -> str:
    """``"TypeName: first line of the message (file:line, in function)"``, the place being the
    innermost frame of the traceback outside installed libraries and the standard library (a
    user's line that called torch wrongly, not torch's own line), else the innermost frame."""
    text = first_line(error)
    name = type(error).__name__
    summary = name if text == name else f"{name}: {text}"
    frames = traceback.extract_tb(error.__traceback__)
    if frames:
        own = [frame for frame in frames if not in_library(frame.filename)]
        frame = (own or frames)[-1]
        summary += f" ({frame.filename}:{frame.lineno}, in {frame.name})"
    return summary


def in_library(filename: str) -> bool:
    """True for a file of the standard library or of an installed package (site-packages,
    Debian's dist-packages), and for frozen or generated code (``<frozen importlib._bootstrap>``,
    ``<string>``)."""
    if filename.startswith("<"):
        return True
    path = os.path.abspath(filename)
    parts = path.split(os.sep)
    return path.startswith(LIBRARY_FOLDERS) or "site-packages" in parts or "dist-packages" in parts


LIBRARY_FOLDERS = tuple(
    {os.path.abspath(sysconfig.get_paths()[key]) + os.sep for key in ("stdlib", "platstdlib")}
)
