"""`pinnkan plot` of runs whose problem is a user file (``file.py:Class``), and of several files.

The field figure rebuilds the problem from what the user gave `solve` (``config["spec"]``),
never from the class's ``name``: a user class called "poisson" must not get the built-in
Poisson's exact solution drawn beside its prediction.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from pinnkan import plot, plot_cli
from pinnkan.plots.fields import slice_field
from pinnkan.plots.options import PlotOptions
from pinnkan.plots.plane import disc_grid
from pinnkan.plots.rebuild import rebuild_problem
from pinnkan.plots.titles import run_title
from pinnkan.results import read_run
from pinnkan.runner import SolveSpec, resume_pde, solve_pde
from pinnkan.train import TrainConfig

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "helmholtz.py"
SMALL = PlotOptions(resolution=17, bins=8, max_edges=3, samples=21, dpi=30)


def solve(problem: str, out: Path) -> Path:
    train = TrainConfig(steps=4, lr=1e-2, test_points=100, eval_every=2, laplacian="forward")
    spec = SolveSpec(
        problem=problem,
        problem_options={"dim": 3, "wavenumber": 3.0},
        model="kan",
        width=[3, 3, 1],
        train=train,
    )
    solve_pde(spec, str(out))
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("user_problem")
    helmholtz = folder / "helmholtz.py"
    shutil.copy(EXAMPLE, helmholtz)
    # the same class, named like the built-in Poisson problem
    impostor = folder / "impostor.py"
    impostor.write_text(EXAMPLE.read_text().replace('name = "helmholtz"', 'name = "poisson"'))
    gone = folder / "gone.py"
    shutil.copy(EXAMPLE, gone)
    paths = {
        "helmholtz": solve(f"{helmholtz}:Helmholtz", folder / "helmholtz.h5"),
        "impostor": solve(f"{impostor}:Helmholtz", folder / "impostor.h5"),
        "gone": solve(f"{gone}:Helmholtz", folder / "gone.h5"),
        "poisson": solve_poisson(folder / "a" / "run.h5"),
        "poisson_b": solve_poisson(folder / "b" / "run.h5"),
    }
    gone.unlink()
    return paths


def solve_poisson(out: Path) -> Path:
    out.parent.mkdir()
    train = TrainConfig(steps=4, lr=1e-2, test_points=100, eval_every=2, laplacian="forward")
    spec = SolveSpec(problem="poisson", problem_options={"dim": 3}, width=[3, 3, 1], train=train)
    solve_pde(spec, str(out))
    return out


def plot_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pinnkan plot")
    plot_cli.add_plot_arguments(parser)
    return parser


# --- defect 1: the problem comes from the spec, not from the class's name ------------------------


@pytest.mark.parametrize("name", ["helmholtz", "impostor"])
def test_field_of_a_user_problem_uses_the_user_class(runs, tmp_path, name):
    run = read_run(runs[name], load_model=True)
    problem = rebuild_problem(run)
    assert type(problem).__name__ == "Helmholtz" and problem.wavenumber == 3.0
    field = slice_field(run, SMALL)
    points, inside = disc_grid(field.plane, SMALL.resolution)
    user = problem.exact_solution().value(torch.from_numpy(points)).numpy()
    np.testing.assert_allclose(field.exact[inside], user.reshape(inside.shape)[inside])
    kinds = [kind.name for kind in plot.select_kinds(plot.load_source(runs[name]), None, name)]
    assert "field" in kinds
    written = plot.plot_file(runs[name], ["field"], out=tmp_path, options=SMALL)
    assert [path.name for path in written] == [f"{runs[name].stem}-field.png"]


def test_field_of_an_exact_solution_given_as_a_plain_function(tmp_path):
    """exact_solution() may return a plain function (training takes it); the field figure
    failed on it ('function' object has no attribute 'value') and plot wrote no file."""
    source = tmp_path / "plain.py"
    source.write_text(
        EXAMPLE.read_text() + "\n\nclass Plain(Helmholtz):\n    def exact_solution(self):\n"
        "        return PlaneWaveBubble(self.dim, self.wavenumber).value\n"
    )
    out = solve(f"{source}:Plain", tmp_path / "plain.h5")
    field = slice_field(read_run(out, load_model=True), SMALL)
    assert np.isfinite(field.exact[np.isfinite(field.exact)]).all() and np.nanmax(field.exact) > 0
    written = plot.plot_file(out, None, out=tmp_path / "figures", options=SMALL)
    assert "plain-field.png" in [path.name for path in written]


def test_impostor_exact_solution_is_not_the_builtin_poisson(runs):
    from pinnkan.problems import get_problem

    run = read_run(runs["impostor"], load_model=True)
    builtin = get_problem("poisson", dim=3).exact_solution()
    user = rebuild_problem(run).exact_solution()
    x = torch.rand(50, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 0.5
    assert not torch.allclose(builtin.value(x), user.value(x))


def test_titles_name_a_user_problem_file_beside_its_class_name(runs):
    """A user class called "poisson" is titled with its file, never as the built-in Poisson."""
    impostor = read_run(runs["impostor"], load_model=False)
    assert run_title(impostor).startswith("poisson (impostor.py:Helmholtz), d = 3 · KAN [3, 3, 1]")
    builtin = read_run(runs["poisson"], load_model=False)
    assert run_title(builtin).startswith("poisson, d = 3 · KAN [3, 3, 1]")


def test_a_missing_problem_file_is_one_line_naming_the_file(runs, tmp_path, capsys):
    with pytest.raises(ValueError) as caught:
        plot.plot_file(runs["gone"], ["field"], out=tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert "gone.py" in message and "does not exist" in message and str(runs["gone"]) in message
    # without --kind the other figures are drawn and the missing field is said, not hidden
    written = plot.plot_file(runs["gone"], out=tmp_path, options=SMALL)
    assert "field" not in {path.stem.rpartition("-")[2] for path in written}
    assert "gone.py" in capsys.readouterr().err


def test_a_relative_problem_file_is_found_from_another_folder(tmp_path, monkeypatch):
    """``solve --problem helm.py:Helmholtz`` in one folder; ``plot``/``resume`` from another
    find the file at the absolute path recorded beside what the user gave."""
    folder = tmp_path / "work"
    folder.mkdir()
    shutil.copy(EXAMPLE, folder / "helm.py")
    monkeypatch.chdir(folder)
    out = solve("helm.py:Helmholtz", folder / "run.h5")
    run = read_run(out, load_model=True)
    assert run.config["spec"]["problem"] == "helm.py:Helmholtz"
    assert run.config["spec"]["problem_path"] == str((folder / "helm.py").resolve())
    monkeypatch.chdir(tmp_path)
    assert type(rebuild_problem(run)).__name__ == "Helmholtz"
    assert resume_pde(str(out), steps=6).metrics["steps"] == 6
    (folder / "helm.py").unlink()
    with pytest.raises(ValueError) as caught:
        rebuild_problem(run)
    message = str(caught.value)
    assert "\n" not in message and "helm.py" in message and "does not exist" in message
    assert str(tmp_path) in message and run.config["spec"]["problem_path"] in message


# --- defect 3: several files, repeated kinds -----------------------------------------------------


def test_two_inputs_writing_one_figure_file_are_refused_before_drawing(runs, tmp_path):
    argv = [str(runs["poisson"]), str(runs["poisson_b"]), "--kind", "curves"]
    args = plot_parser().parse_args([*argv, "--out", str(tmp_path)])
    with pytest.raises(ValueError) as caught:
        plot_cli.run_plot(args)
    message = str(caught.value)
    assert "\n" not in message
    assert str(runs["poisson"]) in message and str(runs["poisson_b"]) in message
    assert not list(tmp_path.iterdir())


def test_a_kind_that_does_not_apply_to_a_later_file_draws_nothing(runs, tmp_path):
    """``plot run.h5 other.h5 --kind field``: the second file's field cannot be drawn, so the
    first one's is not drawn either (every file and kind is checked before drawing)."""
    args = plot_parser().parse_args(
        [str(runs["poisson"]), str(runs["gone"]), "--kind", "field", "--out", str(tmp_path)]
    )
    with pytest.raises(ValueError, match="figure kind 'field' does not apply"):
        plot_cli.run_plot(args)
    assert not list(tmp_path.iterdir())


def test_repeated_kinds_are_drawn_once(runs, tmp_path, capsys):
    args = plot_parser().parse_args(
        [str(runs["poisson"]), "--kind", "curves,curves", "--out", str(tmp_path), "--dpi", "30"]
    )
    assert plot_cli.run_plot(args) == 0
    assert [Path(line).name for line in capsys.readouterr().out.split()] == ["run-curves.png"]
