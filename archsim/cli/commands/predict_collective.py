"""``archsim predict collective``: one NCCL-style collective on a node preset, as JSON.

Registered on ``archsim predict`` (commands register in name order, so ``predict`` exists first).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from archsim.errors import ConfigError


def collective(
    hw: Annotated[str, typer.Option("--hw", help="system preset or YAML with a GPU group and its links "
                                                 "(hgx-h100, hgx-h200, hgx-b200)")] = "hgx-h100",
    op: Annotated[str, typer.Option("--op", help="all-reduce | all-gather | reduce-scatter | all-to-all")]
    = "all-reduce",
    gpus: Annotated[int, typer.Option("--gpus", help="GPUs taking part (more than a node spans nodes over the NICs)")]
    = 8,
    size: Annotated[str, typer.Option("--bytes", help="nccl-tests size: the whole buffer (all-gather's output), "
                                                      "e.g. 1048576 or '64 MiB'")] = "1 MiB",
    dtype: Annotated[str, typer.Option("--dtype", help="element type (the size must be whole elements)")] = "bf16",
    algorithm: Annotated[list[str] | None, typer.Option(
        "--algorithm", help="restrict NCCL's choice, as NCCL_ALGO does (ring, tree, nvls; repeatable)")] = None,
) -> None:
    """Modeled time of one collective: latency_s, algorithm bandwidth and nccl-tests bus bandwidth (JSON)."""
    from archsim import presets, units
    from archsim.collectives import estimate, fabric_from_system
    from archsim.schemas.base import DTYPE_BYTES
    from archsim.schemas.hardware import SystemSpec

    try:
        nbytes = units.BYTES.parse(size)
    except ValueError as exc:
        raise ConfigError.single(str(exc), key_path="--bytes") from None
    if dtype not in DTYPE_BYTES:
        raise ConfigError.single(f"unknown dtype {dtype!r}; valid: {', '.join(DTYPE_BYTES)}", key_path="--dtype")
    elem = DTYPE_BYTES[dtype]
    if nbytes % elem:
        raise ConfigError.single(f"{nbytes:g} bytes is not a whole number of {dtype} elements ({elem:g} B each)",
                                 key_path="--bytes")
    hardware = presets.load_hardware(hw)
    if not isinstance(hardware, SystemSpec):
        raise ConfigError.single(f"{hw!r} is one device; a collective needs a node of GPUs and its links — use a "
                                 "system preset such as hgx-h100 or hgx-h200", key_path="--hw")
    fabric = fabric_from_system(hardware, load_device=presets.load_hardware)
    est = estimate(op, nbytes, gpus, fabric, algorithms=tuple(algorithm) if algorithm else None)
    out = {"hardware": hardware.name, "dtype": dtype, "elements": nbytes / elem, **est.to_dict()}
    typer.echo(json.dumps(out, indent=1))


def register(app: typer.Typer) -> None:
    from archsim.cli.commands.predict import predict_app

    predict_app.command("collective")(collective)
