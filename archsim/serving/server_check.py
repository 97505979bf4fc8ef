"""The simulator with :class:`archsim.serving.server_cost.ServerCost` against a measured serving run of
``campaigns/serving.py`` (``archsim/data/measurements/h200/<run>-*``): first per iteration, then per load.

1. Per iteration (:func:`iteration_table`): every measured iteration's composition (decode batch, prefill or
   not) is costed and its span (loop top to the sync's return) compared, median per (bucket, prefill) class.
2. Per load (:func:`load_table`): the simulator is fed the load's own arrivals and lengths under the server's
   policy (``continuous``, ``chunked=False, max_prefills=1, max_seqs=64``), and TTFT and TBT (every token gap
   of every request, pooled) are compared at p50/p90/p99, with the throughput: requests finished per second
   inside ``[WARMUP_S, arrival window end]``.
3. Saturation (:func:`saturation`): measured = the mean throughput of the loads offered above the burst
   capacity (where throughput stops following the offered load); simulated = the same figure from the
   simulated runs of those loads, and the closed form ``1 / (steady iteration + its compaction)`` (a full
   batch of ``max_seqs - 1`` decodes and one prefill: one admission and one finish per iteration).

Calibration (nothing is fitted to a serving run): GPU kernel times and the per-node graph gap from the
H200 device calibration (:func:`archsim.gpu.devices.device_calibration`: kernel, glue and host
microbenchmarks of 2026-11-23 / 2026-12-01); host dispatch (eager per-operator and per-layer costs, graph
launch) from the serving machine's own host microbenchmarks when the run has a ``-host.csv``
(``campaigns/serving.py --host-micro``, same format as ``h200-wm-host``), else the device calibration's.
With ``host_state`` (``point`` / ``fast`` / ``slow``) the eager prefill's per-layer host line is instead the
interleaved host sweep's line of the serving engine's own prefill path in that host-speed state
(:func:`archsim.gpu.host.path_lines` ``engine-prefill`` at the server's width, ``h200-hw-paths-2026-12-01``;
taken on another device-machine session, not from the serving run); every other host cost stays as above.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from dataclasses import replace
from importlib.resources import files
from typing import Any

import numpy as np

from archsim import presets
from archsim.errors import ConfigError
from archsim.gpu.host import HW_PATHS_CSV, HostModel, load_host, path_lines, with_layer_sweep
from archsim.serving.requests import Request
from archsim.serving.schedulers import Deployment, make_scheduler
from archsim.serving.server_cost import ServerCost, ServerSpec, shape_of
from archsim.serving.simulator import Simulation

WARMUP_S = 2.0
#: host-speed states of :func:`archsim.gpu.host.path_lines` a check can price the eager prefill's dispatch with
HOST_STATES = ("point", "fast", "slow")
PERCENTILES = (50, 90, 99)


def _folder() -> Any:
    return files("archsim").joinpath("data", "measurements", "h200")


def read_run(run: str) -> dict[str, Any]:
    """The run's requests, iterations (lists of row dicts) and meta (dict)."""
    out: dict[str, Any] = {}
    for kind in ("requests", "iterations"):
        with _folder().joinpath(f"{run}-{kind}.csv").open() as fh:
            out[kind] = list(csv.DictReader(fh))
    out["meta"] = json.loads(_folder().joinpath(f"{run}-meta.json").read_text())
    return out


def host_model(run: str, own_host: bool = True) -> tuple[HostModel, str]:
    """Host costs for ``run``: its own host microbenchmarks (if recorded and ``own_host``) with the device
    calibration's per-node graph gap (a GPU-side figure), else the device calibration's; and a label."""
    from archsim.gpu.devices import device_calibration

    cal = device_calibration("h200")
    path = _folder().joinpath(f"{run}-host.csv")
    if own_host and path.is_file():
        own = load_host(str(path), cal.glue.curves[("vec", "warm")].floor_s)
        return replace(own, graph_gap_s=cal.host.graph_gap_s), f"{run}-host.csv (graph gap: {cal.sources['host']})"
    return cal.host, cal.sources["host"]


def step_timings(run: str) -> dict[str, float]:
    """GPU-event seconds of the run's isolated graph-replayed steps (``-buckets.csv``, timed after a sync
    before any load): ``decode<bucket>`` and ``prefill_graph``. Eager prefill is left out (its isolated
    time is the host's)."""
    with _folder().joinpath(f"{run}-buckets.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    out = {}
    for r in rows:
        if r["phase"] == "decode":
            out[f"decode{r['batch']}"] = float(r["event_s"])
        elif r["phase"] == "prefill_graph":
            out["prefill_graph"] = float(r["event_s"])
    return out


def with_path_state(host: HostModel, state: str, width: int) -> tuple[HostModel, str]:
    """``host`` with the ``plain`` prefill's (fixed s, s per layer) line replaced by the interleaved sweep's
    ``engine-prefill`` line at ``width`` in host-speed ``state`` (:data:`HOST_STATES`), and a label."""
    if state not in HOST_STATES:
        raise ConfigError.single(f"unknown host state {state!r}; valid: {', '.join(HOST_STATES)}",
                                 key_path="host_state")
    line = path_lines("engine-prefill", width=width).line(state)
    src = f"{HW_PATHS_CSV} engine-prefill w{width} {state} line"
    return with_layer_sweep(host, {("plain", "prefill"): line}, host.mixed_factor, src), src


def server_cost(run: str, variant: str, meta: dict[str, Any], own_host: bool = True,
                calibration: str = "kernels", host_state: str | None = None) -> tuple[ServerCost, str]:
    """The cost model of ``run``'s server in prefill ``variant`` (``eager`` or ``graph``); ``calibration``
    ``kernels`` (every GPU time from the kernel model) or ``steps`` (graph-replayed steps from their isolated
    timings, :func:`step_timings`); ``host_state`` None (the run's host microbenchmarks) or a
    :data:`HOST_STATES` entry (the eager prefill's host line from :func:`with_path_state`)."""
    spec = ServerSpec(buckets=tuple(meta["buckets"]), kv_max_len=int(meta["kv_max_len"]),
                      prefill_host="cuda-graph" if variant == "graph" else "eager")
    shape = shape_of(presets.load_model("llama-2-7b"), int(meta["layers"]))
    host, label = host_model(run, own_host)
    if host_state is not None:
        host, src = with_path_state(host, host_state, int(meta["shape"]["hidden"]))
        label += f"; eager prefill host: {src}"
    steps = step_timings(run) if calibration == "steps" else None
    if steps is not None:
        label += f"; GPU steps: {run}-buckets.csv (isolated event times)"
    return ServerCost(shape, spec, host=host, step_gpu_s=steps), label


def loads(meta: dict[str, Any], variant: str) -> list[dict[str, Any]]:
    """The meta's load entries of ``variant`` (runs without variants: all are ``eager``), burst first."""
    return [ld for ld in meta["loads"] if ld.get("variant", "eager") == variant]


def iteration_table(data: dict[str, Any], variant: str, cost: ServerCost) -> list[dict[str, Any]]:
    """Median measured and predicted iteration span per (bucket, prefill) class over the variant's loads."""
    labels = {ld["label"] for ld in loads(data["meta"], variant)}
    groups: dict[tuple[int, bool], list[tuple[float, float]]] = defaultdict(list)
    for r in data["iterations"]:
        if r["load"] not in labels:
            continue
        n, p = int(r["decode_batch"]), int(r["prefill_tokens"])
        groups[(int(r["bucket"]), p > 0)].append((float(r["end_s"]) - float(r["start_s"]),
                                                  cost.timeline(n, p).span_s))
    out = []
    for (bucket, prefill), pairs in sorted(groups.items()):
        a = np.asarray(pairs)
        m, s = float(np.median(a[:, 0])), float(np.median(a[:, 1]))
        out.append({"bucket": bucket, "prefill": prefill, "iterations": len(a), "measured_s": m, "predicted_s": s,
                    "ratio": s / m})
    return out


def _pooled_gaps(times: list[list[float]]) -> np.ndarray:
    return np.concatenate([np.diff(t) for t in times if len(t) > 1]) if times else np.array([])


def _throughput(arrival_finish: list[tuple[float, float]], window_end_s: float) -> float:
    done = sum(1 for a, f in arrival_finish if WARMUP_S <= f <= window_end_s)
    return done / (window_end_s - WARMUP_S)


def simulate(rows: list[dict[str, str]], cost: ServerCost, max_seqs: int) -> list[Request]:
    requests = [Request(i, float(r["arrival_s"]), int(r["prompt_tokens"]), int(r["output_tokens"]))
                for i, r in enumerate(rows)]
    blocks = 1 + max_seqs * -(-max(r.max_tokens for r in requests) // 16)  # the server's slots never run out
    sched = make_scheduler("continuous", Deployment(capacity_blocks=blocks), token_budget=1 << 20,
                           max_seqs=max_seqs, chunked=False, max_prefills=1)
    Simulation(requests, sched, cost.fresh()).run()
    return requests


def load_table(data: dict[str, Any], variant: str, cost: ServerCost) -> list[dict[str, Any]]:
    """Per load of ``variant``: measured vs simulated TTFT and pooled TBT percentiles and throughput."""
    meta = data["meta"]
    ends: dict[str, dict[int, float]] = defaultdict(dict)
    for r in data["iterations"]:
        ends[r["load"]][int(r["iter"])] = float(r["end_s"])
    out = []
    for ld in loads(meta, variant):
        lab = ld["label"]
        rows = [r for r in data["requests"] if r["load"] == lab]
        done = [r for r in rows if r["done"] == "1"]
        window = float(ld.get("duration_s") or ld["wall_s"])
        m_times = [[ends[lab][int(r["iter_admit"]) + k] for k in range(int(r["output_tokens"]))] for r in done]
        sim = simulate(rows, cost, int(meta["max_batch"]))
        s_times = [r.token_times_s for r in sim]
        entry: dict[str, Any] = {"load": lab, "fraction": ld.get("fraction"), "offered_qps": ld.get("qps"),
                                 "requests": len(rows), "done": len(done)}
        ttft = [t[0] - r.arrival_s for t, r in zip(s_times, sim, strict=True)]
        metrics: dict[str, tuple[Any, Any]] = {"ttft_s": ([float(r["ttft_s"]) for r in done], ttft),
                   "tbt_s": (_pooled_gaps(m_times), _pooled_gaps(s_times))}
        for name, (meas, ours) in metrics.items():
            for p in PERCENTILES:
                m, s = float(np.percentile(meas, p)), float(np.percentile(ours, p))
                entry[f"{name}_p{p}"] = {"measured": m, "simulated": s, "ratio": s / m}
        m_tp = _throughput([(float(r["arrival_s"]), t[-1]) for r, t in zip(done, m_times, strict=True)], window)
        s_tp = _throughput([(r.arrival_s, r.token_times_s[-1]) for r in sim], window)
        entry["throughput_req_s"] = {"measured": m_tp, "simulated": s_tp, "ratio": s_tp / m_tp}
        out.append(entry)
    return out


def saturation(table: list[dict[str, Any]], meta: dict[str, Any], variant: str, cost: ServerCost) -> dict[str, Any]:
    """Measured and simulated saturation throughput (requests/s); see the module docstring."""
    over = [e for e in table if e["fraction"] and e["fraction"] > 1.0]
    cap = meta["capacity"].get(variant, meta["capacity"]) if "req_per_s" not in meta["capacity"] else meta["capacity"]
    n = int(meta["max_batch"]) - 1
    steady = cost.timeline(n, int(meta["prompt_tokens"]), finished=1)
    closed = 1.0 / (steady.span_s + steady.carry_s)
    out: dict[str, Any] = {"burst_capacity_req_s": cap["req_per_s"], "closed_form_req_s": closed,
                           "loads": [e["load"] for e in over]}
    if over:
        m = float(np.mean([e["throughput_req_s"]["measured"] for e in over]))
        s = float(np.mean([e["throughput_req_s"]["simulated"] for e in over]))
        out.update({"measured_req_s": m, "simulated_req_s": s, "ratio": s / m, "closed_form_ratio": closed / m})
    return out


#: the decode step taken apart on the H200 (campaigns/decode_micro.py ``step``: the engine's decode graphs, profiled)
STEP_PROFILE = ("h200-decode-micro-step-kernels-2026-12-01.csv", "h200-decode-micro-step-events-2026-12-01.csv")


def kernel_class(name: str) -> str:
    """``gemm`` (cuBLAS nvjet + its split-K reduce), ``attention`` (cuDNN SDPA + its reduction) or ``glue``."""
    if "nvjet" in name or "splitKreduce" in name or "gemm" in name.lower():
        return "gemm"
    return "attention" if ("cudnn" in name or "flash" in name) else "glue"


def decode_anatomy(cost: ServerCost) -> list[dict[str, Any]]:
    """Per bucket: the profiled decode graph (one replay: kernel durations by class, the start-to-previous-end
    gaps, the CUDA-event time of a replay) next to ``cost``'s kernels by class and its per-node gaps. A
    diagnosis of the decode-step model (the profile is a separate isolated measurement, not a calibration).
    Units: microseconds."""
    rows: dict[int, dict[str, Any]] = {}
    with _folder().joinpath(STEP_PROFILE[0]).open() as fh:
        for r in csv.DictReader(fh):
            e = rows.setdefault(int(r["bucket"]), {"gemm": 0.0, "attention": 0.0, "glue": 0.0, "gaps": 0.0, "n": 0})
            e[kernel_class(r["name"])] += float(r["dur_us"])
            e["gaps"] += float(r["gap_us"])
            e["n"] += 1
    with _folder().joinpath(STEP_PROFILE[1]).open() as fh:
        events = {int(r["bucket"]): float(r["event_us"]) for r in csv.DictReader(fh)}
    out = []
    for b, m in sorted(rows.items()):
        if b not in cost.spec.buckets:
            continue
        model = {"gemm": 0.0, "attention": 0.0, "glue": 0.0}
        parts = cost.decode_breakdown(b)
        for _, klass, t in parts:
            model[klass] += t * 1e6
        model["gaps"] = len(parts) * cost.host.graph_gap_s * 1e6
        model["n"] = len(parts)
        model["total"] = sum(model[k] for k in ("gemm", "attention", "glue", "gaps"))
        m["span"] = sum(m[k] for k in ("gemm", "attention", "glue", "gaps"))
        out.append({"bucket": b, "measured": {**m, "event": events.get(b)}, "model": model})
    return out


def check(run: str, variant: str, own_host: bool = True, calibration: str = "kernels",
          host_state: str | None = None) -> dict[str, Any]:
    """Everything for one run and variant: iteration table, load table, saturation, calibration sources."""
    data = read_run(run)
    cost, host_label = server_cost(run, variant, data["meta"], own_host, calibration, host_state)
    table = load_table(data, variant, cost)
    return {"run": run, "variant": variant, "calibration": calibration, "host_state": host_state,
            "sources": host_label,
            "iterations": iteration_table(data, variant, cost),
            "loads": table, "saturation": saturation(table, data["meta"], variant, cost)}
