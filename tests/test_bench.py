"""The benchmarks behind `pinnkan bench …` run and write self-describing CSVs (no timing asserts)."""

from __future__ import annotations

import csv
import os
import shlex
from pathlib import Path

import pytest

from pinnkan import build_model, count_parameters
from pinnkan.bench.saved import saved_for_backward_bytes
from pinnkan.cli import main
from pinnkan.environment import describe_meta_kernels
from pinnkan.malloc import malloc_setting


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    lines = path.read_text().splitlines()
    comments = [line for line in lines if line.startswith("#")]
    rows = list(csv.DictReader(line for line in lines if not line.startswith("#")))
    return comments, rows


def test_laplacian_benchmark_writes_ratios_against_autograd(tmp_path: Path) -> None:
    out = tmp_path / "lap run.csv"  # a space: the recorded command must still rerun
    code = main(["bench", "laplacian", "--dim", "3", "--model", "kan,mlp", "--points", "20",
                 "--repeats", "1", "--out", str(out)])  # fmt: skip
    assert code == 0
    comments, rows = read_csv(out)
    assert comments[0].startswith("# command: pinnkan bench laplacian")
    assert shlex.split(comments[0].removeprefix("# command: "))[-2:] == ["--out", str(out)]
    assert f"# meta kernels: {describe_meta_kernels('cpu')}" in comments
    assert f"# malloc: {malloc_setting()}" in comments
    assert "# seed: 0 (models, points and the estimators' draws)" in comments
    assert any("r ~ U(0, 1) (radial law)" in line for line in comments)
    assert {row["engine"] for row in rows} >= {"autograd", "forward"}
    for model in ("kan", "mlp"):
        by_engine = {row["engine"]: row for row in rows if row["model"] == model}
        reference = float(by_engine["autograd"]["step_ms"])
        forward = by_engine["forward"]
        assert float(forward["speedup_vs_autograd"]) == pytest.approx(
            reference / float(forward["step_ms"]), rel=0.02
        )
        width = [3, 32, 32, 32, 1]
        assert int(forward["parameters"]) == count_parameters(build_model(model, width))


def test_memory_benchmark_rows_add_up(tmp_path: Path, capsys) -> None:
    out = tmp_path / "mem run.csv"
    code = main(["bench", "memory", "--hidden-widths", "4", "--grids", "5", "--meta-hiddens", "8",
                 "--repeats", "1", "--out", str(out)])  # fmt: skip
    assert code == 0
    comments, rows = read_csv(out)
    assert comments[0].startswith("# command: pinnkan bench memory")
    assert shlex.split(comments[0].removeprefix("# command: "))[-2:] == ["--out", str(out)]
    assert f"# meta kernels: {describe_meta_kernels('cpu')}" in comments
    assert f"# malloc: {malloc_setting()}" in comments
    assert (
        "# seed: 0 (models and data; each model built from a generator seeded with it)" in comments
    )
    assert any(line.startswith("# points: x uniform in [-1, 1]^4") for line in comments)
    assert [row["model"] for row in rows] == ["kan", "metakan", "mlp"]
    assert float(rows[0]["time_ratio_to_kan"]) == 1.0
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 4 and all("(paired, vs KAN)" in line for line in printed[:3])
    for row in rows:
        parts = ("parameter_bytes", "gradient_bytes", "optimizer_bytes", "saved_bytes")
        assert int(row["modelled_peak_bytes"]) == sum(int(row[name]) for name in parts)
        assert int(row["parameter_bytes"]) == 4 * int(row["parameters"])  # float32


def test_saved_bytes_counts_distinct_storages_once() -> None:
    import torch

    weight = torch.ones(10, requires_grad=True)
    x = torch.ones(1000)  # saved by the multiplication: 4,000 bytes

    def loss() -> torch.Tensor:
        product = x * weight.repeat(100)
        return (product * product).sum()  # saves `product` (4,000 bytes) once, not twice

    counted = saved_for_backward_bytes(loss, exclude={weight.untyped_storage().data_ptr()})
    assert counted == 4000 + 4000
    assert weight.grad is not None


LAPLACIAN_SMALL = ["--dim", "3", "--model", "kan", "--points", "5", "--repeats", "1"]
MEMORY_SMALL = ["--hidden-widths", "4", "--grids", "5", "--meta-hiddens", "8", "--repeats", "1"]


@pytest.mark.parametrize(
    ("which", "flags", "message"),
    [
        ("laplacian", ["--dim", "0"], "dim=0 is not allowed"),
        ("laplacian", ["--dim", ""], "dim is empty"),
        ("laplacian", ["--dim", "x"], "'x' is not a comma-separated list of integers"),
        ("laplacian", ["--points", "-5"], "points=-5 is not allowed"),
        ("laplacian", ["--model", "kan,kann"], "model='kann' is not known; allowed: mlp, kan"),
        ("laplacian", ["--engines", "forward,foo"], "engine='foo' is not known"),
        ("laplacian", ["--model", "kan,mlp,kan"], "model=kan,mlp,kan names kan twice"),
        ("laplacian", ["--repeats", "0"], "repeats=0 is not allowed"),
        ("laplacian", ["--samples", "0"], "samples=0 is not allowed"),
        ("laplacian", ["--max-seconds", "-1"], "max_seconds=-1.0 is not allowed"),
        ("laplacian", ["--threads", "-1"], "give a count ≥ 1, or 0 to leave torch's setting"),
        ("laplacian", ["--dim", "4,4"], "dim=4,4 names 4 twice; give each once"),
        ("laplacian", ["--points", "5,7,5"], "points=5,7,5 names 5 twice"),
        ("memory", ["--grids", "5,5"], "grids=5,5 names 5 twice"),
        ("memory", ["--threads", "-2"], "threads=-2 is not allowed"),
        ("laplacian", ["--device", "gpu"], "device='gpu' is not known; allowed: auto, cpu"),
        ("memory", ["--grids", "0"], "grids=0 is not allowed"),
        ("memory", ["--hidden-widths", ""], "hidden_widths is empty"),
        ("memory", ["--batch", "0"], "batch=0 is not allowed"),
        ("memory", ["--inputs", "-1"], "inputs=-1 is not allowed"),
        ("memory", ["--device", "gpu"], "device='gpu' is not known"),
        # "Overflow when unpacking long long", naming neither the flag nor the range
        ("laplacian", ["--seed", "99999999999999999999"], "argument --seed: 99999999999999999999"),
        ("memory", ["--seed", "-1"], "argument --seed: -1 is not allowed; give an integer 0 …"),
    ],
)
def test_bench_bad_input_is_one_line_and_writes_nothing(
    tmp_path: Path, capsys, which: str, flags: list[str], message: str
) -> None:
    """Checked before any measurement: exit code 2, one line naming the value (no note that a
    previous CSV will be replaced: it was printed before the options were checked), the
    previous CSV unchanged."""
    out = tmp_path / "bench.csv"
    previous = f"# command: pinnkan bench {which} --out {out}\nmodel\nkan\n"
    out.write_text(previous)
    small = LAPLACIAN_SMALL if which == "laplacian" else MEMORY_SMALL
    assert main(["bench", which, *small, *flags, "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("pinnkan: error: "), error
    assert message in error
    assert out.read_text() == previous


def test_bench_out_must_be_a_file_path(tmp_path: Path, capsys) -> None:
    for which, small in (("laplacian", LAPLACIAN_SMALL), ("memory", MEMORY_SMALL)):
        assert main(["bench", which, *small, "--out", str(tmp_path)]) == 2
        assert "is a directory; give a CSV file path" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_bench_auto_device_runs_where_the_machine_can(tmp_path: Path) -> None:
    import torch

    out = tmp_path / "lap.csv"
    args = [*LAPLACIAN_SMALL, "--engines", "forward", "--device", "auto", "--out", str(out)]
    assert main(["bench", "laplacian", *args]) == 0
    comments, rows = read_csv(out)
    on_cpu = comments[1].startswith("# device: cpu;")  # on CUDA: the GPU's name
    assert on_cpu == (not torch.cuda.is_available())
    assert [row["engine"] for row in rows] == ["forward"]


@pytest.mark.parametrize(
    ("which", "flags"),
    [
        ("laplacian", ["--dim", "-1"]),
        ("laplacian", ["--engines", "foo"]),
        ("laplacian", ["--samples", "0"]),
        ("memory", ["--batch", "0"]),
        ("memory", ["--grids", "0"]),
    ],
)
def test_bench_bad_option_creates_no_output_folder(
    tmp_path: Path, capsys, which: str, flags: list[str]
) -> None:
    """Every option is checked before anything is created: not even the folders of --out."""
    small = LAPLACIAN_SMALL if which == "laplacian" else MEMORY_SMALL
    out = tmp_path / "a" / "b" / "x.csv"
    assert main(["bench", which, *small, *flags, "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith("pinnkan: error: ")
    assert list(tmp_path.iterdir()) == []


def test_bench_csv_goes_into_a_new_folder_with_the_usual_mode(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "mem.csv"
    previous = os.umask(0o022)
    try:
        assert main(["bench", "memory", *MEMORY_SMALL, "--out", str(out)]) == 0
    finally:
        os.umask(previous)
    assert os.stat(out).st_mode & 0o777 == 0o644
    assert os.listdir(out.parent) == ["mem.csv"]


def test_laplacian_cases_are_timed_in_interleaved_rounds(monkeypatch) -> None:
    """One step of every case per round, the starting case rotating; a case stops at its planned
    repeats; paired ratios divide step times of the same round."""
    from pinnkan.bench import rounds as bench

    order: list[str] = []
    seconds = {"kan": [1.0, 2.0, 4.0], "metakan": [1.1, 2.4, 4.0], "slow": [30.0]}

    def fake_step(loss, device):
        name = loss()
        order.append(name)
        value = seconds[name][sum(1 for seen in order if seen == name) - 1]
        return value, value

    monkeypatch.setattr(bench, "timed_step", fake_step)
    cases = [
        bench.Case({}, None, lambda name=name: name, planned=len(seconds[name]))
        for name in ("kan", "metakan", "slow")
    ]
    bench.interleaved_rounds(cases, "cpu")
    assert order == ["kan", "metakan", "slow", "metakan", "kan", "kan", "metakan"]
    assert [len(case.times) for case in cases] == [3, 1 + 2, 1]
    assert bench.paired_ratio(cases[1], cases[0]) == pytest.approx(1.1)  # median of 1.1, 1.2, 1
    assert bench.time_columns(cases[1])["step_ms"] == pytest.approx(2400.0)


def test_memory_benchmark_times_its_models_in_interleaved_rounds(monkeypatch) -> None:
    """KAN, MetaKAN and MLP of one (width, G) are timed round by round, and the time ratio is
    the median of same-round ratios (they were timed one model after the other)."""
    from pinnkan.bench import rounds as bench
    from pinnkan.bench.memory import run_memory_benchmark

    order: list[int] = []
    cost, slowdown = [1.0, 1.5, 2.0], [1.0, 3.0, 2.0]  # per case (first-seen order), per round

    def fake_step(loss, device):
        order.append(id(loss))
        first_seen = list(dict.fromkeys(order))
        value = cost[first_seen.index(id(loss))] * slowdown[(len(order) - 1) // 3]
        return value, value

    monkeypatch.setattr(bench, "timed_step", fake_step)
    rows = run_memory_benchmark((4,), (5,), (8,), repeats=3)
    assert len(set(order[:3])) == 3 and set(order[3:6]) == set(order[:3])  # one of each per round
    by_model = {row["model"]: row for row in rows}
    assert by_model["kan"]["time_ratio_to_kan"] == 1.0
    # every round's ratios are 1.5 and 2 whichever case starts it: paired medians are exact
    ratios = sorted(row["time_ratio_to_kan"] for row in rows)
    assert ratios == [1.0, 1.5, 2.0]


def test_laplacian_benchmark_pairs_models_against_the_first(tmp_path: Path) -> None:
    out = tmp_path / "lap.csv"
    code = main(["bench", "laplacian", "--dim", "3", "--model", "mlp,kan", "--points", "10",
                 "--repeats", "2", "--engines", "forward,sdgd", "--out", str(out)])  # fmt: skip
    assert code == 0
    _, rows = read_csv(out)
    assert [(row["model"], row["engine"]) for row in rows] == [
        ("mlp", "forward"), ("mlp", "sdgd"), ("kan", "forward"), ("kan", "sdgd"),
    ]  # fmt: skip
    for row in rows:
        paired = row["model"] == "kan"
        assert row["vs_model"] == ("mlp" if paired else "")
        assert (
            (float(row["paired_ratio_vs_model"]) > 0)
            if paired
            else not row["paired_ratio_vs_model"]
        )
        assert row["repeats"] == "2"


@pytest.mark.parametrize(
    ("script", "flags"),
    [("benchmarks/laplacian.py", ["--dim", "0"]), ("benchmarks/memory.py", ["--grids", "0"])],
)
def test_the_benchmark_scripts_are_the_pinnkan_bench_commands(tmp_path, script, flags):
    """They printed a traceback on bad input, and ran without the command's heap reuse while
    their CSV recorded the command's name."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, str(root / script), *flags, "--out", str(tmp_path / "b.csv")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("pinnkan: error: ") and done.stderr.count("\n") == 1


@pytest.mark.parametrize("which", ["laplacian", "memory"])
def test_every_csv_column_is_explained_in_its_header(which):
    """Columns such as step_ms_min, vs_model, memory_kind or device_peak_bytes were explained
    nowhere in the CSV."""
    import importlib

    module = importlib.import_module(f"pinnkan.bench.{which}")
    assert list(module.COLUMN_NOTES) == module.COLUMNS
    assert all(note.strip() for note in module.COLUMN_NOTES.values())


def test_a_benchmark_flag_before_its_name_is_one_line(capsys):
    """``pinnkan bench --dim 20`` said "invalid choice: '20'"."""
    assert main(["bench", "--dim", "20"]) == 2
    assert capsys.readouterr().err.strip() == (
        "pinnkan: error: pinnkan bench takes the benchmark first, then its options: "
        "pinnkan bench laplacian --dim 20 (or memory)"
    )
