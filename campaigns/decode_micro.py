"""Small-batch CUDA-graph decode on one GPU, taken apart (issue 19: the serving decode step's missing time).

Run on the GPU machine from the repository root (imports torch, numpy, pynvml and sibling campaign modules;
nothing is downloaded)::

    python3 campaigns/decode_micro.py --out "$OUT" [--budget-s 240] [--smoke]

Parts, in this order, each skipped once the budget is spent (the meta file lists what ran):

- ``step`` (diagnosis, not a calibration): the serving engine's decode CUDA graphs (``serving_engine.Engine``,
  8 layers of Llama-2-7B shapes, KV slot 320, random positions in [256, 319]) at every batch bucket: CUDA-event
  time per replay after a sync (median of 20), then 3 replays under ``torch.profiler`` with every kernel's
  start, duration, grid, block, registers and shared memory (``step-kernels.csv``, one row per kernel).
- ``cudnn`` (calibration): ``F.scaled_dot_product_attention`` decode (q_len 1, head dim 128, bf16) with a float
  bias ``[b, 1, 1, kv]`` (``bias``: the serving engine's masked SDPA after the bool-to-bias conversion) and with
  no mask under ``sdpa_kernel(CUDNN_ATTENTION)`` (``none``), over batch x KV length, MHA 32/32 and GQA 32/8; every
  call after a 256 MiB read (L2 cold and clean, as between decode layers); 8 calls under the profiler: per kernel the
  median duration and its launch geometry (the grid says how many KV splits cuDNN chose).
- ``chain`` (calibration): CUDA graphs of 64 nodes of one kind (tiny add, GEMV, cuDNN decode) or two kinds
  alternating; per node: event time of the replay, profiled kernel durations and the start-to-previous-end gaps.
- ``gemv`` (calibration): ``F.linear`` at m = 1..64 rows with the decode's weight shapes (8 copies rotated: L2
  cold), profiled: kernel name, grid, median duration.
- ``glue`` (calibration): the decode step's small kernels one op at a time at batch 1..64 (embedding lookup,
  argmax over the vocabulary, RoPE table gather, length mask, KV-cache index write, RMSNorm mean, bool-to-bias),
  profiled: kernel names, grids, median durations.
- ``engine_glue`` (calibration, run on request: ``--parts engine_glue``): the rest of the decode layer's glue ops
  on the engine's own tensor layouts (RMSNorm pieces, RoPE on strided head views, residual add, SiLU and mul on
  the chunked gate/up halves) and the embedding lookup with the table out of L2 (``embedding_cold``).

Files under ``--out``: ``step-kernels.csv``, ``step-events.csv``, ``cudnn.csv``, ``chain.csv``, ``gemv.csv``,
``glue.csv``, ``engine-glue.csv``,
``meta.json`` (device, driver, torch/cuDNN versions, clocks, date, parts ran / skipped, errors).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import statistics
import sys
import time
import traceback

import decode_glue
import torch
import torch.nn.functional as F
from csv_sink import Sink
from profiled import KERNEL_FIELDS, clocks, event_us, graph_of, kernel_rows, nvml, traced
from torch.nn.attention import SDPBackend, sdpa_kernel


def run_step(out: str, log, buckets) -> None:
    import serving_engine
    eng = serving_engine.Engine(layers=8, max_batch=64, prompt=256, output=64, graphs=True, log=log)
    if eng.graph_error:
        raise RuntimeError(eng.graph_error)
    gen = torch.Generator().manual_seed(0)
    evs = Sink(os.path.join(out, "step-events.csv"), ["bucket", "reps", "event_us", "kernels", "kernel_sum_us",
                                                       "span_us", "gap_sum_us"])
    ks = Sink(os.path.join(out, "step-kernels.csv"), ["bucket", "replay", "idx", "start_us", "gap_us"]
              + KERNEL_FIELDS)
    for b in buckets:
        pos = torch.randint(256, 320, (b,), generator=gen).tolist()
        eng.decode(pos)
        torch.cuda.synchronize()
        g = eng.graphs[b]
        ev = event_us(g.replay, 20)
        calls = traced(g.replay, 3)
        sums = []
        for r, kern in enumerate(calls):
            t0, prev = kern[0]["ts"], None
            for i, k in enumerate(kern):
                gap = 0.0 if prev is None else k["ts"] - prev
                ks.row(bucket=b, replay=r, idx=i, start_us=round(k["ts"] - t0, 3), gap_us=round(gap, 3),
                       **{f: k[f] for f in KERNEL_FIELDS})
                prev = k["ts"] + k["dur_us"]
            sums.append((len(kern), sum(k["dur_us"] for k in kern), prev - t0))
        n, ksum, span = sorted(sums, key=lambda x: x[2])[len(sums) // 2]
        evs.row(bucket=b, reps=20, event_us=round(ev, 2), kernels=n, kernel_sum_us=round(ksum, 2),
                span_us=round(span, 2), gap_sum_us=round(span - ksum, 2))
        log(f"step b{b}: event {ev:.1f} us, {n} kernels, sum {ksum:.1f}, span {span:.1f}")
    del eng
    torch.cuda.empty_cache()


def _sdpa_cudnn(q, k, v, gqa: bool):
    with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
        return F.scaled_dot_product_attention(q, k, v, enable_gqa=gqa)


class _Rotating:
    """``F.linear(x, w)`` over a list of weight copies in turn (each call reads a cold copy)."""

    def __init__(self, x, ws) -> None:
        self.x, self.ws, self.i = x, ws, 0

    def __call__(self):
        self.i = (self.i + 1) % len(self.ws)
        return F.linear(self.x, self.ws[self.i])


def cudnn_shapes(smoke: bool) -> list[tuple[int, int, int, int]]:
    if smoke:
        return [(1, 32, 32, 320), (16, 32, 32, 320)]
    out = [(b, 32, 32, kv) for b in (1, 2, 4, 8, 12, 16, 24, 32, 48, 64) for kv in (128, 320, 1024, 4096)]
    out += [(b, 32, 32, kv) for b in (1, 16) for kv in (192, 256, 512, 768, 2048, 8192, 16384)]
    out += [(b, 32, 8, kv) for b in (1, 4, 16, 64) for kv in (320, 4096)]
    return out


def run_cudnn(out: str, log, budget, smoke: bool) -> None:
    sink = Sink(os.path.join(out, "cudnn.csv"), ["variant", "batch", "heads", "kv_heads", "seq_kv", "calls",
                                                 "kernel_idx", "median_us", "min_us"] + KERNEL_FIELDS[:1]
                + KERNEL_FIELDS[2:])
    # L2 flush by a 256 MiB READ (clean lines, as after the decode's GEMVs); a write flush leaves dirty lines whose
    # write-back slows the next kernel's reads (seen in the smoke run: b16 kv320 32.4 us vs 28.2 in the graph)
    flush_src = torch.ones(128 << 20, dtype=torch.int16, device="cuda")

    def flush():
        return flush_src.max()

    gen = torch.Generator(device="cuda").manual_seed(1)
    for b, h, hkv, kv in cudnn_shapes(smoke):
        if budget() < 15:
            log("cudnn: budget, stopping")
            return
        q = torch.randn(b, h, 1, 128, device="cuda", dtype=torch.bfloat16, generator=gen)
        k = torch.randn(b, hkv, kv, 128, device="cuda", dtype=torch.bfloat16, generator=gen)
        v = torch.randn(b, hkv, kv, 128, device="cuda", dtype=torch.bfloat16, generator=gen)
        lens = torch.randint(kv // 2, kv + 1, (b,), device="cuda", generator=gen)
        ok = (torch.arange(kv, device="cuda")[None, :] < lens[:, None])[:, None, None, :]
        bias = torch.zeros(ok.shape, device="cuda", dtype=torch.bfloat16).masked_fill(~ok, float("-inf"))
        gqa = h != hkv

        for name, fn in (("none", functools.partial(_sdpa_cudnn, q, k, v, gqa)),
                         ("bias", functools.partial(F.scaled_dot_product_attention, q, k, v, attn_mask=bias,
                                                    enable_gqa=gqa))):
            try:
                o = fn()
                torch.cuda.synchronize()
                if not torch.isfinite(o).all():
                    raise RuntimeError("non-finite output")
                calls = traced(fn, 8, between=flush)
                # drop the flush kernel: keep what starts after it (calls split on the sync gap)
                per = [[x for x in c if "cudnn" in x["name"] or "lean" in x["name"]] for c in calls]
                per = [c for c in per if c]
                for i in range(max(len(c) for c in per)):
                    ds = [c[i]["dur_us"] for c in per if len(c) > i]
                    k0 = next(c[i] for c in per if len(c) > i)
                    sink.row(variant=name, batch=b, heads=h, kv_heads=hkv, seq_kv=kv, calls=len(ds), kernel_idx=i,
                             median_us=round(statistics.median(ds), 3), min_us=round(min(ds), 3),
                             name=k0["name"][:200], **{f: k0[f] for f in KERNEL_FIELDS[2:]})
                log(f"cudnn {name} b{b} h{h}/{hkv} kv{kv}: "
                    + ", ".join(f"{c['name'][-40:]} {c['grid']} {c['dur_us']:.1f}" for c in per[len(per) // 2]))
            except Exception as e:  # noqa: BLE001 - recorded, the campaign goes on
                sink.row(variant=name, batch=b, heads=h, kv_heads=hkv, seq_kv=kv, calls=0, kernel_idx=-1,
                         name="ERROR " + repr(e)[:180])
        del q, k, v, bias, ok, fn
    torch.cuda.empty_cache()



def run_chain(out: str, log, budget) -> None:
    sink = Sink(os.path.join(out, "chain.csv"), ["chain", "nodes", "event_us", "kernels", "kernel_sum_us",
                                                 "span_us", "kind", "kind_kernels", "kind_median_us",
                                                 "gap_before_median_us", "gap_before_mean_us"])
    bf = torch.bfloat16
    a = torch.randn(1024, device="cuda", dtype=bf)
    x = torch.randn(1, 4096, device="cuda", dtype=bf)
    ws = [torch.randn(4096, 4096, device="cuda", dtype=bf) for _ in range(8)]
    wi = [0]
    q = torch.randn(1, 32, 1, 128, device="cuda", dtype=bf)
    kvs = [torch.randn(1, 32, 320, 128, device="cuda", dtype=bf) for _ in range(8)]
    bias = torch.zeros(1, 1, 1, 320, device="cuda", dtype=bf)
    q16 = torch.randn(16, 32, 1, 128, device="cuda", dtype=bf)
    kv16 = [torch.randn(16, 32, 320, 128, device="cuda", dtype=bf) for _ in range(4)]
    bias16 = torch.zeros(16, 1, 1, 320, device="cuda", dtype=bf)
    ci = [0, 0]

    def tiny():
        a.add_(1.0)

    def gemv():
        wi[0] = (wi[0] + 1) % len(ws)
        return F.linear(x, ws[wi[0]])

    def attn1():
        ci[0] = (ci[0] + 1) % len(kvs)
        return F.scaled_dot_product_attention(q, kvs[ci[0]], kvs[ci[0]], attn_mask=bias)

    def attn16():
        ci[1] = (ci[1] + 1) % len(kv16)
        return F.scaled_dot_product_attention(q16, kv16[ci[1]], kv16[ci[1]], attn_mask=bias16)

    chains = {"tiny": [tiny], "gemv": [gemv], "attn_b1": [attn1], "attn_b16": [attn16],
              "tiny+gemv": [tiny, gemv], "tiny+attn_b1": [tiny, attn1], "tiny+attn_b16": [tiny, attn16],
              "gemv+attn_b1": [gemv, attn1]}
    nodes = 64
    for name, fns in chains.items():
        if budget() < 10:
            log("chain: budget, stopping")
            return
        try:
            g = graph_of(fns, nodes)
            g.replay()
            ev = event_us(g.replay, 10)
            calls = traced(g.replay, 3)
            kern = sorted(calls, key=lambda c: c[-1]["ts"] + c[-1]["dur_us"] - c[0]["ts"])[len(calls) // 2]
            span = kern[-1]["ts"] + kern[-1]["dur_us"] - kern[0]["ts"]
            ksum = sum(k["dur_us"] for k in kern)
            kinds: dict[str, list[tuple[float, float]]] = {}
            for i, k in enumerate(kern):
                gap = k["ts"] - (kern[i - 1]["ts"] + kern[i - 1]["dur_us"]) if i else float("nan")
                kinds.setdefault(k["name"][:120], []).append((k["dur_us"], gap))
            for kind, v in kinds.items():
                gaps = [gp for _, gp in v if gp == gp]
                sink.row(chain=name, nodes=nodes, event_us=round(ev, 2), kernels=len(kern),
                         kernel_sum_us=round(ksum, 2), span_us=round(span, 2), kind=kind, kind_kernels=len(v),
                         kind_median_us=round(statistics.median(d for d, _ in v), 3),
                         gap_before_median_us=round(statistics.median(gaps), 3) if gaps else "",
                         gap_before_mean_us=round(statistics.fmean(gaps), 3) if gaps else "")
            log(f"chain {name}: event {ev:.1f} us / {nodes} nodes = {ev / nodes:.2f}; {len(kern)} kernels, "
                f"sum {ksum:.1f}, span {span:.1f}")
            del g
        except Exception as e:  # noqa: BLE001
            sink.row(chain=name, nodes=nodes, kind="ERROR " + repr(e)[:180])
            log(f"chain {name} failed: {e!r}")
    torch.cuda.empty_cache()


def run_gemv(out: str, log, budget, smoke: bool) -> None:
    sink = Sink(os.path.join(out, "gemv.csv"), ["m", "n", "k", "calls", "kernel_idx", "median_us", "min_us"]
                + KERNEL_FIELDS[:1] + KERNEL_FIELDS[2:])
    shapes = [(12288, 4096), (4096, 4096), (22016, 4096), (4096, 11008), (32000, 4096)]
    ms = (1, 16) if smoke else (1, 2, 4, 8, 16, 24, 32, 48, 64)
    bf = torch.bfloat16
    for n, k in shapes:
        ws = [torch.randn(n, k, device="cuda", dtype=bf) for _ in range(8)]
        for m in ms:
            if budget() < 8:
                log("gemv: budget, stopping")
                return
            x = torch.randn(m, k, device="cuda", dtype=bf)
            fn = _Rotating(x, ws)

            for _ in range(3):
                fn()
            calls = traced(fn, 8)
            for row in kernel_rows(calls):
                sink.row(m=m, n=n, k=k, **row)
            c = calls[len(calls) // 2]
            log(f"gemv m{m} {n}x{k}: " + ", ".join(f"{x_['name'][:40]} {x_['grid']} {x_['dur_us']:.1f}" for x_ in c))
        del ws
    torch.cuda.empty_cache()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--budget-s", type=float, default=240.0)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--parts", default="step,cudnn,chain,gemv,glue")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()
    nv, nh = nvml()
    p = torch.cuda.get_device_properties(0)
    meta = {"date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "device_name": p.name,
            "sm_count": p.multi_processor_count, "compute_capability": f"{p.major}.{p.minor}",
            "torch": torch.__version__, "torch_cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
            "python": sys.version.split()[0], "driver": nv.nvmlSystemGetDriverVersion() if nv else None,
            "clocks_start": clocks(nv, nh), "command": " ".join(sys.argv), "smoke": args.smoke,
            "timing": "kernel durations and starts from torch.profiler (CUPTI) chrome traces; event_us = median "
                      "CUDA-event time of one call started after a synchronize",
            "ran": [], "skipped": [], "errors": []}
    log_fh = open(os.path.join(args.out, "log.txt"), "w")

    def log(msg: str) -> None:
        line = f"[{time.perf_counter() - t0:7.1f}s] {msg}"
        print(line, flush=True)
        log_fh.write(line + "\n")
        log_fh.flush()

    def budget() -> float:
        return args.budget_s - (time.perf_counter() - t0)

    buckets = (1, 16) if args.smoke else (1, 2, 4, 8, 16, 24, 32, 40, 48, 56, 64)
    parts = {"step": lambda: run_step(args.out, log, buckets),
             "cudnn": lambda: run_cudnn(args.out, log, budget, args.smoke),
             "chain": lambda: run_chain(args.out, log, budget),
             "gemv": lambda: run_gemv(args.out, log, budget, args.smoke),
             "glue": lambda: decode_glue.run_glue(args.out, log, budget, args.smoke),
             "engine_glue": lambda: decode_glue.run_engine_glue(args.out, log, budget, args.smoke)}
    for name in args.parts.split(","):
        if budget() < 20:
            meta["skipped"].append(name)
            continue
        try:
            parts[name]()
            meta["ran"].append(name)
        except Exception as e:  # noqa: BLE001 - recorded, the campaign goes on
            meta["errors"].append({"part": name, "error": traceback.format_exc()[-1500:]})
            log(f"{name} FAILED: {e!r}")
    meta["clocks_end"] = clocks(nv, nh)
    meta["wall_s"] = time.perf_counter() - t0
    with open(os.path.join(args.out, "meta.json"), "w") as fh:
        json.dump(meta, fh, indent=1)
    log(json.dumps({"ran": meta["ran"], "skipped": meta["skipped"], "errors": len(meta["errors"]),
                    "wall_s": round(meta["wall_s"], 1)}))


if __name__ == "__main__":
    main()
