"""The simulator against the measured H200 serving run (``archsim/data/measurements/h200/serving-h200-2026-12-01-*``,
``campaigns/serving.py``): the same arrivals, the server's policy, measured / simulated / ratio per load.

The server: Llama-2-7B shapes with 8 of its 32 layers, random bf16 weights, one H200; decode of every running
request as a CUDA-graph replay (padded batch buckets, SDPA over the 320-token slot with a length mask), then at
most one whole prompt per iteration prefilled eagerly, 64 slots. The simulator is fed each load's arrivals
and lengths and runs ``continuous`` with ``chunked=False, max_prefills=1, max_seqs=64`` on the ``h200``
preset; iteration costs are :class:`archsim.serving.cost.BackendCost` (GPU kernel model, fused batch, no
software-stack or host time). Nothing here is fitted to the measurement.
"""

from __future__ import annotations

import csv
from importlib.resources import files
from typing import Any

import numpy as np

from archsim import presets
from archsim.schemas.workload import Workload
from archsim.serving.cost import BackendCost, kv_capacity
from archsim.serving.metrics import request_rows
from archsim.serving.requests import Request
from archsim.serving.schedulers import Deployment, make_scheduler
from archsim.serving.simulator import Simulation

RUN = "serving-h200-2026-12-01"
LOADS = ("burst", "load020", "load050", "load080", "load110")


def compare(cost_model: str = "kernels") -> list[dict[str, Any]]:
    """One row per load and metric: measured, simulated, ratio (simulated / measured). ``cost_model``:
    ``kernels`` (:class:`BackendCost`: fused batch, GPU kernel time) or ``stack`` (:class:`StackCost`: plain
    PyTorch, eager prefill then CUDA-graph decode, host time included)."""
    folder = files("archsim").joinpath("data", "measurements", "h200")
    with folder.joinpath(f"{RUN}-requests.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    spec = presets.load_model("llama-2-7b").model_copy(update={"num_layers": 8})  # the server's 8 layers
    wl = Workload.model_validate({"name": "llama-2-7b-8-layers", "model": spec, "dtype": "bf16",
                                  "phases": [{"phase": "decode", "batch": 1, "context_len": 1}]})
    hw = presets.load_hardware("h200")
    cost: Any = BackendCost(wl, hw)
    if cost_model == "stack":
        from archsim.serving.stack_cost import StackCost

        cost = StackCost(wl, "h200")
    blocks = kv_capacity(wl, hw).blocks
    out = []
    for load in LOADS:
        measured = [r for r in rows if r["load"] == load]
        requests = [Request(i, float(r["arrival_s"]), int(r["prompt_tokens"]), int(r["output_tokens"]))
                    for i, r in enumerate(measured)]
        sched = make_scheduler("continuous", Deployment(capacity_blocks=blocks), token_budget=4096, max_seqs=64,
                               chunked=False, max_prefills=1)
        sim = request_rows(Simulation(requests, sched, cost).run())
        for metric in ("ttft_s", "tbt_mean_s"):
            meas = np.array([float(r[metric]) for r in measured if r[metric]])
            ours = sim[metric][~np.isnan(sim[metric])]
            for p in (50, 90, 99):
                m, s = float(np.percentile(meas, p)), float(np.percentile(ours, p))
                out.append({"load": load, "requests": len(requests), "metric": f"{metric} p{p}", "measured_s": m,
                            "simulated_s": s, "ratio": s / m})
    return out


def markdown(table: list[dict[str, Any]]) -> str:
    lines = ["| load | requests | metric | measured (ms) | simulated (ms) | ratio |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['load']} | {r['requests']} | {r['metric']} | {r['measured_s'] * 1e3:.2f} | "
              f"{r['simulated_s'] * 1e3:.2f} | {r['ratio']:.2f} |" for r in table]
    return "\n".join(lines) + "\n"
