"""The paper's high-dimensional fitting functions (Appendix C.1, Table 4) on ``[-1, 1]^n``:

    f1(x) = exp( (1/n) Σ_i sin²(π x_i / 2) )
    f2(x) = Σ_i (x_i² + x_i³)
    f3(x) = exp( −(1/n) Σ_i x_i² )

for any n ≥ 1 (the paper uses n = 10 … 1000 with a KAN of width [n, 1, 1]).
``PAPER_TABLE4[variant][n]`` holds the reported parameter counts and MSE of KAN and MetaKAN
(None where the paper reports "NA"); ``PAPER_META_HIDDEN[n]`` the meta-learner hidden sizes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from torch import Tensor

from pinnkan.problems import register_problem
from pinnkan.regression import Regression
from pinnkan.validation import check_int


def f1(x: Tensor) -> Tensor:
    """exp(mean_i sin²(π x_i / 2)), ``(n, dim) -> (n,)``."""
    return (math.pi * x / 2).sin().square().mean(dim=1).exp()


def f2(x: Tensor) -> Tensor:
    """Σ_i (x_i² + x_i³), ``(n, dim) -> (n,)``."""
    return (x.square() + x.pow(3)).sum(dim=1)


def f3(x: Tensor) -> Tensor:
    """exp(−mean_i x_i²), ``(n, dim) -> (n,)``."""
    return (-x.square().mean(dim=1)).exp()


FUNCTIONS: dict[str, Callable[[Tensor], Tensor]] = {"f1": f1, "f2": f2, "f3": f3}

FORMULAS = {
    "f1": "exp(mean(sin(pi*x/2)**2))",
    "f2": "sum(x**2 + x**3)",
    "f3": "exp(-mean(x**2))",
}

PAPER_META_HIDDEN = {10: 8, 20: 16, 50: 32, 100: 32, 500: 64, 1000: 64}

# Paper Table 4 rows: (n, KAN #params, KAN MSE, MetaKAN #params, MetaKAN MSE); None = "NA".
_TABLE4_ROWS = {
    "f1": [
        (10, 101, 5.92e-4, 97, 5.85e-4),
        (20, 191, 4.63e-4, 108, 4.97e-4),
        (50, 461, 5.52e-4, 130, 1.40e-3),
        (100, 911, 7.00e-3, 229, 1.45e-3),
        (500, 4511, 2.46e-1, 339, 4.62e-3),
        (1000, 9011, 4.14e-1, 713, 1.48e-2),
    ],
    "f2": [
        (10, 191, 3.11e-3, 119, 7.06e-4),
        (20, 371, 2.63e-3, 141, 2.26e-4),
        (50, 911, None, 185, 1.15e-3),
        (100, 1811, 1.74, 361, 1.16e-2),
        (500, 9011, 1.83e2, 889, 5.52e-2),
        (1000, 18011, 1.68e2, 1329, 1.43e-1),
    ],
    "f3": [
        (10, 101, 1.47e-4, 97, 3.39e-4),
        (20, 191, 1.11e-5, 108, 3.42e-5),
        (50, 461, 3.46e-4, 174, 3.19e-4),
        (100, 911, 5.12e-4, 229, 6.47e-4),
        (500, 4511, 3.69e-2, 669, 8.83e-3),
        (1000, 9011, 9.70e-2, 2759, 3.94e-3),
    ],
}


def _record(
    n: int, kan_params: int, kan_mse: float | None, meta_params: int, meta_mse: float | None
) -> dict[str, Any]:
    return {
        "width": [n, 1, 1],
        "meta_hidden": PAPER_META_HIDDEN[n],
        "kan_params": kan_params,
        "kan_mse": kan_mse,
        "metakan_params": meta_params,
        "metakan_mse": meta_mse,
    }


PAPER_TABLE4: dict[str, dict[int, dict[str, Any]]] = {
    variant: {row[0]: _record(*row) for row in rows} for variant, rows in _TABLE4_ROWS.items()
}


class HighDimProblem(Regression):
    """Fit f1, f2 or f3 on ``[-1, 1]^dim``, e.g. ``HighDimProblem("f2", dim=100)``."""

    def __init__(self, variant: str, dim: int = 10) -> None:
        if variant not in FUNCTIONS:
            raise ValueError(
                f"high-dimensional variant={variant!r} is not known; allowed: f1, f2, f3"
            )
        check_int("dim", dim, 1)
        variables = [f"x{index}" for index in range(1, dim + 1)]
        super().__init__(f"highdim:{variant}", variables, [(-1.0, 1.0)] * dim)
        self.variant = variant
        self.formula = FORMULAS[variant]
        self._function = FUNCTIONS[variant]

    def target(self, x: Tensor) -> Tensor:
        """f at points ``x (n, dim)`` -> ``(n,)``."""
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(
                f"x of shape {tuple(x.shape)} is not allowed; expected (n, {self.dim})"
            )
        return self._function(x)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "variant": self.variant, "formula": self.formula}


def highdim_problem(variant: str | None = None, dim: int = 10) -> HighDimProblem:
    """Registry factory: ``get_problem("highdim:f2", dim=100)``."""
    if variant is None:
        raise ValueError("highdim needs a variant; allowed: f1, f2, f3")
    return HighDimProblem(variant, dim=dim)


register_problem(
    "highdim", highdim_problem, "high-dimensional fitting f1, f2, f3 on [-1,1]^dim (highdim:f2)"
)
