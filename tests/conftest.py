"""Shared test setup: one torch thread, glibc's default malloc.

Tests run many tiny operations (gradcheck, small nets); with several OpenMP threads on a small,
shared machine, threads spin-wait on each other and a 0.3 s test can take a minute.

``PINNKAN_MALLOC=0``: the command line, run in-process by many tests, would otherwise switch the
whole test process to heap reuse (``pinnkan.malloc``, process-wide and not undoable), so that
later tests saw another allocator depending on their order; ``tests/test_malloc.py`` checks the
setting in child processes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def single_torch_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True, scope="session")
def default_malloc() -> Iterator[None]:
    previous = os.environ.get("PINNKAN_MALLOC")
    os.environ["PINNKAN_MALLOC"] = "0"
    yield
    if previous is None:
        del os.environ["PINNKAN_MALLOC"]
    else:
        os.environ["PINNKAN_MALLOC"] = previous
