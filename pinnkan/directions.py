"""Directions of a second-order operator: exact, SDGD and Hutchinson.

A :class:`Directions` holds v_1 … v_K ∈ R^d and one weight w; the engines compute

    L u = w Σ_k v_kᵀ ∇²u v_k,

which is the exact Laplacian Δu for v_k = e_k, k = 1 … d (w = 1), SDGD's unbiased estimate
for a random subset S of |S| = K coordinates drawn without replacement (v_k = e_{S_k},
w = d/K, one subset shared by the batch) and Hutchinson's unbiased estimate for K Rademacher
probes v_k ∈ {−1, 1}^d per point (w = 1/K). :func:`draw_directions` draws them.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from .device import sampling_device


class Directions(NamedTuple):
    """Directions v_k ∈ R^d and weight w of the operator ``L u = w Σ_k v_kᵀ ∇²u v_k``.

    Attributes:
        dim: d.
        weight: w.
        coordinates: ``(K,)`` indices, v_k = e_{S_k}; None (with ``vectors`` None) means all d
            coordinates, the exact Laplacian.
        vectors: ``(batch, K, d)`` dense directions, one set per point (Hutchinson probes).
    """

    dim: int
    weight: float
    coordinates: Tensor | None = None
    vectors: Tensor | None = None

    @property
    def count(self) -> int:
        """K, the number of directions."""
        if self.vectors is not None:
            return self.vectors.shape[1]
        return self.dim if self.coordinates is None else self.coordinates.numel()

    def rows(self, part: slice) -> Directions:
        """The directions of the points ``part`` (only per-point vectors depend on the point)."""
        if self.vectors is None:
            return self
        return self._replace(vectors=self.vectors[part])

    def trace(self) -> float | Tensor:
        """``w Σ_k |v_k|²`` (L applied to |x|²/2): a float, or ``(batch,)`` for vectors."""
        if self.vectors is None:
            return self.weight * self.count
        return self.weight * self.vectors.pow(2).sum(dim=(1, 2))

    def along_inputs(self, x: Tensor) -> Tensor:
        """``w Σ_k (v_k·x) v_k`` for dense vectors: ``(batch, d)``."""
        projections = (self.vectors @ x.unsqueeze(-1)).squeeze(-1)  # (batch, K)
        return self.weight * (projections.unsqueeze(1) @ self.vectors).squeeze(1)


def draw_directions(
    method: str, x: Tensor, samples: int | None, generator: torch.Generator | None
) -> Directions:
    """The directions of ``method`` for points ``x (batch, d)``, drawn from ``generator``."""
    batch, dim = x.shape
    device = sampling_device(generator, x.device)
    if method == "sdgd":
        subset = torch.randperm(dim, generator=generator, device=device)[:samples]
        return Directions(dim, dim / samples, coordinates=subset.to(x.device))
    if method == "hutchinson":
        shape = (batch, samples, dim)
        bits = torch.randint(0, 2, shape, generator=generator, device=device, dtype=torch.int8)
        bits = bits.to(x.device)  # one byte per entry crosses to a GPU, not four or eight
        probes = (2 * bits - 1).to(x.dtype)
        return Directions(dim, 1.0 / samples, vectors=probes)
    return Directions(dim, 1.0)
