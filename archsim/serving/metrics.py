"""Figures of a serving run (data in, numbers out; no files): per-request latencies, percentiles,
throughput, goodput under an SLO, utilisation, Little's law, cost per million tokens.

Definitions (seconds, tokens):
- TTFT = first token time - arrival; TBT = gaps between consecutive output tokens of a request (its
  mean and 99th percentile; NaN for one-token outputs); e2e = last token time - arrival.
- throughput: output tokens (and requests) finished per second of the run (first arrival at 0 to the
  last finish); goodput: requests per second whose TTFT <= ``ttft_ms`` and TBT p99 <= ``tbt_ms``.
- utilisation per worker: busy time (iterations) / run time.
- Little's law on the whole run: the time-average of the requests-in-system step function equals
  arrival rate x mean e2e to rounding (the run drains: every arrival finishes); on the arrival window
  [0, duration) the two sides differ by the sojourn of requests still in the system at its end; the
  stated bound is ``sum of their time in the system after the window / window``.
- cost per million output tokens = USD per hour x devices-hours / output tokens x 1e6.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from archsim.serving.simulator import Run

PERCENTILES = (50, 90, 99)


def request_rows(run: Run) -> dict[str, np.ndarray]:
    """One row per request: arrival_s, prompt/output tokens, ttft_s, tbt_mean_s, tbt_p99_s, e2e_s, preemptions."""
    cols: dict[str, list[float]] = {k: [] for k in ("arrival_s", "prompt_tokens", "output_tokens", "ttft_s",
                                                    "tbt_mean_s", "tbt_p99_s", "e2e_s", "preemptions")}
    for r in run.requests:
        times = np.asarray(r.token_times_s)
        gaps = np.diff(times)
        cols["arrival_s"].append(r.arrival_s)
        cols["prompt_tokens"].append(r.prompt_tokens)
        cols["output_tokens"].append(r.output_tokens)
        cols["ttft_s"].append(times[0] - r.arrival_s)
        cols["tbt_mean_s"].append(float(gaps.mean()) if len(gaps) else math.nan)
        cols["tbt_p99_s"].append(float(np.percentile(gaps, 99)) if len(gaps) else math.nan)
        cols["e2e_s"].append(times[-1] - r.arrival_s)
        cols["preemptions"].append(r.preemptions)
    ints = {"prompt_tokens", "output_tokens", "preemptions"}
    return {k: np.asarray(v, dtype=np.int64 if k in ints else np.float64) for k, v in cols.items()}


def _percentiles(values: np.ndarray) -> dict[str, float | None]:
    v = values[~np.isnan(values)]
    out: dict[str, float | None] = {f"p{p}": (float(np.percentile(v, p)) if len(v) else None) for p in PERCENTILES}
    out["mean"] = float(v.mean()) if len(v) else None
    return out


def step_integral(series: Sequence[tuple[float, float]], start_s: float, end_s: float) -> float:
    """Integral of a right-continuous step function given as (time, value) changes over [start_s, end_s]."""
    total = 0.0
    for (t0, v), (t1, _) in zip(series, [*series[1:], (math.inf, 0.0)], strict=True):
        lo, hi = max(t0, start_s), min(t1, end_s)
        if hi > lo:
            total += v * (hi - lo)
    return total


def littles_law(run: Run, window_s: float, rows: dict[str, np.ndarray] | None = None) -> dict[str, float]:
    """Both sides of L = lambda W on the whole run and on the arrival window, with the window's bound."""
    rows = request_rows(run) if rows is None else rows
    n, end = len(run.requests), run.end_s
    whole_l = step_integral(run.in_system, 0.0, end) / end
    whole_lw = n / end * float(rows["e2e_s"].mean())
    finish = rows["arrival_s"] + rows["e2e_s"]
    in_window = rows["arrival_s"] < window_s
    win_l = step_integral(run.in_system, 0.0, window_s) / window_s
    win_lw = int(in_window.sum()) / window_s * float(rows["e2e_s"][in_window].mean())
    residual = float(np.clip(finish[in_window] - window_s, 0.0, None).sum()) / window_s
    return {"whole_run_L": whole_l, "whole_run_lambda_W": whole_lw,
            "whole_run_rel_gap": abs(whole_l - whole_lw) / whole_lw if whole_lw else 0.0,
            "window_L": win_l, "window_lambda_W": win_lw, "window_gap": abs(win_l - win_lw),
            "window_bound": residual}


def summarise(run: Run, *, window_s: float, slo: dict[str, float] | None = None, usd_per_hour: float | None = None,
              devices: int = 1) -> dict[str, Any]:
    """summary.json's figures (see the module doc); ``devices`` per worker, ``usd_per_hour`` per device."""
    rows = request_rows(run)
    end = run.end_s
    out_tokens = int(rows["output_tokens"].sum())
    busy = {w: sum(i.end_s - i.start_s for i in run.iterations if i.worker == w) for w in run.workers}
    summary: dict[str, Any] = {
        "scheduler": run.scheduler, "requests": len(run.requests), "run_s": end, "arrival_window_s": window_s,
        "ttft_s": _percentiles(rows["ttft_s"]), "tbt_mean_s": _percentiles(rows["tbt_mean_s"]),
        "tbt_p99_s": _percentiles(rows["tbt_p99_s"]), "e2e_s": _percentiles(rows["e2e_s"]),
        "throughput": {"requests_per_s": len(run.requests) / end, "output_tokens_per_s": out_tokens / end,
                       "prompt_tokens_per_s": int(rows["prompt_tokens"].sum()) / end},
        "utilisation": {w: b / end for w, b in busy.items()},
        "iterations": {w: sum(1 for i in run.iterations if i.worker == w) for w in run.workers},
        "preemptions": int(rows["preemptions"].sum()),
        "queue_length": {"mean": step_integral(run.queued, 0.0, end) / end,
                         "max": max(v for _, v in run.queued)},
        "kv_occupancy": {w: {"mean": step_integral(s, 0.0, end) / end, "max": max(v for _, v in s)}
                         for w, s in run.kv_used.items()},
        "littles_law": littles_law(run, window_s, rows),
    }
    if run.link_bytes:
        summary["kv_link"] = {"bytes": run.link_bytes, "busy_s": run.link_busy_s, "utilisation": run.link_busy_s / end}
    if slo:
        ok = np.ones(len(run.requests), dtype=bool)
        if "ttft_ms" in slo:
            ok &= rows["ttft_s"] <= slo["ttft_ms"] / 1e3
        if "tbt_ms" in slo:
            ok &= np.nan_to_num(rows["tbt_p99_s"], nan=0.0) <= slo["tbt_ms"] / 1e3
        summary["goodput"] = {"slo": slo, "requests_per_s": int(ok.sum()) / end, "fraction": float(ok.mean())}
    if usd_per_hour is not None:
        device_hours = devices * len(run.workers) * end / 3600
        summary["cost"] = {"usd_per_device_hour": usd_per_hour, "devices": devices * len(run.workers),
                           "usd": usd_per_hour * device_hours,
                           "usd_per_million_output_tokens": usd_per_hour * device_hours / out_tokens * 1e6}
    return summary
