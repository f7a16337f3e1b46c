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


def test_the_source_distribution_carries_what_its_tests_and_readme_use(tmp_path, monkeypatch):
    """The sdist lacked tests/conftest.py and the tests' helper modules (9 test modules could
    not be collected from it), benchmarks/ (imported by tests), examples/ (the README's), the
    Makefile, environment.yml and any licence text."""
    import tarfile

    import setuptools.build_meta as backend

    monkeypatch.chdir(ROOT)
    name = backend.build_sdist(str(tmp_path))
    with tarfile.open(tmp_path / name) as archive:
        names = [member.name for member in archive.getmembers() if member.isfile()]
    files = {name.split("/", 1)[1] for name in names}
    needed = {
        "LICENSE", "Makefile", "environment.yml", "tests/conftest.py", "tests/cli_errors.py",
        "tests/fit_helpers.py", "benchmarks/width_floor.py", "examples/helmholtz.py",
    }  # fmt: skip
    assert needed <= files, sorted(needed - files)
    tracked = tracked_files()
    if tracked is not None:  # a git checkout: nothing but its tracked files and the metadata
        made = {"PKG-INFO", "setup.cfg"}
        extra = {file for file in files - tracked - made if ".egg-info/" not in file}
        assert not extra, sorted(extra)[:10]  # e.g. results/runs/*.h5, the user's own runs
    metadata = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert metadata["license"] == "MIT" and metadata["license-files"] == ["LICENSE"]


def tracked_files() -> set[str] | None:
    """The files git tracks in this checkout (None outside one, e.g. in an unpacked sdist)."""
    import subprocess

    try:
        listed = subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return set(listed.stdout.splitlines())
