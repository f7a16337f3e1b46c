"""The base classes users subclass to pose a PDE: :class:`PDE`, :class:`ExactSolution`.

A PDE is ``L[u] = f`` in Ω, ``u = g`` on ∂Ω. A subclass writes the operator once, against
:class:`Fields` (what an operator may read at points x: ``u``, ``gradient``, ``laplacian``)::

    class Helmholtz(PDE):
        name = "helmholtz"

        def __init__(self, dim: int = 3, wavenumber: float = 2.0):
            self.dim, self.wavenumber, self.geometry = dim, wavenumber, Ball(dim)

        def operator(self, fields: Fields) -> Tensor:
            return fields.laplacian + self.wavenumber**2 * fields.u

        def exact_solution(self) -> ExactSolution:
            return MySolution()

The same operator is applied to the network (:class:`NetworkFields`, for the residual) and to
the exact solution (:class:`SolutionFields`, for the forcing f = L[u_exact] of a manufactured
solution), so the forcing can never disagree with the operator.

Devices: the points x arrive on the device of the run (a GPU with ``--device cuda``). A tensor
that ``value``, ``operator`` or ``forcing`` makes itself must be made there too, e.g.
``torch.linspace(0, 1, d, device=x.device, dtype=x.dtype)`` or ``self.c.to(x)``; a constant made
without ``device=`` lands on the CPU and fails ("Expected all tensors to be on the same
device"). Python numbers need nothing.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from functools import cached_property
from typing import Any

import torch
from torch import Tensor

from . import derivatives
from .geometry import Ball
from .kernels import basis_recursion
from .validation import check_seed

Model = Callable[[Tensor], Tensor]


class ExactSolution:
    """A known solution u(x). Subclasses implement ``value``; ``gradient`` and ``laplacian``
    default to autograd on ``value`` and should be overridden where a closed form exists.
    """

    def value(self, x: Tensor) -> Tensor:
        """u at ``x (n, d)`` -> ``(n,)``."""
        raise NotImplementedError(f"{type(self).__name__} must implement value(x)")

    def gradient(self, x: Tensor) -> Tensor:
        """∇u at ``x (n, d)`` -> ``(n, d)`` (autograd on :meth:`value`)."""
        with derivatives.differentiating():
            leaf = derivatives.differentiable_leaf(x)
            return derivatives.gradient(self.value(leaf), leaf, create_graph=False)

    def laplacian(self, x: Tensor) -> Tensor:
        """Δu at ``x (n, d)`` -> ``(n,)`` (autograd on :meth:`value`)."""
        with derivatives.differentiating():
            _, laplacian = derivatives.laplacian(self.as_model, x, method="autograd")
        return laplacian.detach()

    def as_model(self, x: Tensor) -> Tensor:
        """u as a network would give it: ``x (n, d)`` -> ``(n, 1)``."""
        return self.value(x).unsqueeze(-1)


class FunctionSolution(ExactSolution):
    """An exact solution given by a plain function ``x (n, d) -> (n,)``; derivatives by autograd."""

    def __init__(self, function: Callable[[Tensor], Tensor]):
        self.function = function

    def value(self, x: Tensor) -> Tensor:
        return self.function(x)


def as_solution(solution: ExactSolution | Callable[[Tensor], Tensor]) -> ExactSolution:
    """An :class:`ExactSolution` as is; a plain function wrapped in :class:`FunctionSolution`."""
    if isinstance(solution, ExactSolution):
        return solution
    if callable(solution):
        return FunctionSolution(solution)
    raise ValueError(
        f"exact solution {solution!r} is not allowed; give an ExactSolution or a function"
    )


class Fields(abc.ABC):
    """What an operator sees at points ``x (batch, d)``; each field is computed on first use.

    ``u`` and ``laplacian`` are given by subclasses; ``gradient`` and ``hessian`` default to
    autograd through :attr:`traced` (the points as a leaf, and u there), which an operator may
    also use for other derivatives, e.g. ``derivatives.gradient(fields.traced_gradient[:, 0],
    fields.traced[0])`` for ∇(∂u/∂x_1).

    Under ``torch.no_grad()`` (and ``torch.inference_mode()``) every field is still computed,
    with autograd switched on where x-derivatives need it, and comes back detached. Under
    inference mode, tensors an operator or exact solution combines with x must not themselves
    be made inside it: torch cannot record them (make them in ``__init__``, as the built-ins do).
    """

    def __init__(self, x: Tensor):
        if x.ndim != 2:
            raise ValueError(f"points of shape {tuple(x.shape)} are not allowed; give (batch, d)")
        self._points = x

    @property
    def x(self) -> Tensor:
        """The points, ``(batch, d)``."""
        return self._points

    @property
    @abc.abstractmethod
    def u(self) -> Tensor:
        """u(x), ``(batch,)``."""

    @property
    @abc.abstractmethod
    def laplacian(self) -> Tensor:
        """Δu(x), ``(batch,)``."""

    @property
    @abc.abstractmethod
    def traced(self) -> tuple[Tensor, Tensor]:
        """``(leaf (batch, d), u(leaf) (batch,))`` with ``leaf.requires_grad``, for autograd."""

    @property
    def gradient(self) -> Tensor:
        """∇u(x), ``(batch, d)``."""
        return self.traced_gradient

    @property
    def traced_gradient(self) -> Tensor:
        """∇u by autograd through :attr:`traced`, ``(batch, d)``, differentiable in x (detached
        when read under ``torch.no_grad()``, which does not stop it being computed)."""
        return detached_without_grad(self.gradient_graph)

    @property
    def hessian(self) -> Tensor:
        """∇²u(x), ``(batch, d, d)``, by autograd (d backward passes through the gradient);
        detached when read under ``torch.no_grad()``."""
        return detached_without_grad(self.hessian_graph)

    @cached_property
    def gradient_graph(self) -> Tensor:
        """∇u with its graph, computed with grad enabled whatever the caller's mode."""
        with derivatives.differentiating():
            leaf, u = self.traced
            return derivatives.gradient(u, leaf, create_graph=True)

    @cached_property
    def hessian_graph(self) -> Tensor:
        with derivatives.differentiating():
            leaf, _ = self.traced
            gradient = self.gradient_graph
            rows = [derivatives.gradient(gradient[:, i], leaf) for i in range(leaf.shape[1])]
            return torch.stack(rows, dim=1)


def detached_without_grad(value: Tensor) -> Tensor:
    """``value`` as is with grad enabled; detached under ``torch.no_grad()``, like the
    Laplacian engines' results."""
    return value if torch.is_grad_enabled() else value.detach()


class NetworkFields(Fields):
    """Fields of a network ``model: x (batch, d) -> (batch, 1)``.

    ``u`` and ``laplacian`` come together from ``derivatives.laplacian(model, x, method,
    **laplacian_options)`` (options such as ``samples``, ``generator`` for the estimators);
    ``gradient`` and ``hessian`` are autograd on x through their own forward pass. All keep
    the graph to the model's parameters.
    """

    def __init__(self, model: Model, x: Tensor, method: str = "autograd", **laplacian_options: Any):
        super().__init__(x)
        self.model = model
        self.method = method
        self.laplacian_options = laplacian_options

    @cached_property
    def value_and_laplacian(self) -> tuple[Tensor, Tensor]:
        return derivatives.laplacian(
            self.model, self.x, method=self.method, **self.laplacian_options
        )

    @property
    def u(self) -> Tensor:
        return self.value_and_laplacian[0]

    @property
    def laplacian(self) -> Tensor:
        return self.value_and_laplacian[1]

    @cached_property
    def traced(self) -> tuple[Tensor, Tensor]:
        # derivatives in x follow: the recursion's graph, built once (with grad enabled)
        with basis_recursion(), derivatives.differentiating():
            leaf = derivatives.differentiable_leaf(self.x)
            return leaf, self.model(leaf).squeeze(-1)


class SolutionFields(Fields):
    """Fields of a known solution: closed forms of an :class:`ExactSolution` where it has
    them, autograd otherwise (or for a plain function ``x (n, d) -> (n,)``)."""

    def __init__(self, solution: ExactSolution | Callable[[Tensor], Tensor], x: Tensor):
        super().__init__(x)
        self.solution = as_solution(solution)

    @cached_property
    def u(self) -> Tensor:
        return self.solution.value(self.x)

    @cached_property
    def gradient(self) -> Tensor:
        return self.solution.gradient(self.x)

    @cached_property
    def laplacian(self) -> Tensor:
        return self.solution.laplacian(self.x)

    @cached_property
    def traced(self) -> tuple[Tensor, Tensor]:
        with derivatives.differentiating():
            leaf = derivatives.differentiable_leaf(self.x)
            return leaf, self.solution.value(leaf)


class PDE(abc.ABC):
    """A PDE ``L[u] = f`` in Ω (``geometry``), ``u = g`` on ∂Ω.

    Subclasses set ``name``, ``dim`` and ``geometry`` and implement :meth:`operator`. With
    :meth:`exact_solution` given, ``f = L[u_exact]`` and ``g = u_exact`` follow; otherwise
    override :meth:`forcing` and :meth:`boundary_value`.
    """

    name: str = "pde"
    dim: int
    geometry: Ball
    order: int = 2  # highest derivative order in the operator (k ≥ 2 B-splines for order 2)

    @abc.abstractmethod
    def operator(self, fields: Fields) -> Tensor:
        """L[u] at ``fields.x``, ``(batch,)``."""

    def exact_solution(self) -> ExactSolution | None:
        """The exact solution, if known (None by default)."""
        return None

    def forcing(self, x: Tensor) -> Tensor:
        """f(x) = L[u_exact](x), ``(batch,)``, detached."""
        values = self.apply_operator(SolutionFields(self.require_exact_solution("forcing"), x))
        check_values(self, "operator (f = L[u_exact], the forcing)", values, x.shape[0])
        return values.detach()

    def apply_operator(self, fields: Fields) -> Tensor:
        """``operator(fields)`` with autograd recording whatever the caller's mode, so that an
        operator may differentiate its fields further (``derivatives.gradient`` of
        ``fields.traced_gradient``) under ``torch.no_grad()`` too; detached when grad is off
        (it gave zeros there: a read field came back detached)."""
        grad_enabled = torch.is_grad_enabled()
        with derivatives.differentiating():
            values = self.operator(fields)
        return values if grad_enabled or not isinstance(values, Tensor) else values.detach()

    def boundary_value(self, x: Tensor) -> Tensor:
        """g(x) = u_exact(x) on the boundary, ``(batch,)``, detached. An override may return one
        number for a constant g, as :meth:`forcing` may for a constant f."""
        return self.require_exact_solution("boundary_value").value(x).detach()

    def exact_value(self, x: Tensor) -> Tensor:
        """u_exact(x), ``(batch,)``, detached (for test errors)."""
        return self.require_exact_solution("exact_value").value(x).detach()

    def residual(
        self, model: Model, x: Tensor, method: str = "autograd", **laplacian_options: Any
    ) -> Tensor:
        """L[model](x) − f(x), ``(batch,)``, differentiable in the model's parameters.

        ``method`` and ``laplacian_options`` (e.g. ``samples``, ``generator``) go to
        :func:`pinnkan.derivatives.laplacian`.
        """
        self.check_points(x)
        fields = NetworkFields(model, x, method, **laplacian_options)
        operator, forcing = self.apply_operator(fields), self.forcing(x)
        check_values(self, "operator", operator, x.shape[0])
        check_values(self, "forcing", forcing, x.shape[0], constant=True, like=x)
        if not operator.requires_grad and torch.is_grad_enabled() and trainable(model):
            raise ValueError(
                f"problem {self.name!r}: operator returned values that do not depend on the "
                "network's parameters (a .detach(), .item(), numpy or torch.no_grad() in it?); "
                "compute L[u] from the fields with torch operations"
            )
        return operator - forcing

    def __init_subclass__(cls, **options: Any) -> None:
        """A class that sets no ``name`` of its own is called by its class name in messages and
        run files (not "pde")."""
        super().__init_subclass__(**options)
        if cls.name == PDE.name:
            cls.name = cls.__name__

    def config(self) -> dict[str, Any]:
        """Plain data identifying the problem (saved in run files)."""
        return {"name": self.name, "dim": self.dim}

    def require_exact_solution(self, needed_by: str) -> ExactSolution:
        solution = self.exact_solution()
        if solution is None:
            raise NotImplementedError(
                f"{type(self).__name__} has no exact_solution(); override {needed_by}(x)"
            )
        return as_solution(solution)

    def check_points(self, x: Tensor) -> None:
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(
                f"points of shape {tuple(x.shape)} are not allowed; give (batch, {self.dim})"
            )


def is_constant(values: Any) -> bool:
    """One number: a float or int (not a bool) or a 0-d tensor."""
    number = isinstance(values, int | float) and not isinstance(values, bool)
    return number or (isinstance(values, Tensor) and values.ndim == 0)


def expand_constant(values: Any, n: int, like: Tensor | None = None) -> Any:
    """One number (a constant forcing or boundary value) as a tensor ``(n,)`` (in ``like``'s
    dtype and device where given); anything else as it is."""
    if not is_constant(values):
        return values
    options = {"dtype": like.dtype, "device": like.device} if like is not None else {}
    return torch.as_tensor(values, **options).expand(n)


def trainable(model: Any) -> bool:
    """True for a module with a parameter that requires a gradient."""
    parameters = getattr(model, "parameters", None)
    return callable(parameters) and any(p.requires_grad for p in parameters())


def check_values(
    problem: PDE,
    method: str,
    values: Any,
    n: int,
    finite: bool = False,
    constant: bool = False,
    like: Tensor | None = None,
) -> None:
    """``values``, what ``method`` of ``problem`` returned at ``n`` points, must be a tensor of
    shape ``(n,)`` (and finite with ``finite``; of the points' floating dtype with ``like``, the
    points); a one-line ValueError naming the method if not. With ``constant``, one number (a
    float or a 0-d tensor: a constant forcing) is allowed too."""
    name = getattr(problem, "name", type(problem).__name__)
    if constant:
        values = expand_constant(values, n, like=like)
    if not isinstance(values, Tensor):
        raise ValueError(
            f"problem {name!r}: {method} returned {type(values).__name__}, not a tensor of "
            f"shape ({n},)"
        )
    if tuple(values.shape) != (n,):
        raise ValueError(
            f"problem {name!r}: {method} returned shape {tuple(values.shape)} at {n} points; "
            f"({n},) is expected (one value per point)"
        )
    if like is not None and values.dtype != like.dtype:
        raise ValueError(
            f"problem {name!r}: {method} returned {values.dtype} values for {like.dtype} points; "
            f"compute in the points' precision (dtype=x.dtype, or .to(x))"
        )
    if finite and not bool(torch.isfinite(values).all()):
        raise ValueError(
            f"problem {name!r}: {method} is not finite (NaN or inf) at "
            f"{int((~torch.isfinite(values)).sum())} of {n} test points in the domain"
        )


class BallPDE(PDE):
    """A PDE on the unit d-ball whose exact solution is the two-body function
    u(x) = (1 − |x|²) Σ_{i<d} c_i sin(x_i + cos x_{i+1} + x_{i+1} cos x_i), c ~ N(0, I) (seeded;
    ``coefficients`` = "torch" or "numpy" picks the random stream, see
    :mod:`pinnkan.problems.two_body`).
    """

    def __init__(self, dim: int, seed: int = 0, coefficients: str = "torch"):
        check_ball_dim(dim)
        check_seed("seed", seed)
        from pinnkan.problems.two_body import TwoBodySolution  # problems/ imports this module

        self.dim = dim
        self.seed = seed
        self.geometry = Ball(dim)
        self.solution = TwoBodySolution(dim, seed, coefficients)

    def exact_solution(self) -> ExactSolution:
        return self.solution

    def config(self) -> dict[str, Any]:
        """Name, dim and seed; the coefficient law only when it is not the default "torch" (so
        run files written before the option existed group with the new ones)."""
        config = {"name": self.name, "dim": self.dim, "seed": self.seed}
        if self.solution.coefficient_law != "torch":
            config["coefficients"] = self.solution.coefficient_law
        return config


def check_ball_dim(dim: Any) -> None:
    """The two-body solution couples neighbouring coordinates, so d ≥ 2."""
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise ValueError(f"dim={dim!r} is not allowed; it must be an integer ≥ 2")
    if dim < 2:
        raise ValueError(f"dim={dim} is not allowed; the two-body solution needs dim ≥ 2")
