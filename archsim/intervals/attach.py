"""Intervals on predictions: one kernel (``archsim predict``), every operator of a Result, their sums.

Each carries an :class:`archsim.intervals.estimate.Estimate`: the modeled time, the calibrated time
(modeled x the cell's median measured/modeled) and the conformal intervals, which always contain the
calibrated time. One operator: its cell's ratios times its modeled seconds.

A sum of operators (a Result total, a phase): the residual of a cell is treated as ONE shared
calibration error — fully correlated inside a cell (every GEMM of one kernel, bound and size
class is off by the same factor, so their interval widths add linearly) and independent across
cells (:func:`archsim.intervals.estimate.from_sum`: deviations from the calibrated value added in
quadrature — exact for normal cell errors, an approximation otherwise). Cells are not truly
independent — one miscalibrated HBM bandwidth moves every memory-bound cell — so a sum over many
cells is, if anything, too narrow; the per-cell intervals are the honest figures. Unvalidated
operators (not costed by the validated GPU model) enter the total at their modeled value and are named.
"""

from __future__ import annotations

import math
import re
from typing import Any

from archsim.intervals.conformal import LEVELS
from archsim.intervals.estimate import Estimate, from_lookup, from_sum
from archsim.intervals.sources import regime, size_class
from archsim.intervals.tables import Lookup, Query, Tables, default_tables

#: The model the residuals belong to (a Result from another backend is unvalidated).
VALIDATED_BACKEND = "gpu"
CORRELATION = ("fully correlated within a cell (shared calibration error), independent across cells "
               "(deviations added in quadrature); unvalidated operators at their modeled value")


def validated_on(lk: Lookup, reason: str | None = None) -> dict[str, Any]:
    """Where the interval came from: device, n, cell, status (validated | fallback | unvalidated), data files."""
    out: dict[str, Any] = {"device": lk.device, "n": lk.fit.n if lk.fit else 0, "cell": lk.cell,
                           "status": lk.status, "data": list(dict.fromkeys(lk.data))}
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
    """``latency_s_calibrated``, ``latency_s_p80``, ``latency_s_p95`` (see :meth:`Estimate.fields`),
    ``validated_on`` (the cell) and ``calibrated_on`` (:func:`calibrated_on`) for a
    :class:`archsim.gpu.predict.Prediction` (whose own ``latency_s`` is the modeled time)."""
    tables = tables or default_tables()
    group, impl = pred.kernel.split("/", 1)
    family = "gemm" if group == "gemm" else pred.family
    q = Query(kernel=f"{family}/{impl}", family=family, regime=regime(pred.bound), size=size_class(pred.latency_s))
    lk, reason = _resolve(tables, pred.hardware, q)
    est = from_lookup(lk, pred.latency_s)
    return {**est.fields("latency_s"), "validated_on": validated_on(lk, reason),
            "calibrated_on": calibrated_on(tables, lk.device, est, reason)}


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


def result_device(hardware: str) -> str:
    """The device preset whose cells apply: ``hardware`` itself, or ``D`` of a parallel run's ``"NODE (D xN)"``."""
    m = re.fullmatch(r".+ \((\S+) x\d+\)", hardware)
    return m.group(1) if m else hardware


def attach_intervals(result: Any, tables: Tables | None = None) -> dict[str, Any]:
    """Compute intervals for every operator, each phase and the total of ``result``; set ``result.intervals``.

    Returns the same dict: ``{"device", "backend", "data", "correlation", "method", "ops": [...],
    "phases": {...}, "total": {...}, "calibrated_on": {...}, "unvalidated_ops": [...]}``.
    ``total`` and each phase: ``latency_s`` (modeled), ``latency_s_calibrated``, ``latency_s_p80`` /
    ``latency_s_p95`` (``[lo, hi]``), ``status`` (:class:`archsim.intervals.estimate.Estimate`), ``cells``
    (how many), ``fallback_s``, ``unvalidated_s``. ``ops[i]`` belongs to ``result.ops[i]``: per execution
    ``time_s_calibrated`` / ``time_s_p80`` ..., for all ``count`` executions ``total_time_s_calibrated`` ...,
    and cell, n, status, fallback. ``calibrated_on``: :func:`calibrated_on` of the total.
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
        row: dict[str, Any] = {"name": o.name, "phase": o.phase, **validated_on(lk, why)}
        row.pop("data")
        row.update(from_lookup(lk, o.time_s).fields("time_s"))
        row.update(from_lookup(lk, o.total_time_s).fields("total_time_s"))
        ops.append(row)
        terms.append((o.total_time_s, lk))
        by_phase.setdefault(o.phase, []).append((o.total_time_s, lk))
    total = from_sum(terms)
    why_none = backend_reason or (_resolve(tables, device, Query(None, None, "", ""))[1] if device not in
                                  tables.devices() else "no operator is costed by the validated GPU model")
    out = {"device": device, "backend": result.backend, "data": list(tables.data_files(device)),
           "correlation": CORRELATION, "method": tables.raw.get("method"), "ops": ops,
           "phases": {p: sum_fields(from_sum(t), "latency_s") for p, t in by_phase.items()},
           "total": sum_fields(total, "latency_s"), "calibrated_on": calibrated_on(tables, device, total, why_none),
           "unvalidated_ops": sorted({r["name"] for r in ops if r["status"] == "unvalidated"})}
    result.intervals = out
    return out


def sum_fields(est: Estimate, quantity: str) -> dict[str, Any]:
    """A sum's record: ``Q`` (modeled), ``Q_calibrated``, ``Q_p80``, ``Q_p95``, status, cells (how many),
    fallback_s, unvalidated_s."""
    return {quantity: est.modeled_s, **est.fields(quantity), "status": est.status, "cells": len(est.cells),
            "fallback_s": est.fallback_s, "unvalidated_s": est.unvalidated_s}


def calibrated_on(tables: Tables, device: str, est: Estimate, reason: str | None = None) -> dict[str, Any]:
    """What an estimate was calibrated on: the device, the kinds of validation data its cells hold, their files,
    and the held-out coverage of those kinds (leave one shape family out, from the tables; None in tables
    fitted before it was recorded); ``reason`` (kept only when the estimate is unvalidated): why it has none."""
    from archsim.intervals.sources import cell_kind
    kinds = sorted({cell_kind(c) for c in est.cells})
    held = tables.held_out(device)
    return {"device": device, "data_kinds": kinds, "cells": list(est.cells),
            "data": list(dict.fromkeys(f for k in kinds for f in tables.data_files(device, k))),
            "held_out_scheme": held["scheme"] if held else None,
            "held_out_coverage": {k: held["by_kind"].get(k) for k in kinds} if held else None,
            "reason": reason if est.status == "unvalidated" else None}


def op_columns(intervals: dict[str, Any]) -> list[dict[str, Any]]:
    """Flat per-operator columns (for ``ops.csv`` / ``Result.rows()``), in ``result.ops`` order."""
    cols = []
    for r in intervals["ops"]:
        row: dict[str, Any] = {"interval_status": r["status"], "interval_cell": r["cell"], "interval_n": r["n"],
                               "time_s_calibrated": r["time_s_calibrated"] if r["time_s_calibrated"] is not None
                               else math.nan}
        for name in LEVELS:
            iv = r[f"time_s_{name}"]
            row[f"time_s_{name}_lo"], row[f"time_s_{name}_hi"] = iv if iv else (math.nan, math.nan)
        cols.append(row)
    return cols


def sweep_columns(result: Any, tables: Tables | None = None) -> dict[str, Any]:
    """Flat columns of the total for one sweep point: ``latency_s_calibrated``, ``latency_s_p80_lo`` ...
    ``interval_status`` (NaN where unvalidated; ``latency_s`` itself is the sweep's modeled column)."""
    iv = getattr(result, "intervals", None) or attach_intervals(result, tables)
    total = iv["total"]
    calibrated = total["latency_s_calibrated"]
    row: dict[str, Any] = {"interval_status": total["status"], "interval_unvalidated_s": total["unvalidated_s"],
                           "latency_s_calibrated": math.nan if calibrated is None else calibrated}
    for name in LEVELS:
        lo_hi = total[f"latency_s_{name}"]
        row[f"latency_s_{name}_lo"], row[f"latency_s_{name}_hi"] = lo_hi if lo_hi else (math.nan, math.nan)
    return row
