"""pinnkan: physics-informed Kolmogorov–Arnold Networks (KAN, MetaKAN, FastKAN, WavKAN, MLP)."""

from .nn import build_model, count_parameters, list_models, model_options

__version__ = "0.1.0"

__all__ = ["build_model", "count_parameters", "list_models", "model_options", "__version__"]
