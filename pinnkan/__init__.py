"""pinnkan: physics-informed Kolmogorov–Arnold Networks (KAN, MetaKAN, FastKAN, WavKAN, MLP)."""

from .derivatives import EngineFallbackWarning, gradient, hessian_diagonal, laplacian
from .geometry import Ball
from .malloc import reuse_freed_memory
from .nn import build_model, count_parameters, list_models, model_options
from .problem import PDE, ExactSolution, Fields
from .problems import get_problem, list_problems
from .results import Run, RunFileError, read_run, write_run
from .runner import SolveSpec, resume_pde, solve_pde
from .train_config import TrainConfig

__version__ = "0.1.0"

#: Short name of :func:`gradient` (as in ``torch.autograd.grad``), for user operators.
grad = gradient

__all__ = [
    "Ball",
    "EngineFallbackWarning",
    "ExactSolution",
    "Fields",
    "PDE",
    "Run",
    "RunFileError",
    "SolveSpec",
    "TrainConfig",
    "build_model",
    "count_parameters",
    "get_problem",
    "grad",
    "gradient",
    "hessian_diagonal",
    "laplacian",
    "list_models",
    "list_problems",
    "model_options",
    "read_run",
    "resume_pde",
    "reuse_freed_memory",
    "solve_pde",
    "write_run",
    "__version__",
]
