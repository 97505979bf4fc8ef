"""NVML campaign for the two energy gaps left by issue 22's host helper: skinny-GEMM layouts and FA2 split-KV.

Run on the GPU machine from the repository root (imports torch, numpy, pynvml and the sibling ``power`` campaign
module for its sampler, window method and metadata; nothing is downloaded)::

    OUT=dir python3 campaigns/power_split.py        # SPLIT_BUDGET_S (default 160), SPLIT_SMOKE=1 for a smoke run

Method (``power.measure``): warm-up, then back-to-back steps in one window between two synchronisations; board
energy = delta of ``nvmlDeviceGetTotalEnergyConsumption``; a sampler thread reads power, SM clock and clock-event
reasons. Every GEMM step is a CUDA graph of ``CHAIN`` launches (duty ~1, no host gap). Parts (run order: 3, 1, 2):

1. ``gemm`` (calibration: :func:`archsim.gpu.power_fit_split.fit_split`): bf16 ``y = x @ W^T`` (``F.linear``, the
   weight stored n x k: cuBLAS TN) and ``y = x @ W`` (W stored k x n: NN) for one weight 22016 x 4096 (180 MB,
   > L2) at m = 1 .. 256, the two layouts interleaved per m (same board, same minute);
2. ``gemm_val`` (validation: never fitted): the same two layouts for a weight 8192 x 8192 (128 MB) at a few m;
3. ``fa2`` (validation): FlashAttention-2 decode through ``torch.ops.aten._flash_attention_forward`` (PyTorch's
   FA2, as ``F.scaled_dot_product_attention``'s flash backend calls it). torch 2.11's op takes no
   ``num_splits`` (the smoke run found that), so the split count is chosen by the entry point at the same
   shape and data: the dense (b, s, h, d) call runs the library's split heuristic (split-KV, 64-row tiles, at
   b1 h32), the varlen call (cu_seqlens) runs the non-split 128-row kernel; and the same shape with every query
   row real (sq = 64 dense / 128 varlen and dense) as the padded-vs-real comparison. The profiler names the
   kernels of each step (``kernels`` column): that, not the entry point, says which kernel ran.

Files under ``$OUT``: ``power-h200-<date>-split.csv`` (one row per benchmark, ``power.measure`` columns plus the
part, layout, shape, forced split count and kernel names), ``power-h200-traces-<date>-split.csv``,
``power-h200-meta-<date>-split.json`` (device, driver, versions, budget, what was skipped), and the log.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import power as pw  # noqa: E402  (the sibling campaign: Sampler, measure, idle, meta)
import pynvml  # noqa: E402
import torch  # noqa: E402
from profiled import graph_of, kernel_names  # noqa: E402

OUT = Path(os.environ.get("OUT", "power-out"))
SMOKE = os.environ.get("SPLIT_SMOKE", "") == "1"
BUDGET_S = float(os.environ.get("SPLIT_BUDGET_S", "25" if SMOKE else "168"))
pw.WARM_S = float(os.environ.get("SPLIT_WARM_S", "0.2" if SMOKE else "0.4"))
pw.WINDOW_S = float(os.environ.get("SPLIT_WINDOW_S", "0.4" if SMOKE else "1.0"))
pw.SAMPLE_S = 0.01
BF16 = torch.bfloat16
DEV = "cuda"
CHAIN = 50
M_CAL = (1, 8, 64) if SMOKE else (1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256)
M_VAL = (16,) if SMOKE else (8, 16, 64, 256)
# (batch, heads, kv_heads, ctx, seq_q, api): "dense" = the (b, s, h, d) call SDPA's flash backend makes (the
# library's split heuristic), "varlen" = the same tensors through the cu_seqlens path (no split-KV unless GQA decode)
FA2 = (((1, 32, 32, 65536, 1, "dense"), (1, 32, 32, 65536, 1, "varlen")) if SMOKE else
       ((1, 32, 32, 65536, 1, "dense"), (1, 32, 32, 65536, 1, "varlen"),
        (1, 32, 32, 65536, 64, "dense"), (1, 32, 32, 65536, 128, "varlen"), (1, 32, 32, 65536, 128, "dense"),
        (8, 32, 32, 16384, 1, "dense"), (8, 32, 32, 16384, 1, "varlen"),
        (1, 32, 8, 65536, 1, "dense"), (1, 32, 8, 65536, 1, "varlen")))


def over_budget(need_s: float = 0.0) -> bool:
    return time.perf_counter() - pw.T_START + need_s > BUDGET_S


def add(rows: list, h, sampler, name: str, fn, part: str, set_: str, counts: dict, launches: int = 1) -> None:
    pw.measured_row(rows, h, sampler, name, fn, part, set_, {**counts, "launches": launches},
                    short=over_budget(pw.WARM_S + pw.WINDOW_S + 1.5),
                    kernels=lambda f: kernel_names(f, name_chars=110, total_chars=500))


def gemm_rows(rows, h, sampler, n: int, k: int, ms, part: str, set_: str) -> None:
    w_nk = torch.randn(n, k, device=DEV, dtype=BF16) * k ** -0.5   # F.linear's weight (n x k): x @ W^T
    w_kn = torch.randn(k, n, device=DEV, dtype=BF16) * k ** -0.5   # x @ W (k x n)
    for m in ms:
        x = torch.randn(m, k, device=DEV, dtype=BF16)
        y = torch.empty(m, n, device=DEV, dtype=BF16)
        fns = {"tn": lambda x=x, y=y: torch.matmul(x, w_nk.t(), out=y),
               "nn": lambda x=x, y=y: torch.matmul(x, w_kn, out=y)}
        for layout, fn in fns.items():
            if over_budget(pw.WARM_S + pw.WINDOW_S + 1.5):
                rows.append({"set": set_, "bench": f"gemm_{layout}_m{m}_n{n}_k{k}", "part": part, "skipped": "budget"})
                continue
            kern = kernel_names(fn, name_chars=110, total_chars=500)
            g = graph_of([fn], CHAIN, warmup=3)
            row = pw.measure(h, sampler, f"gemm_{layout}_m{m}_n{n}_k{k}", g.replay, set_=set_,
                             counts={"kind": "gemm", "layout": layout, "dtype": "bf16", "m": m, "n": n, "k": k,
                                     "flops": 2.0 * m * n * k, "launches": CHAIN})
            rows.append({**row, "part": part, "kernels": kern})
            del g
        del x, y
    torch.cuda.empty_cache()


def fa2_step(b, hh, hkv, ctx, sq, api):
    """One FA2 forward (PyTorch's copy, ``aten::_flash_attention_forward``); ``api`` "dense": q/k/v in FA2's
    (b, s, h, d); "varlen": the same data packed (b*s, h, d) with cumulative sequence offsets."""
    q = torch.randn(b, sq, hh, 128, device=DEV, dtype=BF16)
    k = torch.randn(b, ctx, hkv, 128, device=DEV, dtype=BF16)
    v = torch.randn_like(k)
    if api == "dense":
        def step():
            torch.ops.aten._flash_attention_forward(q, k, v, None, None, sq, ctx, 0.0, False, False)
        return step
    qp, kp, vp = q.reshape(b * sq, hh, 128), k.reshape(b * ctx, hkv, 128), v.reshape(b * ctx, hkv, 128)
    cq = torch.arange(0, b + 1, device=DEV, dtype=torch.int32) * sq
    ck = torch.arange(0, b + 1, device=DEV, dtype=torch.int32) * ctx

    def step_varlen():
        torch.ops.aten._flash_attention_forward(qp, kp, vp, cq, ck, sq, ctx, 0.0, False, False)
    return step_varlen


def part_fa2(rows, h, sampler) -> None:
    for b, hh, hkv, ctx, sq, api in FA2:
        step = fa2_step(b, hh, hkv, ctx, sq, api)
        add(rows, h, sampler, f"fa2_{api}_b{b}_h{hh}_kv{hkv}_q{sq}_ctx{ctx}", step, "fa2", "validation",
            {"kind": "attention", "impl": "flash2", "batch": b, "heads": hh, "kv_heads": hkv, "seq_q": sq,
             "seq_kv": ctx, "head_dim": 128, "causal": 0, "dtype": "bf16", "api": api})
        del step
        torch.cuda.empty_cache()


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    pynvml.nvmlInit()
    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    sampler = pw.Sampler(h)
    sampler.start()
    torch.cuda.init()
    torch.zeros(1, device=DEV)
    info = pw.meta(h)
    info.update({"campaign": "campaigns/power_split.py", "sample_s": pw.SAMPLE_S, "smoke": SMOKE,
                 "warm_s": pw.WARM_S, "window_s": pw.WINDOW_S, "chain": CHAIN})
    date = info["date_utc"][:10]
    tag = "-split-smoke" if SMOKE else "-split"
    rows: list[dict] = [pw.idle(h, sampler, "idle_context", 1.0 if SMOKE else 3.0)]
    print(f"--- fa2 at {time.perf_counter() - pw.T_START:.1f} s", flush=True)
    part_fa2(rows, h, sampler)
    print(f"--- gemm at {time.perf_counter() - pw.T_START:.1f} s", flush=True)
    gemm_rows(rows, h, sampler, 22016, 4096, M_CAL, "gemm", "calibration")
    print(f"--- gemm_val at {time.perf_counter() - pw.T_START:.1f} s", flush=True)
    gemm_rows(rows, h, sampler, 8192, 8192, M_VAL, "gemm_val", "validation")
    torch.cuda.synchronize()
    rows.append(pw.idle(h, sampler, "idle_context_after", 1.0 if SMOKE else 2.0))
    sampler.stop_flag = True
    sampler.join()
    info["wall_s"] = time.perf_counter() - pw.T_START
    info["budget_s"] = BUDGET_S
    info["skipped_for_budget"] = [r["bench"] for r in rows if r.get("skipped")]
    pw.write_rows(OUT / f"power-h200-{date}{tag}.csv", rows)
    pw.write_traces(OUT / f"power-h200-traces-{date}{tag}.csv", sampler)
    (OUT / f"power-h200-meta-{date}{tag}.json").write_text(json.dumps(info, indent=1))
    print(json.dumps({k: info[k] for k in ("device_name", "driver", "power_limit_w", "wall_s", "skipped_for_budget")}))
    for r in rows:
        if "step_s" in r:
            print(f"{r['bench']:44s} {r['step_s'] * 1e3:9.4f} ms {r['avg_power_w']:6.1f} W {r['sm_clock_mhz']:6.0f} MHz"
                  f"  {r.get('kernels', '')[:90]}")


if __name__ == "__main__":
    main()
