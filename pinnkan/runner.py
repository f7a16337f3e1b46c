"""One solver run from plain options to a run file: the library entry the CLI calls.

    run = solve_pde(SolveSpec(problem="poisson", problem_options={"dim": 10}, model="kan",
                              train=TrainConfig(steps=2000)), out="run.h5")

Everything is validated before training starts, so bad input never costs a training run and
never leaves a file behind. The run file is written atomically once training ends.
"""

from __future__ import annotations

import contextlib
import shlex
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import distributed
from .device import device_name, resolve_device, resolve_dtype
from .environment import environment_info
from .nn.build import build_model, check_width, count_parameters, legacy_model_options
from .presets import PRESET, load_preset, preset_model_options, preset_train
from .problem import PDE
from .problem_checks import check_attributes, check_problem
from .problems import get_problem, problem_file, resolved_problem_file
from .results import Run, check_writable, read_run, write_run
from .run_failure import RunFailedError, error_summary
from .text_file import WriteError, writing_alone
from .train import PDETrainer, TrainConfig, check_derivative_order
from .train_grid import check_grid_model
from .wording import counted

DEFAULT_HIDDEN = [32, 32, 32]


@dataclass(frozen=True)
class SolveSpec:
    """A resolved solver run: problem, model and trainer options, device and precision.

    ``preset`` records the name of the preset (or sweep recipe) the spec was made from, for run
    files and reports; it changes nothing by itself (``train`` and ``model_options`` are what
    runs). :meth:`from_preset` makes a spec from a preset as ``pinnkan solve --preset`` does:
    its ``[train]`` and ``[model]`` tables, overridden by the values given.
    """

    problem: str
    problem_options: dict[str, Any] = field(default_factory=dict)
    model: str = "kan"
    model_options: dict[str, Any] = field(default_factory=dict)
    width: list[int] | None = None
    train: TrainConfig = field(default_factory=TrainConfig)
    preset: str | None = None
    device: str = "auto"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        """Each field of the type it needs, one ValueError line naming it otherwise; ``train``
        may be a dict of TrainConfig fields, ``dtype`` a torch.dtype, ``device`` a
        torch.device (kept as their names, as a run file records them)."""
        if not isinstance(self.problem, str):
            raise ValueError(
                f"problem={self.problem!r} is not allowed; give a problem's name or "
                "'path/to/file.py:ClassName' (a run file records how to rebuild it)"
            )
        for name in ("problem_options", "model_options"):
            if not isinstance(getattr(self, name), dict):
                raise ValueError(f"{name}={getattr(self, name)!r} is not allowed; give a dict")
        if self.width is not None:
            object.__setattr__(self, "width", check_width(self.width))
        if isinstance(self.train, dict):
            object.__setattr__(self, "train", train_config_of(self.train))
        elif not isinstance(self.train, TrainConfig):
            raise ValueError(f"train={self.train!r} is not allowed; give a TrainConfig or a dict")
        if isinstance(self.dtype, torch.dtype):
            object.__setattr__(self, "dtype", str(self.dtype).removeprefix("torch."))
        if isinstance(self.device, torch.device):
            object.__setattr__(self, "device", str(self.device))
        for name, allowed in (
            ("dtype", "'float32' or 'float64'"),
            ("device", "'auto', 'cpu', 'cuda' or 'cuda:N'"),
        ):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{name}={getattr(self, name)!r} is not allowed; give {allowed}")

    @classmethod
    def from_preset(
        cls,
        preset: str,
        problem: str,
        train: dict[str, Any] | None = None,
        model_options: dict[str, Any] | None = None,
        **fields: Any,
    ) -> SolveSpec:
        """E.g. ``SolveSpec.from_preset("sdgd", "poisson", train={"steps": 500},
        problem_options={"dim": 10}, model="metakan")``: TrainConfig defaults < the preset's
        ``[train]`` < ``train``; the preset's ``[model]`` options the model takes < ``model_options``."""
        table = load_preset(preset, PRESET)
        model = fields.get("model", "kan")
        return cls(
            problem=problem,
            train=preset_train(table, train or {}),
            model_options=preset_model_options(table, model, model_options or {}),
            preset=preset,
            **fields,
        )


def train_config_of(values: dict[str, Any]) -> TrainConfig:
    """``TrainConfig(**values)``, an unknown key being one ValueError line naming it."""
    known = {option.name for option in fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(
            f"train option {unknown[0]!r} is not known; allowed: {', '.join(sorted(known))}"
        )
    return TrainConfig(**values)


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


def check_samples(train: TrainConfig, dim: int) -> None:
    """SDGD draws at most d of the d coordinates."""
    if train.laplacian == "sdgd" and train.laplacian_samples > dim:
        raise ValueError(
            f"laplacian_samples={train.laplacian_samples} is not allowed; SDGD takes at most d = {dim}"
        )


def prepare(spec: SolveSpec) -> tuple[PDE, nn.Module, torch.device, torch.dtype]:
    """Validate everything and build problem and model (seeded by ``spec.train.seed``)."""
    device = resolve_device(spec.device)
    dtype = resolve_dtype(spec.dtype)
    problem = get_problem(spec.problem, **problem_keywords(spec))
    if not isinstance(problem, PDE):
        raise ValueError(f"problem {spec.problem!r} is not a PDE; use `pinnkan fit` for regression")
    check_attributes(problem)
    width = resolve_width(spec.width, problem.dim)
    check_samples(spec.train, problem.dim)
    check_problem(problem, spec.train, dtype, device)
    generator = torch.Generator().manual_seed(spec.train.seed)
    model = build_model(spec.model, width, generator=generator, **spec.model_options)
    check_derivative_order(problem, model)
    check_grid_model(model, spec.train, device)
    if distributed.is_main() and "grid_range" not in spec.model_options:
        note_uncovered_domain(problem, model)
    return problem, model, device, dtype


def note_uncovered_domain(problem: PDE, model: nn.Module) -> None:
    """One stderr note when the first layer's default grid (B-spline or RBF ``grid_range``
    [−1, 1]) does not span the coordinates [−R, R] of a ball of radius R > 1: outside the grid
    the splines vanish (the SiLU base remains) and the centres do not reach. (A grid range the
    user gave is theirs: narrower ones suit high d, where the coordinates are ~R/√d.)"""
    config = getattr(model, "config", None)
    grid = config.get("grid_range") if isinstance(config, dict) else None
    radius = getattr(problem.geometry, "radius", None)
    if grid is None or not isinstance(radius, int | float):
        return
    low, high = grid
    if low > -radius or high < radius:
        print(
            f"pinnkan: note: the default grid range [{low:g}, {high:g}] does not cover the "
            f"coordinates of the ball of radius {radius:g}; give "
            f"--grid-range=-{radius:g},{radius:g}",
            file=sys.stderr,
        )


def problem_keywords(spec: SolveSpec) -> dict[str, Any]:
    """The problem's constructor keywords; ``seed = "training"`` becomes the training seed (one
    problem instance per training seed, as in the SDGD/STDE scripts; the spec keeps the word, so
    reports group such runs as seeds of one setting)."""
    options = dict(spec.problem_options)
    if options.get("seed") == "training":
        options["seed"] = spec.train.seed
    return options


def run_config(spec: SolveSpec, problem: PDE, model: nn.Module, device: torch.device) -> dict:
    return {
        "kind": "pde",
        "spec": spec_to_dict(spec),
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
        "environment": environment_info(device, model),
    }


def spec_to_dict(spec: SolveSpec) -> dict[str, Any]:
    """Plain data from which :func:`spec_from_dict` rebuilds the spec (for ``pinnkan resume``).

    A user problem file is recorded as given and, as ``problem_path``, by its absolute path
    (:func:`located_problem`)."""
    path = resolved_problem_file(spec.problem)
    return {
        "problem": spec.problem,
        **({"problem_path": path} if path is not None else {}),
        "problem_options": dict(spec.problem_options),
        "model": spec.model,
        "model_options": dict(spec.model_options),
        "width": spec.width,
        "preset": spec.preset,
        "device": spec.device,
        "dtype": spec.dtype,
    }


def spec_from_dict(data: dict[str, Any], train: dict[str, Any]) -> SolveSpec:
    options = dict(data["model_options"])
    if "grid_range" in options:
        options["grid_range"] = tuple(options["grid_range"])
    return SolveSpec(
        problem=located_problem(data),
        problem_options=dict(data["problem_options"]),
        model=data["model"],
        model_options=options,
        width=data["width"],
        train=TrainConfig(**train),
        preset=data["preset"],
        device=data["device"],
        dtype=data["dtype"],
    )


def located_problem(data: dict[str, Any]) -> str:
    """The problem of a stored spec, to build now: as given (``"poisson"``, or a user file found
    from the current folder), else the user file at its recorded absolute ``problem_path`` (a
    run resumed or plotted from another folder). A file found nowhere is one ``ValueError`` line
    naming both places."""
    given = data["problem"]
    file = problem_file(given)
    if file is None or Path(file).expanduser().is_file():
        return given
    recorded = data.get("problem_path")
    if isinstance(recorded, str) and Path(recorded).is_file():
        return f"{recorded}:{given.rpartition(':')[2]}"
    where = f"from {Path.cwd()}" + (f" or at {recorded}" if isinstance(recorded, str) else "")
    raise ValueError(f"problem file {file} ({given}) does not exist: looked for it {where}")


def snapshot(trainer: PDETrainer, config: dict, out: str, status: str) -> Run:
    """The run file contents for the trainer's current state (a checkpoint included)."""
    return Run(
        config=config,
        history={name: list(values) for name, values in trainer.history.items()},
        metrics={"steps": trainer.step, "params": config["params"]},
        status=status,
        test_set={},
        model_state={name: t.detach().cpu() for name, t in trainer.model.state_dict().items()},
        checkpoint=trainer.state_dict(),
        path=out,
        model_config=dict(trainer.model.config),
    )


def keep_last_checkpoint(
    trainer: PDETrainer, config: dict, out: str, error: Exception, kept: bool
) -> RunFailedError:
    """After ``error`` stopped training: the run file rewritten at the last checkpoint (rolled
    back to it) with status "failed" and the error as its message; returns the one-line
    :class:`RunFailedError` that says so. Without a checkpoint in the file yet (``kept``
    false: none written and none resumed from) nothing is written, so a previous file at
    ``out`` stays as it was; nor before the first step (the warm-up)."""
    summary = error_summary(error)
    if not trainer.last_good or (trainer.step == 0 and not kept):
        return RunFailedError(
            f"the run failed before its first step: {summary}; nothing was written"
        )
    message = f"the run stopped after step {trainer.step}: {summary}"
    if not kept:
        every = trainer.config.checkpoint_every
        return RunFailedError(
            f"{message}; nothing was written (no checkpoint yet: --checkpoint-every "
            f"{every or 'end of run'})"
        )
    trainer.roll_back()
    if not distributed.is_main():
        return RunFailedError(f"{message} (process {distributed.rank()}; process 0 writes {out})")
    run = snapshot(trainer, config, out, "failed")
    run.metrics["message"] = message
    try:
        write_run(out, run)
    except (WriteError, ValueError) as write_error:  # names the checkpoint the old file keeps
        return RunFailedError(f"{message}; writing the run file failed too: {write_error}")
    command = shlex.join(["pinnkan", "resume", out])
    return RunFailedError(
        f"{message}; {out} holds the checkpoint of step {trainer.step} (status failed): "
        f"{command} continues it"
    )


@contextlib.contextmanager
def stop_on_signals(trainer: PDETrainer):
    """SIGINT/SIGTERM ask the trainer to stop after its current step (main thread only); a
    signal the process ignores (SIGINT of a command started in the background) stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(sig, lambda *_: trainer.stop())
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# a resume has no --out to change: only waiting helps
RESUME_ADVICE = "wait for that run to end (pinnkan show tells whether it still runs)"


def solve_pde(
    spec: SolveSpec,
    out: str,
    progress: Callable[[int, dict], None] | None = None,
    checkpoint: dict[str, Any] | None = None,
    created_utc: str | None = None,
) -> Run:
    """Train (from scratch, or continuing ``checkpoint``) and write the run file ``out``.

    The run file is rewritten atomically at every checkpoint (status "running") and at the
    end with status "completed", "interrupted" (SIGINT/SIGTERM) or "diverged"; it always holds
    a checkpoint from which ``pinnkan resume`` continues. If training raises, the file is
    rewritten at its last checkpoint with status "failed" and :class:`RunFailedError` is raised
    from the error (:func:`keep_last_checkpoint`). ``created_utc``: the creation time of
    the run being continued, kept in ``environment.created_utc`` (this process's start goes to
    ``environment.resumed_utc``).
    """
    device = distributed.setup(resolve_device(spec.device))
    problem, model, _, dtype = prepare(spec)  # validate before creating any directory
    if distributed.is_main():
        check_writable(out, note=checkpoint is None)  # a resume rewrites its own file
    # one writer per run file: another solve given the same --out is refused, not overwritten
    alone = writing_alone(out, advice=RESUME_ADVICE) if checkpoint else writing_alone(out)
    with alone if distributed.is_main() else contextlib.nullcontext():
        trainer = PDETrainer(problem, model, spec.train, device, dtype, progress)
        if checkpoint is not None:
            trainer.load_state_dict(checkpoint)
        config = run_config(spec, problem, model, device)
        config["processes"] = distributed.world_size()
        if created_utc is not None:
            environment = config["environment"]
            environment["resumed_utc"] = environment["created_utc"]
            environment["created_utc"] = created_utc

        kept = [checkpoint is not None]  # the file holds a checkpoint: resumed, or written
        writing = [False]  # an error now is the run file's own (its one line names the checkpoint)

        def save_checkpoint(t: PDETrainer) -> None:
            writing[0] = True
            if distributed.is_main():
                write_run(out, snapshot(t, config, out, "running"))
            writing[0] = False
            kept[0] = True

        # SIGINT/SIGTERM during the final write too: the write finishes (the run is complete),
        # instead of the process dying with no run file and a temporary file left behind
        with stop_on_signals(trainer):
            try:
                result = trainer.run(save_checkpoint)
            except Exception as error:  # a user's problem, the device …: keep the checkpoint
                if writing[0]:
                    raise
                raise keep_last_checkpoint(trainer, config, out, error, kept[0]) from error
            finally:
                distributed.teardown()
            if result.status == "interrupted" and checkpoint is None and trainer.step == 0:
                raise KeyboardInterrupt  # before the first step: nothing to keep, nothing written
            run = snapshot(trainer, config, out, result.status)
            run.metrics.update(result.metrics)
            run.test_set = {name: tensor.cpu().numpy() for name, tensor in result.test_set.items()}
            if result.message:
                run.metrics["message"] = result.message
            if distributed.is_main():
                write_run(out, run)
    return run


def resume_pde(
    path: str, steps: int | None = None, progress=None, device: str | None = None
) -> Run:
    """Continue the run in ``path`` from its checkpoint (optionally to a new total ``steps``, on
    another ``device`` than the one it ran on: "cpu", "cuda", "cuda:N" or "auto")."""
    stored = read_run(path, load_model=False, load_checkpoint=True, load_test_set=False)
    if stored.config.get("kind") == "regression":
        raise ValueError(
            f"{path}: a regression (pinnkan fit) run; only solve runs resume (a fit is rerun "
            "with pinnkan fit)"
        )
    if stored.config.get("kind") != "pde" or "spec" not in stored.config:
        raise ValueError(f"{path}: not a pinnkan solve run file; cannot resume it")
    if stored.config.get("engine") == "deepxde":
        raise ValueError(
            f"{path}: a run of the deepxde engine, which keeps no checkpoints; cannot resume it "
            "(rerun it, or use the pinnkan engine)"
        )
    if stored.checkpoint is None:
        raise ValueError(f"{path}: the run file holds no checkpoint; cannot resume it")
    if stored.status == "diverged":
        raise ValueError(
            f"{path}: the run diverged ({stored.metrics.get('message') or 'non-finite loss'}); "
            f"resuming its checkpoint of step {stored.checkpoint['step']} with the same settings "
            "would repeat that; rerun pinnkan solve with other settings instead"
        )
    train = dict(stored.config["train"])
    if steps is not None:
        train["steps"] = steps
    spec = spec_from_dict(stored.config["spec"], train)
    stored_model = stored.model_config or stored.config.get("model") or {}
    legacy = legacy_model_options(spec.model, stored_model)
    if legacy:  # a model option added since: what the stored run was trained with
        spec = replace(spec, model_options={**spec.model_options, **legacy})
    if device is not None:
        spec = replace(spec, device=device)
    check_steps_left(path, stored.checkpoint["step"], steps, spec.train.steps, stored.status)
    created = (stored.config.get("environment") or {}).get("created_utc")
    return solve_pde(spec, path, progress, checkpoint=stored.checkpoint, created_utc=created)


def check_steps_left(
    path: str, done: int, steps: int | None, total: int, status: str = "completed"
) -> None:
    """A resume must have steps left: ``--steps`` (``steps``; None: the run's own ``total``) is
    the new total, so it must exceed the ``done`` steps of the checkpoint. A run whose last
    checkpoint is its final step but whose final write failed (``status`` "running", e.g. a
    full disk) or whose final evaluation raised ("failed") is finished: evaluated and written
    without further steps."""
    if done < total or (done == total and status in ("running", "failed")):
        return
    if steps is None:
        raise ValueError(
            f"{path}: the run already has {counted(done, 'step')}, the {total} it was set to run; to "
            f"continue it give --steps (steps= in Python) larger than {done} (the new total "
            "number of steps)"
        )
    raise ValueError(
        f"{path}: the run already has {counted(done, 'step')} and --steps (steps= in Python) is "
        f"the new total, so {steps} adds none; give more than {done}"
    )
