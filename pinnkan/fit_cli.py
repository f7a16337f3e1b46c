"""The ``pinnkan fit`` command line: flags -> :class:`FitConfig`, one run or a recipe."""

from __future__ import annotations

import argparse
import sys

from .fit import fit
from .fit_config import FitConfig
from .summary import new_run_path
from .unused_flags import fit_reasons, note_unused_flags


def add_fit_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``pinnkan fit`` flags (model flags from :func:`pinnkan.cli.add_model_arguments`)."""
    from .cli import add_model_arguments, add_problem_option_argument, int_list, path_text

    parser.add_argument("--problem", help="regression problem, e.g. feynman:I.12.5, highdim:f2")
    parser.add_argument("--dim", type=int, help="dimension n of highdim problems (default 10)")
    add_model_arguments(
        parser, default_width="the paper's: Table 2's for Feynman equations, n,1,1 for highdim"
    )
    parser.set_defaults(model=None)  # unset: "kan" for one run; with --recipe, an error if set
    group = parser.add_argument_group("training")
    group.add_argument("--steps", type=int, help="optimizer steps (default 100)")
    group.add_argument("--optimizer", help="lbfgs (default) or adam")
    group.add_argument(
        "--lr", type=float, help="learning rate (default 1 for L-BFGS, 1e-3 for Adam)"
    )
    group.add_argument("--lbfgs-iterations", type=int, help="L-BFGS inner iterations per step")
    group.add_argument("--seed", type=int, help="seed of data and initialisation (default 0)")
    group.add_argument("--train-points", type=int, help="training points (default 1000)")
    group.add_argument("--test-points", type=int, help="test points (default 1000)")
    group.add_argument("--normalize", action=argparse.BooleanOptionalAction, help="map to [-1,1]^d")
    group.add_argument(
        "--standardize", action=argparse.BooleanOptionalAction, help="fit standardised targets"
    )
    group.add_argument("--update-grid-every", type=int, help="grid update from data every N steps")
    group.add_argument(
        "--update-grid-until", type=int, help="no grid updates from this step on (0 = to the end)"
    )
    group.add_argument(
        "--extend-grids",
        type=int_list,
        help="finer grids, increasing and above --grid (e.g. 10,20): n of them need --steps ≥ "
        "n+1, trained in n+1 equal stages; each extension places knots at the training inputs "
        "and refits (the output moves by ~1e-3 of its largest value for a KAN, ~1e-2 for a MetaKAN)",
    )
    group.add_argument("--restarts", type=int, help="K initialisations, keep the best (default 1)")
    group.add_argument("--restart-steps", type=int, help="warm-up steps of each restart (3)")
    group.add_argument(
        "--step-guard", action=argparse.BooleanOptionalAction, help="roll back bad L-BFGS steps"
    )
    group.add_argument(
        "--validation",
        type=float,
        help="hold out this fraction of the training points; keep the state of lowest "
        "validation MSE (default 0: off)",
    )
    parser.add_argument(
        "--device", help="cpu, cuda, cuda:N or auto (default: cpu; with --recipe, the recipe's)"
    )
    parser.add_argument(
        "--dtype", help="float64 (default) or float32 (with --recipe, default: the recipe's)"
    )
    add_problem_option_argument(parser, "scale=2")
    parser.add_argument("--out", type=path_text, help="run file (default: results/runs/<name>.h5)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    recipe = parser.add_argument_group("recipes (tables of runs)")
    recipe.add_argument(
        "--recipe",
        type=path_text,
        help="run every fit of a recipe: a built-in one by name (e.g. table2) or a .toml file",
    )
    recipe.add_argument("--seeds", type=int_list, help="seeds of each recipe run (default 0)")
    recipe.add_argument("--out-dir", type=path_text, help="folder of the recipe's run files")
    recipe.add_argument(
        "--table",
        type=path_text,
        help="write the recipe's markdown table to this file (notes below the line "
        "'<!-- notes: … -->' in an existing file are kept)",
    )
    recipe.add_argument("--jobs", type=int, help="parallel recipe runs (default 1)")
    recipe.add_argument(
        "--only",
        help="comma-separated filters on run names (substring match; each must match a run)",
    )
    recipe.add_argument(
        "--dry-run", action="store_true", default=None, help="list the runs, train nothing"
    )


RECIPE_FLAGS = ("seeds", "table", "out_dir", "jobs", "only", "dry_run")  # only with --recipe

FLAG_FIELDS = (
    "dim", "width", "steps", "optimizer", "lr", "lbfgs_iterations", "seed", "train_points",
    "test_points", "normalize", "update_grid_every", "update_grid_until", "extend_grids",
    "standardize", "restarts", "restart_steps", "step_guard", "validation",
)  # fmt: skip


def fit_config(args: argparse.Namespace) -> FitConfig:
    """Flags -> :class:`FitConfig` (unset flags keep the defaults)."""
    from .commands import given, model_flags

    if args.problem is None:
        raise ValueError(
            "--problem is required, or --recipe with a built-in recipe's name (e.g. --recipe "
            "table2; `pinnkan list` names them) or a recipe's .toml file"
        )
    model = args.model or "kan"
    return FitConfig(
        problem=args.problem,
        problem_options=dict(args.problem_option or []),
        model=model,
        model_options=model_flags(args, model),
        device=args.device or "cpu",
        dtype=args.dtype or "float64",
        **given(args, FLAG_FIELDS),
    )


def check_no_recipe_flags(args: argparse.Namespace) -> None:
    """Without ``--recipe`` the recipe flags would be ignored: an error instead."""
    from .commands import given

    flags = ["--" + name.replace("_", "-") for name in given(args, RECIPE_FLAGS)]
    if flags:
        raise ValueError(
            f"{', '.join(flags)} {'is' if len(flags) == 1 else 'are'} only used with --recipe "
            "(one run takes --seed and --out); give --recipe or leave "
            f"{'it' if len(flags) == 1 else 'them'} out"
        )


def run_fit(args: argparse.Namespace) -> int:
    """Handler of ``pinnkan fit``: one run, or every run of ``--recipe``."""
    from .summary import format_summary

    if args.recipe is not None:
        from .recipes import run_recipe_command

        if args.jobs is None:
            args.jobs = 1
        return run_recipe_command(args)
    check_no_recipe_flags(args)
    config = fit_config(args)
    note_unused_flags(args, fit_reasons(config))
    out = args.out or str(
        new_run_path("results/runs", config.problem, config.model, config.dim, config.seed)
    )
    progress = None if args.quiet else FitProgress(config.steps)
    run = fit(config, out, progress)
    print(format_summary(run))
    print(f"test MSE {run.metrics['mse']:.3e}, RMSE {run.metrics['rmse']:.3e}")
    print(f"run file: {out}")
    return 0 if run.status == "completed" else 1


class FitProgress:
    """Prints ``step s/N  loss …  test MSE …`` (and ``validation MSE …`` under ``--validation``)
    about twenty times per run on stderr."""

    def __init__(self, steps: int) -> None:
        self.steps = steps
        self.every = max(1, steps // 20)

    def __call__(self, step: int, record: dict) -> None:
        if step % self.every == 0 or step == self.steps:
            line = f"step {step}/{self.steps}  loss {record['loss']:.3e}  test MSE {record['test_mse']:.3e}"
            if "val_mse" in record:  # --validation: the MSE early stopping keeps the best of
                line += f"  validation MSE {record['val_mse']:.3e}"
            print(line, file=sys.stderr, flush=True)
