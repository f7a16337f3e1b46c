"""Checks of a problem before any training: its attributes, its geometry against the
constraint, and its exact solution, operator, forcing and boundary values evaluated at a few
points of the run's device (one finite value per point). A user's problem that cannot be
trained is so one ``ValueError`` line before a run starts, not a traceback at its first step.
"""

from __future__ import annotations

import os
import traceback
from typing import Any

import torch
from torch import Tensor

from .geometry import Ball
from .problem import PDE, ExactSolution, SolutionFields, as_solution, check_values, expand_constant
from .run_failure import error_summary, first_line
from .train_config import TrainConfig

CHECK_POINTS = 16  # points of the domain at which check_problem evaluates a problem
BOUNDARY_POINTS = 64  # points of the boundary at which it evaluates g


class ProbeSolution(ExactSolution):
    """u(x) = s (1 + |x|²/2) with closed-form derivatives and s = 1 a parameter that requires a
    gradient: what ``check_problem`` applies the operator to (so the check costs O(d), not d
    passes); an operator whose values do not depend on s cut the network out of the loss."""

    def __init__(self, like: Tensor) -> None:
        self.scale = torch.ones((), dtype=like.dtype, device=like.device, requires_grad=True)

    def value(self, x: Tensor) -> Tensor:
        return self.scale * (1 + 0.5 * x.pow(2).sum(-1))

    def gradient(self, x: Tensor) -> Tensor:
        return self.scale * x

    def laplacian(self, x: Tensor) -> Tensor:
        return self.scale * x.shape[1] * torch.ones(x.shape[0], dtype=x.dtype, device=x.device)


def check_attributes(problem: PDE) -> None:
    """``dim`` and ``geometry`` set, and the geometry of dimension ``dim``."""
    name = getattr(problem, "name", type(problem).__name__)
    for attribute in ("dim", "geometry"):
        if not hasattr(problem, attribute):
            raise ValueError(
                f"problem {name!r} ({type(problem).__name__}) has no attribute {attribute!r}; "
                f"set self.{attribute} in __init__, e.g. self.dim, self.geometry = dim, Ball(dim)"
            )
    dim = problem.dim
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(f"problem {name!r} has dim={dim!r}; it must be a positive integer")
    geometry_dim = getattr(problem.geometry, "dim", None)
    if geometry_dim != dim:
        raise ValueError(
            f"problem {name!r} has dim={dim} but its geometry {problem.geometry!r} has "
            f"dimension {geometry_dim}; they must agree"
        )


def check_constraint(problem: PDE, train: TrainConfig) -> None:
    """The hard constraint û = (1 − |x|²/R²)·NN(x) vanishes on the sphere |x| = R: only a Ball."""
    if train.constraint == "hard" and not isinstance(problem.geometry, Ball):
        raise ValueError(
            f"constraint='hard' needs a pinnkan Ball (û = (1 − |x|²/R²)·NN vanishes on its "
            f"sphere), but problem {problem.name!r} has geometry "
            f"{type(problem.geometry).__name__}; use --constraint soft"
        )


def check_problem(
    problem: PDE,
    train: TrainConfig,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> None:
    """f (and g for the soft constraint) must be computable: try them at a few points on the
    run's ``device``, so that a problem with neither an exact solution nor ``forcing`` fails
    before training. The exact solution, the operator and f must give one finite value per
    point, ``(n,)``; a problem computing with tensors on another device than the points (a
    constant made on the CPU, points on a GPU) is one line, not a traceback at the first step."""
    try:
        probe_problem(problem, train, dtype, device)
    except (ValueError, NotImplementedError) as error:
        if isinstance(error, ValueError) and not raised_in_pinnkan(error):  # the user's own
            raise raised_by(problem, error) from error
        raise
    except RuntimeError as error:
        if "same device" not in str(error):
            raise raised_by(problem, error) from error
        raise ValueError(
            f"problem {problem.name!r} computes with tensors on another device than its points "
            f"({device}): {first_line(error)}; make constants on x.device (or register them "
            "where the problem moves them)"
        ) from None
    except Exception as error:  # a bug in a user's problem: one line naming where
        raise raised_by(problem, error) from error


def raised_in_pinnkan(error: BaseException) -> bool:
    """Whether ``error`` was raised by pinnkan's own code (one of its checks), not by a user's
    problem or a library it called."""
    frames = traceback.extract_tb(error.__traceback__)
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    return bool(frames) and os.path.abspath(frames[-1].filename).startswith(package)


def raised_by(problem: PDE, error: Exception) -> ValueError:
    """The one-line error for an exception raised by ``problem``'s own methods at the check."""
    where = getattr(error, "checked_at", f"{CHECK_POINTS} points of its domain")
    return ValueError(
        f"problem {problem.name!r} raised {error_summary(error)} when evaluated at {where}, "
        "before training (--debug shows the traceback)"
    )


def probe_problem(
    problem: PDE, train: TrainConfig, dtype: torch.dtype | None, device: torch.device | str | None
) -> None:
    """The checks of :func:`check_problem`, at points on ``device``."""
    check_attributes(problem)
    check_constraint(problem, train)
    generator = torch.Generator().manual_seed(0)
    n = CHECK_POINTS
    x = problem.geometry.sample_interior(n, generator=generator, dtype=dtype, device=device)
    exact = problem.exact_solution()
    if exact is not None:
        check_values(problem, "exact_solution()", as_solution(exact).value(x), n, finite=True)
    overridden = type(problem).forcing is not PDE.forcing
    try:
        forcing = problem.forcing(x)
    except NotImplementedError as error:
        raise ValueError(f"problem {problem.name!r} cannot be trained: {error}") from error
    if overridden:
        check_values(problem, "forcing", forcing, n, finite=True, constant=True, like=x)
    else:  # f = L[u_exact]: the operator made it
        check_values(problem, "operator (f = L[u_exact], the forcing)", forcing, n, finite=True)
    check_operator(problem, x)
    try:
        on_sphere, boundary = boundary_values(problem, generator, dtype, device)
    except NotImplementedError as error:
        if train.constraint == "soft" or "boundary" not in str(error):
            raise ValueError(f"problem {problem.name!r} cannot be trained: {error}") from error
        return
    check_values(problem, "boundary_value", boundary, BOUNDARY_POINTS, finite=True, constant=True)
    boundary = expand_constant(boundary, BOUNDARY_POINTS, like=on_sphere)
    largest = float(boundary.abs().max())
    if train.constraint == "hard" and largest > boundary_tolerance(on_sphere.dtype):
        raise ValueError(
            f"constraint='hard' needs u = 0 on the boundary, but problem {problem.name!r} has "
            f"boundary values up to {largest:.3g}; use --constraint soft"
        )


def check_operator(problem: PDE, x: Tensor) -> None:
    """L[u] for u = :class:`ProbeSolution`: one value per point, depending on u."""
    with torch.enable_grad():
        operator = problem.operator(SolutionFields(ProbeSolution(x), x))
    check_values(problem, "operator", operator, x.shape[0])
    if not operator.requires_grad:
        raise ValueError(
            f"problem {problem.name!r}: operator returned values that do not depend on u (a "
            ".detach(), .item(), numpy or torch.no_grad() in it?); compute L[u] from the "
            "fields with torch operations"
        )


def boundary_values(
    problem: PDE,
    generator: torch.Generator,
    dtype: torch.dtype | None,
    device: torch.device | str | None,
) -> tuple[Tensor, Any]:
    """Points of the sphere ``(BOUNDARY_POINTS, d)`` and g there: in float64 (no round-off on
    |x| = R), or in the run's ``dtype`` for a problem that computes in it alone (a float32
    constant made in ``__init__``); an error names the method and the points."""
    run_dtype = dtype or torch.get_default_dtype()
    state = generator.get_state()
    try:
        return sphere_values(problem, generator, torch.float64, device)
    except NotImplementedError:
        raise
    except Exception:  # e.g. "expected Double but found Float": try the run's own precision
        if run_dtype == torch.float64:
            raise
    generator.set_state(state)
    return sphere_values(problem, generator, run_dtype, device)


def sphere_values(
    problem: PDE, generator: torch.Generator, dtype: torch.dtype, device: torch.device | str | None
) -> tuple[Tensor, Any]:
    on_sphere = problem.geometry.sample_boundary(
        BOUNDARY_POINTS, generator=generator, dtype=dtype, device=device
    )
    try:
        return on_sphere, problem.boundary_value(on_sphere)
    except NotImplementedError:
        raise
    except Exception as error:  # raised_by names these points, not the interior's
        error.checked_at = f"{BOUNDARY_POINTS} points of its boundary (boundary_value, {dtype})"
        raise


def boundary_tolerance(dtype: torch.dtype) -> float:
    """The largest |g| on the sphere that the hard constraint takes for 0: 1e-6 in float64,
    √ε of a lower precision (3.5e-4 in float32: a g = 0 computed there carries its round-off)."""
    return max(1e-6, torch.finfo(dtype).eps ** 0.5) if dtype != torch.float64 else 1e-6
