"""Scalar activations with closed-form first and second derivatives (MLP and meta-learner).

Each entry maps a name to an :class:`Activation`: the plain function (for the forward pass) and
``derivatives(z) -> (σ, σ', σ'')`` (for the forward Laplacian engine).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from ..basis.silu import silu_derivatives


def tanh_derivatives(z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """tanh' = 1 − tanh², tanh'' = −2 tanh (1 − tanh²)."""
    t = torch.tanh(z)
    first = 1 - t**2
    return t, first, -2 * t * first


def sin_derivatives(z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    s = torch.sin(z)
    return s, torch.cos(z), -s


def sigmoid_derivatives(z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """σ' = σ(1 − σ), σ'' = σ(1 − σ)(1 − 2σ)."""
    s = torch.sigmoid(z)
    first = s * (1 - s)
    return s, first, first * (1 - 2 * s)


def softplus_derivatives(z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """softplus' = sigmoid, softplus'' = sigmoid (1 − sigmoid)."""
    s = torch.sigmoid(z)
    return torch.nn.functional.softplus(z), s, s * (1 - s)


class Activation(NamedTuple):
    function: Callable[[Tensor], Tensor]
    derivatives: Callable[[Tensor], tuple[Tensor, Tensor, Tensor]]


ACTIVATIONS: dict[str, Activation] = {
    "tanh": Activation(torch.tanh, tanh_derivatives),
    "silu": Activation(torch.nn.functional.silu, silu_derivatives),
    "sin": Activation(torch.sin, sin_derivatives),
    "sigmoid": Activation(torch.sigmoid, sigmoid_derivatives),
    "softplus": Activation(torch.nn.functional.softplus, softplus_derivatives),
}

# Activations usable inside a meta-learner (no derivatives needed: it never sees x).
META_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "silu": torch.nn.functional.silu,
    "sigmoid": torch.sigmoid,
}


def check_activation(name: str, table: dict, option: str) -> None:
    """Raise ``ValueError`` naming ``option=name`` and the allowed names if ``name`` is unknown."""
    if name not in table:
        raise ValueError(f"{option}={name!r} is not known; allowed: {', '.join(table)}")
