"""NVML campaign: the blind host-bound power round of issue 22 (``archsim.gpu.energy_host_blind``).

Measures the points of the committed prediction file (``--points``, default
``archsim/data/measurements/h200/power-h200-host-blind-predictions-2026-12-01.json``; written and committed
before this ran), each in two passes (forward order, then reverse), with the host's speed probed before and after
every NVML window (``host_dispatch.speed_probe``: a pure-Python loop and an eager ``add_`` dispatch), so a window
can be told to have run in the host's fast or slow state. Also two per-board controls, reported not fitted: the
board's idle power with a context and the 8-wide cuBLAS GEMV chain (``power_gaps.kernels()["gemv22k"]``, the
decode weight-stream energy per byte that differs 98-124 pJ/B from board to board).

Run on the GPU machine from the repository root (imports torch, triton, numpy, pynvml, transformers and sibling
campaign modules; nothing is downloaded, every model has random weights)::

    OUT=dir PYTHONPATH=campaigns python3 campaigns/power_host.py [--budget-s 300] [--smoke]

Kinds of point: ``model`` (``power.MiniLlama`` steps at any width: decode over a fixed random KV cache or prefill;
eager and CUDA-graph twins, back to back in the window), ``generate`` (HF GPT-2 ``generate``, greedy, batch 1,
1-token prompt, fp16, at the point's attention implementation; reps until the window is full; the kernel sum per
token from the profiler over one call, the GPU-busy time that classifies the row), ``gemm_gap`` (a bf16 GEMM, a
synchronisation, then the host busy-waits ``gap_s``: the GPU idles with its context).

Files under ``$OUT``: ``power-h200-host-blind-<date>.csv`` (``power.measure`` columns plus the point's columns,
``pass`` and the probes), ``power-h200-host-blind-traces-<date>.csv``, ``power-h200-host-blind-meta-<date>.json``.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import host_dispatch as hd
import power
import power_gaps as pg
import torch
from profiled import graph_of, traced

POINTS = "archsim/data/measurements/h200/power-h200-host-blind-predictions-2026-12-01.json"
BF16 = torch.bfloat16


def probed(fn):
    """Run ``fn`` (returns a row) between two host-speed probes; the probes go into the row."""
    before = hd.speed_probe()
    row = fn()
    after = hd.speed_probe()
    row.update(probe_before_us=before["py_loop_us_per_100k"], probe_after_us=after["py_loop_us_per_100k"],
               add_before_us=before["add_inplace_us"], add_after_us=after["add_inplace_us"])
    return row


def model_row(p: dict, window: float, h, sampler, cache: dict) -> dict:
    from torch.nn.attention import SDPBackend, sdpa_kernel
    dev = torch.device("cuda")
    shape = pg.Shape(p["model"], p["hidden"], p["heads"], p["ffn"], p["layers"])
    key = (shape.tag, shape.hidden, shape.layers)
    if key not in cache:
        cache.clear()
        torch.cuda.empty_cache()
        cache[key] = power.MiniLlama(shape.layers, shape.hidden, shape.heads, shape.inter)
    graph = p["mode"] == "graph"
    with torch.no_grad(), sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        if p["phase"] == "decode":
            step = pg.decode_step(cache[key], shape, p["batch"], p["seq_kv"], graph, dev)
        else:
            step = pg.prefill_step(cache[key], shape, p["batch"], p["seq_q"], graph, dev)
        return power.measure(h, sampler, p["bench"], step, set_="validation", window_s=window,
                             warm_s=min(0.5, window), counts=dict(p))


def generate_row(p: dict, window: float, h, sampler, smoke: bool) -> dict:
    import baselines_gpu
    model = baselines_gpu.gpt2_model(p["hidden"], p["layers"], p["heads"], p["attn"], torch.float16)
    tokens = 16 if smoke else p["new_tokens"]
    with torch.inference_mode():
        baselines_gpu.generate(model, 4)
        baselines_gpu.generate(model, tokens)  # SDPA builds a cuDNN plan per new KV length on the first call
        second = baselines_gpu.generate(model, tokens)
        busy = sum(k["dur_us"] for call in traced(lambda m=model: baselines_gpu.generate(m, tokens), 1)
                   for k in call) * 1e-6 / tokens
        reps = max(2, int(window / second))
        sampler.bench = p["bench"]
        torch.cuda.synchronize()
        e0, t0 = power.energy_mj(h), time.perf_counter() - power.T_START
        walls = [baselines_gpu.generate(model, tokens) for _ in range(reps)]
        t1, e1 = time.perf_counter() - power.T_START, power.energy_mj(h)
    del model
    torch.cuda.empty_cache()
    wall = t1 - t0
    row = {"set": "validation", "bench": p["bench"], "iters": reps * tokens, "wall_s": wall, "event_s": 0.0,
           "step_s": wall / (reps * tokens), "energy_j": (e1 - e0) / 1e3, "avg_power_w": (e1 - e0) / 1e3 / wall,
           "energy_per_step_j": (e1 - e0) / 1e3 / (reps * tokens), **power.window_stats(sampler, t0, t1), **p,
           "new_tokens": tokens, "kernel_sum_s_per_token": busy,
           "wall_s_per_token_median": statistics.median(walls) / tokens}
    print(f"validation  {p['bench']:40s} step {row['step_s'] * 1e3:9.3f} ms  {row['avg_power_w']:6.1f} W  "
          f"busy {busy * 1e3:.3f} ms", flush=True)
    return row


def gemm_gap_row(p: dict, window: float, h, sampler) -> dict:
    dev = torch.device("cuda")
    a = torch.randn(p["m"], p["k"], device=dev, dtype=BF16)
    b = torch.randn(p["k"], p["n"], device=dev, dtype=BF16) * p["k"] ** -0.5
    c = torch.empty(p["m"], p["n"], device=dev, dtype=BF16)

    def step():
        torch.matmul(a, b, out=c)
        torch.cuda.synchronize()
        pg.spin_host(p["gap_s"])
    return power.measure(h, sampler, p["bench"], step, set_="validation", window_s=window, warm_s=min(0.5, window),
                         counts=dict(p))


def controls(h, sampler, window: float) -> list[dict]:
    """Per-board controls: the 8-wide GEMV chain (decode weight stream per byte) and a host-spin idle window."""
    fn, rd, wr = pg.kernels(torch.device("cuda"))["gemv22k"]
    g = graph_of([fn], pg.CHAIN, warmup=3)
    rows = [power.measure(h, sampler, "chain_gemv22k", g.replay, window_s=window, warm_s=min(0.5, window),
                          counts={"kind": "chain", "kernel": "gemv22k", "launches": pg.CHAIN, "read_bytes": rd,
                                  "write_bytes": wr})]
    del g
    rows.append(pg._host_spin_idle(h, sampler, min(2.0, window)))
    return rows


def main() -> None:
    ap = power.campaign_parser(300.0)
    ap.add_argument("--points", default=POINTS)
    args = ap.parse_args()
    doc = json.loads(Path(args.points).read_text())
    points = doc["points"]
    window = 0.5 if args.smoke else args.window_s
    if args.smoke:  # one point of each kind
        points = [next(p for p in points if p["kind"] == k) for k in ("model", "generate", "gemm_gap")]
    run = power.Campaign("power_host.py", args, "power-host-out")
    left, h, sampler, info = run.left, run.h, run.sampler, run.info
    import transformers
    info.update(transformers=transformers.__version__, points_file=args.points,
                points_model_commit=doc.get("model_commit", ""),
                method=f"per point and pass: host-speed probe, warm-up min(0.5 s, window), n steps over ~{window:g} s "
                       "between two synchronisations (power.measure), probe; energy = delta of "
                       "nvmlDeviceGetTotalEnergyConsumption; trace every ~20 ms",
                window_s=window, probe_start=hd.speed_probe())
    rows: list[dict] = [probed(lambda: power.idle(h, sampler, "idle_context", args.idle_s))]
    rows += controls(h, sampler, window)
    cache: dict = {}
    skipped = []
    for pass_, order in (("a", points), ("b", points[::-1])):
        for p in order:
            if left() < 3 * window + 8.0:
                skipped.append(f"{p['bench']} pass {pass_}")
                continue
            try:
                if p["kind"] == "model":
                    row = probed(lambda p=p: model_row(p, window, h, sampler, cache))
                elif p["kind"] == "generate":
                    cache.clear()
                    row = probed(lambda p=p: generate_row(p, window, h, sampler, args.smoke))
                else:
                    row = probed(lambda p=p: gemm_gap_row(p, window, h, sampler))
            except RuntimeError as e:  # an unsupported shape is a data point, not a crash
                print(f"{p['bench']}: {e}"[:300], flush=True)
                row = {"set": "validation", "bench": p["bench"], "error": str(e)[:200]}
            rows.append({**row, "pass": pass_})
    cache.clear()
    torch.cuda.empty_cache()
    rows.append(probed(lambda: power.idle(h, sampler, "idle_context_after", args.idle_s)))
    info["probe_end"] = hd.speed_probe()
    run.finish("host-blind", rows, skipped)


if __name__ == "__main__":
    main()
