"""Regression training (``pinnkan fit``): fit a backbone to a target f sampled in a box.

    ŷ(x) = μ + σ·N(x),    loss = (1/N) Σ_s (ŷ(x_s) − f(x_s))² / σ²,    reported: test MSE, RMSE

with μ = 0, σ = 1, or with ``standardize`` the mean and standard deviation of the training
targets (the network then fits standardised targets; the history logs the raw training MSE).

Data: ``problem.dataset(train_points, test_points, seed)`` — uniform in the problem's box, one
seeded generator (the training seed also seeds the data), inputs mapped onto [−1, 1]^d when
``normalize``. Optimiser: L-BFGS (lr 1, strong-Wolfe line search, ``lbfgs_iterations`` inner
iterations per step; every loss evaluation is logged) or Adam. For B-spline models the grid may
be adapted to the data every ``update_grid_every`` steps up to step ``update_grid_until`` (0: to
the end), and
extended to the finer grids ``extend_grids`` (strictly increasing, each finer than the model's
grid; n of them need ``steps`` ≥ n + 1) at equally spaced steps, so that every grid is trained
before the next extension and the last one until the end; the optimiser is rebuilt after each
grid change. Both place the new knots at the training inputs (quantiles blended with a uniform
grid, ε = 0.02, as pykan's ``refine``) and refit the coefficients by least squares on those
inputs (:func:`pinnkan.grid.extend_grid` with ``x``): the new spline space does not contain the
old one, so an extension moves the network's output a little (measured at G 5 → 10, 2 inputs:
max |change| ≈ 1e-3 of max |output| for a KAN, ≈ 2e-2 for a MetaKAN, whose one knot vector per
cluster serves all its edges), which the following steps train away. The nested refinement that
keeps the function to ≈ 1e-5 is :func:`pinnkan.grid.extend_grid` without ``x``.

The run file (``config["kind"] = "regression"``) stores raw test points ``x``, ``exact`` = f(x)
and ``prediction``; ``config["normalization"]`` holds the box map when inputs were normalised.

Robustness (same rules for every model): ``restarts`` = K initialisations, each warmed up for
``restart_steps`` steps, the run going on from the lowest training loss (:mod:`pinnkan.restarts`);
``step_guard`` undoes L-BFGS steps that raise the training loss (:mod:`pinnkan.guard`). The run
file records K, the chosen candidate, every candidate's warm-up loss and the guard's counts.
With ``validation`` = v > 0 a fraction v of the training points is held out, the run ends with
the parameters of lowest validation MSE and restarts choose by it (:mod:`pinnkan.early_stopping`).
Configuration: :mod:`pinnkan.fit_config`; command line: :mod:`pinnkan.fit_cli`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from .device import device_name, peak_memory_bytes, reset_peak_memory, resolve_device, resolve_dtype
from .early_stopping import BestState, holdout_size, split_validation
from .environment import environment_info
from .fit_config import FitConfig, check_extend_grids, load_problem, resolve_width
from .fixed_points import FixedPoints
from .grid import (
    check_bspline_network,
    check_grid_change_fits,
    check_sample_count,
    extend_grid,
    update_grid,
)
from .grid_options import grid_update_due
from .guard import StepGuard
from .nn.build import build_model, count_parameters
from .optim import make_optimizer, parameter_groups
from .regression import Regression, RegressionData, TargetScaling
from .restarts import choose_start, init_seed
from .results import Run, check_writable, write_run
from .text_file import writing_alone
from .train import WARM_UP_POINTS

Progress = Callable[[int, dict], None]


def prepare(config: FitConfig) -> tuple[Regression, nn.Module, RegressionData]:
    """Validate everything and build problem, model (seeded) and data, before any training."""
    device, dtype = resolve_device(config.device), resolve_dtype(config.dtype)
    problem = load_problem(config)
    model = initial_model(config, problem, config.seed)
    data = problem.dataset(  # targets checked: Regression.checked_target
        config.train_points, config.test_points, config.seed, config.normalize, device, dtype
    )
    return problem, model, data


def initial_model(config: FitConfig, problem: Regression, seed: int) -> nn.Module:
    """The model of ``config`` initialised from ``seed``, on the run's device and dtype."""
    width = resolve_width(config.width, problem)
    generator = torch.Generator().manual_seed(seed)
    model = build_model(config.model, width, generator=generator, **config.model_options)
    device = resolve_device(config.device)
    if config.update_grid_every or config.extend_grids:
        grids = [check_bspline_network(model).layers[0].family.grid, *config.extend_grids]
        check_grid_points(config, max(grids))
        check_grid_change_fits(model, max(grids), device)
    check_extensions_refine(config.extend_grids, model.config.get("grid"))
    return model.to(device=device, dtype=resolve_dtype(config.dtype))


def check_grid_points(config: FitConfig, grid: int) -> None:
    """The grid changes place their knots at the fitting points (the training points less the
    validation holdout): at least G + 1 of them (:func:`pinnkan.grid.check_sample_count`)."""
    fitting = config.train_points - holdout_size(config.train_points, config.validation)
    what = "training point" if not config.validation else "fitting point"
    try:
        check_sample_count(fitting, grid, what)
    except ValueError as error:
        held = f" less the --validation {config.validation:g} holdout" if config.validation else ""
        raise ValueError(f"{error} (--train-points {config.train_points}{held})") from None


def check_extensions_refine(grids: list[int], grid: int | None) -> None:
    """Grid extension only refines: the first of ``grids`` (strictly increasing, see
    :func:`pinnkan.fit_config.check_extend_grids`) must be finer than the model's ``grid``."""
    if grids and grid is not None and grids[0] <= grid:
        raise ValueError(
            f"extend_grids={grids} is not allowed with grid={grid}; its entries must be strictly "
            f"increasing and larger than the model's starting grid {grid}"
        )


Validation = tuple[Tensor, Tensor]  # held-out (x (n_v, d), y (n_v,))


class RegressionTrainer:
    """Trains ``model`` on ``data``; :meth:`run` returns ``(status, message)``, fills ``history``.

    With ``validation`` (held-out points) the validation MSE is logged after every step and the
    best state kept (:class:`pinnkan.early_stopping.BestState`); :meth:`finish` restores it.
    """

    def __init__(
        self,
        model: nn.Module,
        data: RegressionData,
        config: FitConfig,
        progress: Progress | None,
        validation: Validation | None = None,
    ) -> None:
        self.model, self.data, self.config, self.progress = model, data, config, progress
        self.scaling = TargetScaling.of(data.y_train, config.standardize)
        self.train_points = FixedPoints(model, data.x_train)
        self.test_points = FixedPoints(model, data.x_test)
        self.validation = validation
        self.validation_points = None if validation is None else FixedPoints(model, validation[0])
        self.best = None if validation is None else BestState(model)
        self.history: dict[str, list[float]] = {}
        self.step = 0
        self.evaluations = 0
        self.start = time.perf_counter()
        self.extensions = extension_schedule(config.steps, config.extend_grids)
        self.optimizer = self.new_optimizer()
        self.guard = StepGuard(model, self.train_loss) if config.step_guard else None
        self.restart_index = 0  # which candidate of the restarts this trainer is
        if self.best is not None:
            self.best.offer(0, self.validation_mse())

    def new_optimizer(self) -> torch.optim.Optimizer:
        groups = parameter_groups(self.model, self.config.lr)
        return make_optimizer(
            self.config.optimizer,
            groups,
            self.config.lr,
            lbfgs_max_iter=self.config.lbfgs_iterations,
        )

    def record(self, **values: float) -> None:
        """One history row per loss evaluation, ``step`` = the optimiser step it belongs to
        (1 … steps, as in solve runs: the test error on a step's last row is after that step)."""
        row = {"evaluation": self.evaluations, "step": self.step + 1, **values}
        row["wall_time_s"] = time.perf_counter() - self.start
        for name in ("evaluation", "step", "loss", "test_mse", "val_mse", "grid", "wall_time_s"):
            self.history.setdefault(name, []).append(row.get(name, math.nan))

    def closure(self) -> Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        error = self.scaling(self.train_points()) - self.data.y_train
        loss = error.square().mean() / self.scaling.scale**2  # standardised when scaled
        loss.backward()
        self.evaluations += 1
        self.record(loss=float(loss.detach()) * self.scaling.scale**2)
        return loss

    def adapt_grid(self) -> None:
        """Grid update / extension when due; the optimiser restarts after a change."""
        changed = reshaped = False
        every, until = self.config.update_grid_every, self.config.update_grid_until
        if grid_update_due(self.step, every, until):
            update_grid(self.model, self.data.x_train, self.config.grid_eps)
            changed = True
        if self.step in self.extensions:
            extend_grid(
                self.model, self.extensions[self.step], self.data.x_train, self.config.grid_eps
            )
            changed = reshaped = True
        if changed:
            self.optimizer = self.new_optimizer()
            self.refresh_points()
            if self.guard is not None:
                self.guard.forget()
            if self.best is not None and reshaped:  # an update keeps the shapes: the best
                self.best.forget()  # state (knots included) can still be restored

    def refresh_points(self) -> None:
        """The cached first-layer expansions of the fixed point sets, after the knots changed."""
        for points in (self.train_points, self.test_points, self.validation_points):
            if points is not None:
                points.refresh()

    def take_step(self) -> float:
        """One optimiser step (guarded when ``step_guard``); the loss it started from."""
        if self.guard is not None:
            self.guard.before()
        loss = float(self.optimizer.step(self.closure).detach())
        if self.guard is not None and self.guard.after():
            self.optimizer = self.new_optimizer()
        return loss

    def run(self, until: int | None = None) -> tuple[str, str]:
        """Train up to step ``until`` (default ``config.steps``); "diverged" on a non-finite loss."""
        while self.step < (self.config.steps if until is None else until):
            self.adapt_grid()
            loss = self.take_step()
            self.step += 1
            test = self.test_mse()
            self.history["test_mse"][-1] = test
            if self.best is not None:
                self.history["val_mse"][-1] = self.validation_mse()
                self.best.offer(self.step, self.history["val_mse"][-1])
            self.history["grid"][-1] = current_grid(self.model)
            if self.progress is not None:
                record = {"loss": self.history["loss"][-1], "test_mse": test}
                if self.best is not None:
                    record["val_mse"] = self.history["val_mse"][-1]
                self.progress(self.step, record)
            if not math.isfinite(loss) or not math.isfinite(self.history["loss"][-1]):
                return "diverged", f"loss became non-finite at step {self.step}; try a smaller --lr"
        return "completed", ""

    @torch.no_grad()
    def train_loss(self) -> float:
        """Training MSE (1/N) Σ (ŷ(x_s) − f(x_s))² at the current parameters (raw scale)."""
        return float((self.scaling(self.train_points()) - self.data.y_train).square().mean())

    @torch.no_grad()
    def test_mse(self) -> float:
        return float((self.scaling(self.test_points()) - self.data.y_test).square().mean())

    @torch.no_grad()
    def validation_mse(self) -> float:
        """MSE on the held-out points (NaN without a validation set)."""
        if self.validation is None:
            return math.nan
        return float((self.scaling(self.validation_points()) - self.validation[1]).square().mean())

    def selection_loss(self) -> float:
        """What restarts compare: the validation MSE when there is a validation set, else the
        training MSE."""
        return self.train_loss() if self.validation is None else self.validation_mse()

    def finish(self) -> None:
        """End of training: with a validation set, go back to the state of lowest validation MSE."""
        if self.best is not None:
            self.best.restore()  # (final_metrics evaluates the model, not the cached points)


def extension_schedule(steps: int, grids: list[int]) -> dict[int, int]:
    """``{step: grid}``: before step t = round(steps·i/(n + 1)), i = 1 … n, the grid is extended
    to ``grids[i − 1]``, so the n + 1 stages of the run are as equal as the steps allow.

    The paper's algorithm trains, extends and trains more: needs ``steps`` ≥ n + 1 (refused
    otherwise, :func:`pinnkan.fit_config.check_extend_grids`). Then the stage length
    steps/(n + 1) ≥ 1 puts every extension on its own step in 1 … steps − 1: each grid is
    trained at least one step before the next extension, the last one until the end.
    """
    check_extend_grids(grids, steps)
    count = len(grids)
    return {round(steps * (index + 1) / (count + 1)): grid for index, grid in enumerate(grids)}


def current_grid(model: nn.Module) -> float:
    grid = getattr(model, "config", {}).get("grid")
    return float(grid) if isinstance(grid, int) else math.nan


def final_metrics(
    model: nn.Module, data: RegressionData, scaling: TargetScaling
) -> tuple[dict[str, float], Tensor]:
    """Test MSE, RMSE, relative ℓ2, train MSE; and the test predictions ``(n,)``."""
    with torch.no_grad():
        prediction = scaling(model(data.x_test).squeeze(-1))
        train = float((scaling(model(data.x_train).squeeze(-1)) - data.y_train).square().mean())
    error = (prediction - data.y_test).double()
    mse = float(error.square().mean())
    metrics = {
        "mse": mse,
        "rmse": math.sqrt(mse) if math.isfinite(mse) else math.nan,
        "rel_l2": float(error.norm() / data.y_test.double().norm()),
        "train_mse": train,
    }
    return metrics, prediction


def warm_up(model: nn.Module, x: Tensor) -> float:
    """One forward and backward pass of ``model`` on the first points of ``x`` (n, d), untimed by
    the run: numba compiles its CPU kernels at their first call (up to a minute in the first run
    after an installation). Leaves no gradient behind; returns its seconds (``warm_up_s``)."""
    tick = time.perf_counter()
    model(x[:WARM_UP_POINTS]).sum().backward()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - tick


def fit(config: FitConfig, out: str, progress: Progress | None = None) -> Run:
    """Validate, train, and write the run file ``out``; returns the written :class:`Run`."""
    problem, model, data = prepare(config)
    data, validation = split_validation(data, config.validation)
    check_writable(out)
    with writing_alone(out):  # one writer per run file, as for solve
        return train_and_write(config, out, problem, model, data, validation, progress)


def train_and_write(
    config: FitConfig,
    out: str,
    problem: Regression,
    model: nn.Module,
    data: RegressionData,
    validation: Validation | None,
    progress: Progress | None,
) -> Run:
    """The training and the run file of :func:`fit` (validated, ``out`` checked and locked)."""
    device = resolve_device(config.device)
    warm_up_time = warm_up(model, data.x_train)
    reset_peak_memory(device)
    start = time.perf_counter()
    trainer, start_losses = best_trainer(config, problem, model, data, validation, progress)
    model = trainer.model
    status, message = trainer.run()
    trainer.finish()
    wall_time = time.perf_counter() - start
    metrics, prediction = final_metrics(model, data, trainer.scaling)
    metrics.update(
        params=count_parameters(model),
        steps=trainer.step,
        evaluations=trainer.evaluations,
        wall_time_s=wall_time,
        warm_up_s=warm_up_time,
        peak_memory_bytes=peak_memory_bytes(device),
        seed=config.seed,
        device=str(device),
        dtype=config.dtype,
        sampling="uniform box",
    )
    metrics.update(robustness_metrics(trainer, start_losses))
    if message:
        metrics["message"] = message
    run = Run(
        config={
            **run_config(config, problem, model, data, device),
            "target_scaling": trainer.scaling.config(),
            "restart_losses": start_losses,
        },
        history={name: list(values) for name, values in trainer.history.items()},
        metrics=metrics,
        status=status,
        test_set={
            "x": data.raw_inputs(data.x_test).cpu().numpy(),
            "exact": data.y_test.cpu().numpy(),
            "prediction": prediction.cpu().numpy(),
        },
        model_state={name: t.detach().cpu() for name, t in model.state_dict().items()},
        path=out,
        model_config=model.config,
    )
    write_run(out, run)
    return run


def best_trainer(
    config: FitConfig,
    problem: Regression,
    model: nn.Module,
    data: RegressionData,
    validation: Validation | None,
    progress: Progress | None,
) -> tuple[RegressionTrainer, list[float]]:
    """The trainer the run continues with: ``model`` itself when ``restarts`` = 1, else the
    candidate of lowest training loss (validation MSE when there is a validation set) after
    ``restart_steps`` (see :mod:`pinnkan.restarts`)."""
    if config.restarts == 1:
        return RegressionTrainer(model, data, config, progress, validation), []

    def candidate(index: int) -> Callable[[], tuple[float, RegressionTrainer]]:
        def warm_up() -> tuple[float, RegressionTrainer]:
            seed = init_seed(config.seed, index)
            member = model if index == 0 else initial_model(config, problem, seed)
            trainer = RegressionTrainer(member, data, config, None, validation)
            trainer.run(until=config.restart_steps)
            return trainer.selection_loss(), trainer

        return warm_up

    index, trainer, losses = choose_start(candidate(index) for index in range(config.restarts))
    trainer.progress, trainer.restart_index = progress, index
    return trainer, losses


def robustness_metrics(trainer: RegressionTrainer, start_losses: list[float]) -> dict[str, Any]:
    """Restarts K and the chosen candidate; step-guard rollbacks and optimiser resets."""
    metrics: dict[str, Any] = {"restarts": trainer.config.restarts}
    if start_losses:
        metrics["restart_index"] = trainer.restart_index
        metrics["restart_loss"] = start_losses[metrics["restart_index"]]
    if trainer.guard is not None:
        metrics.update(rollbacks=trainer.guard.rollbacks, optimizer_resets=trainer.guard.resets)
    if trainer.best is not None:
        metrics.update(val_mse=trainer.best.loss, best_step=trainer.best.step)
    return metrics


def run_config(
    config: FitConfig, problem: Regression, model: nn.Module, data: RegressionData, device: Any
) -> dict[str, Any]:
    normalization = data.normalization.config() if data.normalization is not None else None
    return {
        "kind": "regression",
        "problem": problem.config(),
        "model": model.config,
        "train": config.to_dict(),
        "normalization": normalization,
        "seed": config.seed,
        "device": str(device),
        "device_name": device_name(device),
        "dtype": config.dtype,
        "sampling": "uniform box",
        "params": count_parameters(model),
        "environment": environment_info(device, model),
    }
