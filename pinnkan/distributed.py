"""Data-parallel training with ``torch.distributed`` (launched by ``torchrun``).

Each process draws its own collocation points (its share of the total), computes the loss on
them, and gradients and loss values are averaged over processes after every backward, so all
processes take identical optimizer steps (L-BFGS line searches included). Only rank 0 writes run
files and prints progress. Without ``torchrun`` (no ``WORLD_SIZE`` in the environment) every
function here is a no-op for a single process.

    torchrun --nproc_per_node=2 -m pinnkan solve --problem poisson --dim 10 --device cpu ...
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import torch
import torch.distributed as dist


def launched() -> bool:
    """True when started by torchrun with more than one process."""
    return environment_int("WORLD_SIZE", 1) > 1


def environment_int(name: str, default: int) -> int:
    """An integer environment variable of torchrun's; ``default`` where unset or not a number."""
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's rank (from the environment before the group is joined or after it ends);
    0 outside torchrun, whatever ``RANK`` another tool set."""
    if active():
        return dist.get_rank()
    return environment_int("RANK", 0) if launched() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    return rank() == 0


def setup(device: torch.device) -> torch.device:
    """Join the process group (gloo on CPU, nccl on CUDA); returns this process's device."""
    if not launched() or active():
        return device
    if device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return device


def teardown() -> None:
    if active():
        dist.destroy_process_group()


def share(total: int) -> int:
    """This process's part of ``total`` points (the first ranks take the remainder)."""
    base, extra = divmod(total, world_size())
    return base + (1 if rank() < extra else 0)


def broadcast_parameters(parameters: Iterable[torch.Tensor]) -> None:
    """Start every process from rank 0's parameters."""
    if active():
        for tensor in parameters:
            dist.broadcast(tensor.data, src=0)


def average_gradients(parameters: Iterable[torch.nn.Parameter]) -> None:
    """g ← (1/P) Σ_p g_p for every parameter (one all-reduce per tensor): every process weighs
    alike, so shares of unequal size (points not divisible by P) are off by their imbalance."""
    if not active():
        return
    size = world_size()
    for parameter in parameters:
        if parameter.grad is not None:
            dist.all_reduce(parameter.grad, op=dist.ReduceOp.SUM)
            parameter.grad /= size


def average(value: torch.Tensor) -> torch.Tensor:
    """The mean of a (detached) tensor over processes."""
    if not active():
        return value
    total = value.detach().clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total / world_size()


def gather(value: object) -> list[object]:
    """``value`` of every process, in rank order (``[value]`` in a single process); every
    process must call it."""
    if not active():
        return [value]
    values: list[object] = [None] * world_size()
    dist.all_gather_object(values, value)
    return values


def any_process(flag: bool, device: torch.device) -> bool:
    """True if ``flag`` is True on any process (used to stop all processes together)."""
    if not active():
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)
