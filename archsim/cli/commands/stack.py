"""``archsim stack [WORKLOAD] --hw h200``: GPU-busy and wall time per phase under a software stack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from archsim.cli import flags

SOFTWARE = ("eager", "plain", "fused")  # archsim.gpu.stack_run.STACK_OF (kept here so --help imports no model)
HOSTS = ("eager", "cuda-graph")


def stack_cmd(
    workload: Annotated[str, typer.Argument(help="workload preset name or YAML path")] = "llama2-7b-serving",
    hw: Annotated[str, typer.Option("--hw", help="GPU preset with a whole-model calibration",
                                    callback=flags.choice(("h200", "h100-sxm")))] = "h200",
    software: Annotated[str | None, typer.Option(
        help="software stack (default: the workload's stack.software): eager (transformers) | plain | fused",
        callback=flags.choice(SOFTWARE))] = None,
    host: Annotated[str | None, typer.Option(help="host mode (default: the workload's stack.host)",
                                             callback=flags.choice(HOSTS))] = None,
    calibration: Annotated[str, typer.Option(help="own (H200-from-H200) | cross (H200-from-H100)",
                                             callback=flags.choice(("own", "cross")))] = "own",
    json_out: Annotated[Path | None, typer.Option("--json", help="write the prediction as JSON here",
                                                  callback=flags.output_file())] = None,
) -> None:
    """Print per phase: GPU-busy time (kernel sum), wall time (host/GPU overlap), host time, bound, categories."""
    from archsim.gpu.stack_run import predict_workload
    from archsim.gpu.stacks import CATEGORIES
    from archsim.presets import load_workload

    pred = predict_workload(load_workload(workload), hw, software=software, host=host, calibration=calibration)
    typer.echo(f"{pred.workload} on {pred.hardware}: software {pred.software}, host {pred.host} "
               f"({pred.calibration} calibration)")
    typer.echo(f"{'phase':8} {'steps':>5} {'kernels':>7} {'GPU-busy ms':>12} {'wall ms':>9} {'host ms':>9} "
               f"{'bound':>5}  " + " ".join(f"{c[:5]:>7}" for c in CATEGORIES))
    for p in pred.phases:
        typer.echo(f"{p.phase:8} {p.steps:5d} {p.n_kernels:7d} {p.gpu_busy_s * 1e3:12.3f} {p.wall_s * 1e3:9.3f} "
                   f"{p.host_s * 1e3:9.3f} {p.bound:>5}  "
                   + " ".join(f"{p.by_category[c] * 1e3:7.2f}" for c in CATEGORIES))
    typer.echo(f"total: GPU-busy {pred.gpu_busy_s * 1e3:.3f} ms, wall {pred.wall_s * 1e3:.3f} ms")
    from archsim.intervals.display import stack_lines
    from archsim.intervals.steps import for_stack
    steps = for_stack(pred)  # model / calibrated / interval from whole-model step residuals, or why none
    for line in stack_lines(pred.to_dict(), steps):
        typer.echo(f"  {line}")
    for n in pred.notes:
        typer.echo(f"note: {n}")
    if json_out is not None:
        from archsim import outfile

        doc = outfile.json_doc({**pred.to_dict(), "intervals": steps}, "stack")
        outfile.write(json_out, json.dumps(doc, indent=1).encode(), flag="--json")


def register(app: typer.Typer) -> None:
    app.command("stack")(stack_cmd)
