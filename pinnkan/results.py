"""The HDF5 run file: one file per training run, read by the CLI, the plots and the reports.

Layout (schema version 1; docs/runfile.md is the full reference)::

    /                 attrs: format = "pinnkan-run", schema_version, status, pinnkan_version,
                      written_utc
    /config           scalar UTF-8 string dataset: the resolved configuration as JSON
    /history/<name>   1-D datasets of equal length n_records, resizable (appendable)
    /metrics          attrs only: final scalars (bool, int, float or str)
    /test_set/<name>  arrays: x (n, d), exact (n,), prediction (n,), … any more
    /model            attr config (JSON); /model/state/<key> one dataset per state_dict tensor
    /checkpoint       optional; attr step; dataset state = torch.save bytes (uint8, opaque)

Configuration is plain data: JSON-able values, tuples normalised to lists, numpy scalars to
Python numbers (:func:`plain_data`); reading gives back exactly ``plain_data(config)``.
A run is validated before any file is touched (:mod:`pinnkan.run_checks`).
:func:`write_run` is atomic: it writes a temporary file in the target directory and renames it
over the target, so a reader never sees a half-written run file; it replaces only a missing file
or a pinnkan run file, and :func:`check_writable` says so before training (leaving nothing
behind).

Neighbours: the checkpoint bytes are :mod:`pinnkan.checkpoint`, ``config["environment"]`` is
:mod:`pinnkan.environment`, and ``pinnkan show`` and the default run file name are
:mod:`pinnkan.summary`.
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch import nn

from .checkpoint import UnsafeStateError, deserialize_state, serialize_state
from .environment import pinnkan_version, utc_now
from .run_checks import check_equal_lengths, check_run, to_json
from .run_checks import plain_data as plain_data  # documented as pinnkan.results.plain_data
from .text_file import WriteError, check_output_file, check_replaceable, replace_atomically

FORMAT = "pinnkan-run"
SCHEMA_VERSION = 1
COMPRESS_ABOVE = 4096  # arrays with more elements are stored gzip-compressed (lossless)


class RunFileError(ValueError):
    """A run file that is missing, damaged, foreign or of an unsupported schema version."""


@dataclass
class Run:
    """Everything one training run leaves behind (see the module docstring for the layout).

    Attributes:
        config: resolved configuration, plain data (problem, model, trainer, preset, seed,
            device, dtype, sampling, laplacian, environment — see docs/runfile.md).
        history: columns of equal length ``(n_records,)``: step, loss, loss terms, errors,
            learning rate, wall_time_s, peak_memory_bytes, …
        metrics: final scalars, ``str -> bool | int | float | str``.
        status: one of :data:`pinnkan.run_checks.STATUSES`.
        test_set: named arrays; ``x (n, d)``, ``exact (n,)``, ``prediction (n,)`` by convention.
        model_state: ``model.state_dict()``; empty when read with ``load_model=False``.
        checkpoint: optional resume state, must hold an int ``"step"``; any torch-saveable data.
        path: the file this run was read from (set by :func:`read_run`).
        model_config: ``model.config`` (``build_model(**model_config)`` rebuilds the model).
    """

    config: dict[str, Any] = field(default_factory=dict)
    history: dict[str, np.ndarray] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    status: str = "running"
    test_set: dict[str, np.ndarray] = field(default_factory=dict)
    model_state: dict[str, torch.Tensor] = field(default_factory=dict)
    checkpoint: dict[str, Any] | None = None
    path: Path | None = None
    model_config: dict[str, Any] | None = None


def history_columns(rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Rows ``[{"step": 0, "loss": …}, …]`` -> columns; a value missing from a row is NaN."""
    names = list(dict.fromkeys(name for row in rows for name in row))
    return {name: np.asarray([row.get(name, math.nan) for row in rows]) for name in names}


# --- writing -----------------------------------------------------------------------------------


def write_run(path: str | os.PathLike, run: Run) -> None:
    """Write ``run`` to ``path`` atomically (:func:`pinnkan.text_file.replace_atomically`).

    Only a missing file or a pinnkan run file is replaced
    (:func:`~pinnkan.text_file.check_replaceable`); a new file gets the usual mode, a replaced one
    keeps its mode. On any exception (including KeyboardInterrupt) the temporary file is removed
    and a previous file at ``path`` is left untouched; a failed write (a one-line
    :class:`~pinnkan.text_file.WriteError`, or the ``ValueError`` of a folder that fails its check
    again, e.g. remounted read-only during training) names a checkpoint still in that file.
    """
    check_run(run)
    check_replaceable(path, "run file", has_run_format)
    try:
        replace_atomically(path, lambda temporary: write_file(temporary, run))
    except (WriteError, ValueError) as error:  # ValueError: the folder, checked again, refused
        kept = kept_checkpoint(Path(path))
        if not kept:
            raise
        kind = WriteError if isinstance(error, WriteError) else ValueError
        raise kind(f"{error}{kept}") from error


def kept_checkpoint(path: Path) -> str:
    """After a failed write: where the checkpoint still in the run file ``path`` is, if any."""
    if not path.is_file():  # never open a FIFO or a folder
        return ""
    try:
        with h5py.File(path, "r") as file:
            step = int(file["checkpoint"].attrs["step"])
    except (OSError, KeyError, ValueError, TypeError):
        return ""
    command = shlex.join(["pinnkan", "resume", str(path)])
    return f"; {path} still holds the checkpoint of step {step}: {command} continues it"


def write_file(path: Path, run: Run) -> None:
    """The HDF5 layout of ``run`` into the (new, empty) file ``path``.

    The file is built in memory and then written with plain file I/O: a full disk or a failing
    device is then one ``OSError`` (one line, naming the checkpoint kept in the old file), not
    HDF5 errors while closing the file that end in a crash of the interpreter."""
    path.write_bytes(file_image(run))


def file_image(run: Run) -> bytes:
    """The bytes of the run file of ``run``."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w", track_order=True) as file:
        write_contents(file, run)
    return buffer.getvalue()


def write_contents(file: h5py.File, run: Run) -> None:
    file.attrs["format"] = FORMAT
    file.attrs["schema_version"] = SCHEMA_VERSION
    file.attrs["status"] = run.status
    file.attrs["pinnkan_version"] = pinnkan_version()
    file.attrs["written_utc"] = utc_now().isoformat(timespec="seconds")
    file.create_dataset("config", data=to_json(run.config, "config"), dtype=h5py.string_dtype())
    write_history(file.create_group("history", track_order=True), run.history)
    write_metrics(file.create_group("metrics", track_order=True), run.metrics)
    write_arrays(file.create_group("test_set", track_order=True), run.test_set)
    write_model_state(file.create_group("model", track_order=True), run)
    if run.checkpoint is not None:
        write_checkpoint(file.create_group("checkpoint"), run.checkpoint)


def write_history(group: h5py.Group, history: dict[str, np.ndarray]) -> None:
    """One resizable 1-D dataset per column (``maxshape=(None,)``), so records can be appended."""
    for name, column in history.items():
        group.create_dataset(name, data=np.asarray(column), maxshape=(None,), chunks=True)


def write_metrics(group: h5py.Group, metrics: dict[str, Any]) -> None:
    for name, value in metrics.items():
        group.attrs[name] = value


def write_arrays(group: h5py.Group, arrays: dict[str, np.ndarray]) -> None:
    for name, array in arrays.items():
        create_array(group, name, np.asarray(array))


def create_array(group: h5py.Group, name: str, array: np.ndarray) -> h5py.Dataset:
    if array.size > COMPRESS_ABOVE:
        return group.create_dataset(name, data=array, compression="gzip", shuffle=True)
    return group.create_dataset(name, data=array)


def write_model_state(group: h5py.Group, run: Run) -> None:
    """Datasets ``state/<key>``; attr ``torch_dtype`` restores the exact dtype (bfloat16 too)."""
    group.attrs["config"] = to_json(run.model_config, "model_config")
    state = group.create_group("state", track_order=True)
    for key, tensor in run.model_state.items():
        values = tensor.detach().cpu()
        if values.dtype == torch.bfloat16:
            values = values.float()
        dataset = create_array(state, key, values.numpy())
        dataset.attrs["torch_dtype"] = str(tensor.dtype).removeprefix("torch.")


def write_checkpoint(group: h5py.Group, checkpoint: dict[str, Any]) -> None:
    group.attrs["step"] = int(checkpoint["step"])
    group.create_dataset("state", data=np.frombuffer(serialize_state(checkpoint), np.uint8))


def append_history(path: str | os.PathLike, columns: dict[str, Any]) -> None:
    """Append records to the history of an existing run file, in place (not atomic).

    ``columns`` must name exactly the file's columns, each with the same number of new values.
    For crash safety prefer rewriting the whole run with :func:`write_run`.
    """
    new = {name: np.atleast_1d(np.asarray(values)) for name, values in columns.items()}
    with open_run_file(path, "r+") as file:
        group = file["history"]
        if set(new) != set(group):
            raise ValueError(
                f"history columns {sorted(new)} do not match {sorted(group)} in {path}"
            )
        check_equal_lengths(new, "appended history")
        for name, values in new.items():
            dataset = group[name]
            start = dataset.shape[0]
            dataset.resize((start + values.shape[0],))
            dataset[start:] = values


# --- reading -----------------------------------------------------------------------------------


def read_run(
    path: str | os.PathLike,
    load_model: bool = True,
    load_checkpoint: bool = True,
    allow_pickle: bool = False,
    load_test_set: bool = True,
) -> Run:
    """Read a run file; raises :class:`RunFileError` (one line, naming the file) when unreadable.

    ``load_model=False`` leaves ``model_state`` empty; ``load_checkpoint=False`` leaves
    ``checkpoint`` None; ``load_test_set=False`` leaves ``test_set`` empty (at d = 10,000 its
    20,000 points are 800 MB). ``allow_pickle`` is passed to :func:`deserialize_state`.
    """
    with open_run_file(path, "r") as file:
        try:
            return read_contents(
                file, Path(path), load_model, load_checkpoint, allow_pickle, load_test_set
            )
        except UnsafeStateError as error:  # intact, but only a full unpickling reads it
            raise RunFileError(f"run file {path}: {error}") from error
        except DAMAGE as error:
            raise RunFileError(f"run file {path} is damaged: {one_line(error)}") from error


# what h5py, JSON and the layout raise for damaged bytes or a wrong structure (a dataset where a
# group belongs, a config that is not a JSON object, a checksum that does not match …)
DAMAGE = (
    OSError,
    KeyError,
    RuntimeError,
    ValueError,
    TypeError,
    AttributeError,
    pickle.UnpicklingError,
)


def read_contents(
    file: h5py.File,
    path: Path,
    load_model: bool,
    load_checkpoint: bool,
    allow_pickle: bool,
    load_test_set: bool = True,
) -> Run:
    model = file["model"]
    checkpoint = None
    if load_checkpoint and "checkpoint" in file:
        blob = file["checkpoint/state"][()].tobytes()
        checkpoint = deserialize_state(blob, allow_pickle=allow_pickle)
    config = json.loads(file["config"].asstr()[()])
    if not isinstance(config, dict):
        raise ValueError(f"its config is a JSON {type(config).__name__}, not an object")
    run = Run(
        config=config,
        history=read_group(file["history"]),
        metrics={name: python_scalar(value) for name, value in file["metrics"].attrs.items()},
        status=str(file.attrs["status"]),
        test_set=read_group(file["test_set"]) if load_test_set else {},
        model_state=read_model_state(model["state"]) if load_model else {},
        checkpoint=checkpoint,
        path=path,
        model_config=json.loads(model.attrs["config"]),
    )
    check_run(run)  # what every writer keeps: damage would surface later, in a plot
    return run


def read_group(group: h5py.Group) -> dict[str, np.ndarray]:
    return {name: dataset[()] for name, dataset in group.items()}


def read_model_state(group: h5py.Group) -> dict[str, torch.Tensor]:
    state = {}
    for key, dataset in group.items():
        tensor = torch.from_numpy(np.asarray(dataset[()]))
        state[key] = tensor.to(getattr(torch, dataset.attrs["torch_dtype"]))
    return state


def python_scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def open_run_file(path: str | os.PathLike, mode: str) -> h5py.File:
    """Open and recognise a run file: missing, corrupt, foreign and too-new files raise."""
    location = Path(path)
    if not location.exists():
        raise RunFileError(f"run file {location} does not exist")
    if location.is_dir():
        raise RunFileError(f"run file {location} is a directory, not a file")
    try:
        file = h5py.File(location, mode)
    except OSError as error:
        raise RunFileError(
            f"run file {location} is not a readable HDF5 file (truncated or corrupt): "
            f"{one_line(error)}"
        ) from error
    try:
        check_format(file, location)
    except DAMAGE as error:
        file.close()
        if isinstance(error, RunFileError):
            raise
        raise RunFileError(f"run file {location} is damaged: {one_line(error)}") from error
    except BaseException:
        file.close()
        raise
    return file


def check_format(file: h5py.File, location: Path) -> None:
    found = python_scalar(file.attrs.get("format"))
    if found != FORMAT:
        raise RunFileError(
            f"{location} is an HDF5 file but not a pinnkan run file "
            f"(format attribute {found!r}, expected {FORMAT!r})"
        )
    version = python_scalar(file.attrs.get("schema_version"))
    if version != SCHEMA_VERSION:
        raise RunFileError(
            f"run file {location} has schema_version {version!r}; "
            f"this pinnkan {pinnkan_version()} reads schema_version {SCHEMA_VERSION}"
        )


def is_run_file(path: str | os.PathLike) -> bool:
    """True when ``path`` opens as a pinnkan run file of a supported schema version (its
    contents are checked by :func:`read_run`, not here)."""
    try:
        open_run_file(path, "r").close()
    except RunFileError:
        return False
    return True


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def restore_model(run: Run, device: str | torch.device | None = None) -> nn.Module:
    """Rebuild the model from ``run.model_config`` (else ``config["model"]``) and load its state,
    with the stored parameter dtype and per-layer grids (:func:`pinnkan.grid.rebuild_model`);
    the global RNG is left untouched."""
    from .grid import rebuild_model

    stored_config = run.model_config or run.config.get("model")
    if not isinstance(stored_config, dict) or not run.model_state:
        raise ValueError(
            "run has no model (model_config or model_state is empty); read it with load_model=True"
        )
    try:
        model = rebuild_model(stored_config, run.model_state)
    except (RuntimeError, ValueError, IndexError, TypeError) as error:  # missing, reshaped …
        where = f"run file {run.path}" if run.path is not None else "the run"
        raise RunFileError(
            f"{where} is damaged: its model weights do not fit its model ({one_line(error)[:300]})"
        ) from error
    return model.to(device) if device is not None else model


# --- output path --------------------------------------------------------------------------------


def check_writable(path: str | os.PathLike, note: bool = True) -> Path:
    """Check before training that the run file ``path`` can be written; returns its directory.

    Leaves nothing behind. Refuses (``ValueError``, one line) what :func:`check_output_file`
    refuses and an existing file that is not a pinnkan run file. Replacing a run file is the rerun
    workflow: allowed, with a one-line note on stderr (``note=False``: no note, e.g. on resume).
    """
    return check_output_file(path, "run file", has_run_format, note)


def has_run_format(location: Path) -> bool:
    """True for an HDF5 file marked ``format = "pinnkan-run"`` (any schema version)."""
    try:
        with h5py.File(location, "r") as file:
            return python_scalar(file.attrs.get("format")) == FORMAT
    except DAMAGE:  # not HDF5, or damaged: not recognisably ours
        return False
