"""Peak training memory and forward+backward time of KAN vs MetaKAN vs MLP (paper Figure 4).

For every structure ``[inputs, h, h, 1]`` and grid size G, one regression training step
(forward, mean-squared loss, backward, Adam) is measured for KAN (G, k = 3), MetaKAN with
meta-learner hidden width in ``meta_hiddens`` and an MLP of the same structure (tanh, biases).

Memory, counted exactly in bytes (deterministic, any device):

    modelled_peak = parameters + gradients + Adam state + saved-for-backward

* parameters, gradients: ``numel · element size`` of every trainable tensor;
* Adam state: the tensors Adam keeps (two moments per parameter and a step counter), after one
  real optimiser step;
* saved-for-backward: the distinct storages autograd keeps from one forward pass for the backward
  pass (inputs, basis expansions, Cox–de Boor intermediates, the meta-learner's saved tensors:
  its piece index, or its activations for a dense meta-learner, and the generated
  coefficients), recorded with ``torch.autograd.graph.saved_tensors_hooks`` and
  deduplicated by storage; storages of parameters are not counted twice.

This is what is resident when backward starts in steady-state training (with gradients kept
allocated between steps); the allocator's true peak adds short-lived temporaries of single
operations. On CUDA the true peak of one full step, ``torch.cuda.max_memory_allocated``, is
reported as well (``device_peak_bytes``; empty on CPU).

Time: median over ``repeats`` of forward + loss + backward (no optimiser step), after one warm-up,
the models of one (structure, G) timed round by round (one step of each per round); its ratio to
the KAN of the same group is the median over rounds of the paired ratio (the same round's KAN).

Run: ``pinnkan bench memory --out results/bench_memory.csv`` (or ``python -m benchmarks.memory``).
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from pinnkan.cli import ArgumentParser, int_list
from pinnkan.device import draw, resolve_device
from pinnkan.environment import describe_meta_kernels
from pinnkan.malloc import malloc_setting
from pinnkan.nn import build_model, count_parameters
from pinnkan.validation import check_int

from .rounds import Case as Timed
from .rounds import interleaved_rounds, paired_ratio
from .saved import saved_for_backward_bytes
from .table import (
    add_machine_arguments,
    check_counts,
    check_csv_path,
    check_threads,
    describe_device,
    write_csv,
)

COLUMNS = [
    "model",
    "width",
    "edges",
    "grid",
    "meta_hidden",
    "parameters",
    "parameter_bytes",
    "gradient_bytes",
    "optimizer_bytes",
    "saved_bytes",
    "modelled_peak_bytes",
    "modelled_peak_mb",
    "memory_ratio_to_kan",
    "device_peak_bytes",
    "time_ms",
    "time_ms_min",
    "time_ratio_to_kan",
    "batch",
]

COLUMN_NOTES = {  # the CSV's "# columns:" line: every column, in order
    "model": "kan, metakan or mlp",
    "width": "layer widths",
    "edges": "E = Σ n_l n_(l+1), the edges of the KAN-type models",
    "grid": "G (the MLP's rows repeat for each G)",
    "meta_hidden": "the meta-learner's hidden width h (MetaKAN); empty otherwise",
    "parameters": "trainable parameters",
    "parameter_bytes": "their bytes (float32)",
    "gradient_bytes": "their gradients' bytes",
    "optimizer_bytes": "Adam's two moments' bytes",
    "saved_bytes": "distinct storages autograd saves for backward",
    "modelled_peak_bytes": "the sum of the four above",
    "modelled_peak_mb": "modelled_peak_bytes / 2^20",
    "memory_ratio_to_kan": "modelled_peak_bytes / the KAN's of the same width and G",
    "device_peak_bytes": "CUDA: torch's peak allocation during the step; empty on the CPU",
    "time_ms": "median ms of forward + backward",
    "time_ms_min": "fastest round's ms",
    "time_ratio_to_kan": "median over rounds of time / the same round's KAN time",
    "batch": "inputs per step",
}


@dataclass(frozen=True)
class Case:
    """One benchmarked model: ``name`` in {"kan", "metakan", "mlp"} with its options."""

    name: str
    width: tuple[int, ...]
    grid: int
    meta_hidden: int | None = None

    def build(self, generator: torch.Generator) -> nn.Module:
        width = list(self.width)
        if self.name == "mlp":
            return build_model("mlp", width, generator=generator, activation="tanh", bias=True)
        options = {"grid": self.grid, "k": 3}
        if self.name == "metakan":
            options["meta_hidden"] = self.meta_hidden
        return build_model(self.name, width, generator=generator, **options)


def tensor_bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def measure(case: Case, batch: int, device: torch.device, seed: int, repeats: int) -> Timed:
    """Memory of one training step of ``case`` (its CSV row, without times and ratios), with
    the step (the loss to run backward on) to be timed in interleaved rounds (warm already)."""
    generator = torch.Generator().manual_seed(seed)
    model = case.build(generator).to(device)
    x = (draw(torch.rand, (batch, case.width[0]), generator=generator) * 2 - 1).to(device)
    target = draw(torch.rand, (batch, case.width[-1]), generator=generator).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    parameters = [p for p in model.parameters() if p.requires_grad]

    def step() -> Tensor:
        return (model(x) - target).pow(2).mean()

    step().backward()
    optimizer.step()  # creates Adam's state; gradients stay allocated (steady state)
    optimizer_bytes = tensor_bytes(
        value for state in optimizer.state.values() for value in state.values()
    )
    exclude = {p.untyped_storage().data_ptr() for p in parameters}
    saved = saved_for_backward_bytes(step, exclude)
    device_peak = device_peak_bytes(model, step, optimizer, device)
    parameter_bytes = tensor_bytes(parameters)
    gradient_bytes = tensor_bytes(p.grad for p in parameters if p.grad is not None)
    peak = parameter_bytes + gradient_bytes + optimizer_bytes + saved
    row = {
        "model": case.name,
        "width": "-".join(map(str, case.width)),
        "edges": sum(a * b for a, b in zip(case.width[:-1], case.width[1:])),
        "grid": case.grid,
        "meta_hidden": case.meta_hidden or "",
        "parameters": count_parameters(model),
        "parameter_bytes": parameter_bytes,
        "gradient_bytes": gradient_bytes,
        "optimizer_bytes": optimizer_bytes,
        "saved_bytes": saved,
        "modelled_peak_bytes": peak,
        "modelled_peak_mb": round(peak / 2**20, 3),
        "device_peak_bytes": device_peak if device_peak is not None else "",
        "batch": batch,
    }
    return Timed(row, model, step, planned=repeats)


def device_peak_bytes(model: nn.Module, step, optimizer, device: torch.device) -> int | None:
    """``torch.cuda.max_memory_allocated`` over one full training step (None off CUDA)."""
    if device.type != "cuda":
        return None
    optimizer.zero_grad(set_to_none=False)
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    step().backward()
    optimizer.step()
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device)


def cases_for(width: tuple[int, ...], grid: int, meta_hiddens: tuple[int, ...]) -> list[Case]:
    return [
        Case("kan", width, grid),
        *(Case("metakan", width, grid, hidden) for hidden in meta_hiddens),
        Case("mlp", width, grid),
    ]


def check_options(
    hidden_widths: Sequence[int],
    grids: Sequence[int],
    meta_hiddens: Sequence[int],
    inputs: int,
    batch: int,
    repeats: int,
    threads: int | None,
) -> None:
    """The checks of :func:`run_memory_benchmark`'s arguments (one-line ``ValueError``)."""
    check_counts("hidden_widths", hidden_widths)
    check_counts("grids", grids)
    check_counts("meta_hiddens", meta_hiddens)
    for option, value in (("inputs", inputs), ("batch", batch), ("repeats", repeats)):
        check_int(option, value, 1)
    check_threads(threads)


def run_memory_benchmark(
    hidden_widths: tuple[int, ...] = (8, 32, 128, 512),
    grids: tuple[int, ...] = (5, 20, 80, 160),
    meta_hiddens: tuple[int, ...] = (16, 64),
    inputs: int = 4,
    batch: int = 64,
    repeats: int = 5,
    device: str = "cpu",
    seed: int = 0,
    threads: int | None = 1,
) -> list[dict]:
    """One row per (structure ``[inputs, h, h, 1]``, G, model); see the module docstring.

    The MLP does not depend on G; it is measured again for every G so that each group of rows
    (same structure and G) is self-contained. Ratios are to the KAN of the same group.
    ``threads`` sets ``torch.set_num_threads`` for the run (None: leave it), restored after;
    ``device`` is "cpu", "cuda", "cuda:N" or "auto". Every argument is checked before anything
    runs (``ValueError``, one line).
    """
    check_options(hidden_widths, grids, meta_hiddens, inputs, batch, repeats, threads)
    torch_device = resolve_device(device)
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return measure_all(
            hidden_widths, grids, meta_hiddens, inputs, batch, repeats, torch_device, seed
        )
    finally:
        torch.set_num_threads(previous_threads)


def measure_all(
    hidden_widths: tuple[int, ...],
    grids: tuple[int, ...],
    meta_hiddens: tuple[int, ...],
    inputs: int,
    batch: int,
    repeats: int,
    torch_device: torch.device,
    seed: int,
) -> list[dict]:
    rows = []
    for hidden in hidden_widths:
        width = (inputs, hidden, hidden, 1)
        for grid in grids:
            group = [
                measure(case, batch, torch_device, seed, repeats)
                for case in cases_for(width, grid, meta_hiddens)
            ]
            interleaved_rounds(group, torch_device)
            add_times_and_ratios(group)
            rows.extend(timed.row for timed in group)
    return rows


def add_times_and_ratios(group: list[Timed]) -> None:
    """Times of the group's rows (median and min over rounds) and their ratios to the group's
    first case, the KAN: memory ratio, and time ratio = median over rounds of the paired ratio
    t_case / t_KAN of the same round."""
    kan = group[0]
    for timed in group:
        timed.row["time_ms"] = round(1e3 * statistics.median(timed.times), 3)
        timed.row["time_ms_min"] = round(1e3 * min(timed.times), 3)
        timed.row["memory_ratio_to_kan"] = round(
            timed.row["modelled_peak_bytes"] / kan.row["modelled_peak_bytes"], 4
        )
        timed.row["time_ratio_to_kan"] = round(paired_ratio(timed, kan), 4)


def get_args_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="pinnkan bench memory", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", default="results/bench_memory.csv", help="CSV file to write (%(default)s)"
    )
    parser.add_argument(
        "--hidden-widths",
        type=int_list,
        default=[8, 32, 128, 512],
        help="hidden widths n of the nets [inputs, n, n, 1] (8,32,128,512)",
    )
    parser.add_argument(
        "--grids", type=int_list, default=[5, 20, 80, 160], help="grid sizes G (5,20,80,160)"
    )
    parser.add_argument(
        "--meta-hiddens",
        type=int_list,
        default=[16, 64],
        help="hidden widths h of the MetaKAN meta-learner 1 -> h -> G+k+1 (16,64)",
    )
    parser.add_argument("--inputs", type=int, default=4, help="input dimension n_0 (%(default)s)")
    parser.add_argument("--batch", type=int, default=64, help="points per step (%(default)s)")
    parser.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="timed rounds, every model of one (width, G) once per round (%(default)s)",
    )
    add_machine_arguments(parser, "models and data")
    return parser


def summary_line(row: dict) -> str:
    """One printed line per row: the case, its memory and time, and both ratios to the KAN."""
    hidden = f" h={row['meta_hidden']}" if row["meta_hidden"] else ""
    return (
        f"[{row['width']}] G={row['grid']:<4} {row['model']:<8}{hidden:<6} "
        f"{row['modelled_peak_mb']:>10.3f} MB  x{row['memory_ratio_to_kan']:<7} "
        f"{row['time_ms']:>9.3f} ms  x{row['time_ratio_to_kan']} (paired, vs KAN)"
    )


def main(argv: list[str] | None = None) -> int:
    """``pinnkan bench memory [options]``: run the benchmark and write the CSV."""
    args = get_args_parser().parse_args(argv)
    check_options(args.hidden_widths, args.grids, args.meta_hiddens, args.inputs, args.batch,
                  args.repeats, args.threads or None)  # fmt: skip
    device = str(resolve_device(args.device))
    check_csv_path(args.out)  # after the options (its note is printed), before the measurements
    rows = run_memory_benchmark(
        tuple(args.hidden_widths),
        tuple(args.grids),
        tuple(args.meta_hiddens),
        args.inputs,
        args.batch,
        args.repeats,
        device,
        args.seed,
        args.threads or None,
    )
    previous_threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)  # so that the device line names the count used
    device_text = describe_device(device)
    torch.set_num_threads(previous_threads)
    header = {
        "command": shlex.join(
            ["pinnkan", "bench", "memory", *(argv if argv is not None else sys.argv[1:])]
        ),
        "device": device_text,
        "torch": torch.__version__,
        "meta kernels": describe_meta_kernels(device),
        "malloc": malloc_setting(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "measured": "modelled_peak = parameters + gradients + Adam state + saved-for-backward "
        f"in bytes (float32; batch {args.batch}); time = median and min of forward+backward "
        f"over {args.repeats} rounds, the models of one (width, G) interleaved round by round; "
        "time_ratio_to_kan = median over rounds of the paired ratio to that round's KAN",
        "seed": f"{args.seed} (models and data; each model built from a generator seeded with it)",
        "points": f"x uniform in [-1, 1]^{args.inputs}, targets uniform in [0, 1], batch {args.batch}",
        "columns": "; ".join(f"{name}: {note}" for name, note in COLUMN_NOTES.items()),
    }
    write_csv(rows, args.out, header, COLUMNS)
    for row in rows:
        print(summary_line(row), flush=True)
    print(f"wrote {len(rows)} rows to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
