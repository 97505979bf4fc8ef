"""Intervals on predictions: one kernel (``archsim predict``), every operator of a Result, their sums.

One operator: its cell's ratio interval times its modeled seconds.

A sum of operators (a Result total, a phase): the residual of a cell is treated as ONE shared
calibration error — fully correlated inside a cell (every GEMM of one kernel, bound and size
class is off by the same factor, so their interval widths add linearly) and independent across
cells. Per cell ``c`` with modeled total ``T_c``: centre ``C_c = T_c * exp(m_c)``, low/high
deviations ``C_c - T_c * lo_c`` and ``T_c * hi_c - C_c``. Total: centre ``sum C_c``, and the
deviations at the same level added in quadrature (root-sum-square: exact for normal cell errors,
an approximation otherwise). Cells are not truly independent — one miscalibrated HBM bandwidth
moves every memory-bound cell — so a sum over many cells is, if anything, too narrow; the
per-cell intervals are the honest figures. Unvalidated operators (not costed by the validated
GPU model) enter the total at their point value and are named.
"""

from __future__ import annotations

import math
import re
from typing import Any

from archsim.intervals.conformal import LEVELS
from archsim.intervals.sources import regime, size_class
from archsim.intervals.tables import Lookup, Query, Tables, default_tables

#: The model the residuals belong to (a Result from another backend is unvalidated).
VALIDATED_BACKEND = "gpu"
CORRELATION = ("fully correlated within a cell (shared calibration error), independent across cells "
               "(deviations added in quadrature); unvalidated operators at their point value")


def interval_s(lk: Lookup, modeled_s: float) -> dict[str, list[float]] | None:
    """``{"p80": [lo, hi], "p95": [lo, hi]}`` seconds for a prediction of ``modeled_s``, or None."""
    if lk.fit is None:
        return None
    out = {}
    for name in LEVELS:
        iv = lk.fit.ratio_interval(name)
        if iv is not None:
            out[name] = [modeled_s * iv[0], modeled_s * iv[1]]
    return out


def validated_on(lk: Lookup, reason: str | None = None) -> dict[str, Any]:
    """Where the interval came from: device, n, cell, status (validated | fallback | unvalidated), data files."""
    out: dict[str, Any] = {"device": lk.device, "n": lk.fit.n if lk.fit else 0, "cell": lk.cell,
                           "status": lk.status, "data": list(lk.data)}
    if lk.fit is not None:
        out["median_ratio_measured_over_modeled"] = math.exp(lk.fit.center_log)
    if lk.fallback:
        out["fallback"] = lk.fallback
    if lk.fit is None:
        out["reason"] = reason or f"no validation measurements for {lk.device!r}"
    return out


def _unvalidated(device: str, finest: str, reason: str) -> tuple[Lookup, str]:
    return Lookup(device, None, None, finest, 0, ()), reason


def _resolve(tables: Tables, device: str, q: Query) -> tuple[Lookup, str | None]:
    if device not in tables.devices():
        return _unvalidated(device, "all", f"no validation measurements for hardware {device!r} (validated: "
                                           f"{', '.join(tables.devices())}); no interval is invented")
    return tables.lookup(device, q), None


def for_prediction(pred: Any, tables: Tables | None = None) -> dict[str, Any]:
    """``interval_s`` and ``validated_on`` for a :class:`archsim.gpu.predict.Prediction`."""
    tables = tables or default_tables()
    group, impl = pred.kernel.split("/", 1)
    family = "gemm" if group == "gemm" else pred.family
    q = Query(kernel=f"{family}/{impl}", family=family, regime=regime(pred.bound), size=size_class(pred.latency_s))
    lk, reason = _resolve(tables, pred.hardware, q)
    return {"interval_s": interval_s(lk, pred.latency_s), "validated_on": validated_on(lk, reason)}


#: Operator kinds the GPU backend costs as streaming kernels (archsim.gpu.backend: Softmax and the
#: _Streaming operators); no validation campaign has timed these kernels alone yet.
STREAMING_KINDS = ("softmax", "norm", "elementwise")


def op_query(kind: str, shape: dict, bound: str, time_s: float, dtype: str = "bf16") -> Query | None:
    """The cell query of one GPU-backend operator; None when the GPU model does not cost it (roofline fallback).

    Cells of whole-model residuals of the operator's category come first (``op=...``, from
    :mod:`archsim.intervals.whole_model`); then the kernel cells.
    Mirrors :func:`archsim.gpu.backend.op_launches`: GEMMs and the unfused score/context GEMMs run
    as cuBLAS kernels, fused attention without a window as FlashAttention-2 (SDPA FLASH;
    ``seq_q == 1`` is decode), softmax/norm/elementwise as streaming kernels (their queries fall
    back to the device's cells of the same bound, and say so); MoE expert groups, copies,
    collectives, windowed attention and dtypes the GPU model lacks are costed by the roofline.
    """
    from archsim.gpu.kernels import ELEM
    if dtype not in ELEM:
        return None
    r, size = regime(bound), size_class(time_s)
    phase = "decode" if shape.get("seq_q") == 1 else "prefill"
    op = op_category(kind, phase)
    if kind in ("gemm", "attention_scores", "attention_context"):
        return Query(kernel="gemm/cublas", family="gemm", regime=r, size=size, op=op)
    if kind == "attention":
        if shape.get("window"):
            return None
        return Query(kernel=f"{phase}/flash2", family=phase, regime=r, size=size, op=op)
    if kind in STREAMING_KINDS:
        return Query(kernel=kind, family=None, regime=r, size=size, op=op)
    return None


def op_category(kind: str, phase: str) -> str | None:
    """The whole-model profiler category an operator kind is timed under (:mod:`archsim.intervals.whole_model`)."""
    if kind == "gemm":
        return "gemm"
    if kind in ("attention", "attention_scores", "attention_context", "softmax"):
        return f"attention/{phase}"
    return kind if kind in ("norm", "elementwise") else None


def sum_intervals(items: list[tuple[float, Lookup]]) -> dict[str, Any]:
    """Interval of a sum of ``(modeled seconds, lookup)`` terms (see the module docstring)."""
    by_cell: dict[str, tuple[float, Lookup]] = {}
    unvalidated = fallback = 0.0
    for t, lk in items:
        if lk.fit is None or lk.cell is None:
            unvalidated += t
            continue
        if lk.status == "fallback":
            fallback += t
        prev = by_cell.get(lk.cell, (0.0, lk))[0]
        by_cell[lk.cell] = (prev + t, lk)
    total = sum(t for t, _ in items)
    center = unvalidated + sum(t * math.exp(lk.fit.center_log) for t, lk in by_cell.values() if lk.fit)
    out: dict[str, Any] = {"modeled_s": total, "center_s": center, "cells": len(by_cell),
                           "unvalidated_s": unvalidated, "fallback_s": fallback}
    for name in LEVELS:
        below = above = 0.0
        for t, lk in by_cell.values():
            iv = lk.fit.ratio_interval(name) if lk.fit else None
            if iv is None:
                continue
            c = t * math.exp(lk.fit.center_log) if lk.fit else t
            below += (c - t * iv[0]) ** 2
            above += (t * iv[1] - c) ** 2
        out[name] = [center - math.sqrt(below), center + math.sqrt(above)] if by_cell else None
    return out


def result_device(hardware: str) -> str:
    """The device preset whose cells apply: ``hardware`` itself, or ``D`` of a parallel run's ``"NODE (D xN)"``."""
    m = re.fullmatch(r".+ \((\S+) x\d+\)", hardware)
    return m.group(1) if m else hardware


def attach_intervals(result: Any, tables: Tables | None = None) -> dict[str, Any]:
    """Compute intervals for every operator, each phase and the total of ``result``; set ``result.intervals``.

    Returns the same dict: ``{"device", "backend", "data", "correlation", "ops": [...], "phases": {...},
    "total": {...}}``; a total's ``status``: ``validated`` (every operator in its finest cell),
    ``fallback`` (some in coarser cells), ``partial`` (some unvalidated, at their point value) or
    ``unvalidated`` (no interval); ``ops[i]`` belongs to ``result.ops[i]`` (per-execution ``time_s_p80`` etc.,
    ``total_time_s_p80`` for all ``count`` executions, cell, status, fallback).
    """
    tables = tables or default_tables()
    device = result_device(result.hardware)
    backend_reason = None if result.backend == VALIDATED_BACKEND else (
        f"backend {result.backend!r} is not the GPU model the validation residuals belong to")
    ops: list[dict[str, Any]] = []
    terms: list[tuple[float, Lookup]] = []
    by_phase: dict[str, list[tuple[float, Lookup]]] = {}
    for o in result.ops:
        costed_by = getattr(o, "costed_by", result.backend)  # a driver that records per-operator fallback
        q = None if backend_reason or costed_by != VALIDATED_BACKEND else \
            op_query(o.kind, o.shape, o.bound, o.time_s, o.dtype)
        why: str | None
        if q is None:
            why = backend_reason or f"operator kind {o.kind!r} is not costed by the validated GPU model"
            lk, why = _unvalidated(device, "all", why)
        else:
            lk, why = _resolve(tables, device, q)
        iv, total_iv = interval_s(lk, o.time_s), interval_s(lk, o.total_time_s)
        row: dict[str, Any] = {"name": o.name, "phase": o.phase, **validated_on(lk, why)}
        row.pop("data")
        for name in LEVELS:
            row[f"time_s_{name}"] = iv.get(name) if iv else None
            row[f"total_time_s_{name}"] = total_iv.get(name) if total_iv else None
        ops.append(row)
        terms.append((o.total_time_s, lk))
        by_phase.setdefault(o.phase, []).append((o.total_time_s, lk))
    data = list(tables.data_files(device))
    out = {"device": device, "backend": result.backend, "data": data, "correlation": CORRELATION,
           "method": tables.raw.get("method"), "ops": ops,
           "phases": {p: _total(t, "latency_s") for p, t in by_phase.items()},
           "total": _total(terms, "latency_s"),
           "unvalidated_ops": sorted({r["name"] for r in ops if r["status"] == "unvalidated"})}
    result.intervals = out
    return out


def _total(terms: list[tuple[float, Lookup]], prefix: str) -> dict[str, Any]:
    s = sum_intervals(terms)
    out = {f"{prefix}_{name}": s[name] for name in LEVELS}
    status = "unvalidated" if s["cells"] == 0 else "partial" if s["unvalidated_s"] > 0 else \
        "fallback" if s["fallback_s"] > 0 else "validated"
    out.update({"center_s": s["center_s"], "unvalidated_s": s["unvalidated_s"], "fallback_s": s["fallback_s"],
                "cells": s["cells"], "status": status})
    return out


def op_columns(intervals: dict[str, Any]) -> list[dict[str, Any]]:
    """Flat per-operator columns (for ``ops.csv`` / ``Result.rows()``), in ``result.ops`` order."""
    cols = []
    for r in intervals["ops"]:
        row: dict[str, Any] = {"interval_status": r["status"], "interval_cell": r["cell"], "interval_n": r["n"]}
        for name in LEVELS:
            iv = r[f"time_s_{name}"]
            row[f"time_s_{name}_lo"], row[f"time_s_{name}_hi"] = iv if iv else (math.nan, math.nan)
        cols.append(row)
    return cols


def sweep_columns(result: Any, tables: Tables | None = None) -> dict[str, Any]:
    """Flat columns of the total for one sweep point: ``latency_s_p80_lo`` ... ``interval_status``."""
    iv = getattr(result, "intervals", None) or attach_intervals(result, tables)
    total = iv["total"]
    row: dict[str, Any] = {"interval_status": total["status"], "interval_unvalidated_s": total["unvalidated_s"]}
    for name in LEVELS:
        lo_hi = total[f"latency_s_{name}"]
        row[f"latency_s_{name}_lo"], row[f"latency_s_{name}_hi"] = lo_hi if lo_hi else (math.nan, math.nan)
    return row
