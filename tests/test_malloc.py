"""``pinnkan.malloc``: freed blocks stay in the heap, so repeated steps stop faulting pages in.

The effect is measured, not assumed: a fresh interpreter allocates, fills and frees a 64 MiB
tensor again and again and counts its minor page faults (``getrusage``), with and without the
setting. Without it glibc maps each block anew (16,384 faults per 64 MiB), with it the pages
are reused (all of them once the heap has settled, which takes a few blocks at most).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pinnkan import malloc
from pinnkan.cli import main
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


def page_faults(**environment: str) -> dict:
    """Run :data:`FAULTS` in a fresh interpreter: whether the setting applied, and the faults."""
    env = {**os.environ, **environment}
    result = subprocess.run(
        [sys.executable, "-c", FAULTS], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(result.stdout.splitlines()[-1])


@glibc_only
def test_reuse_stops_repeated_blocks_from_faulting_pages_in() -> None:
    default = page_faults(PINNKAN_MALLOC="0")
    reuse = page_faults(PINNKAN_MALLOC="1")
    assert default["applied"] is False and default["setting"] == malloc.DEFAULT
    assert reuse["applied"] is True and reuse["setting"] == malloc.REUSE
    pages = 20 * (64 * 2**20) // 4096  # 20 blocks of 64 MiB in 4 KiB pages
    assert default["faults"] > pages / 2  # glibc maps every block anew
    # reused: 0 to 3 of the 20 blocks fault in over 8 runs (the heap settles), never most
    assert reuse["faults"] < pages / 4


def test_does_nothing_without_glibc(monkeypatch) -> None:
    monkeypatch.setattr(malloc, "_setting", malloc.DEFAULT)
    monkeypatch.setattr(malloc, "has_glibc", lambda: False)
    monkeypatch.setattr(malloc.ctypes, "CDLL", lambda *_: pytest.fail("mallopt was called"))
    assert malloc.reuse_freed_memory() is False
    assert malloc.malloc_setting() == malloc.DEFAULT


def test_pinnkan_malloc_0_turns_it_off(monkeypatch) -> None:
    monkeypatch.setattr(malloc, "_setting", malloc.DEFAULT)
    monkeypatch.setenv("PINNKAN_MALLOC", "0")
    monkeypatch.setattr(malloc.ctypes, "CDLL", lambda *_: pytest.fail("mallopt was called"))
    assert malloc.reuse_freed_memory() is False
    assert environment_info()["malloc"] == malloc.DEFAULT


def test_a_failed_mallopt_is_reported_as_not_in_force(monkeypatch) -> None:
    class Refusing:
        @staticmethod
        def mallopt(parameter: int, value: int) -> int:
            return 0

    monkeypatch.setattr(malloc, "_setting", malloc.DEFAULT)
    monkeypatch.setattr(malloc, "has_glibc", lambda: True)
    monkeypatch.setattr(malloc.ctypes, "CDLL", lambda *_: Refusing())
    assert malloc.reuse_freed_memory() is False
    assert malloc.malloc_setting() == malloc.DEFAULT


@glibc_only
def test_the_command_line_applies_it_and_run_files_record_it(monkeypatch, capsys) -> None:
    monkeypatch.setattr(malloc, "_setting", malloc.DEFAULT)
    monkeypatch.delenv("PINNKAN_MALLOC", raising=False)
    assert main(["list"]) == 0
    assert malloc.malloc_setting() == malloc.REUSE
    assert environment_info()["malloc"] == malloc.REUSE
    # a second call sets nothing again
    monkeypatch.setattr(malloc.ctypes, "CDLL", lambda *_: pytest.fail("mallopt was called twice"))
    assert malloc.reuse_freed_memory() is True
