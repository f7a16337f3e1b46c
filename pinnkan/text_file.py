"""Writing generated text files: atomically, and keeping the hand-written notes of a report.

Reports (``pinnkan report --out``, ``pinnkan fit --recipe … --table``) are regenerated from run
files, but their readers need the explanations written by hand under the generated rows. Those
notes start at the line :data:`NOTES_MARKER`; regenerating a file replaces everything above it
and keeps the marker and everything below it unchanged::

    generated rows …                  <- replaced on each regeneration
    <!-- notes: … -->                 <- NOTES_MARKER, kept
    ## Reading this table …           <- kept

Writes go to a temporary file beside the target, then ``os.replace``: a reader or a crash never
sees a half-written file, and on any error the previous file is left as it was.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

NOTES_MARKER = (
    "<!-- notes: everything below this line is written by hand and kept when the generated "
    "part above is remade -->"
)


def write_text_atomically(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (UTF-8, ``\\n`` lines)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
            file.write(text)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


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
