"""Optimizers and learning-rate schedules for physics-informed and regression training.

* parameter groups: MetaKAN prompts and meta-learners may get their own learning rates (the
  paper trains them with separate optimizers); everything else uses the base rate;
* Adam, or L-BFGS with a strong-Wolfe line search; Adam runs torch's fused kernel (one call per
  step for all parameters) wherever torch has one for the parameters' device and dtype: on the
  CPU at d = 100 it takes 0.41 × the time of torch's default Adam for a KAN and 0.37 × for a
  MetaKAN, whose eight parameter tensors cost the per-tensor loop more (``results/bench_adam.md``);
* schedules as a multiplier ρ(t) of the initial rate over ``steps`` steps:
  constant ρ = 1; linear ρ = 1 − t/T (to zero at T); cosine ρ = ½(1 + cos(πt/T));
  exponential ρ = γ^{t/T} (γ = ``final_fraction``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from .nn.meta import MetaCoefficients

OPTIMIZERS = ("adam", "lbfgs")
# L-BFGS takes steps of length lr along its quasi-Newton direction (1: the full step, torch's
# default); Adam's rate is an absolute step size. A config without lr gets its optimizer's own.
DEFAULT_LR = {"lbfgs": 1.0, "adam": 1e-3}
SCHEDULES = ("constant", "linear", "cosine", "exponential")


def parameter_groups(
    model: nn.Module, lr: float, prompt_lr: float | None = None, meta_lr: float | None = None
) -> list[dict]:
    """Split trainable parameters into prompts / meta-learners / the rest, each with its rate.

    Groups are named (``group["name"]``) so that the learning rate of each can be logged.
    """
    prompts: list[nn.Parameter] = []
    meta: list[nn.Parameter] = []
    for module in model.modules():
        if isinstance(module, MetaCoefficients):
            prompts.extend(module.prompts)
            meta.extend(module.meta_learners.parameters())
    special = {id(p) for p in prompts + meta}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in special]
    groups = [
        {"name": "prompts", "params": prompts, "lr": prompt_lr or lr},
        {"name": "meta_learner", "params": meta, "lr": meta_lr or lr},
        {"name": "network", "params": rest, "lr": lr},
    ]
    return [group for group in groups if group["params"]]


def schedule_factor(name: str, steps: int, final_fraction: float = 0.01) -> Callable[[int], float]:
    """ρ(t), the multiplier of the initial learning rate at step t (see module docstring)."""
    if name == "constant":
        return lambda t: 1.0
    if name == "linear":
        return lambda t: max(0.0, 1.0 - t / steps)
    if name == "cosine":
        return lambda t: 0.5 * (1.0 + math.cos(math.pi * min(t, steps) / steps))
    if name == "exponential":
        return lambda t: final_fraction ** (min(t, steps) / steps)
    raise ValueError(f"schedule={name!r} is not known; allowed: {', '.join(SCHEDULES)}")


def make_optimizer(
    name: str,
    groups: list[dict],
    lr: float | None = None,
    lbfgs_history: int = 50,
    lbfgs_max_iter: int = 20,
) -> torch.optim.Optimizer:
    """Adam over the ``groups`` at their rates, or L-BFGS (strong Wolfe) with
    ``lbfgs_max_iter`` inner iterations per step.

    L-BFGS takes one parameter group in PyTorch: all parameters run at the base rate ``lr``
    (the groups' own rates, e.g. ``prompt_lr``, are Adam's); without ``lr``, at the groups'
    rate if they share one.
    """
    if name == "adam":
        return torch.optim.Adam(groups, fused=fused_adam_applies(groups))
    if name == "lbfgs":
        params = [p for group in groups for p in group["params"]]
        return torch.optim.LBFGS(
            params,
            lr=lbfgs_rate(groups, lr),
            history_size=lbfgs_history,
            max_iter=lbfgs_max_iter,
            line_search_fn="strong_wolfe",
            tolerance_grad=1e-12,
            tolerance_change=1e-14,
        )
    raise ValueError(f"optimizer={name!r} is not known; allowed: {', '.join(OPTIMIZERS)}")


def lbfgs_rate(groups: list[dict], lr: float | None) -> float:
    """L-BFGS's one rate: ``lr``, else the rate all ``groups`` share."""
    if lr is not None:
        return lr
    rates = {group["lr"] for group in groups}
    if len(rates) != 1:
        raise ValueError(f"L-BFGS runs one rate; the groups have {sorted(rates)}: give lr")
    return rates.pop()


def fused_adam_applies(groups: list[dict]) -> bool:
    """Whether torch's fused Adam takes these parameters: all floating point, dense, on one
    device type that torch has the fused kernel for (CPU and CUDA among them). Same update as
    the default Adam to round-off; a checkpoint saved by either resumes with the other."""
    params = [p for group in groups for p in group["params"]]
    devices = {p.device.type for p in params}
    return (
        len(devices) == 1
        and devices.pop() in fused_kernel_devices()
        and all(torch.is_floating_point(p) and not p.is_sparse for p in params)
    )


def fused_kernel_devices() -> list[str]:
    """The device types with torch's fused optimizer kernels (a private torch function; where a
    torch version lacks it, CPU and CUDA, which have had them since torch 2.4)."""
    try:
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices
    except ImportError:
        return ["cpu", "cuda"]
    return _get_fused_kernels_supported_devices()


def make_scheduler(
    optimizer: torch.optim.Optimizer, name: str, steps: int, final_fraction: float = 0.01
) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, schedule_factor(name, steps, final_fraction)
    )


def restart_schedule(
    optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LambdaLR
) -> None:
    """Set each group's rate to ``base_lr · ρ(t)`` at the scheduler's step t, as the scheduler
    does after a step: the rates saved in a checkpoint are those of the schedule it ran under, so
    a resume with more steps (a longer schedule) would otherwise take its first step at the old
    schedule's last rate (zero for "linear"). Where the schedule is unchanged the rates are the
    same numbers (a resumed run stays bit-for-bit the uninterrupted one)."""
    rates = [
        base * factor(scheduler.last_epoch)
        for factor, base in zip(scheduler.lr_lambdas, scheduler.base_lrs, strict=True)
    ]
    for group, rate in zip(optimizer.param_groups, rates, strict=True):
        group["lr"] = rate
    scheduler._last_lr = rates  # what get_last_lr() reports
