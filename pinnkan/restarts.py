"""Restarts: K initialisations, a short warm-up each, the run goes on from the best one.

For a run with seed s and ``restarts = K`` the candidate initialisations are drawn from the
seeds

    s_0 = s,    s_k = SeedSequence([s, k]) (k = 1 … K−1),

all on the run's one data set (seeded by s). Every candidate is trained for ``restart_steps``
optimiser steps (the same steps, grid schedule and optimiser as the run itself) and the run
continues from the candidate with the lowest *training* loss

    k* = argmin_k (1/N) Σ_s (ŷ_k(x_s) − f(x_s))²      (non-finite losses count as +∞)

— the test set is never looked at. With a held-out validation set (``pinnkan fit
--validation``) the candidates are compared by their validation MSE instead
(:mod:`pinnkan.early_stopping`). K = 1 is the plain run (candidate 0 has the run's seed).
The selection guards against initialisations whose optimisation stalls in a poor basin
(the failure seen in single seeds of the Feynman table: training losses 10²–10³ × higher than
the other seeds', from the first steps on).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

import numpy as np

from .validation import check_int

T = TypeVar("T")


def init_seed(seed: int, index: int) -> int:
    """Seed of candidate ``index`` of a run with ``seed``: ``seed`` itself for index 0."""
    check_int("restart index", index, 0)
    if index == 0:
        return seed
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def lowest_loss(losses: Sequence[float]) -> int:
    """Index of the smallest finite loss (the first on ties; 0 when none is finite)."""
    finite = [loss if math.isfinite(loss) else math.inf for loss in losses]
    return min(range(len(finite)), key=finite.__getitem__)


def choose_start(candidates: Iterable[Callable[[], tuple[float, T]]]) -> tuple[int, T, list[float]]:
    """Warm up the candidates one after the other — each callable trains one and returns
    ``(training loss, trained object)`` — keeping only the best so far in memory.

    Returns the best index, its trained object and every candidate's loss.
    """
    best_index, best, losses = 0, None, []
    for index, warm_up in enumerate(candidates):
        loss, trained = warm_up()
        losses.append(loss)
        if lowest_loss(losses) == index:
            best_index, best = index, trained
        del trained
    return best_index, best, losses
