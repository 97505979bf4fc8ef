"""NVML campaign: dynamic energy per call of the same cuBLAS GEMM at boost clock and power-capped (issue 22).

Calibration microbenchmarks for a voltage/frequency-aware energy fit (``archsim.gpu.energy_vf`` reads the CSV;
nothing is fitted to validation rows). Each bf16 GEMM (TN as ``F.linear``: ``torch.matmul(x, w.t(), out=y)``,
``x`` and ``w`` random normal, ``w`` scaled by ``k**-0.5`` so no output overflows) runs in three patterns, each
measured by ``power.measure`` (warm-up, then ``n`` CUDA-graph replays in one window between two synchronisations;
board energy = delta of ``nvmlDeviceGetTotalEnergyConsumption``; sampler every ~20 ms):

- ``sustained``: a CUDA graph of ``nodes`` GEMMs back to back: the board at its 700 W limit (clock lowered by the
  power manager) for the large shapes, at its steady clock for the small ones;
- ``duty``: a graph of ``nodes`` x (GEMM, then a one-warp FMA spin kernel, ``power_gaps.spin_launcher``, of about
  ``SPIN_X`` times the GEMM's one-call CUDA-event time): the board stays far below 700 W and the GEMM runs at
  boost clock. The event time of one call after a sync includes launch latency, so the spin is 2.9-3.7x the
  profiled GEMM for the large squares and 4-21x for the ~9-75 us GEMMs (committed run: duty windows 142-343 W,
  no clock-event reason, 1980 MHz throughout);
- ``spin_control``: a graph of the spin kernel alone, ``nodes`` times, at the same iteration count: its energy per
  call is what the analysis subtracts from a ``duty`` step.

Per pattern, the GEMM's own duration: ``profiled.traced`` over replays right after the NVML window (same clock
state), median over the GEMM kernels of the second half of the trace; the kernel name; the spin's median. Weights of
the prefill-like shapes rotate over ``sets`` copies (``sets x n x k x 2`` bytes >= 3x the L2, at most 6) so every
call streams its weight from HBM, as in a model step; the compute-bound squares use one operand set. Shapes:
squares 8192, 4096, 2048; prefill-like m in {16, 64, 128, 512} x (n, k) in {(6144, 2048), (11008, 4096)}.
Pass ``a`` measures sustained then duty, pass ``b`` (reverse shape order, while the budget lasts) duty then
sustained, so drift and temperature show as a pass difference. Idle with the context at the start and the end.

Run on the GPU machine from the repository root (imports torch, triton, numpy, pynvml and sibling campaign
modules)::

    OUT=dir PYTHONPATH=campaigns python3 campaigns/power_vf.py --budget-s 300 [--smoke]

Files under ``$OUT``: ``power-h200-vf-<date>.csv`` (``power.measure`` columns plus pattern, shape, launches,
GEMM/spin durations, SM clock min/p10 over the window), ``power-h200-vf-traces-<date>.csv``,
``power-h200-vf-meta-<date>.json`` (device, driver, versions, date, command, budget, skipped).
"""

from __future__ import annotations

import math
import statistics
import time

import numpy as np
import power
import power_gaps as pg
import torch
from profiled import event_us, graph_of, traced

BF16 = torch.bfloat16
SQUARES = (8192, 4096, 2048)
PREFILL_M = (16, 64, 128, 512)
PREFILL_NK = ((6144, 2048), (11008, 4096))
SPIN_X = 3.0
GRAPH_S = 4e-3  # target GPU time of one sustained replay
HOLD_S = 0.2  # replays before a profiled stretch, so the power manager is in the window's state
SETTLE_S = 2.0  # pause before the final idle window
SPIN_NAME = "_fma_kernel"


def shapes(smoke: bool) -> list[tuple[int, int, int]]:
    out = [(s, s, s) for s in SQUARES] + [(m, n, k) for n, k in PREFILL_NK for m in PREFILL_M]
    return [(4096, 4096, 4096), (64, 11008, 4096)] if smoke else out


def operands(m: int, n: int, k: int, l2_bytes: int):
    """Callables launching one GEMM each (one per weight copy) and the number of copies."""
    dev = torch.device("cuda")
    wbytes = 2 * n * k
    sets = 1 if m == n == k else max(1, min(6, math.ceil(3 * l2_bytes / wbytes)))
    x = torch.randn(m, k, device=dev, dtype=BF16)
    y = torch.empty(m, n, device=dev, dtype=BF16)
    ws = [torch.randn(n, k, device=dev, dtype=BF16) * k ** -0.5 for _ in range(sets)]
    return [lambda w=w: torch.matmul(x, w.t(), out=y) for w in ws], sets


def window_clocks(sampler, name: str, t_end: float, wall: float) -> dict:
    """SM clock min / 10th percentile and power max over the samples of ``name`` within the measured window."""
    rows = [r for r in sampler.rows if r[0] == name and t_end - wall <= r[1] <= t_end]
    if len(rows) < 2:
        return {"sm_clock_min_mhz": math.nan, "sm_clock_p10_mhz": math.nan, "power_trace_max_w": math.nan,
                "samples": len(rows)}
    sm = np.array([r[3] for r in rows], dtype=float)
    return {"sm_clock_min_mhz": float(sm.min()), "sm_clock_p10_mhz": float(np.percentile(sm, 10)),
            "power_trace_max_w": float(max(r[2] for r in rows)), "samples": len(rows)}


def hold(replay, step_s: float, seconds: float) -> None:
    """Replay back to back for about ``seconds`` (the pattern's clock state), then synchronise."""
    for _ in range(max(2, math.ceil(seconds / max(step_s, 1e-6)))):
        replay()
    torch.cuda.synchronize()


def kernel_stats(replay, step_s: float) -> dict:
    """GEMM / spin kernel durations over ~40 ms of replays right after a window, in the window's clock state:
    ``HOLD_S`` of the same replays precede them (inside the profiler, its start-up not in the pattern), then
    ``profiled.traced``'s 1 ms pause; the last group of the trace is kept, its second half used."""
    reps = max(2, min(60, math.ceil(0.04 / max(step_s, 1e-6))))
    calls = traced(lambda: [replay() for _ in range(reps)], 1, between=lambda: hold(replay, step_s, HOLD_S))
    ks = calls[-1] if calls else []
    ks = ks[len(ks) // 2:]
    gemm = [k for k in ks if SPIN_NAME not in k["name"]]
    spin = [k for k in ks if SPIN_NAME in k["name"]]
    names = sorted({k["name"] for k in gemm}, key=lambda s: -sum(1 for k in gemm if k["name"] == s))
    return {"gemm_median_us": statistics.median(k["dur_us"] for k in gemm) if gemm else math.nan,
            "gemm_kernels_traced": len(gemm), "gemm_kernel": names[0][:160] if names else "",
            "gemm_kernel_count": len(names),
            "spin_median_us": statistics.median(k["dur_us"] for k in spin) if spin else math.nan}


def measured(h, sampler, name: str, replay, *, window: float, warm: float, counts: dict, trace: bool) -> dict:
    row = power.measure(h, sampler, name, replay, window_s=window, warm_s=warm, counts=counts)
    t_end = time.perf_counter() - power.T_START
    sampler.bench = name + "_profile"
    row.update(window_clocks(sampler, name, t_end, row["wall_s"]))
    if trace:
        row.update(kernel_stats(replay, row["step_s"]))
    return row


def shape_rows(h, sampler, m: int, n: int, k: int, pass_: str, order: tuple[str, ...], *, window: float,
               warm: float, l2_bytes: int, max_mhz) -> list[dict]:
    dev = torch.device("cuda")
    gemms, sets = operands(m, n, k, l2_bytes)
    t_gemm = event_us(gemms[0], 5) * 1e-6  # after a sync: boost clock, one call
    nodes = sets * max(1, min(200 // sets, round(GRAPH_S / t_gemm / sets)))
    spin, per_iter = pg.spin_launcher(dev)
    spin_s = SPIN_X * t_gemm  # argument of spin(); corrected once by the spin's own event time
    spin_s *= spin_s / (event_us(lambda: spin(spin_s), 5) * 1e-6)
    iters = max(1, int(spin_s / per_iter))
    base = {"kind": "gemm_vf", "dtype": "bf16", "layout": "TN", "m": m, "n": n, "k": k, "flops": 2.0 * m * n * k,
            "weight_bytes": 2 * n * k, "weight_sets": sets, "pass": pass_, "gemm_event_boost_us": t_gemm * 1e6,
            "max_sm_clock_mhz": max_mhz}
    tag = f"gemm_bf16_m{m}_n{n}_k{k}"
    rows = []
    for pattern in order:
        if pattern == "sustained":
            g = graph_of(gemms, nodes, warmup=2)
            rows.append(measured(h, sampler, f"{tag}_sustained_{pass_}", g.replay, window=window, warm=warm,
                                 trace=True, counts={**base, "pattern": "sustained", "launches": nodes,
                                                     "gemm_calls": nodes, "spin_iters": 0, "spin_target_us": 0.0}))
        else:
            fns = [f for gm in gemms for f in (gm, lambda: spin(spin_s))]
            g = graph_of(fns, 2 * nodes, warmup=2)
            rows.append(measured(h, sampler, f"{tag}_duty_{pass_}", g.replay, window=window, warm=warm, trace=True,
                                 counts={**base, "pattern": "duty", "launches": 2 * nodes, "gemm_calls": nodes,
                                         "spin_iters": iters, "spin_target_us": SPIN_X * t_gemm * 1e6}))
            del g
            g = graph_of([lambda: spin(spin_s)], nodes, warmup=2)
            rows.append(measured(h, sampler, f"{tag}_spin_control_{pass_}", g.replay, window=window, warm=warm,
                                 trace=True, counts={**base, "pattern": "spin_control", "launches": nodes,
                                                     "gemm_calls": 0, "spin_iters": iters,
                                                     "spin_target_us": SPIN_X * t_gemm * 1e6}))
        del g
    del gemms
    torch.cuda.empty_cache()
    return rows


def main() -> None:
    args = power.campaign_parser(300.0).parse_args()
    window = 0.6 if args.smoke else args.window_s
    warm = 0.3 if args.smoke else 0.5
    idle_s = 1.0 if args.smoke else args.idle_s
    run = power.Campaign("power_vf.py", args, "power-vf-out")
    left, h, sampler, info = run.left, run.h, run.sampler, run.info
    max_mhz = info["max_sm_clock_mhz"]
    l2 = torch.cuda.get_device_properties(0).L2_cache_size
    info.update(window_s=window, warm_s=warm, spin_x=SPIN_X, graph_target_s=GRAPH_S,
                method=f"per shape and pattern: CUDA graph, warm-up {warm:g} s, n replays over ~{window:g} s between "
                       "two synchronisations (power.measure); energy = delta of nvmlDeviceGetTotalEnergyConsumption; "
                       "trace every ~20 ms; then torch.profiler over 0.2 s + ~40 ms of replays (the last 40 ms, "
                       "its second half kept)")
    traced(lambda: torch.zeros(1, device="cuda"), 1)  # the profiler's first start-up, outside every pattern
    rows: list[dict] = [{**power.idle(h, sampler, "idle_context", idle_s), "kind": "idle", "pattern": "idle"}]
    per_shape = 3 * (window + warm + HOLD_S) + 6.0
    skipped = []
    todo = shapes(args.smoke)
    for pass_, order, seq in (("a", ("sustained", "duty"), todo), ("b", ("duty", "sustained"), todo[::-1])):
        for m, n, k in seq:
            if left() < per_shape + idle_s + SETTLE_S + 3.0:
                skipped.append(f"m{m}_n{n}_k{k} pass {pass_}")
                continue
            try:
                rows += shape_rows(h, sampler, m, n, k, pass_, order, window=window, warm=warm, l2_bytes=l2,
                                   max_mhz=max_mhz)
            except RuntimeError as e:  # an unsupported shape is a data point, not a crash
                print(f"m{m}_n{n}_k{k}: {e}"[:300], flush=True)
                rows.append({"set": "calibration", "bench": f"gemm_bf16_m{m}_n{n}_k{k}_{pass_}", "kind": "gemm_vf",
                             "error": str(e)[:200]})
    torch.cuda.synchronize()
    sampler.bench = "settle"
    time.sleep(SETTLE_S)
    rows.append({**power.idle(h, sampler, "idle_context_after", idle_s), "kind": "idle", "pattern": "idle"})
    run.finish("vf", rows, skipped)


if __name__ == "__main__":
    main()
