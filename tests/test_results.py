"""The HDF5 run file: exact round trips, atomic writes, recognisable errors, summaries."""

from __future__ import annotations

import json
import math
import os
import random
import re
import socket
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

import pinnkan
from pinnkan import environment, results
from pinnkan.checkpoint import (
    capture_rng_state,
    deserialize_state,
    restore_rng_state,
    serialize_state,
)
from pinnkan.environment import environment_info
from pinnkan.results import (
    Run,
    RunFileError,
    append_history,
    check_writable,
    history_columns,
    is_run_file,
    plain_data,
    read_run,
    restore_model,
    write_run,
)
from pinnkan.summary import format_summary, new_run_path, summary

CONFIG = {
    "problem": {"name": "poisson", "dim": 3, "alpha": 0.01, "boundary": "hard"},
    "model": {"name": "kan", "width": (3, 4, 1), "grid_range": (-1.0, 1.0), "bias": False},
    "trainer": {"steps": 6, "lr": 1e-3, "schedule": None, "milestones": [], "nested": {"a": [1, [2, {"b": None}]]}},
    "preset": None,
    "seed": 0,
    "device": "cpu",
    "dtype": "float32",
    "sampling": "radial",
    "laplacian": "forward",
    "flags": [True, False, None, 0.1 + 0.2, -0.0, 1e-300, 2**70, "ünïcode ∆"],
    "environment": {"created_utc": "2026-01-02T03:04:05+00:00", "git_commit": None},
}  # fmt: skip


def adam_steps(model: torch.nn.Module, optimizer: torch.optim.Optimizer, count: int) -> None:
    """A few deterministic Adam steps on a fixed least-squares target."""
    generator = torch.Generator().manual_seed(1)
    points = torch.rand(16, 3, generator=generator) * 2 - 1
    target = torch.sin(points.sum(dim=1, keepdim=True))
    for _ in range(count):
        optimizer.zero_grad()
        loss = ((model(points) - target) ** 2).mean()
        loss.backward()
        optimizer.step()


def make_run(steps: int = 6) -> tuple[Run, torch.nn.Module, torch.optim.Optimizer]:
    model = pinnkan.build_model("kan", [3, 4, 1], generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    adam_steps(model, optimizer, 3)
    points = torch.rand(50, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    with torch.no_grad():
        prediction = model(points.float()).squeeze(1).double().numpy()
    history = {
        "step": np.arange(steps),
        "loss": np.linspace(1.0, 0.1, steps),
        "loss_interior": np.linspace(0.9, 0.05, steps),
        "rel_l2": np.full(steps, np.nan),
        "learning_rate": np.full(steps, 1e-3),
        "wall_time_s": np.linspace(0.0, 2.5, steps),
        "peak_memory_bytes": np.arange(steps, dtype=np.int64) * 1024,
    }
    run = Run(
        config=CONFIG,
        history=history,
        metrics={"rel_l2": 1.25e-3, "rel_l1": 2e-4, "rel_linf": 3e-3, "params": 216, "steps": 3,
                 "wall_time_s": 2.5, "peak_memory_bytes": 3 * 2**20, "note": "ok", "flag": True},
        status="completed",
        test_set={"x": points.numpy(), "exact": np.sin(points.numpy().sum(1)), "prediction": prediction},
        model_state=model.state_dict(),
        checkpoint={"step": 3, "optimizer": optimizer.state_dict(), "rng": capture_rng_state()},
        model_config=model.config,
    )  # fmt: skip
    return run, model, optimizer


def test_round_trip_is_exact(tmp_path: Path) -> None:
    run, _, _ = make_run()
    path = tmp_path / "run.h5"
    write_run(path, run)
    back = read_run(path)
    assert back.config == plain_data(CONFIG)
    assert back.config["model"]["width"] == [3, 4, 1]  # tuples come back as lists
    assert back.config["flags"][3] == 0.1 + 0.2 and back.config["flags"][6] == 2**70
    assert math.copysign(1.0, back.config["flags"][4]) == -1.0
    assert list(back.history) == list(run.history)
    for name, column in run.history.items():
        assert back.history[name].dtype == column.dtype
        np.testing.assert_array_equal(back.history[name], column)
    assert back.metrics == run.metrics
    assert type(back.metrics["params"]) is int and type(back.metrics["flag"]) is bool
    assert back.status == "completed" and back.path == path
    for name, array in run.test_set.items():
        assert back.test_set[name].dtype == array.dtype
        np.testing.assert_array_equal(back.test_set[name], array)
    assert list(back.model_state) == list(run.model_state)
    for key, tensor in run.model_state.items():
        assert back.model_state[key].dtype == tensor.dtype and torch.equal(
            back.model_state[key], tensor
        )
    assert back.model_config == plain_data(run.model_config)


def test_plain_data_rejects_what_json_cannot_hold() -> None:
    assert plain_data({"a": (np.float32(0.5), np.int64(3), np.bool_(True))}) == {
        "a": [0.5, 3, True]
    }
    with pytest.raises(ValueError, match=r"config\.trainer\.device"):
        plain_data({"trainer": {"device": torch.device("cpu")}})
    with pytest.raises(ValueError, match="keys must be strings"):
        plain_data({1: "one"})


def test_restored_model_gives_identical_outputs(tmp_path: Path) -> None:
    run, model, _ = make_run()
    write_run(tmp_path / "run.h5", run)
    before = torch.get_rng_state()
    fresh = restore_model(read_run(tmp_path / "run.h5"))
    assert torch.equal(torch.get_rng_state(), before)  # rebuilding does not consume the global RNG
    points = torch.rand(40, 3) * 2 - 1
    assert torch.equal(fresh(points), model(points))


def test_restored_float64_model_stays_float64(tmp_path: Path) -> None:
    model = pinnkan.build_model(
        "metakan", [2, 3, 1], generator=torch.Generator().manual_seed(3)
    ).double()
    write_run(tmp_path / "m.h5", Run(model_state=model.state_dict(), model_config=model.config))
    fresh = restore_model(read_run(tmp_path / "m.h5"))
    points = torch.rand(10, 2, dtype=torch.float64)
    assert next(fresh.parameters()).dtype == torch.float64
    assert torch.equal(fresh(points), model(points))
    only_config = Run(config={"model": model.config}, model_state=model.state_dict())
    assert torch.equal(restore_model(only_config)(points), model(points))


def test_checkpoint_resumes_adam_identically(tmp_path: Path) -> None:
    run, model, optimizer = make_run()
    write_run(tmp_path / "run.h5", run)
    adam_steps(model, optimizer, 4)  # the uninterrupted run
    back = read_run(tmp_path / "run.h5")
    assert back.checkpoint["step"] == 3
    resumed = restore_model(back)
    resumed_optimizer = torch.optim.Adam(resumed.parameters(), lr=1e-2)
    resumed_optimizer.load_state_dict(back.checkpoint["optimizer"])
    adam_steps(resumed, resumed_optimizer, 4)
    for (name, expected), actual in zip(model.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(actual, expected), name
    # without restoring the Adam moments the continuation differs: the test can fail
    other = restore_model(back)
    adam_steps(other, torch.optim.Adam(other.parameters(), lr=1e-2), 4)
    assert not torch.equal(
        other.state_dict()["coefficients.weights.0"], model.state_dict()["coefficients.weights.0"]
    )


def test_rng_state_round_trips_through_bytes() -> None:
    generator = torch.Generator().manual_seed(5)
    saved = capture_rng_state({"sampler": generator})
    first = (torch.rand(3), np.random.rand(3), random.random(), torch.rand(3, generator=generator))
    restore_rng_state(deserialize_state(serialize_state(saved)), {"sampler": generator})
    second = (torch.rand(3), np.random.rand(3), random.random(), torch.rand(3, generator=generator))
    assert torch.equal(first[0], second[0]) and torch.equal(first[3], second[3])
    np.testing.assert_array_equal(first[1], second[1])
    assert first[2] == second[2]
    with pytest.raises(ValueError, match="'other'"):
        restore_rng_state(saved, {"other": torch.Generator()})


def test_deserialize_refuses_pickled_objects_unless_allowed() -> None:
    blob = serialize_state({"when": datetime(2026, 1, 1)})
    with pytest.raises(ValueError, match="allow_pickle"):
        deserialize_state(blob)
    assert deserialize_state(blob, allow_pickle=True) == {"when": datetime(2026, 1, 1)}


def test_a_checkpoint_of_other_objects_is_named_not_called_damaged(tmp_path) -> None:
    """It said "is damaged" with 200 characters of torch's ANSI-coloured text, cut before the
    refused type."""
    path = tmp_path / "run.h5"
    run, _, _ = make_run()
    run.checkpoint = {"step": 2, "when": datetime(2026, 1, 1)}
    write_run(path, run)
    with pytest.raises(RunFileError) as caught:
        read_run(path)
    assert str(caught.value) == (
        f"run file {path}: its checkpoint holds objects outside torch's weights-only allowlist "
        "(datetime.datetime); read it with allow_pickle=True only if you trust the file "
        "(unpickling can run code)"
    )
    assert read_run(path, allow_pickle=True).checkpoint["when"] == datetime(2026, 1, 1)


class InjectedError(Exception):
    pass


@pytest.mark.parametrize("error", [InjectedError, KeyboardInterrupt])
def test_failed_write_keeps_previous_file_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: type[BaseException]
) -> None:
    run, _, _ = make_run()
    path = tmp_path / "run.h5"
    write_run(path, run)
    original = path.read_bytes()

    def broken(*args: object) -> None:
        raise error("disk full")

    monkeypatch.setattr(results, "write_model_state", broken)
    changed = Run(config={"other": 1}, status="failed")
    with pytest.raises(error):
        write_run(path, changed)
    assert path.read_bytes() == original and read_run(path).status == "completed"
    assert os.listdir(tmp_path) == ["run.h5"]
    with pytest.raises(error):
        write_run(tmp_path / "new.h5", changed)
    assert os.listdir(tmp_path) == ["run.h5"]


def test_invalid_run_is_rejected_before_touching_disk(tmp_path: Path) -> None:
    bad = [
        Run(status="finished"),
        Run(history={"step": np.arange(3), "loss": np.ones(4)}),
        Run(history={"a/b": np.ones(2)}),
        Run(metrics={"rel_l2": [1.0]}),
        Run(test_set={"x": np.ones((4, 2)), "exact": np.ones(3)}),
        Run(checkpoint={"optimizer": {}}),
    ]
    for run in bad:
        with pytest.raises(ValueError):
            write_run(tmp_path / "bad.h5", run)
    assert os.listdir(tmp_path) == []


def test_truncated_file_raises_naming_the_file(tmp_path: Path) -> None:
    run, _, _ = make_run()
    path = tmp_path / "cut.h5"
    write_run(path, run)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RunFileError, match=re.escape(str(path))) as caught:
        read_run(path)
    assert "\n" not in str(caught.value)
    assert not is_run_file(path)


def test_foreign_missing_and_newer_files_raise(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as file:
        file["data"] = np.arange(3)
    with pytest.raises(RunFileError, match="not a pinnkan run file"):
        read_run(foreign)
    with pytest.raises(RunFileError, match="does not exist"):
        read_run(tmp_path / "missing.h5")
    text = tmp_path / "notes.h5"
    text.write_text("hello")
    with pytest.raises(RunFileError, match="not a readable HDF5 file"):
        read_run(text)
    newer = tmp_path / "newer.h5"
    write_run(newer, Run())
    with h5py.File(newer, "r+") as file:
        file.attrs["schema_version"] = 99
    with pytest.raises(RunFileError, match="schema_version 99"):
        read_run(newer)
    assert is_run_file(tmp_path / "ok.h5") is False
    write_run(tmp_path / "ok.h5", Run())
    assert is_run_file(tmp_path / "ok.h5")


def test_history_appends_in_place(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    write_run(path, Run(history={"step": np.arange(0), "loss": np.zeros(0)}))
    append_history(path, {"step": [0, 1], "loss": [1.0, 0.5]})
    append_history(path, {"step": 2, "loss": 0.25})
    back = read_run(path).history
    np.testing.assert_array_equal(back["step"], [0, 1, 2])
    np.testing.assert_array_equal(back["loss"], [1.0, 0.5, 0.25])
    with pytest.raises(ValueError, match="do not match"):
        append_history(path, {"step": [3]})


def test_history_columns_fill_missing_with_nan() -> None:
    columns = history_columns([{"step": 0, "loss": 1.0}, {"step": 1, "loss": 0.5, "rel_l2": 0.1}])
    assert columns["step"].dtype.kind == "i"
    np.testing.assert_array_equal(columns["rel_l2"], [np.nan, 0.1])


def test_summary_and_format(tmp_path: Path) -> None:
    run, _, _ = make_run()
    write_run(tmp_path / "run.h5", run)
    facts = summary(read_run(tmp_path / "run.h5", load_model=False, load_checkpoint=False))
    required = {"rel_l2", "params", "steps", "wall_time_s", "status", "problem", "model", "dim"}
    assert required <= set(facts)
    assert facts["rel_l2"] == 1.25e-3 and facts["params"] == 216 and facts["steps"] == 3
    assert (facts["problem"], facts["model"], facts["dim"]) == ("poisson", "kan", 3)
    assert facts["created_utc"] == "2026-01-02T03:04:05+00:00"
    assert json.loads(json.dumps(facts, allow_nan=False)) == facts
    assert summary(Run(config={"sampling_law": "volume"}))["sampling"] == "volume"
    empty = summary(
        Run(
            config={"problem": "fit", "model": "mlp"},
            history={"step": np.arange(4), "rel_l2": np.array([1.0, 0.5, 0.2, np.nan])},
        )
    )
    assert empty["steps"] == 3 and empty["rel_l2"] is None and empty["params"] is None
    assert (empty["problem"], empty["model"], empty["dim"]) == ("fit", "mlp", None)
    lines = format_summary(run).splitlines()
    assert any(line.startswith("rel. L2 error") and "1.250e-03" in line for line in lines)
    columns = {line.index(value) for line, value in zip(lines, ["n/a", "completed"])}
    assert len(columns) == 1  # values start in one aligned column
    timed = Run(metrics={"wall_time_s": 12.34, "warm_up_s": 20.94})
    assert "wall time       12.3 s (+ 20.9 s warm-up)" in format_summary(timed).splitlines()
    assert "wall time       12.3 s" in format_summary(Run(metrics={"wall_time_s": 12.34}))
    assert summary(timed)["warm_up_s"] == 20.94

    def peak_row(device: str) -> str:
        run = Run(config={"device": device}, metrics={"peak_memory_bytes": 3 * 2**20})
        return next(line for line in format_summary(run).splitlines() if "peak memory" in line)

    # on the CPU it is the process's peak RSS (imports included), not the run's tensors
    assert peak_row("cpu").endswith("3.0 MiB (process peak RSS)")
    assert peak_row("cuda:0").endswith("3.0 MiB")


def test_environment_names_the_meta_kernels_that_run(monkeypatch) -> None:
    monkeypatch.setattr(environment, "package_version", lambda name: "0.68.1")
    monkeypatch.setenv("PINNKAN_NUMBA", "1")
    assert environment.meta_kernels() == "numba"
    monkeypatch.setenv("PINNKAN_NUMBA", "0")
    assert environment.meta_kernels() == "torch"
    monkeypatch.setenv("PINNKAN_NUMBA", "1")
    assert environment.meta_kernels("cuda") == "torch"  # the kernels are CPU-only
    assert environment.describe_meta_kernels() == "numba (numba 0.68.1)"
    monkeypatch.setattr(environment, "package_version", lambda name: None)
    assert environment.meta_kernels() == "torch"
    assert environment.describe_meta_kernels() == "torch (numba none)"


def test_run_files_name_the_meta_kernels_of_their_model(monkeypatch) -> None:
    """A model without a meta-learner records "none"; one whose meta-learners the kernels do
    not take (2-d prompts) records "torch"; the paper's MetaKAN what runs on the device."""
    from pinnkan.nn.build import build_model

    monkeypatch.setattr(environment, "package_version", lambda name: "0.68.1")
    monkeypatch.setenv("PINNKAN_NUMBA", "1")
    expected = {
        ("kan", 1): "none",
        ("mlp", 1): "none",
        ("metakan", 2): "torch",
        ("metafastkan", 1): "numba",
    }
    for (name, prompt_dim), kernels in expected.items():
        options = {"prompt_dim": prompt_dim} if name.startswith("meta") else {}
        model = build_model(name, [2, 3, 1], **options)
        assert environment_info("cpu", model)["meta_kernels"] == kernels, name
    assert environment.model_meta_kernels(build_model("metakan", [2, 3, 1]), "cuda") == "torch"


def test_environment_info_has_versions_and_commit(tmp_path: Path) -> None:
    info = environment_info()
    for key in (
        "python",
        "torch",
        "numpy",
        "h5py",
        "pinnkan",
        "platform",
        "device_name",
        "created_utc",
        "malloc",
    ):
        assert isinstance(info[key], str) and info[key], key
    assert info["torch"] == torch.__version__ and info["pinnkan"] == pinnkan.__version__
    assert info["meta_kernels"] == ("numba" if info["numba"] else "torch")
    package = Path(pinnkan.__file__).resolve().parent
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=package, capture_output=True, text=True)
    expected = done.stdout.strip() if done.returncode == 0 else None
    assert info["git_commit"] == expected
    assert info["git_commit"] is None or re.fullmatch("[0-9a-f]{40}", info["git_commit"])
    assert environment.git_commit(tmp_path / "not_a_checkout") is None
    hostname = socket.gethostname()
    assert len(hostname) < 4 or hostname not in json.dumps(info)
    assert plain_data(info) == info


def test_check_writable_and_new_run_path(tmp_path: Path) -> None:
    directory = check_writable(tmp_path / "results" / "runs" / "a.h5")
    assert directory == tmp_path / "results" / "runs"
    assert os.listdir(tmp_path) == []  # checking creates nothing; writing makes the folder
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ValueError, match=re.escape(str(blocker))):
        check_writable(blocker / "runs" / "a.h5")
    directory.mkdir(parents=True)
    now = datetime(2026, 11, 23, 10, 15, 0, tzinfo=UTC)
    path = new_run_path(directory, "poisson", "kan", 10, 0, now=now)
    assert path == directory / "poisson-d10-kan-s0-20261123-101500.h5"
    path.write_text("")
    assert new_run_path(directory, "poisson", "kan", 10, 0, now=now).name.endswith("101500-2.h5")
    odd = new_run_path(directory, "my pde.py:MyPDE", "kan", None, None, now=now)
    assert odd.name == "my-pde.py-MyPDE-kan-20261123-101500.h5"


def test_unusual_tensors_round_trip(tmp_path: Path) -> None:
    state = {
        "half": torch.tensor([1.0 / 3.0, 1e-3]).to(torch.bfloat16),
        "mask": torch.tensor([True, False]),
        "scalar": torch.tensor(7, dtype=torch.int64),
        "large": torch.randn(70, 70, dtype=torch.float64),  # compressed storage
    }
    write_run(tmp_path / "t.h5", Run(model_state=state))
    back = read_run(tmp_path / "t.h5").model_state
    for key, tensor in state.items():
        assert back[key].dtype == tensor.dtype and back[key].shape == tensor.shape
        assert torch.equal(back[key], tensor), key


def test_only_a_missing_file_or_a_run_file_is_replaced(tmp_path: Path, capsys) -> None:
    """A run never overwrites another file: text, a foreign HDF5 file, a damaged file."""
    text = tmp_path / "notes.txt"
    text.write_text("my notes\n")
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as file:
        file["data"] = np.arange(3)
    for path in (text, foreign):
        before = path.read_bytes()
        for attempt in (check_writable, lambda target: write_run(target, Run())):
            with pytest.raises(ValueError, match="is not a pinnkan run file") as caught:
                attempt(path)
            assert str(path) in str(caught.value) and "another path" in str(caught.value)
            assert "\n" not in str(caught.value)
        assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["foreign.h5", "notes.txt"]
    run = tmp_path / "run.h5"
    write_run(run, Run())
    check_writable(run)
    assert capsys.readouterr().err == (
        f"pinnkan: note: {run} exists; this run file will replace it when written "
        "(kept if the command fails)\n"
    )
    check_writable(run, note=False)
    check_writable(tmp_path / "new.h5")
    assert capsys.readouterr().err == ""
    write_run(run, Run(status="completed"))
    assert read_run(run).status == "completed"


@pytest.mark.parametrize("kind", ["directory", "separator", "fifo"])
def test_write_run_refuses_a_path_that_is_not_a_file_in_one_line(tmp_path: Path, kind) -> None:
    target = tmp_path / "out"
    if kind == "directory":
        target.mkdir()
    elif kind == "fifo":
        os.mkfifo(target)
    path = f"{target}{os.sep}" if kind == "separator" else str(target)
    for attempt in (check_writable, lambda where: write_run(where, Run())):
        with pytest.raises(ValueError, match="give a run file path|give a file path") as caught:
            attempt(path)
        assert path in str(caught.value) and "\n" not in str(caught.value)
    assert os.listdir(tmp_path) == ([] if kind == "separator" else ["out"])


def test_write_run_modes_new_files_as_usual_and_keeps_a_replaced_files_mode(tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        path = tmp_path / "sub" / "run.h5"
        write_run(path, Run())
        assert os.stat(path).st_mode & 0o777 == 0o640
        os.chmod(path, 0o604)
        write_run(path, Run(status="completed"))
    finally:
        os.umask(previous)
    assert os.stat(path).st_mode & 0o777 == 0o604 and read_run(path).status == "completed"


# --- damaged bytes and wrong structures: one RunFileError line ---------------------------------


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")  # damaged checkpoint
def test_damaged_bytes_anywhere_are_one_run_file_error_line(tmp_path: Path) -> None:
    """2,000 random bytes written over a run file at every 400th offset: reading either works
    or is one :class:`RunFileError` line (a KeyError, OSError or TypeError escaped before), and
    recognising the file for ``--out`` never raises."""
    run, _, _ = make_run()
    good = tmp_path / "good.h5"
    write_run(good, run)
    data, rng = good.read_bytes(), random.Random(0)
    damaged, bad = 0, tmp_path / "bad.h5"
    for offset in range(0, len(data), 400):
        noise = bytes(rng.randrange(256) for _ in range(2000))
        bad.write_bytes(data[:offset] + noise[: len(data) - offset] + data[offset + 2000 :])
        results.has_run_format(bad)
        try:
            read_run(bad)
        except RunFileError as error:
            damaged += 1
            assert "\n" not in str(error) and str(bad) in str(error)
    assert damaged > len(data) // 800  # most offsets do damage something read


def cut_short(file: h5py.File, name: str, shape: tuple | None = None) -> None:
    """Replace dataset ``name`` by its values less the last (or reshaped to ``shape``)."""
    values = file[name][()]
    del file[name]
    file[name] = values.reshape(shape) if shape else values[:-1]


LAYOUT_DAMAGE = {  # what read_run accepted and a plot or show then tripped over
    "no x, pairs of two lengths": (
        lambda f: (f["test_set"].__delitem__("x"), cut_short(f, "test_set/prediction")),
        "test_set prediction has shape (4,); it must be (5,)",
    ),
    "history column short": (
        lambda f: cut_short(f, "history/loss"),
        "history column loss has 1 values, step has 2; they must be equal",
    ),
    "history column 2-D": (
        lambda f: cut_short(f, "history/loss", (1, 2)),
        "history column 'loss' has shape (1, 2); it must be 1-D",
    ),
    "array metric": (
        lambda f: f["metrics"].attrs.__setitem__("rel_l2", [1.0, 2.0]),
        "metric rel_l2=array([1., 2.]) is not allowed; use bool, int, float or str",
    ),
    "unknown status": (
        lambda f: f.attrs.__setitem__("status", "weird"),
        "status='weird' is not known; allowed: running, completed",
    ),
    "1-D test points": (
        lambda f: cut_short(f, "test_set/x", (-1,)),
        "test_set x has shape (15,); it must be (n, d)",
    ),
    "short prediction": (
        lambda f: cut_short(f, "test_set/prediction"),
        "test_set prediction has shape (4,); it must be (5,)",
    ),
}


def test_free_form_test_set_arrays_and_points_of_no_coordinates_read_back(tmp_path) -> None:
    """The reader checks what the writer checks: other test-set arrays are free-form (a
    gradient (n, 2), bin edges); x of shape (n, 0) was an IndexError in the first version."""
    path = tmp_path / "run.h5"
    run, _, _ = make_run()
    run.test_set = {"x": np.zeros((5, 2)), "prediction": np.zeros(5), "grad": np.zeros((5, 2)),
                    "edges": np.linspace(0, 1, 11)}  # fmt: skip
    write_run(path, run)
    assert read_run(path).test_set["grad"].shape == (5, 2)
    run.test_set = {"x": np.zeros((5, 0)), "prediction": np.zeros(5)}
    write_run(path, run)
    assert read_run(path).test_set["x"].shape == (5, 0)


@pytest.mark.parametrize("damage", list(LAYOUT_DAMAGE))
def test_a_damaged_layout_is_one_run_file_error_line(tmp_path, damage) -> None:
    path = tmp_path / "run.h5"
    run, _, _ = make_run()
    run.history = {"step": np.array([1, 2]), "loss": np.array([0.5, 0.25])}
    run.test_set = {"x": np.zeros((5, 3)), "prediction": np.zeros(5), "exact": np.ones(5)}
    write_run(path, run)
    read_run(path)  # the undamaged file reads
    change, message = LAYOUT_DAMAGE[damage]
    with h5py.File(path, "r+") as file:
        change(file)
    with pytest.raises(RunFileError, match=re.escape(message)) as caught:
        read_run(path)
    assert f"run file {path} is damaged" in str(caught.value) and "\n" not in str(caught.value)


def test_weights_of_the_wrong_shape_are_one_run_file_error_line(tmp_path) -> None:
    """A knot tensor flattened and cut short gave an IndexError from the grid rebuild."""
    path = tmp_path / "run.h5"
    run, _, _ = make_run()
    write_run(path, run)
    with h5py.File(path, "r+") as file:
        name = next(key for key in file["model/state"] if "knots" in key or "grid" in key)
        dtype = file["model/state"][name].attrs["torch_dtype"]
        cut_short(file, f"model/state/{name}", (-1,))
        cut_short(file, f"model/state/{name}")
        file["model/state"][name].attrs["torch_dtype"] = dtype
    with pytest.raises(RunFileError, match="is damaged: its model weights do not fit its model"):
        pinnkan.restore_model(read_run(path))


@pytest.mark.parametrize("change", ["numeric config", "config list", "history dataset"])
def test_a_run_file_of_the_wrong_structure_is_one_run_file_error_line(tmp_path, change) -> None:
    run, _, _ = make_run()
    path = tmp_path / "run.h5"
    write_run(path, run)
    with h5py.File(path, "r+") as file:
        if change == "history dataset":
            del file["history"]
            file["history"] = np.arange(3)
        else:
            del file["config"]
            value = np.float64(1.0) if change == "numeric config" else json.dumps([1, 2])
            file.create_dataset("config", data=value)
    with pytest.raises(RunFileError, match=f"run file {re.escape(str(path))} is damaged") as caught:
        read_run(path)
    assert "\n" not in str(caught.value)


def test_a_run_can_be_read_without_its_test_set(tmp_path) -> None:
    """show, report, tables and resume read no test set (800 MB at d = 10,000)."""
    path = tmp_path / "run.h5"
    run, _, _ = make_run()
    write_run(path, run)
    assert read_run(path, load_test_set=False).test_set == {}
    assert read_run(path).test_set["x"].shape == run.test_set["x"].shape
