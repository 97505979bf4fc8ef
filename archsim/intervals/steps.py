"""Intervals for whole-model steps under a software stack (``archsim stack``, :mod:`archsim.gpu.stack_run`).

Residuals: every whole-model campaign row (``*-wm-whole-*.csv``, ``*-wm-holdout-whole-*.csv`` with
their ``*-kernels-*`` profiles) re-predicted by :func:`archsim.gpu.wholemodel.compare_whole` — the
same parity the whole-model report uses — with the device's own calibration. Two quantities:

- GPU-busy time (profiler kernel sum, capped by the step's event time): kernel ``step/<profile>/gpu``,
  one residual per case (eager and graph replay run the same kernels; the graph row is kept);
- wall time: kernel ``step/<profile>/<host>/wall``, regime ``host`` when the model calls the step
  host-bound (wall > 1.2 x GPU-busy, :data:`archsim.gpu.stack_run.HOST_BOUND_RATIO`), else ``gpu``.

Step cells never mix with kernel cells: their chain ends at ``family=step/gpu`` / ``family=step/wall``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from archsim.data import DATA_DIR
from archsim.intervals.attach import validated_on
from archsim.intervals.estimate import from_lookup, from_sum
from archsim.intervals.sources import RECORD_KIND_OF, STEPS, Point, cell_kind, size_class
from archsim.intervals.tables import Lookup, Query, Tables, default_tables


def step_query(profile: str, host: str, quantity: str, modeled_gpu_s: float, modeled_wall_s: float) -> Query:
    """The cell query of one step's ``quantity`` (``gpu`` or ``wall``) for stack ``profile`` and ``host`` mode."""
    from archsim.gpu.stack_run import HOST_BOUND_RATIO
    if quantity == "gpu":
        return Query(kernel=f"step/{profile}/gpu", family="step/gpu", regime="gpu", size=size_class(modeled_gpu_s))
    regime = "host" if modeled_wall_s > HOST_BOUND_RATIO * modeled_gpu_s else "gpu"
    return Query(kernel=f"step/{profile}/{host}/wall", family="step/wall", regime=regime,
                 size=size_class(modeled_wall_s))


def whole_model_steps(device_dir: Path, preset: str) -> tuple[list[Point], list[dict]]:
    """Points (GPU-busy and wall time per step) from every whole-model campaign in ``device_dir``."""
    from archsim.gpu.devices import device_calibration
    from archsim.gpu.wholemodel import compare_whole, is_whole_model_csv

    whole = [p for p in sorted(device_dir.glob("*-wm*-whole-*.csv")) if is_whole_model_csv(p)]
    if not whole or preset not in ("h200", "h100-sxm"):
        return [], []
    cal = device_calibration(preset, "own")
    points: list[Point] = []
    records: list[dict] = []
    for csv_path in whole:
        kernels = csv_path.with_name(csv_path.name.replace("-whole-", "-kernels-"))
        rel = csv_path.relative_to(DATA_DIR).as_posix()
        rows = compare_whole(csv_path, kernels, cal)
        gpu_cases: dict[tuple, dict] = {}
        for r in rows:
            case = (r["model"], r["stack"], r["phase"], r["batch"], r["seq_len"], r["context"], r["layers"])
            if case not in gpu_cases or r["host"] == "cuda-graph":
                gpu_cases[case] = r
            family = f"wm {r['model']} {r['stack']} {r['phase']}"
            groups = {"shape": f"{family} b{r['batch']} s{r['seq_len']} c{r['context']}", "shape_family": family,
                      "campaign": f"{rel}:{r['host']}"}
            q = step_query(r["stack"], r["host"], "wall", r["modeled_gpu_s"], r["modeled_wall_s"])
            points.append(Point(device=preset, kernel=q.kernel or "", family="step/wall", regime=q.regime,
                                size=q.size, ratio=r["measured_wall_s"] / r["modeled_wall_s"],
                                modeled_s=r["modeled_wall_s"], source=rel,
                                groups={**groups, "shape": groups["shape"] + f" {r['host']} wall"}))
        for r in gpu_cases.values():
            family = f"wm {r['model']} {r['stack']} {r['phase']}"
            q = step_query(r["stack"], r["host"], "gpu", r["modeled_gpu_s"], r["modeled_wall_s"])
            points.append(Point(device=preset, kernel=q.kernel or "", family="step/gpu", regime="gpu", size=q.size,
                                ratio=r["measured_gpu_s"] / r["modeled_gpu_s"], modeled_s=r["modeled_gpu_s"],
                                source=rel, groups={"shape": f"{family} b{r['batch']} s{r['seq_len']} "
                                                             f"c{r['context']} gpu", "shape_family": family,
                                                    "campaign": f"{rel}:gpu"}))
        records.append({"file": rel, "sha256": hashlib.sha256(csv_path.read_bytes()).hexdigest(),
                        "kind": RECORD_KIND_OF[STEPS],
                        "rows_used": len(rows), "rows_skipped": 0, "rows_noisy": 0,
                        "profiles": kernels.relative_to(DATA_DIR).as_posix()})
    return points, records


def for_stack(pred: Any, tables: Tables | None = None) -> dict[str, Any]:
    """Intervals for an ``archsim stack`` prediction: per phase and in total, GPU-busy and wall time.

    ``pred``: a :class:`archsim.gpu.stack_run.StackPrediction` or its ``to_dict()`` (``Result.stack``).
    Each phase row and the total carry, for ``Q`` in ``gpu_busy_s`` / ``wall_s``: ``Q`` (modeled),
    ``Q_calibrated``, ``Q_p80``, ``Q_p95`` (:meth:`archsim.intervals.estimate.Estimate.fields`) and
    ``Q_status``; rows also ``Q_validated_on``. Phases of one stack can share a cell (fully correlated)
    and sum like operators (:func:`archsim.intervals.estimate.from_sum`). The step residuals were taken
    with the device's own calibration: a ``cross``-calibrated prediction, or a device without
    whole-model step measurements, is unvalidated (``reason`` says which).
    """
    from archsim.gpu.stack_run import STACK_OF
    from archsim.intervals.attach import calibrated_on
    tables = tables or default_tables()
    d = pred if isinstance(pred, dict) else pred.to_dict()
    device, profile = d["hardware"], STACK_OF[d["software"]]
    reason = _unvalidated_reason(tables, device, d.get("calibration", "own"))
    phases, terms = [], {"gpu_busy_s": [], "wall_s": []}  # type: ignore[var-annotated]
    for ph in d["phases"]:
        row: dict[str, Any] = {"phase": ph["phase"]}
        for quantity, name in (("gpu", "gpu_busy_s"), ("wall", "wall_s")):
            q = step_query(profile, d["host"], quantity, ph["gpu_busy_s"] / ph["steps"], ph["wall_s"] / ph["steps"])
            lk = Lookup(device, None, None, q.kernel or "", 0, ()) if reason else tables.lookup(device, q)
            est = from_lookup(lk, ph[name])
            row.update({name: ph[name], **est.fields(name), f"{name}_status": est.status,
                        f"{name}_validated_on": validated_on(lk, reason)})
            terms[name].append((ph[name], lk))
        phases.append(row)
    total: dict[str, Any] = {}
    sums = {name: from_sum(t) for name, t in terms.items()}
    for name, est in sums.items():
        total.update({name: est.modeled_s, **est.fields(name), f"{name}_status": est.status})
    return {"device": device, "phases": phases, "total": total, "data": list(tables.data_files(device, STEPS)),
            "calibrated_on": {name: calibrated_on(tables, device, est, reason) for name, est in sums.items()},
            "reason": reason}


def _unvalidated_reason(tables: Tables, device: str, calibration: str) -> str | None:
    """Why a stack prediction gets no step interval, or None when the device has step cells."""
    if calibration != "own":
        return (f"calibration {calibration!r}: the step residuals were taken with {device}'s own calibration, "
                "so they do not describe this prediction")
    if not any(cell_kind(c) == STEPS for c in tables.cells.get(device, {})):
        with_steps = [d for d in tables.devices() if any(cell_kind(c) == STEPS for c in tables.cells[d])]
        return (f"no whole-model step measurements for {device!r} (step intervals exist for "
                f"{', '.join(with_steps) or 'no device'})")
    return None
