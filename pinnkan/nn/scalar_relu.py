"""A ReLU meta-learner of scalar prompts, evaluated as the piecewise-linear function it is.

For p = 1 the meta-learner ``M(z) = W_2 relu(w z + b) + c`` (w, b ∈ R^h, W_2 ∈ R^{m×h},
c ∈ R^m) is piecewise linear in z, with a breakpoint ``t_k = −b_k/w_k`` per hidden unit. Unit k
is active (``w_k z + b_k > 0``) where

* w_k > 0 ("rising"): z > t_k;
* w_k < 0 ("falling"): z < t_k;
* w_k = 0: everywhere if b_k > 0 (a rising unit with t_k = −∞), nowhere otherwise (t_k = +∞).

The sorted breakpoints cut the line into h + 1 pieces; z lies on piece ``j(z) = #{k : t_k < z}``.
With ``r_k`` the rank of t_k, unit k is active on piece j iff ``r_k < j`` (rising) or ``r_k ≥ j``
(falling): a 0/1 matrix ``A (h + 1, h)``. (A falling unit is sorted by the float just below t_k,
so that at z = t_k exactly it is inactive, as relu(0) = 0.) On piece j, M is linear:

    M(z) = S_j z + T_j,    S = A diag(w) W_2ᵀ,    T = A diag(b) W_2ᵀ + 1 cᵀ     (each (h + 1, m)).

All E prompts then cost one ``searchsorted`` and a gather of two table rows each, O(E·m) next to
the O(h²·m) tables, instead of the dense MLP's O(E·h·m) (h = 128, m = 9 in the paper's setting),
and the ``(E, h)`` hidden activations are never stored.

The result equals the dense MLP up to floating-point round-off (summation order), and so do
its first and second derivatives, which autograd takes through the gather and the two small
matrix products (the breakpoints only choose the rows; relu'' = 0 away from them); at a kink,
as in ``torch.relu``, a unit counts as inactive.

Two implementations of the same function: :func:`scalar_relu_blocks_reference` in torch
operations (any device, any order of derivatives) and, on the CPU where numba is installed, the
compiled kernels of :mod:`pinnkan.nn.scalar_relu_numba` (one call forward, one backward, for all
of a meta-learner's layers); :func:`scalar_relu_blocks` picks one, and ``PINNKAN_NUMBA=0`` in the
environment turns the kernels off. Tests hold the two equal (values and gradients) to round-off.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

import torch
from torch import Tensor, nn

from ..kernels import (  # noqa: F401  (batched, torch_reference: used through this module)
    batched,
    compiled_module,
    forward_ad_active,
    functorch_active,
    kernel_applies,
    numba_enabled,
    torch_reference,
)


def breakpoints(weight: Tensor, bias: Tensor) -> Tensor:
    """Sort keys ``(h,)``: unit k is active iff ``key_k < z`` (rising) or ``key_k ≥ z`` (falling).

    ``key = t = −b/w`` for a rising unit (w = 0: −∞ if b > 0, else +∞) and the float just below
    t for a falling one (active iff z < t), so that z = t leaves both kinds inactive.
    """
    flat = torch.where(bias > 0, -torch.inf, torch.inf).to(weight.dtype)
    keys = torch.where(weight != 0, -bias / weight, flat)
    return torch.where(weight < 0, torch.nextafter(keys, keys.new_tensor(-torch.inf)), keys)


def active_units(keys: Tensor, falling: Tensor) -> tuple[Tensor, Tensor]:
    """Sorted keys ``(h,)`` and ``A[j, k]`` = [unit k active on piece j] ``(h + 1, h)``."""
    sorted_keys, order = keys.sort()
    rank = order.argsort()
    pieces = torch.arange(keys.shape[0] + 1, device=keys.device)
    below = rank < pieces[:, None]  # t_k is among the first j breakpoints
    return sorted_keys, torch.where(falling, ~below, below).to(keys.dtype)


def piece_tables(w: Tensor, b: Tensor, W2: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Sorted keys ``(h,)`` and the pieces' ``S``, ``T`` ``(h + 1, m)`` each.

    ``w, b (h,)`` are the hidden layer's weights and biases, ``W2 (m, h)`` and ``c (m,)`` the
    output layer's (a missing bias is a zero tensor).
    """
    fixed_weight, fixed_bias = w.detach(), b.detach()
    keys, active = active_units(breakpoints(fixed_weight, fixed_bias), fixed_weight < 0)
    slopes = (active * w) @ W2.t()
    intercepts = (active * b) @ W2.t() + c
    return keys, slopes, intercepts


def scalar_relu_blocks_reference(
    prompts: list[Tensor],
    scales: Sequence[float],
    W1: Tensor,
    b: Tensor,
    W2: Tensor,
    c: Tensor,
    means: Sequence[Tensor] = (),
) -> list[Tensor]:
    """``[s_l (W_2 relu(w z + b) + c) for z in prompts[l]]`` in torch operations.

    ``prompts[l] (..., 1)`` -> ``(..., m)``; ``W1 (h, 1)``, ``b (h,)``, ``W2 (m, h)``, ``c (m,)``;
    with node means ``means[l] (out_l, m)`` (prompts ``(out_l, in_l, 1)``), see
    :func:`node_centered`.
    """
    keys, slopes, intercepts = piece_tables(W1[:, 0], b, W2, c)
    z = torch.cat([prompt.reshape(-1) for prompt in prompts])
    rows = torch.searchsorted(keys, z)  # j(z)
    value = torch.addcmul(
        intercepts.index_select(0, rows), slopes.index_select(0, rows), z[:, None]
    )
    blocks = value.split([prompt.numel() for prompt in prompts])
    blocks = [
        scaled(block.view(*prompt.shape[:-1], -1), scale)
        for block, prompt, scale in zip(blocks, prompts, scales, strict=True)
    ]
    return node_centered(blocks, means) if means else blocks


def node_centered(blocks: list[Tensor], means: Sequence[Tensor]) -> list[Tensor]:
    """``w_ji − mean_i' w_ji' + a_j`` per block: ``blocks[l] (out, in, m)``, ``means[l] (out, m)``.

    Each node j's mean coefficient over its incoming edges is replaced by its own ``a_j``.
    """
    return [
        w - w.mean(dim=1, keepdim=True) + mean.unsqueeze(1)
        for w, mean in zip(blocks, means, strict=True)
    ]


def scaled(value: Tensor, scale: float) -> Tensor:
    """``scale · value``, without an operation for a factor of one."""
    return value if scale == 1.0 else value * scale


def scalar_relu_blocks(
    prompts: list[Tensor],
    scales: Sequence[float],
    hidden: nn.Linear,
    output: nn.Linear,
    means: Sequence[Tensor] | None = None,
) -> list[Tensor]:
    """``s_l (W_2 relu(w z + b) + c)`` for each block of scalar prompts ``prompts[l] (..., 1)``.

    Returns ``(..., m)`` per block. ``hidden`` is ``Linear(1, h)`` (w, b), ``output`` is
    ``Linear(h, m)`` (W_2, c), missing biases count as zero; ``scales[l]`` is a fixed factor (not
    differentiated). With node means ``means[l] (out_l, m)`` the prompts are ``(out_l, in_l, 1)``
    and each block is then :func:`node_centered`. On the CPU, in float32 or float64, the compiled
    kernels of :mod:`pinnkan.nn.scalar_relu_numba` run where numba is installed
    (``PINNKAN_NUMBA=0`` turns them off); elsewhere, and under ``torch.func`` transforms,
    ``torch.compile`` or forward-mode AD (``torch.autograd.forward_ad``), the torch operations.
    Both give the same values and derivatives to round-off.
    """
    W1, W2 = hidden.weight, output.weight
    b = hidden.bias if hidden.bias is not None else W1.new_zeros(W1.shape[0])
    c = output.bias if output.bias is not None else W2.new_zeros(W2.shape[0])
    means = list(means) if means is not None else []
    check_node_means(prompts, means, W2.shape[0])
    kernels = numba_kernels()
    if kernels is not None and kernel_applies([*prompts, *means, W1, b, W2, c]):
        return list(kernels.ScalarReluBlocks.apply(W1, b, W2, c, tuple(scales), *prompts, *means))
    return scalar_relu_blocks_reference(prompts, scales, W1, b, W2, c, means)


def check_node_means(prompts: list[Tensor], means: list[Tensor], m: int) -> None:
    """Node means, where given, are one ``(out_l, m)`` per block of prompts ``(out_l, in_l, 1)``."""
    if not means:
        return
    if len(means) != len(prompts):
        raise ValueError(f"got {len(means)} node-mean tensors for {len(prompts)} prompt blocks")
    for prompt, mean in zip(prompts, means, strict=True):
        if prompt.dim() != 3 or tuple(mean.shape) != (prompt.shape[0], m):
            raise ValueError(
                f"node means of shape {tuple(mean.shape)} do not fit prompts of shape "
                f"{tuple(prompt.shape)}: they must be (out, {m}) for prompts (out, in, 1)"
            )


def scalar_relu_mlp(z: Tensor, hidden: nn.Linear, output: nn.Linear) -> Tensor:
    """``W_2 relu(w z + b) + c`` for scalar prompts: ``z (..., 1)`` -> ``(..., m)``.

    The layers as in :func:`scalar_relu_blocks`.
    """
    return scalar_relu_blocks([z], [1.0], hidden, output)[0]


def numba_kernels() -> ModuleType | None:
    """:mod:`pinnkan.nn.scalar_relu_numba`, or None where numba is missing or ``PINNKAN_NUMBA=0``."""
    return import_numba_kernels() if numba_enabled() else None


def import_numba_kernels() -> ModuleType | None:
    """:mod:`pinnkan.nn.scalar_relu_numba` where it can be imported (:func:`compiled_module`)."""
    return compiled_module("pinnkan.nn.scalar_relu_numba")
