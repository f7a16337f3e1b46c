"""Ball sampling: radial laws (Kolmogorov–Smirnov), uniform directions, seeds, dtypes, errors."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats

from pinnkan.geometry import LAWS, Ball


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("law", LAWS)
@pytest.mark.parametrize("dim", [2, 5, 50])
def test_radial_law_matches_its_cdf_and_not_the_other(law: str, dim: int):
    ball = Ball(dim, radius=2.5)
    x = ball.sample_interior(3000, law=law, generator=generator(dim), dtype=torch.float64)
    radii = x.norm(dim=1).numpy()
    expected = stats.kstest(radii, lambda r: ball.radial_cdf(torch.as_tensor(r), law).numpy())
    assert expected.pvalue > 1e-3
    other = LAWS[1 - LAWS.index(law)]
    wrong = stats.kstest(radii, lambda r: ball.radial_cdf(torch.as_tensor(r), other).numpy())
    assert wrong.pvalue < 1e-6


def test_radial_cdf_formulas():
    ball = Ball(3, radius=2.0)
    r = torch.tensor([-1.0, 0.0, 1.0, 2.0, 3.0], dtype=torch.float64)
    volume = torch.tensor([0.0, 0.0, 0.125, 1.0, 1.0], dtype=torch.float64)
    radial = torch.tensor([0.0, 0.0, 0.5, 1.0, 1.0], dtype=torch.float64)
    torch.testing.assert_close(ball.radial_cdf(r, "volume"), volume)
    torch.testing.assert_close(ball.radial_cdf(r, "radial"), radial)


def test_one_dimensional_volume_law_is_uniform_on_the_interval():
    x = Ball(1, radius=3.0).sample_interior(3000, generator=generator(1), dtype=torch.float64)
    assert x.shape == (3000, 1)
    assert stats.kstest(x[:, 0].numpy(), stats.uniform(loc=-3.0, scale=6.0).cdf).pvalue > 1e-3


def direction_moments(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    directions = points / points.norm(dim=1, keepdim=True)
    return directions.mean(dim=0), directions.T @ directions / len(directions)


@pytest.mark.parametrize("dim", [2, 5, 50])
@pytest.mark.parametrize("where", ["interior", "boundary"])
def test_directions_are_uniform(dim: int, where: str):
    ball, n = Ball(dim), 20000
    if where == "interior":
        points = ball.sample_interior(n, law="radial", generator=generator(7), dtype=torch.float64)
    else:
        points = ball.sample_boundary(n, generator=generator(7), dtype=torch.float64)
    mean, second_moment = direction_moments(points)
    # each coordinate of a uniform direction has variance 1/d: 5 standard errors
    assert mean.abs().max() < 5.0 / math.sqrt(n * dim)
    identity = torch.eye(dim, dtype=torch.float64) / dim
    assert (second_moment - identity).abs().max() < 6.0 / (dim * math.sqrt(n))


def coordinate_marginal_p_value(directions: torch.Tensor, coordinate: int) -> float:
    """Kolmogorov–Smirnov p-value of one coordinate of unit vectors in R^d against the exact
    marginal of the uniform law on the sphere: (x_i + 1)/2 ~ Beta((d − 1)/2, (d − 1)/2)."""
    a = (directions.shape[1] - 1) / 2
    values = (directions[:, coordinate].numpy() + 1) / 2
    return float(stats.kstest(values, stats.beta(a, a).cdf).pvalue)


@pytest.mark.parametrize("dim", [2, 5, 50])
@pytest.mark.parametrize("where", ["interior", "boundary"])
def test_direction_coordinates_have_the_uniform_spheres_marginal(dim: int, where: str):
    """The moments above are matched by any law symmetric under sign flips and coordinate
    swaps (normalised uniform-cube draws too); the marginal distribution is not."""
    ball, n = Ball(dim), 20000
    if where == "interior":
        points = ball.sample_interior(n, law="radial", generator=generator(7), dtype=torch.float64)
    else:
        points = ball.sample_boundary(n, generator=generator(7), dtype=torch.float64)
    directions = points / points.norm(dim=1, keepdim=True)
    for coordinate in (0, dim - 1):
        assert coordinate_marginal_p_value(directions, coordinate) > 1e-3


@pytest.mark.parametrize("dim", [2, 5, 50])
def test_normalised_cube_draws_would_be_caught(dim: int):
    cube = torch.rand(20000, dim, generator=generator(7), dtype=torch.float64) * 2 - 1
    directions = cube / cube.norm(dim=1, keepdim=True)
    assert coordinate_marginal_p_value(directions, 0) < 1e-6


def test_a_biased_direction_law_would_be_caught():
    points = Ball(5).sample_boundary(20000, generator=generator(7), dtype=torch.float64)
    points[:, 0] = points[:, 0].abs()  # directions folded onto a half-space
    mean, _ = direction_moments(points)
    assert mean.abs().max() > 5.0 / math.sqrt(20000 * 5)


@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_boundary_points_lie_on_the_sphere(dtype: torch.dtype, tolerance: float):
    ball = Ball(7, radius=1.5)
    x = ball.sample_boundary(500, generator=generator(), dtype=dtype)
    assert x.dtype == dtype and x.shape == (500, 7)
    torch.testing.assert_close(
        x.norm(dim=1), torch.full((500,), 1.5, dtype=dtype), atol=tolerance, rtol=0.0
    )
    assert ball.boundary_factor(x).abs().max() < 10 * tolerance


@pytest.mark.parametrize("law", LAWS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_interior_points_are_inside(law: str, dtype: torch.dtype):
    ball = Ball(100, radius=0.5)
    x = ball.sample_interior(2000, law=law, generator=generator(3), dtype=dtype)
    assert x.dtype == dtype and x.shape == (2000, 100)
    assert bool(ball.contains(x, tolerance=1e-6).all())
    assert bool((ball.boundary_factor(x) >= -1e-5).all())


def test_boundary_factor_formula():
    ball = Ball(3, radius=2.0)
    x = torch.tensor([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [1.0, 1.0, 1.0]], dtype=torch.float64)
    expected = torch.tensor([1.0, 0.0, 0.25], dtype=torch.float64)
    torch.testing.assert_close(ball.boundary_factor(x), expected)


@pytest.mark.parametrize("where", ["interior", "boundary"])
def test_same_seed_same_points_different_seed_different_points(where: str):
    ball = Ball(4)

    def draw(seed: int) -> torch.Tensor:
        if where == "interior":
            return ball.sample_interior(50, generator=generator(seed))
        return ball.sample_boundary(50, generator=generator(seed))

    torch.testing.assert_close(draw(11), draw(11), rtol=0.0, atol=0.0)
    assert not torch.allclose(draw(11), draw(12))


def test_dtype_and_device_are_honoured():
    ball = Ball(3)
    assert ball.sample_interior(4, dtype=torch.float64).dtype == torch.float64
    assert ball.sample_interior(4).dtype == torch.get_default_dtype()
    on_cpu = ball.sample_boundary(4, generator=generator(5), device="cpu", dtype=torch.float64)
    assert on_cpu.device.type == "cpu"
    torch.testing.assert_close(
        on_cpu, ball.sample_boundary(4, generator=generator(5), dtype=torch.float64)
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cpu_generator_gives_the_same_points_on_cuda():
    ball = Ball(3)
    on_cuda = ball.sample_interior(8, generator=generator(2), device="cuda")
    assert on_cuda.device.type == "cuda"
    torch.testing.assert_close(on_cuda.cpu(), ball.sample_interior(8, generator=generator(2)))


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: Ball(0), "dim=0"),
        (lambda: Ball(2.5), "dim=2.5"),
        (lambda: Ball(True), "dim=True"),
        (lambda: Ball(3, radius=0.0), "radius=0.0"),
        (lambda: Ball(3, radius=float("nan")), "radius=nan"),
        (lambda: Ball(3).sample_interior(0), "n=0"),
        (lambda: Ball(3).sample_boundary(-2), "n=-2"),
        (lambda: Ball(3).sample_interior(5, law="uniform"), "law='uniform'"),
        (lambda: Ball(3).radial_cdf(torch.ones(1), law="cube"), "law='cube'"),
    ],
)
def test_bad_input_raises_value_error_naming_the_value(build, message: str):
    with pytest.raises(ValueError, match=message) as error:
        build()
    assert "\n" not in str(error.value)
