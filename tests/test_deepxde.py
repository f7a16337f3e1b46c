"""Tests of pinnkan.interop.deepxde (adapters) and pinnkan.interop.deepxde_solve (the engine).

DeepXDE keeps process-wide state (its backend, default float, torch's default device and dtype,
L-BFGS options), so nothing here imports it into the pytest process: every check that needs
DeepXDE runs once in a child Python (``python tests/test_deepxde.py deepxde OUT.json``, single
threaded), which writes what it measured; the tests assert on those numbers.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from pinnkan.geometry import Ball
from pinnkan.interop import deepxde as interop
from pinnkan.interop import deepxde_solve
from pinnkan.optim import schedule_factor
from pinnkan.problem import BallPDE, ExactSolution, Fields
from pinnkan.problems import get_problem
from pinnkan.runner import SolveSpec, prepare
from pinnkan.train import PDETrainer, TrainConfig

# --- problems used by the checks ---------------------------------------------------------------


class Paraboloid(ExactSolution):
    """u(x) = 1 + x_1 + |x|²: nonzero on the unit sphere (g = 2 + x_1)."""

    def value(self, x: torch.Tensor) -> torch.Tensor:
        return 1.0 + x[:, 0] + x.pow(2).sum(dim=-1)


class GradientPDE(BallPDE):
    """Δu + |∇u|² + u = f: an operator that reads the gradient as well as u and Δu."""

    name = "gradient_pde"

    def operator(self, fields: Fields) -> torch.Tensor:
        return fields.laplacian + fields.gradient.pow(2).sum(dim=-1) + fields.u


class NonzeroBoundaryPoisson(BallPDE):
    """Δu = f with u_exact = 1 + x_1 + |x|², so the boundary values g are not zero."""

    name = "nonzero_boundary_poisson"

    def operator(self, fields: Fields) -> torch.Tensor:
        return fields.laplacian

    def exact_solution(self) -> ExactSolution:
        return Paraboloid()


def spec(dim: int = 3, dtype: str = "float32", model: str = "mlp", **train: object) -> SolveSpec:
    options = {"steps": 20, "test_points": 500, "eval_every": 10, "laplacian": "autograd"}
    options.update(train)
    return SolveSpec(
        problem="poisson",
        problem_options={"dim": dim},
        model=model,
        width=[dim, 16, 16, 1],
        train=TrainConfig(**options),
        device="cpu",
        dtype=dtype,
    )


# --- checks run in the child process (DeepXDE imported) ----------------------------------------


def measure_network(dde) -> dict:
    """Wrapped outputs against the backbone, with and without transforms."""
    from pinnkan.nn import build_model
    from pinnkan.nn.constraint import BallHardConstraint

    generator = torch.Generator().manual_seed(0)
    x = torch.rand(64, 3, generator=generator) * 2 - 1
    sphere = torch.nn.functional.normalize(torch.randn(32, 3, generator=generator), dim=1)
    result = {}
    for name in ("mlp", "kan", "metakan"):
        model = build_model(name, [3, 8, 1], generator=generator)
        net = interop.as_deepxde_net(model)
        plain = (net(x) - model(x)).abs().max().item()
        net.apply_feature_transform(lambda points: 2 * points)
        feature = (net(x) - model(2 * x)).abs().max().item()
        net.apply_feature_transform(None)
        net.apply_output_transform(interop.ball_hard_constraint(Ball(3)))
        hard = (net(x) - BallHardConstraint(model)(x)).abs().max().item()
        result[name] = {
            "is_deepxde_nn": isinstance(net, dde.nn.pytorch.NN),
            "same_parameters": list(net.parameters()) == list(model.parameters()),
            "plain": plain,
            "feature": feature,
            "hard": hard,
            "hard_on_sphere": net(sphere).abs().max().item(),
            "plain_scale": model(x).abs().max().item(),
        }
    return result


def measure_residuals(dde) -> dict:
    """DeepXDE's pde(x, y) in float64: of the exact solution (≈ 0), and of a network against
    pinnkan's own residual (same operator, same u, ∇u, Δu)."""
    from pinnkan.nn import build_model

    result = {}
    with deepxde_solve.deepxde_session(dde, torch.float64, torch.device("cpu")):
        cases = [get_problem(name, dim=4) for name in ("poisson", "allen_cahn", "sine_gordon")]
        cases.append(GradientPDE(dim=4))
        for problem in cases:
            data = interop.to_deepxde_data(problem, num_domain=8)
            x = problem.geometry.sample_interior(
                64, generator=torch.Generator().manual_seed(1), dtype=torch.float64
            ).requires_grad_(True)
            exact = data.pde(x, problem.exact_solution().value(x).unsqueeze(-1)).squeeze(-1)
            dde.grad.clear()
            model = build_model("kan", [4, 5, 1], generator=torch.Generator().manual_seed(2))
            model = model.double()
            network = data.pde(x, model(x)).squeeze(-1)
            dde.grad.clear()
            reference = problem.residual(model, x.detach(), method="autograd")
            result[problem.name] = {
                "exact": exact.abs().max().item(),
                "forcing_scale": problem.forcing(x.detach()).abs().max().item(),
                "network_vs_pinnkan": (network - reference).abs().max().item(),
                "network_scale": reference.abs().max().item(),
            }
    result["float_after"] = dde.config.default_float()
    result["dtype_after"] = str(torch.get_default_dtype())
    return result


def measure_data(dde) -> dict:
    """Points and boundary condition of to_deepxde_data, before and after resampling."""
    from pinnkan.nn import build_model

    problem = NonzeroBoundaryPoisson(dim=3)
    law_points = problem.geometry.sample_interior(
        40, law="radial", generator=torch.Generator().manual_seed(5)
    )
    data = interop.to_deepxde_data(
        problem, 40, num_boundary=30, law="radial", generator=torch.Generator().manual_seed(5)
    )
    net = interop.as_deepxde_net(build_model("mlp", [3, 8, 1]))
    result = {
        "first_points_match_law": bool((torch.as_tensor(data.train_x_all) == law_points).all())
    }
    for round_ in range(3):
        x = torch.as_tensor(data.train_x).requires_grad_(True)
        outputs = net(x)
        error = data.bcs[0].error(data.train_x, x, outputs, 0, data.num_bcs[0]).squeeze(-1)
        boundary = x[: data.num_bcs[0]].detach()
        expected = outputs[: data.num_bcs[0], 0] - (2.0 + boundary[:, 0])
        result[f"round{round_}"] = {
            "num_bcs": data.num_bcs,
            "num_x": len(data.train_x),
            "radius_error": (boundary.norm(dim=1) - 1).abs().max().item(),
            "bc_error_vs_expected": (error - expected).abs().max().item(),
        }
        data.resample_train_points(pde_points=True, bc_points=True)
    default = interop.to_deepxde_data(problem, 40, num_boundary=30)  # DeepXDE's own sampler
    result["default_law"] = {
        "num_bcs": default.num_bcs,
        "max_interior_radius": float(np.linalg.norm(default.train_x_all, axis=1).max()),
        "boundary_radius_error": float(abs(np.linalg.norm(default.train_x_bc, axis=1) - 1).max()),
    }
    return result


def measure_solve(out: Path) -> dict:
    """A short DeepXDE solve of Poisson d=3 (MLP, hard constraint), read back from its file."""
    from pinnkan.nn.constraint import BallHardConstraint
    from pinnkan.results import read_run, restore_model
    from pinnkan.train import predict, relative_errors

    solve = spec(steps=300, lr=1e-2, eval_every=100, test_points=2000)
    problem, model, _, _ = prepare(solve)
    x_test, u_test = deepxde_solve.make_test_set(problem, solve.train, "cpu", torch.float32)
    untrained = relative_errors(predict(BallHardConstraint(model), x_test), u_test)["rel_l2"]
    path = out / "solve.h5"
    deepxde_solve.solve_with_deepxde(solve, str(path))
    run = read_run(path)
    restored = BallHardConstraint(restore_model(run))
    replay = predict(restored, torch.as_tensor(run.test_set["x"]))
    return {
        "untrained_rel_l2": untrained,
        "rel_l2": run.metrics["rel_l2"],
        "status": run.status,
        "engine": run.config["engine"],
        "history": {name: column.tolist() for name, column in run.history.items()},
        "test_x_matches": bool((torch.as_tensor(run.test_set["x"]) == x_test).all()),
        "replay_error": float((replay - torch.as_tensor(run.test_set["prediction"])).abs().max()),
        "dtype_after": str(torch.get_default_dtype()),
    }


def measure_parity(dde, out: Path) -> dict:
    """The same run through DeepXDE and through pinnkan's trainer (float64, same seed, same
    points): final errors must agree."""
    from pinnkan.runner import solve_pde

    result = {}
    for constraint in ("hard", "soft"):
        solve = spec(dtype="float64", constraint=constraint, boundary_points=30, lr=1e-2)
        deepxde_run = deepxde_solve.solve_with_deepxde(solve, str(out / f"dde_{constraint}.h5"))
        pinnkan_run = solve_pde(solve, str(out / f"pk_{constraint}.h5"))
        result[constraint] = {
            "deepxde": deepxde_run.metrics["rel_l2"],
            "pinnkan": pinnkan_run.metrics["rel_l2"],
            "step10": pinnkan_run.history["rel_l2"][list(pinnkan_run.history["step"]).index(10)],
        }
    schedule = spec(steps=4, eval_every=1, schedule="exponential", lr=1e-2)
    result["lr"] = {
        engine: {
            name: np.asarray(run.history[name]).tolist()
            for name in ("step", "lr", "rel_l2")
            if name in run.history
        }
        for engine, run in (
            ("deepxde", deepxde_solve.solve_with_deepxde(schedule, str(out / "dde_lr.h5"))),
            ("pinnkan", solve_pde(schedule, str(out / "pk_lr.h5"))),
        )
    }
    lbfgs = spec(optimizer="lbfgs", steps=4, lbfgs_max_iter=5, eval_every=1)
    run = deepxde_solve.solve_with_deepxde(lbfgs, str(out / "lbfgs.h5"))
    result["lbfgs"] = {"loss": list(run.history["loss"]), "steps": run.metrics["steps"]}
    result["lbfgs_options_restored"] = dict(dde.optimizers.LBFGS_options)
    return result


def child_main(out: Path) -> None:
    torch.set_num_threads(1)
    dde = interop.import_deepxde()
    result = {
        "network": measure_network(dde),
        "residuals": measure_residuals(dde),
        "data": measure_data(dde),
        "solve": measure_solve(out),
        "parity": measure_parity(dde, out),
    }
    (out / "result.json").write_text(json.dumps(result))


def child_imports() -> None:
    """Importing pinnkan (and this interop module) leaves DeepXDE unimported; a foreign
    backend is refused before DeepXDE is imported."""
    import pinnkan  # noqa: F401
    import pinnkan.cli  # noqa: F401
    import pinnkan.interop.deepxde as module
    import pinnkan.interop.deepxde_solve  # noqa: F401

    assert "deepxde" not in sys.modules, "importing pinnkan imported deepxde"
    os.environ["DDE_BACKEND"] = "jax"
    with pytest.raises(ValueError, match="backend 'jax' is not supported"):
        module.import_deepxde()
    assert "deepxde" not in sys.modules
    os.environ["DDE_BACKEND"] = "pytorch"
    sys.modules["deepxde"] = SimpleNamespace(backend=SimpleNamespace(backend_name="tensorflow"))
    with pytest.raises(ValueError, match="backend 'tensorflow' is not supported"):
        module.import_deepxde()


# --- tests ---------------------------------------------------------------------------------------


def run_child(*arguments: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    environment.pop("DDE_BACKEND", None)
    return subprocess.run(
        [sys.executable, __file__, *arguments],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("deepxde")
    child = run_child("deepxde", str(out))
    assert child.returncode == 0, child.stderr[-3000:]
    return json.loads((out / "result.json").read_text())


def test_importing_pinnkan_does_not_import_deepxde() -> None:
    child = run_child("imports")
    assert child.returncode == 0, child.stderr[-3000:]


@pytest.mark.parametrize("name", ["mlp", "kan", "metakan"])
def test_wrapped_network_equals_the_model(measured: dict, name: str) -> None:
    network = measured["network"][name]
    assert network["is_deepxde_nn"] and network["same_parameters"]
    assert network["plain_scale"] > 1e-3
    assert network["plain"] == 0.0
    assert network["feature"] == 0.0


@pytest.mark.parametrize("name", ["mlp", "kan", "metakan"])
def test_output_transform_gives_the_hard_constraint(measured: dict, name: str) -> None:
    network = measured["network"][name]
    assert network["hard"] <= 1e-7
    assert network["hard_on_sphere"] <= 1e-6


@pytest.mark.parametrize("name", ["poisson", "allen_cahn", "sine_gordon", "gradient_pde"])
def test_deepxde_residual_of_exact_solution_vanishes(measured: dict, name: str) -> None:
    residual = measured["residuals"][name]
    assert residual["forcing_scale"] > 0.1
    assert residual["exact"] <= 1e-11 * residual["forcing_scale"]


@pytest.mark.parametrize("name", ["poisson", "allen_cahn", "sine_gordon", "gradient_pde"])
def test_deepxde_residual_of_a_network_equals_pinnkans(measured: dict, name: str) -> None:
    residual = measured["residuals"][name]
    assert residual["network_scale"] > 0.1
    assert residual["network_vs_pinnkan"] <= 1e-11 * residual["network_scale"]


def test_deepxde_session_restores_the_default_float(measured: dict) -> None:
    assert measured["residuals"]["float_after"] == "float32"
    assert measured["residuals"]["dtype_after"] == "torch.float32"
    assert measured["solve"]["dtype_after"] == "torch.float32"


def test_data_uses_the_law_and_fresh_boundary_values(measured: dict) -> None:
    data = measured["data"]
    assert data["first_points_match_law"]
    for round_ in ("round0", "round1", "round2"):
        assert data[round_]["num_bcs"] == [30]
        assert data[round_]["num_x"] == 70
        assert data[round_]["radius_error"] <= 1e-6
        assert data[round_]["bc_error_vs_expected"] <= 1e-6
    default = data["default_law"]
    assert default["num_bcs"] == [30]
    assert default["max_interior_radius"] < 1.0
    assert default["boundary_radius_error"] <= 1e-6


def test_short_deepxde_solve_reduces_the_error_and_writes_a_run(measured: dict) -> None:
    solve = measured["solve"]
    assert solve["status"] == "completed" and solve["engine"] == "deepxde"
    assert solve["rel_l2"] < 0.5 * solve["untrained_rel_l2"]
    history = solve["history"]
    assert history["step"] == [100, 200, 300]
    assert history["rel_l2"][-1] == pytest.approx(solve["rel_l2"])
    assert all(math.isfinite(value) for value in history["loss"])
    assert history["wall_time_s"] == sorted(history["wall_time_s"])
    assert solve["test_x_matches"]
    assert solve["replay_error"] <= 1e-6


@pytest.mark.parametrize("constraint", ["hard", "soft"])
def test_deepxde_engine_matches_pinnkans_trainer(measured: dict, constraint: str) -> None:
    parity = measured["parity"][constraint]
    assert abs(parity["pinnkan"] - parity["step10"]) > 1e-3 * parity["step10"]  # it trained
    assert parity["deepxde"] == pytest.approx(parity["pinnkan"], rel=1e-9)


def test_deepxde_history_logs_the_rate_each_step_ran_at(measured: dict) -> None:
    """Exponential schedule: both engines log lr·ρ(step − 1) (DeepXDE's column was the next
    step's rate, its last row 0 under the linear schedule)."""
    deepxde, pinnkan = measured["parity"]["lr"]["deepxde"], measured["parity"]["lr"]["pinnkan"]
    assert deepxde["step"] == pinnkan["step"] == [1, 2, 3, 4]
    factor = schedule_factor("exponential", 4, 0.01)
    expected = [1e-2 * factor(step - 1) for step in (1, 2, 3, 4)]
    assert deepxde["lr"] == pytest.approx(expected, rel=1e-12)
    assert pinnkan["lr"] == pytest.approx(expected, rel=1e-12)


def test_lbfgs_through_deepxde_lowers_the_loss(measured: dict) -> None:
    lbfgs = measured["parity"]["lbfgs"]
    assert lbfgs["steps"] == 4
    assert lbfgs["loss"][-1] < lbfgs["loss"][0]
    assert measured["parity"]["lbfgs_options_restored"]["iter_per_step"] == 1000


# --- checks that need no DeepXDE (run in the pytest process) ------------------------------------


def test_test_set_is_the_trainers() -> None:
    solve = spec(test_points=300, law="volume")
    problem, model, device, dtype = prepare(solve)
    trainer = PDETrainer(problem, model, solve.train, device, dtype)
    x, exact = deepxde_solve.make_test_set(problem, solve.train, device, dtype)
    assert torch.equal(x, trainer.x_test) and torch.equal(exact, trainer.u_test)


def test_bad_input_is_refused_before_deepxde_is_touched(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="prompt_lr=0.01 .* give --prompt-lr 0.001, the --lr"):
        deepxde_solve.solve_with_deepxde(
            spec(model="metakan", lr=1e-3, prompt_lr=0.01), str(tmp_path / "run.h5")
        )
    with pytest.raises(ValueError, match=r"lr=0.5 .* with L-BFGS .*give --lr 1, or --engine"):
        deepxde_solve.solve_with_deepxde(spec(optimizer="lbfgs", lr=0.5), str(tmp_path / "run.h5"))
    for estimator in ("sdgd", "hutchinson"):
        with pytest.raises(ValueError, match=f"laplacian='{estimator}' is not available"):
            deepxde_solve.solve_with_deepxde(spec(laplacian=estimator), str(tmp_path / "run.h5"))
    with pytest.raises(ValueError, match="problem='poisson' is not allowed; give a pinnkan.PDE"):
        interop.to_deepxde_data("poisson", 10)  # was an AttributeError of str
    problem = get_problem("poisson", dim=3)
    with pytest.raises(ValueError, match="num_domain=0 is not allowed"):
        interop.to_deepxde_data(problem, 0)
    with pytest.raises(ValueError, match="num_boundary=-1 is not allowed"):
        interop.to_deepxde_data(problem, 10, num_boundary=-1)
    assert not (tmp_path / "run.h5").exists()


def test_lbfgs_on_deepxde_takes_its_default_rate_and_any_prompt_rate() -> None:
    """DeepXDE's L-BFGS has lr = 1 fixed: it ignored --lr silently; prompt rates are Adam's."""
    config = TrainConfig(optimizer="lbfgs", prompt_lr=0.03)
    assert config.lr == 1.0  # L-BFGS's own default, as torch's
    deepxde_solve.check_engine_options(config, "metakan")  # no error
    with pytest.raises(ValueError, match="lr=0.001 .* not supported by the deepxde engine"):
        deepxde_solve.check_engine_options(TrainConfig(optimizer="lbfgs", lr=1e-3), "mlp")


def test_numpy_function_makes_new_tensors_on_the_cpu() -> None:
    """DeepXDE may run with a GPU as torch's default device; a user function that makes a
    constant without ``device=`` must still meet its CPU points."""

    def shifted(x: torch.Tensor) -> torch.Tensor:
        return x.sum(dim=-1) + torch.ones(x.shape[0], dtype=x.dtype)

    with torch.device("meta"):  # a default device other than the CPU, as CUDA would be
        values = interop.numpy_function(shifted)(np.ones((4, 2), dtype=np.float32))
    assert values.shape == (4, 1) and values.dtype == np.float32
    np.testing.assert_array_equal(values[:, 0], 3.0)


if __name__ == "__main__":
    if sys.argv[1] == "imports":
        child_imports()
    else:
        child_main(Path(sys.argv[2]))
