"""User PDEs that are wrong in shape, finiteness, attributes or geometry are refused before
training with one line (``pinnkan: error: …``, exit 2, no run file); solve run files keep the
model's config; the deepxde engine takes an exact solution given as a plain function."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pinnkan import cli
from pinnkan.geometry import Ball
from pinnkan.problem import PDE
from pinnkan.results import read_run, restore_model
from pinnkan.runner import SolveSpec, check_problem, solve_pde
from pinnkan.train import TrainConfig

TINY = ["--dim", "3", "--width", "3,8,1", "--test-points", "200", "--device", "cpu", "--quiet"]

USER_PDES = '''
import math
import torch
from pinnkan import PDE, Ball


def bump(x):
    return 1 - x.pow(2).sum(-1)


class Base(PDE):
    name = "base"

    def __init__(self, dim: int = 3):
        self.dim, self.geometry = dim, Ball(dim)

    def operator(self, fields):
        return fields.laplacian

    def exact_solution(self):
        return lambda x: bump(x) * torch.sin(x[:, 0])


class Forced(Base):
    """-Δu = 1, u = 0 on the sphere, no exact solution."""

    name = "forced"

    def operator(self, fields):
        return -fields.laplacian

    def exact_solution(self):
        return None

    def forcing(self, x):
        return torch.ones(x.shape[0], device=x.device, dtype=x.dtype)

    def boundary_value(self, x):
        return torch.zeros(x.shape[0], device=x.device, dtype=x.dtype)


class OperatorColumn(Base):
    name = "operator_column"

    def operator(self, fields):
        return fields.laplacian.unsqueeze(-1)


class OperatorGradient(Base):
    name = "operator_gradient"

    def operator(self, fields):
        return fields.gradient


class ConstantForcing(Forced):
    """-Δu = 1 with the forcing written as one number."""

    name = "constant_forcing"

    def forcing(self, x):
        return 1.0


class ConstantBoundary(Forced):
    """-Δu = 1, u = 1/2 on the sphere, g written as one number."""

    name = "constant_boundary"

    def boundary_value(self, x):
        return 0.5


class TensorBoundary(Forced):
    name = "tensor_boundary"

    def boundary_value(self, x):
        return torch.full((x.shape[0],), 0.5, dtype=x.dtype, device=x.device)


class OperatorColumnOwnForcing(Forced):
    name = "operator_column_own_forcing"

    def operator(self, fields):
        return -fields.laplacian.unsqueeze(-1)


class ForcingColumn(Forced):
    name = "forcing_column"

    def forcing(self, x):
        return torch.ones(x.shape[0], 1)


class ExactColumn(Base):
    name = "exact_column"

    def exact_solution(self):
        return lambda x: (bump(x) * torch.sin(x[:, 0])).unsqueeze(-1)


class NaNForcing(Forced):
    name = "nan_forcing"

    def forcing(self, x):
        return torch.full((x.shape[0],), float("nan"))


class NaNExact(Base):
    name = "nan_exact"

    def exact_solution(self):
        return lambda x: torch.log(x[:, 0]) * bump(x)


class NaNOperator(Base):
    name = "nan_operator"

    def operator(self, fields):
        return fields.laplacian * float("nan")


class NoGeometry(Base):
    name = "no_geometry"

    def __init__(self, dim: int = 3):
        self.dim = dim


class NoDim(Base):
    name = "no_dim"

    def __init__(self, dim: int = 3):
        self.geometry = Ball(dim)


class DimMismatch(Base):
    name = "dim_mismatch"

    def __init__(self, dim: int = 3):
        self.dim, self.geometry = dim, Ball(dim + 1)


class Box:
    """The cube [-1, 1]^d, duck-typed geometry."""

    def __init__(self, dim):
        self.dim, self.radius = dim, 1.0

    def sample_interior(self, n, law="volume", generator=None, device=None, dtype=None):
        dtype = dtype or torch.get_default_dtype()
        return (2 * torch.rand(n, self.dim, generator=generator, dtype=dtype) - 1).to(device or "cpu")

    def sample_boundary(self, n, generator=None, device=None, dtype=None):
        x = self.sample_interior(n, generator=generator, device=device, dtype=dtype)
        i = torch.randint(0, self.dim, (n,), generator=generator)
        x[torch.arange(n), i] = torch.sign(x[torch.arange(n), i])
        return x

    def config(self):
        return {"geometry": "box", "dim": self.dim}


class Cube(Base):
    name = "cube"

    def __init__(self, dim: int = 3):
        self.dim, self.geometry = dim, Box(dim)

    def exact_solution(self):
        return lambda x: torch.prod(torch.sin(math.pi * x), dim=-1)


class BigBall(Base):
    """u = (4 − |x|²) sin x_1 on the ball of radius 2: zero on its sphere."""

    name = "big_ball"

    def __init__(self, dim: int = 3):
        self.dim, self.geometry = dim, Ball(dim, radius=2.0)

    def exact_solution(self):
        return lambda x: (4 - x.pow(2).sum(-1)) * torch.sin(x[:, 0])


class Hessian(Base):
    name = "hessian"

    def operator(self, fields):
        h = fields.hessian
        return h[:, 0, 0] + 2 * h[:, 1, 1] + fields.laplacian


class Options(Base):
    """Δu (+ u³ if nonlinear) = f with typed options."""

    name = "options"

    def __init__(
        self,
        dim: int = 3,
        nonlinear: bool = True,
        scale: float = 1.0,
        label: str = "a",
        drift: float | None = None,
    ):
        super().__init__(dim)
        self.nonlinear, self.scale, self.label, self.drift = nonlinear, scale, label, drift

    def operator(self, fields):
        return self.scale * fields.laplacian + (fields.u**3 if self.nonlinear else 0)


class IndexBug(Base):
    name = "index_bug"

    def operator(self, fields):
        return fields.laplacian + fields.x[:, 7]  # d = 3: no coordinate 7


class AssertingInit(Base):
    name = "asserting_init"

    def __init__(self, dim: int = 3, mode: str = "sin"):
        assert mode in ("sin", "cos"), mode
        super().__init__(dim)


class FloatOperator(Base):
    name = "float_operator"

    def operator(self, fields):
        return 1.0


class JsonBug(Base):
    name = "json_bug"

    def operator(self, fields):
        import json

        json.loads("{bad")  # a ValueError of the user's own
        return fields.laplacian


class ImportBug(Base):
    name = "import_bug"

    def operator(self, fields):
        import importlib

        importlib.import_module("pinnkan_no_such_helper")  # raised in <frozen importlib…>
        return fields.laplacian


class DetachedOperator(Base):
    name = "detached_operator"

    def operator(self, fields):
        return fields.laplacian.detach()


class DetachedOwnForcing(Forced):
    name = "detached_own_forcing"

    def operator(self, fields):
        return -fields.laplacian.detach()


class SinglePrecisionForcing(Forced):
    name = "single_precision_forcing"

    def forcing(self, x):
        return torch.ones(x.shape[0], dtype=torch.float32, device=x.device)


class TorchCallBug(Base):
    name = "torch_call_bug"

    def operator(self, fields):
        return fields.laplacian + torch.einsum("ij,jk->i", fields.x, fields.x)  # (n, d) (n, d)


class Unnamed(PDE):
    def __init__(self, dim: int = 3):
        self.dim, self.geometry = dim, Ball(dim)

    def operator(self, fields):
        return fields.laplacian


class SinglePrecisionSolution(Base):
    """The exact solution computes with a float32 constant made once (the default dtype)."""

    name = "single_precision_solution"

    def __init__(self, dim: int = 3):
        super().__init__(dim)
        self.weights = torch.ones(dim) / dim

    def exact_solution(self):
        return lambda x: 100 * bump(x) * torch.sin(x @ self.weights)


class BrokenBoundary(Forced):
    name = "broken_boundary"

    def boundary_value(self, x):
        return x[:, 0] / 0 + x[:, 99]
'''


@pytest.fixture(scope="module")
def user_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("user") / "user_pdes.py"
    path.write_text(USER_PDES)
    return str(path)


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def solve_argv(problem: str, out: Path, *extra: str) -> list[str]:
    return ["solve", "--problem", problem, *TINY, "--steps", "3", "--out", str(out), *extra]


def assert_refused(code: int, out: str, err: str, out_file: Path, *needles: str) -> str:
    assert code == 2, err
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("pinnkan: error: "), err
    for needle in needles:
        assert needle in lines[0], err
    assert "diverged" not in lines[0] and "--lr" not in lines[0]
    assert not out_file.exists()
    return lines[0]


@pytest.mark.parametrize(
    ("name", "needles"),
    [
        ("OperatorColumn", ["'operator_column': operator", "shape (16, 1)", "(16,) is expected"]),
        ("OperatorGradient", ["'operator_gradient': operator", "shape (16, 3)"]),
        ("OperatorColumnOwnForcing", ["operator returned shape (16, 1)", "(16,) is expected"]),
        ("ForcingColumn", ["'forcing_column': forcing returned shape (16, 1)"]),
        ("ExactColumn", ["'exact_column': exact_solution() returned shape (16, 1)"]),
    ],
)
def test_wrong_shapes_are_refused_naming_the_method(user_file, tmp_path, capsys, name, needles):
    out = tmp_path / "run.h5"
    code, stdout, err = run_cli(solve_argv(f"{user_file}:{name}", out), capsys)
    assert_refused(code, stdout, err, out, *needles)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["nonlinear=False"], {"nonlinear": False}),  # was the truthy string 'False'
        (["nonlinear=false", "scale=2"], {"nonlinear": False, "scale": 2.0}),
        (["nonlinear=True", "label=7"], {"nonlinear": True, "label": "7"}),
        (["drift=2"], {"drift": 2.0}),  # float | None: the string was passed on as it was
        (["drift=none"], {"drift": None}),
    ],
)
def test_problem_options_take_the_annotated_types(user_file, options, expected):
    """``--problem-option nonlinear=False`` arrived as the string 'False' (truthy): the run
    solved the nonlinear problem. Values now take the constructor's annotated types."""
    from pinnkan.problems import get_problem

    given = dict(cli.key_value(option) for option in options)  # as the command line reads them
    problem = get_problem(f"{user_file}:Options", **given)
    for name, value in expected.items():
        assert getattr(problem, name) == value and type(getattr(problem, name)) is type(value)


@pytest.mark.parametrize(
    ("option", "needles"),
    [
        ("nonlinear=maybe", ["option nonlinear='maybe'", "must be a bool (true or false)"]),
        ("nonlinear=0", ["option nonlinear=0", "must be a bool"]),
        ("scale=fast", ["option scale='fast'", "must be a finite number"]),
        ("dim=2.5", ["option dim=2.5", "must be an integer"]),
        ("drift=abc", ["option drift='abc'", "must be a finite number or none"]),
        ("scale=Infinity", ["option scale=inf", "must be a finite number"]),
    ],
)
def test_problem_options_of_another_type_are_one_line(user_file, tmp_path, capsys, option, needles):
    out = tmp_path / "run.h5"
    argv = ["solve", "--problem", f"{user_file}:Options", *TINY[2:], "--steps", "3"]
    code, stdout, err = run_cli([*argv, "--problem-option", option, "--out", str(out)], capsys)
    assert_refused(code, stdout, err, out, *needles)


@pytest.mark.parametrize(
    ("name", "extra", "needles"),
    [
        ("IndexBug", [], ["'index_bug' raised IndexError", "in operator)", "before training"]),
        (
            "AssertingInit",
            ["--problem-option", "mode=tan"],
            ["could not be built", "AssertionError: tan"],
        ),
        ("FloatOperator", [], ["operator (f = L[u_exact], the forcing) returned float"]),
        ("DetachedOperator", [], ["'detached_operator': operator", "do not depend on u"]),
        ("DetachedOwnForcing", [], ["'detached_own_forcing': operator", "do not depend on u"]),
        (
            "SinglePrecisionForcing",
            ["--dtype", "float64"],
            ["forcing returned torch.float32 values for torch.float64 points"],
        ),
        ("TorchCallBug", [], ["RuntimeError", "user_pdes.py:", "in operator)"]),
        (
            "BrokenBoundary",
            ["--constraint", "soft"],
            ["IndexError", "at 64 points of its boundary (boundary_value"],
        ),
        ("Unnamed", ["--constraint", "soft"], ["problem 'Unnamed'"]),
        # the message alone, without the problem or the place
        ("JsonBug", [], ["'json_bug' raised JSONDecodeError", "user_pdes.py:", "in operator)"]),
        # placed at <frozen importlib._bootstrap>
        ("ImportBug", [], ["'import_bug' raised ModuleNotFoundError", "user_pdes.py:"]),
    ],
)
def test_errors_raised_by_user_code_before_training_are_one_line(
    user_file, tmp_path, capsys, name, extra, needles
):
    """They were tracebacks with exit 1 (an IndexError in the probe, an assert in __init__, a
    float from operator, whose forcing called .detach() on it). A detached operator trained
    nothing (soft: the boundary term alone) or ended in torch's "element 0 of tensors does not
    require grad" traceback; a float32 forcing in a float64 run was accepted; an error inside a
    torch call was placed at torch's line, not the user's; an error in boundary_value said "at
    16 points of its domain"; a class without a name was 'pde'."""
    out = tmp_path / "run.h5"
    code, stdout, err = run_cli(solve_argv(f"{user_file}:{name}", out, *extra), capsys)
    assert_refused(code, stdout, err, out, *needles)


def test_residual_checks_its_values(user_file):
    from pinnkan.problems import get_problem

    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    x = torch.rand(5, 3) / 2
    with pytest.raises(ValueError, match=r"forcing returned shape \(5, 1\)"):
        get_problem(f"{user_file}:ForcingColumn").residual(model, x)
    with pytest.raises(ValueError, match=r"operator .*returned shape \(5, 3\)"):
        get_problem(f"{user_file}:OperatorGradient").residual(model, x)
    assert get_problem(f"{user_file}:Base").residual(model, x).shape == (5,)
    detached = get_problem(f"{user_file}:DetachedOwnForcing")
    with pytest.raises(ValueError, match="do not depend on the network's parameters"):
        detached.residual(model, x)
    with torch.no_grad():  # evaluation: nothing to depend on
        assert detached.residual(model, x).shape == (5,)


def test_a_constant_forcing_may_be_one_number(user_file, tmp_path, capsys):
    """``forcing`` returning 1.0 means f = 1 everywhere: it trains, with the residual of the
    same problem written with a tensor."""
    from pinnkan.problems import get_problem

    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    x = torch.rand(5, 3) / 2
    constant = get_problem(f"{user_file}:ConstantForcing").residual(model, x)
    torch.testing.assert_close(constant, get_problem(f"{user_file}:Forced").residual(model, x))
    out = tmp_path / "run.h5"
    assert cli.main(solve_argv(f"{user_file}:ConstantForcing", out)) == 0
    assert out.is_file()


def test_a_constant_boundary_value_may_be_one_number(user_file, tmp_path, capsys):
    """``boundary_value`` returning 0.5 trains under the soft constraint like the same problem
    written with a tensor (equal histories), is refused under the hard one (g ≠ 0) like it, and
    gives DeepXDE's boundary condition the same values."""
    from pinnkan.interop.deepxde import numpy_function
    from pinnkan.problems import get_problem

    histories = []
    for name in ("ConstantBoundary", "TensorBoundary"):
        out = tmp_path / f"{name}.h5"
        soft = ("--constraint", "soft", "--boundary-points", "8", "--eval-every", "1")
        assert run_cli(solve_argv(f"{user_file}:{name}", out, *soft), capsys)[0] == 0
        histories.append(read_run(out).history["loss_boundary"])
        code, stdout, err = run_cli(solve_argv(f"{user_file}:{name}", tmp_path / "hard.h5"), capsys)
        assert_refused(code, stdout, err, tmp_path / "hard.h5", "boundary values up to 0.5")
    np.testing.assert_array_equal(histories[0], histories[1])
    assert np.all(histories[0] > 0)
    x = np.random.default_rng(0).normal(size=(4, 3))
    g = numpy_function(get_problem(f"{user_file}:ConstantBoundary").boundary_value)(x)
    np.testing.assert_array_equal(g, np.full((4, 1), 0.5))


@pytest.mark.parametrize(
    ("name", "needles"),
    [
        ("NaNForcing", ["'nan_forcing': forcing is not finite"]),
        ("NaNExact", ["'nan_exact': exact_solution() is not finite"]),
        ("NaNOperator", ["'nan_operator': operator", "is not finite"]),
    ],
)
def test_non_finite_problems_are_not_reported_as_divergence(
    user_file, tmp_path, capsys, name, needles
):
    out = tmp_path / "run.h5"
    code, stdout, err = run_cli(solve_argv(f"{user_file}:{name}", out), capsys)
    assert_refused(code, stdout, err, out, *needles)


@pytest.mark.parametrize(
    ("name", "needles"),
    [
        ("NoGeometry", ["no attribute 'geometry'", "self.geometry"]),
        ("NoDim", ["no attribute 'dim'", "self.dim"]),
        ("DimMismatch", ["dim=3", "dimension 4", "must agree"]),
    ],
)
def test_missing_or_inconsistent_attributes(user_file, tmp_path, capsys, name, needles):
    out = tmp_path / "run.h5"
    argv = solve_argv(f"{user_file}:{name}", out)
    argv.remove("--width")
    argv.remove("3,8,1")
    code, stdout, err = run_cli(argv, capsys)
    assert_refused(code, stdout, err, out, *needles)


def test_hard_constraint_needs_a_ball(user_file, tmp_path, capsys):
    out = tmp_path / "run.h5"
    code, stdout, err = run_cli(solve_argv(f"{user_file}:Cube", out), capsys)
    assert_refused(code, stdout, err, out, "constraint='hard'", "Box", "--constraint soft")
    code, _, err = run_cli(solve_argv(f"{user_file}:Cube", out, "--constraint", "soft"), capsys)
    assert code == 0 and out.exists(), err


def test_hard_constraint_accepts_a_ball_of_any_radius(user_file):
    from pinnkan.problems import get_problem

    problem = get_problem(f"{user_file}:BigBall")
    check_problem(problem, TrainConfig(constraint="hard"))


@pytest.mark.parametrize(
    ("extra", "noted"),
    [([], True), (["--grid-range=-2,2"], False), (["--grid-range=-0.5,0.5"], False)],  # theirs
)
def test_a_grid_that_does_not_cover_the_ball_is_noted(user_file, tmp_path, capsys, extra, noted):
    """On the ball of radius 2 the default grid [-1, 1] left half of each coordinate's range
    to the SiLU base (1.1e-2 against 3.0e-3 with --grid-range=-2,2), silently."""
    argv = ["solve", "--problem", f"{user_file}:BigBall", *TINY, "--model", "kan", "--steps", "2"]
    code, _, err = run_cli([*argv, *extra, "--out", str(tmp_path / "run.h5")], capsys)
    assert code == 0, err
    note = "note: the default grid range [-1, 1] does not cover the coordinates of the ball"
    assert (note in err) == noted


def test_the_readme_python_solve_runs(tmp_path, monkeypatch):
    """README, "Your own PDE": the top-level API solves a user file and writes the run file."""
    import pinnkan

    monkeypatch.chdir(Path(__file__).resolve().parent.parent)
    spec = pinnkan.SolveSpec(
        problem="examples/helmholtz.py:Helmholtz",
        problem_options={"dim": 3, "wavenumber": 3.0},
        model="kan",
        width=[3, 4, 1],
        train=pinnkan.TrainConfig(steps=3, test_points=50),
    )
    run = pinnkan.solve_pde(spec, out=str(tmp_path / "helmholtz.h5"))
    assert run.status == "completed" and run.metrics["rel_l2"] > 0
    stored = pinnkan.read_run(tmp_path / "helmholtz.h5")
    assert stored.status == "completed"
    u_hat = pinnkan.restore_solution(stored)  # the user's problem file gives R
    x = torch.from_numpy(stored.test_set["x"]).float()
    with torch.no_grad():
        values = u_hat(x).squeeze(-1).numpy()
    np.testing.assert_allclose(values, stored.test_set["prediction"], rtol=1e-5, atol=1e-6)


def test_solve_run_stores_the_model_config(tmp_path):
    out = tmp_path / "run.h5"
    spec = SolveSpec(
        problem="poisson",
        problem_options={"dim": 3},
        model="kan",
        width=[3, 8, 1],
        train=TrainConfig(steps=3, test_points=100),
        device="cpu",
    )
    run = solve_pde(spec, str(out))
    stored = read_run(str(out))
    assert stored.model_config is not None
    assert stored.model_config == stored.config["model"]  # both as JSON gives them back
    model = restore_model(stored)
    x = torch.rand(7, 3) / 2
    reference = restore_model(run)
    torch.testing.assert_close(model(x), reference(x))


def test_deepxde_engine_takes_a_plain_function_exact_solution(user_file, tmp_path):
    pytest.importorskip("deepxde")
    out = tmp_path / "run.h5"
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    environment.pop("DDE_BACKEND", None)
    child = subprocess.run(
        [sys.executable, "-m", "pinnkan", *solve_argv(f"{user_file}:Hessian", out)]
        + ["--engine", "deepxde"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    assert "AttributeError" not in child.stderr
    assert read_run(str(out)).config.get("engine") == "deepxde"


def test_builtin_problem_still_accepted():
    from pinnkan.problems import get_problem

    check_problem(get_problem("poisson", dim=5), TrainConfig(constraint="hard"), torch.float64)
    assert isinstance(get_problem("poisson", dim=5), PDE)
    assert isinstance(Ball(3), Ball)


class OtherDeviceForcing(PDE):
    """A forcing that combines the points with a tensor on another device; the error text is
    torch's (a CPU-only machine cannot make the mismatch itself)."""

    name = "other_device"

    def __init__(self, dim: int = 3):
        self.dim, self.geometry = dim, Ball(dim)

    def operator(self, fields):
        return fields.laplacian

    def forcing(self, x):
        raise RuntimeError(
            "Expected all tensors to be on the same device, but found at least two devices, "
            "cuda:0 and cpu!\nmore torch text"
        )

    def boundary_value(self, x):
        return torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)


def test_a_problem_mixing_devices_is_one_line_before_training():
    with pytest.raises(ValueError) as caught:
        check_problem(OtherDeviceForcing(), TrainConfig(steps=1), torch.float32, "cpu")
    message = str(caught.value)
    assert (
        "\n" not in message and "'other_device' computes with tensors on another device" in message
    )
    assert "cuda:0 and cpu!" in message and "x.device" in message


def test_the_problem_is_probed_at_points_on_the_run_device(monkeypatch):
    from pinnkan import runner

    seen = []
    real = Ball.sample_interior

    def recording(self, n, *args, **kwargs):
        seen.append(kwargs.get("device"))
        return real(self, n, *args, **kwargs)

    monkeypatch.setattr(Ball, "sample_interior", recording)
    spec = SolveSpec(problem="poisson", problem_options={"dim": 3}, width=[3, 4, 1],
                     train=TrainConfig(steps=1), device="cpu")  # fmt: skip
    runner.prepare(spec)
    assert seen and all(str(device) == "cpu" for device in seen)


@pytest.mark.parametrize(("dtype", "trains"), [("float32", True), ("float64", False)])
def test_a_float32_constant_is_checked_in_the_runs_precision(
    user_file, tmp_path, capsys, dtype, trains
):
    """The boundary check evaluated g in float64 whatever the run: a problem computing with a
    float32 constant was refused from a float32 run (its u = 0 on the sphere to float32's
    round-off, 100·|x|² ≈ 1e-5, is taken for 0 there)."""
    out = tmp_path / "run.h5"
    argv = solve_argv(f"{user_file}:SinglePrecisionSolution", out, "--dtype", dtype)
    code, stdout, err = run_cli(argv, capsys)
    if trains:
        assert code == 0, err
        assert read_run(out, load_model=False).status == "completed"
    else:
        assert_refused(code, stdout, err, out, "must have the same dtype")
