"""``pinnkan.malloc``: freed blocks stay in the heap, so repeated steps stop faulting pages in.

The effect is measured, not assumed: a fresh interpreter allocates, fills and frees a 64 MiB
tensor again and again and counts its minor page faults (``getrusage``), with and without the
setting. Without it glibc maps each block anew (16,384 faults per 64 MiB in 4 KiB pages, fewer
with huge pages), with it the pages are reused (all of them once the heap has settled, which
takes a few blocks at most). The test session itself runs with ``PINNKAN_MALLOC=0``
(``conftest.py``), so the checks of the command line run in child processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pinnkan import malloc
from pinnkan.environment import environment_info

glibc_only = pytest.mark.skipif(not malloc.has_glibc(), reason="mallopt needs Linux with glibc")

FAULTS = """
import json, resource, torch
from pinnkan.malloc import malloc_setting, reuse_freed_memory
applied = reuse_freed_memory()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):  # warm-up: the heap grows to the block's size once
    torch.ones(16 * 2**20).sum()
before = faults()
for _ in range(20):
    torch.ones(16 * 2**20).sum()
print(json.dumps({"applied": applied, "setting": malloc_setting(), "faults": faults() - before}))
"""

COMMAND_LINE = """
import json
from pinnkan.cli import main
from pinnkan.malloc import malloc_setting
from pinnkan.environment import environment_info
code = main(["list"])
print(json.dumps({"code": code, "setting": malloc_setting(),
                  "recorded": environment_info()["malloc"]}))
"""


def run_python(code: str, **environment: str) -> dict:
    """``code`` in a fresh interpreter, with the user's allocator settings removed from its
    environment and ``environment`` added; its last output line as JSON."""
    own = ("LD_PRELOAD", "GLIBC_TUNABLES", "PINNKAN_MALLOC", *malloc.MALLOC_VARIABLES)
    env = {key: value for key, value in os.environ.items() if key not in own}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**env, **environment}
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@glibc_only
def test_reuse_stops_repeated_blocks_from_faulting_pages_in() -> None:
    default = run_python(FAULTS, PINNKAN_MALLOC="0")
    reuse = run_python(FAULTS)
    assert default["applied"] is False and default["setting"] == malloc.DEFAULT
    assert reuse["applied"] is True and reuse["setting"] == malloc.REUSE
    assert default["faults"] >= 20  # glibc maps every block anew: at least a page each
    # reused: 0 to 3 of the 20 blocks faulted in over 8 runs (the heap settles), never most
    assert reuse["faults"] < default["faults"] / 4


@glibc_only
def test_the_command_line_applies_it_and_records_it() -> None:
    result = run_python(COMMAND_LINE)
    assert result == {"code": 0, "setting": malloc.REUSE, "recorded": malloc.REUSE}
    assert run_python(COMMAND_LINE, PINNKAN_MALLOC="0")["recorded"] == malloc.DEFAULT


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LD_PRELOAD", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"),
        ("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1"),
        ("MALLOC_ARENA_MAX", "2"),
    ],
)
def test_the_users_own_allocator_setting_is_left_alone(monkeypatch, variable, value) -> None:
    monkeypatch.setattr(malloc, "_setting", malloc.DEFAULT)
    monkeypatch.delenv("PINNKAN_MALLOC", raising=False)
    monkeypatch.setenv(variable, value)
    monkeypatch.setattr(malloc, "load_mallopt", lambda: pytest.fail("mallopt was called"))
    assert malloc.reuse_freed_memory() is False
    assert malloc.malloc_setting() == f"user ({variable}={value})"


def test_does_nothing_without_glibc(monkeypatch) -> None:
    monkeypatch.setattr(malloc, "_setting", malloc.DEFAULT)
    monkeypatch.delenv("PINNKAN_MALLOC", raising=False)
    monkeypatch.setattr(malloc.sys, "platform", "darwin")
    monkeypatch.setattr(malloc, "load_mallopt", lambda: pytest.fail("mallopt was called"))
    assert malloc.has_glibc() is False
    assert malloc.reuse_freed_memory() is False
    assert malloc.malloc_setting() == malloc.DEFAULT


def test_pinnkan_malloc_0_turns_it_off(monkeypatch) -> None:
    monkeypatch.setattr(malloc, "_setting", malloc.DEFAULT)
    monkeypatch.setenv("PINNKAN_MALLOC", "0")
    monkeypatch.setattr(malloc, "load_mallopt", lambda: pytest.fail("mallopt was called"))
    assert malloc.reuse_freed_memory() is False
    assert environment_info()["malloc"] == malloc.DEFAULT


@pytest.mark.parametrize(
    ("accepted", "in_force", "setting"),
    [
        ((1, 1), True, malloc.REUSE),
        ((0, 0), False, malloc.DEFAULT),
        ((1, 0), False, "partial (M_MMAP_MAX=0: True, M_TRIM_THRESHOLD=1 GiB: False)"),
        ((0, 1), False, "partial (M_MMAP_MAX=0: False, M_TRIM_THRESHOLD=1 GiB: True)"),
    ],
)
def test_what_glibc_accepted_is_what_is_recorded(monkeypatch, accepted, in_force, setting) -> None:
    calls = []

    def mallopt(parameter: int, value: int) -> int:
        calls.append((parameter, value))
        return accepted[len(calls) - 1]

    monkeypatch.setattr(malloc, "_setting", malloc.DEFAULT)
    monkeypatch.delenv("PINNKAN_MALLOC", raising=False)
    for variable in ("LD_PRELOAD", "GLIBC_TUNABLES", *malloc.MALLOC_VARIABLES):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(malloc, "has_glibc", lambda: True)
    monkeypatch.setattr(malloc, "load_mallopt", lambda: mallopt)
    assert malloc.reuse_freed_memory() is in_force
    assert calls == [(malloc.M_MMAP_MAX, 0), (malloc.M_TRIM_THRESHOLD, 1 << 30)]
    assert malloc.malloc_setting() == setting
    if in_force:  # a second call sets nothing again
        assert malloc.reuse_freed_memory() is True
        assert len(calls) == 2


def test_a_missing_mallopt_leaves_the_default(monkeypatch) -> None:
    monkeypatch.setattr(malloc, "_setting", malloc.DEFAULT)
    monkeypatch.delenv("PINNKAN_MALLOC", raising=False)
    monkeypatch.setattr(malloc, "has_glibc", lambda: True)
    monkeypatch.setattr(malloc, "user_allocator_choice", lambda: None)
    monkeypatch.setattr(malloc, "load_mallopt", lambda: None)
    assert malloc.reuse_freed_memory() is False
    assert malloc.malloc_setting() == malloc.DEFAULT


def test_the_benchmark_child_times_training_steps_and_the_summary_divides() -> None:
    from benchmarks.malloc_reuse import child, summary_line

    result = child(dim=3, model_name="kan", points=5, steps=2, seed=0)
    assert result["setting"] == malloc.DEFAULT  # PINNKAN_MALLOC=0 in the test session
    assert len(result["wall_ms"]) == len(result["cpu_ms"]) == len(result["faults"]) == 2
    assert all(t > 0 for t in result["wall_ms"]) and result["max_rss_mb"] > 0

    def run(wall: list[float], faults: list[int], rss: float) -> dict:
        return {"wall_ms": wall, "cpu_ms": wall, "faults": faults, "max_rss_mb": rss}

    runs = {
        "default": [run([10.0, 12.0], [100, 300], 500.0), run([14.0], [200], 520.0)],
        "reuse": [run([6.0, 6.0], [1, 1], 600.0), run([6.0], [3], 610.0)],
    }
    line = summary_line(1000, "kan", runs)
    assert "12.0 / 6.0 (0.50)" in line  # medians over every step of every round
    assert "200 / 1" in line and line.endswith("520 / 610")
