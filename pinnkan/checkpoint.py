"""Resume state of a run file's ``/checkpoint``: optimizer / scheduler / RNG state as bytes.

:func:`serialize_state` and :func:`deserialize_state` turn nested dicts, lists and tensors into
``torch.save`` bytes and back (loaded with ``weights_only=True`` unless told otherwise);
:func:`capture_rng_state` and :func:`restore_rng_state` save and restore every global random
number generator plus named ``torch.Generator`` objects, in weights-only-loadable form.
"""

from __future__ import annotations

import io
import pickle
import random
import re
from typing import Any

import numpy as np
import torch


def serialize_state(state: Any) -> bytes:
    """``torch.save`` bytes of optimizer / scheduler / RNG state (nested dicts, lists, tensors)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def deserialize_state(data: bytes, allow_pickle: bool = False) -> Any:
    """Inverse of :func:`serialize_state`, loaded with ``weights_only=True`` onto the CPU.

    Objects outside torch's weights-only allowlist raise ValueError unless ``allow_pickle``
    (only for files you trust: unpickling can run code).
    """
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if not allow_pickle:
            raise UnsafeStateError(
                f"its checkpoint holds objects outside torch's weights-only allowlist "
                f"({blocked_global(error)}); read it with allow_pickle=True only if you trust "
                "the file (unpickling can run code)"
            ) from error
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)


class UnsafeStateError(ValueError):
    """A checkpoint that only a full unpickling reads: intact, but not loaded by default."""


def blocked_global(error: BaseException) -> str:
    """The type torch's weights-only loader refused (``fractions.Fraction``), from its long,
    ANSI-coloured message; else the message's first words."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    return found.group(1) if found else " ".join(text.split())[:120] or type(error).__name__


def capture_rng_state(generators: dict[str, torch.Generator] | None = None) -> dict[str, Any]:
    """States of the torch (CPU, CUDA), numpy and Python global RNGs and of named generators.

    Only tensors, ints, floats, str and tuples: loadable with ``weights_only=True``.
    """
    numpy_state = np.random.get_state(legacy=False)
    numpy_state["state"]["key"] = torch.from_numpy(numpy_state["state"]["key"].astype(np.int64))
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if cuda else [],
        "numpy": numpy_state,
        "python": random.getstate(),
        "generators": {name: g.get_state() for name, g in (generators or {}).items()},
    }


def restore_rng_state(
    state: dict[str, Any], generators: dict[str, torch.Generator] | None = None
) -> None:
    """Inverse of :func:`capture_rng_state`; each named generator must be in ``state``.

    CUDA states are restored on the GPUs that this machine shares with the one that saved them
    (a run may resume on fewer GPUs or on the CPU).
    """
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():  # the GPUs both machines have
        for index, cuda_state in enumerate(state["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state, index)
    numpy_state = {**state["numpy"], "state": dict(state["numpy"]["state"])}
    numpy_state["state"]["key"] = numpy_state["state"]["key"].numpy().astype(np.uint32)
    np.random.set_state(numpy_state)
    random.setstate(state["python"])
    for name, generator in (generators or {}).items():
        if name not in state["generators"]:
            raise ValueError(f"generator {name!r} is not in the saved RNG state")
        generator.set_state(state["generators"][name])
