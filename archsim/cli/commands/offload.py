"""``archsim offload``: decode serving on a system (attention offloading) — throughput per dollar."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from archsim.cli import flags
from archsim.cli.commands.attention import DTYPES

#: A time-between-tokens limit above an hour is no limit (and a unit slip).
MAX_TBT_MS = 3.6e6
#: Micro-batches of a pipelined decode step: Lamina uses 2-4; 64 is far beyond any useful split.
MAX_MICRO_BATCHES = 64


def offload(
    system: Annotated[str, typer.Argument(
        help="system hardware preset or YAML (devices with roles compute/attention)")],
    model: Annotated[str, typer.Option("--model", help="model preset or YAML")] = "llama-3-70b",
    context: Annotated[int, typer.Option("--context", help="tokens in each sequence's KV cache", **flags.SEQ)] = 4096,
    batch: Annotated[int | None, typer.Option("--batch", help="fixed batch (default: best)", **flags.BATCH)] = None,
    tbt_ms: Annotated[float | None, typer.Option("--tbt-ms", callback=flags.finite(above=0.0, maximum=MAX_TBT_MS),
                                                 help="time-between-tokens limit (ms, > 0)")] = None,
    micro_batches: Annotated[int, typer.Option("--micro-batches", min=1, max=MAX_MICRO_BATCHES)] = 2,
    dtype: Annotated[str, typer.Option("--dtype", callback=flags.choice(DTYPES), help=", ".join(DTYPES))] = "bf16",
) -> None:
    """Print JSON: decode batch, time between tokens, tokens/s, USD/h, tokens per dollar, link traffic, bound;
    and the time to first token of one prompt of --context tokens (prefill on the compute devices)."""
    from archsim import presets
    from archsim.errors import ConfigError
    from archsim.offload.serving import best_batch, decode_iteration, max_batch, prefill
    from archsim.offload.system import config_from_system
    from archsim.schemas.hardware import SystemSpec

    hw = presets.load_hardware(system)
    if not isinstance(hw, SystemSpec):
        raise ConfigError.single(f"{system!r} is a single {hw.family} device; offload needs a system "
                                 "(e.g. lamina-h100-h20)", key_path="family")
    spec = presets.load_model(model)
    cfg = config_from_system(hw, micro_batches=micro_batches)
    cap = max_batch(spec, cfg, context, dtype)
    if batch is not None:
        if batch > cap:
            raise ConfigError.single(f"batch {batch} does not fit: the KV cache holds at most {cap} sequences of "
                                     f"{context} tokens on {hw.name}", key_path="--batch")
        it = decode_iteration(spec, cfg, batch, context, dtype)
        tokens_per_dollar = it.tokens_per_s * 3600 / cfg.usd_per_hour()
    else:
        op = best_batch(spec, cfg, context, dtype, tbt_limit_s=tbt_ms / 1e3 if tbt_ms is not None else None)
        if op.iteration is None:
            raise ConfigError.single(f"no batch fits on {hw.name}: {op.limited_by}", key_path="--context")
        it, tokens_per_dollar = op.iteration, op.tokens_per_dollar
    out = {"system": hw.name, "policy": cfg.policy, "model": spec.name, "context": context, "batch": it.batch,
           "max_batch": cap, "tbt_s": it.time_s, "tokens_per_s": it.tokens_per_s, "bound": it.bound,
           "usd_per_hour": cfg.usd_per_hour(), "tokens_per_dollar": tokens_per_dollar,
           "usd_per_million_tokens": 1e6 / tokens_per_dollar,
           "link_bytes_per_s_per_memory_device": it.required_link_bytes_per_s, "parts_s": it.parts}
    pf = prefill(spec, cfg, context, 1, dtype)
    out["prefill_one_prompt"] = {"prompt_len": context, "compute_s": pf.compute_s, "kv_handoff_s": pf.kv_handoff_s,
                                 "ttft_s": pf.ttft_s}
    typer.echo(json.dumps(out, indent=2))


def register(app: typer.Typer) -> None:
    app.command("offload")(offload)
