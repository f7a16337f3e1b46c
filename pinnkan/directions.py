"""Directions of a second-order operator: exact, SDGD and Hutchinson.

A :class:`Directions` holds v_1 … v_K ∈ R^d and one weight w; the engines compute

    L u = w Σ_k v_kᵀ ∇²u v_k,

which is the exact Laplacian Δu for v_k = e_k, k = 1 … d (w = 1), SDGD's unbiased estimate
for a random subset S of |S| = K coordinates drawn without replacement (v_k = e_{S_k},
w = d/K, one subset shared by the batch) and Hutchinson's unbiased estimate for K Rademacher
probes v_k ∈ {−1, 1}^d per point (w = 1/K). :func:`draw_directions` draws them.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from .device import sampling_device
from .kernels import compiled_module, kernel_applies, numba_enabled

# random bits used per int64 word for Rademacher signs: torch.randint(0, 2^62) is uniform on
# [0, 2^62) (a power-of-two range: no modulo bias), so its 62 low bits are independent fair coins
SIGN_BITS = 62


class PackedSigns(NamedTuple):
    """Rademacher signs of ``shape`` kept as the drawn words (8 bytes per 62 signs), unpacked
    a block of rows at a time (:meth:`Directions.rows`): a batch's probes in float32 are
    batch·K·d·4 bytes, 320 MB at 1,000 points, K = 16, d = 5,000."""

    words: Tensor
    shape: tuple[int, int, int]
    dtype: torch.dtype

    def rows(self, start: int, stop: int) -> Tensor:
        """The signs of points ``start … stop − 1``, ``(stop − start, K, d)``."""
        per_row = self.shape[1] * self.shape[2]
        first, count = start * per_row, (stop - start) * per_row
        skip = first % SIGN_BITS
        block = self.words[first // SIGN_BITS : -(-(first + count) // SIGN_BITS)]
        flat = unpack_signs(block, skip + count, self.dtype)[skip:]
        return flat.view(stop - start, *self.shape[1:])


class Directions(NamedTuple):
    """Directions v_k ∈ R^d and weight w of the operator ``L u = w Σ_k v_kᵀ ∇²u v_k``.

    Attributes:
        dim: d.
        weight: w.
        coordinates: ``(K,)`` indices, v_k = e_{S_k}; None (with no vectors) means all d
            coordinates, the exact Laplacian.
        vectors: ``(batch, K, d)`` dense directions, one set per point (Hutchinson probes).
        packed: the same probes still packed (:class:`PackedSigns`), as drawn; :meth:`rows`
            unpacks a chunk's.
    """

    dim: int
    weight: float
    coordinates: Tensor | None = None
    vectors: Tensor | None = None
    packed: PackedSigns | None = None

    @property
    def per_point(self) -> bool:
        """Whether each point has its own directions (Hutchinson), not one shared set."""
        return self.vectors is not None or self.packed is not None

    @property
    def count(self) -> int:
        """K, the number of directions."""
        if self.vectors is not None:
            return self.vectors.shape[1]
        if self.packed is not None:
            return self.packed.shape[1]
        return self.dim if self.coordinates is None else self.coordinates.numel()

    def rows(self, part: slice) -> Directions:
        """The directions of the points ``part`` (only per-point vectors depend on the point),
        packed probes unpacked for those points only."""
        if self.packed is not None:
            start, stop, _ = part.indices(self.packed.shape[0])
            return self._replace(vectors=self.packed.rows(start, stop), packed=None)
        if self.vectors is None:
            return self
        return self._replace(vectors=self.vectors[part])

    def trace(self) -> float | Tensor:
        """``w Σ_k |v_k|²`` (L applied to |x|²/2): a float, or ``(batch,)`` for vectors."""
        if self.packed is not None:
            return self.rows(slice(None)).trace()
        if self.vectors is None:
            return self.weight * self.count
        return self.weight * self.vectors.pow(2).sum(dim=(1, 2))

    def along_inputs(self, x: Tensor) -> Tensor:
        """``w Σ_k (v_k·x) v_k`` for dense vectors: ``(batch, d)``."""
        if self.packed is not None:
            return self.rows(slice(None)).along_inputs(x)
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
        words = rademacher_words(math.prod(shape), generator, x.device)
        return Directions(dim, 1.0 / samples, packed=PackedSigns(words, shape, x.dtype))
    return Directions(dim, 1.0)


def rademacher(
    shape: tuple[int, ...],
    generator: torch.Generator | None,
    device: torch.device,
    dtype: torch.dtype,
) -> Tensor:
    """Independent signs ±1 (probability ½ each) of ``shape`` on ``device``.

    Entry e (row-major) is ``2·bit − 1`` for bit e mod 62 of word ⌊e/62⌋ of ⌈n/62⌉ random
    words drawn from ``generator`` on its own device (:func:`pinnkan.device.sampling_device`):
    one draw per 62 signs instead of one per sign, so a seed gives the same signs on every
    device, and 8 bytes per 62 signs cross to a GPU. On the CPU the compiled kernel
    (:mod:`pinnkan.signs_numba`) unpacks the bits in one pass: 100 × 16 × 1000 probes (a
    Hutchinson step at d = 1000) in 1.4 ms, against 8.2 ms for one ``torch.randint`` draw per
    sign; elsewhere, torch operations give the same signs (5.3 ms for those on the CPU).
    """
    count = math.prod(shape)
    return unpack_signs(rademacher_words(count, generator, device), count, dtype).view(shape)


def rademacher_words(count: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """The ⌈count/62⌉ random int64 words of ``count`` signs, drawn on the generator's device
    and moved to ``device``."""
    draw_on = sampling_device(generator, device)
    return torch.randint(
        0, 2**SIGN_BITS, (-(-count // SIGN_BITS),), generator=generator, device=draw_on
    ).to(device)


def unpack_signs(words: Tensor, count: int, dtype: torch.dtype) -> Tensor:
    """The first ``count`` signs ±1 of ``words``, ``(count,)`` of ``dtype``: the compiled kernel
    on the CPU, torch operations elsewhere (the same signs)."""
    kernels = compiled_module("pinnkan.signs_numba") if numba_enabled() else None
    if kernels is not None and words.is_cpu:
        signs = torch.empty(count, dtype=dtype, device="cpu")
        if kernel_applies([signs]):
            kernels.unpack_signs(words.numpy(), SIGN_BITS, signs.numpy())
            return signs
    return unpacked_signs(words, count).to(dtype).mul_(2).sub_(1)


def unpacked_signs(words: Tensor, count: int) -> Tensor:
    """The first ``count`` of the 62 low bits of ``words`` (int64), word after word, as uint8 0/1:
    the words' bytes (little-endian, as on every platform torch runs on) shifted bit by bit, one
    byte per bit in the intermediate."""
    shifts = torch.arange(8, dtype=torch.uint8, device=words.device)
    bits = words.view(torch.uint8).unsqueeze(-1) >> shifts
    bits &= 1
    return bits.view(-1, 64)[:, :SIGN_BITS].reshape(-1)[:count]
