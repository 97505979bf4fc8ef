"""NVML power/energy campaign on one GPU (issue 22): calibration microbenchmarks and a validation set.

Run on the GPU machine: ``OUT=dir python3 campaigns/power.py`` (imports only torch, triton, numpy, pynvml).
Writes, under ``$OUT``:

- ``power-<dev>-<date>.csv``: one row per benchmark: ``set`` (calibration | validation), name, nominal
  counts (FLOPs by unit and dtype, bytes by level), iterations, wall seconds of the measured window,
  CUDA-event seconds, board energy from ``nvmlDeviceGetTotalEnergyConsumption`` (mJ counter, delta over
  the window), energy integrated from the power trace, average power, median SM / memory clocks,
  temperature, and the OR of the clock-event (throttle) reasons seen;
- ``power-<dev>-traces-<date>.csv``: the sampled trace (every ~20 ms: time, power, SM and memory clock,
  temperature, throttle reasons) of every benchmark;
- ``power-<dev>-meta-<date>.json``: device, driver, NVML/CUDA/torch/triton versions, power limits, max
  clocks, date.

Method: each benchmark enqueues one ``step`` (a GPU iteration) at a time. A warm-up of ``WARM_S``
estimates the step time; then ``n = WINDOW_S / step`` steps run between two synchronisations and the
energy counter is read at both ends, so the window is busy from end to end (host-bound steps included).
Idle is measured with no CUDA context (NVML only) and with the context alive. Inputs are random (never
zeros). Calibration benchmarks: GEMMs (bf16, fp16, tf32, fp32 at several sizes), HBM copies and
read-only streams, L2-resident copies and reads, an FP32 FMA loop, an ex2 (SFU) loop, an empty-kernel
launch loop; eager PyTorch glue kernels by class (``POWER_PARTS=glue`` runs only those). Validation
(never used for fitting): SDPA attention prefill/decode, a GEMM followed by
a 2 ms host wait, a Llama-2-7B-shaped
decoder stack (4 layers, plain torch) in prefill (16 x 2048) and decode (batch 1 and 64, eager and
CUDA-graph). The internal budget ``POWER_BUDGET_S`` skips what no longer fits (written as skipped).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import math
import os
import platform
import threading
import time
from pathlib import Path

import numpy as np
import pynvml
import torch
import torch.nn.functional as F
import triton
import triton.language as tl

OUT = Path(os.environ.get("OUT", "power-out"))
BUDGET_S = float(os.environ.get("POWER_BUDGET_S", "360"))
WARM_S = float(os.environ.get("POWER_WARM_S", "1.0"))
WINDOW_S = float(os.environ.get("POWER_WINDOW_S", "2.5"))
SAMPLE_S = 0.02
IDLE_S = float(os.environ.get("POWER_IDLE_S", "5.0"))
T_START = time.perf_counter()


class Sampler(threading.Thread):
    """Samples power, clocks, temperature and throttle reasons every SAMPLE_S into ``rows``."""

    def __init__(self, handle):
        super().__init__(daemon=True)
        self.h, self.rows, self.bench, self.stop_flag = handle, [], "start", False

    def run(self) -> None:
        h = self.h
        while not self.stop_flag:
            t = time.perf_counter() - T_START
            try:
                reasons = pynvml.nvmlDeviceGetCurrentClocksEventReasons(h)
            except (pynvml.NVMLError, AttributeError):
                reasons = pynvml.nvmlDeviceGetCurrentClocksThrottleReasons(h)
            self.rows.append((self.bench, t, pynvml.nvmlDeviceGetPowerUsage(h) / 1000.0,
                              pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM),
                              pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_MEM),
                              pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU), int(reasons)))
            time.sleep(SAMPLE_S)


def energy_mj(h) -> int:
    return pynvml.nvmlDeviceGetTotalEnergyConsumption(h)


def window_stats(sampler: Sampler, t0: float, t1: float) -> dict:
    rows = [r for r in sampler.rows if t0 <= r[1] <= t1]
    if len(rows) < 2:
        return {"trace_energy_j": math.nan, "power_trace_median_w": math.nan, "sm_clock_mhz": math.nan,
                "mem_clock_mhz": math.nan, "temp_c_end": math.nan, "reasons_or": 0}
    t = np.array([r[1] for r in rows])
    p = np.array([r[2] for r in rows])
    reasons = 0
    for r in rows:
        reasons |= r[6]
    return {"trace_energy_j": float(np.trapezoid(p, t) * (t1 - t0) / (t[-1] - t[0])),
            "power_trace_median_w": float(np.median(p)), "sm_clock_mhz": float(np.median([r[3] for r in rows])),
            "mem_clock_mhz": float(np.median([r[4] for r in rows])), "temp_c_end": rows[-1][5],
            "reasons_or": reasons}


def measure(h, sampler: Sampler, name: str, step, *, counts: dict, set_: str = "calibration",
            warm_s: float = WARM_S, window_s: float = WINDOW_S) -> dict:
    """Warm up, then run n steps in one window between two synchronisations; energy delta over it."""
    sampler.bench = name
    step()  # first call outside the timed warm-up: compilation, autotuning, handle creation
    torch.cuda.synchronize()
    t = time.perf_counter()
    n_warm = 0
    while time.perf_counter() - t < warm_s or n_warm < 3:
        step()
        n_warm += 1
        if n_warm % 8 == 0 or n_warm < 8:
            torch.cuda.synchronize()
    torch.cuda.synchronize()
    per_step = (time.perf_counter() - t) / n_warm
    n = max(3, int(window_s / per_step))
    ev0, ev1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    e0, t0 = energy_mj(h), time.perf_counter() - T_START
    ev0.record()
    for _ in range(n):
        step()
    ev1.record()
    torch.cuda.synchronize()
    t1, e1 = time.perf_counter() - T_START, energy_mj(h)
    wall = t1 - t0
    row = {"set": set_, "bench": name, "iters": n, "wall_s": wall, "event_s": ev0.elapsed_time(ev1) / 1e3,
           "step_s": wall / n, "energy_j": (e1 - e0) / 1e3, "avg_power_w": (e1 - e0) / 1e3 / wall,
           "energy_per_step_j": (e1 - e0) / 1e3 / n, **window_stats(sampler, t0, t1), **counts}
    print(f"{set_:11s} {name:34s} step {row['step_s'] * 1e3:9.3f} ms  {row['avg_power_w']:6.1f} W  "
          f"sm {row['sm_clock_mhz']:6.0f} MHz  reasons 0x{row['reasons_or']:x}", flush=True)
    return row


def measured_row(rows: list, h, sampler: Sampler, name: str, fn, part: str, set_: str, counts: dict, *,
                 short: bool, kernels=None) -> None:
    """Append ``fn``'s :func:`measure` row (with ``part`` and ``kernels(fn)``'s kernel names) to ``rows``, or a row
    saying why not: ``short`` (the budget left is too short) or the RuntimeError of an unsupported shape or
    argument (a data point, not a crash)."""
    if short:
        rows.append({"set": set_, "bench": name, "part": part, "skipped": "budget"})
        return
    try:
        kern = kernels(fn) if kernels is not None else ""
        row = measure(h, sampler, name, fn, counts=counts, set_=set_)
    except RuntimeError as e:
        print(f"{name}: {e}"[:300], flush=True)
        rows.append({"set": set_, "bench": name, "part": part, "error": str(e)[:200]})
        return
    rows.append({**row, "part": part, "kernels": kern})


def idle(h, sampler: Sampler, name: str, seconds: float) -> dict:
    sampler.bench = name
    e0, t0 = energy_mj(h), time.perf_counter() - T_START
    time.sleep(seconds)
    t1, e1 = time.perf_counter() - T_START, energy_mj(h)
    row = {"set": "calibration", "bench": name, "iters": 0, "wall_s": t1 - t0, "event_s": 0.0, "step_s": t1 - t0,
           "energy_j": (e1 - e0) / 1e3, "avg_power_w": (e1 - e0) / 1e3 / (t1 - t0),
           "energy_per_step_j": (e1 - e0) / 1e3, **window_stats(sampler, t0, t1)}
    print(f"idle        {name:34s} {row['avg_power_w']:6.1f} W  sm {row['sm_clock_mhz']:.0f} MHz", flush=True)
    return row


@triton.jit
def _read_kernel(x_ptr, out_ptr, n_blocks, passes, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    nprog = tl.num_programs(0)
    acc = tl.zeros([BLOCK], tl.float32)
    for _p in range(passes):
        for i in range(pid, n_blocks, nprog):
            acc += tl.load(x_ptr + i * BLOCK + tl.arange(0, BLOCK))
    tl.store(out_ptr + pid * BLOCK + tl.arange(0, BLOCK), acc)


@triton.jit
def _read_cg_kernel(x_ptr, out_ptr, n_blocks, passes, BLOCK: tl.constexpr):
    """As _read_kernel with ld.global.cg: cached in L2 only, so repeated passes read L2, not L1."""
    pid = tl.program_id(0)
    nprog = tl.num_programs(0)
    acc = tl.zeros([BLOCK], tl.float32)
    for _p in range(passes):
        for i in range(pid, n_blocks, nprog):
            acc += tl.load(x_ptr + i * BLOCK + tl.arange(0, BLOCK), cache_modifier=".cg")
    tl.store(out_ptr + pid * BLOCK + tl.arange(0, BLOCK), acc)


@triton.jit
def _fma_kernel(x_ptr, y_ptr, iters, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    a = tl.load(x_ptr + offs)
    b = a + 1.0
    c = a - 1.0
    d = a * 0.5
    for _ in range(iters):
        a = a * 0.999 + 0.001
        b = b * 0.999 + 0.001
        c = c * 0.999 + 0.001
        d = d * 0.999 + 0.001
    tl.store(y_ptr + offs, a + b + c + d)


@triton.jit
def _sfu_kernel(x_ptr, y_ptr, iters, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    a = tl.load(x_ptr + offs)
    b = a + 0.25
    for _ in range(iters):
        a = tl.exp2(a * -0.5)
        b = tl.exp2(b * -0.5)
    tl.store(y_ptr + offs, a + b)


@triton.jit
def _empty_kernel(x_ptr):
    pass


def calibration(h, sampler: Sampler, out: list[dict], over_budget) -> None:
    dev = torch.device("cuda")
    # ---- GEMMs: (dtype, tf32 allowed, size)
    for dtype, tf32, size in (("bf16", False, 8192), ("bf16", False, 4096), ("bf16", False, 2048),
                              ("bf16", False, 1024), ("fp16", False, 8192), ("fp16", False, 2048),
                              ("tf32", True, 8192), ("tf32", True, 2048), ("fp32", False, 8192),
                              ("fp32", False, 2048)):
        if over_budget():
            return
        torch.backends.cuda.matmul.allow_tf32 = tf32
        td = {"bf16": torch.bfloat16, "fp16": torch.float16, "tf32": torch.float32, "fp32": torch.float32}[dtype]
        a = torch.randn(size, size, device=dev, dtype=td)
        b = torch.randn(size, size, device=dev, dtype=td)
        c = torch.empty(size, size, device=dev, dtype=td)
        out.append(measure(h, sampler, f"gemm_{dtype}_{size}", lambda a=a, b=b, c=c: torch.matmul(a, b, out=c),
                           counts={"kind": "gemm", "dtype": dtype, "m": size, "n": size, "k": size,
                                   "flops": 2.0 * size ** 3}))
        del a, b, c
    torch.backends.cuda.matmul.allow_tf32 = False
    # ---- copies (read + write bytes); <= 16 MiB source: L2-resident (src + dst fit the L2)
    for size in (1 << 30, 256 << 20, 16 << 20, 4 << 20):
        if over_budget():
            return
        src = torch.randn(size // 4, device=dev)
        dst = torch.empty_like(src)
        out.append(measure(h, sampler, f"copy_{size >> 20}MiB", lambda s=src, d=dst: d.copy_(s),
                           counts={"kind": "copy", "size_bytes": size, "bytes_moved": 2.0 * size,
                                   "resident": "l2" if size <= 16 << 20 else "hbm"}))
        del src, dst
    # ---- read-only streams (Triton), L2-resident ones read the buffer `passes` times per launch
    block = 4096
    # a pass over 8-24 MiB leaves <= 190 KB per SM: with default caching repeated passes hit the SM's L1
    # (the shared-memory SRAM); with .cg they read L2
    for size, passes, cg, resident in ((1 << 30, 1, False, "hbm"), (256 << 20, 1, False, "hbm"),
                                       (24 << 20, 40, False, "l1"), (8 << 20, 100, False, "l1"),
                                       (24 << 20, 40, True, "l2"), (8 << 20, 100, True, "l2")):
        if over_budget():
            return
        x = torch.randn(size // 4, device=dev)
        grid = 132 * 8
        part = torch.empty(grid * block, device=dev)
        nb = size // 4 // block
        kern = _read_cg_kernel if cg else _read_kernel
        out.append(measure(h, sampler, f"read_{size >> 20}MiB_x{passes}" + ("_cg" if cg else ""),
                           lambda x=x, p=part, nb=nb, ps=passes, g=grid, k=kern: k[(g,)](x, p, nb, ps, BLOCK=block,
                                                                                         num_warps=8),
                           counts={"kind": "read", "size_bytes": size, "bytes_moved": float(size) * passes,
                                   "resident": resident}))
        del x, part
    # ---- FP32 FMA and ex2 loops (register-resident)
    n_elem, blk = 132 * 16 * 1024, 1024
    x = torch.rand(n_elem, device=dev)
    y = torch.empty_like(x)
    if not over_budget():
        iters = 4096
        out.append(measure(h, sampler, "fma_fp32_loop",
                           lambda: _fma_kernel[(n_elem // blk,)](x, y, iters, BLOCK=blk, num_warps=4),
                           counts={"kind": "fma", "fma_ops": 4.0 * iters * n_elem, "flops": 8.0 * iters * n_elem}))
    if not over_budget():
        iters = 1024
        out.append(measure(h, sampler, "sfu_ex2_loop",
                           lambda: _sfu_kernel[(n_elem // blk,)](x, y, iters, BLOCK=blk, num_warps=4),
                           counts={"kind": "sfu", "sfu_ops": 2.0 * iters * n_elem, "fmul_ops": 2.0 * iters * n_elem}))
    if not over_budget():
        out.append(measure(h, sampler, "launch_empty_loop", lambda: _empty_kernel[(1,)](x),
                           counts={"kind": "launch", "launches": 1}))


def glue(h, sampler: Sampler, out: list[dict], over_budget) -> None:
    """Eager PyTorch glue kernels of the whole-model stacks (archsim.gpu.stacks classes), HBM-resident:
    dtype conversion (unrolled), contiguous add (vec), row mean (reduce), broadcast multiply (strided2),
    SiLU / multiply on the strided halves of a gate/up output (strided), rotate-half cat (cat)."""
    dev = torch.device("cuda")
    rows, hidden, ffn = 16 * 2048, 4096, 11008
    x = torch.randn(rows, hidden, device=dev, dtype=torch.bfloat16)
    y = torch.randn_like(x)
    xf = x.float()
    r = torch.rand(rows, 1, device=dev)
    gu = torch.randn(rows, 2 * ffn, device=dev, dtype=torch.bfloat16)
    g, u = gu.chunk(2, dim=-1)
    x1, x2 = x.view(rows, 32, 128).chunk(2, dim=-1)
    n, nf = rows * hidden, rows * ffn
    cases = (("glue_unrolled_to_fp32", "unrolled", lambda: x.float(), 2 * n, 4 * n),
             ("glue_vec_add", "vec", lambda: x + y, 4 * n, 2 * n),
             ("glue_reduce_mean", "reduce", lambda: xf.mean(-1, keepdim=True), 4 * n, 4 * rows),
             ("glue_strided2_mul_rsqrt", "strided2", lambda: xf * r, 4 * n + 4 * rows, 4 * n),
             ("glue_strided_silu", "strided", lambda: F.silu(g), 2 * nf, 2 * nf),
             ("glue_strided_mul", "strided", lambda: F.silu(g) * u, 0, 0),
             ("glue_cat_rotate_half", "cat", lambda: torch.cat((-x2, x1), dim=-1), 2 * n, 2 * n))
    for name, cls, fn, read, write in cases:
        if over_budget():
            return
        if name == "glue_strided_mul":  # one more kernel on top of the silu: measure silu * u as two kernels
            read, write = 2 * nf + 4 * nf, 2 * nf + 2 * nf
            cls = "strided"
        out.append(measure(h, sampler, name, fn, counts={"kind": "glue", "glue_class": cls, "read_bytes": read,
                                                         "write_bytes": write}))


class MiniLlama:
    """Llama-2-7B-shaped decoder layers in plain torch (bf16): RMSNorm, QKV/O projections, rotary,
    SDPA (FlashAttention), SwiGLU MLP; no embedding or LM head. Decode attends over a fixed KV cache."""

    def __init__(self, layers: int, hidden: int = 4096, heads: int = 32, inter: int = 11008):
        dev, dt = torch.device("cuda"), torch.bfloat16
        self.h, self.heads, self.d = hidden, heads, hidden // heads
        s = hidden ** -0.5
        self.w = [{"qkv": torch.randn(3 * hidden, hidden, device=dev, dtype=dt) * s,
                   "o": torch.randn(hidden, hidden, device=dev, dtype=dt) * s,
                   "gu": torch.randn(2 * inter, hidden, device=dev, dtype=dt) * s,
                   "down": torch.randn(hidden, inter, device=dev, dtype=dt) * inter ** -0.5,
                   "n1": torch.ones(hidden, device=dev, dtype=dt), "n2": torch.ones(hidden, device=dev, dtype=dt)}
                  for _ in range(layers)]

    @staticmethod
    def _rms(x, w):
        v = x.float().pow(2).mean(-1, keepdim=True)
        return (x.float() * torch.rsqrt(v + 1e-5)).to(x.dtype) * w

    @staticmethod
    def _rope(x, cos, sin):
        x1, x2 = x.chunk(2, dim=-1)
        return x * cos + torch.cat((-x2, x1), dim=-1) * sin

    def forward(self, x, cos, sin, kv=None):
        b, s, _ = x.shape
        for i, w in enumerate(self.w):
            hdn = self._rms(x, w["n1"])
            q, k, v = F.linear(hdn, w["qkv"]).view(b, s, 3, self.heads, self.d).unbind(2)
            q, k = self._rope(q, cos, sin).transpose(1, 2), self._rope(k, cos, sin).transpose(1, 2)
            v = v.transpose(1, 2)
            if kv is None:
                a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:
                a = F.scaled_dot_product_attention(q, kv[i][0], kv[i][1])
            x = x + F.linear(a.transpose(1, 2).reshape(b, s, self.h), w["o"])
            g, u = F.linear(self._rms(x, w["n2"]), w["gu"]).chunk(2, dim=-1)
            x = x + F.linear(F.silu(g) * u, w["down"])
        return x


def validation(h, sampler: Sampler, out: list[dict], over_budget) -> None:
    from torch.nn.attention import SDPBackend, sdpa_kernel
    dev, dt = torch.device("cuda"), torch.bfloat16
    for b, hh, sq, skv, causal in ((4, 32, 4096, 4096, True), (16, 32, 2048, 2048, False),
                                   (64, 32, 1, 4096, False), (8, 32, 1, 16384, False)):
        if over_budget():
            return
        q = torch.randn(b, hh, sq, 128, device=dev, dtype=dt)
        k = torch.randn(b, hh, skv, 128, device=dev, dtype=dt)
        v = torch.randn_like(k)

        def step(q=q, k=k, v=v, causal=causal):
            with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        phase = "prefill" if sq > 1 else "decode"
        out.append(measure(h, sampler, f"sdpa_{phase}_b{b}_h{hh}_q{sq}_kv{skv}" + ("_causal" if causal else ""), step,
                           set_="validation", counts={"kind": "attention", "impl": "flash2", "batch": b, "heads": hh,
                                                      "kv_heads": hh, "seq_q": sq, "seq_kv": skv, "head_dim": 128,
                                                      "causal": int(causal), "dtype": "bf16"}))
        del q, k, v
    if not over_budget():  # host gaps: a GEMM, then the host waits 2 ms (GPU idle with its context)
        a = torch.randn(4096, 4096, device=dev, dtype=dt)
        c = torch.empty_like(a)

        def gap_step(a=a, c=c):
            torch.matmul(a, a, out=c)
            torch.cuda.synchronize()
            time.sleep(0.002)
        out.append(measure(h, sampler, "gemm_bf16_4096_then_2ms_host_gap", gap_step, set_="validation",
                           counts={"kind": "gemm_gap", "dtype": "bf16", "m": 4096, "n": 4096, "k": 4096,
                                   "flops": 2.0 * 4096 ** 3, "gap_s": 0.002}))
        del a, c
    layers = 4
    model = MiniLlama(layers)
    with torch.no_grad():
        for batch, seq in ((16, 2048),):
            if over_budget():
                return
            x = torch.randn(batch, seq, 4096, device=dev, dtype=dt)
            cos = torch.randn(1, seq, 1, 128, device=dev, dtype=dt)
            sin = torch.randn_like(cos)
            with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                out.append(measure(h, sampler, f"llama7b_l{layers}_prefill_b{batch}_s{seq}",
                                   lambda x=x, c=cos, s=sin: model.forward(x, c, s), set_="validation",
                                   counts={"kind": "model", "phase": "prefill", "layers": layers, "batch": batch,
                                           "seq_q": seq, "seq_kv": seq, "mode": "eager"}))
            del x
        ctx = 2048
        for batch, graph in ((1, True), (64, True), (1, False), (64, False)):
            if over_budget():
                return
            with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                step, mode = decode_step(model, layers, batch, ctx, graph, dev, dt)
                out.append(measure(h, sampler, f"llama7b_l{layers}_decode_b{batch}_ctx{ctx}_{mode}", step,
                                   set_="validation",
                                   counts={"kind": "model", "phase": "decode", "layers": layers, "batch": batch,
                                           "seq_q": 1, "seq_kv": ctx, "mode": mode}))
            del step


def decode_step(model, layers: int, batch: int, ctx: int, graph: bool, dev, dt):
    """One decode step of ``model`` over a random ``ctx``-token KV cache, as a callable and its mode name:
    a CUDA-graph replay (captured after 3 warm-up steps on a side stream) or the eager forward. Call it
    inside the SDPA backend context the measurement should use (the eager step dispatches there)."""
    kv = [(torch.randn(batch, 32, ctx, 128, device=dev, dtype=dt),
           torch.randn(batch, 32, ctx, 128, device=dev, dtype=dt)) for _ in range(layers)]
    x = torch.randn(batch, 1, 4096, device=dev, dtype=dt)
    cos = torch.randn(1, 1, 1, 128, device=dev, dtype=dt)
    sin = torch.randn_like(cos)
    if not graph:
        def step(x=x, cos=cos, sin=sin, kv=kv):
            model.forward(x, cos, sin, kv)
        return step, "eager"
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            model.forward(x, cos, sin, kv)
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        model.forward(x, cos, sin, kv)
    g._archsim_inputs = (x, cos, sin, kv)  # the replay reads these buffers: keep them alive with the graph
    return g.replay, "graph"


def write_rows(path, rows: list[dict]) -> None:
    """Rows as CSV, the columns the union of every row's keys in first-seen order."""
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def write_traces(path, sampler: Sampler) -> None:
    """The sampler's power/clock trace (one row per NVML sample) as CSV."""
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["bench", "t_s", "power_w", "sm_clock_mhz", "mem_clock_mhz", "temp_c", "clock_event_reasons"])
        w.writerows([(r[0], f"{r[1]:.4f}", f"{r[2]:.3f}", *r[3:]) for r in sampler.rows])


def campaign_parser(budget_s: float) -> argparse.ArgumentParser:
    """The options every NVML campaign takes: ``--budget-s``, ``--window-s``, ``--idle-s``, ``--smoke``."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget-s", type=float, default=budget_s)
    ap.add_argument("--window-s", type=float, default=2.0)
    ap.add_argument("--idle-s", type=float, default=3.0)
    ap.add_argument("--smoke", action="store_true")
    return ap


class Campaign:
    """A started NVML campaign: output folder (``$OUT``), NVML handle, running power sampler, meta ``info``."""

    def __init__(self, script: str, args, out_default: str) -> None:
        self.out_dir = Path(os.environ.get("OUT", out_default))
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.t_start, self.budget_s = time.perf_counter(), args.budget_s
        pynvml.nvmlInit()
        self.h = pynvml.nvmlDeviceGetHandleByIndex(0)
        self.sampler = Sampler(self.h)
        self.sampler.start()
        torch.zeros(1, device="cuda")
        self.info = meta(self.h)
        self.info.update(campaign=f"campaigns/{script}", smoke=args.smoke, budget_s=args.budget_s,
                         command=f"OUT=$OUT PYTHONPATH=campaigns python3 campaigns/{script} --budget-s "
                                 f"{args.budget_s:g} --window-s {args.window_s:g}" + (" --smoke" if args.smoke else ""))

    def left(self) -> float:
        """Seconds of the budget left."""
        return self.budget_s - (time.perf_counter() - self.t_start)

    def finish(self, kind: str, rows: list[dict], skipped: list[str]) -> None:
        """Stop the sampler and write ``power-<dev>-<kind>-<date>.csv``, its ``-traces-`` CSV and ``-meta-`` JSON
        (``info`` gains the wall time and what the budget skipped) under the output folder."""
        self.sampler.stop_flag = True
        self.sampler.join()
        info = self.info
        info["wall_s"] = time.perf_counter() - self.t_start
        info["skipped_for_budget"] = skipped
        date = info["date_utc"][:10]
        tag = "h200" if "H200" in str(info["device_name"]) else str(info["device_name"]).split()[-1].lower()
        write_rows(self.out_dir / f"power-{tag}-{kind}-{date}.csv", rows)
        write_traces(self.out_dir / f"power-{tag}-{kind}-traces-{date}.csv", self.sampler)
        (self.out_dir / f"power-{tag}-{kind}-meta-{date}.json").write_text(json.dumps(info, indent=1))
        print(f"done in {info['wall_s']:.0f} s; skipped: {skipped or 'nothing'}")


def meta(h) -> dict:
    def safe(fn, *a):
        try:
            v = fn(*a)
            return v.decode() if isinstance(v, bytes) else v
        except pynvml.NVMLError as e:
            return f"n/a ({e})"
    props = torch.cuda.get_device_properties(0)
    return {"date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "device_name": safe(pynvml.nvmlDeviceGetName, h), "driver": safe(pynvml.nvmlSystemGetDriverVersion),
            "nvml": safe(pynvml.nvmlSystemGetNVMLVersion), "cuda_driver": safe(pynvml.nvmlSystemGetCudaDriverVersion),
            "torch": torch.__version__, "torch_cuda": torch.version.cuda, "triton": triton.__version__,
            "numpy": np.__version__, "python": platform.python_version(), "sm_count": props.multi_processor_count,
            "l2_bytes": props.L2_cache_size, "total_memory_bytes": props.total_memory,
            "power_limit_w": safe(pynvml.nvmlDeviceGetPowerManagementLimit, h) / 1000.0,
            "enforced_power_limit_w": safe(pynvml.nvmlDeviceGetEnforcedPowerLimit, h) / 1000.0,
            "default_power_limit_w": safe(pynvml.nvmlDeviceGetPowerManagementDefaultLimit, h) / 1000.0,
            "power_limit_constraints_w": [v / 1000.0 for v in safe(pynvml.nvmlDeviceGetPowerManagementLimitConstraints,
                                                                   h)],
            "max_sm_clock_mhz": safe(pynvml.nvmlDeviceGetMaxClockInfo, h, pynvml.NVML_CLOCK_SM),
            "max_mem_clock_mhz": safe(pynvml.nvmlDeviceGetMaxClockInfo, h, pynvml.NVML_CLOCK_MEM),
            "persistence_mode": safe(pynvml.nvmlDeviceGetPersistenceMode, h),
            "pstate_at_start": safe(pynvml.nvmlDeviceGetPerformanceState, h),
            # the board, so that board-to-board spread (idle power, stream energy per byte) can be told apart
            "gpu_uuid": safe(pynvml.nvmlDeviceGetUUID, h), "gpu_serial": safe(pynvml.nvmlDeviceGetSerial, h),
            "pci_bus_id": safe(lambda x: pynvml.nvmlDeviceGetPciInfo(x).busId, h),
            "vbios": safe(pynvml.nvmlDeviceGetVbiosVersion, h),
            "method": f"warm-up {WARM_S} s, then n steps over ~{WINDOW_S} s between two synchronisations; "
                      "energy = delta of nvmlDeviceGetTotalEnergyConsumption; trace every ~20 ms "
                      "(nvmlDeviceGetPowerUsage, clocks, temperature, clock-event reasons)",
            "throttle_reason_bits": {"gpu_idle": 0x1, "applications_clocks": 0x2, "sw_power_cap": 0x4,
                                     "hw_slowdown": 0x8, "sync_boost": 0x10, "sw_thermal": 0x20,
                                     "hw_thermal": 0x40, "hw_power_brake": 0x80}}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    pynvml.nvmlInit()
    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    sampler = Sampler(h)
    sampler.start()
    rows: list[dict] = [idle(h, sampler, "idle_no_context", IDLE_S)]
    torch.cuda.init()
    torch.zeros(1, device="cuda")
    info = meta(h)
    tag = f"h200-{info['date_utc'][:10]}" if "H200" in str(info["device_name"]) else \
        f"{str(info['device_name']).split()[1].lower()}-{info['date_utc'][:10]}"
    tag += os.environ.get("POWER_TAG", "")  # e.g. "-r2" for a repeat on the same day
    rows.append(idle(h, sampler, "idle_context", IDLE_S))

    def over_budget() -> bool:
        return time.perf_counter() - T_START > BUDGET_S
    parts = {"calibration": calibration, "glue": glue, "validation": validation}
    chosen = os.environ.get("POWER_PARTS", "calibration,glue,validation").split(",")
    for name in chosen:
        parts[name](h, sampler, rows, over_budget)
    torch.cuda.synchronize()
    rows.append(idle(h, sampler, "idle_context_after", IDLE_S))
    sampler.stop_flag = True
    sampler.join()
    info["wall_s"] = time.perf_counter() - T_START
    info["budget_s"] = BUDGET_S
    info["skipped_for_budget"] = over_budget()
    write_rows(OUT / f"power-{tag}.csv", rows)
    write_traces(OUT / f"power-{tag.split('-')[0]}-traces-{tag.split('-', 1)[1]}.csv", sampler)
    (OUT / f"power-{tag.split('-')[0]}-meta-{tag.split('-', 1)[1]}.json").write_text(json.dumps(info, indent=1))
    print(json.dumps({k: info[k] for k in ("device_name", "driver", "power_limit_w", "wall_s")}))


if __name__ == "__main__":
    main()
