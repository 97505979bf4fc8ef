"""NVML campaign for padded tensor-core tiles and the clock response (issue 22 follow-up, issue 16 decode).

Run on the GPU machine: ``OUT=dir python3 campaigns/power_padded.py`` (imports only torch, triton, numpy,
pynvml and the sibling ``campaigns/power.py`` for its sampler and window method). Writes, under ``$OUT``:

- ``power-<dev>-<date>-padded.csv``: one row per benchmark in the format of ``campaigns/power.py`` (NVML
  energy over a window of ``POWER_WINDOW_S`` seconds of back-to-back steps, median clocks, throttle
  reasons), plus ``kernels`` (the CUDA kernels the step launches, from the profiler) and ``part``;
- ``power-<dev>-response-<date>-padded.csv``: the clock response: after ``RESP_IDLE_S`` of idle a kernel is
  launched back to back for ``RESP_RUN_S``; every chunk of launches gets CUDA events (time since the burst
  start, mean launch time), and each kernel is also timed with ``triton.testing.do_bench`` (warm-up 10 ms,
  rep 40 ms, L2 flushed: the method of the kernel-validation campaigns) after the same idle, with the
  SM clocks sampled during it;
- ``power-<dev>-traces-<date>-padded.csv`` (every ~5 ms: power, clocks, reasons) and ``-meta-`` JSON.

Parts (``PADDED_PARTS``, in this order; the budget ``POWER_BUDGET_S`` skips what no longer fits):

``data`` (calibration): bf16 GEMM 8192^3 with random operands, all zeros, and A with only 1 or 8 of every
64 rows random (the rest zero: a padded tile's zero rows at full size) — data-dependent switching energy.
``skinny`` (calibration): bf16 GEMMs m x 16384 x 8192 (a 256 MiB weight, > L2) for m = 1..256, plus m = 64
with only row 0 non-zero (the kernel of m = 64, the data of m = 1).
``decode`` (validation): SDPA decode, one query row, FlashAttention-2 (split-KV and non-split shapes, MHA and
GQA) and cuDNN, over >= 2 s windows; and the non-split kernel with 128 real query rows (same tiles, no
padding) as the padded-vs-real comparison.
``response`` (calibration: GEMM; validation: decode kernels): burst after idle, and do_bench after idle.
``model`` (validation): ``power.MiniLlama`` 4-layer decode over a 2048-token cache at batch 1/16/64 (graph)
and batch 16 eager.
``stale`` (calibration, not in the default list: ``PADDED_PARTS=stale``): a 2048^3 GEMM with zero or random
operands before each FlashAttention-2 decode step (non-split and split-KV), and the GEMMs alone: does the
stale shared memory that FA2's padded Q rows read change the energy?
``grid`` (validation): do_bench over the whole-model campaign's decode-attention grid (FA2 and cuDNN), SM clock
sampled during each (rows ``mode == do_bench_grid`` of the response CSV).
Inputs are random unless the benchmark's name says otherwise.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import power as pw  # noqa: E402  (the sibling campaign: Sampler, measure, idle, meta, MiniLlama)
import pynvml  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from profiled import kernel_names  # noqa: E402

OUT = Path(os.environ.get("OUT", "power-out"))
BUDGET_S = float(os.environ.get("POWER_BUDGET_S", "420"))
RESP_IDLE_S = float(os.environ.get("RESP_IDLE_S", "1.5"))
RESP_RUN_S = float(os.environ.get("RESP_RUN_S", "2.0"))
pw.SAMPLE_S = float(os.environ.get("PADDED_SAMPLE_S", "0.005"))
BF16 = torch.bfloat16
DEV = "cuda"


def over_budget(need_s: float = 0.0) -> bool:
    return time.perf_counter() - pw.T_START + need_s > BUDGET_S


def add(rows: list, h, sampler, name: str, fn, part: str, set_: str, counts: dict, profile_it: bool = True) -> None:
    pw.measured_row(rows, h, sampler, name, fn, part, set_, counts, short=over_budget(pw.WARM_S + pw.WINDOW_S + 1.0),
                    kernels=kernel_names if profile_it else None)


def part_data(rows, h, sampler) -> None:
    n = 8192
    b = torch.randn(n, n, device=DEV, dtype=BF16)
    c = torch.empty(n, n, device=DEV, dtype=BF16)
    for label, live in (("random", 64), ("zeros", 0), ("rows1of64", 1), ("rows8of64", 8)):
        a = torch.randn(n, n, device=DEV, dtype=BF16)
        bb = b
        if live == 0:
            a, bb = torch.zeros_like(a), torch.zeros_like(b)
        elif live < 64:
            a.view(n // 64, 64, n)[:, live:, :] = 0
        add(rows, h, sampler, f"gemm_bf16_8192_{label}", lambda a=a, bb=bb: torch.matmul(a, bb, out=c), "data",
            "calibration", {"kind": "gemm_data", "dtype": "bf16", "m": n, "n": n, "k": n, "flops": 2.0 * n ** 3,
                            "live_rows_of_64": live})
        del a


def part_skinny(rows, h, sampler) -> None:
    n, k = 16384, 8192
    w = torch.randn(k, n, device=DEV, dtype=BF16)
    for m in (1, 2, 4, 8, 16, 32, 64, 128, 256):
        a = torch.randn(m, k, device=DEV, dtype=BF16)
        c = torch.empty(m, n, device=DEV, dtype=BF16)
        add(rows, h, sampler, f"gemm_bf16_m{m}_n{n}_k{k}", lambda a=a, c=c: torch.matmul(a, w, out=c), "skinny",
            "calibration", {"kind": "gemm", "dtype": "bf16", "m": m, "n": n, "k": k, "flops": 2.0 * m * n * k,
                            "live_rows_of_64": min(64, m)})
    a = torch.zeros(64, k, device=DEV, dtype=BF16)
    a[0] = torch.randn(k, device=DEV, dtype=BF16)
    c = torch.empty(64, n, device=DEV, dtype=BF16)
    add(rows, h, sampler, f"gemm_bf16_m64_row0only_n{n}_k{k}", lambda: torch.matmul(a, w, out=c), "skinny",
        "calibration", {"kind": "gemm", "dtype": "bf16", "m": 64, "n": n, "k": k, "flops": 2.0 * 64 * n * k,
                        "live_rows_of_64": 1})


DECODE_FLASH = ((1, 32, 32, 65536), (4, 32, 32, 16384), (8, 32, 32, 16384), (16, 32, 32, 16384),
                (64, 32, 32, 4096), (128, 32, 32, 4096), (1, 32, 8, 65536), (16, 32, 8, 16384), (64, 32, 8, 4096))
DECODE_CUDNN = ((1, 32, 32, 65536), (4, 32, 32, 16384), (8, 32, 32, 16384), (16, 32, 32, 16384), (64, 32, 32, 4096),
                (128, 32, 32, 4096), (1, 32, 8, 65536), (16, 32, 8, 16384), (64, 32, 8, 4096))


def decode_grid() -> list[tuple[int, int, int, int]]:
    """The decode-attention grid of ``campaigns/wm_micro.py`` (KV cache at most 24 GiB)."""
    return [(b, h, hkv, ctx) for h, hkv in ((32, 32), (32, 8)) for b in (1, 4, 16, 32, 64, 128)
            for ctx in (1024, 4096, 16384, 65536) if 2 * b * hkv * ctx * 128 * 2 <= 24 << 30]


def part_grid(h, sampler, resp_rows: list) -> None:
    """do_bench (warm-up 10 ms, rep 40 ms, L2 flushed) over the decode grid, back to back as the whole-model
    campaign ran it, with the SM clock sampled during each: the clock those validation timings ran at."""
    from torch.nn.attention import SDPBackend
    from triton.testing import do_bench
    for impl, backend in (("flash2", SDPBackend.FLASH_ATTENTION), ("cudnn", SDPBackend.CUDNN_ATTENTION)):
        for b, hh, hkv, ctx in decode_grid():
            name = f"sdpa_{impl}_b{b}_h{hh}_kv{hkv}_q1_ctx{ctx}"
            if over_budget(3.0):
                resp_rows.append({"set": "validation", "bench": name, "mode": "skipped"})
                continue
            try:
                fn = sdpa_step(backend, b, hh, hkv, ctx)
                fn()
                torch.cuda.synchronize()
                sampler.bench = f"grid_{name}"
                t0 = time.perf_counter() - pw.T_START
                med, p20, p80 = do_bench(fn, warmup=10, rep=40, quantiles=[0.5, 0.2, 0.8])
                t1 = time.perf_counter() - pw.T_START
            except RuntimeError as e:
                resp_rows.append({"set": "validation", "bench": name, "mode": "error", "note": str(e)[:200]})
                continue
            st = pw.window_stats(sampler, t0, t1)
            resp_rows.append({"set": "validation", "bench": name, "mode": "do_bench_grid", "impl": impl, "batch": b,
                              "heads": hh, "kv_heads": hkv, "seq_kv": ctx, "t_start_s": t0, "t_end_s": t1,
                              "time_s": med * 1e-3, "time_s_p20": p20 * 1e-3, "time_s_p80": p80 * 1e-3,
                              "sm_clock_mhz": st["sm_clock_mhz"], "power_trace_median_w": st["power_trace_median_w"],
                              "reasons_or": st["reasons_or"]})
            del fn
            torch.cuda.empty_cache()
        print(f"grid {impl} done at {time.perf_counter() - pw.T_START:.1f} s", flush=True)


def sdpa_step(backend, b, hh, hkv, ctx, sq=1):
    from torch.nn.attention import sdpa_kernel
    q = torch.randn(b, hh, sq, 128, device=DEV, dtype=BF16)
    k = torch.randn(b, hkv, ctx, 128, device=DEV, dtype=BF16)
    v = torch.randn_like(k)

    def step():
        with sdpa_kernel(backend):
            F.scaled_dot_product_attention(q, k, v, enable_gqa=hh != hkv)
    return step


def part_decode(rows, h, sampler) -> None:
    from torch.nn.attention import SDPBackend
    cases = [("flash2", SDPBackend.FLASH_ATTENTION, s, 1) for s in DECODE_FLASH]
    cases += [("flash2", SDPBackend.FLASH_ATTENTION, (8, 32, 32, 16384), 128)]  # same tiles, every row real
    cases += [("cudnn", SDPBackend.CUDNN_ATTENTION, s, 1) for s in DECODE_CUDNN]
    for impl, backend, (b, hh, hkv, ctx), sq in cases:
        step = sdpa_step(backend, b, hh, hkv, ctx, sq)
        add(rows, h, sampler, f"sdpa_{impl}_b{b}_h{hh}_kv{hkv}_q{sq}_ctx{ctx}", step, "decode", "validation",
            {"kind": "attention", "impl": impl, "batch": b, "heads": hh, "kv_heads": hkv, "seq_q": sq,
             "seq_kv": ctx, "head_dim": 128, "causal": 0, "dtype": "bf16"})
        del step
        torch.cuda.empty_cache()


def burst(fn, run_s: float) -> list[tuple[float, float, int]]:
    """Back-to-back launches for ``run_s``: (start s, mean launch s, launches) per chunk of ~2 ms."""
    torch.cuda.synchronize()
    t = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    one = max(1e-6, time.perf_counter() - t)
    per_chunk = max(1, int(0.002 / one))
    evs = [torch.cuda.Event(enable_timing=True)]
    evs[0].record()
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < run_s:
        for _ in range(per_chunk):
            fn()
        e = torch.cuda.Event(enable_timing=True)
        e.record()
        evs.append(e)
        if len(evs) % 32 == 0:  # keep the queue short so that host time tracks GPU time
            evs[-16].synchronize()
    torch.cuda.synchronize()
    out, acc = [], 0.0
    for a, b in zip(evs, evs[1:], strict=False):
        dt = a.elapsed_time(b) / 1e3
        out.append((acc, dt / per_chunk, per_chunk))
        acc += dt
    return out


def part_response(h, sampler, resp_rows: list) -> None:
    from torch.nn.attention import SDPBackend
    from triton.testing import do_bench
    n = 8192
    a, b = torch.randn(n, n, device=DEV, dtype=BF16), torch.randn(n, n, device=DEV, dtype=BF16)
    c = torch.empty(n, n, device=DEV, dtype=BF16)
    a2, b2 = torch.randn(2048, 4096, device=DEV, dtype=BF16), torch.randn(4096, 14336, device=DEV, dtype=BF16)
    c2 = torch.empty(2048, 14336, device=DEV, dtype=BF16)
    w = torch.randn(8192, 16384, device=DEV, dtype=BF16)
    x1 = torch.randn(1, 8192, device=DEV, dtype=BF16)
    cases = [("gemm_bf16_8192", lambda: torch.matmul(a, b, out=c), True, "calibration"),
             ("gemm_bf16_2048x14336x4096", lambda: torch.matmul(a2, b2, out=c2), False, "calibration"),
             ("gemm_bf16_m1_n16384_k8192", lambda: torch.matmul(x1, w), False, "calibration"),
             ("sdpa_flash2_b64_h32_kv32_q1_ctx4096", sdpa_step(SDPBackend.FLASH_ATTENTION, 64, 32, 32, 4096), True,
              "validation"),
             ("sdpa_flash2_b16_h32_kv32_q1_ctx16384", sdpa_step(SDPBackend.FLASH_ATTENTION, 16, 32, 32, 16384), False,
              "validation"),
             ("sdpa_flash2_b1_h32_kv32_q1_ctx65536", sdpa_step(SDPBackend.FLASH_ATTENTION, 1, 32, 32, 65536), True,
              "validation"),
             ("sdpa_cudnn_b64_h32_kv32_q1_ctx4096", sdpa_step(SDPBackend.CUDNN_ATTENTION, 64, 32, 32, 4096), False,
              "validation")]
    for name, fn, do_burst, set_ in cases:
        if over_budget(2 * RESP_IDLE_S + RESP_RUN_S + 1.0):
            resp_rows.append({"set": set_, "bench": name, "mode": "skipped"})
            continue
        try:
            fn()
            torch.cuda.synchronize()
        except RuntimeError as e:
            resp_rows.append({"set": set_, "bench": name, "mode": "error", "note": str(e)[:200]})
            continue
        sampler.bench = f"resp_idle_{name}"
        time.sleep(RESP_IDLE_S)
        sampler.bench = f"resp_dobench_{name}"
        t0 = time.perf_counter() - pw.T_START
        med, p20, p80 = do_bench(fn, warmup=10, rep=40, quantiles=[0.5, 0.2, 0.8])
        t1 = time.perf_counter() - pw.T_START
        st = pw.window_stats(sampler, t0, t1)
        resp_rows.append({"set": set_, "bench": name, "mode": "do_bench", "t_start_s": t0, "t_end_s": t1,
                          "time_s": med * 1e-3, "time_s_p20": p20 * 1e-3, "time_s_p80": p80 * 1e-3,
                          "sm_clock_mhz": st["sm_clock_mhz"], "power_trace_median_w": st["power_trace_median_w"],
                          "reasons_or": st["reasons_or"]})
        print(f"do_bench {name:40s} {med:9.4f} ms  sm {st['sm_clock_mhz']:6.0f} MHz  "
              f"{st['power_trace_median_w']:6.1f} W", flush=True)
        if not do_burst:
            continue
        sampler.bench = f"resp_idle2_{name}"
        time.sleep(RESP_IDLE_S)
        sampler.bench = f"resp_burst_{name}"
        tb = time.perf_counter() - pw.T_START
        for start, per, cnt in burst(fn, RESP_RUN_S):
            resp_rows.append({"set": set_, "bench": name, "mode": "burst", "t_start_s": tb, "since_start_s": start,
                              "time_s": per, "launches": cnt})
        print(f"burst    {name:40s} first chunk {resp_rows[-1]['time_s'] * 1e3:.4f} ms/launch at end", flush=True)


def part_model(rows, h, sampler) -> None:
    from torch.nn.attention import SDPBackend, sdpa_kernel
    layers, ctx = 4, 2048
    model = pw.MiniLlama(layers)
    with torch.no_grad():
        for batch, graph in ((1, True), (16, True), (64, True), (16, False)):
            if over_budget(pw.WARM_S + pw.WINDOW_S + 2.0):
                rows.append({"set": "validation", "bench": f"llama7b_l{layers}_decode_b{batch}", "skipped": "budget"})
                continue
            with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                step, mode = pw.decode_step(model, layers, batch, ctx, graph, DEV, BF16)
                add(rows, h, sampler, f"llama7b_l{layers}_decode_b{batch}_ctx{ctx}_{mode}", step, "model",
                    "validation", {"kind": "model", "phase": "decode", "layers": layers, "batch": batch, "seq_q": 1,
                                   "seq_kv": ctx, "mode": mode}, profile_it=not graph)
            del step
            torch.cuda.empty_cache()


def part_stale(rows, h, sampler) -> None:
    """What FlashAttention-2's padded Q rows hold: each step runs a 2048^3 bf16 GEMM (its shared-memory staging
    covers every SM) with zero or random operands right before the decode kernel, whose Q rows past seqlen_q
    are never written (``Clear_OOB_MN=false``); the GEMMs alone give the difference they make by themselves."""
    from torch.nn.attention import SDPBackend
    n = 2048
    rnd = (torch.randn(n, n, device=DEV, dtype=BF16), torch.randn(n, n, device=DEV, dtype=BF16))
    zer = (torch.zeros(n, n, device=DEV, dtype=BF16), torch.zeros(n, n, device=DEV, dtype=BF16))
    c = torch.empty(n, n, device=DEV, dtype=BF16)
    decs = {"nonsplit_b64_ctx4096": sdpa_step(SDPBackend.FLASH_ATTENTION, 64, 32, 32, 4096),
            "splitkv_b1_ctx65536": sdpa_step(SDPBackend.FLASH_ATTENTION, 1, 32, 32, 65536)}
    for label, (a, b) in (("zero", zer), ("random", rnd)):
        add(rows, h, sampler, f"stale_gemm2048_{label}_alone", lambda a=a, b=b: torch.matmul(a, b, out=c), "stale",
            "calibration", {"kind": "stale", "gemm": label, "decode": ""}, profile_it=False)
        for dname, dec in decs.items():
            def step(a=a, b=b, dec=dec):
                torch.matmul(a, b, out=c)
                dec()
            add(rows, h, sampler, f"stale_gemm2048_{label}_then_{dname}", step, "stale", "calibration",
                {"kind": "stale", "gemm": label, "decode": dname}, profile_it=False)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    pynvml.nvmlInit()
    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    sampler = pw.Sampler(h)
    sampler.start()
    torch.cuda.init()
    torch.zeros(1, device=DEV)
    info = pw.meta(h)
    info["campaign"] = "campaigns/power_padded.py"
    info["sample_s"] = pw.SAMPLE_S
    date = info["date_utc"][:10] + os.environ.get("PADDED_TAG", "")
    dev = "h200" if "H200" in str(info["device_name"]) else str(info["device_name"]).split()[1].lower()
    rows: list[dict] = [pw.idle(h, sampler, "idle_context", pw.IDLE_S)]
    resp: list[dict] = []
    chosen = os.environ.get("PADDED_PARTS", "data,skinny,decode,response,model,grid").split(",")
    for part in chosen:
        print(f"--- {part} at {time.perf_counter() - pw.T_START:.1f} s", flush=True)
        if part == "response":
            part_response(h, sampler, resp)
        elif part == "grid":
            part_grid(h, sampler, resp)
        else:
            {"data": part_data, "skinny": part_skinny, "decode": part_decode, "model": part_model,
             "stale": part_stale}[part](rows, h, sampler)
        torch.cuda.empty_cache()
    torch.cuda.synchronize()
    rows.append(pw.idle(h, sampler, "idle_context_after", min(pw.IDLE_S, 3.0)))
    sampler.stop_flag = True
    sampler.join()
    info["wall_s"] = time.perf_counter() - pw.T_START
    info["budget_s"] = BUDGET_S
    info["skipped_for_budget"] = any(r.get("skipped") or r.get("mode") == "skipped" for r in rows + resp)
    pw.write_rows(OUT / f"power-{dev}-{date}-padded.csv", rows)
    pw.write_rows(OUT / f"power-{dev}-response-{date}-padded.csv", resp)
    pw.write_traces(OUT / f"power-{dev}-traces-{date}-padded.csv", sampler)
    (OUT / f"power-{dev}-meta-{date}-padded.json").write_text(json.dumps(info, indent=1))
    print(json.dumps({k: info[k] for k in ("device_name", "driver", "power_limit_w", "wall_s", "skipped_for_budget")}))
    print(f"{'bench':44s} {'step ms':>9s} {'W':>6s} {'MHz':>6s}")
    for r in rows:
        if "step_s" in r:
            print(f"{r['bench']:44s} {r['step_s'] * 1e3:9.4f} {r['avg_power_w']:6.1f} {r['sm_clock_mhz']:6.0f}")


if __name__ == "__main__":
    main()
