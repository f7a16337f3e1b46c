"""`pip install .` (not only editable) must ship every subpackage, problem and recipe."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def declared() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return set(config["packages"])


def test_every_subpackage_of_pinnkan_is_declared() -> None:
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "pinnkan").rglob("__init__.py")
    }
    assert found <= declared(), f"missing from pyproject packages: {sorted(found - declared())}"


def test_problems_and_solvers_ship_inside_pinnkan() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["package-dir"]["pinnkan.problems"] == "problems"
    assert config["package-dir"]["pinnkan.solvers"] == "solvers"
    assert {"pinnkan.problems", "pinnkan.solvers"} <= declared()
    assert "*.toml" in config["package-data"]["pinnkan.solvers"]
    assert "*.csv" in config["package-data"]["pinnkan.problems"]
