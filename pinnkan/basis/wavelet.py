"""Wavelet edge functions (the edge function of WavKAN, without its base branch and batch norm:
README, backbones), three parameters per edge.

    φ(t; w) = a ψ(u),   u = (t − μ)/σ,   σ = softplus(s),   w = [a, μ, s]

so   φ'(t) = a ψ'(u)/σ   and   φ''(t) = a ψ''(u)/σ².  Mother wavelets, with g(u) = exp(−u²/2):

* Mexican hat:  ψ = C (1 − u²) g,         ψ' = C (u³ − 3u) g,      ψ'' = C (−u⁴ + 6u² − 3) g,
  C = 2/(√3 π^{1/4});
* Morlet (ω₀ = 5):  ψ = cos(ω₀u) g,   ψ' = −(ω₀ sin(ω₀u) + u cos(ω₀u)) g,
  ψ'' = ((u² − 1 − ω₀²) cos(ω₀u) + 2ω₀u sin(ω₀u)) g;
* derivative of Gaussian (DoG):  ψ = −u g,   ψ' = (u² − 1) g,   ψ'' = (3u − u³) g.

The scale is stored through a softplus so that any real coefficient (trained directly or emitted
by a meta-learner) gives a positive σ. u is clamped to ±40, where e^{−u²/2} is already 0 (a
small σ would else overflow the polynomial factors into ∞·0 = NaN).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from ..device import draw
from .base import GAUSSIAN_TAIL, ParametricFamily

MEXICAN_HAT_NORM = 2.0 / (math.sqrt(3.0) * math.pi**0.25)
MORLET_FREQUENCY = 5.0
UNIT_SCALE = math.log(math.e - 1.0)  # softplus(UNIT_SCALE) == 1


def mexican_hat(u: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    g = torch.exp(-0.5 * u**2) * MEXICAN_HAT_NORM
    u2 = u**2
    return (1 - u2) * g, (u2 - 3) * u * g, (-(u2**2) + 6 * u2 - 3) * g


def morlet(u: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    g = torch.exp(-0.5 * u**2)
    w = MORLET_FREQUENCY
    cos, sin = torch.cos(w * u), torch.sin(w * u)
    return (
        cos * g,
        -(w * sin + u * cos) * g,
        ((u**2 - 1 - w**2) * cos + 2 * w * u * sin) * g,
    )


def derivative_of_gaussian(u: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    g = torch.exp(-0.5 * u**2)
    u2 = u**2
    return -u * g, (u2 - 1) * g, (3 - u2) * u * g


MOTHER_WAVELETS: dict[str, Callable[[Tensor], tuple[Tensor, Tensor, Tensor]]] = {
    "mexican_hat": mexican_hat,
    "morlet": morlet,
    "dog": derivative_of_gaussian,
}


class WaveletFamily(ParametricFamily):
    """``φ(t) = a ψ((t − μ)/softplus(s))`` with coefficients ``[a, μ, s]`` per edge."""

    num_coefficients = 3
    linear_coefficients = (True, False, False)  # a; not μ, s
    initial_mean = (0.0, 0.0, UNIT_SCALE)  # σ = 1

    def __init__(self, wavelet: str = "mexican_hat") -> None:
        super().__init__()
        if wavelet not in MOTHER_WAVELETS:
            allowed = ", ".join(MOTHER_WAVELETS)
            raise ValueError(f"wavelet={wavelet!r} is not known; allowed: {allowed}")
        self.wavelet = wavelet
        self.mother = MOTHER_WAVELETS[wavelet]

    def extra_repr(self) -> str:
        return f"wavelet={self.wavelet}"

    def initial_coefficients(
        self, out_features: int, in_features: int, generator: torch.Generator | None = None
    ) -> Tensor:
        """a ~ U(±1/√in), μ ~ U(−1, 1), σ = 1."""
        shape = (out_features, in_features)
        bound = 1.0 / math.sqrt(in_features)
        amplitude = (draw(torch.rand, shape, generator=generator) * 2 - 1) * bound
        translation = draw(torch.rand, shape, generator=generator) * 2 - 1
        scale = torch.full(shape, UNIT_SCALE)
        return torch.stack([amplitude, translation, scale], dim=-1)

    def edge_values(self, x: Tensor, coefficients: Tensor, order: int = 0) -> tuple[Tensor, ...]:
        amplitude, translation, raw_scale = (c.t() for c in coefficients.unbind(-1))  # (in, out)
        scale = torch.nn.functional.softplus(raw_scale)
        u = ((x.unsqueeze(-1) - translation) / scale).clamp(-GAUSSIAN_TAIL, GAUSSIAN_TAIL)
        psi = self.mother(u)
        values = [amplitude * psi[0]]
        inverse = scale.reciprocal()  # ψ⁽ⁿ⁾·σ⁻ⁿ: dividing by σⁿ underflowed σ²ⁿ in its gradient
        largest = torch.finfo(inverse.dtype).max
        for n in range(1, order + 1):  # σ⁻ⁿ of a collapsed scale is ∞, and ∞·ψ⁽ⁿ⁾ = NaN where
            factor = (inverse**n).clamp(max=largest)  # ψ⁽ⁿ⁾ = 0: kept finite ((in, out), cheap)
            values.append(amplitude * psi[n] * factor)
        return tuple(values)
