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
    """σ' = σ(z)σ(−z) (= σ(1 − σ) without its cancellation at large z), σ'' = σ'(1 − 2σ)."""
    s = torch.sigmoid(z)
    first = s * torch.sigmoid(-z)
    return s, first, first * (1 - 2 * s)


SOFTPLUS_THRESHOLD = 20.0  # torch's softplus is z itself above it (its default threshold)


def softplus_derivatives(z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """softplus' = σ(z), softplus'' = σ(z)σ(−z), and 1, 0 above torch's threshold 20, where
    the function computed is z itself (the closed forms gave 7.6e-10 there, autograd 0)."""
    linear = z > SOFTPLUS_THRESHOLD
    s = torch.sigmoid(z)
    first = torch.where(linear, torch.ones_like(s), s)
    second = torch.where(linear, torch.zeros_like(s), s * torch.sigmoid(-z))
    return torch.nn.functional.softplus(z), first, second


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
