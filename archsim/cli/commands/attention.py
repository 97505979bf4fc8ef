"""``archsim attention``: one attention workload, side by side on several hardware presets.

Each device runs the dataflow named for its family (``--dataflow family=name``; defaults:
gpu -> flash, accelerator -> fusemax, fpga -> edge_moe, pim -> flash_decoding) through the
task-graph player of :mod:`dataflows`; the analytical bound from the same graph is printed
beside the event-model time.
"""

from __future__ import annotations

from typing import Annotated

import typer

from archsim.cli import flags

#: Element types of a workload (archsim.schemas.base.DTYPE_BYTES; tests/unit/test_cli_flags.py holds them equal).
DTYPES = ("fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8", "int4", "int16", "int32")
DEFAULT_DATAFLOW = {"gpu": "flash", "accelerator": "fusemax", "fpga": "edge_moe", "pim": "flash_decoding"}


def attention(
    hw: Annotated[list[str], typer.Option("--hw", help="hardware preset or YAML (repeat for several)")] = [  # noqa: B006
        "h100-sxm", "fusemax-array"],
    batch: Annotated[int, typer.Option(**flags.BATCH)] = 1,
    heads: Annotated[int, typer.Option(**flags.HEADS)] = 32,
    seq_q: Annotated[int, typer.Option("--seq-q", **flags.SEQ)] = 4096,
    seq_kv: Annotated[int | None, typer.Option("--seq-kv", help="default: seq-q", **flags.SEQ)] = None,
    head_dim: Annotated[int, typer.Option("--head-dim", **flags.DIM)] = 128,
    causal: bool = False,
    window: Annotated[int | None, typer.Option(help="sliding window (swat)", **flags.SEQ)] = None,
    dtype: Annotated[str, typer.Option(callback=flags.choice(DTYPES), help=", ".join(DTYPES))] = "bf16",
    dataflow: Annotated[list[str], typer.Option("--dataflow", help="family=name or name (all devices)")] = [],  # noqa: B006
) -> None:
    """Run one attention operator on every --hw and print time, bound, utilisation, bytes, energy."""
    from rich.console import Console
    from rich.table import Table

    import archsim.dataflows  # noqa: F401  (registers dataflow names)
    from archsim import presets
    from archsim.dataflows.evaluate import ARRAY_DATAFLOWS, GENERIC_DATAFLOWS, evaluate_attention
    from archsim.dataflows.shapes import AttentionShape
    from archsim.dataflows.target import target_from_device
    from archsim.errors import ConfigError
    from archsim.guards import check_rate
    from archsim.schemas.base import DTYPE_BYTES
    from archsim.textsafe import for_terminal
    from archsim.units import format_si

    chosen = dict(DEFAULT_DATAFLOW)
    for item in dataflow:
        fam, _, name = item.rpartition("=")
        if (fam and fam not in DEFAULT_DATAFLOW) or not name:
            raise ConfigError.single(f"{item!r}: give family=name or name; families: "
                                     f"{', '.join(DEFAULT_DATAFLOW)}", key_path="--dataflow")
        for f in ([fam] if fam else list(chosen)):
            chosen[f] = name
    valid = (*ARRAY_DATAFLOWS, *GENERIC_DATAFLOWS)
    unknown = sorted({name for name in chosen.values() if name not in valid})
    if unknown:
        raise ConfigError.single(f"unknown dataflow {', '.join(map(repr, unknown))}; valid: "
                                 f"{', '.join(valid)}", key_path="--dataflow")
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
        rates = device.compute.matrix_flops_per_s
        check_rate(f"dataflow {name} on {device.name}", shape.useful_flops, r.time_s,
                   rates.get(dtype, max(rates.values(), default=float("inf"))), "FLOP")
        unit = max(r.busy_s, key=lambda u: r.busy_s[u])
        table.add_row(for_terminal(device.name), device.family, for_terminal(name), format_si(r.time_s, "s"),
                      format_si(r.analytical_time_s, "s"),
                      f"{shape.useful_flops / r.time_s / 1e12:.1f}", f"{unit} {100 * r.utilisation(unit):.0f}%",
                      format_si(r.bytes_at(target.offchip), "B"), format_si(r.energy_j, "J"))
    Console(width=160).print(table)


def register(app: typer.Typer) -> None:
    app.command("attention")(attention)
