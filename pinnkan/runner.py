"""One solver run from plain options to a run file: the library entry the CLI calls.

    run = solve_pde(SolveSpec(problem="poisson", problem_options={"dim": 10}, model="kan",
                              train=TrainConfig(steps=2000)), out="run.h5")

Everything is validated before training starts, so bad input never costs a training run and
never leaves a file behind. The run file is written atomically once training ends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .device import device_name, resolve_device, resolve_dtype
from .nn.build import build_model, count_parameters, get_spec
from .problem import PDE
from .problems import get_problem
from .results import Run, check_writable, environment_info, write_run
from .train import PDETrainer, TrainConfig

KAN_FAMILY_WITH_ORDER = ("kan", "metakan")
DEFAULT_HIDDEN = [32, 32, 32]


@dataclass(frozen=True)
class SolveSpec:
    """A resolved solver run: problem, model and trainer options, device and precision."""

    problem: str
    problem_options: dict[str, Any] = field(default_factory=dict)
    model: str = "kan"
    model_options: dict[str, Any] = field(default_factory=dict)
    width: list[int] | None = None
    train: TrainConfig = field(default_factory=TrainConfig)
    preset: str | None = None
    device: str = "auto"
    dtype: str = "float32"


def resolve_width(width: list[int] | None, dim: int) -> list[int]:
    """The default width ``[d, 32, 32, 32, 1]``; a given width must start with d and end with 1."""
    if width is None:
        return [dim, *DEFAULT_HIDDEN, 1]
    if len(width) < 2:
        raise ValueError(f"width={width} has {len(width)} entries; at least 2 are needed")
    if width[0] != dim:
        raise ValueError(f"width={width} starts with {width[0]} but the problem has dim={dim}")
    if width[-1] != 1:
        raise ValueError(f"width={width} ends with {width[-1]}; a scalar PDE solution needs 1")
    return list(width)


def check_order(problem: PDE, model: str, options: dict[str, Any]) -> None:
    """B-splines of order k < 2 have no second derivative: refuse them for second-order PDEs."""
    if model in KAN_FAMILY_WITH_ORDER and problem.order >= 2:
        k = options.get("k", get_spec(model).defaults["k"])
        if isinstance(k, int) and k < 2:
            raise ValueError(
                f"k={k} cannot represent a Laplacian (splines of order {k} have zero second "
                "derivative); use k ≥ 2"
            )


def prepare(spec: SolveSpec) -> tuple[PDE, nn.Module, torch.device, torch.dtype]:
    """Validate everything and build problem and model (seeded by ``spec.train.seed``)."""
    device = resolve_device(spec.device)
    dtype = resolve_dtype(spec.dtype)
    problem = get_problem(spec.problem, **spec.problem_options)
    if not isinstance(problem, PDE):
        raise ValueError(f"problem {spec.problem!r} is not a PDE; use `pinnkan fit` for regression")
    width = resolve_width(spec.width, problem.dim)
    check_order(problem, spec.model, spec.model_options)
    generator = torch.Generator().manual_seed(spec.train.seed)
    model = build_model(spec.model, width, generator=generator, **spec.model_options)
    return problem, model, device, dtype


def run_config(spec: SolveSpec, problem: PDE, model: nn.Module, device: torch.device) -> dict:
    return {
        "kind": "pde",
        "problem": problem.config(),
        "model": model.config,
        "train": spec.train.to_dict(),
        "preset": spec.preset,
        "device": str(device),
        "device_name": device_name(device),
        "dtype": spec.dtype,
        "sampling_law": spec.train.law,
        "laplacian": spec.train.laplacian,
        "seed": spec.train.seed,
        "params": count_parameters(model),
        "environment": environment_info(),
    }


def solve_pde(
    spec: SolveSpec, out: str, progress: Callable[[int, dict], None] | None = None
) -> Run:
    """Train and write the run file ``out``; returns the :class:`Run` that was written."""
    check_writable(out)
    problem, model, device, dtype = prepare(spec)
    trainer = PDETrainer(problem, model, spec.train, device, dtype, progress)
    result = trainer.run()
    metrics = {**result.metrics, "params": count_parameters(model)}
    run = Run(
        config=run_config(spec, problem, model, device),
        history={name: list(values) for name, values in result.history.items()},
        metrics=metrics,
        status=result.status,
        test_set={name: tensor.numpy() for name, tensor in result.test_set.items()},
        model_state={name: t.detach().cpu() for name, t in model.state_dict().items()},
        checkpoint=None,
        path=out,
    )
    if result.message:
        run.metrics["message"] = result.message
    write_run(out, run)
    return run
