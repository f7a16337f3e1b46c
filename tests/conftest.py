"""Shared test setup: one torch thread.

Tests run many tiny operations (gradcheck, small nets); with several OpenMP threads on a small,
shared machine, threads spin-wait on each other and a 0.3 s test can take a minute.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def single_torch_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
