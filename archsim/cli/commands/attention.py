"""``archsim attention``: one attention operator, side by side on several hardware presets.

Each device runs the attention algorithm named for its family (``--algorithm family=name``;
defaults: gpu -> flash, accelerator -> fusemax, fpga -> edge_moe, pim -> flash_decoding) through
the backend ``archsim run`` would choose for that family (GPU launch model, task graphs, FPGA
design, PIM command model — the same model, not a separate one); the roofline time of the same
operator is printed beside it.
"""

from __future__ import annotations

from typing import Annotated

import typer

from archsim.cli import flags

#: Element types of a workload (archsim.schemas.base.DTYPE_BYTES; tests/unit/test_cli_flags.py holds them equal).
DTYPES = ("fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8", "int4", "int16", "int32")
DEFAULT_ALGORITHM = {"gpu": "flash", "accelerator": "fusemax", "fpga": "edge_moe", "pim": "flash_decoding"}


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
    algorithm: Annotated[list[str], typer.Option("--algorithm", help="family=name or name (all devices); names: "
                                                 "archsim.algorithms")] = [],  # noqa: B006
) -> None:
    """Run one attention operator on every --hw and print time, bound, utilisation, bytes, energy."""
    from rich.console import Console
    from rich.table import Table

    import archsim.dataflows  # noqa: F401  (registers dataflow names)
    from archsim import presets
    from archsim.algorithms import ATTENTION_ALGORITHMS
    from archsim.backends import choose
    from archsim.backends.driver import run_operators
    from archsim.backends.roofline import evaluate_op
    from archsim.errors import ConfigError
    from archsim.guards import check_result_within_peaks
    from archsim.operators import Attention, Role
    from archsim.textsafe import for_terminal
    from archsim.units import format_si

    chosen = dict(DEFAULT_ALGORITHM)
    for item in algorithm:
        fam, _, name = item.rpartition("=")
        if (fam and fam not in DEFAULT_ALGORITHM) or not name:
            raise ConfigError.single(f"{item!r}: give family=name or name; families: "
                                     f"{', '.join(DEFAULT_ALGORITHM)}", key_path="--algorithm")
        for f in ([fam] if fam else list(chosen)):
            chosen[f] = name
    unknown = sorted({name for name in chosen.values() if name not in ATTENTION_ALGORITHMS})
    if unknown:
        raise ConfigError.single(f"unknown attention algorithm {', '.join(map(repr, unknown))}; valid: "
                                 f"{', '.join(ATTENTION_ALGORITHMS)}", key_path="--algorithm")
    title = (f"attention B{batch} H{heads} Nq{seq_q} Nkv{seq_kv or seq_q} d{head_dim}{' causal' if causal else ''}"
             f"{f' window {window}' if window else ''} {dtype}")
    table = Table(title=title)
    for col in ("hardware", "family", "backend", "algorithm", "time", "roofline", "TFLOP/s", "bound", "off-chip",
                "energy"):
        table.add_column(col)
    for ref in hw:
        device = presets.load_hardware(ref)
        if device.family == "system":
            raise ConfigError.single(f"{ref}: a system of devices; give one device preset", key_path="hw")
        name = chosen.get(device.family, "flash")
        op = Attention(name="attention", role=Role.ATTENTION, phase="layers", dtype=dtype, batch=batch, heads=heads,
                       kv_heads=heads, seq_q=seq_q, seq_kv=seq_kv or seq_q, head_dim=head_dim, causal=causal,
                       window=window, algorithm=name)
        backend = choose("auto", device.family)
        result = run_operators(backend, "attention", device, [op], {})
        check_result_within_peaks(result, device)
        r = result.ops[0]
        try:  # the roofline needs rates for the dtype; a fixed-point FPGA design does not
            bound = format_si(evaluate_op(op, device).time_s, "s")
        except ConfigError:
            bound = f"- (no {dtype} rates)"
        offchip = r.bytes_by_level.get(device.offchip_name, 0.0)
        table.add_row(for_terminal(device.name), device.family, f"{backend.name} ({r.costed_by})", name,
                      format_si(r.time_s, "s"), bound, f"{op.useful_flops / r.time_s / 1e12:.1f}",
                      for_terminal(r.bound), format_si(offchip, "B"), format_si(r.energy_j, "J"))
    Console(width=170).print(table)


def register(app: typer.Typer) -> None:
    app.command("attention")(attention)
