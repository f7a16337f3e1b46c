"""Regression training (``pinnkan fit``): fit a backbone to a target f sampled in a box.

    ŷ(x) = μ + σ·N(x),    loss = (1/N) Σ_s (ŷ(x_s) − f(x_s))² / σ²,    reported: test MSE, RMSE

with μ = 0, σ = 1, or with ``standardize`` the mean and standard deviation of the training
targets (the network then fits standardised targets; the history logs the raw training MSE).

Data: ``problem.dataset(train_points, test_points, seed)`` — uniform in the problem's box, one
seeded generator (the training seed also seeds the data), inputs mapped onto [−1, 1]^d when
``normalize``. Optimiser: L-BFGS (lr 1, strong-Wolfe line search, ``lbfgs_iterations`` inner
iterations per step; every loss evaluation is logged) or Adam. For B-spline models the grid may
be adapted to the data every ``update_grid_every`` steps up to step ``update_grid_until``, and
extended to the finer grids ``extend_grids`` at equally spaced steps (see :mod:`pinnkan.grid`);
the optimiser is rebuilt after each grid change.

The run file (``config["kind"] = "regression"``) stores raw test points ``x``, ``exact`` = f(x)
and ``prediction``; ``config["normalization"]`` holds the box map when inputs were normalised.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from .basis.base import LinearBasis, contract
from .device import device_name, peak_memory_bytes, reset_peak_memory, resolve_device, resolve_dtype
from .environment import environment_info
from .grid import check_bspline_network, extend_grid, update_grid
from .nn.build import build_model, count_parameters
from .nn.kan import KANNetwork
from .optim import OPTIMIZERS, make_optimizer, parameter_groups
from .problems import get_problem
from .regression import Regression, RegressionData
from .results import Run, check_writable, write_run
from .summary import new_run_path
from .validation import check_bool, check_choice, check_int, check_positive

Progress = Callable[[int, dict], None]


@dataclass(frozen=True)
class FitConfig:
    """Everything that defines a regression run (flat plain data; the CLI maps flags onto it)."""

    problem: str
    dim: int | None = None
    model: str = "kan"
    width: list[int] | None = None
    model_options: dict[str, Any] = field(default_factory=dict)
    steps: int = 100
    optimizer: str = "lbfgs"
    lr: float = 1.0
    lbfgs_iterations: int = 20
    seed: int = 0
    train_points: int = 1000
    test_points: int = 1000
    normalize: bool = False
    standardize: bool = False
    update_grid_every: int = 0
    update_grid_until: int = 0
    grid_eps: float = 0.02
    extend_grids: list[int] = field(default_factory=list)
    device: str = "cpu"
    dtype: str = "float64"

    def __post_init__(self) -> None:
        check_int("steps", self.steps, 1)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_positive("lr", self.lr)
        check_int("lbfgs_iterations", self.lbfgs_iterations, 1)
        check_int("seed", self.seed, 0)
        check_int("train_points", self.train_points, 1)
        check_int("test_points", self.test_points, 1)
        check_bool("normalize", self.normalize)
        check_bool("standardize", self.standardize)
        check_int("update_grid_every", self.update_grid_every, 0)
        check_int("update_grid_until", self.update_grid_until, 0)
        if not 0.0 < self.grid_eps <= 1.0:
            raise ValueError(f"grid_eps={self.grid_eps!r} is not allowed; it must lie in (0, 1]")
        for grid in self.extend_grids:
            check_int("extend_grids entry", grid, 1)
        if self.dim is not None:
            check_int("dim", self.dim, 1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_width(problem: Regression) -> list[int]:
    """The paper's structure: Table 2 widths for Feynman equations, [n, 1, 1] for f1–f3.

    The first entry is the problem's dimension (the paper's I.9.18 is a 6-variable
    dimensionless form; ours has the 9 physical variables, so its width is [9, 5, 5, 5, 1]).
    """
    from .problems.feynman import PAPER_TABLE2, FeynmanProblem
    from .problems.highdim import HighDimProblem

    if isinstance(problem, FeynmanProblem):
        return [problem.dim, *PAPER_TABLE2[problem.equation.name]["width"][1:]]
    if isinstance(problem, HighDimProblem):
        return [problem.dim, 1, 1]
    raise ValueError(
        f"problem {problem.name!r} has no default width; give --width {problem.dim},…,1"
    )


def resolve_width(width: list[int] | None, problem: Regression) -> list[int]:
    if width is None:
        return default_width(problem)
    if len(width) < 2 or width[0] != problem.dim or width[-1] != 1:
        raise ValueError(
            f"width={list(width)} does not fit problem {problem.name!r}: it must start with "
            f"its dimension {problem.dim} and end with 1"
        )
    return list(width)


def load_problem(config: FitConfig) -> Regression:
    options = {} if config.dim is None else {"dim": config.dim}
    problem = get_problem(config.problem, **options)
    if not isinstance(problem, Regression):
        raise ValueError(f"problem {config.problem!r} is not a regression problem; use `solve`")
    return problem


def prepare(config: FitConfig) -> tuple[Regression, nn.Module, RegressionData]:
    """Validate everything and build problem, model (seeded) and data, before any training."""
    device, dtype = resolve_device(config.device), resolve_dtype(config.dtype)
    problem = load_problem(config)
    width = resolve_width(config.width, problem)
    generator = torch.Generator().manual_seed(config.seed)
    model = build_model(config.model, width, generator=generator, **config.model_options)
    if config.update_grid_every or config.extend_grids:
        check_bspline_network(model)
    data = problem.dataset(
        config.train_points, config.test_points, config.seed, config.normalize, device, dtype
    )
    return problem, model.to(device=device, dtype=dtype), data


@dataclass(frozen=True)
class TargetScaling:
    """Predictions ŷ = shift + scale · N(x): (0, 1), or with ``standardize`` the mean and
    standard deviation of the training targets (the network then fits standardised targets)."""

    shift: float = 0.0
    scale: float = 1.0

    @classmethod
    def of(cls, y: Tensor, standardize: bool) -> TargetScaling:
        if not standardize:
            return cls()
        return cls(float(y.mean()), float(y.std()) or 1.0)

    def __call__(self, output: Tensor) -> Tensor:
        return self.shift + self.scale * output

    def config(self) -> dict[str, float]:
        return {"shift": self.shift, "scale": self.scale}


class FixedPoints:
    """``model(x).squeeze(-1)`` on fixed points ``x (n, d)``, with the first layer's basis
    expansion ``B(x) (n, d, m)`` computed once (it depends on the knots only, not on the
    trained coefficients). For [n, 1, 1] at n = 1000 this is nearly all of the work.

    Call :meth:`refresh` after the knots change. Models whose first layer is not a
    :class:`LinearBasis` expansion are evaluated as they are.
    """

    def __init__(self, model: nn.Module, x: Tensor) -> None:
        self.model, self.x = model, x
        self.expansion: Tensor | None = None
        self.refresh()

    def refresh(self) -> None:
        linear = isinstance(self.model, KANNetwork) and isinstance(
            self.model.layers[0].family, LinearBasis
        )
        with torch.no_grad():
            self.expansion = self.model.layers[0].family.basis(self.x) if linear else None

    def __call__(self) -> Tensor:
        if self.expansion is None:
            return self.model(self.x).squeeze(-1)
        weights = self.model.coefficients()
        first = self.model.layers[0]
        y = contract(self.expansion, weights[0])
        if first.bias is not None:
            y = y + first.bias
        for layer, weight in zip(self.model.layers[1:], weights[1:], strict=True):
            y = layer(y, weight)
        return y.squeeze(-1)


class RegressionTrainer:
    """Trains ``model`` on ``data``; :meth:`run` returns ``(status, message)``, fills ``history``."""

    def __init__(
        self, model: nn.Module, data: RegressionData, config: FitConfig, progress: Progress | None
    ) -> None:
        self.model, self.data, self.config, self.progress = model, data, config, progress
        self.scaling = TargetScaling.of(data.y_train, config.standardize)
        self.train_points = FixedPoints(model, data.x_train)
        self.test_points = FixedPoints(model, data.x_test)
        self.history: dict[str, list[float]] = {}
        self.step = 0
        self.evaluations = 0
        self.start = time.perf_counter()
        self.extension_steps = extension_schedule(config.steps, len(config.extend_grids))
        self.optimizer = self.new_optimizer()

    def new_optimizer(self) -> torch.optim.Optimizer:
        groups = parameter_groups(self.model, self.config.lr)
        return make_optimizer(
            self.config.optimizer, groups, lbfgs_max_iter=self.config.lbfgs_iterations
        )

    def record(self, **values: float) -> None:
        row = {"evaluation": self.evaluations, "step": self.step, **values}
        row["wall_time_s"] = time.perf_counter() - self.start
        for name in ("evaluation", "step", "loss", "test_mse", "grid", "wall_time_s"):
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
        changed = False
        every, until = self.config.update_grid_every, self.config.update_grid_until
        if every and self.step % every == 0 and self.step < until:
            update_grid(self.model, self.data.x_train, self.config.grid_eps)
            changed = True
        if self.step in self.extension_steps:
            grid = self.config.extend_grids[self.extension_steps.index(self.step)]
            extend_grid(self.model, grid, self.data.x_train, self.config.grid_eps)
            changed = True
        if changed:
            self.optimizer = self.new_optimizer()
            self.train_points.refresh()
            self.test_points.refresh()

    def run(self) -> tuple[str, str]:
        """Train for ``config.steps`` steps; stop with "diverged" on a non-finite loss."""
        while self.step < self.config.steps:
            self.adapt_grid()
            loss = float(self.optimizer.step(self.closure).detach())
            self.step += 1
            test = self.test_mse()
            self.history["test_mse"][-1] = test
            self.history["grid"][-1] = current_grid(self.model)
            if self.progress is not None:
                self.progress(self.step, {"loss": self.history["loss"][-1], "test_mse": test})
            if not math.isfinite(loss) or not math.isfinite(self.history["loss"][-1]):
                return "diverged", f"loss became non-finite at step {self.step}; try a smaller --lr"
        return "completed", ""

    @torch.no_grad()
    def test_mse(self) -> float:
        return float((self.scaling(self.test_points()) - self.data.y_test).square().mean())


def extension_schedule(steps: int, count: int) -> list[int]:
    """Steps at which the ``count`` grid extensions happen: equal stages of the run."""
    return [round(steps * (index + 1) / (count + 1)) for index in range(count)]


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


def fit(config: FitConfig, out: str, progress: Progress | None = None) -> Run:
    """Validate, train, and write the run file ``out``; returns the written :class:`Run`."""
    problem, model, data = prepare(config)
    check_writable(out)
    device = resolve_device(config.device)
    reset_peak_memory(device)
    trainer = RegressionTrainer(model, data, config, progress)
    status, message = trainer.run()
    wall_time = time.perf_counter() - trainer.start
    metrics, prediction = final_metrics(model, data, trainer.scaling)
    metrics.update(
        params=count_parameters(model),
        steps=trainer.step,
        evaluations=trainer.evaluations,
        wall_time_s=wall_time,
        peak_memory_bytes=peak_memory_bytes(device),
        seed=config.seed,
        device=str(device),
        dtype=config.dtype,
        sampling="uniform box",
    )
    if message:
        metrics["message"] = message
    run = Run(
        config={
            **run_config(config, problem, model, data, device),
            "target_scaling": trainer.scaling.config(),
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
        "environment": environment_info(device),
    }


# --- command line ----------------------------------------------------------------------------


def add_fit_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``pinnkan fit`` flags (model flags from :func:`pinnkan.cli.add_model_arguments`)."""
    from .cli import add_model_arguments, int_list

    parser.add_argument("--problem", help="regression problem, e.g. feynman:I.12.5, highdim:f2")
    parser.add_argument("--dim", type=int, help="dimension n of highdim problems")
    add_model_arguments(parser)
    group = parser.add_argument_group("training")
    group.add_argument("--steps", type=int, help="optimizer steps (default 100)")
    group.add_argument("--optimizer", help="lbfgs (default) or adam")
    group.add_argument("--lr", type=float, help="learning rate (default 1 for L-BFGS)")
    group.add_argument("--lbfgs-iterations", type=int, help="L-BFGS inner iterations per step")
    group.add_argument("--seed", type=int, help="seed of data and initialisation (default 0)")
    group.add_argument("--train-points", type=int, help="training points (default 1000)")
    group.add_argument("--test-points", type=int, help="test points (default 1000)")
    group.add_argument("--normalize", action=argparse.BooleanOptionalAction, help="map to [-1,1]^d")
    group.add_argument("--update-grid-every", type=int, help="grid update from data every N steps")
    group.add_argument("--update-grid-until", type=int, help="no grid updates from this step on")
    group.add_argument("--extend-grids", type=int_list, help="finer grids, e.g. 10,20")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: cpu)")
    parser.add_argument("--dtype", default="float64", help="float64 (default) or float32")
    parser.add_argument("--out", help="run file (default: results/runs/<name>.h5)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    recipe = parser.add_argument_group("recipes (tables of runs)")
    recipe.add_argument("--recipe", help="run every fit of a recipe, e.g. solvers/table2.toml")
    recipe.add_argument("--seeds", type=int_list, help="seeds of each recipe run (default 0)")
    recipe.add_argument("--out-dir", help="folder of the recipe's run files")
    recipe.add_argument("--table", help="write the recipe's markdown table to this file")
    recipe.add_argument("--jobs", type=int, default=1, help="parallel recipe runs (default 1)")


FLAG_FIELDS = (
    "dim", "width", "steps", "optimizer", "lr", "lbfgs_iterations", "seed", "train_points",
    "test_points", "normalize", "update_grid_every", "update_grid_until", "extend_grids",
)  # fmt: skip


def fit_config(args: argparse.Namespace) -> FitConfig:
    """Flags -> :class:`FitConfig` (unset flags keep the defaults)."""
    from .commands import MODEL_FLAGS, given

    if args.problem is None:
        raise ValueError("--problem is required (or --recipe FILE)")
    lr = {"lr": 1e-3} if args.optimizer == "adam" and args.lr is None else {}
    return FitConfig(
        problem=args.problem,
        model=args.model,
        model_options=given(args, MODEL_FLAGS),
        device=args.device,
        dtype=args.dtype,
        **{**lr, **given(args, FLAG_FIELDS)},
    )


def run_fit(args: argparse.Namespace) -> int:
    """Handler of ``pinnkan fit``: one run, or every run of ``--recipe``."""
    from .summary import format_summary

    if args.recipe is not None:
        from .tables import run_recipe_command

        return run_recipe_command(args)
    config = fit_config(args)
    out = args.out or str(
        new_run_path("results/runs", config.problem, config.model, config.dim, config.seed)
    )
    progress = None if args.quiet else FitProgress(config.steps)
    run = fit(config, out, progress)
    print(format_summary(run))
    print(f"test MSE {run.metrics['mse']:.3e}, RMSE {run.metrics['rmse']:.3e}")
    print(f"run file: {out}")
    return 0 if run.status == "completed" else 1


class FitProgress:
    """Prints ``step s/N  loss …  test MSE …`` about twenty times per run on stderr."""

    def __init__(self, steps: int) -> None:
        self.steps = steps
        self.every = max(1, steps // 20)

    def __call__(self, step: int, record: dict) -> None:
        if step % self.every == 0 or step == self.steps:
            line = f"step {step}/{self.steps}  loss {record['loss']:.3e}  test MSE {record['test_mse']:.3e}"
            print(line, file=sys.stderr, flush=True)
