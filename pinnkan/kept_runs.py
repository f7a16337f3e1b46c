"""Whether a run file already holds the run a recipe plans (``pinnkan sweep``, ``fit --recipe``).

A rerun of a recipe keeps the runs whose files are completed and trains the others, so that an
interrupted grid of runs continues. A completed file is kept only if it holds the planned run:
its stored settings are compared with the plan's (the device aside), the model options resolved
on both sides (the model's defaults, and for a file made before an option existed, what the model
did then: :func:`pinnkan.nn.build.legacy_model_options`). Otherwise the recipe changed since,
and keeping the file would report the old run as the new one; :func:`refuse_other_settings`
names the first difference.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .nn.build import legacy_model_options, model_options
from .results import Run, RunFileError, read_run


def stored_run(path: Path, checkpoint: bool = False) -> Run | None:
    """The run file at ``path`` (without its model), or None where there is none, or another
    file (which the output checks then refuse)."""
    try:
        return read_run(path, load_model=False, load_checkpoint=checkpoint, load_test_set=False)
    except (RunFileError, ValueError):
        return None


def resolved_options(
    model: str, options: dict[str, Any], stored_model: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``options`` over ``model``'s defaults; with ``stored_model`` (a run file's resolved model
    config) the options it lacks because it predates them, set as they were then."""
    legacy = legacy_model_options(model, stored_model) if stored_model is not None else {}
    return {**model_options(model), **legacy, **options}


def settings_difference(
    stored: dict[str, Any],
    planned: dict[str, Any],
    stored_model: dict[str, Any] | None,
    where: str = "",
) -> str:
    """:func:`first_difference` of two settings dicts with a ``model`` and its
    ``model_options`` (a solve's spec, a fit's config): the device aside, the options resolved
    (:func:`resolved_options`, the stored side with its ``stored_model`` config)."""
    model = planned.get("model")
    if stored.get("model") != model:
        return f"{where}model {stored.get('model')!r}, the recipe: {model!r}"
    stored = {
        **stored,
        "device": None,
        "model_options": resolved_options(
            model, stored.get("model_options") or {}, stored_model or {}
        ),
    }
    planned = {
        **planned,
        "device": None,
        "model_options": resolved_options(model, planned.get("model_options") or {}),
    }
    return first_difference(stored, planned, where)


def first_difference(stored: Any, planned: Any, where: str = "") -> str:
    """The first entry (in key order, nested dicts entered) in which ``stored`` differs from
    ``planned``, both as a run file's JSON reads back, as ``key X, the recipe: Y``; "" if none."""
    stored, planned = as_stored(stored), as_stored(planned)
    if isinstance(stored, dict) and isinstance(planned, dict):
        for key in sorted(set(stored) | set(planned)):
            found = first_difference(stored.get(key), planned.get(key), f"{where}{key}.")
            if found:
                return found
        return ""
    if stored == planned:
        return ""
    return f"{where.rstrip('.')} {stored!r}, the recipe: {planned!r}"


def as_stored(data: Any) -> Any:
    """``data`` as a run file's JSON config reads back (tuples as lists)."""
    return json.loads(json.dumps(data))


def refuse_other_settings(path: Path, difference: str) -> None:
    """A completed run of other settings than the recipe's: one ``ValueError`` line."""
    if difference:
        raise ValueError(
            f"{path} holds a completed run of other settings ({difference}); give another "
            "--out-dir, or remove the file to train the recipe's run"
        )
