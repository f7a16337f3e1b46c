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
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


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


def piece_tables(hidden: nn.Linear, output: nn.Linear) -> tuple[Tensor, Tensor, Tensor]:
    """Sorted keys ``(h,)`` and the pieces' ``S``, ``T`` ``(h + 1, m)`` each.

    ``hidden`` is ``Linear(1, h)`` (w, b), ``output`` is ``Linear(h, m)`` (W_2, c); missing
    biases count as zero.
    """
    weight = hidden.weight[:, 0]
    bias = hidden.bias if hidden.bias is not None else torch.zeros_like(weight)
    fixed_weight, fixed_bias = weight.detach(), bias.detach()
    keys, active = active_units(breakpoints(fixed_weight, fixed_bias), fixed_weight < 0)
    slopes = (active * weight) @ output.weight.t()
    intercepts = (active * bias) @ output.weight.t()
    if output.bias is not None:
        intercepts = intercepts + output.bias
    return keys, slopes, intercepts


def scalar_relu_mlp(z: Tensor, hidden: nn.Linear, output: nn.Linear) -> Tensor:
    """``W_2 relu(w z + b) + c`` for scalar prompts: ``z (E, 1)`` -> ``(E, m)``.

    The layers as in :func:`piece_tables`.
    """
    keys, slopes, intercepts = piece_tables(hidden, output)
    rows = torch.searchsorted(keys, z.reshape(-1))  # j(z)
    return torch.addcmul(intercepts.index_select(0, rows), slopes.index_select(0, rows), z)
