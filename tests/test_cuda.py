"""The CUDA path against the CPU: engines, estimators, MetaKAN generation, solve/resume, fit, bench.

Each test runs on the CPU (which keeps the tests themselves checked on machines without a GPU)
and, where there is one, on CUDA (skipped otherwise); ``benchmarks/device_checks.sh`` runs this
file on a GPU machine.

The engines, the estimators and MetaKAN generation on the device are compared with the same
computation on the CPU in float64: values to 1e-10, gradients to relative 1e-8 (different
reduction orders on the GPU). On the command line, a run split by ``resume`` equals the straight
run on the same device to float32 round-off, and fit and bench complete with finite results. The
last sections check the choice of device (``cuda:N``, ``resume --device``, RNG states) and that
seeded draws and model builds work whatever torch's default device.
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
from pinnkan.results import read_run, write_run

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


# --- choosing the device ----------------------------------------------------------------------


@pytest.fixture
def two_gpus(monkeypatch) -> None:
    """A machine that says it has two GPUs (``torch.device`` needs none to be built)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


def test_cuda_index_must_name_a_gpu_present(two_gpus) -> None:
    assert resolve_device("cuda") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device("auto") == torch.device("cuda")
    with pytest.raises(ValueError, match=r"device='cuda:2' is not available: 2 CUDA GPU\(s\)"):
        resolve_device("cuda:2")


@pytest.mark.parametrize("name", ["cudaX", "cuda:", "cuda:-1", "cuda:1:2", "gpu", "CPU", ""])
def test_unknown_device_names_are_one_value_error(name: str) -> None:
    with pytest.raises(ValueError, match=rf"device={name!r} is not known; allowed: auto, cpu"):
        resolve_device(name)


def test_resume_on_another_device_than_the_run_used(tmp_path: Path, capsys) -> None:
    """A run made on a GPU that this machine lacks resumes with ``--device cpu``; without it,
    one line names the stored device, and the run file is left as it was."""
    out = tmp_path / "run.h5"
    solve(out, "kan", "cpu", "--steps", "5")
    run = read_run(out)
    run.config["spec"]["device"] = run.config["device"] = "cuda:7"
    write_run(out, run)
    before = out.read_bytes()
    capsys.readouterr()
    assert cli.main(["resume", str(out), "--steps", "8", "--quiet"]) == 2
    assert "device='cuda:7' is not available" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert cli.main(["resume", str(out), "--steps", "8", "--device", "cpu", "--quiet"]) == 0
    resumed = read_run(out)
    assert resumed.status == "completed" and resumed.metrics["steps"] == 8
    assert resumed.config["device"] == "cpu"


# --- seeded draws on the generator's device -----------------------------------------------------


class SeededDrawsOnTheirDevice(torch.overrides.TorchFunctionMode):
    """Records every draw made with a generator that does not name the generator's device: such
    a draw fails on a GPU machine whose default device is CUDA (``torch.set_default_device``, or
    DeepXDE imported first), since a CPU generator cannot draw there."""

    def __init__(self) -> None:
        super().__init__()
        self.draws = 0
        self.wrong: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        generator = kwargs.get("generator")
        if generator is not None:
            self.draws += 1
            device = kwargs.get("device")
            in_place = args and isinstance(args[0], torch.Tensor) and func.__name__.endswith("_")
            where = args[0].device if in_place else (torch.device(device) if device else None)
            if where != generator.device:
                self.wrong.append(f"{func.__name__} drawn on {where} by a {generator.device} one")
        return func(*args, **kwargs)


def test_every_seeded_draw_names_the_generators_device() -> None:
    from pinnkan.bench.laplacian import ball_points
    from pinnkan.problems import get_problem
    from pinnkan.symbolic import box_samples

    with SeededDrawsOnTheirDevice() as mode:
        for name in MODELS:
            build_model(name, WIDTH, generator=generator(0))
        build_model("metakan", WIDTH, generator=generator(0), node_mean=True, prompt_dim=2)
        x = points()
        Ball(DIM).sample_boundary(4, generator=generator(1))
        for method in ("sdgd", "hutchinson"):
            model = build_model("mlp", WIDTH).double()
            laplacian(model, x, method, samples=2, generator=generator(2))
        for problem in ("poisson", "allen_cahn", "sine_gordon"):
            get_problem(problem, dim=DIM, seed=3)
        get_problem("feynman:I.12.5").dataset(8, 8, seed=4)
        ball_points(4, DIM, generator(5))
        box_samples({"ranges": [[0.0, 1.0], [1.0, 2.0]]}, 4, seed=6)
    assert mode.draws >= 20
    assert mode.wrong == []


def test_draw_uses_the_generator_then_the_default_device() -> None:
    from pinnkan.device import draw, sampling_device

    expected = torch.randn(3, generator=generator(8))
    torch.testing.assert_close(draw(torch.randn, 3, generator=generator(8)), expected)
    with torch.device("meta"):  # a default device other than the CPU, as CUDA would be
        assert sampling_device(generator(8)) == torch.device("cpu")
        assert sampling_device(None) == torch.device("meta")
        assert sampling_device(None, "cpu") == torch.device("cpu")
        assert draw(torch.randn, 3, generator=generator(8)).device.type == "meta"
        assert draw(torch.rand, 2, 2, generator=None).device.type == "meta"


@pytest.mark.parametrize("name", list(MODELS))
def test_models_build_on_the_default_device_from_a_cpu_generator(name: str) -> None:
    """With a default device other than the CPU (as ``torch.set_default_device("cuda")`` or
    DeepXDE imported first on a GPU machine makes it), every parameter and buffer is built there,
    the seeded draws still made by the CPU generator."""
    options = {"node_mean": True, "clusters": 2} if MODELS[name].meta else {}
    with torch.device("meta"):
        model = build_model(name, WIDTH, generator=generator(0), **options)
        on_default = Ball(DIM).sample_interior(4, generator=generator(1))
    tensors = [*model.parameters(), *model.buffers(), on_default]
    assert {tensor.device.type for tensor in tensors} == {"meta"}


def test_cuda_rng_states_are_restored_on_the_gpus_present(two_gpus, monkeypatch) -> None:
    """A checkpoint from a 3-GPU machine resumed on 2 GPUs: states 0 and 1 go to cuda:0 and
    cuda:1, the third is dropped (restoring it raised: there is no cuda:2)."""
    from pinnkan.checkpoint import capture_rng_state, restore_rng_state

    restored = []
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s, i: restored.append((i, s)))
    state = capture_rng_state()
    saved = [torch.full((4,), index, dtype=torch.uint8) for index in range(3)]
    restore_rng_state({**state, "cuda": saved})
    assert [index for index, _ in restored] == [0, 1]
    assert all(torch.equal(s, saved[index]) for index, s in restored)
