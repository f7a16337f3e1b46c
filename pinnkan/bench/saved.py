"""Deterministic memory measure for CPU benchmarks: bytes autograd keeps for the backward pass."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def saved_for_backward_bytes(loss: Callable[[], Tensor], exclude: set[int]) -> int:
    """Bytes of the distinct storages autograd saves while ``loss()`` is built (storages whose
    data pointer is in ``exclude``, e.g. the parameters, are not counted); then runs backward."""
    storages: dict[int, int] = {}

    def pack(tensor: Tensor) -> Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in exclude:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        value = loss()
    total = sum(storages.values())
    value.backward()
    return total
