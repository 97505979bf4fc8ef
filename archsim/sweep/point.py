"""Simulating one sweep point and flattening its Result into one results-table row.

Runs inside engine workers (process pool or Ray): the input is plain data (a resolved,
already-validated configuration), the output a flat dict of numbers and strings. Nothing here
reads the clock, so the same point gives the same row on any engine, in any order.

Output columns (SI units in the names):
``latency_s``, ``energy_j``, ``flops``, ``utilization`` (matrix FLOPs / (latency x the matrix
peak of the workload dtype)), ``bound`` (the bound of the operators holding most of the time) and
``bound_time_share``, ``bytes_<level>`` per memory level, ``latency_<phase>_s`` per phase,
``tokens_per_s``, ``energy_per_token_j``, ``area_m2`` and ``capex_usd`` /
``rental_usd_per_hour`` when the hardware states them, ``usd_per_million_tokens`` from the
rental price, plus ``backend_used`` (what ``auto`` resolved to), ``hardware`` and ``family``. Points whose hardware is a
``system`` go to :mod:`archsim.sweep.system_point` (decode serving with attention offloading).
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import TypeAdapter

from archsim.schemas.hardware import Hardware
from archsim.schemas.workload import Workload

_HARDWARE = TypeAdapter(Hardware)
_WORKLOAD = TypeAdapter(Workload)

#: A task: (point index, resolved config).
Task = tuple[int, dict[str, Any]]


def result_outputs(result: Any, hardware: Any) -> dict[str, Any]:
    """Flatten a :class:`~archsim.result.Result` into output columns."""
    latency = result.latency_s
    out: dict[str, Any] = {
        "backend_used": result.backend, "hardware": result.hardware, "family": result.family,
        "latency_s": latency, "energy_j": result.energy_j, "flops": result.flops,
    }
    dtypes = {o.dtype for o in result.ops}
    peaks = [result.peaks.get("matrix_flops_per_s", {}).get(d) for d in dtypes]
    peak = max((p for p in peaks if p), default=None)
    matrix_flops = sum(o.matrix_flops * o.count for o in result.ops)
    out["utilization"] = matrix_flops / (latency * peak) if peak and latency else math.nan
    by_bound: dict[str, float] = {}
    for o in result.ops:
        by_bound[o.bound] = by_bound.get(o.bound, 0.0) + o.total_time_s
    if by_bound and latency:
        bound = max(sorted(by_bound), key=lambda b: by_bound[b])
        out["bound"], out["bound_time_share"] = bound, by_bound[bound] / latency
    for level, nbytes in result.bytes_by_level().items():
        out[f"bytes_{level}"] = nbytes
    tokens = 0
    for phase, values in result.by_phase().items():
        out[f"latency_{phase}_s"] = values["latency_s"]
        tokens += values.get("tokens", 0)
    out["tokens_per_s"] = tokens / latency if tokens and latency else math.nan
    out["energy_per_token_j"] = result.energy_j / tokens if tokens else math.nan
    out["area_m2"] = getattr(hardware, "area_m2", None) or math.nan
    cost = getattr(hardware, "cost", None)
    out["capex_usd"] = cost.capex_usd if cost and cost.capex_usd is not None else math.nan
    rental = cost.rental_usd_per_hour if cost and cost.rental_usd_per_hour is not None else None
    out["rental_usd_per_hour"] = rental if rental is not None else math.nan
    out["usd_per_million_tokens"] = (rental * latency / 3600 / tokens * 1e6) if rental is not None and tokens \
        else math.nan
    if getattr(result, "intervals", None) is not None:  # latency_s_calibrated, latency_s_p80_lo ..., interval_status
        from archsim.intervals.attach import sweep_columns

        out.update(sweep_columns(result))
    return out


def run_point(task: Task) -> dict[str, Any]:
    """Simulate one point; a model error becomes an ``error`` row instead of stopping the sweep."""
    from archsim.api import simulate

    index, config = task
    try:
        hardware = _HARDWARE.validate_python(config["hardware"])
        workload = _WORKLOAD.validate_python(config["workload"])
        if config.get("serving") is not None:
            from archsim.serving.sweep_point import serving_outputs

            return {"point": index, "status": "ok", "error": ""} | serving_outputs(workload, hardware,
                                                                                   config["serving"])
        if hardware.family == "system":
            from archsim.sweep.system_point import system_outputs

            return {"point": index, "status": "ok", "error": ""} | system_outputs(workload, hardware)
        result = simulate(workload, hardware, backend=config["backend"])
        return {"point": index, "status": "ok", "error": ""} | result_outputs(result, hardware)
    except Exception as exc:  # noqa: BLE001 - by design: any model failure is recorded per point
        return {"point": index, "status": "error", "error": f"{type(exc).__name__}: {exc}"}


def run_chunk(tasks: list[Task]) -> list[dict[str, Any]]:
    """Simulate several points (one engine task; amortises dispatch overhead)."""
    return [run_point(t) for t in tasks]
