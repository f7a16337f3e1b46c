"""Timing in interleaved rounds, shared by the benchmarks: round r times one step of every case
of a group, the starting case rotating, so that the cases share each stretch of a machine whose
speed drifts (a shared VM's does by up to 2× within minutes); their medians and the paired ratios
(the median over rounds of one case's time over another's in the same round) then compare like
with like."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ..device import synchronize


def timed_step(loss: Callable[[], Tensor], device: torch.device) -> tuple[float, float]:
    """Wall-clock and process CPU seconds of one step."""
    synchronize(device)
    start, start_cpu = time.perf_counter(), time.process_time()
    loss().backward()
    synchronize(device)
    return time.perf_counter() - start, time.process_time() - start_cpu


@dataclass
class Case:
    """One (model, engine) of a group: its CSV row, its step and the times measured so far."""

    row: dict
    model: nn.Module
    loss: Callable[[], Tensor] | None  # None: not run (row["status"] says why)
    planned: int = 0
    times: list[float] = field(default_factory=list)
    cpu_times: list[float] = field(default_factory=list)


def interleaved_rounds(cases: list[Case], device: torch.device) -> None:
    """Round r times one step of every case with repeats left, starting at case r mod n: the
    cases of a group share each stretch of a machine whose speed drifts (a shared VM's does by
    up to 2× within minutes), so their medians and paired ratios compare like with like."""
    for turn in range(max((case.planned for case in cases), default=0)):
        shift = turn % len(cases)
        for case in cases[shift:] + cases[:shift]:
            if len(case.times) < case.planned:
                seconds, cpu_seconds = timed_step(case.loss, device)
                case.times.append(seconds)
                case.cpu_times.append(cpu_seconds)


def time_columns(case: Case) -> dict:
    return {
        "step_ms": round(1e3 * statistics.median(case.times), 3),
        "step_ms_min": round(1e3 * min(case.times), 3),
        "step_cpu_ms": round(1e3 * statistics.median(case.cpu_times), 3),
        "repeats": len(case.times),
    }


def paired_ratio(case: Case, base: Case) -> float:
    """Median over the rounds both ran of this case's step time over ``base``'s."""
    return statistics.median(a / b for a, b in zip(case.times, base.times, strict=False))
