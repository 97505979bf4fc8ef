"""Measured serving run on one GPU (issue 19 item 4b): a small continuous-batching server in plain
PyTorch, driven by seeded Poisson arrivals at several loads, recording per-request and
per-iteration times. The data validate archsim's serving simulator (``archsim.serving``).

Run on the GPU machine from the repository root (imports only torch, numpy, pynvml and
``wm_models`` beside this file)::

    python3 campaigns/serving.py --out "$OUT" [--budget-s 200] [--load-s 25[,15]] [--smoke]
        [--variants eager|graph|graph,eager] [--fractions 0.2,0.5,0.8,1.1] [--host-micro]
    python3 campaigns/serving.py --summarise DIR     # markdown tables from the CSVs (no GPU, no torch)

``--variants``: the prefill variants served one after the other in one process (labels ``<variant>-load020``
when more than one): ``eager`` (eager launches) or ``graph`` (the whole-prompt prefill captured once as a CUDA
graph: prompt copied into a fixed buffer, slot index set by a pinned host-to-device copy, K/V written with
``index_copy_``). Each variant has its own burst, capacity and loads (``--fractions`` of that capacity;
``--load-s``: arrival window per variant). ``--host-micro``: host-dispatch microbenchmarks first
(``serving-host.csv``, the format of ``h200-wm-host-*.csv``: ``wm_micro.run_host`` and the tiny-width ``plain``
model with 1 and 3 layers) — calibration data for the simulator's host model, timed before any load.

Server (everything recorded in ``serving-meta.json``):

- model: ``wm_models.PlainLlama`` with random bf16 weights, Llama-2-7B shapes, ``--layers`` of
  its 32 layers (default 8, as in the whole-model campaign); logits of the last position, greedy
  argmax (tokens stay on the GPU; no EOS: every request emits exactly ``--output`` tokens);
- KV cache: contiguous, preallocated for ``--max-batch`` slots, per layer ``[max_batch,
  kv_heads, max_len, head_dim]`` bf16 with ``max_len = prompt + output`` rounded up to 64. Running
  requests occupy slots ``0..n-1``; when one finishes, the last slot's K/V (all layers) and
  token are copied into its slot (compaction, queued on the stream before the next iteration);
- iteration: (1) one decode step for every request running at the iteration's start, as a
  CUDA-graph replay for the smallest batch bucket >= n (pad rows attend to position 0 of free
  slots), attention over ``max_len`` with a per-row length mask (SDPA, memory-efficient kernel);
  then (2) if a request waits and a slot is free, the whole prompt of ONE request (FCFS) is
  prefilled (eager, batch 1, FlashAttention causal) and its first token sampled — no chunking,
  at most one prefill per iteration; then (3) one ``cuda.synchronize``: every token of the
  iteration (decode tokens and the new request's first token) is emitted at the iteration's end;
- the host idles (sleep, then spin) when nothing runs or waits; Python's GC is off during a load.

Per load: Poisson arrivals (numpy ``default_rng(seed)``, seed recorded) for ``--load-s`` seconds
at a fraction of the capacity measured first by a closed-loop burst (all requests at t=0:
capacity = 1 / median iteration time at full batch with a prefill, i.e. one admission per
iteration). Arrivals stop at ``--load-s``; running and queued requests drain until a deadline.

Writes under ``--out`` (flushed as it goes): ``serving-requests.csv`` (one row per request:
arrival_s, prompt_tokens, output_tokens, ttft_s, tbt_mean_s, tbt_p50_s, tbt_p99_s, tbt_max_s,
e2e_s, done, iter_admit — token k of a request is emitted at the end of iteration
``iter_admit + k``), ``serving-iterations.csv`` (start_s, end_s, prefill_tokens, decode_batch,
bucket, waiting, running, GPU-event times of the decode and prefill parts), ``serving-buckets.csv``
(isolated decode-graph and prefill timings: eager, and graph replay when captured), ``serving-meta.json``,
``serving-log.txt``. Times are
seconds from the load's start (``time.perf_counter``).
"""

from __future__ import annotations

import argparse
import collections
import csv
import datetime as dt
import gc
import json
import os
import platform
import sys
import time

import numpy as np
from csv_sink import Sink

REQ_FIELDS = ["load", "req_id", "arrival_s", "prompt_tokens", "output_tokens", "admit_s", "iter_admit", "ttft_s",
              "tbt_mean_s", "tbt_p50_s", "tbt_p99_s", "tbt_max_s", "e2e_s", "done"]
IT_FIELDS = ["load", "iter", "start_s", "end_s", "prefill_tokens", "prefill_req", "decode_batch", "bucket",
             "waiting", "running", "gpu_decode_s", "gpu_prefill_s"]
BUCKET_FIELDS = ["phase", "batch", "tokens", "reps", "wall_s", "wall_s_p20", "wall_s_p80", "event_s"]


class Engine:
    """Model, preallocated contiguous KV cache, decode graphs per batch bucket, eager prefill."""

    def __init__(self, layers: int, max_batch: int, prompt: int, output: int, graphs: bool, log,
                 prefill_graph: bool = False) -> None:
        import torch
        import wm_models
        self.torch, self.F, self.wm = torch, torch.nn.functional, wm_models
        self.shape = wm_models.SHAPES["llama-2-7b"]
        self.max_len = -(-(prompt + output) // 64) * 64
        self.max_batch, self.prompt = max_batch, prompt
        with torch.device("cuda"):
            self.m = wm_models.PlainLlama(self.shape, layers, max_pos=self.max_len)
        self.m.requires_grad_(False)
        self.m.alloc_cache(max_batch, self.max_len)
        dev = "cuda"
        self.ids = torch.randint(0, self.shape["vocab"], (max_batch,), device=dev)
        self.pos = torch.zeros(max_batch, dtype=torch.long, device=dev)
        self.pos_cpu = torch.zeros(max_batch, dtype=torch.long).pin_memory()
        self.pos_np = self.pos_cpu.numpy()
        self.rows = torch.arange(max_batch, device=dev)
        self.ar = torch.arange(self.max_len, device=dev)
        self.prompts = [torch.randint(0, self.shape["vocab"], (1, prompt), device=dev) for _ in range(8)]
        self.ppos = torch.arange(prompt, device=dev)
        self.buckets = sorted({b for b in (1, 2, 4, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128)
                               if b < max_batch} | {max_batch})
        self.graphs: dict = {}
        self.graph_error = ""
        self.n_prefill = 0
        # graph-captured prefill: fixed prompt buffer and a device slot index (set before each replay)
        self.pids = self.prompts[0].clone()
        self.slot_t = torch.zeros(1, dtype=torch.long, device=dev)
        self.slot_cpu = torch.zeros(1, dtype=torch.long).pin_memory()
        self.prefill_graph = None
        self.prefill_graph_error = ""
        self.use_prefill_graph = False
        if graphs:
            try:
                self._capture()
            except Exception as e:  # recorded in meta; the server then decodes eagerly
                self.graphs, self.graph_error = {}, repr(e)[:300]
                log(f"graph capture FAILED, eager decode: {e!r}")
        if prefill_graph:
            try:
                self._capture_prefill()
            except Exception as e:  # recorded in meta; graph-prefill loads are then skipped
                self.prefill_graph, self.prefill_graph_error = None, repr(e)[:300]
                log(f"prefill graph capture FAILED: {e!r}")
        torch.cuda.synchronize()

    def _decode(self, b: int) -> None:
        F, m, wm = self.F, self.m, self.wm
        h, hkv, d = m.h, m.hkv, m.d
        p = self.pos[:b]
        x = F.embedding(self.ids[:b], m.embed).unsqueeze(1)
        cos, sin = m.cos[p][:, None, None, :], m.sin[p][:, None, None, :]
        mask = (self.ar[None, :] <= p[:, None])[:, None, None, :]
        rows = self.rows[:b]
        for i in range(m.layers):
            r = x
            y = wm.rmsnorm(x, m.n1[i], m.eps)
            qkv = F.linear(y, m.wqkv[i]).view(b, 1, h + 2 * hkv, d)
            q, k, v = qkv.split([h, hkv, hkv], dim=2)
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
            q = q * cos + wm.rotate_half(q) * sin
            k = k * cos + wm.rotate_half(k) * sin
            kc, vc = m.k_cache[i], m.v_cache[i]
            kc[rows, :, p] = k[:, :, 0]
            vc[rows, :, p] = v[:, :, 0]
            o = F.scaled_dot_product_attention(q, kc[:b], vc[:b], attn_mask=mask, enable_gqa=hkv != h)
            x = r + F.linear(o.transpose(1, 2).reshape(b, 1, h * d), m.wo[i])
            r = x
            y = wm.rmsnorm(x, m.n2[i], m.eps)
            g, u = F.linear(y, m.w13[i]).chunk(2, dim=-1)
            x = r + F.linear(F.silu(g) * u, m.w2[i])
        x = wm.rmsnorm(x[:, 0], m.nf, m.eps)
        self.ids[:b].copy_(F.linear(x, m.head).argmax(-1))

    def _capture(self) -> None:
        torch = self.torch
        pool = None
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for b in self.buckets:
                self._decode(b)
        torch.cuda.current_stream().wait_stream(s)
        torch.cuda.synchronize()
        for b in reversed(self.buckets):  # largest first so the shared pool is sized once
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g, pool=pool):
                self._decode(b)
            pool = g.pool()
            self.graphs[b] = g
        torch.cuda.synchronize()

    def _prefill_body(self) -> None:
        """Whole prompt ``pids`` into slot ``slot_t`` (device index: graph-capturable); first token to ids[slot]."""
        from torch.nn.attention import SDPBackend, sdpa_kernel
        F, m, wm = self.F, self.m, self.wm
        h, hkv, d, s = m.h, m.hkv, m.d, self.prompt
        x = F.embedding(self.pids, m.embed)
        cos, sin = m.cos[self.ppos][None, None], m.sin[self.ppos][None, None]
        for i in range(m.layers):
            r = x
            y = wm.rmsnorm(x, m.n1[i], m.eps)
            qkv = F.linear(y, m.wqkv[i]).view(1, s, h + 2 * hkv, d)
            q, k, v = qkv.split([h, hkv, hkv], dim=2)
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
            q = q * cos + wm.rotate_half(q) * sin
            k = k * cos + wm.rotate_half(k) * sin
            m.k_cache[i][:, :, :s].index_copy_(0, self.slot_t, k)
            m.v_cache[i][:, :, :s].index_copy_(0, self.slot_t, v)
            with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                o = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=hkv != h)
            x = r + F.linear(o.transpose(1, 2).reshape(1, s, h * d), m.wo[i])
            r = x
            y = wm.rmsnorm(x, m.n2[i], m.eps)
            g, u = F.linear(y, m.w13[i]).chunk(2, dim=-1)
            x = r + F.linear(F.silu(g) * u, m.w2[i])
        x = wm.rmsnorm(x[:, -1], m.nf, m.eps)
        self.ids.index_copy_(0, self.slot_t, F.linear(x, m.head).argmax(-1))

    def _capture_prefill(self) -> None:
        torch = self.torch
        self.slot_t.fill_(self.max_batch - 1)
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(2):
                self._prefill_body()
        torch.cuda.current_stream().wait_stream(s)
        torch.cuda.synchronize()
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            self._prefill_body()
        torch.cuda.synchronize()
        self.prefill_graph = g

    def bucket(self, n: int) -> int:
        return next(b for b in self.buckets if b >= n)

    def decode(self, positions: list[int]) -> int:
        """One decode step for slots 0..n-1 at ``positions``; returns the bucket it ran as."""
        n = len(positions)
        b = self.bucket(n) if self.graphs else n
        self.pos_np[:n] = positions
        self.pos_np[n:b] = 0
        self.pos[:b].copy_(self.pos_cpu[:b], non_blocking=True)
        if self.graphs:
            self.graphs[b].replay()
        else:
            self._decode(b)
        return b

    def prefill(self, slot: int) -> None:
        """Whole prompt of one request into ``slot`` (eager, or one graph replay when ``use_prefill_graph``);
        its first token goes to ``ids[slot]``."""
        from torch.nn.attention import SDPBackend, sdpa_kernel
        F, m, wm = self.F, self.m, self.wm
        h, hkv, d, s = m.h, m.hkv, m.d, self.prompt
        ids = self.prompts[self.n_prefill % len(self.prompts)]
        self.n_prefill += 1
        if self.use_prefill_graph:
            self.slot_cpu[0] = slot
            self.slot_t.copy_(self.slot_cpu, non_blocking=True)
            self.pids.copy_(ids)
            self.prefill_graph.replay()
            return
        x = F.embedding(ids, m.embed)
        cos, sin = m.cos[self.ppos][None, None], m.sin[self.ppos][None, None]
        for i in range(m.layers):
            r = x
            y = wm.rmsnorm(x, m.n1[i], m.eps)
            qkv = F.linear(y, m.wqkv[i]).view(1, s, h + 2 * hkv, d)
            q, k, v = qkv.split([h, hkv, hkv], dim=2)
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
            q = q * cos + wm.rotate_half(q) * sin
            k = k * cos + wm.rotate_half(k) * sin
            m.k_cache[i][slot, :, :s] = k[0]
            m.v_cache[i][slot, :, :s] = v[0]
            with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                o = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=hkv != h)
            x = r + F.linear(o.transpose(1, 2).reshape(1, s, h * d), m.wo[i])
            r = x
            y = wm.rmsnorm(x, m.n2[i], m.eps)
            g, u = F.linear(y, m.w13[i]).chunk(2, dim=-1)
            x = r + F.linear(F.silu(g) * u, m.w2[i])
        x = wm.rmsnorm(x[:, -1], m.nf, m.eps)
        self.ids[slot:slot + 1].copy_(F.linear(x, m.head).argmax(-1))

    def move(self, src: int, dst: int) -> None:
        """Slot compaction: K/V of every layer and the pending token from ``src`` to ``dst``."""
        for kc, vc in zip(self.m.k_cache, self.m.v_cache, strict=True):
            kc[dst].copy_(kc[src])
            vc[dst].copy_(vc[src])
        self.ids[dst].copy_(self.ids[src])


class Req:
    __slots__ = ("rid", "arrival", "admit", "iter_admit", "times", "pos")

    def __init__(self, rid: int, arrival: float) -> None:
        self.rid, self.arrival, self.admit, self.iter_admit, self.times, self.pos = rid, arrival, None, None, [], 0


def serve(eng: Engine, label: str, arrivals: list[float], output: int, stop_s: float, reqs: Sink, its: Sink) -> dict:
    """Run the server over ``arrivals`` (s from start) until all finish or ``stop_s``; rows to the sinks."""
    torch = eng.torch
    ev = [torch.cuda.Event(enable_timing=True) for _ in range(3)]
    pending = collections.deque(Req(i, a) for i, a in enumerate(arrivals))
    allreq = list(pending)
    waiting: collections.deque = collections.deque()
    running: list[Req] = []
    it = 0
    gc.collect()
    gc.disable()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    while True:
        t = time.perf_counter() - t0
        while pending and pending[0].arrival <= t:
            waiting.append(pending.popleft())
        if t > stop_s:
            break
        if not running and not waiting:
            if not pending:
                break
            wait = pending[0].arrival - t
            if wait > 0.002:
                time.sleep(wait - 0.001)
            continue
        n = len(running)
        ev[0].record()
        b = eng.decode([r.pos for r in running]) if n else 0
        ev[1].record()
        adm = None
        if waiting and n < eng.max_batch:
            adm = waiting.popleft()
            eng.prefill(n)
        ev[2].record()
        torch.cuda.synchronize()
        end = time.perf_counter() - t0
        its.row(load=label, iter=it, start_s=f"{t:.6f}", end_s=f"{end:.6f}", prefill_tokens=eng.prompt if adm else 0,
                prefill_req=adm.rid if adm else "", decode_batch=n, bucket=b, waiting=len(waiting) + (1 if adm else 0),
                running=n, gpu_decode_s=f"{ev[0].elapsed_time(ev[1]) * 1e-3:.6f}",
                gpu_prefill_s=f"{ev[1].elapsed_time(ev[2]) * 1e-3:.6f}")
        for r in running:
            r.times.append(end)
            r.pos += 1
        if adm:
            adm.admit, adm.iter_admit, adm.times, adm.pos = t, it, [end], eng.prompt
            running.append(adm)
        for s in sorted((i for i, r in enumerate(running) if len(r.times) >= output), reverse=True):
            last = len(running) - 1
            if s != last:
                eng.move(last, s)
                running[s] = running[last]
            running.pop()
        it += 1
    gc.enable()
    done = 0
    for r in allreq:
        ok = len(r.times) >= output
        done += ok
        gaps = np.diff(r.times) if len(r.times) > 1 else np.array([])
        reqs.row(load=label, req_id=r.rid, arrival_s=f"{r.arrival:.6f}", prompt_tokens=eng.prompt, output_tokens=output,
                 admit_s=None if r.admit is None else f"{r.admit:.6f}", iter_admit=r.iter_admit,
                 ttft_s=f"{r.times[0] - r.arrival:.6f}" if r.times else None,
                 tbt_mean_s=f"{gaps.mean():.6f}" if gaps.size else None,
                 tbt_p50_s=f"{np.percentile(gaps, 50):.6f}" if gaps.size else None,
                 tbt_p99_s=f"{np.percentile(gaps, 99):.6f}" if gaps.size else None,
                 tbt_max_s=f"{gaps.max():.6f}" if gaps.size else None,
                 e2e_s=f"{r.times[-1] - r.arrival:.6f}" if ok else None, done=int(ok))
    return {"label": label, "n_arrivals": len(allreq), "n_done": done, "iterations": it,
            "wall_s": time.perf_counter() - t0}


def time_isolated(eng: Engine, sink: Sink, reps: int) -> dict[str, float]:
    """Decode step per bucket (graph replay or eager) and one prefill (eager, and graph replay if captured),
    each after a sync; medians. Keys: ``prefill``, ``prefill_graph``, ``decode<b>``."""
    torch = eng.torch
    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    out = {}
    cases = [("prefill", 1, False)] + ([("prefill_graph", 1, True)] if eng.prefill_graph is not None else [])
    for phase, b, pg in cases + [("decode", b, False) for b in eng.buckets]:
        walls, evs = [], []
        eng.use_prefill_graph = pg
        for _ in range(reps + 2):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            e0.record()
            if phase.startswith("prefill"):
                eng.prefill(eng.max_batch - 1)
            else:
                eng.decode([eng.prompt] * b)
            e1.record()
            torch.cuda.synchronize()
            walls.append(time.perf_counter() - t0)
            evs.append(e0.elapsed_time(e1) * 1e-3)
        w, e = sorted(walls[2:]), sorted(evs[2:])
        sink.row(phase=phase, batch=b, tokens=eng.prompt if phase.startswith("prefill") else b, reps=reps,
                 wall_s=f"{w[len(w) // 2]:.6f}", wall_s_p20=f"{w[int(0.2 * len(w))]:.6f}",
                 wall_s_p80=f"{w[int(0.8 * len(w))]:.6f}", event_s=f"{e[len(e) // 2]:.6f}")
        out[phase if phase.startswith("prefill") else f"decode{b}"] = w[len(w) // 2]
    eng.use_prefill_graph = False
    return out


def host_micro(out: str, log) -> None:
    """Host-dispatch microbenchmarks on this machine, in the format of ``h200-wm-host-*.csv``
    (``wm_micro.run_host``: tiny calls per operator kind and graph replays; tiny-width ``plain`` models of
    1 and 3 layers, eager and graph: host seconds per layer). Calibration data for the simulator's host
    model; no serving iteration is timed here."""
    import torch
    import wm_micro
    sink = Sink(os.path.join(out, "serving-host.csv"), wm_micro.HOST_FIELDS)
    with torch.inference_mode():
        wm_micro.run_host(sink, log)
    reps = 30
    for phase in ("prefill", "decode"):
        for layers in (1, 3):
            with torch.inference_mode():
                call = wm_micro._tiny_cases("plain", layers, phase)
                for _ in range(3):
                    call()
                torch.cuda.synchronize()
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
                sink.row(op=f"model:plain:{phase}:L{layers}", mode="eager", calls=reps,
                         kernels_per_call=12 + 37 * layers,  # the profiler's count in h200-wm-host-2026-12-01.csv
                         host_us_per_call=hosts[reps // 2] * 1e6, wall_us_per_call=walls[reps // 2] * 1e6,
                         gpu_us_per_call="", graph_nodes="")
    log("host microbenchmarks done")


def meta_info() -> dict:
    import torch
    p = torch.cuda.get_device_properties(0)
    info = {"date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "device_name": p.name,
            "sm_count": p.multi_processor_count, "total_memory_bytes": p.total_memory,
            "compute_capability": f"{p.major}.{p.minor}", "torch": torch.__version__, "torch_cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(), "numpy": np.__version__, "python": platform.python_version(),
            "cpu_count": os.cpu_count()}
    try:
        import pynvml
        pynvml.nvmlInit()
        v = pynvml.nvmlSystemGetDriverVersion()
        info["driver"] = v.decode() if isinstance(v, bytes) else v
        h = pynvml.nvmlDeviceGetHandleByIndex(0)
        info["_nvml"] = (pynvml, h)
    except Exception as e:  # NVML optional; recorded
        info["nvml_error"] = repr(e)
    return info


def clocks(info: dict) -> dict:
    if "_nvml" not in info:
        return {}
    nv, h = info["_nvml"]
    return {"sm_clock_mhz": nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM),
            "mem_clock_mhz": nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_MEM),
            "power_limit_w": nv.nvmlDeviceGetEnforcedPowerLimit(h) / 1000.0,
            "power_w": nv.nvmlDeviceGetPowerUsage(h) / 1000.0,
            "temperature_c": nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU)}


def run(args) -> int:
    import torch
    os.makedirs(args.out, exist_ok=True)
    t_start = time.monotonic()
    logf = open(os.path.join(args.out, "serving-log.txt"), "w")

    def log(msg: str) -> None:
        line = f"[{time.monotonic() - t_start:7.1f}s] {msg}"
        print(line, flush=True)
        logf.write(line + "\n")
        logf.flush()

    def left() -> float:
        return args.budget_s - (time.monotonic() - t_start)

    torch.manual_seed(0)
    info = meta_info()
    info["clocks_start"] = clocks(info)
    variants = args.variants.split(",")
    eng = Engine(args.layers, args.max_batch, args.prompt, args.output, not args.eager, log,
                 prefill_graph="graph" in variants)
    m = eng.m
    info.update({"model": "llama-2-7b shapes, random bf16 weights (wm_models.PlainLlama)", "shape": eng.shape,
                 "layers": args.layers, "layers_full": eng.shape["layers_full"], "dtype": "bfloat16",
                 "params": sum(p.numel() for p in m.parameters()), "max_batch": args.max_batch,
                 "prompt_tokens": args.prompt, "output_tokens": args.output, "kv_max_len": eng.max_len,
                 "kv_cache": "contiguous, preallocated [max_batch, kv_heads, kv_max_len, head_dim] bf16 per layer; "
                             "slot compaction on finish", "decode": "cuda-graph per bucket" if eng.graphs else
                 "eager", "graph_error": eng.graph_error, "buckets": eng.buckets,
                 "prefill": "whole prompt, one request per iteration (not chunked), FlashAttention causal; variant "
                            "'eager': eager launches; variant 'graph': one CUDA-graph replay (prompt copied into a "
                            "fixed buffer, slot index set by a host-to-device copy, cache written by index_copy_)",
                 "prefill_graph_error": eng.prefill_graph_error, "variants": variants,
                 "scheduler": "FCFS; iteration = decode step of all running at its start, then prefill of at most one "
                              "waiting request if a slot is free, then one synchronize (all tokens emitted at its end)",
                 "decode_attention": "SDPA with boolean length mask over kv_max_len (default backend choice)",
                 "sampling": "greedy argmax on GPU; no EOS", "gc": "disabled during each load",
                 "autograd": "off (torch.no_grad, parameters requires_grad=False)",
                 "smoke": args.smoke, "command": " ".join(sys.argv)})
    log(f"engine ready: {args.layers} layers, max batch {args.max_batch}, decode {info['decode']}, "
        f"prefill graph {'captured' if eng.prefill_graph is not None else 'none ' + eng.prefill_graph_error}")
    if args.host_micro:
        try:
            host_micro(args.out, log)
        except Exception as e:  # recorded; the serving loads still run
            info["host_micro_error"] = repr(e)[:300]
            log(f"host microbenchmarks FAILED {e!r}")
    iso = time_isolated(eng, Sink(os.path.join(args.out, "serving-buckets.csv"), BUCKET_FIELDS),
                        5 if args.smoke else 20)
    log("isolated: " + ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in iso.items()))
    reqs = Sink(os.path.join(args.out, "serving-requests.csv"), REQ_FIELDS)
    its = Sink(os.path.join(args.out, "serving-iterations.csv"), IT_FIELDS)
    fracs = [float(f) for f in args.fractions.split(",")]
    load_s = [float(x) for x in args.load_s.split(",")]
    info["loads"], info["capacity"] = [], {}
    for vi, variant in enumerate(variants):
        if variant == "graph" and eng.prefill_graph is None:
            log("no prefill graph: skipping variant graph")
            continue
        eng.use_prefill_graph = variant == "graph"
        pre = f"{variant}-" if len(variants) > 1 else ""
        est_iter = iso["prefill_graph" if eng.use_prefill_graph else "prefill"] + iso[f"decode{args.max_batch}"]
        burst_s = 1.5 if args.smoke else 4.0
        n_burst = int(burst_s / est_iter) + args.max_batch
        res = serve(eng, f"{pre}burst", [0.0] * n_burst, args.output, burst_s, reqs, its)
        # capacity from the burst's own iterations: full batch (or one short) with a prefill
        with open(os.path.join(args.out, "serving-iterations.csv")) as fh:
            full = [float(r["end_s"]) - float(r["start_s"]) for r in csv.DictReader(fh)
                    if r["load"] == f"{pre}burst" and int(r["prefill_tokens"]) > 0
                    and int(r["decode_batch"]) >= args.max_batch - 1]
        iter_sat = float(np.median(full)) if full else est_iter
        cap = 1.0 / iter_sat
        info["capacity"][variant] = {
            "req_per_s": cap, "iter_s_at_full_batch": iter_sat, "n_iters_used": len(full),
            "isolated_estimate_s": est_iter, "method": "1 / median iteration time of the burst's iterations with a "
            "prefill and decode batch >= max_batch-1 (one admission per iteration); sets the offered loads only"}
        info["loads"].append(res | {"variant": variant, "fraction": None, "qps": None, "seed": None,
                                    "arrivals": f"{n_burst} at t=0"})
        log(f"{pre}burst: {res}; capacity {cap:.1f} req/s (iteration {iter_sat * 1e3:.2f} ms, {len(full)} its)")
        for k, frac in enumerate(fracs):
            drain = 3.0 if args.smoke else 8.0

            def planned(v: int, f: float, drain: float = drain) -> float:  # window + expected drain (> 1 only)
                return load_s[min(v, len(load_s) - 1)] + (drain if f > 1.0 else 1.0)
            rest = sum(planned(vi, f) for f in fracs[k:]) + sum(
                planned(v, f) for v in range(vi + 1, len(variants)) for f in fracs) + 5.0 * (len(variants) - vi - 1)
            dur = load_s[min(vi, len(load_s) - 1)] * min(1.0, (left() - 5.0) / rest)
            if dur < 1.0:
                log(f"budget: skipping {pre}load {frac}")
                continue
            seed = 1000 + 100 * vi + k
            qps = frac * cap
            rng = np.random.default_rng(seed)
            arr = np.cumsum(rng.exponential(1.0 / qps, size=int(qps * dur * 1.5) + 50))
            arr = arr[arr < dur].tolist()
            label = f"{pre}load{int(round(frac * 100)):03d}"
            try:
                res = serve(eng, label, arr, args.output, dur + drain, reqs, its)
            except Exception as e:  # keep what was written; the meta says where it stopped
                info["error"] = f"{label}: {e!r}"[:400]
                log(f"{label} FAILED {e!r}")
                break
            res["mem_allocated_gib"] = torch.cuda.memory_allocated() / 2**30
            res.update({"variant": variant, "fraction": frac, "qps": qps, "seed": seed, "duration_s": dur,
                        "drain_s": drain,
                        "arrivals": "poisson, numpy default_rng(seed).exponential(1/qps), kept while < duration_s"})
            info["loads"].append(res)
            log(f"{label}: qps {qps:.1f} seed {seed} {res}")
            info["clocks_end"] = clocks(info)
            write_meta(args.out, info)
    info["wall_s"] = time.monotonic() - t_start
    write_meta(args.out, info)
    log(f"done in {info['wall_s']:.0f} s")
    return 0


def write_meta(out: str, info: dict) -> None:
    with open(os.path.join(out, "serving-meta.json"), "w") as fh:
        json.dump({k: v for k, v in info.items() if not k.startswith("_")}, fh, indent=1)


def _pct(xs, qs=(50, 90, 99)) -> list[float]:
    return [float(np.percentile(xs, q)) for q in qs] if len(xs) else [float("nan")] * len(qs)


def summarise(prefix: str) -> str:
    """Markdown table per load: TTFT and TBT (all token gaps pooled) p50/p90/p99, e2e, throughput."""
    def rows(kind: str) -> list[dict]:
        with open(f"{prefix}{kind}.csv") as fh:
            return list(csv.DictReader(fh))
    its, reqs = rows("iterations"), rows("requests")
    with open(f"{prefix}meta.json") as fh:
        meta = json.load(fh)
    lines = ["| load | QPS | arrivals | done | TTFT p50/p90/p99 ms | TBT p50/p90/p99 ms | e2e p50/p99 ms | "
             "out tok/s | req/s | mean decode batch |", "|" + "---|" * 10]
    for ld in meta["loads"]:
        lab = ld["label"]
        end = {int(r["iter"]): float(r["end_s"]) for r in its if r["load"] == lab}
        rq = [r for r in reqs if r["load"] == lab and r["done"] == "1"]
        ttft = [float(r["ttft_s"]) for r in rq]
        gaps = []
        for r in rq:
            t = [end[int(r["iter_admit"]) + k] for k in range(int(r["output_tokens"]))]
            gaps.extend(np.diff(t).tolist())
        e2e = [float(r["e2e_s"]) for r in rq]
        win = ld.get("duration_s") or ld["wall_s"]
        itl = [r for r in its if r["load"] == lab and float(r["end_s"]) <= win]
        toks = sum(int(r["decode_batch"]) + (1 if int(r["prefill_tokens"]) else 0) for r in itl)
        done_in = sum(1 for r in rq if float(r["arrival_s"]) + float(r["e2e_s"]) <= win)
        batch = np.mean([int(r["decode_batch"]) for r in itl]) if itl else float("nan")
        f = "/".join(f"{x * 1e3:.1f}" for x in _pct(ttft))
        g = "/".join(f"{x * 1e3:.2f}" for x in _pct(gaps))
        e = "/".join(f"{x * 1e3:.0f}" for x in _pct(e2e, (50, 99)))
        qps = f"{ld['qps']:.1f}" if ld.get("qps") else "burst"
        lines.append(f"| {lab} | {qps} | {ld['n_arrivals']} | {ld['n_done']} | {f} | {g} | {e} | {toks / win:.0f} | "
                     f"{done_in / win:.1f} | {batch:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.environ.get("OUT", "serving-out"))
    ap.add_argument("--budget-s", type=float, default=200.0, help="wall budget of the whole run (s)")
    ap.add_argument("--load-s", default="25", help="arrival window per load (s); comma list: one per variant")
    ap.add_argument("--fractions", default="0.2,0.5,0.8,1.1", help="offered loads as fractions of the burst capacity")
    ap.add_argument("--variants", default="eager", help="prefill variants to serve, in order: eager, graph")
    ap.add_argument("--host-micro", action="store_true", help="host-dispatch microbenchmarks first (serving-host.csv)")
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--max-batch", type=int, default=64)
    ap.add_argument("--prompt", type=int, default=256)
    ap.add_argument("--output", type=int, default=64)
    ap.add_argument("--eager", action="store_true", help="eager decode (no CUDA graphs)")
    ap.add_argument("--smoke", action="store_true", help="short loads (checks the code paths)")
    ap.add_argument("--summarise", metavar="PREFIX", help="print markdown tables from PREFIX{requests,iterations}.csv "
                    "and PREFIXmeta.json (e.g. DIR/serving-)")
    args = ap.parse_args(argv)
    if args.summarise:
        print(summarise(args.summarise))
        return 0
    if args.smoke:
        args.load_s = ",".join(str(min(float(x), 3.0)) for x in args.load_s.split(","))
    import torch
    with torch.no_grad():  # no autograd: in-place cache writes would otherwise chain history (memory grows)
        return run(args)


if __name__ == "__main__":
    sys.exit(main())
