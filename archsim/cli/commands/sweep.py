"""``archsim sweep``: run a sweep YAML locally (process pool) or on Ray into a results folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from archsim import limits
from archsim.cli import flags

#: archsim.sweep.engines.ENGINES, spelled here so `archsim --help` imports no engine (a test holds them equal)
ENGINES = ("local", "ray")


def sweep(
    sweep_file: Annotated[Path, typer.Argument(help="sweep YAML (kind: sweep)")],
    out: Annotated[Path, typer.Option(
        "--out", help="output folder; rerunning into it resumes")] = Path("archsim-sweep"),
    engine: Annotated[str, typer.Option("--engine", help="local (process pool) or ray",
                                        callback=flags.choice(ENGINES))] = "local",
    workers: Annotated[int | None, typer.Option("--workers", help="parallel workers (default: CPU cores)", min=1,
                                                max=limits.MAX_SWEEP_WORKERS)] = None,
    address: Annotated[str | None, typer.Option(
        "--address", help="Ray cluster address (default: start a local Ray)")] = None,
    checkpoint_s: Annotated[float, typer.Option(
        "--checkpoint-s", help="seconds between results.parquet checkpoints (> 0, at most 3600)",
        callback=flags.finite(maximum=limits.MAX_CHECKPOINT_S, above=0.0))] = 1.0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="discard results already in --out")] = False,
    force: Annotated[bool, typer.Option("--force", help="with --overwrite: replace --out even if archsim did not "
                                        "write it (never the current directory, home, or the sweep's folder)")] = False,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="rerun points recorded as failed")] = False,
    no_report: Annotated[bool, typer.Option("--no-report", help="skip report.html")] = False,
) -> None:
    """Run every point of SWEEP_FILE; write DIR/results.parquet (one row per point), sweep.json and report.html.

    Killed runs resume: rerun the same command and only the missing points are simulated.
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from archsim.errors import ConfigError
    from archsim.outdir import OutputFolder
    from archsim.sweep.plan import load_plan
    from archsim.sweep.runner import run_sweep, sweep_inputs
    from archsim.textsafe import clean
    from archsim.textsafe import for_terminal as t  # names and paths come from the user: no escapes, no markup

    if address and engine != "ray":
        raise ConfigError.single("--address is for --engine ray", key_path="--address")
    console = Console(stderr=True)
    plan = load_plan(sweep_file)
    OutputFolder(out, kind="sweep", force=force, replace=overwrite, inputs=sweep_inputs(plan, sweep_file))  # checks
    planned = {s: plan.count(s) for s in ("run", "invalid", "dropped")}
    console.print(f"sweep {t(repr(plan.sweep.name))}: {len(plan.points)} points ({planned['run']} to simulate, "
                  f"{planned['invalid']} invalid combinations, {planned['dropped']} dropped by constraints)")
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("elapsed"),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(f"{engine}", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        summary = run_sweep(sweep_file, out, engine=engine, workers=workers, address=address,
                            checkpoint_s=checkpoint_s, overwrite=overwrite, force=force, retry_failed=retry_failed,
                            progress=progress, plan=plan)
    for warning in summary.warnings:
        console.print(f"warning: {clean(warning)}", markup=False, highlight=False, soft_wrap=True)
    out_console = Console()
    out_console.print(
        f"{t(summary.name)}: {summary.points} points: {summary.ok} ok, {summary.failed} failed, "
        f"{summary.dropped} dropped by constraints; {summary.ran} simulated now, {summary.resumed} resumed; "
        f"{summary.wall_s:.2f} s on {summary.engine['engine']} ({summary.engine['workers']} workers)")
    for err in summary.errors[:5]:
        out_console.print(clean(f"  failed point {err['point']}: {err['error']}"), markup=False)
    if summary.failed > 5:
        out_console.print(f"  ... {summary.failed - 5} more failures in results.parquet (status == 'error')")
    reasons: dict[str, int] = {}
    for d in summary.dropped_points:
        reasons[d["reason"]] = reasons.get(d["reason"], 0) + 1
    for reason, n in reasons.items():
        out_console.print(clean(f"  dropped {n}: {reason}"), markup=False)
    if not no_report:
        from archsim.reporting import build_report

        report = build_report(out)
        out_console.print(f"report: {t(report)}")
    out_console.print(f"results: {t(summary.out_dir / 'results.parquet')}")


def register(app: typer.Typer) -> None:
    app.command("sweep")(sweep)
