"""``pinnkan solve --engine deepxde``: a pinnkan solve trained by ``deepxde.Model``.

    run = solve_with_deepxde(spec, "results/runs/poisson-deepxde.h5")

The network, data and boundary condition are the adapters of :mod:`pinnkan.interop.deepxde`
(DeepXDE imported on first use, never by ``import pinnkan``). DeepXDE's global state is handled
so: DeepXDE runs inside ``with torch.device(device)`` when that is not the default already; its
default float (which also sets torch's default dtype) and its L-BFGS options are set for one
solve and restored afterwards (:func:`deepxde_session`); random seeds are never touched.

Losses (as pinnkan's trainer, :mod:`pinnkan.train`): hard constraint û = (1 − |x|²/R²)·N(x)
with loss = mean (L[û] − f)² on the interior points; soft constraint
loss = α·mean (L[u] − f)² + mean (u − g)² with ``num_boundary`` boundary points drawn by the
boundary condition itself (the residual is taken on the interior points only). The history
(step, loss terms, errors on pinnkan's test set, times, memory) is logged by a DeepXDE callback
and the run file is laid out as :func:`pinnkan.runner.solve_pde` lays it out.
"""

from __future__ import annotations

import contextlib
import io
import math
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..derivatives import ESTIMATORS
from ..device import peak_memory_bytes, reset_peak_memory
from ..evaluation import make_test_set, predict, relative_errors
from ..nn.build import count_parameters, get_spec
from ..optim import schedule_factor
from ..problem import PDE
from ..results import Run, check_writable, write_run
from ..runner import SolveSpec, prepare, run_config
from ..text_file import writing_alone
from ..train_config import TrainConfig
from .deepxde import (
    BACKEND,
    as_deepxde_net,
    ball_hard_constraint,
    deepxde_class,
    import_deepxde,
    to_deepxde_data,
)

Progress = Callable[[int, dict], None]


def solve_with_deepxde(spec: SolveSpec, out: str, progress: Progress | None = None) -> Run:
    """``pinnkan solve --engine deepxde``: train ``spec`` through ``deepxde.Model`` and write
    the run file ``out`` (same format as :func:`pinnkan.runner.solve_pde`, with
    ``config["engine"] = "deepxde"``); returns the :class:`Run` that was written.

    Adam with ``spec.train.lr`` and its schedule, or L-BFGS (DeepXDE's, step length 1) for
    ``spec.train.steps`` steps of ``lbfgs_max_iter`` iterations; errors on pinnkan's fixed test
    set, logged every ``eval_every`` steps and after the last.
    """
    config = spec.train
    check_engine_options(config, spec.model)
    problem, model, device, dtype = prepare(spec)  # validate before creating any directory
    check_writable(out)
    with writing_alone(out):  # one writer per run file, as for the pinnkan engine
        return train_and_write(spec, out, problem, model, device, dtype, progress)


def train_and_write(
    spec: SolveSpec,
    out: str,
    problem: PDE,
    model: nn.Module,
    device: torch.device,
    dtype: torch.dtype,
    progress: Progress | None,
) -> Run:
    """The training and the run file of :func:`solve_with_deepxde` (``out`` checked, locked)."""
    config = spec.train
    x_test, u_test = make_test_set(problem, config, device, dtype)
    sample_dtype = torch.get_default_dtype()  # the dtype pinnkan's trainer samples in
    dde = import_deepxde()
    model = model.to(device=device, dtype=dtype)
    net = as_deepxde_net(model)
    if config.constraint == "hard":
        net.apply_output_transform(ball_hard_constraint(problem.geometry))
    recorder = deepxde_class(HistoryRecorderAdapter, "callbacks.Callback")(
        net, x_test, u_test, config, device, progress
    )
    generator = torch.Generator().manual_seed(config.seed + 1)  # as pinnkan's trainer
    num_boundary = config.boundary_point_count(problem.dim)
    reset_peak_memory(device)
    with deepxde_session(dde, dtype, device):
        data = to_deepxde_data(
            problem, config.points, num_boundary, config.law, generator, sample_dtype
        )
        trainer = dde.Model(data, net)
        iterations = compile_model(dde, trainer, config)
        callbacks = [recorder]
        if config.resample_every > 0:
            callbacks.append(
                dde.callbacks.PDEPointResampler(
                    config.resample_every, pde_points=True, bc_points=True
                )
            )
        trainer.train(
            iterations=iterations, display_every=config.eval_every, callbacks=callbacks, verbose=0
        )
    return write_deepxde_run(spec, out, problem, model, net, recorder)


def check_engine_options(config: TrainConfig, model: str) -> None:
    """DeepXDE takes the exact Laplacian (no estimators), trains all parameters with one
    learning rate (its L-BFGS at rate 1) and has no grid update. A prompt or meta-learner rate
    (which the presets set) only matters for a Meta model under Adam, and there it must equal
    ``lr``."""
    if config.update_grid_every:
        raise ValueError(
            f"update_grid_every={config.update_grid_every} is not supported by the deepxde "
            "engine (it has no grid update); leave it 0"
        )
    if config.laplacian in ESTIMATORS:
        raise ValueError(
            f"laplacian={config.laplacian!r} is not available with the deepxde engine (it takes "
            "the exact Laplacian from deepxde.grad.hessian); use --engine pinnkan for the "
            "estimators"
        )
    if config.optimizer == "lbfgs":
        check_lbfgs_rate(config.lr)
        return  # L-BFGS runs every parameter at one rate in both engines
    for name in ("prompt_lr", "meta_lr"):
        rate = getattr(config, name)
        if get_spec(model).meta and rate is not None and rate != config.lr:
            flag = "--" + name.replace("_", "-")
            raise ValueError(
                f"{name}={rate!r} (from {flag} or the preset) is not supported by the deepxde "
                f"engine (one learning rate for all parameters); give {flag} {config.lr:g}, "
                "the --lr"
            )


def check_lbfgs_rate(lr: float) -> None:
    """DeepXDE's L-BFGS is ``torch.optim.LBFGS`` with ``lr=1`` fixed (strong-Wolfe line
    search): another rate would be ignored, and the engines would not compare."""
    if lr != 1.0:
        raise ValueError(
            f"lr={lr!r} (from --lr or the preset) is not supported by the deepxde engine with "
            "L-BFGS (DeepXDE's L-BFGS takes steps of length 1); give --lr 1, or --engine pinnkan"
        )


@contextlib.contextmanager
def deepxde_session(dde: ModuleType, dtype: torch.dtype, device: torch.device) -> Iterator[None]:
    """Run DeepXDE in ``dtype`` with new tensors on ``device``; afterwards restore DeepXDE's
    default float, torch's default dtype and DeepXDE's L-BFGS options as they were."""
    float_name = {torch.float32: "float32", torch.float64: "float64"}[dtype]
    previous_float = dde.config.default_float()
    previous_dtype = torch.get_default_dtype()
    previous_lbfgs = dict(dde.optimizers.LBFGS_options)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # set_default_float prints
            dde.config.set_default_float(float_name)
        same_device = device == torch.get_default_device()  # skip the per-call dispatch mode
        with contextlib.nullcontext() if same_device else torch.device(device):
            yield
    finally:
        with contextlib.redirect_stdout(io.StringIO()):
            dde.config.set_default_float(previous_float)
        torch.set_default_dtype(previous_dtype)
        dde.optimizers.LBFGS_options.clear()
        dde.optimizers.LBFGS_options.update(previous_lbfgs)


def compile_model(dde: ModuleType, trainer: Any, config: TrainConfig) -> int | None:
    """``Model.compile`` for ``config``; returns the ``iterations`` to pass to ``train``."""
    weights = [config.alpha, 1.0] if config.constraint == "soft" else None
    if config.optimizer == "lbfgs":
        inner = config.lbfgs_max_iter
        dde.optimizers.set_LBFGS_options(
            maxcor=50, ftol=1e-14, gtol=1e-12, maxiter=config.steps * inner
        )
        # DeepXDE derives the iterations per optimizer step only at import; set them here
        dde.optimizers.LBFGS_options["iter_per_step"] = inner
        dde.optimizers.LBFGS_options["fun_per_step"] = math.ceil(1.25 * inner)
        trainer.compile("L-BFGS", loss_weights=weights, verbose=0)
        return None
    factor = schedule_factor(config.schedule, config.steps, config.final_lr_fraction)
    trainer.compile("adam", lr=config.lr, decay=("lambda", factor), loss_weights=weights, verbose=0)
    return config.steps


class HistoryRecorderAdapter:
    """DeepXDE callback that logs pinnkan's history every ``eval_every`` steps and after the
    last, the steps after which DeepXDE evaluates its loss (``display_every``; not after step
    1 as the pinnkan engine does, where DeepXDE's loss would be the one before the step): step,
    loss (and its terms), relative ℓ2/ℓ1/ℓ∞ on the test set, lr (the rate the step ran at, as
    in the pinnkan engine), train_time_s (wall time less this logging), wall_time_s, peak_memory_bytes.

    The loss is DeepXDE's, evaluated after the step on that step's points.
    """

    def __init__(
        self,
        network: nn.Module,
        x_test: Tensor,
        u_test: Tensor | None,
        config: TrainConfig,
        device: torch.device,
        progress: Progress | None,
    ) -> None:
        super().__init__()
        self.network = network
        self.x_test = x_test
        self.u_test = u_test
        self.config = config
        self.device = device
        self.progress = progress
        self.history: dict[str, list[float]] = {}
        self.step = 0
        self.step_lr = config.lr
        self.logged_step = 0
        self.start = time.perf_counter()
        self.logging_time = 0.0
        self.status = "completed"
        self.message = ""

    def on_train_begin(self) -> None:
        self.start = time.perf_counter()

    def on_batch_begin(self) -> None:
        self.step_lr = self.model.opt.param_groups[-1]["lr"]  # the rate this step runs at

    def on_batch_end(self) -> None:
        self.step += 1
        if self.step % self.config.eval_every == 0 or self.step == self.config.steps:
            self.log()
        if self.step >= self.config.steps:  # L-BFGS: exactly `steps` optimizer steps
            self.model.stop_training = True

    def on_train_end(self) -> None:
        if self.step != self.logged_step:
            self.log()

    def elapsed(self) -> tuple[float, float]:
        """(train time, wall time) in seconds since training began."""
        wall = time.perf_counter() - self.start
        return wall - self.logging_time, wall

    def log(self) -> None:
        tick = time.perf_counter()
        train_time, wall_time = self.elapsed()
        record: dict[str, float] = {"step": self.step, **self.loss_terms(), **self.evaluate()}
        record["lr"] = self.step_lr
        record["train_time_s"] = train_time
        record["wall_time_s"] = wall_time
        record["peak_memory_bytes"] = peak_memory_bytes(self.device)
        for name, value in record.items():
            self.history.setdefault(name, []).append(value)
        self.logged_step = self.step
        if not math.isfinite(record["loss"]):
            self.status = "diverged"
            self.message = f"loss became {record['loss']} at step {self.step}; try a smaller --lr"
            self.model.stop_training = True
        if self.progress is not None:
            self.progress(self.step, record)
        self.logging_time += time.perf_counter() - tick

    def loss_terms(self) -> dict[str, float]:
        """DeepXDE's weighted terms [α·interior, boundary] (soft) or [interior] (hard)."""
        terms = np.asarray(self.model.train_state.loss_train, dtype=np.float64).ravel()
        if self.config.constraint == "soft":
            interior, boundary = terms[0] / self.config.alpha, terms[1]
            return {
                "loss_interior": float(interior),
                "loss_boundary": float(boundary),
                "loss": float(terms.sum()),
            }
        return {"loss_interior": float(terms[0]), "loss": float(terms.sum())}

    def evaluate(self) -> dict[str, float]:
        if self.u_test is None:
            return {}
        return relative_errors(predict(self.network, self.x_test), self.u_test)


def write_deepxde_run(
    spec: SolveSpec,
    out: str,
    problem: PDE,
    model: nn.Module,
    net: nn.Module,
    recorder: Any,
) -> Run:
    """The run file of a DeepXDE solve, laid out as :func:`pinnkan.runner.solve_pde` does."""
    train_time, wall_time = recorder.elapsed()
    prediction = predict(net, recorder.x_test)
    device = recorder.device
    metrics: dict[str, Any] = {
        "steps": recorder.step,
        "train_time_s": train_time,
        "wall_time_s": wall_time,
        "peak_memory_bytes": peak_memory_bytes(device),
        "steps_per_s": recorder.step / train_time if train_time > 0 else float("nan"),
        "params": count_parameters(model),
    }
    test_set = {"x": recorder.x_test.cpu().numpy(), "prediction": prediction.cpu().numpy()}
    if recorder.u_test is not None:
        metrics.update(relative_errors(prediction, recorder.u_test))
        test_set["exact"] = recorder.u_test.cpu().numpy()
    if recorder.message:
        metrics["message"] = recorder.message
    config = run_config(spec, problem, model, device)
    config["engine"] = "deepxde"
    config["laplacian"] = "deepxde-hessian"
    config["deepxde"] = {
        "version": import_deepxde().__version__,
        "backend": BACKEND,
        "laplacian": "sum of deepxde.grad.hessian diagonal (reverse mode)",
        "optimizer": "L-BFGS (step length 1)" if spec.train.optimizer == "lbfgs" else "adam",
    }
    run = Run(
        config=config,
        history={name: np.asarray(values) for name, values in recorder.history.items()},
        metrics=metrics,
        status=recorder.status,
        test_set=test_set,
        model_state={name: t.detach().cpu() for name, t in model.state_dict().items()},
        checkpoint=None,
        path=out,
        model_config=dict(model.config),
    )
    write_run(out, run)
    return run
