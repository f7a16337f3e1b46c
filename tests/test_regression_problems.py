"""Regression problems: Feynman equations, high-dimensional functions, datasets.

Every target is compared with an independent hand-written numpy expression.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch
from scipy import stats

from pinnkan.problems.feynman import (
    FEYNMAN_EQUATIONS,
    PAPER_TABLE2,
    FeynmanProblem,
    compile_formula,
)
from pinnkan.problems.highdim import PAPER_META_HIDDEN, PAPER_TABLE4, HighDimProblem
from pinnkan.regression import RegressionData

NAMES = [
    "I.6.20a", "I.6.20", "I.6.20b", "I.8.4", "I.9.18", "I.10.7", "I.12.2", "I.12.4", "I.12.5",
    "I.12.11", "I.13.4", "I.13.12", "I.14.3", "I.14.4", "I.15.3x", "I.15.10", "I.18.4",
]  # fmt: skip

PI = np.pi

# name -> (variables in order, numpy function of a dict of columns); written from the paper.
NUMPY_FORMULAS = {
    "I.6.20a": ("theta", lambda v: np.exp(-(v["theta"] ** 2) / 2) / np.sqrt(2 * PI)),
    "I.6.20": (
        "theta sigma",
        lambda v: np.exp(-0.5 * (v["theta"] / v["sigma"]) ** 2) / (np.sqrt(2 * PI) * v["sigma"]),
    ),
    "I.6.20b": (
        "theta theta1 sigma",
        lambda v: (
            np.exp(-0.5 * ((v["theta"] - v["theta1"]) / v["sigma"]) ** 2)
            / (np.sqrt(2 * PI) * v["sigma"])
        ),
    ),
    "I.8.4": ("x1 x2 y1 y2", lambda v: np.hypot(v["x2"] - v["x1"], v["y2"] - v["y1"])),
    "I.9.18": (
        "G m1 m2 x1 x2 y1 y2 z1 z2",
        lambda v: v["G"] * v["m1"] * v["m2"] / sum((v[a + "2"] - v[a + "1"]) ** 2 for a in "xyz"),
    ),
    "I.10.7": ("m0 v c", lambda v: v["m0"] / np.sqrt(1 - (v["v"] / v["c"]) ** 2)),
    "I.12.2": (
        "q1 q2 epsilon r",
        lambda v: v["q1"] * v["q2"] / (4 * PI * v["epsilon"] * v["r"] ** 2),
    ),
    "I.12.4": ("q1 epsilon r", lambda v: v["q1"] / (4 * PI * v["epsilon"] * v["r"] ** 2)),
    "I.12.5": ("q2 Ef", lambda v: v["q2"] * v["Ef"]),
    "I.12.11": (
        "q Ef B v theta",
        lambda v: v["q"] * v["Ef"] + v["q"] * v["B"] * v["v"] * np.sin(v["theta"]),
    ),
    "I.13.4": ("m v u w", lambda v: 0.5 * v["m"] * (v["v"] ** 2 + v["u"] ** 2 + v["w"] ** 2)),
    "I.13.12": (
        "G m1 m2 r1 r2",
        lambda v: v["G"] * v["m1"] * v["m2"] * (1 / v["r2"] - 1 / v["r1"]),
    ),
    "I.14.3": ("m g z", lambda v: v["m"] * v["g"] * v["z"]),
    "I.14.4": ("k x", lambda v: 0.5 * v["k"] * v["x"] ** 2),
    "I.15.3x": (
        "x u t c",
        lambda v: (v["x"] - v["u"] * v["t"]) / np.sqrt(1 - v["u"] ** 2 / v["c"] ** 2),
    ),
    "I.15.10": ("m0 v c", lambda v: v["m0"] * v["v"] / np.sqrt(1 - v["v"] ** 2 / v["c"] ** 2)),
    "I.18.4": (
        "m1 r1 m2 r2",
        lambda v: (v["m1"] * v["r1"] + v["m2"] * v["r2"]) / (v["m1"] + v["m2"]),
    ),
}


def _columns(problem, x: torch.Tensor) -> dict[str, np.ndarray]:
    return {name: x[:, index].numpy() for index, name in enumerate(problem.variables)}


def test_all_seventeen_names_in_every_table():
    assert list(FEYNMAN_EQUATIONS) == NAMES
    assert set(PAPER_TABLE2) == set(NAMES)
    assert set(NUMPY_FORMULAS) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_feynman_target_matches_numpy(name):
    problem = FeynmanProblem(name)
    variables, reference = NUMPY_FORMULAS[name]
    assert problem.variables == variables.split()
    x = problem.sample(256, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y = problem.target(x)
    assert y.shape == (256,) and y.dtype == torch.float64
    np.testing.assert_allclose(y.numpy(), reference(_columns(problem, x)), rtol=1e-12, atol=1e-14)
    y32 = problem.target(x.float())
    assert y32.dtype == torch.float32
    np.testing.assert_allclose(y32.numpy(), y.numpy(), rtol=1e-4, atol=1e-5)


def test_paper_width_matches_input_dimension():
    for name in NAMES:
        problem, width = FeynmanProblem(name), PAPER_TABLE2[name]["width"]
        assert width[-1] == 1 and problem.paper_width()[1:] == width[1:], name
        assert problem.paper_width()[0] == problem.dim
        # The paper prints 6 inputs for I.9.18, whose formula has 9 variables.
        assert (width[0] == problem.dim) == (name != "I.9.18"), name


def test_formula_compiler_covers_powers_and_functions():
    _, function = compile_formula("x**y + Abs(x)**1.5 + log(y) - tanh(x)/sqrt(y)", ("x", "y"))
    x = torch.tensor([[-0.7, 2.0], [1.3, 0.4]], dtype=torch.float64)
    a, b = x[:, 0].numpy(), x[:, 1].numpy()
    expected = a**b + np.abs(a) ** 1.5 + np.log(b) - np.tanh(a) / np.sqrt(b)
    np.testing.assert_allclose(function(x).numpy(), expected, rtol=1e-13)
    with pytest.raises(ValueError, match="gamma"):
        compile_formula("gamma(x)", ("x",))
    with pytest.raises(ValueError, match="z"):
        compile_formula("x*z", ("x",))


def test_centre_of_mass_is_not_torque():
    problem = FeynmanProblem("I.18.4")
    assert problem.variables == ["m1", "r1", "m2", "r2"]
    assert "sin" not in problem.equation.formula
    # Equal masses: the midpoint. Masses 1 and 3 at -1 and 1: (−1 + 3)/4 = 0.5.
    x = torch.tensor([[0.7, -0.4, 0.7, 0.8], [1.0, -1.0, 3.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(problem.target(x), torch.tensor([0.2, 0.5], dtype=torch.float64))
    # A convex combination of r1, r2 for positive masses, unlike a torque r·F·sinθ.
    x = problem.sample(500, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    y = problem.target(x)
    low, high = torch.minimum(x[:, 1], x[:, 3]), torch.maximum(x[:, 1], x[:, 3])
    assert bool(((y >= low - 1e-12) & (y <= high + 1e-12)).all())
    for r, force, theta in itertools.permutations(range(4), 3):
        torque = x[:, r] * x[:, force] * torch.sin(x[:, theta])
        assert (y - torque).abs().max() > 0.1, (r, force, theta)


def test_feynman_lookup_is_case_insensitive_and_rejects_unknown():
    assert FeynmanProblem("i.15.3X").name == "feynman:I.15.3x"
    assert FeynmanProblem("I.6.20A").equation.name == "I.6.20a"
    with pytest.raises(ValueError, match=r"'I\.99\.1'.*I\.6\.20a.*I\.18\.4"):
        FeynmanProblem("I.99.1")


@pytest.mark.parametrize("name", NAMES)
def test_sample_is_uniform_in_each_range(name):
    problem = FeynmanProblem(name)
    x = problem.sample(2000, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    for index, (lower, upper) in enumerate(problem.ranges):
        column = x[:, index].numpy()
        assert column.min() >= lower and column.max() <= upper
        result = stats.kstest(column, stats.uniform(loc=lower, scale=upper - lower).cdf)
        assert result.pvalue > 1e-3, (problem.variables[index], result)


def test_ranges_come_from_the_table():
    assert FeynmanProblem("I.18.4").ranges == [(0.5, 1.0), (-1.0, 1.0), (0.5, 1.0), (-1.0, 1.0)]
    assert FeynmanProblem("I.15.10").ranges == [(-1.0, 1.0), (-0.9, 0.9), (1.1, 2.0)]


HIGHDIM_NUMPY = {
    "f1": lambda x: np.exp(np.mean(np.sin(PI * x / 2) ** 2, axis=1)),
    "f2": lambda x: np.sum(x**2 + x**3, axis=1),
    "f3": lambda x: np.exp(-np.mean(x**2, axis=1)),
}


@pytest.mark.parametrize("variant", ["f1", "f2", "f3"])
@pytest.mark.parametrize("dim", [1, 10, 100])
def test_highdim_target_matches_numpy(variant, dim):
    problem = HighDimProblem(variant, dim=dim)
    assert problem.dim == dim and problem.ranges == [(-1.0, 1.0)] * dim
    x = problem.sample(64, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    assert float(x.abs().max()) <= 1.0
    np.testing.assert_allclose(problem.target(x).numpy(), HIGHDIM_NUMPY[variant](x.numpy()))


def test_highdim_known_values():
    ones = torch.ones(1, 4, dtype=torch.float64)
    assert float(HighDimProblem("f1", 4).target(ones)) == pytest.approx(np.e)
    assert float(HighDimProblem("f2", 4).target(-ones)) == pytest.approx(0.0)
    assert float(HighDimProblem("f2", 4).target(ones)) == pytest.approx(8.0)
    assert float(HighDimProblem("f3", 4).target(0 * ones)) == pytest.approx(1.0)


@pytest.mark.parametrize("dim", [0, -3, 2.5, True, "10"])
def test_highdim_rejects_bad_dim(dim):
    with pytest.raises(ValueError, match=rf"dim={dim!r}"):
        HighDimProblem("f1", dim=dim)


def test_highdim_rejects_bad_variant():
    with pytest.raises(ValueError, match=r"'f4'.*f1, f2, f3"):
        HighDimProblem("f4")


def test_paper_table4_is_consistent():
    assert set(PAPER_TABLE4) == {"f1", "f2", "f3"}
    assert PAPER_META_HIDDEN == {10: 8, 20: 16, 50: 32, 100: 32, 500: 64, 1000: 64}
    for variant, rows in PAPER_TABLE4.items():
        assert list(rows) == [10, 20, 50, 100, 500, 1000]
        for n, row in rows.items():
            assert row["width"] == [n, 1, 1] and row["meta_hidden"] == PAPER_META_HIDDEN[n]
            if variant != "f2":  # KAN [n,1,1], G=5, k=3: (n + 1)·9 coefficients + 2 biases
                assert row["kan_params"] == (n + 1) * 9 + 2
    assert PAPER_TABLE4["f2"][50]["kan_mse"] is None


def test_dataset_is_reproducible_and_seeds_differ():
    problem = FeynmanProblem("I.12.11")
    first, again = problem.dataset(50, 40, seed=7), problem.dataset(50, 40, seed=7)
    other = problem.dataset(50, 40, seed=8)
    assert isinstance(first, RegressionData)
    assert first.x_train.shape == (50, 5) and first.y_test.shape == (40,)
    for field in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(first, field), getattr(again, field))
        assert not torch.equal(getattr(first, field), getattr(other, field))
    assert not torch.equal(first.x_train[:40], first.x_test)
    torch.testing.assert_close(first.y_train, problem.target(first.x_train))
    wide = problem.dataset(50, 40, seed=7, dtype=torch.float64)
    torch.testing.assert_close(wide.x_train.float(), first.x_train)


def test_normalize_maps_box_onto_unit_cube_and_back():
    problem = FeynmanProblem("I.9.18")
    data = problem.dataset(2000, 100, seed=0, normalize=True, dtype=torch.float64)
    raw = problem.dataset(2000, 100, seed=0, normalize=False, dtype=torch.float64)
    assert raw.normalization is None and torch.equal(raw.model_inputs(raw.x_test), raw.x_test)
    assert float(data.x_train.abs().max()) <= 1.0
    assert float(data.x_train.min(dim=0).values.max()) < -0.99
    assert float(data.x_train.max(dim=0).values.min()) > 0.99
    torch.testing.assert_close(data.raw_inputs(data.x_train), raw.x_train)
    torch.testing.assert_close(data.model_inputs(raw.x_test), data.x_test)
    torch.testing.assert_close(data.y_train, raw.y_train)
    torch.testing.assert_close(problem.target(data.raw_inputs(data.x_test)), data.y_test)
    box = data.normalization
    corners = torch.tensor([box.lower, box.upper], dtype=torch.float64)
    expected = torch.tensor([[-1.0] * 9, [1.0] * 9], dtype=torch.float64)
    torch.testing.assert_close(box.apply(corners), expected)


@pytest.mark.parametrize(
    ("call", "bad"),
    [
        (lambda p: p.sample(0), "n=0"),
        (lambda p: p.dataset(n_train=0), "n_train=0"),
        (lambda p: p.dataset(n_test=-1), "n_test=-1"),
        (lambda p: p.dataset(n_train=2.0), "n_train=2.0"),
        (lambda p: p.dataset(normalize="yes"), "normalize='yes'"),
        (lambda p: p.sample(3, dtype=torch.int64), "dtype=torch.int64"),
        (lambda p: p.target(torch.zeros(3, 5)), r"\(3, 5\)"),
    ],
)
def test_bad_arguments_raise(call, bad):
    with pytest.raises(ValueError, match=bad):
        call(FeynmanProblem("I.12.5"))


def test_config_is_plain_data():
    config = FeynmanProblem("I.12.5").config()
    assert json.loads(json.dumps(config)) == config
    assert config["variant"] == "I.12.5" and config["formula"] == "q2*Ef" and config["dim"] == 2
    high = HighDimProblem("f3", dim=20).config()
    assert high["variant"] == "f3" and high["dim"] == 20
    assert json.loads(json.dumps(high)) == high


def _registry():
    import pinnkan.problems as problems

    if not hasattr(problems, "get_problem"):
        pytest.skip("problems/__init__.py has no get_problem registry yet")
    return problems


def test_registry_builds_feynman_and_highdim():
    problems = _registry()
    feynman = problems.get_problem("feynman:I.12.5")
    assert isinstance(feynman, FeynmanProblem) and feynman.name == "feynman:I.12.5"
    high = problems.get_problem("highdim:f2", dim=100)
    assert isinstance(high, HighDimProblem) and high.dim == 100 and high.variant == "f2"
    with pytest.raises(ValueError, match="I.99"):
        problems.get_problem("feynman:I.99")
