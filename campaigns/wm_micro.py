"""Calibration microbenchmarks (glue kernels, host dispatch, L2 reads) and the decode-attention
validation set, for ``whole_model.py`` on the GPU machine.

Glue kernels (calibration only): PyTorch's elementwise, reduction and copy kernels that models
launch between the GEMMs (add, multiply, broadcast multiply, casts, pow, mean, rsqrt, SiLU,
SiLU*mul on the two halves of a gate/up output, negate, ``cat`` of the two halves of a head
(rotate_half), transpose-contiguous copy, clone) at sizes 4 KiB .. 1 GiB of input. Each case runs
under the profiler: ``warm`` = back to back on the same buffers (L2-hot when they fit, as between
kernels of one layer), ``cold`` = a 256 MiB write between calls (L2 flushed). Per kernel the
profiler's duration is kept; ``graph_us`` = CUDA-event time per call over a graph of 20 calls.
Bytes are the nominal bytes each call must read and write (input read once, output written once).

Host dispatch (calibration only): a loop of tiny calls of one kind (the GPU is never the
bottleneck): host seconds per call until Python returns (eager), wall per call after a sync;
and the same calls captured in CUDA graphs of 20 and 200 nodes: host time of ``replay()`` and
GPU time per node.

Decode attention (validation): SDPA FLASH (FlashAttention-2) with one query token, batch 1-128,
context 1k-64k, MHA 32/32 and GQA 32/8, head dim 128, bf16; ``triton.testing.do_bench`` median
(L2 flushed before each repetition), output checked against an fp32 reference on one slice.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
import wm_trace
from torch.profiler import ProfilerActivity, profile, record_function


def best_loop_s(fn: Callable[[], object], calls: int, trials: int = 3) -> tuple[float, float]:
    """Best of ``trials`` loops of ``calls`` back-to-back calls (warm-up is the caller's): (host s, wall s) of
    the loop, host = until the last call returns (enqueue), wall = until the GPU queue has drained."""
    host, wall = math.inf, math.inf
    for _ in range(trials):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        t1 = time.perf_counter()
        torch.cuda.synchronize()
        host, wall = min(host, t1 - t0), min(wall, time.perf_counter() - t0)
    return host, wall


def median_call_s(call: Callable[[], object], reps: int) -> tuple[float, float]:
    """Medians over ``reps`` synchronised single calls (warm-up is the caller's): (host s, wall s) per call."""
    hosts, walls = [], []
    for _ in range(reps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        call()
        t1 = time.perf_counter()
        torch.cuda.synchronize()
        hosts.append(t1 - t0)
        walls.append(time.perf_counter() - t0)
    hosts.sort()
    walls.sort()
    return hosts[reps // 2], walls[reps // 2]

BF16, F32 = torch.bfloat16, torch.float32
SIZES = [4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20, 256 << 20, 1 << 30]
GLUE_FIELDS = ["op", "mode", "dtype", "size_bytes", "elements", "rows", "cols", "bytes_read", "bytes_written",
               "kernel", "kernels_per_call", "gpu_us", "gpu_us_min", "graph_us", "calls"]
HOST_FIELDS = ["op", "mode", "calls", "kernels_per_call", "host_us_per_call", "wall_us_per_call",
               "gpu_us_per_call", "graph_nodes"]


def _rows_cols(n: int, cols: int = 4096) -> tuple[int, int]:
    return (max(1, n // cols), min(n, cols))


def glue_cases(size: int) -> list[tuple[str, str, Callable[[], object], float, float, int, int, int]]:
    """(op, dtype, fn, bytes_read, bytes_written, elements, rows, cols) for one input size in bytes."""
    out = []
    n2 = size // 2
    r, c = _rows_cols(n2)
    a, b = torch.randn(r, c, dtype=BF16, device="cuda"), torch.randn(r, c, dtype=BF16, device="cuda")
    w = torch.randn(c, dtype=BF16, device="cuda")
    n4 = size // 4
    r4, c4 = _rows_cols(n4)
    af, bf = torch.randn(r4, c4, dtype=F32, device="cuda"), torch.randn(r4, c4, dtype=F32, device="cuda")
    col = torch.rand(r4, 1, dtype=F32, device="cuda") + 0.5
    gu = torch.randn(r, 2 * c, dtype=BF16, device="cuda")
    g, u = gu.chunk(2, dim=-1)
    heads = torch.randn(max(1, n2 // 128), 128, dtype=BF16, device="cuda")
    s_len = max(1, n2 // (32 * 128))
    bshd = torch.randn(1, s_len, 32, 128, dtype=BF16, device="cuda") if n2 >= 32 * 128 else None
    e2 = 2 * r * c
    out += [("add", "bf16", lambda: a + b, 2 * e2, e2, r * c, r, c),
            ("mul", "bf16", lambda: a * b, 2 * e2, e2, r * c, r, c),
            ("mul_bcast_weight", "bf16", lambda: w * a, e2 + 2 * c, e2, r * c, r, c),
            ("to_fp32", "bf16", lambda: a.to(F32), e2, 2 * e2, r * c, r, c),
            ("silu", "bf16", lambda: F.silu(a), e2, e2, r * c, r, c),
            ("silu_mul_halves", "bf16", lambda: F.silu(g) * u, 2 * e2, e2, r * c, r, c),
            ("neg", "bf16", lambda: -a, e2, e2, r * c, r, c),
            ("cat_halves", "bf16", lambda: torch.cat((heads[..., 64:], heads[..., :64]), dim=-1),
             heads.numel() * 2, heads.numel() * 2, heads.numel(), heads.shape[0], 128),
            ("clone", "bf16", lambda: a.clone(), e2, e2, r * c, r, c)]
    e4 = 4 * r4 * c4
    out += [("add", "fp32", lambda: af + bf, 2 * e4, e4, r4 * c4, r4, c4),
            ("mul_rowscale", "fp32", lambda: af * col, e4 + 4 * r4, e4, r4 * c4, r4, c4),
            ("to_bf16", "fp32", lambda: af.to(BF16), e4, e4 // 2, r4 * c4, r4, c4),
            ("pow2", "fp32", lambda: af.pow(2), e4, e4, r4 * c4, r4, c4),
            ("mean_lastdim", "fp32", lambda: af.mean(-1, keepdim=True), e4, 4 * r4, r4 * c4, r4, c4),
            ("rsqrt", "fp32", lambda: torch.rsqrt(af), e4, e4, r4 * c4, r4, c4)]
    if bshd is not None:
        out.append(("transpose_contiguous", "bf16", lambda: bshd.transpose(1, 2).contiguous(), bshd.numel() * 2,
                    bshd.numel() * 2, bshd.numel(), s_len * 32, 128))
    return out


def _graph_us(fn: Callable[[], object], calls: int = 20) -> float:
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(2):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for _ in range(calls):
            fn()
    g.replay()
    torch.cuda.synchronize()
    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    best = math.inf
    for _ in range(3):
        e0.record()
        g.replay()
        e1.record()
        torch.cuda.synchronize()
        best = min(best, e0.elapsed_time(e1) * 1e3 / calls)
    del g
    return best


def run_glue(sink, budget, log, sizes=SIZES, cases_of=None) -> None:
    """One profiler session per size over every op, warm then cold (see module docstring)."""
    cases_of = cases_of or glue_cases
    flush = torch.empty(256 << 20, dtype=torch.uint8, device="cuda")
    calls = {"warm": 10, "cold": 5}
    for size in sizes:
        if budget.left() < 30:
            log(f"glue: budget, stopping before size {size}")
            return
        cases = cases_of(size)
        graph = {}
        for op, dt, fn, *_ in cases:
            for _ in range(3):
                fn()
            graph[(op, dt)] = _graph_us(fn)
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            for op, dt, fn, *_ in cases:
                for mode, n in calls.items():
                    for _ in range(n):
                        if mode == "cold":
                            flush.fill_(1)
                        with record_function(f"case:{op}:{dt}:{mode}"):
                            fn()
            torch.cuda.synchronize()
        by: dict[str, dict[str, list[float]]] = {}
        for k in wm_trace.kernels_of(prof):
            by.setdefault(k["label"], {}).setdefault(k["kernel"], []).append(k["dur_us"])
        for op, dt, _fn, rd, wr, elems, r, c in cases:
            for mode, n in calls.items():
                for name, durs in by.get(f"case:{op}:{dt}:{mode}", {}).items():
                    durs.sort()
                    sink.row(op=op, mode=mode, dtype=dt, size_bytes=size, elements=elems, rows=r, cols=c,
                             bytes_read=rd, bytes_written=wr, kernel=name[:200], kernels_per_call=len(durs) / n,
                             gpu_us=durs[len(durs) // 2], gpu_us_min=durs[0], graph_us=graph[(op, dt)], calls=n)
        del cases
        torch.cuda.empty_cache()
    log("glue microbenchmarks done")
    del flush


class _Tiny(torch.nn.Module):
    def forward(self, x):
        return x + 1.0


def host_cases() -> list[tuple[str, Callable[[], object], int]]:
    """(op, fn, kernels per call) of tiny calls for the dispatch microbenchmark."""
    x = torch.randn(64, dtype=BF16, device="cuda")
    y = torch.randn(64, dtype=BF16, device="cuda")
    m = torch.randn(4, 64, dtype=BF16, device="cuda")
    wt = torch.randn(64, 64, dtype=BF16, device="cuda")
    q = torch.randn(1, 2, 1, 64, dtype=BF16, device="cuda")
    kv = torch.randn(1, 2, 16, 64, dtype=BF16, device="cuda")
    pos = torch.arange(4, device="cuda")
    table = torch.randn(128, 64, dtype=BF16, device="cuda")
    mod = _Tiny()
    x4 = torch.randn(1, 4, 2, 64, dtype=BF16, device="cuda")
    wn = torch.ones(64, dtype=BF16, device="cuda")

    def sdpa():
        from torch.nn.attention import SDPBackend, sdpa_kernel
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            return F.scaled_dot_product_attention(q, kv, kv)

    def rms():
        xf = m.to(F32)
        v = xf.pow(2).mean(-1, keepdim=True)
        return wn * (xf * torch.rsqrt(v + 1e-5)).to(BF16)
    return [("add_inplace", lambda: x.add_(1.0), 1), ("add", lambda: x + y, 1), ("silu", lambda: F.silu(x), 1),
            ("to_fp32", lambda: x.to(F32), 1), ("cat", lambda: torch.cat((x, y)), 1),
            ("linear", lambda: F.linear(m, wt), 1), ("sdpa_flash", sdpa, 1), ("index", lambda: table[pos], 1),
            ("view_transpose", lambda: x4.view(1, 4, 128).view(1, 4, 2, 64).transpose(1, 2), 0),
            ("module_call", lambda: mod(x), 1), ("rmsnorm_fp32", rms, 7)]


def run_host(sink, log, calls: int = 400) -> None:
    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for op, fn, kpc in host_cases():
        for _ in range(20):
            fn()
        torch.cuda.synchronize()
        best_host, best_wall = best_loop_s(fn, calls)
        sink.row(op=op, mode="eager", calls=calls, kernels_per_call=kpc, host_us_per_call=best_host / calls * 1e6,
                 wall_us_per_call=best_wall / calls * 1e6, gpu_us_per_call="", graph_nodes="")
        if kpc == 0:
            continue
        for nodes in (20, 200):
            g = torch.cuda.CUDAGraph()
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                fn()
            torch.cuda.current_stream().wait_stream(s)
            with torch.cuda.graph(g):
                for _ in range(nodes // kpc if kpc else nodes):
                    fn()
            g.replay()
            torch.cuda.synchronize()
            hosts, gpus = [], []
            for _ in range(10):
                e0.record()
                t0 = time.perf_counter()
                g.replay()
                t1 = time.perf_counter()
                e1.record()
                torch.cuda.synchronize()
                hosts.append(t1 - t0)
                gpus.append(e0.elapsed_time(e1) * 1e-3)
            hosts.sort()
            gpus.sort()
            per = nodes // kpc if kpc else nodes
            sink.row(op=op, mode="graph", calls=per, kernels_per_call=kpc, host_us_per_call=hosts[5] / per * 1e6,
                     wall_us_per_call=gpus[5] / per * 1e6, gpu_us_per_call=gpus[5] / per * 1e6, graph_nodes=nodes)
            del g
    log("host dispatch microbenchmarks done")


READ_SRC = r"""
extern "C" __global__ void readk(const int4* __restrict__ src, long long n, int passes, int* out) {
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


def run_l2_reads(sink, sm_count: int) -> None:
    """``read_l2_resident`` rows in the calibration-CSV format of archsim.gpu.calibration (same kernel as
    archsim/gpu/campaign.py's ``calibrate_reads``): read-only L2 bandwidth, time slope 20 -> 60 passes."""
    import cupy as cp
    from triton.testing import do_bench
    rk = cp.RawKernel(READ_SRC, "readk")
    g, th = sm_count * 4, 512
    out = cp.empty(g * th, dtype=cp.int32)
    for size in (4 << 20, 8 << 20, 16 << 20):
        buf = cp.random.randint(0, 1 << 30, size // 4, dtype=cp.int32)
        times = {}
        for passes in (20, 60):
            args = (buf, cp.int64(size // 16), cp.int32(passes), out)
            med = do_bench(functools.partial(rk, (g,), (th,), args), warmup=10, rep=30, return_mode="median")
            times[passes] = float(med) * 1e-3
        t = (times[60] - times[20]) / 40
        sink.row(bench="read_l2_resident", size_bytes=size, ctas=g, threads=th, unroll=4, time_s=t, bytes_moved=size,
                 value=size / t, unit="B/s", note="__ldcg int4 reads, time slope between 20 and 60 passes")


def decode_attention_cases() -> list[tuple[int, int, int, int]]:
    """(batch, heads, kv_heads, context) with the KV cache at most 24 GiB."""
    out = []
    for h, hkv in ((32, 32), (32, 8)):
        for b in (1, 4, 16, 32, 64, 128):
            for ctx in (1024, 4096, 16384, 65536):
                if 2 * b * hkv * ctx * 128 * 2 <= 24 << 30:
                    out.append((b, h, hkv, ctx))
    return out


def run_decode_attention(sink, budget, log) -> None:
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from triton.testing import do_bench
    for b, h, hkv, ctx in decode_attention_cases():
        if budget.left() < 20:
            log("decode attention: budget, stopping")
            return
        d = 128
        q = torch.randn(b, h, 1, d, dtype=BF16, device="cuda")
        k = torch.randn(b, hkv, ctx, d, dtype=BF16, device="cuda")
        v = torch.randn_like(k)
        row = dict(set="h200-wm", family="decode", impl="flash2", batch=b, heads=h, kv_heads=hkv, seq_q=1, seq_kv=ctx,
                   head_dim=d, causal=0, dtype="bf16", flops=4.0 * b * h * ctx * d)
        try:
            with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                fn = functools.partial(F.scaled_dot_product_attention, q, k, v, enable_gqa=h != hkv)
                o = fn()
                qs, ks, vs = q[0, :1].float(), k[0, :1].float(), v[0, :1].float()
                ref = torch.softmax(qs @ ks.transpose(-1, -2) / math.sqrt(d), -1) @ vs
                err = float((o[0, :1].float() - ref).norm() / ref.norm())
                med, p20, p80 = do_bench(fn, warmup=10, rep=40, quantiles=[0.5, 0.2, 0.8])
            sink.row(**row, time_s=med * 1e-3, time_s_p20=p20 * 1e-3, time_s_p80=p80 * 1e-3, rel_err=err,
                     ok=int(err < 2e-2), error="")
        except RuntimeError as e:  # an unsupported shape is a data point (ok=0), not a crash
            sink.row(**row, ok=0, error=str(e)[:200])
        del q, k, v
    torch.cuda.empty_cache()
    log("decode attention done")


#: Tiny-width versions of the validation models' layer code (same kernels per layer, GPU time
#: negligible): the host cost per layer and per step of each stack, eager and graph replay.
TINY = dict(hidden=256, heads=4, kv_heads=2, ffn=512, vocab=1024, layers_full=0, rope_theta=1e4, eps=1e-5)


def _tiny_cases(impl: str, layers: int, phase: str):
    import wm_models
    b, s, ctx = (1, 16, 0) if phase == "prefill" else (1, 1, 16)
    ids = torch.randint(0, 1024, (b, s), device="cuda")
    if impl == "plain":
        with torch.device("cuda"):
            m = wm_models.PlainLlama(TINY, layers, max_pos=64)
        m.alloc_cache(b, ctx + s)
        return functools.partial(m, ids, torch.arange(ctx, ctx + s, device="cuda"), ctx)
    name = "mixtral-8x7b" if impl == "hf-mixtral" else "llama-3-8b"
    saved = dict(wm_models.SHAPES[name])
    wm_models.SHAPES[name].update({k: v for k, v in TINY.items() if k != "layers_full"})
    try:
        model, cfg = wm_models.hf_model(name, layers)
    finally:
        wm_models.SHAPES[name].clear()
        wm_models.SHAPES[name].update(saved)
    if phase == "prefill":
        return functools.partial(model, input_ids=ids, use_cache=True, logits_to_keep=1)
    cache, reset = wm_models.hf_cache(model, cfg, b, ctx)
    cpos = torch.tensor([ctx], device="cuda")

    def step():
        reset()
        return model(input_ids=ids, past_key_values=cache, use_cache=True, cache_position=cpos,
                     position_ids=cpos.view(1, 1), logits_to_keep=1)
    return step


def run_host_models(sink, log, reps: int = 30) -> None:
    """Host time per step of tiny-width models with 1 and 3 layers (slope = host time per layer)."""
    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for impl in ("plain", "hf-llama", "hf-mixtral"):
        for phase in ("prefill", "decode"):
            for layers in (1, 3):
                try:
                    with torch.inference_mode():
                        call = _tiny_cases(impl, layers, phase)
                        for _ in range(3):
                            call()
                        torch.cuda.synchronize()
                        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
                            call()
                            torch.cuda.synchronize()
                        kpc = len(wm_trace.kernels_of(prof))
                        host_s, wall_s = median_call_s(call, reps)
                        op = f"model:{impl}:{phase}:L{layers}"
                        sink.row(op=op, mode="eager", calls=reps, kernels_per_call=kpc,
                                 host_us_per_call=host_s * 1e6, wall_us_per_call=wall_s * 1e6,
                                 gpu_us_per_call="", graph_nodes="")
                        s = torch.cuda.Stream()
                        s.wait_stream(torch.cuda.current_stream())
                        with torch.cuda.stream(s):
                            call()
                        torch.cuda.current_stream().wait_stream(s)
                        g = torch.cuda.CUDAGraph()
                        with torch.cuda.graph(g):
                            call()
                        hosts, gpus = [], []
                        for _ in range(reps):
                            torch.cuda.synchronize()
                            e0.record()
                            t0 = time.perf_counter()
                            g.replay()
                            hosts.append(time.perf_counter() - t0)
                            e1.record()
                            torch.cuda.synchronize()
                            gpus.append(e0.elapsed_time(e1) * 1e-3)
                        hosts.sort()
                        gpus.sort()
                        sink.row(op=op, mode="graph", calls=reps, kernels_per_call=kpc,
                                 host_us_per_call=hosts[reps // 2] * 1e6, wall_us_per_call=gpus[reps // 2] * 1e6,
                                 gpu_us_per_call=gpus[reps // 2] * 1e6, graph_nodes=kpc)
                        del g
                except Exception as e:  # recorded and skipped: the per-kernel rows above still calibrate
                    log(f"host model {impl} {phase} L{layers} FAILED {e!r}")
    log("host per-layer microbenchmarks done")


def glue_cases_extra(size: int) -> list[tuple[str, str, Callable[[], object], float, float, int, int, int]]:
    """Glue kernels of the HF / MoE paths that the first set lacks (same tuple layout as ``glue_cases``):
    DynamicCache's cat of a transposed K/V view (prefill) and of a cache plus one token (decode),
    repeat_kv's expand-reshape copy, masked_fill_, a row gather, and the rotary multiply on a transposed
    head view with a broadcast cos."""
    n2 = size // 2
    s_len = max(1, n2 // (8 * 128))
    kv = torch.randn(1, s_len, 8, 128, dtype=BF16, device="cuda")
    empty = torch.empty(1, 8, 0, 128, dtype=BF16, device="cuda")
    cache = torch.randn(1, 8, s_len, 128, dtype=BF16, device="cuda")
    one = torch.randn(1, 8, 1, 128, dtype=BF16, device="cuda")
    r, c = _rows_cols(n2)
    x = torch.randn(r, c, dtype=BF16, device="cuda")
    mask = torch.rand(r, 1, device="cuda") > 0.5
    perm = torch.randperm(r, device="cuda")
    q = torch.randn(1, max(1, n2 // (32 * 128)), 32, 128, dtype=BF16, device="cuda")
    cos = torch.randn(1, 1, q.shape[1], 128, dtype=BF16, device="cuda")
    e = 2 * kv.numel()
    qn = 2 * q.numel()
    return [("cat_transposed", "bf16", lambda: torch.cat([empty, kv.transpose(1, 2)], dim=-2), e, e, kv.numel(),
             s_len * 8, 128),
            ("cat_append", "bf16", lambda: torch.cat([cache, one], dim=-2), e + 2048, e + 2048, cache.numel(),
             s_len * 8, 128),
            ("repeat_kv", "bf16", lambda: cache[:, :, None].expand(1, 8, 4, s_len, 128).reshape(1, 32, s_len, 128),
             e, 4 * e, 4 * cache.numel(), s_len * 32, 128),
            ("masked_fill", "bf16", lambda: x.masked_fill_(mask, 0.0), 2 * x.numel(), 2 * x.numel(), x.numel(), r, c),
            ("gather_rows", "bf16", lambda: x[perm], 2 * x.numel(), 2 * x.numel(), x.numel(), r, c),
            ("mul_transposed_bcast", "bf16", lambda: q.transpose(1, 2) * cos, qn + 2 * cos.numel(), qn, q.numel(),
             q.shape[1] * 32, 128)]


def glue_cases_wide(size: int) -> list[tuple[str, str, Callable[[], object], float, float, int, int, int]]:
    """SiLU * mul on the strided halves of a gate/up output with the FFN widths of the models (11008,
    14336 columns per half) instead of 4096 (same tuple layout as ``glue_cases``)."""
    out = []
    for f in (11008, 14336):
        n2 = size // 2
        r = max(1, n2 // f)
        gu = torch.randn(r, 2 * f, dtype=BF16, device="cuda")
        g, u = gu.chunk(2, dim=-1)
        e2 = 2 * r * f
        out.append((f"silu_mul_halves_f{f}", "bf16", lambda g=g, u=u: F.silu(g) * u, 2 * e2, e2, r * f, r, f))
    return out


GROUPED_FIELDS = ["n", "k", "experts", "rows_total", "rows_per_expert", "active_experts", "kernel", "calls",
                  "gpu_us", "api"]


def run_grouped_mm(sink, budget, log) -> None:
    """transformers' grouped_mm experts path: ``F.grouped_mm(x, w.transpose(-2, -1), offs)`` (torch._grouped_mm
    before torch 2.10) with Mixtral's expert shapes, rows split evenly over the active experts; profiler
    kernel time per call (calibration of the grouped GEMM against the cuBLAS model)."""
    fn = getattr(F, "grouped_mm", None) or torch._grouped_mm
    api = "F.grouped_mm" if hasattr(F, "grouped_mm") else "torch._grouped_mm"
    e = 8
    for n, k in ((28672, 4096), (4096, 14336)):
        w = torch.randn(e, n, k, dtype=BF16, device="cuda") * 0.02
        wt = w.transpose(-2, -1)
        for rows in (2, 8, 16, 64, 256, 1024, 4096, 16384):
            if budget.left() < 15:
                log("grouped mm: budget, stopping")
                return
            active = min(e, rows)
            per = [rows // active + (1 if i < rows % active else 0) for i in range(active)] + [0] * (e - active)
            offs = torch.tensor(per, device="cuda").cumsum(0).to(torch.int32)
            x = torch.randn(rows, k, dtype=BF16, device="cuda")
            try:
                for _ in range(3):
                    fn(x, wt, offs=offs)
                torch.cuda.synchronize()
                with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
                    for _ in range(5):
                        with record_function("case:g"):
                            fn(x, wt, offs=offs)
                    torch.cuda.synchronize()
                ks: dict[str, list[float]] = {}
                for kk in wm_trace.kernels_of(prof):
                    if kk["label"] == "case:g":
                        ks.setdefault(kk["kernel"][:200], []).append(kk["dur_us"])
                for name, durs in ks.items():
                    durs.sort()
                    sink.row(n=n, k=k, experts=e, rows_total=rows, rows_per_expert=rows / active, active_experts=active,
                             kernel=name, calls=len(durs) / 5, gpu_us=durs[len(durs) // 2], api=api)
            except RuntimeError as err:  # recorded: an unsupported shape is a data point
                log(f"grouped mm n{n} k{k} rows{rows} FAILED {err!r}")
        del w, wt
        torch.cuda.empty_cache()
    log("grouped mm done")
