"""Module hooks: the forward engine computes from the layers' parameters without calling
``model(x)``, so a hooked model must go to the autograd engine (which calls it), with the
fallback warning, and ``laplacian`` must return u and Δu of the function ``model(x)`` computes.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator

import pytest
import torch
from torch import nn

import pinnkan
from pinnkan.derivatives import EngineFallbackWarning
from pinnkan.forward_laplacian import hooked, supports
from pinnkan.nn.constraint import BallHardConstraint

MODELS = {"kan": {}, "metakan": {"meta_hidden": 4}, "mlp": {}}


def model(name: str, constrained: bool) -> nn.Module:
    generator = torch.Generator().manual_seed(0)
    net = pinnkan.build_model(name, [3, 4, 4, 1], generator=generator, **MODELS[name]).double()
    return BallHardConstraint(net) if constrained else net


def points() -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return torch.rand(6, 3, dtype=torch.float64, generator=generator) - 0.5


@contextlib.contextmanager
def register(kind: str, target: nn.Module) -> Iterator[None]:
    """Register one hook of ``kind`` that changes the function, and remove it afterwards."""
    net = target.net if isinstance(target, BallHardConstraint) else target
    hooks: dict[str, Callable[[], object]] = {
        "output": lambda: target.register_forward_hook(lambda module, args, out: 3 * out),
        "input": lambda: target.register_forward_pre_hook(lambda module, args: (2 * args[0],)),
        "layer": lambda: net.layers[0].register_forward_hook(lambda m, a, out: out + out**2),
        "global": lambda: nn.modules.module.register_module_forward_hook(
            lambda module, args, out: out * 1.5 if module is net else None
        ),
    }
    handle = hooks[kind]()
    try:
        yield
    finally:
        handle.remove()


HOOKS = ["output", "input", "layer", "global"]


@pytest.mark.parametrize("constrained", [False, True], ids=["plain", "hard"])
@pytest.mark.parametrize("kind", HOOKS)
@pytest.mark.parametrize("name", list(MODELS))
def test_a_hooked_model_gets_the_laplacian_of_what_it_computes(name, kind, constrained):
    network, x = model(name, constrained), points()
    _, unhooked = pinnkan.laplacian(network, x, create_graph=False)
    with register(kind, network):
        assert hooked(network) and not supports(network)
        with pytest.warns(EngineFallbackWarning, match="has module hooks"):
            u, lap = pinnkan.laplacian(network, x, create_graph=False)
        _, reference = pinnkan.laplacian(network, x, method="autograd", create_graph=False)
        torch.testing.assert_close(u, network(x).squeeze(-1).detach(), rtol=0, atol=1e-12)
        torch.testing.assert_close(lap, reference, rtol=0, atol=1e-10)
    assert (lap - unhooked).abs().max() > 1e-3  # the hook changed the function
    assert not hooked(network) and supports(network)  # removed: the forward engine again


@pytest.mark.parametrize("method", ["sdgd", "hutchinson"])
def test_a_hooked_model_under_an_estimator_uses_the_same_draw_through_autograd(method):
    network, x = model("kan", True), points()
    with register("output", network):
        with pytest.warns(EngineFallbackWarning, match="has module hooks"):
            _, estimate = pinnkan.laplacian(
                network, x, method, samples=2, generator=torch.Generator().manual_seed(3)
            )
        with pytest.warns(EngineFallbackWarning, match="not covered"):
            _, plain = pinnkan.laplacian(
                lambda p: network(p),
                x,
                method,
                samples=2,
                generator=torch.Generator().manual_seed(3),
            )
    torch.testing.assert_close(estimate.detach(), plain.detach(), rtol=0, atol=1e-10)


def test_an_unhooked_model_runs_the_forward_engine_without_warning():
    network = model("metakan", True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pinnkan.laplacian(network, points())
    assert supports(network) and not hooked(network)
