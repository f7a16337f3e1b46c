"""The CUDA path against the CPU: engines, estimators, MetaKAN generation, solve/resume, fit, bench.

Each test runs on the CPU (which keeps the tests themselves checked on machines without a GPU)
and, where there is one, on CUDA (skipped otherwise); ``benchmarks/device_checks.sh`` runs this
file on a GPU machine.

Every result on the device is compared with the same computation on the CPU in float64: values to
1e-10, gradients to relative 1e-8 (different reduction orders on the GPU), CLI runs to the
accuracy of float32 training over a few steps.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from pinnkan import cli
from pinnkan.derivatives import laplacian
from pinnkan.device import resolve_device
from pinnkan.geometry import Ball
from pinnkan.nn.build import MODELS, build_model
from pinnkan.nn.constraint import BallHardConstraint
from pinnkan.nn.scalar_relu import torch_reference
from pinnkan.results import read_run

NO_GPU = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=NO_GPU)])
def device(request) -> str:
    """The device under test."""
    return request.param


DIM = 5
WIDTH = [DIM, 4, 3, 1]


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def model_pair(name: str, device: str, **options) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The same float64 hard-constrained model on the CPU and on ``device``."""
    cpu = BallHardConstraint(build_model(name, WIDTH, generator=generator(1), **options)).double()
    on_device = BallHardConstraint(build_model(name, WIDTH, generator=generator(1), **options))
    return cpu, on_device.double().to(device)


def points() -> torch.Tensor:
    return Ball(DIM).sample_interior(16, generator=generator(2), dtype=torch.float64)


def residual_gradients(model: torch.nn.Module, x: torch.Tensor, method: str, **kw) -> list:
    """``(u, Δu, ∇_θ mean((Δu − 1)²))`` on the model's device, brought to the CPU."""
    model.zero_grad(set_to_none=True)
    u, lap = laplacian(model, x, method, **kw)
    (lap - 1).pow(2).mean().backward()
    grads = [p.grad.cpu() for p in model.parameters()]
    assert u.device == x.device and lap.device == x.device
    return [u.detach().cpu(), lap.detach().cpu(), *grads]


def assert_all_close(device_values: list, cpu_values: list) -> None:
    (u, lap, *grads), (u0, lap0, *grads0) = device_values, cpu_values
    torch.testing.assert_close(u, u0, rtol=0, atol=1e-10)
    torch.testing.assert_close(lap, lap0, rtol=1e-10, atol=1e-10)
    for grad, grad0 in zip(grads, grads0, strict=True):
        torch.testing.assert_close(grad, grad0, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("name", list(MODELS))
def test_forward_engine_on_the_device_equals_cpu_autograd(name: str, device: str) -> None:
    """Δu and the parameter gradients of a residual loss: "forward" on the device against the
    reference (one double backward per coordinate) on the CPU."""
    cpu, on_device = model_pair(name, device)
    x = points()
    expected = residual_gradients(cpu, x, "autograd")
    assert_all_close(residual_gradients(on_device, x.to(device), "forward"), expected)


@pytest.mark.parametrize("method", ["sdgd", "hutchinson"])
def test_estimators_draw_the_same_on_the_device(method: str, device: str) -> None:
    """A CPU generator seeds the estimators' draws wherever the points are: equal estimates."""
    cpu, on_device = model_pair("kan", device)
    x = points()
    expected = residual_gradients(cpu, x, method, samples=3, generator=generator(7))
    drawn = residual_gradients(on_device, x.to(device), method, samples=3, generator=generator(7))
    assert_all_close(drawn, expected)


@pytest.mark.parametrize("options", [{}, {"node_mean": True, "clusters": 2}])
def test_metakan_generation_on_the_device_equals_the_cpu_kernels(
    options: dict, device: str
) -> None:
    """On the device the torch reference generates the coefficients; on the CPU the compiled
    kernels (where numba is installed): same coefficients and prompt/meta-learner gradients."""
    cpu, on_device = model_pair("metakan", device, meta_hidden=16, **options)
    with torch.no_grad():  # non-zero node means, so that the centring matters
        for model in (cpu, on_device):
            for mean in model.net.coefficients.node_means or []:
                mean.copy_(torch.linspace(-1, 1, mean.numel()).view_as(mean))

    def generated(model: torch.nn.Module) -> list[torch.Tensor]:
        model.zero_grad(set_to_none=True)
        blocks = model.net.coefficients()
        weights = [torch.linspace(0, 1, b.numel(), dtype=b.dtype).to(b.device) for b in blocks]
        sum((b.reshape(-1) * w).sum() for b, w in zip(blocks, weights, strict=True)).backward()
        grads = [p.grad.cpu() for p in model.net.coefficients.parameters()]
        return [b.detach().cpu() for b in blocks] + grads

    expected = generated(cpu)
    with torch_reference():
        reference = generated(cpu)
    for result in (generated(on_device), reference):
        for value, value0 in zip(result, expected, strict=True):
            torch.testing.assert_close(value, value0, rtol=1e-9, atol=1e-12)


@NO_GPU
def test_auto_picks_the_gpu() -> None:
    assert resolve_device("auto").type == "cuda"


# --- the command line on the device -----------------------------------------------------------

TINY = ["--dim", "3", "--width", "3,8,1", "--test-points", "200", "--quiet"]


def solve(out: Path, model: str, device: str, *extra: str) -> None:
    argv = ["solve", "--problem", "poisson", "--model", model, *TINY, "--device", device]
    argv += ["--out", str(out), *extra]
    assert cli.main([*argv, "--lr", "1e-2", "--schedule", "constant", "--eval-every", "5"]) == 0


@pytest.mark.parametrize("model", ["kan", "metakan", "mlp"])
def test_solve_and_resume_on_the_device(tmp_path: Path, model: str, device: str) -> None:
    """10 steps on the device; 5 steps then ``resume --steps 10`` on the device: the same run
    (to float32 round-off: GPU reductions need not be bitwise reproducible)."""
    solve(tmp_path / "straight.h5", model, device, "--steps", "10")
    solve(tmp_path / "split.h5", model, device, "--steps", "5")
    assert cli.main(["resume", str(tmp_path / "split.h5"), "--steps", "10", "--quiet"]) == 0
    straight, split = read_run(tmp_path / "straight.h5"), read_run(tmp_path / "split.h5")
    for run in (straight, split):
        assert run.status == "completed" and run.config["device"] == device
        assert 0 < run.metrics["rel_l2"] < 2
    np.testing.assert_allclose(split.history["loss"], straight.history["loss"], rtol=1e-4)
    assert split.metrics["rel_l2"] == pytest.approx(straight.metrics["rel_l2"], rel=1e-4)
    for key, tensor in straight.model_state.items():
        assert tensor.device.type == "cpu", key  # run files load anywhere
        torch.testing.assert_close(split.model_state[key], tensor, rtol=1e-4, atol=1e-6)


def test_fit_on_the_device(tmp_path: Path, device: str) -> None:
    out = tmp_path / "fit.h5"
    argv = ["fit", "--problem", "feynman:I.12.5", "--steps", "4", "--device", device]
    assert cli.main([*argv, "--out", str(out), "--quiet"]) == 0
    run = read_run(out)
    assert run.status == "completed" and run.config["device"] == device
    assert np.isfinite(run.metrics["rmse"])


def test_bench_laplacian_on_the_device(tmp_path: Path, device: str) -> None:
    out = tmp_path / "bench.csv"
    argv = ["bench", "laplacian", "--dim", "5", "--model", "kan,metakan,mlp", "--points", "8"]
    assert cli.main([*argv, "--repeats", "1", "--device", device, "--out", str(out)]) == 0
    lines = [line for line in out.read_text().splitlines() if not line.startswith("#")]
    rows = list(csv.DictReader(lines))
    assert {row["model"] for row in rows} == {"kan", "metakan", "mlp"}
    assert all(float(row["step_ms"]) > 0 for row in rows if row["step_ms"])
