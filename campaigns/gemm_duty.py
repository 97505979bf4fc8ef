"""cuBLAS GEMMs between low-power kernels: the power regime a GEMM runs in inside a model step (issue 16).

Calibration microbenchmark (GEMMs only, no model): a whole-model step alternates GEMMs with glue kernels that
draw far less power, so the board's average power can stay under the 700 W sustained limit while each GEMM
alone would exceed it. This campaign measures, for bf16 GEMM shapes of prefill projections at hidden widths
1536..4096, the GEMM's own kernel duration (torch.profiler / CUPTI) in four patterns:

- ``burst``: a CUDA graph of ``NODES`` GEMMs replayed once right after 0.4 s of idle GPU (before the
  sustained controller acts);
- ``duty_<r>``: the same graph with a memory-bound filler copy after every GEMM, sized so that the filler
  takes about ``r`` times the GEMM (r = 0: GEMMs back to back), replayed back to back for ``HOLD_S`` seconds,
  then three replays profiled. The GEMM's duration against r tells whether a GEMM between glue kernels runs
  at the burst or the sustained clock.

Inputs: random bf16, four rotated operand sets (weights out of L2 between calls, as in a model step). After each
pattern: SM clock and board power (``torch.cuda.clock_rate`` / ``power_draw``, NVML through torch).

Run on the GPU machine from the repository root (imports torch and the sibling ``profiled`` / ``csv_sink``)::

    OUT=dir PYTHONPATH=campaigns python3 campaigns/gemm_duty.py [--budget-s 80] [--smoke]

The filler ``copy_`` of a contiguous tensor is captured as a device-to-device memcpy node, which the profiler
does not list among kernels: ``filler_median_us`` stays empty; the filler's time is ``replay_event_ms / nodes``
minus the GEMM's (filler plus node gaps: 1.2-1.7x the GEMM at r = 1 and 3.5-4.9x at r = 3 for the shapes of
>= 10 GFLOP in the committed run; more for the two small ones, whose filler is the 64 Ki-element minimum).

Files under ``$OUT``: ``gemm-duty.csv`` (one row per shape x pattern), ``gemm-duty-meta.json`` (device, driver,
torch / CUDA versions, date, clocks at start and end, what ran and what the budget skipped).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import time

import torch
from csv_sink import Sink
from profiled import graph_of, traced

#: (m, n, k) = tokens x out-features x in-features of prefill projections (x @ W^T, TN as F.linear)
SHAPES = ((4096, 8192, 2048), (4096, 2048, 2048), (4096, 2048, 8192), (4096, 512, 2048), (2048, 8960, 1536),
          (2048, 256, 1536), (4096, 11008, 4096), (4096, 4096, 4096))
RATIOS = (0, 1, 3)
NODES = 24
HOLD_S = 1.0
SETS = 4


def _nvml() -> dict:
    out = {}
    for key, fn in (("sm_clock_mhz", torch.cuda.clock_rate), ("power_w", torch.cuda.power_draw)):
        try:
            v = fn()
            out[key] = v / 1000.0 if key == "power_w" else v
        except Exception as e:  # noqa: BLE001 - NVML through torch may be absent: recorded, not fatal
            out[key] = f"n/a ({type(e).__name__})"
    return out


def _event_ms(fn, reps: int = 5) -> float:
    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    out = []
    for _ in range(reps):
        e0.record()
        fn()
        e1.record()
        torch.cuda.synchronize()
        out.append(e0.elapsed_time(e1))
    return statistics.median(out)


def _shape(sink: Sink, m: int, n: int, k: int, smoke: bool, gen: torch.Generator) -> None:
    """The four patterns of one shape (rows to ``sink``)."""
    bf = torch.bfloat16
    xs = [torch.randn(m, k, device="cuda", dtype=bf, generator=gen) for _ in range(SETS)]
    ws = [torch.randn(n, k, device="cuda", dtype=bf, generator=gen) / k ** 0.5 for _ in range(SETS)]
    ys = [torch.full((m, n), float("nan"), device="cuda", dtype=bf) for _ in range(SETS)]
    torch.nn.functional.linear(xs[0], ws[0], out=ys[0])
    ref = xs[0][:8].double() @ ws[0].double().T
    err = float((ys[0][:8].double() - ref).norm() / ref.norm())
    gemm_ms = _event_ms(lambda: torch.nn.functional.linear(xs[0], ws[0], out=ys[0]), 10)
    idx = [0]

    def gemm() -> None:
        i = idx[0] = (idx[0] + 1) % SETS
        torch.nn.functional.linear(xs[i], ws[i], out=ys[i])
    for pattern, ratio in (("burst", 0), *((f"duty_{r}", r) for r in RATIOS)):
        fns = [gemm]
        if ratio:  # filler: a bf16 copy at ~3 TB/s (read + write bytes) taking ~ratio x the GEMM
            elems = max(1 << 16, int(ratio * gemm_ms * 1e-3 * 3.0e12 / 4))
            src = torch.randn(elems, device="cuda", dtype=bf, generator=gen)
            dst = torch.empty_like(src)
            fns.append(lambda s=src, d=dst: d.copy_(s))
        g = graph_of(fns, NODES * len(fns))
        if pattern == "burst":
            torch.cuda.synchronize()
            time.sleep(0.4)
            calls = traced(g.replay, 1)
            hold = 0.0
        else:
            h0 = time.monotonic()
            while time.monotonic() - h0 < (0.2 if smoke else HOLD_S):
                for _ in range(4):
                    g.replay()
                torch.cuda.synchronize()
            hold = time.monotonic() - h0
            calls = traced(g.replay, 3)
        clocks = _nvml()
        replay = _event_ms(g.replay, 3)
        kern = [kk for c in calls for kk in c]
        is_fill = [("copy" in kk["name"].lower() or "elementwise" in kk["name"].lower()) for kk in kern]
        gk = [kk["dur_us"] for kk, f in zip(kern, is_fill, strict=True) if not f]
        fk = [kk["dur_us"] for kk, f in zip(kern, is_fill, strict=True) if f]
        name = next(kk["name"] for kk, f in zip(kern, is_fill, strict=True) if not f)
        med = statistics.median(gk)
        sink.row(m=m, n=n, k=k, pattern=pattern, ratio=ratio, nodes=NODES, gemm_kernel=name[:120],
                 gemm_calls=len(gk), gemm_median_us=round(med, 3), gemm_min_us=round(min(gk), 3),
                 filler_median_us=round(statistics.median(fk), 3) if fk else "", replay_event_ms=round(replay, 4),
                 tflops_per_s=round(2.0 * m * n * k / (med * 1e-6) / 1e12, 1), hold_s=round(hold, 3),
                 check_rel_err=f"{err:.2e}", **clocks)


def run(out: str, budget_s: float, smoke: bool) -> dict:
    t0 = time.monotonic()
    gen = torch.Generator(device="cuda").manual_seed(0)
    sink = Sink(os.path.join(out, "gemm-duty.csv"),
                ["m", "n", "k", "pattern", "ratio", "nodes", "gemm_kernel", "gemm_calls", "gemm_median_us",
                 "gemm_min_us", "filler_median_us", "replay_event_ms", "tflops_per_s", "sm_clock_mhz", "power_w",
                 "hold_s", "check_rel_err"])
    ran, skipped = [], []
    for m, n, k in SHAPES[:2] if smoke else SHAPES:
        if time.monotonic() - t0 > budget_s:
            skipped.append(f"{m}x{n}x{k}")
            continue
        _shape(sink, m, n, k, smoke, gen)
        ran.append(f"{m}x{n}x{k}")
        torch.cuda.empty_cache()
    return {"ran": ran, "skipped": skipped, "wall_s": time.monotonic() - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget-s", type=float, default=80.0)
    ap.add_argument("--smoke", action="store_true")
    a = ap.parse_args()
    out = os.environ.get("OUT", ".")
    try:
        driver = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError) as e:
        driver = f"n/a ({type(e).__name__})"
    meta = {"date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "device_name": torch.cuda.get_device_name(),
            "sm_count": torch.cuda.get_device_properties(0).multi_processor_count,
            "driver": driver, "torch": torch.__version__, "torch_cuda": torch.version.cuda,
            "command": f"gemm_duty.py --budget-s {a.budget_s}" + (" --smoke" if a.smoke else ""), "smoke": a.smoke,
            "timing": "kernel durations from torch.profiler (CUPTI) traces of CUDA-graph replays; replay_event_ms = "
                      "CUDA-event median of one replay", "clocks_start": _nvml()}
    meta.update(run(out, a.budget_s, a.smoke))
    meta["clocks_end"] = _nvml()
    with open(os.path.join(out, "gemm-duty-meta.json"), "w") as fh:
        json.dump(meta, fh, indent=1)
    with open(os.path.join(out, "gemm-duty.csv")) as fh:
        print(fh.read())


if __name__ == "__main__":
    main()
