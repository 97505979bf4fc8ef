"""Clock-sampled timings of the same kernels in the two power regimes (issue 16/22: regime and compute efficiency).

Run on the GPU machine: ``OUT=dir python3 campaigns/regime_clocks.py`` (imports only torch, triton, numpy, pynvml
and the sibling ``campaigns/power.py`` for its NVML sampler). For every kernel, with the SM clock, power and
clock-event reasons sampled every ~5 ms (NVML; clocks and limits are never changed):

- ``burst``: ``REGIME_IDLE_S`` of idle, then ``triton.testing.do_bench`` (warm-up 10 ms, rep 40 ms, L2 flushed:
  the method of the kernel-validation campaigns ``campaigns/gpu_kernels.py``);
- ``sustained``: ``REGIME_HEAT_S`` of back-to-back launches (the 700 W controller acts after ~70 ms), then the
  same ``do_bench`` at once, the board still under the controller.

Kernels: SDPA prefill (cuDNN and FlashAttention-2, head dim 64 and 128, causal and not), cuBLAS bf16 GEMMs
(square, FFN-shaped, skinny m = 1..64), and a decode chain: 32 layers x the four Llama-2-7B projection GEMMs at
m = batch with distinct weights (12.9 GB, HBM-cold like a decode step) captured in a CUDA graph, replayed back to
back (``mode == graph_chain``), the regime of graph-replayed decode. Writes ``regime-<dev>-<date>.csv`` (one row
per kernel and regime), ``regime-<dev>-traces-<date>.csv`` and ``regime-<dev>-meta-<date>.json`` under ``$OUT``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import power as pw  # noqa: E402  (Sampler, window_stats, meta)
import pynvml  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

OUT = Path(os.environ.get("OUT", "regime-out"))
BUDGET_S = float(os.environ.get("REGIME_BUDGET_S", "200"))
IDLE_S = float(os.environ.get("REGIME_IDLE_S", "1.0"))
HEAT_S = float(os.environ.get("REGIME_HEAT_S", "1.0"))
pw.SAMPLE_S = 0.005
BF16 = torch.bfloat16
DEV = "cuda"


def elapsed() -> float:
    return time.perf_counter() - pw.T_START


def heat(fn, seconds: float) -> float:
    """Back-to-back launches for ``seconds``; returns the mean launch time of the last third (CUDA events)."""
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    evs = []
    while time.perf_counter() - t0 < seconds:
        e = torch.cuda.Event(enable_timing=True)
        e.record()
        evs.append(e)
        for _ in range(4):
            fn()
        if len(evs) % 16 == 0:
            evs[-8].synchronize()
    end = torch.cuda.Event(enable_timing=True)
    end.record()
    torch.cuda.synchronize()
    tail = evs[len(evs) * 2 // 3:]
    if not tail:
        return float("nan")
    return tail[0].elapsed_time(end) / 1e3 / (4 * len(tail))


def timed(sampler, name: str, fn, meta: dict, rows: list) -> None:
    from triton.testing import do_bench
    try:
        fn()
        torch.cuda.synchronize()
    except RuntimeError as e:
        rows.append({"bench": name, "regime": "error", "note": str(e)[:200], **meta})
        return
    for regime in ("burst", "sustained"):
        if elapsed() > BUDGET_S:
            rows.append({"bench": name, "regime": "skipped", **meta})
            return
        b2b = float("nan")
        if regime == "burst":
            sampler.bench = f"idle_{name}"
            time.sleep(IDLE_S)
        else:
            sampler.bench = f"heat_{name}"
            b2b = heat(fn, HEAT_S)
        sampler.bench = f"{regime}_{name}"
        t0 = elapsed()
        med, p20, p80 = do_bench(fn, warmup=10, rep=40, quantiles=[0.5, 0.2, 0.8])
        t1 = elapsed()
        st = pw.window_stats(sampler, t0, t1)
        rows.append({"bench": name, "regime": regime, "time_s": med * 1e-3, "time_s_p20": p20 * 1e-3,
                     "time_s_p80": p80 * 1e-3, "back_to_back_s": b2b, "t_start_s": t0, "t_end_s": t1,
                     "sm_clock_mhz": st["sm_clock_mhz"], "power_trace_median_w": st["power_trace_median_w"],
                     "reasons_or": st["reasons_or"], **meta})
        print(f"{regime:9s} {name:44s} {med:9.4f} ms  sm {st['sm_clock_mhz']:6.0f} MHz  "
              f"{st['power_trace_median_w']:6.1f} W  b2b {b2b * 1e3:8.4f} ms", flush=True)


def sdpa(backend, b, h, s, d, causal):
    from torch.nn.attention import sdpa_kernel
    q = torch.randn(b, s, h, d, device=DEV, dtype=BF16).transpose(1, 2)
    k = torch.randn(b, s, h, d, device=DEV, dtype=BF16).transpose(1, 2)
    v = torch.randn(b, s, h, d, device=DEV, dtype=BF16).transpose(1, 2)

    def step():
        with sdpa_kernel(backend):
            F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    return step


def gemm(m, n, k):
    a = torch.randn(m, k, device=DEV, dtype=BF16)
    w = torch.randn(k, n, device=DEV, dtype=BF16)
    c = torch.empty(m, n, device=DEV, dtype=BF16)
    return lambda: torch.matmul(a, w, out=c)


LLAMA7B = ((4096, 12288), (4096, 4096), (4096, 22016), (11008, 4096))  # (k, n): qkv, o, gate_up, down


def chain_rows(sampler, rows: list) -> None:
    """32 layers x 4 projection GEMMs, distinct weights, CUDA graph; replayed back to back (graph regime)."""
    ws = [[torch.randn(k, n, device=DEV, dtype=BF16) for k, n in LLAMA7B] for _ in range(32)]
    for batch in (1, 8, 16, 32, 48, 64):
        if elapsed() > BUDGET_S:
            rows.append({"bench": f"chain_b{batch}", "regime": "skipped"})
            continue
        xs = {k: torch.randn(batch, k, device=DEV, dtype=BF16) for k, _ in LLAMA7B}
        outs = [torch.empty(batch, n, device=DEV, dtype=BF16) for _, n in LLAMA7B]

        def step(xs=xs, outs=outs):
            for layer in ws:
                for (k, _), w, o in zip(LLAMA7B, layer, outs, strict=True):
                    torch.matmul(xs[k], w, out=o)
        step()
        torch.cuda.synchronize()
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            step()
        g.replay()
        torch.cuda.synchronize()
        for regime in ("burst", "sustained"):
            sampler.bench = f"idle_chain_b{batch}" if regime == "burst" else f"heat_chain_b{batch}"
            if regime == "burst":
                time.sleep(IDLE_S)
            else:
                heat(g.replay, HEAT_S)
            sampler.bench = f"{regime}_chain_b{batch}"
            n = 10 if regime == "burst" else 60
            t0 = elapsed()
            e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            e0.record()
            for _ in range(n):
                g.replay()
            e1.record()
            torch.cuda.synchronize()
            t1 = elapsed()
            st = pw.window_stats(sampler, t0, t1)
            per = e0.elapsed_time(e1) / 1e3 / n
            rows.append({"bench": f"chain_b{batch}", "regime": regime, "mode": "graph_chain", "time_s": per,
                         "t_start_s": t0, "t_end_s": t1, "sm_clock_mhz": st["sm_clock_mhz"],
                         "power_trace_median_w": st["power_trace_median_w"], "reasons_or": st["reasons_or"],
                         "kind": "gemm_chain", "batch": batch, "layers": 32})
            print(f"{regime:9s} chain_b{batch:<3d} {per * 1e3:9.4f} ms  sm {st['sm_clock_mhz']:6.0f} MHz  "
                  f"{st['power_trace_median_w']:6.1f} W", flush=True)
        del g


def main() -> None:
    from torch.nn.attention import SDPBackend
    OUT.mkdir(parents=True, exist_ok=True)
    pynvml.nvmlInit()
    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    sampler = pw.Sampler(h)
    sampler.start()
    torch.zeros(1, device=DEV)
    info = pw.meta(h)
    info["campaign"] = "campaigns/regime_clocks.py"
    info["method"] = (f"per kernel: {IDLE_S} s idle then do_bench(warmup=10, rep=40) [burst]; {HEAT_S} s back to "
                      "back then do_bench at once [sustained]; NVML sampled every 5 ms; clocks never changed")
    rows: list[dict] = []
    pre = [(8, 16, 2048), (1, 16, 16384), (32, 32, 512), (1, 32, 16384)]
    for impl, backend in (("cudnn", SDPBackend.CUDNN_ATTENTION), ("flash2", SDPBackend.FLASH_ATTENTION)):
        for b, hh, s in pre:
            d = 2048 // hh
            for causal in (False, True):
                if impl == "flash2" and s == 512 and not causal:
                    continue
                timed(sampler, f"prefill_{impl}_b{b}_h{hh}_s{s}_d{d}" + ("_causal" if causal else ""),
                      sdpa(backend, b, hh, s, d, causal), {"kind": "attention", "impl": impl, "batch": b,
                                                         "heads": hh, "kv_heads": hh, "seq_q": s, "seq_kv": s,
                                                         "head_dim": d, "causal": int(causal)}, rows)
                torch.cuda.empty_cache()
    for m, n, k in ((8192, 8192, 8192), (4096, 4096, 4096), (2048, 14336, 4096), (1024, 4096, 4096),
                    (64, 14336, 4096), (32, 4096, 4096), (8, 22016, 4096), (1, 12288, 4096)):
        timed(sampler, f"gemm_{m}x{n}x{k}", gemm(m, n, k), {"kind": "gemm", "impl": "cublas", "m": m, "n": n, "k": k},
              rows)
        torch.cuda.empty_cache()
    print(f"--- chain at {elapsed():.1f} s", flush=True)
    chain_rows(sampler, rows)
    sampler.stop_flag = True
    sampler.join()
    info["wall_s"] = elapsed()
    date = info["date_utc"][:10]
    pw.write_rows(OUT / f"regime-h200-{date}.csv", rows)
    pw.write_traces(OUT / f"regime-h200-traces-{date}.csv", sampler)
    (OUT / f"regime-h200-meta-{date}.json").write_text(json.dumps(info, indent=1))
    print(json.dumps({k: info[k] for k in ("device_name", "driver", "torch", "wall_s")}))


if __name__ == "__main__":
    main()
