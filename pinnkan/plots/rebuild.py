"""Rebuild what a run trained from its run file: the problem, the backbone, the solution map.

    backbone   N = build_model(**config["model"]) with the stored state_dict
    solution   û(x) = (1 − |x|²/R²)·N(x)   if config["train"]["constraint"] == "hard"
               û(x) = N(x)                 otherwise

The problem is rebuilt from what the user gave ``pinnkan solve`` (``config["spec"]``: a built-in
name or ``path/to/file.py:Class``, plus the problem options), the way the runner built it; run
files without a spec fall back to ``get_problem(config["problem"]["name"], **other options)``.
Its exact solution is recomputed (it is seeded), never stored.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from ..nn.build import get_spec
from ..nn.kan import KANNetwork
from ..problems import get_problem
from ..results import Run, restore_model
from ..solution import restore_solution


def run_label(run: Run) -> str:
    """The file a run came from, for messages (``"run"`` when it was never written)."""
    return str(run.path) if run.path is not None else "run"


def run_kind(run: Run) -> str:
    """``"pde"`` or ``"regression"`` (``config["kind"]``; ``"pde"`` when absent)."""
    return str(run.config.get("kind", "pde"))


def model_config(run: Run) -> dict[str, Any]:
    """``model.config`` of the trained backbone: name, width and options (plain data)."""
    config = run.model_config or run.config.get("model")
    if not isinstance(config, dict) or "name" not in config or "width" not in config:
        raise ValueError(f"run file {run_label(run)} records no model configuration")
    return config


def model_name(run: Run) -> str:
    return str(model_config(run)["name"])


def is_kan_model(run: Run) -> bool:
    """True for every backbone with learned edge functions (all registered models but MLP)."""
    return get_spec(model_name(run)).family is not None


def is_meta_model(run: Run) -> bool:
    """True for MetaKAN-type backbones (coefficients generated from per-edge prompts)."""
    return get_spec(model_name(run)).meta


def with_model(run: Run) -> Run:
    """``run`` with its weights and a checked model configuration, else one line saying why."""
    if not run.model_state:
        raise ValueError(
            f"run file {run_label(run)} holds no model weights; it is needed for this figure"
        )
    return dataclasses.replace(run, model_config=model_config(run))


def rebuild_model(run: Run) -> nn.Module:
    """The trained backbone N with its stored weights, in evaluation mode on the CPU."""
    return restore_model(with_model(run), "cpu").eval()


def rebuild_kan(run: Run) -> KANNetwork:
    """The trained backbone, which must be a KAN-type network (for the edge figures)."""
    model = rebuild_model(run)
    if not isinstance(model, KANNetwork):
        raise ValueError(f"model {model_name(run)!r} of {run_label(run)} has no edge functions")
    return model


def rebuild_problem(run: Run) -> Any:
    """The run's problem, built as :func:`pinnkan.runner.prepare` built it from the run's spec.

    ``config["spec"]["problem"]`` is what the user gave (``"poisson"`` or
    ``"examples/helmholtz.py:Helmholtz"``), so a user class is never confused with a built-in
    of the same ``name``. Runs without a spec use ``config["problem"]`` (name and options).
    """
    spec = run.config.get("spec")
    if isinstance(spec, dict) and isinstance(spec.get("problem"), str):
        return rebuild_from_spec(run, spec)
    config = run.config.get("problem")
    if not isinstance(config, dict) or "name" not in config:
        raise ValueError(f"run file {run_label(run)} records no problem configuration")
    options = {key: value for key, value in config.items() if key != "name"}
    return get_problem(config["name"], **options)


def rebuild_from_spec(run: Run, spec: dict[str, Any]) -> Any:
    from ..runner import problem_keywords, spec_from_dict

    train = run.config.get("train") if isinstance(run.config.get("train"), dict) else {}
    try:
        solve_spec = spec_from_dict(spec, train)  # finds a user file (runner.located_problem)
        keywords = problem_keywords(solve_spec)
    except (KeyError, TypeError) as error:
        raise ValueError(
            f"run file {run_label(run)} records an unreadable solve spec ({error})"
        ) from None
    except ValueError as error:  # e.g. its problem file is nowhere to be found
        raise ValueError(f"run file {run_label(run)}: {error}") from None
    return get_problem(solve_spec.problem, **keywords)


def rebuild_solution(run: Run, radius: float) -> nn.Module:
    """The map x ↦ û(x) the run was evaluated with, on the CPU (:mod:`pinnkan.solution`):
    ``(batch, d)`` -> ``(batch, 1)``; ``radius``: the problem's (rebuilt by the caller)."""
    return restore_solution(with_model(run), "cpu", radius)


def model_dtype(model: nn.Module) -> torch.dtype:
    """The floating dtype of the model's parameters (float32 when it has none)."""
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
