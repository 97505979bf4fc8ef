"""``archsim run``: simulate a workload on a device and write an output folder."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from archsim.api import DEFAULT_HARDWARE, DEFAULT_WORKLOAD
from archsim.errors import ConfigError


def run(
    workload: Annotated[str | None, typer.Argument(
        help="workload YAML path or preset name (default: Llama-2-7B prefill 2048 + 1 decode step, batch 16)")] = None,
    hw: Annotated[str, typer.Option("--hw", help="hardware preset name or YAML path")] = DEFAULT_HARDWARE,
    out: Annotated[Path, typer.Option("--out", help="output folder, replaced atomically; only an archsim output "
                                      "folder is replaced unless --force")] = Path("archsim-out"),
    backend: Annotated[str, typer.Option("--backend", help="backend name, or auto for the best available")] = "auto",
    no_report: Annotated[bool, typer.Option("--no-report", help="skip report.html")] = False,
    force: Annotated[bool, typer.Option("--force", help="replace --out even if archsim did not write it (never the "
                                        "current directory, home, or a folder holding the inputs)")] = False,
) -> None:
    """Simulate WORKLOAD on --hw; write summary.json, ops.csv, report.html to --out and print a table."""
    from rich.console import Console
    from rich.table import Table

    from archsim.api import simulate
    from archsim.outdir import OutputFolder
    from archsim.reporting.run_folder import write_run
    from archsim.textsafe import for_terminal
    from archsim.units import format_si

    # --out is checked and locked before simulating: a bad --out costs nothing, a second run into it stops
    with OutputFolder(out, kind="run", force=force, inputs=[workload, hw]) as target:
        try:
            result = simulate(workload or DEFAULT_WORKLOAD, hw, backend=backend)
        except ConfigError as exc:  # a problem found after loading (capacity, parallel split): point at the file
            raise _located(exc, workload) from None
        if result.family == "gpu":  # the software stack's GPU-busy and wall time beside the kernel sum
            from archsim.gpu.stack_run import stack_summary
            from archsim.presets import load_workload
            result.stack = stack_summary(load_workload(workload or DEFAULT_WORKLOAD), result.hardware)
            if result.stack:  # its GPU-busy and wall intervals, from whole-model step residuals where measured
                from archsim.intervals.steps import for_stack
                result.stack["intervals"] = for_stack(result.stack)
        folder = write_run(result, target, report=not no_report)

    console = Console()
    console.width = max(console.width, 150)
    t = for_terminal  # names come from user YAML: no terminal escapes, no rich markup
    table = Table(title=f"{t(result.workload)} on {t(result.hardware)} ({t(result.backend)})")
    for col in ("phase", "operator", "x", "time (total)", "share", "bound", "TFLOP/s", "off-chip bytes", "energy"):
        table.add_column(col, justify="right" if col not in ("phase", "operator", "bound") else "left")
    total = result.latency_s or 1.0
    for o in result.ops:
        offchip = next(iter(o.bytes_by_level.values()), 0.0) * o.count
        table.add_row(t(o.phase), t(o.name), str(o.count), format_si(o.total_time_s, "s"),
                      f"{100 * o.total_time_s / total:.1f}%", t(o.bound),
                      f"{o.flops / o.time_s / 1e12:.1f}" if o.time_s else "-", format_si(offchip, "B"),
                      format_si(o.total_energy_j, "J"))
    console.print(table)
    for phase, v in result.by_phase().items():
        extra = f", {v['tokens_per_s']:.1f} tokens/s" if "tokens_per_s" in v else ""
        console.print(f"{t(phase)}: {format_si(v['latency_s'], 's')}, {format_si(v['energy_j'], 'J')}{extra}")
    from archsim.intervals.display import calibration_lines, estimate_text, stack_lines
    iv = result.intervals or {}
    total = iv.get("total") or {"latency_s": result.latency_s}
    console.print(f"total, operator model (one kernel per operator, no framework glue), "
                  f"{format_si(result.energy_j, 'J')} -> {t(folder)}:")
    console.print(f"  latency: {estimate_text(total, 'latency_s')}")
    for line in calibration_lines(total, iv["calibrated_on"], "latency_s") if iv else []:
        console.print(f"  {t(line)}")
    if result.stack:
        s = result.stack
        console.print(f"software stack {t(s['software'])}, host {t(s['host'])} (the workload's `stack:`, default "
                      f"eager = HF transformers; `archsim stack` breaks it down):")
        for line in stack_lines(s, s.get("intervals")):
            console.print(f"  {t(line)}")

def _located(exc: ConfigError, workload: str | None) -> ConfigError:
    """``exc`` with the workload file and the line of each problem's top-level key where it had none."""
    path = Path(workload) if workload else None
    if path is None or not path.is_file() or all(p.file for p in exc.problems):
        return exc
    from archsim.yamlio import load_yaml

    try:
        _, lines = load_yaml(path)
    except ConfigError:
        return exc
    located = []
    for p in exc.problems:
        if p.file:
            located.append(p)
            continue
        top = (p.key_path or "").split(".")[0].split("[")[0]
        located.append(dataclasses.replace(p, file=str(path), line=lines.get((top,), 1) if top else 1))
    return ConfigError(located)


def register(app: typer.Typer) -> None:
    app.command("run")(run)
