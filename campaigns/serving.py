"""Measured serving run on one GPU (issue 19 item 4b): a small continuous-batching server in plain
PyTorch, driven by seeded Poisson arrivals at several loads, recording per-request and
per-iteration times. The data validate archsim's serving simulator (``archsim.serving``).

Run on the GPU machine from the repository root (imports only torch, numpy, pynvml and the campaign
modules beside this file: ``serving_engine`` (the engine), ``serving_micro`` (isolated step timings, host
microbenchmarks, meta), ``serving_summary`` (``--summarise``), ``csv_sink``, ``wm_models``, ``wm_micro``)::

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
import gc
import json
import os
import sys
import time

import numpy as np
from csv_sink import Sink
from serving_engine import Engine
from serving_micro import clocks, host_micro, meta_info, time_isolated
from serving_summary import summarise

REQ_FIELDS = ["load", "req_id", "arrival_s", "prompt_tokens", "output_tokens", "admit_s", "iter_admit", "ttft_s",
              "tbt_mean_s", "tbt_p50_s", "tbt_p99_s", "tbt_max_s", "e2e_s", "done"]
IT_FIELDS = ["load", "iter", "start_s", "end_s", "prefill_tokens", "prefill_req", "decode_batch", "bucket",
             "waiting", "running", "gpu_decode_s", "gpu_prefill_s"]
BUCKET_FIELDS = ["phase", "batch", "tokens", "reps", "wall_s", "wall_s_p20", "wall_s_p80", "event_s"]


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
