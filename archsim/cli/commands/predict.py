"""``archsim predict attention|gemm``: one kernel's modeled latency on a GPU preset, as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from archsim.cli import flags

# The GPU model's choices, spelled here so `archsim --help` does not import the model
# (tests/unit/test_cli_flags.py holds them equal to archsim.gpu.predict's).
ATTENTION_IMPLS = ("triton-flash", "flash2", "cudnn", "naive", "flash-decoding", "cudnn-bias")
GEMM_IMPLS = ("cublas", "triton-gemm")
DTYPES = ("bf16", "fp16", "fp32")
#: KV splits of flash-decoding: FA2 caps its split count at 128; 1024 leaves room.
MAX_SPLITS = 1024

predict_app = typer.Typer(help="Predict one kernel's latency on a GPU (GPU model of archsim.gpu); prints JSON.",
                          no_args_is_help=True)

Hw = Annotated[str, typer.Option("--hw", help="GPU hardware preset or YAML path (h100-sxm, h200, a100-sxm)")]
Timeline = Annotated[Path | None, typer.Option("--timeline", callback=flags.output_file(),
                                               help="write a Chrome/Perfetto trace JSON here")]
Events = Annotated[bool, typer.Option("--events", help="also play the launches on the event engine (per-CTA "
                                                       "timeline; slower) and report the gap to the analytical model")]


def _emit(pred, timeline: Path | None, events: bool = False) -> None:
    out = pred.to_dict(timeline=timeline is not None and not events)
    trace = out.pop("timeline", None)
    from archsim.intervals import for_prediction
    out.update(for_prediction(pred))  # latency_s_calibrated, latency_s_p80/p95, validated_on, calibrated_on
    if events:
        from archsim.engine import Timeline as EngineTimeline
        from archsim.gpu.predict import _rates
        observer = EngineTimeline() if timeline is not None else None
        out["events"] = pred.event_check(_rates(pred.hardware), observer=observer)
        trace = observer.to_chrome_trace() if observer is not None else None
    if timeline is not None:
        from archsim import outfile

        outfile.write(timeline, json.dumps(outfile.trace_doc(trace or {"traceEvents": []}, "predict-timeline"))
                      .encode(), flag="--timeline")
        out["timeline_file"] = str(timeline)
    typer.echo(json.dumps(out, indent=1))


@predict_app.command("attention")
def attention(
    hw: Hw = "h100-sxm",
    impl: Annotated[str, typer.Option(callback=flags.choice(ATTENTION_IMPLS),
                                      help="triton-flash | flash2 (PyTorch SDPA FLASH = FlashAttention-2) | cudnn "
                                           "| naive | flash-decoding | cudnn-bias (SDPA with an attn_mask: "
                                           "cuDNN with a bias input)")] = "flash2",
    batch: Annotated[int, typer.Option(help="batch size", **flags.BATCH)] = 1,
    heads: Annotated[int, typer.Option(help="query heads", **flags.HEADS)] = 32,
    kv_heads: Annotated[int | None, typer.Option("--kv-heads", help="key/value heads (default: heads)",
                                                 **flags.HEADS)] = None,
    seq_q: Annotated[int, typer.Option("--seq-q", help="query length", **flags.SEQ)] = 4096,
    seq_kv: Annotated[int | None, typer.Option("--seq-kv", help="key/value length (default: seq-q)", **flags.SEQ)]
    = None,
    head_dim: Annotated[int, typer.Option("--head-dim", help="head dimension", **flags.DIM)] = 128,
    causal: Annotated[bool, typer.Option("--causal/--no-causal", help="causal mask, bottom-right aligned")] = False,
    dtype: Annotated[str, typer.Option(callback=flags.choice(DTYPES), help="bf16 | fp16 | fp32")] = "bf16",
    block_m: Annotated[int | None, typer.Option("--block-m", callback=flags.BLOCK,
                                                help="Triton BLOCK_M (triton-flash)")] = None,
    block_n: Annotated[int | None, typer.Option("--block-n", callback=flags.BLOCK,
                                                help="Triton BLOCK_N (triton-flash, flash-decoding)")] = None,
    num_warps: Annotated[int | None, typer.Option("--num-warps", callback=flags.WARPS, help="Triton num_warps")]
    = None,
    num_stages: Annotated[int | None, typer.Option("--num-stages", help="Triton num_stages", **flags.STAGES)] = None,
    num_splits: Annotated[int | None, typer.Option("--num-splits", help="KV splits (flash-decoding)", min=1,
                                                   max=MAX_SPLITS)] = None,
    timeline: Timeline = None,
    events: Events = False,
) -> None:
    """Modeled latency of one attention forward: latency_s, bound, tflops, bytes per level, launches."""
    from archsim.gpu.predict import predict_attention

    cfg = {"block_m": block_m, "block_n": block_n, "num_warps": num_warps, "num_stages": num_stages,
           "num_splits": num_splits}
    if impl == "flash-decoding":
        cfg.pop("block_m")
    elif impl == "triton-flash":
        cfg.pop("num_splits")
    else:
        cfg = {}
    _emit(predict_attention(hw, impl, batch=batch, heads=heads, kv_heads=kv_heads, seq_q=seq_q, seq_kv=seq_kv,
                            head_dim=head_dim, causal=causal, dtype=dtype, config=cfg,
                            timeline=timeline is not None), timeline, events)


@predict_app.command("gemm")
def gemm(
    hw: Hw = "h100-sxm",
    m: Annotated[int, typer.Option("--m", help="rows of A and C", **flags.DIM)] = 4096,
    n: Annotated[int, typer.Option("--n", help="columns of B and C", **flags.DIM)] = 4096,
    k: Annotated[int, typer.Option("--k", help="inner dimension", **flags.DIM)] = 4096,
    dtype: Annotated[str, typer.Option(callback=flags.choice(DTYPES), help="bf16 | fp16 | fp32")] = "bf16",
    impl: Annotated[str, typer.Option(callback=flags.choice(GEMM_IMPLS), help="cublas | triton-gemm")] = "cublas",
    timeline: Timeline = None,
    events: Events = False,
) -> None:
    """Modeled latency of C = A @ B: latency_s, bound, tflops, bytes per level, launches."""
    from archsim.gpu.predict import predict_gemm

    _emit(predict_gemm(hw, m=m, n=n, k=k, dtype=dtype, impl=impl, timeline=timeline is not None), timeline, events)


def register(app: typer.Typer) -> None:
    app.add_typer(predict_app, name="predict")
