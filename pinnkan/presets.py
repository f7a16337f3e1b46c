"""Run recipes ("presets") kept as TOML files in ``solvers/`` (shipped as ``pinnkan.solvers``).

A preset has a ``description``, a ``[train]`` table (fields of :class:`pinnkan.train.TrainConfig`)
and a ``[model]`` table (model options, applied only to models that accept them). Command-line
flags override preset values.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any


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


def parse(text: str, name: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{name}: not valid TOML: {error}") from None


def load_preset(name: str) -> dict[str, Any]:
    """A shipped preset by name, or a TOML file by path."""
    files = preset_files()
    if name in files:
        return parse(files[name].read_text(), name)
    path = Path(name)
    if path.suffix == ".toml" and path.is_file():
        return parse(path.read_text(), name)
    raise ValueError(
        f"preset {name!r} is not known; allowed: {', '.join(sorted(files))} or a .toml file"
    )
