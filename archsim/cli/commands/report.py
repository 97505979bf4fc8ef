"""``archsim report``: (re)build report.html for a run or sweep output folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def report(
    folder: Annotated[Path, typer.Argument(help="output folder of `archsim run` or `archsim sweep`")],
    measured: Annotated[list[Path] | None, typer.Option(
        "--measured", help="measurement CSV (measured_<x> columns) for parity plots; measured*.csv in FOLDER "
                           "are used automatically")] = None,
) -> None:
    """Write FOLDER/report.html: roofline, operators, energy, timeline (runs); heatmaps, Pareto (sweeps)."""
    from archsim.reporting import build_report

    out = build_report(folder, measured=list(measured or []))
    typer.echo(f"report: {out}")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
