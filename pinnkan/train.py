"""Physics-informed training of a backbone on a PDE problem.

Loss (``constraint="hard"``, the SDGD/STDE setting): û(x) = (1 − |x|²)·NN(x) satisfies the zero
boundary condition exactly and

    loss = mean_i (L[û](x_i) − f(x_i))²,          x_i ~ law on the ball, fresh every k steps.

Loss (``constraint="soft"``, the paper's Appendix C.3 setting):

    loss = α · mean_i (L[u](x_i) − f(x_i))² + mean_b (u(x_b) − g(x_b))²

with N_b boundary points (default 100·d). With an estimated Laplacian (``laplacian`` "sdgd" or
"hutchinson", unbiased: E[Δ̂u] = Δu) the squared residual is biased upward by the estimate's
variance, E[(L̂[û] − f)²] = (L[û] − f)² + Var(Δ̂u), as in the SDGD/STDE scripts: the logged
loss is not the exact residual's (the test errors are exact). Errors are measured on a fixed test set drawn once from
the same law with its own seed: relative ℓ2 = ‖u − u*‖₂/‖u*‖₂, relative ℓ1 = ‖u − u*‖₁/‖u*‖₁,
relative ℓ∞ = ‖u − u*‖_∞/‖u*‖_∞.

The run's settings are :class:`pinnkan.train_config.TrainConfig`; the test set and the errors
are :mod:`pinnkan.evaluation`. Both are importable from here too. B-spline backbones may have
their grids adapted to the data during training (:mod:`pinnkan.train_grid`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from . import distributed
from .checkpoint import deserialize_state, serialize_state
from .derivatives import ESTIMATORS
from .device import peak_memory_bytes, reset_peak_memory
from .evaluation import make_test_set, predict, relative_errors
from .grid_options import grid_update_due
from .nn.constraint import BallHardConstraint
from .optim import make_optimizer, make_scheduler, parameter_groups, restart_schedule
from .problem import PDE
from .train_config import TrainConfig
from .train_grid import (
    check_grid_model,
    forget_optimizer_state,
    grid_generator,
    update_grid_in_place,
)

PROCESS_SEED_STRIDE = 7_919  # data-parallel process p samples with seed + 1 + p·stride
WARM_UP_POINTS = 4  # points of the untimed first loss, gradient and prediction (PDETrainer.warm_up)


@dataclass
class TrainResult:
    """What a run produced: per-log-step history, final metrics, the test set and a status."""

    history: dict[str, list[float]] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    test_set: dict[str, Tensor] = field(default_factory=dict)
    status: str = "running"
    message: str = ""


SPLINE_MODELS = ("kan", "metakan")  # backbones whose edges are B-splines of order k


def check_derivative_order(problem: PDE, model: nn.Module) -> None:
    """B-splines of order k < 2 have zero second derivative (almost everywhere): a KAN or
    MetaKAN with such k cannot represent the Laplacian of a second-order PDE (only its SiLU
    base branch could). One ``ValueError`` line."""
    config = getattr(model, "config", None)
    if not isinstance(config, dict) or config.get("name") not in SPLINE_MODELS:
        return
    k = config.get("k")
    if problem.order >= 2 and isinstance(k, int) and k < 2:
        raise ValueError(
            f"k={k} cannot represent a Laplacian (splines of order {k} have zero second "
            "derivative); use k ≥ 2"
        )


def own_sampling_state(state: dict[str, Any]) -> dict[str, Any] | None:
    """This process's sampling state (generator, points, boundary points) in a checkpoint:
    its own where the run had as many processes (``state["processes"]``, rank order), else
    the checkpoint's (process 0's) for process 0 and None for the others (which then draw
    from their own seeds: a stream of process 0's for every process would halve the distinct
    collocation points)."""
    processes = state.get("processes")
    if processes is not None and len(processes) == distributed.world_size():
        return processes[distributed.rank()]
    return state if distributed.rank() == 0 else None


def history_until(history: dict[str, Any], step: int) -> dict[str, list]:
    """The rows of ``history`` up to ``step``: a checkpoint written after a divergence or a
    failure keeps the rows that led to it, which a resume from that step would log again."""
    columns = {name: list(values) for name, values in history.items()}
    keep = [index for index, row_step in enumerate(columns.get("step", [])) if row_step <= step]
    return {name: [values[i] for i in keep] for name, values in columns.items()}


class PDETrainer:
    """Trains ``model`` on ``problem`` with ``config``; :meth:`run` returns a :class:`TrainResult`.

    Args:
        problem: a :class:`pinnkan.problem.PDE` with a ``geometry`` that samples points.
        model: a backbone ``(batch, d) -> (batch, 1)``.
        config: the :class:`TrainConfig`.
        device, dtype: where and in which precision to train.
        progress: called as ``progress(step, record)`` after every logged step.
    """

    def __init__(
        self,
        problem: PDE,
        model: nn.Module,
        config: TrainConfig,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        progress: Callable[[int, dict], None] | None = None,
    ) -> None:
        self.problem = problem
        self.config = config
        self.device = torch.device(device)
        self.dtype = dtype
        self.progress = progress
        check_grid_model(model, config, self.device)
        check_derivative_order(problem, model)
        self.model = model.to(device=self.device, dtype=dtype)
        hard = config.constraint == "hard"
        self.network = (
            BallHardConstraint(self.model, problem.geometry.radius) if hard else self.model
        )
        groups = parameter_groups(self.model, config.lr, config.prompt_lr, config.meta_lr)
        self.optimizer = make_optimizer(
            config.optimizer, groups, config.lr, lbfgs_max_iter=config.lbfgs_max_iter
        )
        self.scheduler = make_scheduler(
            self.optimizer, config.schedule, config.steps, config.final_lr_fraction
        )
        distributed.broadcast_parameters(self.model.parameters())
        rank_offset = PROCESS_SEED_STRIDE * distributed.rank()
        self.generator = torch.Generator().manual_seed(config.seed + 1 + rank_offset)
        self.inner_losses: list[float] = []
        self.points: Tensor | None = None
        self.boundary: Tensor | None = None
        # every process's sampling state, gathered where all processes are at one step (None in
        # a single process): checkpoints hold them, so that each process resumes its own stream
        self.process_states: list[dict[str, Any]] | None = None
        self.x_test, self.u_test = self.test_set()
        self.history: dict[str, list[float]] = {}
        self.step = 0
        self.train_time = 0.0
        self.warm_up_time = 0.0
        self.wall_time_before = 0.0
        self.started = time.perf_counter()
        self.stop_requested = False
        self.last_good = b""
        self.step_lr = config.lr

    # --- data ---------------------------------------------------------------------------------

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        x = self.problem.geometry.sample_interior(n, law=self.config.law, generator=generator)
        return x.to(device=self.device, dtype=self.dtype)

    def test_set(self) -> tuple[Tensor, Tensor | None]:
        return make_test_set(self.problem, self.config, self.device, self.dtype)

    def collocation(self) -> None:
        """Draw new interior (and boundary) points when due."""
        every = self.config.resample_every
        due = self.points is None or (every > 0 and self.step % every == 0)
        if not due:
            return
        self.points = self.sample(distributed.share(self.config.points), self.generator)
        if self.config.constraint == "soft":
            n_boundary = distributed.share(self.config.boundary_point_count(self.problem.dim))
            boundary = self.problem.geometry.sample_boundary(n_boundary, generator=self.generator)
            self.boundary = boundary.to(device=self.device, dtype=self.dtype)

    def adapt_grid(self) -> None:
        """Grid update of the backbone when due (see :mod:`pinnkan.train_grid`)."""
        config = self.config
        if not grid_update_due(self.step, config.update_grid_every, config.update_grid_until):
            return
        x = self.sample(self.config.grid_points, grid_generator(self.config.seed, self.step))
        changed = update_grid_in_place(self.model, x, self.config.grid_eps, self.config.grid_margin)
        forget_optimizer_state(self.optimizer, changed)

    # --- loss ---------------------------------------------------------------------------------

    def loss_terms(self) -> dict[str, Tensor]:
        method = self.config.laplacian
        # the estimators draw their directions from the run's seeded generator (reproducible,
        # and saved in checkpoints), never from the global RNG
        options = {}
        if method in ESTIMATORS:
            samples = self.config.laplacian_samples or None  # None: the engine's default
            options = {"generator": self.generator, "samples": samples}
        residual = self.problem.residual(self.network, self.points, method=method, **options)
        terms = {"loss_interior": residual.pow(2).mean()}
        if self.config.constraint == "soft":
            u_boundary = self.network(self.boundary).squeeze(-1)
            target = self.problem.boundary_value(self.boundary)
            terms["loss_boundary"] = (u_boundary - target).pow(2).mean()
            terms["loss"] = self.config.alpha * terms["loss_interior"] + terms["loss_boundary"]
        else:
            terms["loss"] = terms["loss_interior"]
        return terms

    def optimizer_step(self) -> dict[str, float]:
        """One optimizer step (L-BFGS: one step of up to ``lbfgs_max_iter`` inner iterations).

        Every evaluation of the loss within the step sees the same objective: the same points,
        and for an estimator (``sdgd``, ``hutchinson``) the same directions, drawn again from
        the generator's state at the step's start. L-BFGS's line search and curvature pairs
        compare losses and gradients of one function; fresh directions at each inner iteration
        would make them compare different ones."""
        last: dict[str, Tensor] = {}
        draws = self.generator.get_state()

        def closure() -> Tensor:
            self.generator.set_state(draws)
            self.optimizer.zero_grad(set_to_none=True)
            terms = self.loss_terms()
            terms["loss"].backward()
            distributed.average_gradients(self.model.parameters())
            last.update(
                {name: distributed.average(value.detach()) for name, value in terms.items()}
            )
            if self.config.optimizer == "lbfgs":
                self.inner_losses.append(float(last["loss"]))
            return last["loss"]

        self.optimizer.step(closure)
        self.step_lr = self.config.lr * self.scheduler.lr_lambdas[0](self.scheduler.last_epoch)
        self.scheduler.step()
        values = torch.stack([value.detach().reshape(()) for value in last.values()]).tolist()
        return dict(zip(last, values))  # one read-back from the device per step, not one per term

    # --- evaluation and logging ---------------------------------------------------------------

    def evaluate(self) -> dict[str, float]:
        if self.u_test is None:
            return {}
        return relative_errors(predict(self.network, self.x_test), self.u_test)

    def log(self, record: dict[str, float]) -> None:
        """Add a history row and report progress (rank 0 only)."""
        append_row(self.history, record)
        if self.progress is not None and distributed.is_main():
            self.progress(self.step, record)

    def log_inner_iterations(self) -> None:
        """L-BFGS: one history row per loss (closure) evaluation of the step, numbered in
        ``lbfgs_iteration`` (about 1.25 × ``lbfgs_max_iter`` of them, torch's ``max_eval``, which
        its strong-Wolfe line search may exceed within an iteration)."""
        for iteration, loss in enumerate(self.inner_losses, start=1):
            append_row(
                self.history, {"step": self.step, "lbfgs_iteration": iteration, "loss": loss}
            )
        self.inner_losses.clear()

    # --- checkpoints ----------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue bit-for-bit: model, optimizer, schedule, RNG, points."""
        return {
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "generator": self.generator.get_state(),
            "points": self.points,
            "boundary": self.boundary,
            "processes": self.process_states,
            "history": self.history,
            "train_time_s": self.train_time,
            "wall_time_s": self.elapsed(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        restart_schedule(self.optimizer, self.scheduler)
        own = own_sampling_state(state)
        if own is not None:  # else: a process the stored run did not have keeps its own seed
            self.generator.set_state(own["generator"])
            self.points = move(own["points"], self.device, self.dtype)
            self.boundary = move(own["boundary"], self.device, self.dtype)
        processes = state.get("processes")  # kept where it describes this run's processes
        same_count = processes is not None and len(processes) == distributed.world_size()
        self.process_states = processes if distributed.active() and same_count else None
        self.history = history_until(state["history"], self.step)
        self.train_time = float(state["train_time_s"])
        self.wall_time_before = float(state["wall_time_s"])

    def elapsed(self) -> float:
        return self.wall_time_before + time.perf_counter() - self.started

    def stop(self) -> None:
        """Ask the loop to stop after the current step (signal handlers call this)."""
        self.stop_requested = True

    # --- the loop -----------------------------------------------------------------------------

    def run(self, on_checkpoint: Callable[[PDETrainer], None] | None = None) -> TrainResult:
        """Train until ``config.steps``; returns with status "completed", "interrupted" (after
        :meth:`stop`) or "diverged" (a non-finite loss at any step, or a non-finite parameter found
        before a checkpoint, at the end or at an interruption; the model is rolled back to the
        last checkpoint). ``on_checkpoint(self)`` runs every ``config.checkpoint_every`` steps.
        """
        self.warm_up()
        reset_peak_memory(self.device)
        self.started = time.perf_counter()
        self.gather_sampling_states()
        self.last_good = serialize_state(self.state_dict())
        status, message = "completed", ""
        while self.step < self.config.steps:
            if distributed.any_process(self.stop_requested, self.device):
                status, message = "interrupted", f"interrupted at step {self.step}"
                break
            terms = self.training_step()
            if not all(math.isfinite(value) for value in terms.values()):
                status, message = "diverged", self.divergence_message(terms)
                self.roll_back()
                break
            self.step += 1
            self.log_inner_iterations()
            checkpoint_due = bool(self.config.checkpoint_every) and (
                self.step % self.config.checkpoint_every == 0
            )
            if (checkpoint_due or self.step == self.config.steps) and not self.parameters_finite():
                status, message = "diverged", self.parameter_divergence_message()
                self.roll_back()
                break
            if self.config.records_step(self.step):
                self.log({"step": self.step, **terms, **self.evaluate(), **self.clock()})
            if checkpoint_due:
                self.gather_sampling_states()
                self.last_good = serialize_state(self.state_dict())
                if on_checkpoint is not None:
                    on_checkpoint(self)
        if status == "interrupted" and not self.parameters_finite():
            status, message = "diverged", self.parameter_divergence_message()
            self.roll_back()
        if status in ("completed", "interrupted"):  # all processes stop at one step
            self.gather_sampling_states()  # (a roll-back restored its checkpoint's)
        return self.result(status, message)

    def gather_sampling_states(self) -> None:
        """Every process's generator state and points into :attr:`process_states` (a
        collective: all processes call it at the same step); nothing in a single process."""
        if not distributed.active():
            return
        own = {
            "generator": self.generator.get_state(),
            "points": None if self.points is None else self.points.cpu(),
            "boundary": None if self.boundary is None else self.boundary.cpu(),
        }
        self.process_states = distributed.gather(own)

    def warm_up(self) -> None:
        """One loss with its gradient and one prediction on a few points before the clock starts,
        leaving the run as it was (parameters, gradients, optimizer, generator, points). Numba
        compiles the CPU kernels at their first call, per dtype: in the first run after an
        installation that takes up to a minute on 2 cores (later runs load them from numba's
        disk cache), which should count neither in the step times nor in steps per second.
        ``self.warm_up_time`` keeps its seconds (the run's ``warm_up_s``)."""
        tick = time.perf_counter()
        kept = self.generator.get_state(), self.points, self.boundary
        few = torch.Generator().manual_seed(0)
        self.points = self.sample(WARM_UP_POINTS, few)
        if self.config.constraint == "soft":
            boundary = self.problem.geometry.sample_boundary(WARM_UP_POINTS, generator=few)
            self.boundary = boundary.to(device=self.device, dtype=self.dtype)
        try:
            self.loss_terms()["loss"].backward()
            predict(self.network, self.x_test[:WARM_UP_POINTS])
        finally:
            self.optimizer.zero_grad(set_to_none=True)
            state, self.points, self.boundary = kept
            self.generator.set_state(state)
        self.warm_up_time = time.perf_counter() - tick

    def training_step(self) -> dict[str, float]:
        tick = time.perf_counter()
        self.adapt_grid()
        self.collocation()
        terms = self.optimizer_step()
        self.train_time += time.perf_counter() - tick
        return terms

    def parameters_finite(self) -> bool:
        """Every parameter finite. Checked before each checkpoint, at the end of the run and at an
        interruption, not after every step: a non-finite parameter that the network uses makes
        the next step's loss non-finite, which every step checks, and the check costs 0.1–0.2 ms
        per step on the CPU at d = 100 (one pass over the parameters; on a GPU, a
        synchronisation). A checkpoint never holds a non-finite parameter."""
        return bool(torch.stack([p.isfinite().all() for p in self.model.parameters()]).all())

    def roll_back(self) -> None:
        """Return to the last checkpoint, keeping the history that led to the divergence (a
        resume drops its rows past the checkpoint: :meth:`load_state_dict`) and the wall time
        spent (the checkpoint's clock would count the time up to it twice)."""
        history, wall_time = self.history, self.elapsed()
        self.load_state_dict(deserialize_state(self.last_good))
        self.history = history
        self.wall_time_before, self.started = wall_time, time.perf_counter()

    def divergence_message(self, terms: dict[str, float]) -> str:
        return (
            f"loss {terms['loss']:.3e} became non-finite at step {self.step + 1}; "
            f"{self.divergence_advice()}"
        )

    def parameter_divergence_message(self) -> str:
        return (
            f"a parameter became non-finite by step {self.step} while the losses stayed finite "
            f"(e.g. a non-finite gradient); {self.divergence_advice()}"
        )

    def divergence_advice(self) -> str:
        return (
            f"the run keeps the checkpoint of step {deserialize_state(self.last_good)['step']}; "
            "try a smaller --lr, float64, or another schedule"
        )

    def clock(self) -> dict[str, float]:
        return {
            "lr": self.step_lr,  # the base rate (--lr × ρ) the logged step ran at
            "train_time_s": self.train_time,
            "wall_time_s": self.elapsed(),
            "peak_memory_bytes": peak_memory_bytes(self.device),
        }

    def result(self, status: str, message: str) -> TrainResult:
        prediction = predict(self.network, self.x_test)
        metrics: dict[str, Any] = {
            "steps": self.step,
            "train_time_s": self.train_time,
            "wall_time_s": self.elapsed(),
            "peak_memory_bytes": peak_memory_bytes(self.device),
            "steps_per_s": self.step / self.train_time if self.train_time > 0 else float("nan"),
            "warm_up_s": self.warm_up_time,
        }
        test_set = {"x": self.x_test.cpu(), "prediction": prediction.cpu()}
        if self.u_test is not None:
            metrics.update(relative_errors(prediction, self.u_test))
            test_set["exact"] = self.u_test.cpu()
        return TrainResult(self.history, metrics, test_set, status, message)


def append_row(history: dict[str, list[float]], row: dict[str, float]) -> None:
    """Append ``row`` to the equal-length columns of ``history``; gaps are filled with NaN."""
    length = len(next(iter(history.values()), []))
    for name in row:
        history.setdefault(name, [math.nan] * length)
    for name, column in history.items():
        column.append(row.get(name, math.nan))


def move(tensor: Tensor | None, device: torch.device, dtype: torch.dtype) -> Tensor | None:
    return None if tensor is None else tensor.to(device=device, dtype=dtype)
