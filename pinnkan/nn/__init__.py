"""Backbones: KAN-family networks (direct or meta-learned coefficients) and the MLP baseline."""

from .build import build_model, count_parameters, list_models, model_options, register_model
from .clustering import cluster_intervals, cluster_layers
from .kan import DirectCoefficients, KANLayer, KANNetwork
from .meta import MetaCoefficients, MetaLearner
from .mlp import MLP

__all__ = [
    "build_model",
    "count_parameters",
    "list_models",
    "model_options",
    "register_model",
    "cluster_layers",
    "cluster_intervals",
    "KANLayer",
    "KANNetwork",
    "DirectCoefficients",
    "MetaCoefficients",
    "MetaLearner",
    "MLP",
]
