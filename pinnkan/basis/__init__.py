"""Univariate edge families with closed-form first and second derivatives."""

from .base import EdgeFamily, LinearBasis, ParametricFamily
from .bspline import BSplineBasis
from .rbf import GaussianRBFBasis
from .silu import silu_derivatives
from .wavelet import MOTHER_WAVELETS, WaveletFamily

__all__ = [
    "EdgeFamily",
    "LinearBasis",
    "ParametricFamily",
    "BSplineBasis",
    "GaussianRBFBasis",
    "WaveletFamily",
    "MOTHER_WAVELETS",
    "silu_derivatives",
]
