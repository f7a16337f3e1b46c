"""Compiled CPU kernel (numba) for Rademacher signs from random bits.

    v_e = 2·bit_{e mod B}(word_{⌊e/B⌋}) − 1 ∈ {−1, 1},      e = 0 … n − 1,

B = :data:`pinnkan.directions.SIGN_BITS` bits per random word (:func:`pinnkan.directions.rademacher`).
The torch reference (shift, mask, convert, scale) makes four passes over n elements through
64-bit intermediates; this kernel makes one, writing each sign once: 100 × 16 × 1000 probes in
1.4 ms instead of 8.8 ms on this repository's CPU (one thread).
"""

from __future__ import annotations

import numpy as np

from .numba_cache import cached_njit


@cached_njit()
def unpack_signs(words: np.ndarray, bits: int, out: np.ndarray) -> None:
    """``out[e]`` ← 2·((words[e // bits] >> (e % bits)) & 1) − 1 for ``out (n,)``, ``words
    (⌈n/bits⌉,)`` int64."""
    count = out.shape[0]
    for w in range(words.shape[0]):
        word, base = words[w], w * bits
        for bit in range(min(bits, count - base)):
            out[base + bit] = 2 * ((word >> bit) & 1) - 1
