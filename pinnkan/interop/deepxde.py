"""DeepXDE interoperability: pinnkan backbones in DeepXDE, pinnkan ball PDEs as DeepXDE data,
and the ``pinnkan solve --engine deepxde`` path.

    net = as_deepxde_net(build_model("metakan", [3, 32, 32, 1]))      # a deepxde.nn.pytorch.NN
    net.apply_output_transform(lambda x, y: (1 - (x**2).sum(1, keepdim=True)) * y)
    data = to_deepxde_data(get_problem("poisson", dim=3), num_domain=100, num_boundary=300)
    model = deepxde.Model(data, net)

DeepXDE is imported on first use (never by ``import pinnkan``), with ``DDE_BACKEND=pytorch``
unless the environment already names a backend. It keeps global state, handled here so:

- backend: a DeepXDE already imported with another backend is refused (ValueError);
- default device: on import DeepXDE makes CUDA torch's default device when a GPU exists;
  :func:`import_deepxde` restores the previous default, and :func:`solve_with_deepxde` runs
  DeepXDE inside ``with torch.device(device)`` when that is not the default already;
- default float (which also sets torch's default dtype) and the L-BFGS options: set for one
  solve and restored afterwards;
- random seeds: never touched; training points come from a seeded ``torch.Generator``.

Losses (as pinnkan's trainer, :mod:`pinnkan.train`): hard constraint û = (1 − |x|²/R²)·N(x)
with loss = mean (L[û] − f)² on the interior points; soft constraint
loss = α·mean (L[u] − f)² + mean (u − g)² with ``num_boundary`` boundary points drawn by the
boundary condition itself (the residual is taken on the interior points only).
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from functools import cached_property
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..device import peak_memory_bytes, reset_peak_memory
from ..geometry import LAWS, Ball
from ..nn.build import count_parameters
from ..optim import schedule_factor
from ..problem import PDE, Fields
from ..results import Run, check_writable, write_run
from ..runner import SolveSpec, prepare, run_config
from ..train import TrainConfig, make_test_set, predict, relative_errors
from ..validation import check_choice, check_int

BACKEND = "pytorch"
Progress = Callable[[int, dict], None]


# --- importing DeepXDE ---------------------------------------------------------------------------


@functools.cache
def import_deepxde() -> ModuleType:
    """The ``deepxde`` module on the PyTorch backend, imported once, with torch's default
    device left as it was (DeepXDE switches it to CUDA on import when a GPU is present)."""
    if "deepxde" in sys.modules:
        check_backend(sys.modules["deepxde"].backend.backend_name)
        return sys.modules["deepxde"]
    backend = os.environ.setdefault("DDE_BACKEND", BACKEND)
    check_backend(backend)
    device = torch.get_default_device()
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # DeepXDE announces its backend
            import deepxde
    except ImportError as error:
        raise ValueError(f"the deepxde engine needs the deepxde package: {error}") from error
    if torch.get_default_device() != device:
        torch.set_default_device(None if device.type == "cpu" else device)
    return deepxde


def check_backend(name: str) -> None:
    if name != BACKEND:
        raise ValueError(
            f"DeepXDE backend {name!r} is not supported; pinnkan needs {BACKEND!r} "
            f"(set DDE_BACKEND={BACKEND} before deepxde is imported)"
        )


@functools.cache
def deepxde_class(adapter: type, base_name: str) -> type:
    """The class ``adapter`` with the DeepXDE class ``base_name`` (e.g. "nn.pytorch.NN") as
    base, built on first use so that DeepXDE is imported only when needed."""
    base = import_deepxde()
    for part in base_name.split("."):
        base = getattr(base, part)
    namespace = {"__module__": __name__, "__doc__": adapter.__doc__}
    return type(adapter.__name__.removesuffix("Adapter"), (adapter, base), namespace)


# --- networks ------------------------------------------------------------------------------------


class DeepXDENetworkAdapter:
    """A pinnkan backbone as a DeepXDE network (``deepxde.nn.pytorch.NN``):

        outputs = T_out(x, model(T_in(x))),   x (batch, d) -> (batch, out_features)

    with DeepXDE's ``apply_feature_transform`` (T_in) and ``apply_output_transform`` (T_out),
    each the identity until set. The backbone is ``self.model``; its parameters are the
    network's parameters.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: Tensor) -> Tensor:
        features = inputs if self._input_transform is None else self._input_transform(inputs)
        outputs = self.model(features)
        if self._output_transform is not None:
            outputs = self._output_transform(inputs, outputs)
        return outputs


def as_deepxde_net(model: nn.Module) -> nn.Module:
    """Wrap ``model (batch, d) -> (batch, k)`` (KAN, MetaKAN, MLP, …) as a DeepXDE network."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"model={model!r} is not allowed; give a torch.nn.Module")
    return deepxde_class(DeepXDENetworkAdapter, "nn.pytorch.NN")(model)


def ball_hard_constraint(ball: Ball) -> Callable[[Tensor, Tensor], Tensor]:
    """DeepXDE output transform û = (1 − |x|²/R²)·N: ``(x (batch, d), N (batch, 1)) ->
    (batch, 1)``; the same û as :class:`pinnkan.nn.constraint.BallHardConstraint`."""

    def transform(x: Tensor, outputs: Tensor) -> Tensor:
        return ball.boundary_factor(x).unsqueeze(-1) * outputs

    return transform


# --- the PDE ------------------------------------------------------------------------------------


class DeepXDEFields(Fields):
    """What pinnkan's operator sees on DeepXDE's tensors ``x (batch, d)`` (the leaf DeepXDE
    differentiates against) and ``y (batch, 1)``, by DeepXDE's cached reverse-mode derivatives:

        u = y[:, 0],   ∇u = jacobian(y, x, i=0),   ∇²u[j, k] = hessian(y, x, i=j, j=k),
        Δu = Σ_j hessian(y, x, i=j, j=j).
    """

    def __init__(self, x: Tensor, y: Tensor) -> None:
        super().__init__(x)
        self.y = y

    @property
    def u(self) -> Tensor:
        return self.y[:, 0]

    @property
    def traced(self) -> tuple[Tensor, Tensor]:
        return self.x, self.y[:, 0]

    @cached_property
    def gradient(self) -> Tensor:
        return import_deepxde().grad.jacobian(self.y, self.x, i=0)

    @cached_property
    def laplacian(self) -> Tensor:
        diagonal = [self.second_derivative(j, j) for j in range(self.x.shape[1])]
        return torch.stack(diagonal, dim=1).sum(dim=1)

    @cached_property
    def hessian(self) -> Tensor:
        dim = self.x.shape[1]
        rows = [
            torch.stack([self.second_derivative(j, k) for k in range(dim)], 1) for j in range(dim)
        ]
        return torch.stack(rows, dim=1)

    def second_derivative(self, j: int, k: int) -> Tensor:
        """∂²u/∂x_j∂x_k, ``(batch,)``."""
        return import_deepxde().grad.hessian(self.y, self.x, i=j, j=k)[:, 0]


def deepxde_pde(problem: PDE) -> Callable[[Tensor, Tensor], Tensor]:
    """DeepXDE's ``pde(x, y)``: L[u](x) − f(x) from pinnkan's operator, ``(batch, 1)``."""

    def pde(x: Tensor, y: Tensor) -> Tensor:
        problem.check_points(x)
        residual = problem.operator(DeepXDEFields(x, y)) - problem.forcing(x.detach())
        return residual.unsqueeze(-1)

    return pde


def numpy_function(function: Callable[[Tensor], Tensor]) -> Callable[[np.ndarray], np.ndarray]:
    """``function: (n, d) -> (n,)`` on torch tensors as DeepXDE's ``(n, d) -> (n, 1)`` on
    NumPy arrays (evaluated in float64 on the CPU, returned in the input's dtype)."""

    def on_arrays(x: np.ndarray) -> np.ndarray:
        values = function(torch.from_numpy(np.asarray(x, dtype=np.float64)))
        return values.detach().numpy()[:, None].astype(np.asarray(x).dtype)

    return on_arrays


# --- geometry and boundary condition -------------------------------------------------------------


class LawHypersphereAdapter:
    """``deepxde.geometry.Hypersphere`` around 0 whose random points follow a pinnkan law of
    :class:`pinnkan.geometry.Ball` ("volume" or "radial"), drawn from ``generator`` in
    ``sample_dtype`` (torch's default dtype when None) and then cast to DeepXDE's float.
    With a seeded generator the points equal those of pinnkan's trainer.
    """

    def __init__(
        self,
        ball: Ball,
        law: str,
        generator: torch.Generator | None = None,
        sample_dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__([0.0] * ball.dim, ball.radius)
        self.ball = ball
        self.law = law
        self.generator = generator
        self.sample_dtype = sample_dtype

    def random_points(self, n: int, random: str = "pseudo") -> np.ndarray:
        x = self.ball.sample_interior(n, self.law, self.generator, "cpu", self.sample_dtype)
        return self.as_array(x)

    def random_boundary_points(self, n: int, random: str = "pseudo") -> np.ndarray:
        x = self.ball.sample_boundary(n, self.generator, "cpu", self.sample_dtype)
        return self.as_array(x)

    def as_array(self, x: Tensor) -> np.ndarray:
        return x.numpy().astype(import_deepxde().config.real(np))


class BallDirichletAdapter:
    """``deepxde.icbc.DirichletBC`` u = g on the sphere, on its own ``num_points`` boundary
    points drawn from the geometry whenever DeepXDE (re)collects the boundary points.

    Unlike the stock DirichletBC it neither selects boundary points by |x| ≈ R from the
    training points (interior points that close to the sphere would change the count) nor
    caches g by the id of the point array (stale after resampling): g is evaluated on the
    current points, in torch, at every loss evaluation.
    """

    def __init__(self, geometry: Any, problem: PDE, num_points: int) -> None:
        values = numpy_function(problem.boundary_value)
        super().__init__(geometry, values, lambda x, on_boundary: on_boundary)
        self.problem = problem
        self.num_points = num_points

    def collocation_points(self, X: np.ndarray) -> np.ndarray:
        return self.geom.random_boundary_points(self.num_points)

    def error(
        self, X: np.ndarray, inputs: Tensor, outputs: Tensor, beg: int, end: int, aux_var=None
    ) -> Tensor:
        values = self.problem.boundary_value(inputs[beg:end].detach()).unsqueeze(-1)
        return outputs[beg:end, self.component : self.component + 1] - values


def to_deepxde_data(
    problem: PDE,
    num_domain: int,
    num_boundary: int = 0,
    law: str | None = None,
    generator: torch.Generator | None = None,
    sample_dtype: torch.dtype | None = None,
) -> Any:
    """A pinnkan PDE on a :class:`Ball` as ``deepxde.data.PDE``.

    Geometry ``Hypersphere(0, R)`` (DeepXDE's own volume-uniform sampler when ``law`` is None,
    else pinnkan's ``law`` drawn from ``generator``), ``pde(x, y)`` = L[u] − f from
    ``problem.operator``, a Dirichlet condition u = ``problem.boundary_value`` on
    ``num_boundary`` boundary points (none when 0, e.g. with a hard constraint), and the exact
    solution as ``solution`` when the problem has one.
    """
    if not isinstance(problem.geometry, Ball):
        raise ValueError(
            f"geometry {problem.geometry!r} is not allowed; to_deepxde_data converts PDEs on a Ball"
        )
    check_int("num_domain", num_domain, 1)
    check_int("num_boundary", num_boundary, 0)
    if law is not None:
        check_choice("law", law, LAWS)
    dde = import_deepxde()
    ball = problem.geometry
    if law is None:
        geometry = dde.geometry.Hypersphere([0.0] * ball.dim, ball.radius)
    else:
        geometry = deepxde_class(LawHypersphereAdapter, "geometry.Hypersphere")(
            ball, law, generator, sample_dtype
        )
    conditions = []
    if num_boundary > 0:
        dirichlet = deepxde_class(BallDirichletAdapter, "icbc.DirichletBC")
        conditions.append(dirichlet(geometry, problem, num_boundary))
    exact = problem.exact_solution()
    solution = None if exact is None else numpy_function(exact.value)
    return dde.data.PDE(
        geometry,
        deepxde_pde(problem),
        conditions,
        num_domain=num_domain,
        num_boundary=0,
        train_distribution="pseudo",
        solution=solution,
    )


# --- the solver path -----------------------------------------------------------------------------


def solve_with_deepxde(spec: SolveSpec, out: str, progress: Progress | None = None) -> Run:
    """``pinnkan solve --engine deepxde``: train ``spec`` through ``deepxde.Model`` and write
    the run file ``out`` (same format as :func:`pinnkan.runner.solve_pde`, with
    ``config["engine"] = "deepxde"``); returns the :class:`Run` that was written.

    Adam with ``spec.train.lr`` and its schedule, or L-BFGS (DeepXDE's, step length 1) for
    ``spec.train.steps`` steps of ``lbfgs_max_iter`` iterations; errors on pinnkan's fixed test
    set, logged every ``eval_every`` steps.
    """
    config = spec.train
    check_engine_options(config)
    problem, model, device, dtype = prepare(spec)  # validate before creating any directory
    check_writable(out)
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
    num_boundary = boundary_point_count(config, problem.dim)
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


def check_engine_options(config: TrainConfig) -> None:
    """DeepXDE trains all parameters with one learning rate."""
    for name in ("prompt_lr", "meta_lr"):
        if getattr(config, name) is not None:
            raise ValueError(
                f"{name}={getattr(config, name)!r} is not supported by the deepxde engine "
                "(one learning rate for all parameters); leave it unset"
            )


def boundary_point_count(config: TrainConfig, dim: int) -> int:
    """Boundary points of the soft constraint (0 = 100·d, the paper's N_b); none when hard."""
    if config.constraint == "hard":
        return 0
    return config.boundary_points or 100 * dim


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
    """DeepXDE callback that logs pinnkan's history every ``eval_every`` optimizer steps and
    at the end: step, loss (and its terms), relative ℓ2/ℓ1/ℓ∞ on the test set, lr,
    train_time_s (wall time less this logging), wall_time_s, peak_memory_bytes.

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
        self.logged_step = 0
        self.start = time.perf_counter()
        self.logging_time = 0.0
        self.status = "completed"
        self.message = ""

    def on_train_begin(self) -> None:
        self.start = time.perf_counter()

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
        record["lr"] = self.model.opt.param_groups[-1]["lr"]
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
