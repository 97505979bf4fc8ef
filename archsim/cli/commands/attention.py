"""``archsim attention``: one attention workload, side by side on several hardware presets.

Each device runs the dataflow named for its family (``--dataflow family=name``; defaults:
gpu -> flash, accelerator -> fusemax, fpga -> edge_moe, pim -> flash_decoding) through the
task-graph player of :mod:`dataflows`; the analytical bound from the same graph is printed
beside the event-model time.
"""

from __future__ import annotations

from typing import Annotated

import typer

DEFAULT_DATAFLOW = {"gpu": "flash", "accelerator": "fusemax", "fpga": "edge_moe", "pim": "flash_decoding"}


def attention(
    hw: Annotated[list[str], typer.Option("--hw", help="hardware preset or YAML (repeat for several)")] = [  # noqa: B006
        "h100-sxm", "fusemax-array"],
    batch: Annotated[int, typer.Option(min=1)] = 1,
    heads: Annotated[int, typer.Option(min=1)] = 32,
    seq_q: Annotated[int, typer.Option("--seq-q", min=1)] = 4096,
    seq_kv: Annotated[int | None, typer.Option("--seq-kv", min=1, help="default: seq-q")] = None,
    head_dim: Annotated[int, typer.Option("--head-dim", min=1)] = 128,
    causal: bool = False,
    window: Annotated[int | None, typer.Option(min=1, help="sliding window (swat)")] = None,
    dtype: str = "bf16",
    dataflow: Annotated[list[str], typer.Option("--dataflow", help="family=name or name (all devices)")] = [],  # noqa: B006
) -> None:
    """Run one attention operator on every --hw and print time, bound, utilisation, bytes, energy."""
    from rich.console import Console
    from rich.table import Table

    import archsim.dataflows  # noqa: F401  (registers dataflow names)
    from archsim import presets
    from archsim.dataflows.evaluate import evaluate_attention
    from archsim.dataflows.shapes import AttentionShape
    from archsim.dataflows.target import target_from_device
    from archsim.errors import ConfigError
    from archsim.schemas.base import DTYPE_BYTES
    from archsim.units import format_si

    chosen = dict(DEFAULT_DATAFLOW)
    for item in dataflow:
        fam, _, name = item.rpartition("=")
        for f in ([fam] if fam else list(chosen)):
            chosen[f] = name
    if dtype not in DTYPE_BYTES:
        raise ConfigError.single(f"unknown dtype {dtype!r}; valid: {', '.join(DTYPE_BYTES)}", key_path="dtype")
    shape = AttentionShape(batch, heads, seq_q, seq_kv or seq_q, head_dim, None, causal, window, DTYPE_BYTES[dtype])
    table = Table(title=f"attention {shape}{' causal' if causal else ''}{f' window {window}' if window else ''}")
    for col in ("hardware", "family", "dataflow", "time", "analytical bound", "TFLOP/s", "busiest unit",
                "off-chip", "energy"):
        table.add_column(col)
    for ref in hw:
        device = presets.load_hardware(ref)
        if device.family == "system":
            raise ConfigError.single(f"{ref}: a system of devices; give one device preset", key_path="hw")
        target = target_from_device(device, dtype)
        name = chosen.get(device.family, "flash")
        r = evaluate_attention(name, shape, target)
        unit = max(r.busy_s, key=lambda u: r.busy_s[u])
        table.add_row(device.name, device.family, name, format_si(r.time_s, "s"), format_si(r.analytical_time_s, "s"),
                      f"{shape.useful_flops / r.time_s / 1e12:.1f}", f"{unit} {100 * r.utilisation(unit):.0f}%",
                      format_si(r.bytes_at(target.offchip), "B"), format_si(r.energy_j, "J"))
    Console(width=160).print(table)


def register(app: typer.Typer) -> None:
    app.command("attention")(attention)
