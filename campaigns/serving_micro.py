"""Timings around the measured serving run (``serving.py``): isolated step timings, host-dispatch
microbenchmarks, device meta and clocks. Run on the GPU machine as part of ``serving.py``; imports only
torch, numpy, pynvml and the campaign modules beside it (``csv_sink``, ``wm_micro``).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import time

import numpy as np
from csv_sink import Sink


def time_isolated(eng, sink: Sink, reps: int) -> dict[str, float]:
    """Decode step per bucket (graph replay or eager) and one prefill (eager, and graph replay if captured) of
    ``eng`` (``serving_engine.Engine``), each after a sync; medians. Keys: ``prefill``, ``prefill_graph``,
    ``decode<b>``."""
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
                host_s, wall_s = wm_micro.median_call_s(call, reps)
                sink.row(op=f"model:plain:{phase}:L{layers}", mode="eager", calls=reps,
                         kernels_per_call=12 + 37 * layers,  # the profiler's count in h200-wm-host-2026-12-01.csv
                         host_us_per_call=host_s * 1e6, wall_us_per_call=wall_s * 1e6,
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
