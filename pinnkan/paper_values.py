"""The MetaKAN paper's published numbers, matched to a run of ours for ``pinnkan report``.

- PDEs: Table 8, relative ℓ2 error on the unit d-ball for Poisson, Allen–Cahn and Sine–Gordon
  at d = 20, 50, 100 with KAN or MetaKAN of width [d, 32, 32, 32, 1], G = 5, k = 3 and
  meta-learner hidden size 128;
- Feynman regression: Table 2 (:data:`pinnkan.problems.feynman.PAPER_TABLE2`), KAN / MetaKAN
  at grid 5 or 20;
- high-dimensional fitting: Table 4 (:data:`pinnkan.problems.highdim.PAPER_TABLE4`), f1, f2, f3
  with structure [n, 1, 1] at n = 10 … 1000.

A run gets the paper's value of its (problem, dimension, model); ``same_architecture`` says
whether its architecture is the paper's (if not, the report marks the number with †): the
table's width and meta-learner size; its grid, order k, grid range and node biases (Table 8:
G = 5, k = 3, [-1, 1], no biases, and the paper's parameter count, which we reproduce; Tables 2
and 4: k = 3, [-1, 1], biases, as pykan, and G = 5 in Table 4); one prompt per edge, one
cluster, a ReLU meta-learner, no option the paper does not have (MetaKAN's ``node_mean``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .report import RunFacts

# MetaKAN paper, Table 8: relative ℓ2 error on the unit d-ball, (KAN, MetaKAN) per dimension.
PAPER_TABLE8: dict[str, dict[int, dict[str, float]]] = {
    "poisson": {
        20: {"kan": 5.24e-4, "metakan": 2.96e-3},
        50: {"kan": 2.14e-3, "metakan": 4.85e-3},
        100: {"kan": 3.77e-3, "metakan": 4.59e-3},
    },
    "allen_cahn": {
        20: {"kan": 1.36e-3, "metakan": 3.66e-3},
        50: {"kan": 2.36e-3, "metakan": 6.10e-3},
        100: {"kan": 6.53e-3, "metakan": 3.37e-3},
    },
    "sine_gordon": {
        20: {"kan": 2.66e-1, "metakan": 2.69e-1},
        50: {"kan": 6.08e-2, "metakan": 5.88e-2},
        100: {"kan": 1.91e-2, "metakan": 2.60e-2},
    },
}
PAPER_TABLE8_PARAMS = {
    "kan": {20: 24_480, 50: 33_120, 100: 47_520},
    "metakan": {20: 4_137, 50: 5_097, 100: 6_697},
}
PAPER_PDE_HIDDEN = [32, 32, 32]  # width [d, 32, 32, 32, 1], G = 5, k = 3, meta hidden 128
PAPER_PDE_OPTIONS = {"grid": 5, "k": 3, "grid_range": [-1.0, 1.0]}
PAPER_META_HIDDEN_PDE = 128
PAPER_FIT_OPTIONS = {"k": 3, "bias": True, "grid_range": [-1.0, 1.0]}  # Tables 2 and 4 (pykan's)


@dataclass(frozen=True)
class PaperValue:
    """A published number: metric value, parameter count, where from, and whether the run's
    architecture is the paper's (if not, the numbers are shown but marked)."""

    value: float | None
    params: int | None
    source: str
    same_architecture: bool


def canonical_problem(name: str) -> str:
    return name.lower().replace("-", "_")


#: Meta-learner settings of every table of the paper (absent keys: a model without them).
PAPER_META_OPTIONS = {"prompt_dim": 1, "clusters": 1, "meta_activation": "relu", "node_mean": False}


def paper_extensions_off(config: dict) -> bool:
    """False when the run's meta-learner differs from the paper's (:data:`PAPER_META_OPTIONS`:
    prompt size, clusters, activation) or uses an option the paper does not have (``node_mean``)."""
    return all(config.get(key, value) == value for key, value in PAPER_META_OPTIONS.items())


def as_list(value):
    """A run file's ranges are lists, a model's defaults tuples: compare them as lists."""
    return list(value) if isinstance(value, tuple) else value


def has_options(config: dict, expected: dict) -> bool:
    """Every ``expected`` option has its value in ``config`` (absent: the default, taken as the
    paper's)."""
    return all(as_list(config.get(key, value)) == value for key, value in expected.items())


def pde_paper_value(fact: RunFacts) -> PaperValue | None:
    """Table 8 for poisson / allen_cahn / sine_gordon at d = 20, 50, 100 with KAN or MetaKAN."""
    row = PAPER_TABLE8.get(canonical_problem(fact.problem), {}).get(fact.dim or 0)
    if row is None or fact.model not in row:
        return None
    config = fact.model_config
    same = config.get("width") == [fact.dim, *PAPER_PDE_HIDDEN, 1]
    same = same and has_options(config, PAPER_PDE_OPTIONS)
    if fact.model == "metakan":
        same = same and config.get("meta_hidden") == PAPER_META_HIDDEN_PDE
    params = PAPER_TABLE8_PARAMS[fact.model][fact.dim]
    same = same and paper_extensions_off(config) and fact.params in (None, params)
    return PaperValue(row[fact.model], params, "Table 8", same)


def feynman_paper_value(fact: RunFacts) -> PaperValue | None:
    """Table 2: KAN / MetaKAN at grid 5 or 20 (structure as printed in the paper)."""
    from .problems.feynman import PAPER_TABLE2

    variant = fact.problem_config.get("variant") or fact.problem.partition(":")[2]
    row = PAPER_TABLE2.get(str(variant))
    grid = fact.model_config.get("grid")
    key = f"{fact.model}_g{grid}"
    if row is None or key not in row:
        return None
    width = fact.model_config.get("width")
    same = isinstance(width, list) and width[1:] == row["width"][1:]
    same = same and has_options(fact.model_config, PAPER_FIT_OPTIONS)
    same = same and paper_extensions_off(fact.model_config)
    return PaperValue(row[key], row[f"{key}_params"], "Table 2", same)


def highdim_paper_value(fact: RunFacts) -> PaperValue | None:
    """Table 4: f1, f2, f3 with structure [n, 1, 1] at n = 10 … 1000."""
    from .problems.highdim import PAPER_TABLE4

    variant = fact.problem_config.get("variant") or fact.problem.partition(":")[2]
    row = PAPER_TABLE4.get(str(variant), {}).get(fact.dim or 0)
    if row is None or fact.model not in ("kan", "metakan"):
        return None
    config = fact.model_config
    same = config.get("width") == row["width"]
    same = same and has_options(config, {**PAPER_FIT_OPTIONS, "grid": 5})
    if fact.model == "metakan":
        same = same and config.get("meta_hidden") == row["meta_hidden"]
    same = same and paper_extensions_off(config)
    return PaperValue(row[f"{fact.model}_mse"], row[f"{fact.model}_params"], "Table 4", same)


def paper_value(fact: RunFacts) -> PaperValue | None:
    """The paper's number for this run's (problem, dimension, model), or None; None for user
    problems (given as ``file.py:Class``) even when their ``name`` is a built-in's."""
    if not getattr(fact, "builtin", True):
        return None
    if fact.kind == "pde":
        return pde_paper_value(fact)
    prefix = canonical_problem(fact.problem).partition(":")[0]
    if prefix == "feynman":
        return feynman_paper_value(fact)
    if prefix == "highdim":
        return highdim_paper_value(fact)
    return None
