"""pinnkan: physics-informed Kolmogorov–Arnold Networks (KAN, MetaKAN, FastKAN, WavKAN, MLP).

As a library:

    model = pinnkan.build_model("metakan", [20, 32, 32, 32, 1])     # an ordinary nn.Module
    u, lap = pinnkan.laplacian(model, x)                           # x (n, 20) -> (n,), (n,)
    run = pinnkan.solve_pde(pinnkan.SolveSpec(problem="poisson", problem_options={"dim": 20},
                                              model="metakan"), out="run.h5")
    run = pinnkan.read_run("run.h5")
    u_hat = pinnkan.restore_solution(run)      # x ↦ û(x) as trained (hard constraint included)

Your own PDE: subclass :class:`PDE` (README, "Your own PDE"). The command line is ``pinnkan``.
"""

from .derivatives import EngineFallbackWarning, gradient, hessian_diagonal, laplacian
from .geometry import Ball
from .malloc import reuse_freed_memory
from .nn import build_model, count_parameters, list_models, model_options
from .problem import PDE, ExactSolution, Fields
from .problems import get_problem, list_problems
from .results import Run, RunFileError, read_run, restore_model, write_run
from .runner import SolveSpec, resume_pde, solve_pde
from .solution import restore_solution
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
    "restore_model",
    "restore_solution",
    "resume_pde",
    "reuse_freed_memory",
    "solve_pde",
    "write_run",
    "__version__",
]
