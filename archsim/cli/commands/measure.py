"""``archsim measure``: time kernels on the CUDA GPU of this machine (the measurement campaign).

Runs :mod:`archsim.campaigns.gpu_kernels` (calibration microbenchmarks + validation timings) and copies
its CSVs into ``archsim/data/measurements/<device>/`` named ``<device>-calibration-<date>.csv`` and
``<device>-validation-<date>.csv`` with the run's ``meta.json`` beside them. Needs a CUDA GPU
with torch and triton; on a machine without one it says so and exits 1.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from archsim.cli import flags


def measure(
    data_dir: Annotated[Path, typer.Option("--data-dir", help="where the CSVs go", callback=flags.output_dir)] = Path(
        "archsim/data/measurements"),
    subset: Annotated[str, typer.Option(help="full | h200 (the smaller grid)",
                                        callback=flags.choice(("full", "h200")))] = "full",
    budget_s: Annotated[float, typer.Option("--budget-s", help="stop starting new cases after this (s, <= 1 day)",
                                            callback=flags.finite(above=0.0, maximum=86400.0))] = 480.0,
    skip_calibration: Annotated[bool, typer.Option("--skip-calibration")] = False,
) -> None:
    """Time torch SDPA backends, naive attention, our Triton kernels and cuBLAS GEMMs on this GPU."""
    try:
        import torch
    except ImportError:
        typer.echo("archsim measure needs torch with CUDA; torch is not installed", err=True)
        raise SystemExit(1) from None
    if not torch.cuda.is_available():
        typer.echo("archsim measure needs a CUDA GPU; none is visible on this machine", err=True)
        raise SystemExit(1)
    from archsim.campaigns import gpu_kernels as campaign

    with tempfile.TemporaryDirectory() as tmp:
        args = ["--out", tmp, "--subset", subset, "--budget-s", str(budget_s)]
        campaign.main(args + (["--skip-calibration"] if skip_calibration else []))
        meta = json.loads((Path(tmp) / "meta.json").read_text())
        device = meta["device_name"].lower().replace("nvidia ", "").replace(" ", "-")
        date = meta["date_utc"][:10]
        data_dir.mkdir(parents=True, exist_ok=True)
        for name in ("calibration", "validation"):
            src = Path(tmp) / f"{name}.csv"
            if src.exists():
                shutil.copy(src, data_dir / f"{device}-{name}-{date}.csv")
                typer.echo(f"wrote {data_dir / f'{device}-{name}-{date}.csv'}")
        shutil.copy(Path(tmp) / "meta.json", data_dir / f"{device}-meta-{date}.json")


def register(app: typer.Typer) -> None:
    app.command("measure")(measure)
