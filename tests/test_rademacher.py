"""Rademacher signs from packed random bits (:func:`pinnkan.directions.rademacher`)."""

from __future__ import annotations

import math

import pytest
import torch

from pinnkan.directions import SIGN_BITS, draw_directions, rademacher
from pinnkan.kernels import compiled_module, torch_reference

CPU = torch.device("cpu")


def signs(shape, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    return rademacher(shape, torch.Generator().manual_seed(seed), CPU, dtype)


@pytest.mark.parametrize("shape", [(1,), (61,), (62,), (63,), (3, 5, 41), (2, 0, 7), (7, 16, 125)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kernel_equals_the_torch_reference(shape, dtype):
    """The compiled unpacking and the torch one give the same signs from the same words, at
    word boundaries and for a last, partial word."""
    if compiled_module("pinnkan.signs_numba") is None:
        pytest.skip("numba is not installed")
    compiled = signs(shape, seed=3, dtype=dtype)
    with torch_reference():
        reference = signs(shape, seed=3, dtype=dtype)
    assert compiled.shape == reference.shape == shape and compiled.dtype == dtype
    assert torch.equal(compiled, reference)


def test_signs_are_the_bits_of_the_drawn_words():
    """Entry e is 2·bit_{e mod 62}(word_{e // 62}) − 1 of the generator's int64 draw."""
    count = 3 * SIGN_BITS + 5
    words = torch.randint(0, 2**SIGN_BITS, (4,), generator=torch.Generator().manual_seed(8))
    expected = [2 * ((int(words[e // SIGN_BITS]) >> (e % SIGN_BITS)) & 1) - 1 for e in range(count)]
    assert signs((count,), seed=8).tolist() == expected


def test_signs_are_fair_independent_coins():
    """2·10⁶ signs: values ±1; mean, each bit position's mean (all 62 bits of a word used, none
    stuck), and the lag-1 and lag-62 correlations within 5 standard errors of 0."""
    n = 2_000_000
    v = signs((n,), seed=1)
    assert set(v.unique().tolist()) == {-1.0, 1.0}
    bound = 5 / math.sqrt(n)
    assert abs(v.mean()) < bound
    for lag in (1, SIGN_BITS):
        assert abs((v[lag:] * v[:-lag]).mean()) < bound, lag
    by_position = v[: n - n % SIGN_BITS].view(-1, SIGN_BITS).mean(dim=0)
    assert (by_position.abs() < 5 / math.sqrt(n // SIGN_BITS)).all(), by_position


def test_a_seed_gives_the_same_probes_and_another_seed_others():
    x = torch.zeros(4, 30, dtype=torch.float64)
    first, again, other = (
        draw_directions("hutchinson", x, 3, torch.Generator().manual_seed(seed))
        .rows(slice(None))
        .vectors
        for seed in (5, 5, 6)
    )
    assert first.shape == (4, 3, 30) and first.dtype == torch.float64
    assert torch.equal(first, again) and not torch.equal(first, other)


@pytest.mark.parametrize("dim", [5, 31, 62, 100])
def test_probes_stay_packed_and_unpack_by_rows_as_one_draw(dim):
    """The batch's probes were drawn as floats, batch·K·d of them, before any chunking; they stay
    the drawn words (8 bytes per 62 signs) and any block of rows unpacks to the same signs."""
    x = torch.zeros(7, dim, dtype=torch.float32)
    drawn = draw_directions("hutchinson", x, 3, torch.Generator().manual_seed(4))
    assert drawn.vectors is None and drawn.per_point and drawn.count == 3
    assert drawn.packed.words.numel() == -(-7 * 3 * dim // SIGN_BITS)
    whole = drawn.rows(slice(None)).vectors
    assert torch.equal(whole, signs((7, 3, dim), seed=4, dtype=torch.float32))
    for start, stop in ((0, 1), (2, 5), (3, 7), (6, 7)):
        assert torch.equal(drawn.rows(slice(start, stop)).vectors, whole[start:stop])
    assert torch.equal(torch.as_tensor(drawn.trace()), drawn.rows(slice(None)).trace())


def test_the_draw_benchmark_times_both_ways_inside_the_step():
    """``benchmarks/rademacher_draw.py``: its per-sign baseline gives signs, and the timed
    Hutchinson step draws its probes with the way under test."""
    from benchmarks.rademacher_draw import actions, per_sign

    baseline = per_sign((3, 4, 5), torch.Generator().manual_seed(0), CPU, torch.float32)
    assert set(baseline.unique().tolist()) <= {-1.0, 1.0} and baseline.shape == (3, 4, 5)
    shapes: list[tuple] = []

    def recording(shape, generator, device, dtype):
        shapes.append(tuple(shape))
        return per_sign(shape, generator, device, dtype)

    actions(6, 5, recording)["step"]()
    assert shapes == [(5, 16, 6)]
