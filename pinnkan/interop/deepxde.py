"""DeepXDE interoperability: pinnkan backbones as DeepXDE networks, pinnkan ball PDEs as DeepXDE
data (``pinnkan solve --engine deepxde`` is :mod:`pinnkan.interop.deepxde_solve`).

    net = as_deepxde_net(build_model("metakan", [3, 32, 32, 1]))      # a deepxde.nn.pytorch.NN
    net.apply_output_transform(lambda x, y: (1 - (x**2).sum(1, keepdim=True)) * y)
    data = to_deepxde_data(get_problem("poisson", dim=3), num_domain=100, num_boundary=300)
    model = deepxde.Model(data, net)

DeepXDE is imported on first use (never by ``import pinnkan``), with ``DDE_BACKEND=pytorch``
unless the environment already names a backend. It keeps global state, handled here so:

- backend: a DeepXDE already imported with another backend is refused (ValueError);
- default device: on import DeepXDE makes CUDA torch's default device when a GPU exists;
  :func:`import_deepxde` restores the previous default;
- random seeds: never touched; training points come from a seeded ``torch.Generator``.

Default float and L-BFGS options are handled per solve by
:func:`pinnkan.interop.deepxde_solve.deepxde_session`.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import sys
from collections.abc import Callable
from functools import cached_property
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..geometry import LAWS, Ball
from ..problem import PDE, Fields, expand_constant
from ..validation import check_choice, check_int

BACKEND = "pytorch"


# --- importing DeepXDE ---------------------------------------------------------------------------


@functools.cache
def import_deepxde() -> ModuleType:
    """The ``deepxde`` module on the PyTorch backend, imported once, with torch's default
    device left as it was (DeepXDE switches it to CUDA on import when a GPU is present)."""
    if "deepxde" in sys.modules:
        check_backend(sys.modules["deepxde"].backend.backend_name)
        return sys.modules["deepxde"]
    backend = os.environ.setdefault("DDE_BACKEND", BACKEND)
    check_backend(backend)
    device = torch.get_default_device()
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # DeepXDE announces its backend
            import deepxde
    except ImportError as error:
        raise ValueError(f"the deepxde engine needs the deepxde package: {error}") from error
    if torch.get_default_device() != device:
        torch.set_default_device(None if device.type == "cpu" else device)
    return deepxde


def check_backend(name: str) -> None:
    if name != BACKEND:
        raise ValueError(
            f"DeepXDE backend {name!r} is not supported; pinnkan needs {BACKEND!r} "
            f"(set DDE_BACKEND={BACKEND} before deepxde is imported)"
        )


@functools.cache
def deepxde_class(adapter: type, base_name: str) -> type:
    """The class ``adapter`` with the DeepXDE class ``base_name`` (e.g. "nn.pytorch.NN") as
    base, built on first use so that DeepXDE is imported only when needed."""
    base = import_deepxde()
    for part in base_name.split("."):
        base = getattr(base, part)
    namespace = {"__module__": __name__, "__doc__": adapter.__doc__}
    return type(adapter.__name__.removesuffix("Adapter"), (adapter, base), namespace)


# --- networks ------------------------------------------------------------------------------------


class DeepXDENetworkAdapter:
    """A pinnkan backbone as a DeepXDE network (``deepxde.nn.pytorch.NN``):

        outputs = T_out(x, model(T_in(x))),   x (batch, d) -> (batch, out_features)

    with DeepXDE's ``apply_feature_transform`` (T_in) and ``apply_output_transform`` (T_out),
    each the identity until set. The backbone is ``self.model``; its parameters are the
    network's parameters.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: Tensor) -> Tensor:
        features = inputs if self._input_transform is None else self._input_transform(inputs)
        outputs = self.model(features)
        if self._output_transform is not None:
            outputs = self._output_transform(inputs, outputs)
        return outputs


def as_deepxde_net(model: nn.Module) -> nn.Module:
    """Wrap ``model (batch, d) -> (batch, k)`` (KAN, MetaKAN, MLP, …) as a DeepXDE network."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"model={model!r} is not allowed; give a torch.nn.Module")
    return deepxde_class(DeepXDENetworkAdapter, "nn.pytorch.NN")(model)


def ball_hard_constraint(ball: Ball) -> Callable[[Tensor, Tensor], Tensor]:
    """DeepXDE output transform û = (1 − |x|²/R²)·N: ``(x (batch, d), N (batch, 1)) ->
    (batch, 1)``; the same û as :class:`pinnkan.nn.constraint.BallHardConstraint`."""

    def transform(x: Tensor, outputs: Tensor) -> Tensor:
        return ball.boundary_factor(x).unsqueeze(-1) * outputs

    return transform


# --- the PDE ------------------------------------------------------------------------------------


class DeepXDEFields(Fields):
    """What pinnkan's operator sees on DeepXDE's tensors ``x (batch, d)`` (the leaf DeepXDE
    differentiates against) and ``y (batch, 1)``, by DeepXDE's cached reverse-mode derivatives:

        u = y[:, 0],   ∇u = jacobian(y, x, i=0),   ∇²u[j, k] = hessian(y, x, i=j, j=k),
        Δu = Σ_j hessian(y, x, i=j, j=j).
    """

    def __init__(self, x: Tensor, y: Tensor) -> None:
        super().__init__(x)
        self.y = y

    @property
    def u(self) -> Tensor:
        return self.y[:, 0]

    @property
    def traced(self) -> tuple[Tensor, Tensor]:
        return self.x, self.y[:, 0]

    @cached_property
    def gradient(self) -> Tensor:
        return import_deepxde().grad.jacobian(self.y, self.x, i=0)

    @cached_property
    def laplacian(self) -> Tensor:
        diagonal = [self.second_derivative(j, j) for j in range(self.x.shape[1])]
        return torch.stack(diagonal, dim=1).sum(dim=1)

    @cached_property
    def hessian(self) -> Tensor:
        dim = self.x.shape[1]
        rows = [
            torch.stack([self.second_derivative(j, k) for k in range(dim)], 1) for j in range(dim)
        ]
        return torch.stack(rows, dim=1)

    def second_derivative(self, j: int, k: int) -> Tensor:
        """∂²u/∂x_j∂x_k, ``(batch,)``."""
        return import_deepxde().grad.hessian(self.y, self.x, i=j, j=k)[:, 0]


def deepxde_pde(problem: PDE) -> Callable[[Tensor, Tensor], Tensor]:
    """DeepXDE's ``pde(x, y)``: L[u](x) − f(x) from pinnkan's operator, ``(batch, 1)``."""

    def pde(x: Tensor, y: Tensor) -> Tensor:
        problem.check_points(x)
        residual = problem.operator(DeepXDEFields(x, y)) - problem.forcing(x.detach())
        return residual.unsqueeze(-1)

    return pde


def numpy_function(function: Callable[[Tensor], Tensor]) -> Callable[[np.ndarray], np.ndarray]:
    """``function: (n, d) -> (n,)`` (or one number) on torch tensors as DeepXDE's ``(n, d) -> (n, 1)`` on
    NumPy arrays (evaluated in float64 on the CPU, returned in the input's dtype; new tensors
    that ``function`` makes go to the CPU too, even when DeepXDE runs with a GPU as default)."""

    def on_arrays(x: np.ndarray) -> np.ndarray:
        with torch.device("cpu"):
            points = torch.from_numpy(np.asarray(x, dtype=np.float64))
            values = expand_constant(function(points), points.shape[0], like=points)
        return values.detach().numpy()[:, None].astype(np.asarray(x).dtype)

    return on_arrays


# --- geometry and boundary condition -------------------------------------------------------------


class LawHypersphereAdapter:
    """``deepxde.geometry.Hypersphere`` around 0 whose random points follow a pinnkan law of
    :class:`pinnkan.geometry.Ball` ("volume" or "radial"), drawn from ``generator`` in
    ``sample_dtype`` (torch's default dtype when None) and then cast to DeepXDE's float.
    With a seeded generator the points equal those of pinnkan's trainer.
    """

    def __init__(
        self,
        ball: Ball,
        law: str,
        generator: torch.Generator | None = None,
        sample_dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__([0.0] * ball.dim, ball.radius)
        self.ball = ball
        self.law = law
        self.generator = generator
        self.sample_dtype = sample_dtype

    def random_points(self, n: int, random: str = "pseudo") -> np.ndarray:
        x = self.ball.sample_interior(n, self.law, self.generator, "cpu", self.sample_dtype)
        return self.as_array(x)

    def random_boundary_points(self, n: int, random: str = "pseudo") -> np.ndarray:
        x = self.ball.sample_boundary(n, self.generator, "cpu", self.sample_dtype)
        return self.as_array(x)

    def as_array(self, x: Tensor) -> np.ndarray:
        return x.numpy().astype(import_deepxde().config.real(np))


class BallDirichletAdapter:
    """``deepxde.icbc.DirichletBC`` u = g on the sphere, on its own ``num_points`` boundary
    points drawn from the geometry whenever DeepXDE (re)collects the boundary points.

    Unlike the stock DirichletBC it neither selects boundary points by |x| ≈ R from the
    training points (interior points that close to the sphere would change the count) nor
    caches g by the id of the point array (stale after resampling): g is evaluated on the
    current points, in torch, at every loss evaluation.
    """

    def __init__(self, geometry: Any, problem: PDE, num_points: int) -> None:
        values = numpy_function(problem.boundary_value)
        super().__init__(geometry, values, lambda x, on_boundary: on_boundary)
        self.problem = problem
        self.num_points = num_points

    def collocation_points(self, X: np.ndarray) -> np.ndarray:
        return self.geom.random_boundary_points(self.num_points)

    def error(
        self, X: np.ndarray, inputs: Tensor, outputs: Tensor, beg: int, end: int, aux_var=None
    ) -> Tensor:
        x = inputs[beg:end].detach()
        values = expand_constant(self.problem.boundary_value(x), x.shape[0], like=x).unsqueeze(-1)
        return outputs[beg:end, self.component : self.component + 1] - values


def to_deepxde_data(
    problem: PDE,
    num_domain: int,
    num_boundary: int = 0,
    law: str | None = None,
    generator: torch.Generator | None = None,
    sample_dtype: torch.dtype | None = None,
) -> Any:
    """A pinnkan PDE on a :class:`Ball` as ``deepxde.data.PDE``.

    Geometry ``Hypersphere(0, R)`` (DeepXDE's own volume-uniform sampler when ``law`` is None,
    else pinnkan's ``law`` drawn from ``generator``), ``pde(x, y)`` = L[u] − f from
    ``problem.operator``, a Dirichlet condition u = ``problem.boundary_value`` on
    ``num_boundary`` boundary points (none when 0, e.g. with a hard constraint), and the exact
    solution as ``solution`` when the problem has one.
    """
    if not isinstance(problem, PDE):
        raise ValueError(
            f"problem={problem!r} is not allowed; give a pinnkan.PDE, e.g. "
            "pinnkan.get_problem('poisson', dim=10)"
        )
    if not isinstance(problem.geometry, Ball):
        raise ValueError(
            f"geometry {problem.geometry!r} is not allowed; to_deepxde_data converts PDEs on a Ball"
        )
    check_int("num_domain", num_domain, 1)
    check_int("num_boundary", num_boundary, 0)
    if law is not None:
        check_choice("law", law, LAWS)
    dde = import_deepxde()
    ball = problem.geometry
    if law is None:
        geometry = dde.geometry.Hypersphere([0.0] * ball.dim, ball.radius)
    else:
        geometry = deepxde_class(LawHypersphereAdapter, "geometry.Hypersphere")(
            ball, law, generator, sample_dtype
        )
    conditions = []
    if num_boundary > 0:
        dirichlet = deepxde_class(BallDirichletAdapter, "icbc.DirichletBC")
        conditions.append(dirichlet(geometry, problem, num_boundary))
    exact = problem.exact_solution()  # an ExactSolution or a plain function: exact_value takes both
    solution = None if exact is None else numpy_function(problem.exact_value)
    return dde.data.PDE(
        geometry,
        deepxde_pde(problem),
        conditions,
        num_domain=num_domain,
        num_boundary=0,
        train_distribution="pseudo",
        solution=solution,
    )
