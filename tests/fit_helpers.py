"""Shared builders for the regression-fit tests (imported by the test modules)."""

from __future__ import annotations

from pinnkan.fit_config import FitConfig


def small_fit_config(**changes) -> FitConfig:
    """A MetaKAN [2, 2, 1] fit of feynman:I.12.5 that trains in well under a second."""
    settings = {
        "problem": "feynman:I.12.5",
        "model": "metakan",
        "width": [2, 2, 1],
        "model_options": {"grid": 5, "meta_hidden": 8},
        "steps": 4,
        "train_points": 200,
        "test_points": 100,
        "normalize": True,
        "standardize": True,
    }
    return FitConfig(**{**settings, **changes})


def small_kan_fit_config(**changes) -> FitConfig:
    """A KAN [2, 2, 1] (G = 5) fit of feynman:I.12.5 in 3 steps on 200 / 100 points."""
    settings = {
        "problem": "feynman:I.12.5",
        "model": "kan",
        "width": [2, 2, 1],
        "model_options": {"grid": 5},
        "steps": 3,
        "train_points": 200,
        "test_points": 100,
        "normalize": True,
    }
    return FitConfig(**{**settings, **changes})
