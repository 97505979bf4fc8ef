"""Kernel traces and graph helpers shared by the campaigns (``decode_micro.py``, ``decode_glue.py``,
``gemm_duty.py``, ``masked_sdpa.py``, ``power_gaps.py``, ``power_split.py``, ``power_padded.py``): every kernel
of a few calls under ``torch.profiler`` with its start, duration and launch geometry, the kernel names a call
launches, CUDA-event timing of one call, a CUDA graph of repeated calls, and NVML clocks. Imports torch only
(pynvml optionally; run on the GPU machine beside its siblings)."""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time

import torch
from torch.profiler import ProfilerActivity, profile

#: idle microseconds between two kernels that mark a new call in a trace (calls are 1 ms apart)
SPLIT_US = 300.0
KERNEL_FIELDS = ["name", "dur_us", "grid", "block", "regs", "smem_static", "smem_dynamic"]


def traced(fn, calls: int, between=None) -> list[list[dict]]:
    """Run ``fn`` ``calls`` times under the profiler (``between`` before each, not kept); the kernels of each
    call as dicts (ts/dur in us, launch geometry), in start order. A call's kernels are those that start
    separated by the 1 ms sleep before each."""
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            if between is not None:
                between()
            torch.cuda.synchronize()
            time.sleep(0.001)  # > SPLIT_US of idle GPU: separates the calls in the trace
            fn()
            torch.cuda.synchronize()
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    prof.export_chrome_trace(path)
    with open(path) as fh:
        ev = json.load(fh)["traceEvents"]
    os.remove(path)
    ks = sorted((e for e in ev if e.get("cat") == "kernel"), key=lambda e: e["ts"])
    # split into calls: an idle stretch > SPLIT_US between kernels separates calls (each follows a sync + sleep)
    groups, cur, last_end = [], [], None
    for e in ks:
        if last_end is not None and e["ts"] - last_end > SPLIT_US:
            groups.append(cur)
            cur = []
        a = e.get("args", {})
        cur.append({"name": e["name"], "ts": float(e["ts"]), "dur_us": float(e["dur"]),
                    "grid": "x".join(str(g) for g in a.get("grid", [])),
                    "block": "x".join(str(g) for g in a.get("block", [])),
                    "regs": a.get("registers per thread", ""), "smem_static": a.get("shared memory", ""),
                    "smem_dynamic": a.get("dynamic shared memory", a.get("shared memory dynamic", ""))})
        last_end = e["ts"] + e["dur"]
    if cur:
        groups.append(cur)
    return groups


def event_us(fn, reps: int) -> float:
    """Median CUDA-event microseconds of ``fn`` started after a sync (GPU idle), over ``reps``."""
    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    out = []
    for _ in range(reps):
        torch.cuda.synchronize()
        e0.record()
        fn()
        e1.record()
        torch.cuda.synchronize()
        out.append(e0.elapsed_time(e1) * 1e3)
    return statistics.median(out)


def kernel_rows(calls: list[list[dict]]) -> list[dict]:
    """Per kernel position of a call: median and min duration over the calls and the first call's geometry."""
    out = []
    for i in range(max(len(c) for c in calls)):
        ds = [c[i]["dur_us"] for c in calls if len(c) > i]
        k0 = next(c[i] for c in calls if len(c) > i)
        out.append({"calls": len(ds), "kernel_idx": i, "median_us": round(statistics.median(ds), 3),
                    "min_us": round(min(ds), 3), "name": k0["name"][:200], **{f: k0[f] for f in KERNEL_FIELDS[2:]}})
    return out


def kernel_names(fn, calls: int = 2, name_chars: int = 120, total_chars: int = 600) -> str:
    """Names of the CUDA kernels ``fn`` launches (profiler), first-seen order, joined with ' | '."""
    try:
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(calls):
                fn()
            torch.cuda.synchronize()
        names: list[str] = []
        for e in prof.key_averages():
            if e.device_type.name == "CUDA" and e.key not in names:
                names.append(e.key)
        return " | ".join(n[:name_chars] for n in names)[:total_chars]
    except Exception as e:  # noqa: BLE001 - the profiler is evidence, not a requirement
        return f"n/a ({type(e).__name__})"


def graph_of(fns: list, nodes: int, warmup: int = 1) -> torch.cuda.CUDAGraph:
    """A CUDA graph of ``nodes`` calls cycling through ``fns``, captured after ``warmup`` rounds of every
    function on a side stream (allocator and library plans warmed outside the capture)."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(warmup):
            for f in fns:
                f()
    torch.cuda.current_stream().wait_stream(s)
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for i in range(nodes):
            fns[i % len(fns)]()
    torch.cuda.synchronize()
    return g


def nvml():
    """(pynvml module, handle of GPU 0), or (None, None) where NVML is absent."""
    try:
        import pynvml
        pynvml.nvmlInit()
        return pynvml, pynvml.nvmlDeviceGetHandleByIndex(0)
    except Exception:  # noqa: BLE001 - clocks are optional
        return None, None


def clocks(nv, h) -> dict:
    """SM and memory clocks, power limit, power and temperature now ({} without NVML)."""
    if nv is None:
        return {}
    return {"sm_clock_mhz": nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM),
            "mem_clock_mhz": nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_MEM),
            "power_limit_w": nv.nvmlDeviceGetPowerManagementLimit(h) / 1000.0,
            "power_w": nv.nvmlDeviceGetPowerUsage(h) / 1000.0,
            "temperature_c": nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU)}
