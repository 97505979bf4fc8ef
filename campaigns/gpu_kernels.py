"""Measurement campaign on a real CUDA GPU: calibration microbenchmarks and validation timings.

Run on the GPU machine from the repository root::

    python -m archsim.campaigns.gpu_kernels --out DIR [--subset full|h200] [--budget-s 480]

Writes ``DIR/meta.json`` (device name, SM count, L2, clocks, driver, torch/triton versions,
date), ``DIR/calibration.csv`` (microbenchmarks only: copy bandwidth at several sizes and CTA
counts, L2-resident copy, pointer-chase latency, shared-memory bandwidth, GEMM peak, launch
floor) and ``DIR/validation.csv`` (kernel timings: torch SDPA backends, naive attention, our
Triton kernels, cuBLAS GEMM). Calibration feeds the model; validation is never fitted.

Timing: ``triton.testing.do_bench`` (median with 20/80 % quantiles; it flushes the L2 by
writing a 256 MB buffer before every repetition, so timings are cold-L2), inputs rotated over
several random sets (never zeros), outputs poisoned with NaN where we own the buffer and checked
against an fp32 reference on a slice (batch 0, one KV head). CSV rows are flushed as they are
measured, so a run stopped by its time limit still leaves data.

This module imports no part of archsim (the GPU image has no pydantic); only torch, triton,
cupy (raw CUDA microbenchmarks, optional) and the repository's ``kernels`` package.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from functools import partial
from typing import Any

import torch
import triton
from archsim.campaigns.csv_sink import Sink
from triton.testing import do_bench

VAL_FIELDS = ["set", "family", "impl", "batch", "heads", "kv_heads", "seq_q", "seq_kv", "head_dim", "causal",
              "m", "n", "k", "dtype", "block_m", "block_n", "block_k", "num_warps", "num_stages", "num_splits",
              "n_regs", "n_spills", "smem_bytes", "time_s", "time_s_p20", "time_s_p80", "flops", "rel_err", "ok",
              "error"]
CAL_FIELDS = ["bench", "size_bytes", "ctas", "threads", "unroll", "time_s", "bytes_moved", "value", "unit", "note"]
BF16 = torch.bfloat16
DEVICE = "cuda"  # the campaign needs a GPU; tests may point this at "cpu" with TRITON_INTERPRET=1


def bench(fn: Callable[[], object], rep_ms: float = 40.0) -> tuple[float, float, float]:
    """(median, p20, p80) seconds from do_bench (L2 flushed before each repetition)."""
    q = do_bench(fn, warmup=10, rep=rep_ms, quantiles=[0.5, 0.2, 0.8])
    return q[0] * 1e-3, q[1] * 1e-3, q[2] * 1e-3


def rotating(make: Callable[[], Any], set_bytes: int, budget_bytes: int = 1 << 30) -> Callable[[], Any]:
    """Cycle over n independent random input sets (n = 4 when they fit in ``budget_bytes``)."""
    n = max(1, min(4, budget_bytes // max(1, set_bytes)))
    sets = [make() for _ in range(n)]
    state = {"i": 0}

    def nxt() -> Any:
        state["i"] = (state["i"] + 1) % n
        return sets[state["i"]]
    return nxt


def rel_err(out: torch.Tensor, ref: torch.Tensor) -> float:
    out = out.float()
    if not torch.isfinite(out).all():
        return float("nan")
    return float((out - ref).norm() / ref.norm().clamp_min(1e-30))


def attn_ref(q, k, v, causal: bool) -> torch.Tensor:
    """fp32 attention of batch 0, KV head 0 and its query heads; q [B,H,Sq,D], k/v [B,HKV,Skv,D]."""
    group = q.shape[1] // k.shape[1]
    g = min(group, 2)
    qs, ks, vs = q[0, :g].float(), k[0, :1].float(), v[0, :1].float()
    s = qs @ ks.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if causal:
        sq, skv = q.shape[2], k.shape[2]
        pos = torch.arange(sq, device=q.device)[:, None] + (skv - sq)
        s = s.masked_fill(torch.arange(skv, device=q.device)[None, :] > pos, float("-inf"))
    return (torch.softmax(s, -1) @ vs)


def attn_slice(o: torch.Tensor, group: int) -> torch.Tensor:
    return o[0, :min(group, 2)]


def compiled_info(ck) -> dict:
    """Registers, spills and shared memory of a compiled Triton kernel (best effort)."""
    info = {}
    try:
        if hasattr(ck, "_init_handles"):
            ck._init_handles()
        info["n_regs"] = getattr(ck, "n_regs", None)
        info["n_spills"] = getattr(ck, "n_spills", None)
        info["smem_bytes"] = getattr(ck.metadata, "shared", None)
    except Exception as e:  # metadata only; the timing does not depend on it
        info["n_regs"] = f"unavailable: {e}"
    return info


def run_launch(launch):
    return launch.kernel[launch.grid](*launch.args, num_warps=launch.num_warps, num_stages=launch.num_stages,
                                      **launch.kwargs)


@triton.jit
def _noop(x):
    pass


# ----------------------------------------------------------------------------------------------
# calibration microbenchmarks
# ----------------------------------------------------------------------------------------------

COPY_SRC = r"""
#define U {U}
extern "C" __global__ void copyk(const int4* __restrict__ src, int4* __restrict__ dst, long long n) {
  long long tid = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  long long stride = (long long)gridDim.x * blockDim.x;
  for (long long base = tid; base < n; base += stride * U) {
    int4 r[U];
    #pragma unroll
    for (int u = 0; u < U; ++u) { long long i = base + u * stride; if (i < n) r[u] = src[i]; }
    #pragma unroll
    for (int u = 0; u < U; ++u) { long long i = base + u * stride; if (i < n) dst[i] = r[u]; }
  }
}
"""
SMEM_SRC = r"""
extern "C" __global__ void smemk(float4* out, int iters) {
  __shared__ float4 buf[2048];
  int t = threadIdx.x;
  for (int i = t; i < 2048; i += blockDim.x) buf[i] = make_float4(i, i + 1, i + 2, i + 3);
  __syncthreads();
  float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
  int idx = t;
  for (int it = 0; it < iters; ++it) {
    #pragma unroll
    for (int u = 0; u < 8; ++u) {
      float4 v = buf[(idx + u * 256) & 2047];
      acc.x += v.x; acc.y += v.y; acc.z += v.z; acc.w += v.w;
    }
    idx = (idx + 32) & 2047;
  }
  out[blockIdx.x * blockDim.x + t] = acc;
}
"""
MMA_SRC = r"""
extern "C" __global__ void mmak(float* out, int iters) {
  // legacy warp-level tensor-core path (what FlashAttention-2 and Ampere-style code use on Hopper)
  unsigned a0 = 0x3c003c00u, a1 = 0x3c013c01u, a2 = 0x3c023c02u, a3 = 0x3c033c03u, b0 = 0x3c003c00u, b1 = 0x3c013c01u;
  float c[8][4];
  #pragma unroll
  for (int j = 0; j < 8; ++j) { c[j][0] = c[j][1] = c[j][2] = c[j][3] = 0.f; }
  for (int it = 0; it < iters; ++it) {
    #pragma unroll
    for (int j = 0; j < 8; ++j) {
      asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                   "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                   : "+f"(c[j][0]), "+f"(c[j][1]), "+f"(c[j][2]), "+f"(c[j][3])
                   : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    }
  }
  float s = 0.f;
  #pragma unroll
  for (int j = 0; j < 8; ++j) s += c[j][0] + c[j][1] + c[j][2] + c[j][3];
  out[blockIdx.x * blockDim.x + threadIdx.x] = s;
}
"""
SFU_SRC = r"""
extern "C" __global__ void sfuk(float* out, int iters) {
  float x[8];
  #pragma unroll
  for (int j = 0; j < 8; ++j) x[j] = 0.001f * (threadIdx.x + j);
  for (int it = 0; it < iters; ++it) {
    #pragma unroll
    for (int j = 0; j < 8; ++j) asm volatile("ex2.approx.ftz.f32 %0, %0;" : "+f"(x[j]));
  }
  float s = 0.f;
  #pragma unroll
  for (int j = 0; j < 8; ++j) s += x[j];
  out[blockIdx.x * blockDim.x + threadIdx.x] = s;
}
"""
READ_SRC = r"""
extern "C" __global__ void readk(const int4* __restrict__ src, long long n, int passes, int* out) {
  // read-only streaming: every thread reads int4s grid-stride, `passes` times over the buffer
  long long tid = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  long long stride = (long long)gridDim.x * blockDim.x;
  int acc = 0;
  for (int p = 0; p < passes; ++p) {
    for (long long i = tid; i < n; i += 4 * stride) {
      int4 r0 = __ldcg(src + i);
      int4 r1 = (i + stride < n) ? __ldcg(src + i + stride) : make_int4(0, 0, 0, 0);
      int4 r2 = (i + 2 * stride < n) ? __ldcg(src + i + 2 * stride) : make_int4(0, 0, 0, 0);
      int4 r3 = (i + 3 * stride < n) ? __ldcg(src + i + 3 * stride) : make_int4(0, 0, 0, 0);
      acc ^= r0.x ^ r1.y ^ r2.z ^ r3.w;
    }
  }
  out[tid] = acc;
}
"""
CHASE_SRC = r"""
extern "C" __global__ void chase(const long long* nxt, long long start, int steps, long long* out) {
  long long p = start;
  for (int i = 0; i < steps; ++i) p = __ldcg(nxt + p);
  out[0] = p;
}
"""


def calibrate_reads(cal: Sink, sm_count: int) -> None:
    """Read-only bandwidth: L2-resident (slope between 20 and 60 passes) and HBM (1 pass, 1 GiB)."""
    import cupy as cp
    rk = cp.RawKernel(READ_SRC, "readk")
    g, th = sm_count * 4, 512
    out = cp.empty(g * th, dtype=cp.int32)
    for size in (4 << 20, 8 << 20, 16 << 20):
        buf = cp.random.randint(0, 1 << 30, size // 4, dtype=cp.int32)
        times = {}
        for passes in (20, 60):
            times[passes], _, _ = bench(partial(rk, (g,), (th,), (buf, cp.int64(size // 16), cp.int32(passes), out)),
                                        rep_ms=30)
        t = (times[60] - times[20]) / 40
        cal.row(bench="read_l2_resident", size_bytes=size, ctas=g, threads=th, unroll=4, time_s=t, bytes_moved=size,
                value=size / t, unit="B/s", note="__ldcg int4 reads, time slope between 20 and 60 passes")
    buf = cp.random.randint(0, 1 << 30, (1 << 30) // 4, dtype=cp.int32)
    t, _, _ = bench(lambda: rk((g,), (th,), (buf, cp.int64((1 << 30) // 16), cp.int32(1), out)), rep_ms=30)
    cal.row(bench="read_hbm", size_bytes=1 << 30, ctas=g, threads=th, unroll=4, time_s=t, bytes_moved=1 << 30,
            value=(1 << 30) / t, unit="B/s", note="__ldcg int4 reads, one pass over 1 GiB, L2 flushed")


def calibrate(cal: Sink, sm_count: int, l2_bytes: int, log) -> None:
    # 1. copy bandwidth vs size (torch copy_, cold L2 through do_bench), bytes = read + write
    for size in [1 << 20, 4 << 20, 16 << 20, 64 << 20, 256 << 20, 1 << 30, 4 << 30]:
        src = torch.randn(size // 2, dtype=BF16, device=DEVICE)
        dst = torch.empty_like(src)
        t, _, _ = bench(partial(dst.copy_, src))
        cal.row(bench="copy_torch", size_bytes=size, time_s=t, bytes_moved=2 * size, value=2 * size / t, unit="B/s",
                note="torch copy_, do_bench median, L2 flushed")
        del src, dst
    # 2. L2-resident copy: same buffers back to back, no flush; events around 200 copies
    for size in [1 << 20, 2 << 20, 4 << 20, 8 << 20, 16 << 20]:
        src = torch.randn(size // 2, dtype=BF16, device=DEVICE)
        dst = torch.empty_like(src)
        for _ in range(20):
            dst.copy_(src)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            for _ in range(50):
                dst.copy_(src)
        graph.replay()
        torch.cuda.synchronize()
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        e0.record()
        for _ in range(10):
            graph.replay()
        e1.record()
        torch.cuda.synchronize()
        t = e0.elapsed_time(e1) * 1e-3 / 500
        cal.row(bench="copy_l2_resident", size_bytes=size, time_s=t, bytes_moved=2 * size, value=2 * size / t,
                unit="B/s", note="torch copy_ x500 in a CUDA graph, same buffers (L2 warm)")
        del src, dst, graph
    # 3. launch floor: the smallest kernels timed the same way as the validation kernels
    tiny = torch.randn(1, device=DEVICE)
    t, _, _ = bench(lambda: tiny.add_(1.0))
    cal.row(bench="launch_floor_torch", time_s=t, value=t, unit="s", note="1-element add_, do_bench median")
    t, _, _ = bench(lambda: _noop[(1,)](tiny))
    cal.row(bench="launch_floor_triton", time_s=t, value=t, unit="s", note="empty triton kernel, do_bench median")
    # 4. GEMM peak (calibration shapes, not in the validation grid)
    torch.backends.cuda.matmul.allow_tf32 = False
    for s in [6144, 10240, 16384]:
        a = torch.randn(s, s, dtype=BF16, device=DEVICE)
        b = torch.randn(s, s, dtype=BF16, device=DEVICE)
        t, _, _ = bench(partial(torch.matmul, a, b), rep_ms=200)
        cal.row(bench="gemm_peak_cublas_bf16", size_bytes=s, time_s=t, value=2 * s ** 3 / t, unit="FLOP/s",
                note=f"torch.matmul {s}^3 bf16 random")
        del a, b
    log(f"clocks after gemm peak: {smi('clocks.sm,clocks.mem,power.draw,temperature.gpu')}")
    # 5. raw CUDA microbenchmarks through cupy (copy vs CTAs/unroll, smem, pointer chase)
    try:
        import cupy as cp
    except Exception as e:
        cal.row(bench="cupy_missing", note=repr(e))
        return
    nbytes = 1 << 30
    src = cp.random.random(nbytes // 8, dtype=cp.float64)
    dst = cp.empty_like(src)
    kern = {u: cp.RawKernel(COPY_SRC.replace("{U}", str(u)), "copyk") for u in (1, 2, 4, 8)}
    configs = [(g, 512, 4) for g in (1, 2, 4, 8, 16, 33, 66, 132)]
    configs += [(sm_count * m, th, u) for m in (1, 2, 4, 8) for th in (128, 256, 512) for u in (1, 2, 4, 8)
                if m * th <= 2048]
    for g, th, u in configs:
        k = kern[u]
        size = nbytes if g >= sm_count else nbytes // 8  # few CTAs are slow: copy 128 MB instead of 1 GB
        t, _, _ = bench(partial(k, (g,), (th,), (src, dst, cp.int64(size // 16))), rep_ms=30)
        cal.row(bench="copy_ctas", size_bytes=size, ctas=g, threads=th, unroll=u, time_s=t, bytes_moved=2 * size,
                value=2 * size / t, unit="B/s", note="int4 loads, U loads in flight per thread, grid-stride")
    del src, dst
    sk = cp.RawKernel(SMEM_SRC, "smemk")
    out = cp.empty((sm_count * 4 * 1024, 4), dtype=cp.float32)
    iters = 4096
    for blocks_per_sm in (1, 2, 4):
        g = sm_count * blocks_per_sm
        t, _, _ = bench(partial(sk, (g,), (512,), (out, cp.int32(iters))), rep_ms=30)
        moved = g * 512 * iters * 8 * 16
        cal.row(bench="smem_read", ctas=g, threads=512, time_s=t, bytes_moved=moved, value=moved / t, unit="B/s",
                note="LDS.128 conflict-free, 8 loads per iteration")
    # tensor-core peak of the legacy mma.sync path, and the special-function (ex2) rate
    try:
        mk = cp.RawKernel(MMA_SRC, "mmak")
        g, th, iters = sm_count * 4, 256, 2048
        buf = cp.empty(g * th, dtype=cp.float32)
        t, _, _ = bench(lambda: mk((g,), (th,), (buf, cp.int32(iters))), rep_ms=30)
        flops = g * (th // 32) * iters * 8 * 4096
        cal.row(bench="mma_sync_peak_bf16", ctas=g, threads=th, time_s=t, value=flops / t, unit="FLOP/s",
                note="mma.sync m16n8k16 bf16->fp32, 8 independent accumulators per warp, registers only")
        fk = cp.RawKernel(SFU_SRC, "sfuk")
        t, _, _ = bench(lambda: fk((g,), (th,), (buf, cp.int32(iters))), rep_ms=30)
        cal.row(bench="sfu_ex2_peak", ctas=g, threads=th, time_s=t, value=g * th * iters * 8 / t, unit="op/s",
                note="ex2.approx.ftz.f32, 8 independent chains per thread")
    except Exception as e:
        cal.row(bench="mma_sfu_failed", note=repr(e)[:300])
    log(f"clocks after mma/sfu: {smi('clocks.sm,clocks.mem,power.draw,temperature.gpu')}")
    try:
        calibrate_reads(cal, sm_count)
    except Exception as e:
        cal.row(bench="reads_failed", note=repr(e)[:300])
    ck = cp.RawKernel(CHASE_SRC, "chase")
    res = cp.zeros(1, dtype=cp.int64)
    chases = [("chase_hbm", 1 << 27, 1 << 20, 32), ("chase_l2", 1 << 19, 1 << 12, 32)]
    for name, region_elems, cycle_len, spacing in chases:
        nxt = cp.zeros(region_elems, dtype=cp.int64)
        pos = cp.random.permutation(region_elems // spacing)[:cycle_len].astype(cp.int64) * spacing
        nxt[pos] = cp.roll(pos, -1)
        steps = 20000
        start = cp.int64(int(pos[0]))
        if name == "chase_l2":
            ck((1,), (1,), (nxt, start, cp.int32(cycle_len * 2), res))  # warm the lines into L2
            cp.cuda.Device().synchronize()
            e0, e1 = cp.cuda.Event(), cp.cuda.Event()
            e0.record()
            ck((1,), (1,), (nxt, start, cp.int32(steps), res))
            e1.record()
            e1.synchronize()
            t = cp.cuda.get_elapsed_time(e0, e1) * 1e-3
        else:
            t, _, _ = bench(partial(ck, (1,), (1,), (nxt, start, cp.int32(steps), res)), rep_ms=100)
        cal.row(bench=name, size_bytes=region_elems * 8, time_s=t, value=t / steps, unit="s",
                note=f"dependent __ldcg loads, {steps} steps over {cycle_len} lines {spacing * 8} B apart")
        del nxt


# ----------------------------------------------------------------------------------------------
# validation timings
# ----------------------------------------------------------------------------------------------

def sdpa_backend(name: str):
    from torch.nn.attention import SDPBackend
    return {"flash2": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION,
            "efficient": SDPBackend.EFFICIENT_ATTENTION}[name]


def make_qkv(b: int, h: int, hkv: int, sq: int, skv: int, d: int) -> tuple[Any, Any, Any]:
    """Random q/k/v in the (B, S, H, D) memory layout models produce, viewed as (B, H, S, D)."""
    q = torch.randn(b, sq, h, d, dtype=BF16, device=DEVICE).transpose(1, 2)
    k = torch.randn(b, skv, hkv, d, dtype=BF16, device=DEVICE).transpose(1, 2)
    v = torch.randn(b, skv, hkv, d, dtype=BF16, device=DEVICE).transpose(1, 2)
    return q, k, v


def causal_pairs(sq: int, skv: int) -> int:
    """(query, key) pairs a bottom-right-aligned causal mask allows."""
    if sq <= skv:
        return sq * (skv - sq) + sq * (sq + 1) // 2
    return skv * (skv + 1) // 2


def attention_runner(impl: str, q, k, v, causal: bool, cfg: dict) -> tuple[Callable[[], torch.Tensor], dict]:
    """A no-argument callable running ``impl`` on (q, k, v) into a prepared (NaN-poisoned) output."""
    from torch.nn.functional import scaled_dot_product_attention as sdpa
    b, h, sq, d = q.shape
    hkv, skv = k.shape[1], k.shape[2]
    if impl in ("flash2", "cudnn", "efficient"):
        gqa = hkv != h
        return (lambda: sdpa(q, k, v, is_causal=causal, enable_gqa=gqa)), {}
    if impl == "naive":
        if hkv != h:  # unfused attention has no GQA: expand K/V outside the timed call
            k, v = k.repeat_interleave(h // hkv, 1), v.repeat_interleave(h // hkv, 1)
        scale = 1.0 / math.sqrt(d)
        mask = torch.ones(sq, skv, dtype=torch.bool, device=DEVICE).triu(skv - sq + 1) if causal else None

        def naive():
            s = torch.matmul(q, k.transpose(-1, -2)) * scale
            if mask is not None:
                s = s.masked_fill(mask, float("-inf"))
            return torch.matmul(torch.softmax(s, dim=-1), v)
        return naive, {}
    o = torch.full_like(q, float("nan"))
    if impl == "triton-flash":
        from archsim.kernels.triton.flash_attention import attention_launch
        launches = [attention_launch(q, k, v, o, window_right=0 if causal else None, **cfg)]
    elif impl == "flash-decoding":
        from archsim.kernels.triton.flash_decoding import decoding_launches
        launches = list(decoding_launches(q, k, v, o, **cfg))
    else:
        raise ValueError(f"unknown impl {impl}")
    ln = launches[0]
    info = dict(block_m=ln.block_sizes.get("BLOCK_M"), block_n=ln.block_sizes.get("BLOCK_N"),
                num_warps=ln.num_warps, num_stages=ln.num_stages, num_splits=cfg.get("num_splits"))

    def run():
        for launch in launches:
            run_launch(launch)
        return o
    return run, info


def attention_case(val: Sink, set_name: str, family: str, impl: str, b, h, hkv, sq, skv, d, causal, **cfg) -> None:
    from torch.nn.attention import sdpa_kernel
    base = dict(set=set_name, family=family, impl=impl, batch=b, heads=h, kv_heads=hkv, seq_q=sq, seq_kv=skv,
                head_dim=d, causal=int(causal), dtype="bf16")
    extra: dict = {}
    backends = [sdpa_backend(impl)] if impl in ("flash2", "cudnn", "efficient") else None
    try:
        with sdpa_kernel(backends) if backends else _null():
            # correctness first, on a fresh random set
            q, k, v = make_qkv(b, h, hkv, sq, skv, d)
            run, extra = attention_runner(impl, q, k, v, causal, cfg)
            o = run()
            err = rel_err(attn_slice(o, h // hkv), attn_ref(q, k, v, causal))
            if impl in ("triton-flash", "flash-decoding"):
                from archsim.kernels.triton.flash_attention import attention_launch
                from archsim.kernels.triton.flash_decoding import decoding_launches
                first = (attention_launch(q, k, v, o, window_right=0 if causal else None, **cfg)
                         if impl == "triton-flash" else decoding_launches(q, k, v, o, **cfg)[0])
                extra.update(compiled_info(run_launch(first)))
            del q, k, v, o, run
            set_bytes = 2 * (b * h * sq * d * 2 + 2 * b * hkv * skv * d)
            nxt = rotating(lambda: attention_runner(impl, *make_qkv(b, h, hkv, sq, skv, d), causal, cfg)[0], set_bytes)
            t, lo, hi = bench(lambda: nxt()())
        pairs = causal_pairs(sq, skv) if causal else sq * skv
        val.row(**base, **extra, time_s=t, time_s_p20=lo, time_s_p80=hi, flops=4 * b * h * d * pairs, rel_err=err,
                ok=int(err == err and err < 2e-2))
    except Exception as e:  # record the failure (unsupported backend/shape) and go on
        val.row(**base, **extra, ok=0, error=(type(e).__name__ + ": " + str(e))[:300].replace("\n", " "))
    torch.cuda.empty_cache()


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def gemm_runner(impl: str, a, bm, cfg: dict) -> tuple[Callable[[], torch.Tensor], dict]:
    if impl == "cublas":
        return (lambda: torch.matmul(a, bm)), {}
    from archsim.kernels.triton.gemm import gemm_launch
    c = torch.full((a.shape[0], bm.shape[1]), float("nan"), dtype=BF16, device=DEVICE)
    ln = gemm_launch(a, bm, c, **cfg)
    info = dict(block_m=ln.block_sizes["BLOCK_M"], block_n=ln.block_sizes["BLOCK_N"],
                block_k=ln.block_sizes["BLOCK_K"], num_warps=ln.num_warps, num_stages=ln.num_stages)

    def run():
        run_launch(ln)
        return c
    return run, info


def gemm_case(val: Sink, set_name: str, impl: str, m, n, k, **cfg) -> None:
    base = dict(set=set_name, family="gemm", impl=impl, m=m, n=n, k=k, dtype="bf16")
    extra: dict = {}
    try:
        def make() -> tuple[Any, Any]:
            return torch.randn(m, k, dtype=BF16, device=DEVICE), torch.randn(k, n, dtype=BF16, device=DEVICE)
        a, bm = make()
        run, extra = gemm_runner(impl, a, bm, cfg)
        c = run()
        err = rel_err(c, a.float() @ bm.float())
        if impl == "triton-gemm":
            from archsim.kernels.triton.gemm import gemm_launch
            extra.update(compiled_info(run_launch(gemm_launch(a, bm, c, **cfg))))
        del a, bm, c, run
        nxt = rotating(lambda: gemm_runner(impl, *make(), cfg)[0], 2 * (m * k + k * n + m * n))
        t, lo, hi = bench(lambda: nxt()())
        val.row(**base, **extra, time_s=t, time_s_p20=lo, time_s_p80=hi, flops=2 * m * n * k, rel_err=err,
                ok=int(err == err and err < 2e-2))
    except Exception as e:
        val.row(**base, **extra, ok=0, error=(type(e).__name__ + ": " + str(e))[:300].replace("\n", " "))
    torch.cuda.empty_cache()


def cases(subset: str) -> list[tuple]:
    """The validation grid: (kind, set, args...) tuples; ``h200`` is a subset for a second device."""
    out: list[tuple] = []
    attn_impls: tuple[str, ...] = ("flash2", "cudnn", "efficient", "triton-flash")
    seqs: tuple[int, ...] = (512, 1024, 2048, 4096, 8192, 16384)
    if subset == "h200":
        attn_impls, seqs = ("flash2", "triton-flash"), (1024, 4096, 16384)
    for d in (64, 128):
        h = 2048 // d
        for s in seqs:
            b = max(1, 16384 // s)
            for causal in (False, True):
                for impl in attn_impls:
                    out.append(("attn", "grid", "prefill", impl, b, h, h, s, s, d, causal))
                if s <= 4096 and subset == "full":
                    out.append(("attn", "grid", "prefill", "naive", b, h, h, s, s, d, causal))
    if subset == "full":
        for s in (1024, 4096):  # GQA prefill
            for impl in ("flash2", "triton-flash"):
                out.append(("attn", "grid", "prefill", impl, 16384 // s, 32, 8, s, s, 128, True))
        holdout = [(3, 12, 12, 3000, 64, True), (5, 20, 20, 1536, 128, False), (2, 24, 24, 2048, 96, True),
                   (7, 40, 8, 777, 128, True), (1, 28, 4, 12288, 128, False)]
        for b, h, hkv, s, d, causal in holdout:
            for impl in ("flash2", "cudnn", "triton-flash"):
                out.append(("attn", "holdout", "prefill", impl, b, h, hkv, s, s, d, causal))
    batches = (1, 8, 64) if subset == "full" else (1, 64)
    kvs = (1024, 4096, 16384, 65536) if subset == "full" else (4096, 65536)
    for hkv in (32, 8):
        for b in batches:
            for skv in kvs:
                if b * hkv * skv * 128 * 4 > 12e9:
                    continue
                impls = ["flash2", "efficient", "cudnn", "flash-decoding4", "flash-decodingfill"]
                if subset == "h200":
                    impls = ["flash2", "flash-decodingfill"]
                for impl in impls:
                    out.append(("attn", "grid", "decode", impl, b, 32, hkv, 1, skv, 128, False))
    if subset == "full":
        out.append(("attn", "holdout", "decode", "flash2", 3, 40, 8, 1, 23000, 128, False))
        out.append(("attn", "holdout", "decode", "flash-decodingfill", 3, 40, 8, 1, 23000, 128, False))
        out.append(("attn", "holdout", "decode", "flash2", 16, 28, 4, 1, 7000, 64, False))
    gemms = [(1, 4096, 4096), (8, 4096, 4096), (32, 4096, 4096), (128, 4096, 4096), (512, 4096, 4096),
             (1024, 4096, 4096), (2048, 4096, 4096), (4096, 4096, 4096), (8192, 8192, 8192), (1, 11008, 4096),
             (16, 11008, 4096), (4096, 11008, 4096), (4096, 4096, 11008), (2048, 14336, 4096), (8192, 4096, 1024),
             (1, 8192, 8192), (64, 8192, 8192)]
    if subset == "h200":
        gemms = [(1, 4096, 4096), (128, 4096, 4096), (4096, 4096, 4096), (8192, 8192, 8192)]
    for m, n, k in gemms:
        out.append(("gemm", "grid", "cublas", m, n, k))
    if subset == "full":
        for m, n, k in [(3000, 5000, 700), (77, 12288, 4096), (6144, 2560, 9000)]:
            out.append(("gemm", "holdout", "cublas", m, n, k))
        for m, n, k in [(1, 4096, 4096), (128, 4096, 4096), (1024, 4096, 4096), (4096, 4096, 4096),
                        (8192, 8192, 8192), (2048, 11008, 4096), (3000, 5000, 700)]:
            out.append(("gemm", "grid" if (m, n, k) != (3000, 5000, 700) else "holdout", "triton-gemm", m, n, k))
    return out


def fill_splits(b: int, hkv: int, skv: int, sm_count: int) -> int:
    """num_splits that gives about two CTAs per SM (capped by the KV blocks of 64)."""
    return int(max(1, min(skv // 64, math.ceil(2 * sm_count / (b * hkv)))))


def smi(fields: str) -> str:
    try:
        return subprocess.run(["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader"], capture_output=True,
                              text=True, timeout=20).stdout.strip()
    except Exception as e:
        return f"nvidia-smi failed: {e}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--subset", choices=("full", "h200"), default="full")
    ap.add_argument("--budget-s", type=float, default=480.0)
    ap.add_argument("--skip-calibration", action="store_true")
    ap.add_argument("--calibration-only", action="store_true")
    ap.add_argument("--reads-only", action="store_true", help="only the read-bandwidth microbenchmarks")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()
    logf = open(os.path.join(args.out, "log.txt"), "w")

    def log(msg: str) -> None:
        line = f"[{time.time() - t0:7.1f}s] {msg}"
        print(line, flush=True)
        logf.write(line + "\n")
        logf.flush()

    torch.manual_seed(0)
    props = torch.cuda.get_device_properties(0)
    sm_count = props.multi_processor_count
    meta = {"date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "device_name": props.name, "sm_count": sm_count,
            "l2_bytes": getattr(props, "L2_cache_size", None), "total_memory_bytes": props.total_memory,
            "compute_capability": f"{props.major}.{props.minor}",
            "nvidia_smi": smi("name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,clocks.max.mem,power.limit,"
                              "temperature.gpu,pstate"),
            "torch": torch.__version__, "torch_cuda": torch.version.cuda, "triton": triton.__version__,
            "cudnn": torch.backends.cudnn.version(), "python": platform.python_version(), "subset": args.subset,
            "timing": "triton.testing.do_bench median (warmup 10 ms, rep 40 ms), L2 flushed before each rep"}
    log(json.dumps(meta))
    torch.backends.cuda.matmul.allow_tf32 = False
    with open(os.path.join(args.out, "meta.json"), "w") as fh:
        json.dump(meta, fh, indent=1)
    if not args.skip_calibration:
        cal = Sink(os.path.join(args.out, "calibration.csv"), CAL_FIELDS)
        try:
            if args.reads_only:
                calibrate_reads(cal, sm_count)
            else:
                calibrate(cal, sm_count, meta["l2_bytes"] or 0, log)
        except Exception:
            log("calibration failed: " + traceback.format_exc())
        log("calibration done")
    val = Sink(os.path.join(args.out, "validation.csv"), VAL_FIELDS)
    todo = [] if args.calibration_only else cases(args.subset)
    log(f"{len(todo)} validation cases")
    done = 0
    for case in todo:
        if time.time() - t0 > args.budget_s:
            log(f"budget reached: {len(todo) - done} cases not run")
            break
        if case[0] == "attn":
            _, set_name, family, impl, b, h, hkv, sq, skv, d, causal = case
            cfg: dict = {}
            if impl.startswith("flash-decoding"):
                cfg["num_splits"] = 4 if impl.endswith("4") else fill_splits(b, hkv, skv, sm_count)
                impl = "flash-decoding"
            attention_case(val, set_name, family, impl, b, h, hkv, sq, skv, d, causal, **cfg)
        else:
            _, set_name, impl, m, n, k = case
            gemm_case(val, set_name, impl, m, n, k)
        done += 1
        if done % 20 == 0:
            log(f"{done}/{len(todo)} cases")
    meta["nvidia_smi_after"] = smi("clocks.sm,clocks.mem,power.draw,temperature.gpu,clocks_throttle_reasons.active")
    meta["wall_s"] = time.time() - t0
    with open(os.path.join(args.out, "meta.json"), "w") as fh:
        json.dump(meta, fh, indent=1)
    log(f"done {done} cases in {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
