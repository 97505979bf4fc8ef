"""One sweep point as a serving scenario (a sweep's ``base.serving`` section): its summary as flat columns.

Columns (SI): ``requests``, ``ttft_p50_s``, ``ttft_p99_s``, ``tbt_mean_p50_s``, ``tbt_p99_p99_s``,
``e2e_p50_s``, ``e2e_p99_s``, ``requests_per_s``, ``output_tokens_per_s``, ``utilization`` (the busiest
worker), ``preemptions``, ``goodput_requests_per_s`` and ``goodput_fraction`` (with an ``slo``),
``usd_per_million_tokens`` (with ``usd_per_hour``), ``little_gap`` (whole-run relative gap), ``latency_s``
(= ``e2e_p50_s``, the median request's end-to-end latency, for the sweep report's Pareto front; ``energy_j``
is NaN: the serving simulator has no energy), plus
``backend_used``, ``hardware``, ``family``, ``scheduler``, ``load_qps``, ``placement`` (the name:
:mod:`archsim.serving.placement`) and ``off_gpu_time_share`` (share of the iterations' time in operators
placed off the GPU; NaN with attention offloading). A sweep over ``serving.load_qps`` finds the load at which
the goodput fraction falls below a target (the capacity at an SLO); one over ``serving.placement`` compares
device choices. :func:`check_serving` checks the scheduler and placement names of the base and of every axis
value, and each placement against the base hardware, when the plan is built (file, line and key; exit 2).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from archsim import limits
from archsim.errors import ConfigError, Problem
from archsim.serving.placement import check_placement
from archsim.serving.scenario import parse_lengths, serve
from archsim.serving.schedulers import scheduler_names

#: An axis of the plan as the check sees it: (its key in the sweep file, its parsed path or None, its values).
AxisValues = tuple[tuple[Any, ...], tuple[Any, ...] | None, list[Any]]
_NAMED = (("serving", "scheduler"), ("serving", "placement"))


def serving_outputs(workload: Any, hardware: Any, spec: dict[str, Any]) -> dict[str, Any]:
    prompt = parse_lengths(spec["prompt"], max_tokens=limits.MAX_SEQ_LEN, flag="serving.prompt")
    output = parse_lengths(spec["output"], max_tokens=limits.MAX_SEQ_LEN, flag="serving.output")
    sc = serve(workload, hardware, load_qps=spec["load_qps"], duration_s=spec["duration_s"],
               scheduler=spec["scheduler"], seed=spec["seed"], prompt=prompt, output=output,
               options=spec["options"], slo=spec["slo"], usd_per_hour=spec["usd_per_hour"],
               placement=spec.get("placement", "gpu"))
    s = sc.summary
    share = s["placement"]["off_gpu_time_share"]
    backend = sc.cost.backend if hasattr(sc.cost, "backend") else None
    goodput = s.get("goodput", {})
    cost = s.get("cost", {})
    return {
        "backend_used": getattr(backend, "inner", backend).name if backend is not None else type(sc.cost).__name__,
        "hardware": s["hardware"], "family": hardware.family,
        "scheduler": s["scheduler"], "load_qps": spec["load_qps"], "requests": s["requests"],
        "placement": s["placement"]["name"], "off_gpu_time_share": math.nan if share is None else share,
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


def check_serving(base: dict[str, Any], axes: list[AxisValues],
                  problem: Callable[[str, tuple[Any, ...]], Problem]) -> list[Problem]:
    """Problems of a sweep's serving names, before any point runs: the base section's ``scheduler`` and
    ``placement`` and every axis value of ``serving.scheduler`` / ``serving.placement`` must be registered,
    and each placement must run on the base hardware (not a non-GPU device, not a system that offloads
    attention). ``problem(message, key)`` makes a Problem at ``key`` of the sweep file."""
    from pydantic import TypeAdapter

    from archsim.schemas.hardware import Hardware

    hardware = TypeAdapter(Hardware).validate_python(base["hardware"])
    found: list[Problem] = []
    schedulers = scheduler_names()
    values = [(("base", "serving", k), k, [base["serving"][k]]) for k in ("scheduler", "placement")]
    values += [(key, path[1], vals) for key, path, vals in axes if path in _NAMED]
    for key, field, vals in values:
        for value in dict.fromkeys(map(str, vals)):
            if field == "scheduler" and value not in schedulers:
                found.append(problem(f"unknown scheduler {value!r}; valid: {', '.join(schedulers)}", key))
            elif field == "placement":
                try:
                    check_placement(value, hardware, key_path="placement")
                except ConfigError as exc:
                    found.append(problem(exc.problems[0].message, key))
    return found
