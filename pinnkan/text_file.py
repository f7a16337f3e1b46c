"""Writing output files safely: checked first, written atomically, modes kept; and keeping the
hand-written notes of a generated report.

Every file pinnkan writes (run files, reports, tables, benchmark CSVs) goes through
:func:`check_output_file` (before any work: one-line ``ValueError``, nothing created) and
:func:`replace_atomically`: a temporary file beside the target, then ``os.replace``, so a reader
or a crash never sees a half-written file, and on any error the previous file is left as it was.
A new file gets the usual mode (``0o666 & ~umask``); a replaced file keeps its mode.

Reports (``pinnkan report --out``, ``pinnkan fit --recipe … --table``) are regenerated from run
files, but their readers need the explanations written by hand under the generated rows. Those
notes start at the line :data:`NOTES_MARKER`; regenerating a file replaces everything above it
and keeps the marker and everything below it unchanged::

    generated rows …                  <- replaced on each regeneration
    <!-- notes: … -->                 <- NOTES_MARKER, kept
    ## Reading this table …           <- kept
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path

NOTES_MARKER = (
    "<!-- notes: everything below this line is written by hand and kept when the generated "
    "part above is remade -->"
)
SEPARATORS = tuple(separator for separator in (os.sep, os.altsep) if separator)


# --- checking an output path (creates nothing) -------------------------------------------------


def check_output_file(path: str | os.PathLike, what: str = "file") -> Path:
    """Refuse, with one line, a path that cannot become a ``what`` written here; returns its folder.

    Refused: an empty path, one ending in a separator (``newdir/`` names a folder), an existing
    directory or other non-regular file, and a folder that can neither be written nor created.
    Nothing is created: the folder is made by :func:`replace_atomically` when the file is written.
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
    return target.parent


def check_folder(folder: Path) -> None:
    """``folder`` is a writable directory, or can be made: its nearest existing ancestor is one."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(
            f"output directory {folder} cannot be created: {existing} is a file, not a directory"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        problem = "is not writable" if existing == folder else f"cannot be created in {existing}"
        raise ValueError(f"output directory {folder} {problem}: permission denied")


# --- writing atomically ------------------------------------------------------------------------


def replace_atomically(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """Write the file ``path`` by ``write(temporary)``, then rename the temporary file over it.

    The path is checked (:func:`check_output_file`) and its folder made only then. The temporary
    file has the target's final mode before any byte is written. On any exception
    (KeyboardInterrupt included) it is removed and a previous file at ``path`` is left untouched.
    """
    check_output_file(path)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = create_temporary(target)
    try:
        if target.is_file():
            shutil.copymode(target, temporary)  # a replaced file keeps its permissions
        write(temporary)
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    sync_directory(target.parent)


def create_temporary(target: Path) -> Path:
    """A new empty file beside ``target`` with the usual mode of a new file (0o666 & ~umask)."""
    temporary = target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp"
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    return temporary


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

    Only a line that is exactly the marker counts, so a generated cell quoting it does not.
    """
    target = Path(path)
    if not target.is_file():
        return ""
    lines = target.read_text(encoding="utf-8").splitlines(keepends=True)
    for index, line in enumerate(lines):
        if line.rstrip("\r\n") == NOTES_MARKER:
            return "".join(lines[index:])
    return ""


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
