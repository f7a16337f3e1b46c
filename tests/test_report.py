"""`pinnkan report`: grouping over seeds, statistics, the paper's numbers, the command line."""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
import pytest

from pinnkan import report
from pinnkan.results import Run, write_run

PAPER_WIDTH = {20: [20, 32, 32, 32, 1], 50: [50, 32, 32, 32, 1]}


def pde_run(
    problem: str = "poisson",
    dim: int = 20,
    model: str = "kan",
    seed: int = 0,
    rel_l2: float = 1e-3,
    lr: float = 1e-3,
    width: list[int] | None = None,
    status: str = "completed",
    params: int = 24_480,
    **model_options,
) -> Run:
    """A run file as the runner writes it, without weights (the report never reads them)."""
    model_config = {"name": model, "width": width or PAPER_WIDTH[dim], "grid": 5, "k": 3}
    model_config.update(model_options)
    return Run(
        config={
            "kind": "pde",
            "problem": {"name": problem, "dim": dim, "seed": 0},
            "model": model_config,
            "train": {"steps": 100, "lr": lr, "law": "radial", "seed": seed},
            "device": "cpu",
            "device_name": "test-cpu",
            "dtype": "float32",
            "sampling_law": "radial",
            "seed": seed,
        },
        history={"step": np.array([100]), "loss": np.array([0.1])},
        metrics={"rel_l2": rel_l2, "params": params, "steps": 100, "wall_time_s": 10.0 + seed},
        status=status,
    )


def regression_run(problem: dict, model: dict, mse: float, seed: int = 0) -> Run:
    return Run(
        config={  # as pinnkan.fit.run_config writes it
            "kind": "regression",
            "problem": problem,
            "model": model,
            "seed": seed,
            "sampling": "uniform box",
        },  # fmt: skip
        metrics={"mse": mse, "params": 100, "steps": 50, "wall_time_s": 1.0},
        status="completed",
    )


def write_all(folder: Path, runs: list[Run]) -> list[str]:
    paths = []
    for index, run in enumerate(runs):
        path = folder / f"run{index:02d}.h5"
        write_run(path, run)
        paths.append(str(path))
    return paths


def parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(prog="pinnkan report")
    report.add_report_arguments(result)
    return result


def table_rows(text: str) -> list[list[str]]:
    """Data rows of every markdown table in ``text`` as lists of cells."""
    rows = []
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| problem"):
            rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def make_report(tmp_path: Path, runs: list[Run], *flags: str) -> str:
    paths = write_all(tmp_path, runs)
    out = tmp_path / "report.md"
    args = parser().parse_args([*paths, *flags, "--out", str(out)])
    assert report.run_report(args) == 0
    return out.read_text()


# --- statistics ----------------------------------------------------------------------------------


def test_mean_and_sample_std_over_finite_values():
    values = [1e-3, 2e-3, 4e-3, None, float("nan")]
    mean, spread, count = report.mean_and_std(values)
    assert count == 3
    assert mean == pytest.approx(np.mean([1e-3, 2e-3, 4e-3]))
    assert spread == pytest.approx(np.std([1e-3, 2e-3, 4e-3], ddof=1))
    assert report.mean_and_std([5.0]) == (5.0, None, 1)
    assert report.mean_and_std([None]) == (None, None, 0)
    assert report.format_mean([1e-3, 3e-3]) == f"2.00e-03 ± {statistics.stdev([1e-3, 3e-3]):.1e}"
    assert report.format_mean([None]) == "n/a"


# --- grouping --------------------------------------------------------------------------------------


def test_seeds_are_grouped_and_settings_are_not(tmp_path):
    runs = [pde_run(seed=s, rel_l2=v) for s, v in enumerate([1e-3, 2e-3, 3e-3])]
    runs += [pde_run(seed=0, rel_l2=5e-2, lr=1e-2), pde_run(dim=50, rel_l2=7e-3)]
    text = make_report(tmp_path, runs)
    rows = table_rows(text)
    assert len(rows) == 3
    by_setting = {(row[1], row[3]): row for row in rows}
    three = by_setting[("20", "lr=0.001")]
    assert three[4] == "3" and three[5] == "2.00e-03 ± 1.0e-03"
    assert three[7] == "11.0 ± 1.0"  # wall time 10, 11, 12 s
    assert by_setting[("20", "lr=0.01")][5] == "5.00e-02"
    assert by_setting[("50", "lr=0.001")][5] == "7.00e-03"
    assert [row[1] for row in rows] == ["20", "20", "50"]  # numeric order of dimensions
    assert "Common to all rows:" in text and "steps=100" in text
    assert "seed=" not in text.split("Common to all rows:")[1].replace("problem.seed", "")


def test_a_run_given_twice_counts_once(tmp_path):
    """``report a.h5 ./a.h5``, ``report DIR DIR`` or a folder and a file in it: each run is one
    sample (it was counted once per mention, with std 0 or shrunk)."""
    paths = write_all(tmp_path, [pde_run(seed=s, rel_l2=v) for s, v in enumerate([1e-3, 3e-3])])
    twice = [paths[0], str(Path(paths[0]).parent / "." / Path(paths[0]).name), str(tmp_path)]
    out = tmp_path / "report.md"
    assert report.run_report(parser().parse_args([*twice, "--out", str(out)])) == 0
    (row,) = table_rows(out.read_text())
    assert row[4] == "2" and row[5] == "2.00e-03 ± 1.4e-03"


def test_problem_seed_tied_to_the_training_seed_groups_as_seeds(tmp_path):
    """Runs made with problem seed "training" (one instance per seed) form one group."""
    tied = []
    for seed, value in enumerate([1e-3, 3e-3]):
        run = pde_run(seed=seed, rel_l2=value)
        run.config["problem"] = {"name": "poisson", "dim": 20, "seed": seed}
        run.config["spec"] = {"problem_options": {"dim": 20, "seed": "training"}}
        tied.append(run)
    fixed = [pde_run(seed=seed, rel_l2=5e-3) for seed in (0, 1)]  # problem seed 0 for both
    rows = table_rows(make_report(tmp_path, tied + fixed))
    assert sorted((row[3], row[4], row[5]) for row in rows) == [
        ("problem.seed=0", "2", "5.00e-03 ± 0.0e+00"),
        ("problem.seed=training", "2", f"2.00e-03 ± {statistics.stdev([1e-3, 3e-3]):.1e}"),
    ]


def test_failed_runs_are_counted_and_left_out_of_the_mean(tmp_path):
    runs = [pde_run(seed=0, rel_l2=1e-3), pde_run(seed=1, rel_l2=3e-3)]
    runs.append(pde_run(seed=2, rel_l2=float("nan"), status="diverged"))
    (row,) = table_rows(make_report(tmp_path, runs))
    assert row[4] == "3 (1 diverged)"
    assert row[5].startswith("2.00e-03 ± ")


# --- the paper's numbers ---------------------------------------------------------------------------


def test_paper_values_for_table8(tmp_path):
    runs = [
        pde_run("poisson", 20, "kan", seed=0, rel_l2=1.048e-3),
        pde_run("poisson", 20, "kan", seed=1, rel_l2=1.048e-3),
        pde_run("allen_cahn", 50, "metakan", meta_hidden=128, rel_l2=6.1e-3, params=5_097),
        pde_run("sine_gordon", 20, "kan", width=[20, 16, 1], rel_l2=1e-1),
        pde_run("poisson", 50, "fastkan", rel_l2=1e-2),
    ]
    text = make_report(tmp_path, runs, "--against", "paper")
    rows = {(row[0], row[1], row[2]): row for row in table_rows(text)}
    poisson = rows[("poisson", "20", "kan")]
    assert poisson[6:10] == ["5.24e-04 (Table 8)", "2.00", "24,480", "24,480"]
    allen_cahn = rows[("allen_cahn", "50", "metakan")]
    assert allen_cahn[6:10] == ["6.10e-03 (Table 8)", "1.00", "5,097", "5,097"]
    sine_gordon = rows[("sine_gordon", "20", "kan")]
    assert sine_gordon[6] == "2.66e-01 † (Table 8)"  # other architecture: marked
    assert rows[("poisson", "50", "fastkan")][6:10] == ["—", "—", "24,480", "—"]
    assert "† marks rows whose architecture differs" in text


def test_node_means_are_marked_as_another_architecture(tmp_path):
    """node_mean is not in the paper: same width and meta-learner, but the number gets a †."""
    runs = [
        pde_run("allen_cahn", 50, "metakan", meta_hidden=128, rel_l2=6.1e-3, params=5_097),
        pde_run("poisson", 50, "metakan", meta_hidden=128, node_mean=True, rel_l2=2e-3),
    ]
    rows = {row[0]: row for row in table_rows(make_report(tmp_path, runs, "--against", "paper"))}
    assert rows["allen_cahn"][6] == "6.10e-03 (Table 8)"
    assert rows["poisson"][6] == "4.85e-03 † (Table 8)"
    highdim = regression_run(
        {"name": "highdim:f3", "dim": 10, "variant": "f3"},
        {"name": "metakan", "width": [10, 1, 1], "grid": 5, "k": 3, "meta_hidden": 8}
        | {"node_mean": True},
        mse=1e-4,
    )
    assert not report.paper_value(report.run_facts(highdim)).same_architecture


@pytest.mark.parametrize(
    "options",
    [
        {"prompt_dim": 2, "params": 7_818},
        {"clusters": 4, "params": 5_484},
        {"meta_activation": "tanh", "params": 5_097},
        {"grid_range": [-0.5, 0.5], "params": 5_097},
        {"params": 5_227},  # e.g. a bias the paper's count does not have
    ],
)
def test_other_meta_learners_and_counts_are_marked(options):
    """Same width, grid and meta-learner size as Table 8, yet not the paper's MetaKAN: a †."""
    paper = pde_run("poisson", 50, "metakan", meta_hidden=128, params=5_097, grid_range=[-1.0, 1.0])
    assert report.paper_value(report.run_facts(paper)).same_architecture
    run = pde_run(
        "poisson", 50, "metakan", meta_hidden=128, **({"grid_range": [-1.0, 1.0]} | options)
    )
    assert not report.paper_value(report.run_facts(run)).same_architecture


def test_regression_tables_mark_other_meta_learners():
    """Table 2 and 4 counts are compared as reported, but a second prompt dimension is marked."""
    model = {"name": "metakan", "width": [10, 1, 1], "grid": 5, "k": 3, "meta_hidden": 8}
    problem = {"name": "highdim:f3", "dim": 10, "variant": "f3"}
    paper = report.run_facts(regression_run(problem, model, mse=1e-4))
    other = report.run_facts(regression_run(problem, model | {"prompt_dim": 2}, mse=1e-4))
    assert report.paper_value(paper).same_architecture
    assert not report.paper_value(other).same_architecture
    for change in ({"grid": 3}, {"grid_range": [-3.0, 3.0]}, {"bias": False}, {"k": 2}):
        for name in ("kan", "metakan"):  # went unmarked: only width and meta size were read
            changed = report.run_facts(
                regression_run(problem, model | {"name": name} | change, mse=1e-4)
            )
            assert not report.paper_value(changed).same_architecture, (name, change)
    feynman = {"name": "feynman:I.12.5", "dim": 2, "variant": "I.12.5"}
    kan = {"name": "kan", "width": [2, 2, 1], "grid": 20, "k": 3, "bias": True}
    assert report.paper_value(
        report.run_facts(regression_run(feynman, kan, 1e-2))
    ).same_architecture
    unbiased = report.run_facts(regression_run(feynman, kan | {"bias": False}, 1e-2))
    assert not report.paper_value(unbiased).same_architecture


def test_paper_values_for_regression_tables():
    highdim = report.run_facts(
        regression_run(
            {"name": "highdim:f3", "dim": 10, "variant": "f3"},
            {"name": "metakan", "width": [10, 1, 1], "grid": 5, "k": 3, "meta_hidden": 8},
            mse=1e-4,
        )
    )
    value = report.paper_value(highdim)
    assert (value.value, value.params, value.source) == (3.39e-4, 97, "Table 4")
    assert value.same_architecture
    feynman = report.run_facts(
        regression_run(
            {"name": "feynman:I.12.5", "dim": 2, "variant": "I.12.5"},
            {"name": "kan", "width": [2, 2, 1], "grid": 20, "k": 3},
            mse=1e-2,
        )
    )
    value = report.paper_value(feynman)
    assert (value.value, value.params, value.source) == (2.97e-2, 201, "Table 2")
    assert report.paper_value(report.run_facts(pde_run(dim=50, width=[50, 8, 1]))).value == 2.14e-3


def with_given_problem(run: Run, given: str) -> Run:
    """``run`` as solved with ``--problem given`` (the spec the runner records)."""
    run.config["spec"] = {
        "problem": given,
        "problem_options": {"dim": run.config["problem"]["dim"]},
    }
    return run


def test_user_problems_named_like_a_builtin_get_no_paper_value(tmp_path):
    """A user class with ``name = "poisson"`` is not the paper's Poisson problem: no Table 8
    value, and it is never grouped with the built-in Poisson runs of the same setting."""
    builtin = with_given_problem(pde_run("poisson", 20, "kan", rel_l2=1.048e-3), "poisson")
    user = with_given_problem(pde_run("poisson", 20, "kan", rel_l2=1e-1), "mine/poisson.py:Poisson")
    assert report.paper_value(report.run_facts(builtin)).value == 5.24e-4
    assert report.paper_value(report.run_facts(user)) is None
    feynman = regression_run(
        {"name": "feynman:I.12.5", "dim": 2, "variant": "I.12.5"},
        {"name": "kan", "width": [2, 2, 1], "grid": 20, "k": 3},
        mse=1e-2,
    )
    feynman.config["train"] = {"problem": "mine/feynman.py:Fake", "seed": 0}
    assert report.paper_value(report.run_facts(feynman)) is None
    rows = table_rows(make_report(tmp_path, [builtin, user], "--against", "paper"))
    assert len(rows) == 2  # two groups, not two seeds of one
    published = sorted(row[6] for row in rows)
    assert published == ["5.24e-04 (Table 8)", "—"]


def test_user_problem_runs_with_other_constructor_options_are_other_groups(tmp_path):
    """A user class whose config() records only name and dim: runs made with other
    ``--problem-option`` values are different problems, not seeds of one."""
    runs = []
    for advection, seed in (("2", 0), ("2", 1), ("0.5", 0)):
        run = with_given_problem(pde_run("mine", 3, "kan", seed=seed, width=[3, 4, 1]), "m.py:Mine")
        run.config["spec"]["problem_options"]["advection"] = float(advection)
        runs.append(run)
    rows = table_rows(make_report(tmp_path, runs))
    assert sorted(row[4] for row in rows) == ["1", "2"]  # runs per group
    assert sum("problem.advection=0.5" in " ".join(row) for row in rows) == 1


def test_user_problem_files_given_alike_from_two_folders_are_two_problems(tmp_path):
    """``--problem x.py:NonLin`` run in folders dA and dB names two different files: the
    report averaged them as seeds of one problem (it keyed on the path as typed); the runs
    record the absolute path (``spec.problem_path``), which tells them apart."""
    runs = []
    for folder, seed in (("/work/dA", 0), ("/work/dA", 1), ("/work/dB", 0)):
        run = with_given_problem(
            pde_run("nonlin", 3, "kan", seed=seed, width=[3, 4, 1]), "x.py:NonLin"
        )
        run.config["spec"]["problem_path"] = f"{folder}/x.py"
        runs.append(run)
    rows = table_rows(make_report(tmp_path, runs))
    assert sorted(row[4] for row in rows) == ["1", "2"]  # runs per group
    assert sum("/work/dB/x.py:NonLin" in " ".join(row) for row in rows) == 1


def test_regression_runs_get_their_own_table(tmp_path):
    runs = [
        pde_run(rel_l2=1e-3),
        regression_run(
            {"name": "highdim:f1", "dim": 20, "variant": "f1"},
            {"name": "kan", "width": [20, 1, 1], "grid": 5, "k": 3},
            mse=4e-4,
        ),
    ]
    text = make_report(tmp_path, runs, "--against", "paper")
    assert "## PDE runs" in text and "## Regression runs" in text
    regression = text.split("## Regression runs")[1]
    assert "test MSE (mean ± std)" in regression
    (row,) = table_rows(regression)
    assert row[5] == "4.00e-04" and row[6] == "4.63e-04 (Table 4)"
    assert row[-1] == "uniform box"  # the sampling column read "—" for every fit


# --- command line ----------------------------------------------------------------------------------


def test_command_line_heads_the_report(tmp_path, capsys):
    (path,) = write_all(tmp_path, [pde_run()])
    args = parser().parse_args([str(tmp_path), "--against", "paper"])
    assert report.run_report(args) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0] == "# pinnkan report"
    assert f"Command: `pinnkan report {tmp_path} --against paper`" in text
    assert len(table_rows(text)) == 1  # the folder expanded to its one run file


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["{run}", "--against", "arxiv"], "--against 'arxiv' is not known"),
        (["{folder}/missing.h5"], "does not exist"),
        (["{empty}"], "holds no .h5 run files"),
    ],
)
def test_bad_input_is_one_line_value_error(tmp_path, argv, message):
    (path,) = write_all(tmp_path, [pde_run()])
    empty = tmp_path / "empty"
    empty.mkdir()
    names = {"run": path, "folder": str(tmp_path), "empty": str(empty)}
    args = parser().parse_args([item.format(**names) for item in argv])
    with pytest.raises(ValueError, match=message) as caught:
        report.run_report(args)
    assert "\n" not in str(caught.value)


def test_pinnkan_report_command(tmp_path):
    from pinnkan import cli

    (path,) = write_all(tmp_path, [pde_run()])
    out = tmp_path / "table.md"
    assert cli.main(["report", path, "--out", str(out)]) == 0
    assert f"pinnkan report {path} --out {out}" in out.read_text()


def test_regenerated_report_keeps_the_hand_written_notes(tmp_path, capsys):
    from pinnkan import cli
    from pinnkan.text_file import NOTES_MARKER

    first, second = write_all(tmp_path, [pde_run(rel_l2=1e-3), pde_run(model="mlp", rel_l2=5e-3)])
    out = tmp_path / "table.md"
    assert cli.main(["report", first, "--out", str(out)]) == 0
    notes = f"{NOTES_MARKER}\n\n## Reading this table\n\nWritten by hand: | not | a | row |\n"
    out.write_text(out.read_text() + "\n" + notes)
    assert cli.main(["report", first, second, "--out", str(out)]) == 0
    text = out.read_text()
    assert text.endswith(notes)
    assert text.count(NOTES_MARKER) == 1
    generated = text[: text.index(NOTES_MARKER)]
    assert "2 run file(s)" in generated and "| mlp |" in generated
    assert "hand-written notes kept" in capsys.readouterr().out


def test_options_that_would_read_alike_keep_their_full_names(tmp_path):
    """A fit records its model's width and the (unset) --width of the command, and the run's
    dtype beside train.dtype: the common line read "width=[d, 2, 1]; … width=null"."""
    assert report.labels(["model.width", "train.width", "train.lr", "dtype", "train.dtype"]) == {
        "model.width": "model.width",
        "train.width": "train.width",
        "train.lr": "lr",
        "dtype": "dtype",
        "train.dtype": "train.dtype",
    }
    runs = []
    for seed in (0, 1):
        run = regression_run(
            {"name": "feynman:I.12.5", "dim": 2, "variant": "I.12.5"},
            {"name": "kan", "width": [2, 2, 1], "grid": 5, "k": 3},
            mse=1e-3 * (1 + seed),
            seed=seed,
        )
        run.config["train"] = {"width": None, "dtype": "float64", "seed": seed}
        run.config["dtype"] = "float64"
        runs.append(run)
    text = make_report(tmp_path, runs)
    common = next(line for line in text.splitlines() if line.startswith("Common to all rows"))
    assert "model.width=[d, 2, 1]" in common and "train.width=null" in common
    assert "; width=" not in common and "train.dtype=float64; dtype=float64" in common


def test_small_ratios_to_the_paper_keep_two_significant_digits():
    """Sine–Gordon rows (ours 1e-6 against the paper's 1e-3) printed "0.00"."""
    assert [report.ratio_text(x) for x in (1.3, 0.26, 0.1, 0.0011, 0.05, 41.56)] == [
        "1.30", "0.26", "0.10", "0.0011", "0.05", "41.56"
    ]  # fmt: skip
