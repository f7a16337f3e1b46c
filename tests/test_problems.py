"""The two-body solution, the built-in ball PDEs, Fields, the registry and user problem files."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import Tensor

import pinnkan.problems as registry
from pinnkan import derivatives
from pinnkan.geometry import Ball
from pinnkan.nn import build_model
from pinnkan.nn.constraint import BallHardConstraint
from pinnkan.problem import (
    PDE,
    BallPDE,
    ExactSolution,
    Fields,
    FunctionSolution,
    NetworkFields,
    SolutionFields,
)
from pinnkan.problems import get_problem, list_problems, register_problem
from pinnkan.problems.allen_cahn import AllenCahn
from pinnkan.problems.poisson import Poisson
from pinnkan.problems.sine_gordon import SineGordon
from pinnkan.problems.two_body import TwoBodySolution

ROOT = Path(__file__).resolve().parents[1]
HELMHOLTZ = ROOT / "examples" / "helmholtz.py"
BALL_PDES = {"poisson": Poisson, "allen_cahn": AllenCahn, "sine_gordon": SineGordon}


def points(dim: int, n: int = 32, seed: int = 0) -> Tensor:
    """Points in and somewhat outside the ball: the closed forms hold on all of ℝ^d."""
    return 0.8 * torch.randn(
        n, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )


def two_body_by_definition(x: Tensor, coefficients: Tensor) -> Tensor:
    """u(x) = (1 − |x|²) Σ_i c_i sin(x_i + cos x_{i+1} + x_{i+1} cos x_i), one point at a time."""
    values = []
    for point in x.tolist():
        total = sum(
            c * math.sin(point[i] + math.cos(point[i + 1]) + point[i + 1] * math.cos(point[i]))
            for i, c in enumerate(coefficients.tolist())
        )
        values.append((1.0 - sum(v * v for v in point)) * total)
    return torch.tensor(values, dtype=torch.float64)


# --- the two-body solution ------------------------------------------------------------------


@pytest.mark.parametrize("dim", [2, 3, 10])
def test_two_body_value_matches_its_definition(dim: int):
    solution = TwoBodySolution(dim, seed=4)
    expected = torch.randn(dim - 1, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    torch.testing.assert_close(solution.coefficients, expected, rtol=0.0, atol=0.0)
    x = points(dim, n=8)
    torch.testing.assert_close(solution.value(x), two_body_by_definition(x, expected))


@pytest.mark.parametrize("dim", [2, 3, 10, 100])
def test_two_body_closed_forms_match_autograd(dim: int):
    solution = TwoBodySolution(dim, seed=1)
    x = points(dim, n=16)
    leaf = x.clone().requires_grad_(True)
    grad_autograd = derivatives.gradient(solution.value(leaf), leaf)
    _, laplacian_autograd = derivatives.laplacian(solution.as_model, x, method="autograd")
    torch.testing.assert_close(solution.gradient(x), grad_autograd.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(
        solution.laplacian(x), laplacian_autograd.detach(), rtol=1e-11, atol=1e-11
    )


def test_two_body_vanishes_on_the_sphere_and_follows_dtype():
    solution = TwoBodySolution(6, seed=0)
    sphere = Ball(6).sample_boundary(
        100, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    assert solution.value(sphere).abs().max() < 1e-14
    single = points(6, n=4).float()
    for field in (solution.value(single), solution.gradient(single), solution.laplacian(single)):
        assert field.dtype == torch.float32


def test_two_body_seeds_differ_and_errors():
    assert not torch.equal(TwoBodySolution(5, 0).coefficients, TwoBodySolution(5, 1).coefficients)
    with pytest.raises(ValueError, match="points of shape \\(4, 3\\)"):
        TwoBodySolution(5).value(torch.zeros(4, 3))
    with pytest.raises(
        ValueError, match="dim=1 is not allowed; the two-body solution needs dim ≥ 2"
    ):
        TwoBodySolution(1)
    largest = TwoBodySolution(3, 2**32 - 1, coefficients="numpy")  # NumPy's largest seed
    assert torch.isfinite(largest.coefficients).all()
    for law in ("torch", "numpy"):  # a larger seed overflowed inside the generators
        with pytest.raises(ValueError, match="seed=4294967296 is not allowed.*at most 4294967295"):
            TwoBodySolution(3, 2**32, coefficients=law)


def test_two_body_numpy_law_draws_the_sdgd_scripts_coefficients():
    """coefficients="numpy" is NumPy's legacy stream: np.random.seed(s); np.random.randn(1, d − 1)."""
    np = pytest.importorskip("numpy")
    np.random.seed(7)
    expected = np.random.randn(1, 9)[0]
    solution = TwoBodySolution(10, seed=7, coefficients="numpy")
    assert solution.coefficients.dtype == torch.float64
    torch.testing.assert_close(solution.coefficients, torch.from_numpy(expected), rtol=0, atol=0)
    assert not torch.equal(solution.coefficients, TwoBodySolution(10, seed=7).coefficients)
    x = points(10, n=16)
    _, laplacian_autograd = derivatives.laplacian(solution.as_model, x, method="autograd")
    torch.testing.assert_close(solution.laplacian(x), laplacian_autograd.detach())
    with pytest.raises(ValueError, match="coefficients='jax' is not known; allowed: torch, numpy"):
        TwoBodySolution(10, coefficients="jax")


def test_coefficient_law_is_recorded_only_when_not_the_default():
    assert "coefficients" not in Poisson(4, seed=1).config()  # old run files group with new ones
    problem = get_problem("sine_gordon", dim=4, seed=1, coefficients="numpy")
    assert problem.config() == {"name": "sine_gordon", "dim": 4, "seed": 1, "coefficients": "numpy"}
    rebuilt = get_problem(**problem.config())
    torch.testing.assert_close(rebuilt.solution.coefficients, problem.solution.coefficients)
    x = points(4)
    assert problem.residual(problem.exact_solution().as_model, x).abs().max() < 1e-10


# --- the built-in ball PDEs -----------------------------------------------------------------


@pytest.mark.parametrize("name", list(BALL_PDES))
@pytest.mark.parametrize("dim", [2, 10])
def test_residual_of_the_exact_solution_vanishes(name: str, dim: int):
    """The forcing is the operator of the closed-form fields (u, Δu), so this checks those
    closed forms against autograd's Laplacian; the operators themselves are checked against
    their formulas in :func:`test_forcings_follow_the_pde_definitions`."""
    problem = get_problem(name, dim=dim, seed=2)
    residual = problem.residual(problem.exact_solution().as_model, points(dim), method="autograd")
    assert residual.shape == (32,)
    assert residual.abs().max() < 1e-10


def constrained_kan(dim: int) -> torch.nn.Module:
    model = build_model("kan", [dim, 5, 4, 1], generator=torch.Generator().manual_seed(dim))
    return BallHardConstraint(model.double())


@pytest.mark.parametrize("method", ["forward", "sdgd", "hutchinson"])
@pytest.mark.parametrize("name", list(BALL_PDES))
def test_residual_of_every_engine_equals_autograd_on_a_kan(name: str, method: str):
    """A network the engines support: the residual through ``method`` equals the same residual
    through autograd (for an estimator: autograd along the same drawn directions, forced by
    wrapping the network in a plain function) to 1e-10 in float64."""
    dim = 6
    problem, network, x = get_problem(name, dim=dim, seed=2), constrained_kan(dim), points(dim)

    def residual(model, method: str) -> Tensor:
        if method == "forward" or method == "autograd":
            return problem.residual(model, x, method=method).detach()
        draw = torch.Generator().manual_seed(5)  # the same directions for every call
        return problem.residual(model, x, method=method, samples=2, generator=draw).detach()

    if method == "forward":
        reference = residual(network, "autograd")
    else:
        with pytest.warns(derivatives.EngineFallbackWarning):
            reference = residual(lambda p: network(p), method)
    engine = residual(network, method)
    assert reference.abs().max() > 1e-3
    torch.testing.assert_close(engine, reference, rtol=0, atol=1e-10)
    if method != "forward":  # two of six directions: an estimate, not the exact residual
        assert (engine - residual(network, "forward")).abs().max() > 1e-6


@pytest.mark.parametrize("name", list(BALL_PDES))
def test_residual_of_a_wrong_solution_does_not_vanish(name: str):
    problem = get_problem(name, dim=4)
    solution = problem.exact_solution()
    residual = problem.residual(lambda x: 1.1 * solution.as_model(x), points(4))
    assert residual.abs().max() > 1e-2


def test_forcings_follow_the_pde_definitions():
    dim, x = 10, points(10, n=64)
    poisson, allen_cahn, sine_gordon = (BALL_PDES[n](dim, seed=3) for n in BALL_PDES)
    u = poisson.exact_value(x)
    laplacian = poisson.exact_solution().laplacian(x)
    torch.testing.assert_close(poisson.forcing(x), laplacian, rtol=0.0, atol=0.0)
    torch.testing.assert_close(allen_cahn.forcing(x) - poisson.forcing(x), u - u**3)
    torch.testing.assert_close(sine_gordon.forcing(x) - poisson.forcing(x), torch.sin(u))
    # the upstream bug (Sine–Gordon with the Allen–Cahn term) would be visible at these points
    assert (torch.sin(u) - (u - u**3)).abs().max() > 1e-2


def test_ball_pdes_share_the_solution_and_record_their_config():
    problem = get_problem("allen-cahn", dim=4, seed=3)
    assert isinstance(problem, AllenCahn) and isinstance(problem.geometry, Ball)
    assert problem.config() == {"name": "allen_cahn", "dim": 4, "seed": 3}
    assert problem.order == 2 and problem.geometry.dim == 4
    rebuilt = get_problem(**problem.config())
    torch.testing.assert_close(rebuilt.exact_solution().coefficients, problem.solution.coefficients)
    x = problem.geometry.sample_boundary(10, dtype=torch.float64)
    assert problem.boundary_value(x).abs().max() < 1e-14


@pytest.mark.parametrize(
    "dim, message", [(1, "dim=1 is not allowed; the two-body"), (2.0, "dim=2.0")]
)
def test_ball_pde_rejects_bad_dim(dim, message: str):
    with pytest.raises(ValueError, match=message):
        Poisson(dim)


def test_residual_rejects_points_of_the_wrong_dimension():
    problem = Poisson(3)
    with pytest.raises(ValueError, match="give \\(batch, 3\\)"):
        problem.residual(problem.exact_solution().as_model, torch.zeros(5, 4, dtype=torch.float64))


def test_residual_reaches_every_parameter():
    generator = torch.Generator().manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    for parameter in network.parameters():
        parameter.data = torch.randn(parameter.shape, generator=generator)
    loss = SineGordon(3).residual(network, Ball(3).sample_interior(16)).pow(2).mean()
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in network.parameters())


# --- Fields -----------------------------------------------------------------------------------


class CountingModel:
    def __init__(self, solution: ExactSolution):
        self.solution, self.calls = solution, 0

    def __call__(self, x: Tensor) -> Tensor:
        self.calls += 1
        return self.solution.as_model(x)


def test_network_fields_are_lazy_and_correct():
    solution = TwoBodySolution(4, seed=0)
    model, x = CountingModel(solution), points(4, n=8)
    fields = NetworkFields(model, x)
    assert model.calls == 0
    torch.testing.assert_close(fields.u.detach(), solution.value(x))
    torch.testing.assert_close(fields.laplacian.detach(), solution.laplacian(x))
    assert model.calls == 1  # u and Δu come from one evaluation
    torch.testing.assert_close(fields.gradient.detach(), solution.gradient(x))
    assert fields.gradient is fields.gradient  # cached: no further evaluation
    assert model.calls == 2 and fields.x is x


def test_solution_fields_from_a_function_match_the_closed_forms():
    solution = TwoBodySolution(5, seed=2)
    x = points(5, n=8)
    closed, by_autograd = SolutionFields(solution, x), SolutionFields(solution.value, x)
    assert isinstance(by_autograd.solution, FunctionSolution)
    for field in ("u", "gradient", "laplacian"):
        torch.testing.assert_close(getattr(by_autograd, field), getattr(closed, field))
    with pytest.raises(ValueError, match="exact solution 3"):
        SolutionFields(3, x)
    with pytest.raises(ValueError, match="points of shape \\(5,\\)"):
        SolutionFields(solution, torch.zeros(5))


def test_hessian_is_symmetric_and_its_trace_is_the_laplacian():
    solution = TwoBodySolution(4, seed=5)
    x = points(4, n=8)
    network, known = NetworkFields(solution.as_model, x), SolutionFields(solution, x)
    torch.testing.assert_close(network.hessian.detach(), known.hessian.detach())
    hessian = known.hessian.detach()
    assert hessian.shape == (8, 4, 4)
    torch.testing.assert_close(hessian, hessian.transpose(1, 2))
    trace = hessian.diagonal(dim1=1, dim2=2).sum(dim=-1)
    torch.testing.assert_close(trace, solution.laplacian(x))
    reference = torch.autograd.functional.hessian(lambda p: solution.value(p[None])[0], x[0])
    torch.testing.assert_close(hessian[0], reference)


class GradientPDE(PDE):
    """A user PDE with a first-order term and no exact solution: Δu + |∇u|² = 1."""

    name = "gradient_pde"

    def __init__(self, dim: int = 2):
        self.dim, self.geometry = dim, Ball(dim)

    def operator(self, fields: Fields) -> Tensor:
        return fields.laplacian + fields.gradient.pow(2).sum(dim=-1)

    def forcing(self, x: Tensor) -> Tensor:
        return torch.ones(len(x), dtype=x.dtype)


def test_user_pde_with_gradient_term_and_own_forcing():
    problem = GradientPDE(3)
    x = points(3, n=8)
    # u = log cosh(a·x) with |a| = 1: Δu = sech²(a·x), |∇u|² = tanh²(a·x), so L[u] = 1
    direction = torch.tensor([0.6, 0.0, 0.8], dtype=torch.float64)
    residual = problem.residual(lambda y: torch.cosh(y @ direction).log().unsqueeze(-1), x)
    assert residual.abs().max() < 1e-12
    wrong = problem.residual(lambda y: torch.cosh(2 * y @ direction).log().unsqueeze(-1), x)
    assert wrong.abs().max() > 1e-2
    assert problem.config() == {"name": "gradient_pde", "dim": 3}
    with pytest.raises(NotImplementedError, match="override boundary_value"):
        problem.boundary_value(x)


class HessianPDE(PDE):
    """Δu (as the trace of ∇²u) + ∂u/∂x_1 with the two-body solution: forcing and residual
    read ``fields.hessian`` and ``fields.gradient`` on both sides."""

    name = "hessian_pde"

    def __init__(self, dim: int = 3):
        self.dim, self.geometry = dim, Ball(dim)
        self.solution = TwoBodySolution(dim, seed=1)  # made here: not an inference tensor

    def operator(self, fields: Fields) -> Tensor:
        return fields.hessian.diagonal(dim1=1, dim2=2).sum(dim=-1) + fields.gradient[:, 0]

    def exact_solution(self) -> TwoBodySolution:
        return self.solution


@pytest.mark.parametrize("mode", ["no_grad", "inference_mode"])
@pytest.mark.parametrize("method", ["forward", "autograd"])
def test_fields_derivatives_under_no_grad_equal_those_with_grad(mode: str, method: str):
    """Validation under ``torch.no_grad()``/``inference_mode()``: gradient and Hessian fields
    are still computed (they need a graph in x) and come back detached, equal to grad mode's."""
    problem, x = HessianPDE(3), points(3, n=8)
    network = constrained_kan(3)
    with_grad = problem.residual(network, x, method=method)
    forcing = problem.forcing(x)
    with getattr(torch, mode)():
        residual = problem.residual(network, x, method=method)
        inside = points(3, n=8)  # an inference tensor under inference_mode
        forcing_inside = problem.forcing(inside)
    assert not residual.requires_grad and with_grad.requires_grad
    torch.testing.assert_close(residual, with_grad.detach(), rtol=0, atol=1e-12)
    torch.testing.assert_close(forcing_inside, forcing, rtol=0, atol=1e-12)
    exact = problem.exact_solution().as_model
    assert problem.residual(exact, x).abs().max() < 1e-10


class TracedLaplacianPDE(HessianPDE):
    """Δu as the Fields docstring suggests for other derivatives: ∂/∂x_i of traced_gradient."""

    def operator(self, fields: Fields) -> Tensor:
        leaf = fields.traced[0]
        return sum(derivatives.gradient(fields.traced_gradient[:, i], leaf)[:, i] for i in range(3))


@pytest.mark.parametrize("mode", ["no_grad", "inference_mode"])
def test_an_operator_differentiating_its_fields_works_under_no_grad(mode: str):
    """Under no_grad a read field came back detached, so the operator's own derivatives of it
    were 0: forcing and residual 0, a perfect-looking solution."""
    problem, x = TracedLaplacianPDE(3), points(3, n=8)
    network = constrained_kan(3)
    residual, forcing = problem.residual(network, x), problem.forcing(x)
    assert forcing.abs().min() > 0
    with getattr(torch, mode)():
        inside = points(3, n=8)
        torch.testing.assert_close(problem.forcing(inside), forcing, rtol=0, atol=1e-12)
        quiet = problem.residual(network, inside)
    assert not quiet.requires_grad
    torch.testing.assert_close(quiet, residual.detach(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("mode", ["no_grad", "inference_mode"])
def test_grad_and_hessian_diagonal_work_under_no_grad(mode: str):
    """pinnkan.grad of a u made with grad on gave zeros when called under no_grad."""
    x = torch.rand(3, 2, dtype=torch.float64, requires_grad=True)
    u = (x**2).sum(-1) * x[:, 0]
    expected = derivatives.gradient(u, x).detach()
    with getattr(torch, mode)():
        torch.testing.assert_close(derivatives.gradient(u, x).detach(), expected)
        diagonal = derivatives.hessian_diagonal(u, x)
    torch.testing.assert_close(
        diagonal.detach(), torch.stack([6 * x[:, 0], 2 * x[:, 0]], 1).detach()
    )


# --- the registry ------------------------------------------------------------------------------


def test_list_problems_has_the_builtins_with_descriptions():
    listed = list_problems()
    for name in BALL_PDES:
        assert name in listed and listed[name]
    assert "Δu + sin u" in listed["sine_gordon"] and "u − u³" in listed["allen_cahn"]


@pytest.mark.parametrize(
    "name, cls",
    [
        ("poisson", Poisson),
        ("allen-cahn", AllenCahn),
        ("sine-gordon", SineGordon),
        ("sine_gordon", SineGordon),
    ],
)
def test_get_problem_by_name_and_alias(name: str, cls: type):
    problem = get_problem(name, dim=3, seed=1)
    assert type(problem) is cls and problem.dim == 3 and problem.seed == 1


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("heat", {"dim": 3}, "problem 'heat' is not known; allowed: "),
        (
            "poisson",
            {"dim": 3, "grid": 5},
            "option 'grid' is not an option of problem 'poisson'; allowed: dim, seed",
        ),
        ("poisson", {}, "problem 'poisson' needs option 'dim'"),
        (  # said "option 'dim' is not an option …; allowed: variant"
            "feynman:I.12.5",
            {"dim": 3},
            "problem 'feynman:I.12.5' has a fixed dimension: leave out --dim",
        ),
        ("poisson:big", {"dim": 3}, "problem 'poisson' has no variants"),
        ("heat:big", {}, "problem 'heat:big' is not known"),
        ("poisson", {"dim": 1}, "dim=1 is not allowed; the two-body solution needs dim ≥ 2"),
        ("", {}, "problem name '' is not allowed"),
        ("my_pde.py", {}, "names a file but no class; write my_pde.py:ClassName"),
        ("missing_file.py:Heat", {}, "problem file 'missing_file.py' does not exist"),
    ],
)
def test_registry_errors(name: str, options: dict, message: str):
    with pytest.raises(ValueError) as error:
        get_problem(name, **options)
    assert message in str(error.value) and "\n" not in str(error.value)
    if "is not known" in message:
        assert all(builtin in str(error.value) for builtin in BALL_PDES)


def test_register_problem_rejects_duplicates_and_variants_reach_the_factory(monkeypatch):
    monkeypatch.setattr(registry, "PROBLEMS", dict(registry.PROBLEMS))
    with pytest.raises(ValueError, match="problem 'poisson' is already registered"):
        register_problem("poisson", Poisson)
    with pytest.raises(ValueError, match="problem name 'a:b' is not allowed"):
        register_problem("a:b", Poisson)

    def toy(variant: str, scale: float = 1.0) -> tuple[str, float]:
        return variant, scale

    register_problem("toy", toy, "a toy factory")
    assert get_problem("toy:I.12.5", scale=2.0) == ("I.12.5", 2.0)
    assert list_problems()["toy"] == "a toy factory"
    with pytest.raises(ValueError, match="already names a variant"):
        get_problem("toy:a", variant="b")
    with pytest.raises(ValueError, match="needs option 'variant'"):
        get_problem("toy")


def test_constructor_type_error_becomes_a_value_error(monkeypatch):
    monkeypatch.setattr(registry, "PROBLEMS", dict(registry.PROBLEMS))

    def fussy(size: int = 1) -> int:
        return len(size)

    register_problem("fussy", fussy)
    with pytest.raises(ValueError, match="bad options for problem 'fussy': object of type 'int'"):
        get_problem("fussy", size=3)


# --- user problem files -------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> str:
    file = tmp_path / "user_problem.py"
    file.write_text(text)
    return str(file)


USER_FILE = """
import torch
from pinnkan.geometry import Ball
from pinnkan.problem import PDE


class Laplace(PDE):
    name = "laplace"

    def __init__(self, dim: int = 2):
        self.dim, self.geometry = dim, Ball(dim)

    def operator(self, fields):
        return fields.laplacian

    def exact_solution(self):
        return lambda x: x[:, 0] * x[:, 1]


class Unfinished(PDE):
    name = "unfinished"


class NotAProblem:
    pass
"""


def test_user_file_loads_and_its_errors(tmp_path: Path):
    path = write(tmp_path, USER_FILE)
    problem = get_problem(f"{path}:Laplace", dim=3)
    assert problem.dim == 3 and problem.exact_value(torch.ones(2, 3)).tolist() == [1.0, 1.0]
    cases = {
        f"{path}:Heat": "has no class 'Heat'; problem classes: Laplace, Unfinished",
        f"{path}:NotAProblem": "'NotAProblem' in",
        f"{path}:Unfinished": "is abstract; implement operator",
        f"{path}:torch": "is not a subclass of pinnkan.problem.PDE",
        f"{path}:Laplace-x": "class name 'Laplace-x' is not allowed",
    }
    for name, message in cases.items():
        with pytest.raises(ValueError) as error:
            get_problem(name)
        assert message in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(ValueError, match="option 'radius' is not an option of problem"):
        get_problem(f"{path}:Laplace", radius=2.0)


@pytest.mark.parametrize(
    "text, message",
    [
        ("def broken(:\n", "failed to import: SyntaxError"),
        ("raise RuntimeError('boom\\nsecond line')\n", "failed to import: RuntimeError: boom"),
        ("import no_such_module_here\n", "failed to import: ModuleNotFoundError"),
    ],
)
def test_user_file_that_fails_to_import(tmp_path: Path, text: str, message: str):
    path = write(tmp_path, text)
    with pytest.raises(ValueError) as error:
        get_problem(f"{path}:Anything")
    assert message in str(error.value) and "\n" not in str(error.value)


# --- the Helmholtz example ------------------------------------------------------------------------


def test_helmholtz_example_loads_by_relative_and_absolute_path(monkeypatch):
    monkeypatch.chdir(ROOT)
    relative = get_problem("examples/helmholtz.py:Helmholtz", dim=5)
    absolute = get_problem(f"{HELMHOLTZ}:Helmholtz", dim=5, wavenumber=3.0)
    assert isinstance(relative, PDE) and relative.dim == 5
    assert relative.config() == {"name": "helmholtz", "dim": 5, "wavenumber": 2.0}
    assert absolute.config()["wavenumber"] == 3.0
    with pytest.raises(ValueError, match="dim=0"):
        get_problem("examples/helmholtz.py:Helmholtz", dim=0)


@pytest.mark.parametrize("dim", [1, 5])
def test_helmholtz_forcing_matches_the_hand_derivation_and_exact_residual_vanishes(dim: int):
    problem = get_problem(f"{HELMHOLTZ}:Helmholtz", dim=dim, wavenumber=3.0)
    x = problem.geometry.sample_interior(
        64, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    projection = x.sum(dim=1) / math.sqrt(dim)
    phase = 3.0 * projection
    by_hand = -2 * dim * torch.sin(phase) - 4 * 3.0 * projection * torch.cos(phase)
    torch.testing.assert_close(problem.forcing(x), by_hand)
    residual = problem.residual(problem.exact_solution().as_model, x)
    assert residual.abs().max() < 1e-10
    sphere = problem.geometry.sample_boundary(8, dtype=torch.float64)
    assert problem.boundary_value(sphere).abs().max() < 1e-14


def test_ball_pde_is_abstract():
    with pytest.raises(TypeError):
        BallPDE(3)
