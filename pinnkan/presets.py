"""Run recipes ("presets") kept as TOML files in ``solvers/`` (shipped as ``pinnkan.solvers``).

A preset has a ``description``, a ``[train]`` table (fields of :class:`pinnkan.train.TrainConfig`)
and a ``[model]`` table (model options, applied only to models that accept them). Command-line
flags override preset values. A sweep recipe (:mod:`pinnkan.sweep`) is a preset with ``[[runs]]``
blocks and a ``name``; a fit recipe (:mod:`pinnkan.recipes`) has a ``table`` and a ``[fit]`` table
instead of ``[train]``. A key the file's format does not define is an error, not ignored.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from .validation import check_choice


@dataclass(frozen=True)
class Format:
    """What one kind of TOML file may hold."""

    kind: str  # "preset" or "recipe": the word in messages
    keys: tuple[str, ...]  # its top-level keys
    runs: bool  # whether it is a grid of runs ([[runs]] blocks)
    what: str  # what such a file is, for messages
    command: str  # the command that takes one, {} for its name

    def fits(self, content: dict[str, Any]) -> bool:
        """Whether ``content``'s top-level keys are of this format."""
        return set(content) <= set(self.keys) and ("runs" in content or not self.runs)


SOLVE_KEYS = ("name", "description", "train", "model", "runs")
# a sweep recipe serves as a preset too: its [train] and [model] tables, without its blocks' keys
PRESET = Format("preset", SOLVE_KEYS, False, "a preset", "pinnkan solve --preset {}")
SWEEP_RECIPE = Format(
    "recipe", SOLVE_KEYS, True, "a sweep recipe (a grid of PDE solves)", "pinnkan sweep {}"
)
FIT_RECIPE = Format(
    "recipe",
    ("description", "table", "fit", "model", "runs"),
    True,
    "a fit recipe (regression runs and their table)",
    "pinnkan fit --recipe {}",
)
FORMATS = (SWEEP_RECIPE, FIT_RECIPE, PRESET)  # the most specific first


def preset_files() -> dict[str, Any]:
    folder = resources.files("pinnkan.solvers")
    return {
        entry.name.removesuffix(".toml"): entry
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    }


def list_presets(recipes: bool = False) -> dict[str, str]:
    """``{name: description}`` of the shipped presets (``recipes=True``: the shipped grids of
    runs, files with ``[[runs]]`` blocks, for ``pinnkan sweep`` and ``pinnkan fit --recipe``)."""
    found = {name: load_preset(name) for name in sorted(preset_files())}
    return {
        name: content.get("description", "")
        for name, content in found.items()
        if ("runs" in content) == recipes
    }


def builtin_names(form: Format) -> list[str]:
    """The shipped files of format ``form`` (a preset: any file whose keys the format allows)."""
    files = {name: parse(entry.read_text(), name) for name, entry in preset_files().items()}
    return sorted(name for name, content in files.items() if form.fits(content))


def parse(text: str, name: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{name}: not valid TOML: {error}") from None


def load_preset(name: str, form: Format | None = None) -> dict[str, Any]:
    """A shipped preset by name, or a TOML file by path; with ``form``, its keys are checked
    (:func:`check_format`)."""
    files = preset_files()
    path = Path(name)
    if name in files:
        content = parse(files[name].read_text(), name)
    elif path.suffix == ".toml" and path.is_file():
        content = parse(path.read_text(), name)
    else:
        form = form or PRESET
        problem = "is not a .toml file" if path.exists() else "was not found"
        raise ValueError(
            f"{form.kind} {name!r} {problem}; built-in {form.kind}s: "
            f"{', '.join(builtin_names(form))}, or give the path of a .toml file"
            f"{built_in_hint(path, form)}"
        )
    if form is not None:
        check_kind(content, name, form)
        check_format(content, name, form)
    return content


def built_in_hint(path: Path, form: Format) -> str:
    """For a path that is not there but names a shipped file (``solvers/table2.toml`` outside
    the checkout): how to give that file by its name."""
    entry = preset_files().get(path.stem)
    if entry is None:
        return ""
    content = parse(entry.read_text(), path.stem)
    kind = form if form.fits(content) else next((f for f in FORMATS if f.fits(content)), None)
    return (
        ""
        if kind is None
        else f"; the built-in one is given by name: {kind.command.format(path.stem)}"
    )


def check_kind(content: dict[str, Any], name: str, form: Format) -> None:
    """A file of another format (a fit recipe given to ``pinnkan sweep`` …) is refused with the
    command that runs it, rather than with its first key the format does not define (a file
    with this format's keys but no ``[[runs]]`` is left to the caller's own message)."""
    if set(content) <= set(form.keys):
        return
    other = next((kind for kind in FORMATS if kind.fits(content)), None)
    if other is not None:
        raise ValueError(
            f"{form.kind} {name!r} is {other.what}, not {form.what}; "
            f"run it with: {other.command.format(name)}"
        )


def check_format(content: dict[str, Any], name: str, form: Format) -> None:
    """Top-level keys of the format, ``[model]`` keys that are some model's options, ``[train]``
    keys that are TrainConfig fields (but ``seed`` in a grid of runs); messages name the file (``preset 'my.toml' [train] …``)."""
    where = f"{form.kind} {name!r}"
    check_keys(where, content, form.keys)
    check_keys(f"{where} [model]", content.get("model", {}), known_model_options())
    if "train" in form.keys:
        from dataclasses import fields

        from .train_config import TrainConfig

        names = {f.name for f in fields(TrainConfig)} - ({"seed"} if form.runs else set())
        check_keys(f"{where} [train]", content.get("train", {}), names)  # a grid's seeds: --seeds


def check_keys(where: str, table: Any, allowed: Iterable[str]) -> None:
    """Every key of the table ``where`` is in ``allowed``; else one line naming the first other
    key and the allowed ones, e.g. ``[model] key='gird' is not known; allowed: …``."""
    if not isinstance(table, dict):
        raise ValueError(f"{where} must be a table of key = value lines, not {table!r}")
    allowed = sorted(allowed)
    for key in table:
        check_choice(f"{where} key", key, allowed)


def known_model_options() -> set[str]:
    """Every option of some registered model."""
    from .nn.build import list_models, model_options

    return {option for name in list_models() for option in model_options(name)}


def preset_train(preset: dict[str, Any], given: dict[str, Any]) -> Any:
    """``TrainConfig`` defaults, overridden by the preset's ``[train]`` table, overridden by
    ``given`` (the command line's flags, or a Python caller's values). A ``given`` optimizer
    other than the preset's takes its own default rate, not the preset's (Adam's 1e-3 made
    L-BFGS take steps of a thousandth), unless ``given`` sets ``lr`` too."""
    from dataclasses import fields

    from .train_config import TrainConfig

    names = [f.name for f in fields(TrainConfig)]
    table = preset.get("train", {})
    check_keys("[train]", table, names)
    check_keys("train", given, names)
    own = table.get("optimizer", TrainConfig.optimizer)
    if given.get("optimizer", own) != own and "lr" not in given:  # the preset's rate is its
        table = {key: value for key, value in table.items() if key != "lr"}  # optimizer's
    return TrainConfig(**{**table, **given})


def preset_model_options(
    preset: dict[str, Any], model: str, given: dict[str, Any]
) -> dict[str, Any]:
    """The preset's ``[model]`` options that ``model`` accepts (a preset serves every model),
    overridden by ``given`` (all of which must apply: checked when the model is built)."""
    from .nn.build import model_options

    accepted = model_options(model)
    from_preset = {k: v for k, v in preset.get("model", {}).items() if k in accepted}
    if "grid_range" in from_preset:
        from_preset["grid_range"] = tuple(from_preset["grid_range"])
    return {**from_preset, **given}
