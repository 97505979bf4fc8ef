"""``archsim trace <kernel>``: run a Triton kernel through the op-count tracer and print JSON.

numba kernels (``numba_attention``, ``edge_moe``, ``pim_gemv``) run natively on fresh random
inputs and print their self-measured counts, the formula's, and their error vs float64.

The JSON is :meth:`kernels.trace.KernelTrace.to_dict` (keys ``flops``, ``matmul_flops``,
``elementwise_flops``, ``transcendentals``, ``bytes_loaded``, ``bytes_stored``, ``grid``,
``block_sizes``, ``useful``, ``launches``...). With ``--formula`` it also carries the kernel's
analytic counts and whether they equal the trace. Tracing runs Triton's interpreter: it needs
torch and triton installed (``pip install -e .[kernels]``).
"""

from __future__ import annotations

import json
import os
import sys

import typer

from archsim import limits
from archsim.cli import flags
from archsim.errors import ConfigError

_KERNELS_HELP = ("Triton: flash_attention, flash_decoding, sliding_window_attention, gemm; "
                 "numba: numba_attention, edge_moe, pim_gemv")
_NUMBA = ("numba_attention", "edge_moe", "pim_gemv")


def _run_numba(kernel: str, params: dict) -> dict:
    from archsim.kernels import numba as numba_kernels

    try:
        numba_kernels.resolve(kernel, params)
    except ValueError as exc:
        raise ConfigError.single(str(exc), key_path=kernel) from exc
    return numba_kernels.run(kernel, **params)


def _trace(kernel: str, params: dict, full: bool, with_formula: bool) -> dict:
    if "triton" not in sys.modules:
        os.environ.setdefault("TRITON_INTERPRET", "1")  # this CLI process only traces
    try:
        from archsim.kernels import registry
    except ImportError as exc:
        raise ConfigError.single(f"tracing needs torch and triton ({exc}); install with pip install -e .[kernels]",
                                 key_path="kernel") from exc
    try:
        resolved = registry.resolve(kernel, params)
    except ValueError as exc:
        message = str(exc)
        if message.startswith("unknown kernel"):
            message += f"; numba kernels: {list(_NUMBA)}"
        raise ConfigError.single(message, key_path=kernel) from exc
    result = registry.trace(kernel, full=full, **params)
    if with_formula:
        executed = registry.formula(kernel, **resolved)["executed"]
        result["formula"] = executed
        result["formula_matches_trace"] = all(result[key] == executed[key] for key in executed)
    return result


def register(app: typer.Typer) -> None:
    @app.command("trace")
    def trace(
        kernel: str = typer.Argument(..., help=f"kernel name: {_KERNELS_HELP}"),
        batch: int = typer.Option(None, help="batch size", **flags.BATCH),
        heads: int = typer.Option(None, help="query heads", **flags.HEADS),
        kv_heads: int = typer.Option(None, "--kv-heads", help="key/value heads (GQA/MQA); default = heads",
                                     **flags.HEADS),
        seq_q: int = typer.Option(None, "--seq-q", help="query length (tokens)", **flags.SEQ),
        seq_kv: int = typer.Option(None, "--seq-kv", help="key/value length (tokens); default = seq-q", **flags.SEQ),
        head_dim: int = typer.Option(None, "--head-dim", help="head dimension", **flags.DIM),
        causal: bool = typer.Option(None, "--causal/--no-causal", help="causal mask, bottom-right aligned"),
        dtype: str = typer.Option(None, help="fp16, bf16 or fp32", callback=flags.choice(("fp16", "bf16", "fp32"))),
        block_m: int = typer.Option(None, "--block-m", help="BLOCK_M", callback=flags.BLOCK),
        block_n: int = typer.Option(None, "--block-n", help="BLOCK_N", callback=flags.BLOCK),
        block_k: int = typer.Option(None, "--block-k", help="BLOCK_K (gemm)", callback=flags.BLOCK),
        num_warps: int = typer.Option(None, "--num-warps", help="warps per program", callback=flags.WARPS),
        num_stages: int = typer.Option(None, "--num-stages", help="software-pipeline stages", **flags.STAGES),
        window_left: int = typer.Option(None, "--window-left", help="sliding window: keys before (tokens)", min=0,
                                        max=limits.MAX_SEQ_LEN),
        window_right: int = typer.Option(None, "--window-right", help="sliding window: keys after (tokens)", min=0,
                                         max=limits.MAX_SEQ_LEN),
        num_splits: int = typer.Option(None, "--num-splits", help="flash_decoding: KV splits", min=1, max=1024),
        m: int = typer.Option(None, "--m", help="gemm M", **flags.DIM),
        n: int = typer.Option(None, "--n", help="gemm N", **flags.DIM),
        k: int = typer.Option(None, "--k", help="gemm K", **flags.DIM),
        channels: int = typer.Option(None, help="pim_gemv: DRAM channels", min=1, max=1024),
        banks_per_channel: int = typer.Option(None, "--banks-per-channel", help="pim_gemv: banks per channel", min=1,
                                              max=128),
        elem_bytes: int = typer.Option(None, "--elem-bytes", help="pim_gemv: bytes per matrix element (1, 2, 4, 8)",
                                       min=1, max=8),
        dram_row_bytes: int = typer.Option(None, "--dram-row-bytes", help="pim_gemv: bytes per DRAM row", min=1,
                                           max=2**16),
        rows: int = typer.Option(None, help="edge_moe: softmax rows measured", **flags.DIM),
        row_len: int = typer.Option(None, "--row-len", help="edge_moe: softmax row length", **flags.DIM),
        full: bool = typer.Option(False, "--full", help="trace every program instead of one per class"),
        formula: bool = typer.Option(False, "--formula", help="also print the analytic counts and whether they match"),
    ) -> None:
        """Trace a kernel's ops and bytes (Triton interpreter) and print them as JSON."""
        given = {"batch": batch, "heads": heads, "kv_heads": kv_heads, "seq_q": seq_q, "seq_kv": seq_kv,
                 "head_dim": head_dim, "causal": causal, "dtype": dtype, "block_m": block_m, "block_n": block_n,
                 "block_k": block_k, "num_warps": num_warps, "num_stages": num_stages, "window_left": window_left,
                 "window_right": window_right, "num_splits": num_splits, "m": m, "n": n, "k": k,
                 "channels": channels, "banks_per_channel": banks_per_channel, "elem_bytes": elem_bytes,
                 "dram_row_bytes": dram_row_bytes, "rows": rows, "row_len": row_len}
        params = {key: value for key, value in given.items() if value is not None}
        if kernel in _NUMBA:
            result = _run_numba(kernel, params)
        else:
            result = _trace(kernel, params, full, formula)
        print(json.dumps(result, indent=2))
