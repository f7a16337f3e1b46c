"""Writing output files safely: checked first, written atomically, modes kept; and keeping the
hand-written notes of a generated report.

Every file pinnkan writes (run files, reports, tables, benchmark CSVs, figures) goes through
:func:`check_output_file` (before any work: one-line ``ValueError``, nothing left behind; the
folder is probed by creating a file in it) and :func:`replace_atomically`: a temporary file
beside the target, then ``os.replace``, so a reader or a crash never sees a half-written file,
and on any error the previous file is left as it was (a failed write is a one-line
:class:`WriteError`). A new file gets the usual mode (``0o666 & ~umask``); a replaced file keeps
its mode.

An existing file is replaced only if pinnkan wrote it, with a note: a run file (HDF5 marked
``pinnkan-run``), a markdown table naming its ``pinnkan`` command (or holding
:data:`NOTES_MARKER`, :func:`is_pinnkan_markdown`), a benchmark CSV whose ``# command:`` line is
``pinnkan bench …`` (:func:`is_pinnkan_csv`). Any other file is refused.

Reports (``pinnkan report --out``, ``pinnkan fit --recipe … --table``) are regenerated from run
files, but their readers need the explanations written by hand under the generated rows. Those
notes start at a marker line: :data:`NOTES_MARKER`, or any line that starts with
``<!-- notes:`` and ends with ``-->`` (``<!-- notes: … -->``); regenerating a file replaces everything above it
and keeps the marker and everything below it unchanged::

    generated rows …                  <- replaced on each regeneration
    <!-- notes: … -->                 <- NOTES_MARKER, kept
    ## Reading this table …           <- kept
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from . import file_lock

NOTES_MARKER = (
    "<!-- notes: everything below this line is written by hand and kept when the generated "
    "part above is remade -->"
)
NOTES_OPENING = "<!-- notes:"  # how every marker line starts
SEPARATORS = tuple(separator for separator in (os.sep, os.altsep) if separator)


# --- checking an output path (leaves nothing behind) -------------------------------------------


def check_output_file(
    path: str | os.PathLike,
    what: str = "file",
    is_ours: Callable[[Path], bool] | None = None,
    note: bool = True,
) -> Path:
    """Refuse, with one line, a path that cannot become a ``what`` written here; returns its folder.

    Refused: an empty path, one ending in a separator (``newdir/`` names a folder), an existing
    directory or other non-regular file, a folder in which no file can be created
    (:func:`check_folder`), and, given ``is_ours``, an existing file for which ``is_ours`` is
    false (:func:`check_replaceable`; a file it will replace is noted on stderr, before any work, unless
    ``note=False``).
    Leaves nothing behind: the folder is made by :func:`replace_atomically` when the file is
    written.
    """
    text = os.fspath(path)
    if not text or text.endswith(SEPARATORS):
        raise ValueError(
            f"output path {text!r} names a folder, not a file; give a {what} path ending in a "
            "file name"
        )
    target = Path(text)
    if target.is_dir():
        raise ValueError(f"output path {text!r} is a directory; give a {what} path")
    if target.exists() and not target.is_file():
        raise ValueError(f"output path {text!r} is not a regular file; give a {what} path")
    check_folder(target.parent)
    if is_ours is not None and check_replaceable(target, what, is_ours) and note:
        print(f"pinnkan: note: {text} exists; {replacement_note(what)}", file=sys.stderr)
    return target.parent


def replacement_note(what: str) -> str:
    """The note's promise, printed before any work (so a long run can still be stopped): the old
    file is replaced only when the new one has been written, and is kept if the command fails."""
    return f"this {what} will replace it when written (kept if the command fails)"


def check_replaceable(path: str | os.PathLike, what: str, is_ours: Callable[[Path], bool]) -> bool:
    """Whether a file of ours (``is_ours``) is at ``path`` (False: no file); ``ValueError`` for
    any other file, which pinnkan must never overwrite."""
    location = Path(path)
    if not location.is_file():
        return False
    if is_ours(location):
        return True
    raise ValueError(
        f"output file {location} exists and is not a pinnkan {what}; refusing to replace it: "
        "give another path (or remove the file yourself)"
    )


def check_output_folder(path: str | os.PathLike) -> Path:
    """Refuse, with one line, a path that cannot become a folder of output files (e.g. figures):
    an existing file, or a folder in which no file can be created (:func:`check_folder`)."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise ValueError(
            f"output folder {os.fspath(path)!r} exists and is not a folder; give a folder path "
            "(an existing folder or a new one)"
        )
    check_folder(folder)
    return folder


def check_folder(folder: Path) -> None:
    """``folder`` is a directory in which a file can be created, or can be made.

    Checked for real, as root too: a temporary file is created and removed in ``folder`` (as
    :func:`replace_atomically` will), or, when ``folder`` is missing, a temporary folder in its
    nearest existing ancestor. One-line ``ValueError`` otherwise.
    """
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(
            f"output directory {folder} cannot be created: {existing} is a file, not a directory"
        )
    try:
        probe_folder(existing, make_folder=existing != folder)
    except OSError as error:
        problem = "is not writable" if existing == folder else f"cannot be created in {existing}"
        raise ValueError(f"output directory {folder} {problem}: {reason(error)}") from None


def probe_folder(folder: Path, make_folder: bool) -> None:
    """Create and remove a temporary file (or, with ``make_folder``, folder) in ``folder``."""
    probe = folder / f".pinnkan-probe.{secrets.token_hex(4)}.tmp"
    try:  # named before it exists: a stop (Ctrl-C, a batch's SIGTERM) leaves nothing behind
        if make_folder:
            probe.mkdir()
        else:
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    finally:
        with signals_deferred(), contextlib.suppress(FileNotFoundError):
            probe.rmdir() if make_folder else probe.unlink()


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM that arrive during the block take effect when it ends (main thread;
    a blocked signal mask would not do: another thread takes a process's signal instead)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda number, frame: arrived.append(number))
        for sig in (signal.SIGINT, signal.SIGTERM)
        if signal.getsignal(sig) is not signal.SIG_IGN
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(arrived):
            signal.raise_signal(sig)


def reason(error: OSError) -> str:
    """The operating system's words for ``error`` (``"Permission denied"``), else its text.
    "No such file or directory" for a file created in a folder that exists (``/proc``) reads
    as if the folder were missing: there, the file system takes no new files."""
    if error.errno == errno.ENOENT and error.filename and Path(error.filename).parent.is_dir():
        return "its file system takes no new files there (No such file or directory)"
    return error.strerror or str(error) or type(error).__name__


# --- one writer per output ----------------------------------------------------------------------


def lock_path(target: Path) -> Path:
    """The lock file of the output ``target``: ``.NAME.lock`` beside it."""
    return target.parent / f".{target.name}.lock"


READER_CHECK_SECONDS = 0.25  # :func:`being_written` holds the lock for microseconds


@contextlib.contextmanager
def writing_alone(
    path: str | os.PathLike,
    what: str = "run file",
    advice: str = "give another --out (--out-dir for a recipe or sweep), or wait for that run to end",
) -> Iterator[None]:
    """No other pinnkan process writes ``path`` while the block runs (a solve, its checkpoints
    and its final write): an exclusive, non-blocking lock (:mod:`pinnkan.file_lock`) on
    ``.NAME.lock`` beside it, removed afterwards. Held by another process: one ``ValueError``
    line (two runs given one ``--out`` would overwrite each other's checkpoints and one result
    would be lost), ending in ``advice``. Makes the folder (the run is about to write there). Where the system has
    no file locks: no check."""
    target = Path(path)
    if not file_lock.AVAILABLE:
        yield
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    lock = lock_path(target)
    descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        if not file_lock.acquire_within(descriptor, READER_CHECK_SECONDS):
            raise ValueError(
                f"{what} {target} is being written by another pinnkan process (lock {lock}); "
                f"{advice}"
            )
        try:
            yield
        finally:
            if file_lock.REMOVE_WHILE_HELD:
                lock.unlink(missing_ok=True)  # the next writer makes a new one
            file_lock.release(descriptor)
    finally:
        os.close(descriptor)
    if not file_lock.REMOVE_WHILE_HELD:
        with contextlib.suppress(OSError):  # kept where another process has opened it since
            lock.unlink(missing_ok=True)


def being_written(path: str | os.PathLike) -> bool | None:
    """Whether a pinnkan process holds the :func:`writing_alone` lock of ``path`` now (None where
    the system has no file locks). Tried without waiting, and let go at once."""
    if not file_lock.AVAILABLE:
        return None
    target = Path(path)
    try:
        descriptor = os.open(lock_path(target), os.O_RDWR)
    except OSError:  # no lock file: no writer
        return False
    try:
        if not file_lock.acquire(descriptor, wait=False):
            return True
        file_lock.release(descriptor)
        return False
    finally:
        os.close(descriptor)


# --- writing atomically ------------------------------------------------------------------------


class WriteError(OSError):
    """A checked output file could not be written after all (disk full, permissions changed …);
    its text is one line naming the file and the reason."""


def replace_atomically(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """Write the file ``path`` by ``write(temporary)``, then rename the temporary file over it.

    The path is checked (:func:`check_output_file`) and its folder made only then. The temporary
    file has the target's final mode before any byte is written. On any exception
    (KeyboardInterrupt included) it is removed and a previous file at ``path`` is left untouched;
    an ``OSError`` becomes a one-line :class:`WriteError` naming ``path``.
    """
    check_output_file(path)
    target = Path(path)
    try:
        write_and_rename(target, write)
    except OSError as error:
        raise WriteError(f"cannot write {target}: {reason(error)}") from error
    sync_directory(target.parent)


def write_and_rename(target: Path, write: Callable[[Path], None]) -> None:
    """Make the folder, ``write`` a temporary file beside ``target``, then rename it over
    ``target``; the temporary file is removed on any exception."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_path(target)
    try:  # named before it exists: a stop at any moment leaves nothing behind
        create_temporary(temporary)
        if target.is_file():
            shutil.copymode(target, temporary)  # a replaced file keeps its permissions
        write(temporary)
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        with signals_deferred():
            temporary.unlink(missing_ok=True)
        raise


def temporary_path(target: Path) -> Path:
    """A new name beside ``target``: ``.NAME.<8 hex>.tmp``."""
    return target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp"


def create_temporary(temporary: Path) -> None:
    """The empty file ``temporary``, with the usual mode of a new file (0o666 & ~umask)."""
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))


def sync_directory(directory: Path) -> None:
    """Make the rename durable where the platform allows opening a directory."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def write_text_atomically(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through :func:`replace_atomically` (UTF-8, ``\\n`` lines)."""
    replace_atomically(path, lambda temporary: write_text(temporary, text))


def write_text(path: Path, text: str) -> None:
    """``text`` into ``path`` as UTF-8, line endings untranslated."""
    with open(path, "w", encoding="utf-8", newline="") as file:
        file.write(text)


# --- hand-written notes ------------------------------------------------------------------------


def hand_written_notes(path: str | Path) -> str:
    """The part of an existing file from :data:`NOTES_MARKER` on ("" if no file or no marker).

    Only a marker line counts (:func:`notes_in`), so a generated cell quoting it does not.
    """
    target = Path(path)
    if not target.is_file():
        return ""
    return notes_in(target.read_text(encoding="utf-8"))


def notes_in(text: str) -> str:
    """``text`` from its first notes marker line on ("" without one): a line that starts with
    ``<!-- notes:`` and ends with ``-->`` (:data:`NOTES_MARKER`, or the short
    ``<!-- notes: … -->`` the help shows). A table cell or an indented line quoting it does
    not count."""
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if is_notes_marker(line.rstrip("\r\n")):
            return "".join(lines[index:])
    return ""


def is_notes_marker(line: str) -> bool:
    return line.startswith(NOTES_OPENING) and line.rstrip().endswith("-->")


def write_generated_markdown(path: str | Path, generated: str) -> bool:
    """Write ``generated`` to ``path`` and re-append the file's hand-written notes, if any.

    Returns whether notes were kept (for the caller's one-line message).
    """
    notes = hand_written_notes(path)
    text = generated if generated.endswith("\n") else generated + "\n"
    if notes:
        text += "\n" + notes
    write_text_atomically(path, text)
    return bool(notes)


# --- recognising the text files pinnkan wrote --------------------------------------------------

HEAD_LINES = 20  # a generated file names its command within its first lines
MAX_TEXT_BYTES = 16 * 2**20  # larger files are not generated tables
MARKDOWN_COMMAND = re.compile(r"(?:- )?command: `pinnkan[ `]", re.IGNORECASE)  # report, table
CSV_COMMAND = re.compile(r"# command: pinnkan bench ")  # the benchmarks' CSV


def check_markdown_output(path: str | os.PathLike) -> Path:
    """:func:`check_output_file` for a generated markdown table (``pinnkan report --out``,
    ``pinnkan fit --recipe … --table``): an existing file is replaced only if
    :func:`is_pinnkan_markdown`."""
    return check_output_file(path, "markdown file", is_pinnkan_markdown)


def is_pinnkan_markdown(path: Path) -> bool:
    """Whether ``path`` is a markdown table pinnkan wrote (``pinnkan report``'s ``Command:
    `pinnkan …``` line, a recipe table's ``- command: `pinnkan …```) or one prepared for
    regeneration (it has the :data:`NOTES_MARKER` line)."""
    text = file_text(path)
    return text is not None and (names_command(text, MARKDOWN_COMMAND) or bool(notes_in(text)))


def is_pinnkan_csv(path: Path) -> bool:
    """Whether ``path`` is a benchmark CSV pinnkan wrote: a ``# command: pinnkan bench …`` line."""
    text = file_text(path)
    return text is not None and names_command(text, CSV_COMMAND)


def names_command(text: str, command: re.Pattern[str]) -> bool:
    """Whether one of the first :data:`HEAD_LINES` lines of ``text`` starts with ``command``."""
    return any(command.match(line) for line in text.splitlines()[:HEAD_LINES])


def file_text(path: Path) -> str | None:
    """The UTF-8 text of the file ``path``; None when it is unreadable, larger than
    :data:`MAX_TEXT_BYTES` or not UTF-8 text (a run file, an image …)."""
    try:
        if path.stat().st_size > MAX_TEXT_BYTES:
            return None
        return path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
