"""One sweep point as a serving scenario (a sweep's ``base.serving`` section): its summary as flat columns.

Columns (SI): ``requests``, ``ttft_p50_s``, ``ttft_p99_s``, ``tbt_mean_p50_s``, ``tbt_p99_p99_s``,
``e2e_p50_s``, ``e2e_p99_s``, ``requests_per_s``, ``output_tokens_per_s``, ``utilization`` (the busiest
worker), ``preemptions``, ``goodput_requests_per_s`` and ``goodput_fraction`` (with an ``slo``),
``usd_per_million_tokens`` (with ``usd_per_hour``), ``little_gap`` (whole-run relative gap), ``latency_s``
(= ``e2e_p50_s``, the median request's end-to-end latency, for the sweep report's Pareto front; ``energy_j``
is NaN: the serving simulator has no energy), plus
``backend_used``, ``hardware``, ``family``, ``scheduler``, ``load_qps``. A sweep over ``serving.load_qps``
finds the load at which the goodput fraction falls below a target (the capacity at an SLO).
"""

from __future__ import annotations

import math
from typing import Any

from archsim import limits
from archsim.serving.scenario import parse_lengths, serve


def serving_outputs(workload: Any, hardware: Any, spec: dict[str, Any]) -> dict[str, Any]:
    prompt = parse_lengths(spec["prompt"], max_tokens=limits.MAX_SEQ_LEN, flag="serving.prompt")
    output = parse_lengths(spec["output"], max_tokens=limits.MAX_SEQ_LEN, flag="serving.output")
    sc = serve(workload, hardware, load_qps=spec["load_qps"], duration_s=spec["duration_s"],
               scheduler=spec["scheduler"], seed=spec["seed"], prompt=prompt, output=output,
               options=spec["options"], slo=spec["slo"], usd_per_hour=spec["usd_per_hour"])
    s = sc.summary
    goodput = s.get("goodput", {})
    cost = s.get("cost", {})
    return {
        "backend_used": sc.cost.backend.inner.name, "hardware": s["hardware"], "family": hardware.family,
        "scheduler": s["scheduler"], "load_qps": spec["load_qps"], "requests": s["requests"],
        "ttft_p50_s": s["ttft_s"]["p50"], "ttft_p99_s": s["ttft_s"]["p99"],
        "tbt_mean_p50_s": s["tbt_mean_s"]["p50"] if s["tbt_mean_s"]["p50"] is not None else math.nan,
        "tbt_p99_p99_s": s["tbt_p99_s"]["p99"] if s["tbt_p99_s"]["p99"] is not None else math.nan,
        "e2e_p50_s": s["e2e_s"]["p50"], "e2e_p99_s": s["e2e_s"]["p99"], "latency_s": s["e2e_s"]["p50"],
        "energy_j": math.nan,
        "requests_per_s": s["throughput"]["requests_per_s"],
        "output_tokens_per_s": s["throughput"]["output_tokens_per_s"],
        "utilization": max(s["utilisation"].values()), "preemptions": s["preemptions"],
        "goodput_requests_per_s": goodput.get("requests_per_s", math.nan),
        "goodput_fraction": goodput.get("fraction", math.nan),
        "usd_per_million_tokens": cost.get("usd_per_million_output_tokens", math.nan),
        "little_gap": s["littles_law"]["whole_run_rel_gap"],
    }
