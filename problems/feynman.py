"""The 17 Feynman equations of the MetaKAN paper's Table 2, as a table of records.

Each record (name, formula, variables, sampling ranges) is one row of ``feynman.csv`` beside
this file; the formula is a sympy string, compiled once into a torch function by a small
mapping of sympy node types onto torch operations (no generated code is executed). Every
variable is drawn uniformly from its range, e.g. I.18.4, the centre of mass

    f(m1, r1, m2, r2) = (m1 r1 + m2 r2) / (m1 + m2),   m_i ∈ [0.5, 1], r_i ∈ [−1, 1].

``PAPER_TABLE2[name]`` holds the paper's KAN width and its reported MSE and parameter counts
for KAN / MetaKAN at grid sizes 5 and 20 (keys ``kan_g5``, ``kan_g5_params``, ...).
"""

from __future__ import annotations

import csv
import functools
import operator
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from pinnkan.problems import register_problem
from pinnkan.regression import Regression

TABLE_PATH = Path(__file__).with_name("feynman.csv")

Compiled = Callable[[Tensor], "Tensor | float"]


@dataclass(frozen=True)
class FeynmanEquation:
    """One row of the table: canonical name, sympy formula, variables and their ranges."""

    name: str
    formula: str
    variables: tuple[str, ...]
    ranges: tuple[tuple[float, float], ...]


def parse_ranges(text: str, variables: tuple[str, ...]) -> tuple[tuple[float, float], ...]:
    """``"v:[-1;1] c:[1;2]"`` -> ``((-1.0, 1.0), (1.0, 2.0))`` in the order of ``variables``."""
    found: dict[str, tuple[float, float]] = {}
    for item in text.split():
        variable, _, interval = item.partition(":")
        lower, _, upper = interval.strip("[]").partition(";")
        found[variable] = (float(lower), float(upper))
    if sorted(found) != sorted(variables):
        raise ValueError(f"ranges {text!r} do not name exactly the variables {variables}")
    return tuple(found[variable] for variable in variables)


def load_table(path: Path = TABLE_PATH) -> dict[str, FeynmanEquation]:
    """Read the CSV (columns name, formula, variables, ranges) into records keyed by name."""
    table: dict[str, FeynmanEquation] = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            variables = tuple(row["variables"].split())
            record = FeynmanEquation(
                row["name"], row["formula"], variables, parse_ranges(row["ranges"], variables)
            )
            if record.name in table:
                raise ValueError(f"equation {record.name!r} appears twice in {path}")
            table[record.name] = record
    return table


FEYNMAN_EQUATIONS: dict[str, FeynmanEquation] = load_table()


def _row(width: list[int], *numbers: float) -> dict[str, Any]:
    keys = ("kan_g5", "kan_g5_params", "metakan_g5", "metakan_g5_params")
    keys += ("kan_g20", "kan_g20_params", "metakan_g20", "metakan_g20_params")
    return {"width": width, **dict(zip(keys, numbers))}


# Paper Table 2: width, then (MSE, #params) for KAN G=5, MetaKAN G=5, KAN G=20, MetaKAN G=20.
PAPER_TABLE2: dict[str, dict[str, Any]] = {
    "I.6.20a": _row([1, 2, 1, 1], 5.94e-4, 58, 3.88e-4, 218, 1.01e-2, 134, 5.48e-3, 653),
    "I.6.20": _row([2, 2, 1, 1], 6.44e-3, 76, 2.67e-3, 210, 6.00e-3, 193, 4.15e-4, 439),
    "I.6.20b": _row([3, 5, 5, 5, 1], 4.16e-3, 646, 3.68e-3, 1083, 3.79e-2, 1976, 3.04e-2, 1798),
    "I.8.4": _row([4, 5, 5, 1], 1.30e-2, 979, 3.76e-3, 461, 1.16e-1, 1461, 8.33e-2, 1994),
    # Printed with 6 inputs although G m1 m2 / |r2 − r1|² has 9 variables (paper's typo or a
    # reduced form); FeynmanProblem.paper_width() puts the true input count first.
    "I.9.18": _row([6, 5, 5, 5, 1], 2.39e-3, 781, 1.70e-3, 993, 1.62e-2, 2556, 4.00e-3, 2029),
    "I.12.2": _row([4, 3, 3, 1], 2.83e-3, 223, 1.84e-3, 480, 1.19e-2, 751, 2.03e-3, 672),
    "I.12.4": _row([3, 3, 2, 1], 1.87e-3, 70, 1.04e-3, 159, 4.55e-3, 550, 6.13e-4, 665),
    "I.12.5": _row([2, 2, 1], 1.32e-3, 57, 1.16e-4, 30, 2.97e-2, 201, 2.24e-2, 330),
    "I.10.7": _row([3, 4, 4, 1, 1], 6.96e-3, 307, 5.98e-3, 115, 9.77e-3, 1132, 4.00e-3, 1329),
    "I.12.11": _row([5, 2, 2, 1], 8.73e-2, 149, 8.55e-2, 85, 2.58e-1, 565, 1.35e-1, 1312),
    "I.13.4": _row([4, 2, 1, 1], 4.22e-3, 103, 3.52e-3, 55, 1.84e-1, 400, 1.21e-1, 1955),
    "I.13.12": _row([5, 4, 4, 1], 3.41e-3, 369, 2.83e-3, 100, 1.77e-2, 1489, 3.09e-3, 1336),
    "I.14.3": _row([3, 2, 1], 4.53e-3, 75, 4.01e-3, 40, 4.66e-3, 307, 5.73e-3, 332),
    "I.14.4": _row([2, 2, 1, 1], 1.27e-3, 67, 2.08e-4, 35, 1.16e-2, 277, 1.69e-2, 319),
    "I.15.3x": _row([4, 3, 3, 1], 1.57e-2, 223, 5.38e-3, 80, 2.59e-1, 967, 2.33e-1, 181),
    "I.15.10": _row([3, 3, 2, 1], 8.45e-3, 159, 7.79e-3, 70, 7.93e-3, 703, 8.38e-3, 1313),
    "I.18.4": _row([4, 4, 3, 1], 2.21e-3, 287, 1.55e-3, 90, 4.63e-3, 1310, 8.19e-3, 189),
}


def _torch_functions() -> dict[type, Callable[[Tensor], Tensor]]:
    import sympy

    return {
        sympy.exp: torch.exp,
        sympy.log: torch.log,
        sympy.sin: torch.sin,
        sympy.cos: torch.cos,
        sympy.tan: torch.tan,
        sympy.asin: torch.asin,
        sympy.acos: torch.acos,
        sympy.atan: torch.atan,
        sympy.sinh: torch.sinh,
        sympy.cosh: torch.cosh,
        sympy.tanh: torch.tanh,
        sympy.Abs: torch.abs,
    }


def _compile_power(base: Compiled, exponent: Any, columns: dict[Any, int]) -> Compiled:
    """``base ** exponent`` with √ and 1/√ special-cased and integer powers kept exact."""
    if exponent.is_number:
        value = float(exponent)
        if value == 0.5:
            return lambda x: torch.sqrt(base(x))
        if value == -0.5:
            return lambda x: torch.rsqrt(base(x))
        power: int | float = int(value) if value.is_integer() else value
        return lambda x: base(x) ** power
    power_of = compile_expression(exponent, columns)
    return lambda x: torch.pow(base(x), power_of(x))


def compile_expression(node: Any, columns: dict[Any, int]) -> Compiled:
    """A sympy expression -> a function of ``x (n, dim)`` where symbol s is ``x[:, columns[s]]``.

    Constant sub-expressions are folded to Python floats once, so the function keeps the
    dtype and device of ``x``. Unsupported node types raise ValueError.
    """
    if node.is_number:
        constant = float(node)
        return lambda x: constant
    if node.is_Symbol:
        column = columns[node]
        return lambda x: x[:, column]
    if node.is_Pow:
        return _compile_power(compile_expression(node.base, columns), node.exp, columns)
    parts = [compile_expression(argument, columns) for argument in node.args]
    if node.is_Add:
        return lambda x: functools.reduce(operator.add, (part(x) for part in parts))
    if node.is_Mul:
        return lambda x: functools.reduce(operator.mul, (part(x) for part in parts))
    function = _torch_functions().get(type(node))
    if function is None or len(parts) != 1:
        raise ValueError(
            f"formula node {node!r} is not supported; use + - * / ** and elementary functions"
        )
    (argument,) = parts
    return lambda x: function(argument(x))


def compile_formula(formula: str, variables: tuple[str, ...]) -> tuple[Any, Compiled]:
    """Parse ``formula`` over ``variables`` with sympy -> (expression, torch function)."""
    import sympy  # imported here: only problems that are built pay for sympy

    symbols = {name: sympy.Symbol(name) for name in variables}
    expression = sympy.parse_expr(formula, local_dict=symbols)
    unknown = expression.free_symbols - set(symbols.values())
    if unknown:
        raise ValueError(f"formula {formula!r} uses {sorted(map(str, unknown))} beyond {variables}")
    columns = {symbol: index for index, symbol in enumerate(symbols.values())}
    return expression, compile_expression(expression, columns)


def canonical_name(variant: str) -> str:
    """Case-insensitive lookup: "i.15.3X" -> "I.15.3x"; unknown names raise ValueError."""
    by_lower = {name.lower(): name for name in FEYNMAN_EQUATIONS}
    if not isinstance(variant, str) or variant.lower() not in by_lower:
        allowed = ", ".join(FEYNMAN_EQUATIONS)
        raise ValueError(f"Feynman equation variant={variant!r} is not known; allowed: {allowed}")
    return by_lower[variant.lower()]


class FeynmanProblem(Regression):
    """Fit one Feynman equation, e.g. ``FeynmanProblem("I.12.5")``: f(q2, Ef) = q2·Ef."""

    def __init__(self, variant: str) -> None:
        record = FEYNMAN_EQUATIONS[canonical_name(variant)]
        super().__init__(f"feynman:{record.name}", list(record.variables), list(record.ranges))
        self.equation = record
        self.expression, self._function = compile_formula(record.formula, record.variables)

    def target(self, x: Tensor) -> Tensor:
        """f at raw points ``x (n, dim)`` -> ``(n,)``."""
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(
                f"x of shape {tuple(x.shape)} is not allowed; expected (n, {self.dim})"
            )
        value = self._function(x)
        if not isinstance(value, Tensor):
            return torch.full(x.shape[:1], value, dtype=x.dtype, device=x.device)
        return value

    def paper_width(self) -> list[int]:
        """The paper's KAN width for this equation, with ``dim`` as its input width."""
        return [self.dim, *PAPER_TABLE2[self.equation.name]["width"][1:]]

    def config(self) -> dict[str, Any]:
        return {**super().config(), "variant": self.equation.name, "formula": self.equation.formula}


def feynman_problem(variant: str | None = None) -> FeynmanProblem:
    """Registry factory: ``get_problem("feynman:I.12.5")``."""
    if variant is None:
        raise ValueError(f"feynman needs a variant; allowed: {', '.join(FEYNMAN_EQUATIONS)}")
    return FeynmanProblem(variant)


register_problem(
    "feynman", feynman_problem, "Feynman equations of the paper's Table 2 (feynman:I.12.5, ...)"
)
