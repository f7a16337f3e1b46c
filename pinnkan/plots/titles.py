"""One-line descriptions of a run for figure titles: problem, dimension, model, size, steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..problems import problem_file
from ..report import given_problem
from ..results import Run
from ..wording import counted

PRETTY_MODELS = {
    "mlp": "MLP",
    "kan": "KAN",
    "metakan": "MetaKAN",
    "fastkan": "FastKAN",
    "metafastkan": "MetaFastKAN",
    "wavkan": "WavKAN",
    "metawavkan": "MetaWavKAN",
}


def pretty_model(name: Any) -> str:
    return PRETTY_MODELS.get(str(name), str(name))


def title_parts(run: Run) -> list[str]:
    """``["poisson, d = 5", "KAN [5, 16, 16, 1], 1,296 parameters", "400 steps"]``, and the
    status in capitals where the run did not complete (``"DIVERGED, weights of step 0"``)."""
    problem = run.config.get("problem")
    model = run.model_config or run.config.get("model") or {}
    parts = []
    if isinstance(problem, dict) and "name" in problem:
        dim = problem.get("dim")
        parts.append(
            problem_label(run, problem["name"]) + (f", d = {dim}" if dim is not None else "")
        )
    if isinstance(model, dict) and "name" in model:
        params = run.metrics.get("params", run.config.get("params"))
        size = f", {params:,} parameters" if isinstance(params, int) else ""
        parts.append(f"{pretty_model(model['name'])} {list(model.get('width', []))}{size}")
    steps = run.metrics.get("steps")
    known = isinstance(steps, int)
    if run.status != "completed":  # a diverged, failed, interrupted or running run says so
        weights = run.metrics.get("best_step", steps)  # a fit with --validation kept its best
        parts.append(run.status.upper() + (f", weights of step {weights}" if known else ""))
    elif known:
        parts.append(counted(steps, "step"))
    return parts


def problem_label(run: Run, name: str) -> str:
    """The problem's ``name``; for a user problem file also the file and class it came from
    (``"poisson (impostor.py:Helmholtz)"``), so that it is never read as the built-in one."""
    given = given_problem(run.config) or ""
    file = problem_file(given)
    if file is None:
        return str(name)
    return f"{name} ({Path(file).name}:{given.rpartition(':')[2]})"


def run_title(run: Run, max_chars: int | None = None) -> str:
    """E.g. ``"poisson, d = 5 · KAN [5, 16, 16, 1], 1,296 parameters · 400 steps"``.

    With ``max_chars`` the parts are put on several lines, each at most ``max_chars`` long
    where a part allows it (for narrow figures, whose title would otherwise be clipped).
    """
    parts = title_parts(run)
    if not parts:
        return str(run.path) if run.path is not None else "run"
    if max_chars is None:
        return " · ".join(parts)
    lines = [parts[0]]
    for part in parts[1:]:
        if len(lines[-1]) + 3 + len(part) <= max_chars:
            lines[-1] += " · " + part
        else:
            lines.append(part)
    return "\n".join(lines)
