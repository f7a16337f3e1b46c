"""Symbolic formulas: edge fits recover known functions; pruning; one formula for a network."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sympy
import torch

from pinnkan import build_model
from pinnkan.cli import main
from pinnkan.fit import FitConfig, fit
from pinnkan.grid import fit_edge_coefficients
from pinnkan.symbolic import symbolic_network
from pinnkan.symbolic_edge import LIBRARY, fit_edge

GENERATOR = np.random.default_rng(0)
X = GENERATOR.uniform(-1, 1, 400)

KNOWN = {
    "sin": 0.7 * np.sin(2.3 * X + 0.4) - 0.2,
    "x^2": 1.5 * (X - 0.3) ** 2 + 1,
    "x^3": 2 * (X + 0.5) ** 3,
    "exp": np.exp(1.2 * X),
    "log": np.log(2 * X + 3),
    "tanh": np.tanh(3 * X),
    "1/x": 1 / (X + 2),
    "sqrt": np.sqrt(X + 1.5),
    "abs": np.abs(X - 0.2),
    "x": 2 * X + 1,
}


@pytest.mark.parametrize("name", list(KNOWN))
def test_edge_fit_recovers_library_functions(name: str) -> None:
    chosen, (a, b, c, d), r2 = fit_edge(X, KNOWN[name])
    assert chosen == name
    assert r2 > 1 - 1e-9
    fitted = c * LIBRARY[name].numeric(a * X + b) + d
    assert np.max(np.abs(fitted - KNOWN[name])) < 1e-5


def test_noise_is_not_a_function() -> None:
    noise = GENERATOR.normal(size=X.shape)
    _, _, r2 = fit_edge(X, noise)
    assert r2 < 0.2


def edge_as(model, layer: int, target: int, source: int, function, grid_x: torch.Tensor) -> None:
    """Set edge (layer, source -> target) to ``function`` by least squares on its basis."""
    family = model.layers[layer].family
    inputs = grid_x.expand(-1, model.layers[layer].in_features)
    values = torch.zeros(grid_x.shape[0], model.layers[layer].in_features, 1, dtype=torch.float64)
    values[:, source, 0] = function(grid_x[:, 0])
    coefficients = fit_edge_coefficients(family.basis(inputs), values, ridge=1e-12)
    with torch.no_grad():
        model.coefficients.weights[layer][target, source] = coefficients[0, source]


def test_network_edge_set_to_sin_is_recovered_and_small_edges_pruned() -> None:
    model = build_model("kan", [2, 1], grid=20, bias=False).double()
    grid_x = torch.linspace(-1, 1, 400, dtype=torch.float64)[:, None]
    edge_as(model, 0, 0, 0, lambda t: 0.8 * torch.sin(2.0 * t + 0.5), grid_x)
    edge_as(model, 0, 0, 1, lambda t: 1e-4 * t, grid_x)
    x = torch.rand(500, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2 - 1
    result = symbolic_network(model, x, ["u", "v"], threshold=0.01)
    first, second = result.edges
    assert (first.name, first.pruned) == ("sin", False)
    assert first.r2 > 1 - 1e-8
    assert second.pruned
    u, v = sympy.symbols("u v")
    assert result.expression.free_symbols == {u}
    expected = 0.8 * np.sin(2.0 * x[:, 0].numpy() + 0.5)
    assert np.max(np.abs(result.evaluate(x.numpy()) - expected)) < 1e-4


def test_formula_composes_layers_with_the_normalisation() -> None:
    """[1, 1, 1] with edges z -> z² then h -> 2h + 1 on x ∈ [0, 4], z = x/2 − 1."""
    model = build_model("kan", [1, 1, 1], grid=10, grid_range=(-1.5, 1.5), bias=False).double()
    grid_x = torch.linspace(-1.5, 1.5, 400, dtype=torch.float64)[:, None]
    edge_as(model, 0, 0, 0, lambda t: t**2, grid_x)
    edge_as(model, 1, 0, 0, lambda t: 2 * t + 1, grid_x)
    z = torch.linspace(-1, 1, 300, dtype=torch.float64)[:, None]
    result = symbolic_network(model, z, ["x"], normalization={"lower": [0.0], "upper": [4.0]})
    x = sympy.Symbol("x")
    target = 2 * (x / 2 - 1) ** 2 + 1
    difference = sympy.expand(result.expression - target)
    coefficients = sympy.Poly(difference, x).all_coeffs()
    assert max(abs(float(value)) for value in coefficients) < 1e-6


@pytest.fixture(scope="module")
def product_run(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("symbolic") / "i125.h5"
    config = FitConfig(
        problem="feynman:I.12.5",
        model="kan",
        width=[2, 2, 1],
        model_options={"grid": 5},
        steps=6,
        train_points=400,
        test_points=300,
        normalize=True,
        standardize=True,
        seed=0,
    )
    fit(config, str(path))
    return path


def test_formula_of_a_network_trained_on_a_product(product_run: Path, capsys) -> None:
    assert main(["symbolic", str(product_run)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("formula: f(q2, Ef) = ")
    assert "R² = " in printed
    last = printed.strip().splitlines()[-1]
    formula_mse = float(last.split("formula ")[1].split(",")[0])
    network_mse = float(last.split("network ")[1])
    assert network_mse < 1e-3
    assert formula_mse <= 10 * network_mse


def test_symbolic_refuses_bad_arguments(product_run: Path, capsys) -> None:
    assert main(["symbolic", str(product_run), "--threshold", "2"]) == 2
    assert main(["symbolic", str(product_run), "--library", "x,cosh"]) == 2
    assert "cosh" in capsys.readouterr().err
    assert main(["symbolic", "missing.h5"]) == 2


@pytest.mark.parametrize("library", ["", " , ", ","])
def test_symbolic_refuses_an_empty_library(product_run: Path, capsys, library: str) -> None:
    assert main(["symbolic", str(product_run), "--library", library]) == 2
    err = capsys.readouterr().err
    assert "library" in err and "is empty" in err and "max()" not in err
    assert ", ".join(LIBRARY) in err
    model = build_model("kan", width=[2, 1])
    with pytest.raises(ValueError, match="is empty"):
        symbolic_network(model, torch.rand(10, 2), ["x0", "x1"], names=[])


@pytest.mark.parametrize("frequency", [12.0, 25.0])
def test_edge_fit_finds_sin_of_higher_frequencies(frequency: float) -> None:
    """|a| ≤ 8 in the grid search: sin(12x) came out as tanh with R² = 0.12."""
    x = np.linspace(-1, 1, 400)
    name, (a, _, c, _), r2 = fit_edge(x, np.sin(frequency * x + 0.3))
    assert name == "sin" and r2 > 1 - 1e-9
    assert abs(abs(a) - frequency) < 1e-6 and abs(abs(c) - 1) < 1e-6


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        (np.linspace(-1, 1, 10), np.r_[np.nan, np.ones(9)], "not finite .* at 1 of 10"),
        (np.zeros(0), np.zeros(0), r"shapes \(0,\) and \(0,\)"),
        (np.zeros(5), np.zeros(4), r"shapes \(5,\) and \(4,\)"),
    ],
)
def test_edge_fit_refuses_bad_samples(x, y, message) -> None:
    """A NaN gave ('0', (1, 0, 0, nan), R² = 0.0); an empty sample numpy's zero-size error."""
    with pytest.raises(ValueError, match=message):
        fit_edge(x, y)
