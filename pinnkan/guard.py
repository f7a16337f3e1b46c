"""Step guard for L-BFGS: roll back a step that makes the training loss worse or non-finite.

L-BFGS with a strong-Wolfe line search decreases the loss at every step it takes. A step that
ends with a *higher* (or non-finite) loss L(θ_{t+1}) > L(θ_t) therefore means a broken step (an
overflow in the line search, a poisoned curvature history); a step with L(θ_{t+1}) = L(θ_t)
means the line search failed and, with the same history, will fail again (seen on f2 at
n = 1000: one trial point of loss 7·10⁷² and then no progress for 45 steps). The guard keeps
the last good state:

    L(θ_{t+1}) > L(θ_t) or not finite  ->  θ_{t+1} := θ_t, and the optimiser is rebuilt
    L(θ_{t+1}) = L(θ_t)                 ->  the optimiser is rebuilt (its history cleared)

Rebuilding L-BFGS restarts it with a steepest-descent step. ``rollbacks`` and ``resets`` count
the two events; a run where they are 0 is the unguarded run, step for step.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn


class StepGuard:
    """Snapshot before a step (:meth:`before`), verdict after it (:meth:`after`)."""

    def __init__(self, model: nn.Module, loss: Callable[[], float]) -> None:
        self.model, self.loss = model, loss
        self.good_loss: float | None = None
        self.snapshot: dict[str, Tensor] = {}
        self.rollbacks = 0
        self.resets = 0

    def forget(self) -> None:
        """The model changed outside the optimiser (grid update/extension): measure anew."""
        self.good_loss = None

    def before(self) -> None:
        if self.good_loss is None:
            self.good_loss = self.loss()
        self.snapshot = {name: t.detach().clone() for name, t in self.model.state_dict().items()}

    @torch.no_grad()
    def after(self) -> bool:
        """Roll back a bad step; True when the optimiser must be rebuilt."""
        loss = self.loss()
        if not math.isfinite(self.good_loss):  # nothing good to return to
            self.good_loss = loss
            return False
        if not math.isfinite(loss) or loss > self.good_loss:
            self.model.load_state_dict(self.snapshot)
            self.rollbacks += 1
            return True
        if loss == self.good_loss:
            self.resets += 1
            return True
        self.good_loss = loss
        return False
