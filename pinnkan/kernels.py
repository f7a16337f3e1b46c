"""When the compiled CPU kernels (numba) may run instead of torch operations.

pinnkan has four: the MetaKAN coefficient generation (:mod:`pinnkan.nn.scalar_relu_numba`), the
B-spline basis with its derivatives (:mod:`pinnkan.basis.bspline_numba`), the per-edge
contraction (:mod:`pinnkan.basis.per_edge_numba`) and the Rademacher signs of the Hutchinson
probes (:mod:`pinnkan.signs_numba`). Each computes the
same function as a torch reference and runs only where it can be exact and where numpy can view
the data: on the CPU, in float32 or float64, outside ``torch.func`` transforms, forward-mode AD
and ``torch.compile``, and with ``PINNKAN_NUMBA`` not set to 0 (:func:`torch_reference` turns
them off for a block of code). Their disk cache is locked across processes
(:mod:`pinnkan.numba_cache`).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib
import os
from collections.abc import Iterator
from types import ModuleType

import numpy as np
import torch
from torch import Tensor


@functools.cache
def compiled_module(name: str) -> ModuleType | None:
    """The kernel module ``name`` (e.g. ``"pinnkan.basis.bspline_numba"``), imported once, or
    None where numba is missing, too old or too new for this numpy, or cannot cache its compiled
    kernels (no writable package folder or home)."""
    try:
        return importlib.import_module(name)
    except (ImportError, RuntimeError):
        return None


def array(tensor: Tensor) -> np.ndarray:
    """A C-contiguous numpy view of a CPU tensor, outside autograd (a copy if it is strided):
    what the kernels read and write."""
    return np.ascontiguousarray(tensor.numpy(force=True))


def numba_enabled() -> bool:
    """False where ``PINNKAN_NUMBA=0`` is set (the torch references run everywhere)."""
    return os.environ.get("PINNKAN_NUMBA", "1") != "0"


def kernel_applies(tensors: list[Tensor]) -> bool:
    """Whether the compiled kernels can take these tensors (CPU, one float dtype, plain autograd:
    no ``torch.func`` transform, ``torch.compile`` or forward-mode AD running)."""
    dtype = tensors[0].dtype
    return (
        dtype in (torch.float32, torch.float64)
        and all(t.is_cpu and t.dtype == dtype for t in tensors)
        and not functorch_active()
        and not forward_ad_active()
        and not torch.compiler.is_compiling()
    )


def functorch_active() -> bool:
    """Whether a ``torch.func`` transform (grad, vmap, jacrev, …) is running."""
    return bool(getattr(torch._C, "_are_functorch_transforms_active", lambda: False)())


def batched(tensor: Tensor) -> bool:
    """Whether ``tensor`` is a batch of tensors in one: inside ``vmap`` or a batched backward
    (``is_grads_batched``, ``jacobian(vectorize=True)``), whose data numpy cannot view."""
    functorch = torch._C._functorch
    return functorch_active() or any(
        getattr(functorch, check, lambda _: False)(tensor)
        for check in ("is_batchedtensor", "is_legacy_batchedtensor")
    )


def forward_ad_active() -> bool:
    """Whether a ``torch.autograd.forward_ad.dual_level`` is open (dual tensors may be about)."""
    return getattr(torch.autograd.forward_ad, "_current_level", -1) >= 0


@contextlib.contextmanager
def torch_reference() -> Iterator[None]:
    """Generate with the torch operations inside the block (as ``PINNKAN_NUMBA=0`` does)."""
    before = os.environ.get("PINNKAN_NUMBA")
    os.environ["PINNKAN_NUMBA"] = "0"
    try:
        yield
    finally:
        if before is None:
            del os.environ["PINNKAN_NUMBA"]
        else:
            os.environ["PINNKAN_NUMBA"] = before


RECURSION_ONLY = contextvars.ContextVar("pinnkan_recursion_only", default=False)


@contextlib.contextmanager
def basis_recursion() -> Iterator[None]:
    """The B-spline basis by the torch recursion inside the block (the kernels' backward cannot
    be differentiated again, so code that takes second derivatives in x, like the ``autograd``
    Laplacian engine, builds the recursion's graph directly rather than through the kernels'
    torch fallback, which costs a third more there)."""
    token = RECURSION_ONLY.set(True)
    try:
        yield
    finally:
        RECURSION_ONLY.reset(token)
