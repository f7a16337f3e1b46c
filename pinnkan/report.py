"""``pinnkan report``: a markdown table comparing runs, grouped over training seeds.

Runs are grouped by (kind, problem, dimension, model, device, setting), where the setting is
every problem, model and training option except the training seed. Per group the table gives
the mean ± sample standard deviation (n − 1) over the runs of the relative ℓ2 error (PDE) or the
test MSE (regression), the parameters, wall time, steps, device and sampling law; options that
differ between groups are spelled out per row, options shared by all rows once below the table.
With ``--against paper`` the MetaKAN paper's values are added where problem, dimension and
model match: Table 8 (PDEs), Table 2 (Feynman) and Table 4 (high-dimensional fitting).
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .results import Run, read_run

AGAINST = ("paper",)

# MetaKAN paper, Table 8: relative ℓ2 error on the unit d-ball, (KAN, MetaKAN) per dimension.
PAPER_TABLE8: dict[str, dict[int, dict[str, float]]] = {
    "poisson": {
        20: {"kan": 5.24e-4, "metakan": 2.96e-3},
        50: {"kan": 2.14e-3, "metakan": 4.85e-3},
        100: {"kan": 3.77e-3, "metakan": 4.59e-3},
    },
    "allen_cahn": {
        20: {"kan": 1.36e-3, "metakan": 3.66e-3},
        50: {"kan": 2.36e-3, "metakan": 6.10e-3},
        100: {"kan": 6.53e-3, "metakan": 3.37e-3},
    },
    "sine_gordon": {
        20: {"kan": 2.66e-1, "metakan": 2.69e-1},
        50: {"kan": 6.08e-2, "metakan": 5.88e-2},
        100: {"kan": 1.91e-2, "metakan": 2.60e-2},
    },
}
PAPER_TABLE8_PARAMS = {
    "kan": {20: 24_480, 50: 33_120, 100: 47_520},
    "metakan": {20: 4_137, 50: 5_097, 100: 6_697},
}
PAPER_PDE_HIDDEN = [32, 32, 32]  # width [d, 32, 32, 32, 1], G = 5, k = 3, meta hidden 128
PAPER_PDE_OPTIONS = {"grid": 5, "k": 3}
PAPER_META_HIDDEN_PDE = 128


@dataclass(frozen=True)
class PaperValue:
    """A published number: metric value, parameter count, where from, and whether the run's
    architecture is the paper's (if not, the numbers are shown but marked)."""

    value: float | None
    params: int | None
    source: str
    same_architecture: bool


@dataclass
class RunFacts:
    """What the report reads from one run file."""

    path: str
    kind: str
    problem: str
    dim: int | None
    model: str
    device: str
    seed: Any
    setting: dict[str, str]
    error: float | None
    params: int | None
    wall_time_s: float | None
    steps: int | None
    sampling: str
    status: str
    model_config: dict[str, Any]
    problem_config: dict[str, Any]


# --- reading runs ------------------------------------------------------------------------------


def run_paths(inputs: Iterable[str]) -> list[Path]:
    """Files as given; folders expand to the ``*.h5`` files below them (sorted)."""
    paths: list[Path] = []
    for text in inputs:
        location = Path(text)
        if location.is_dir():
            found = sorted(location.rglob("*.h5"))
            if not found:
                raise ValueError(f"folder {location} holds no .h5 run files")
            paths.extend(found)
        elif location.exists():
            paths.append(location)
        else:
            raise ValueError(f"run file {location} does not exist")
    return paths


def number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def flat_setting(run: Run, model: dict[str, Any], problem: dict[str, Any]) -> dict[str, str]:
    """Every option that defines the run except the training seed, as ``name -> JSON``."""
    setting = {f"problem.{k}": v for k, v in problem.items() if k not in ("name", "dim")}
    setting.update({f"model.{k}": v for k, v in model.items() if k != "name"})
    train = run.config.get("train") if isinstance(run.config.get("train"), dict) else {}
    setting.update({f"train.{k}": v for k, v in train.items() if k != "seed"})
    if "dtype" in run.config:
        setting["dtype"] = run.config["dtype"]
    return {name: json.dumps(value, sort_keys=True) for name, value in setting.items()}


def run_facts(run: Run) -> RunFacts:
    config, metrics = run.config, run.metrics
    kind = str(config.get("kind", "pde"))
    problem = config.get("problem") if isinstance(config.get("problem"), dict) else {}
    model = run.model_config or config.get("model")
    model = model if isinstance(model, dict) else {}
    train = config.get("train") if isinstance(config.get("train"), dict) else {}
    metric = "rel_l2" if kind == "pde" else ("mse" if "mse" in metrics else "test_mse")
    params = metrics.get("params", config.get("params"))
    steps = metrics.get("steps")
    return RunFacts(
        path=str(run.path),
        kind=kind,
        problem=str(problem.get("name", "?")),
        dim=problem.get("dim") if isinstance(problem.get("dim"), int) else None,
        model=str(model.get("name", "?")),
        device=str(config.get("device_name") or config.get("device") or "?"),
        seed=config.get("seed", train.get("seed")),
        setting=flat_setting(run, model, problem),
        error=number(metrics.get(metric)),
        params=params if isinstance(params, int) else None,
        wall_time_s=number(metrics.get("wall_time_s")),
        steps=steps if isinstance(steps, int) else None,
        sampling=str(config.get("sampling_law") or train.get("law") or "—"),
        status=run.status,
        model_config=model,
        problem_config=problem,
    )


# --- grouping and statistics ------------------------------------------------------------------


def group_runs(facts: list[RunFacts]) -> dict[tuple, list[RunFacts]]:
    """Runs that differ only in their training seed, keyed and sorted by what they share."""
    groups: dict[tuple, list[RunFacts]] = {}
    for fact in facts:
        setting = tuple(sorted(fact.setting.items()))
        key = (fact.kind, fact.problem, fact.dim or 0, fact.model, fact.device, setting)
        groups.setdefault(key, []).append(fact)
    return dict(sorted(groups.items(), key=lambda item: repr(item[0])))


def mean_and_std(values: list[float | None]) -> tuple[float | None, float | None, int]:
    """(mean, sample std with n − 1 or None for n < 2, n) over the finite values."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return None, None, 0
    spread = statistics.stdev(finite) if len(finite) > 1 else None
    return statistics.fmean(finite), spread, len(finite)


def format_mean(values: list[float | None], digits: int = 2) -> str:
    """``"1.23e-03 ± 4.5e-04"`` (± only with two or more values), ``"n/a"`` without any."""
    mean, spread, _ = mean_and_std(values)
    if mean is None:
        return "n/a"
    text = f"{mean:.{digits}e}"
    return text if spread is None else f"{text} ± {spread:.1e}"


def format_time(values: list[float | None]) -> str:
    mean, spread, _ = mean_and_std(values)
    if mean is None:
        return "n/a"
    return f"{mean:.1f}" if spread is None else f"{mean:.1f} ± {spread:.1f}"


def distinct(values: Iterable[Any]) -> str:
    shown = [str(v) for v in dict.fromkeys(values) if v is not None]
    return ", ".join(f"{v:,}" if isinstance(v, int) else v for v in shown) or "n/a"


def seeds_cell(group: list[RunFacts]) -> str:
    """Number of runs, with the statuses that are not "completed" in brackets."""
    bad: dict[str, int] = {}
    for fact in group:
        if fact.status != "completed":
            bad[fact.status] = bad.get(fact.status, 0) + 1
    extra = ", ".join(f"{count} {status}" for status, count in bad.items())
    return f"{len(group)} ({extra})" if extra else str(len(group))
