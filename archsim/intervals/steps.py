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
from archsim.intervals.attach import interval_s, sum_intervals, validated_on
from archsim.intervals.conformal import LEVELS
from archsim.intervals.sources import Point, size_class
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
                        "kind": "whole-model campaign (GPU-busy and wall time per step, archsim.gpu.wholemodel)",
                        "rows_used": len(rows), "rows_skipped": 0, "rows_noisy": 0,
                        "profiles": kernels.relative_to(DATA_DIR).as_posix()})
    return points, records


def for_stack(pred: Any, tables: Tables | None = None) -> dict[str, Any]:
    """Intervals for a :class:`archsim.gpu.stack_run.StackPrediction`: per phase and in total, GPU-busy and wall.

    Phases of one stack can share a cell (fully correlated) and sum like operators
    (:func:`archsim.intervals.attach.sum_intervals`).
    """
    from archsim.gpu.stack_run import STACK_OF
    tables = tables or default_tables()
    profile = STACK_OF[pred.software]
    phases, terms = [], {"gpu": [], "wall": []}  # type: ignore[var-annotated]
    for ph in pred.phases:
        row: dict[str, Any] = {"phase": ph.phase}
        for quantity, total in (("gpu", ph.gpu_busy_s), ("wall", ph.wall_s)):
            q = step_query(profile, pred.host, quantity, ph.gpu_busy_s / ph.steps, ph.wall_s / ph.steps)
            lk: Lookup = tables.lookup(pred.hardware, q) if pred.hardware in tables.devices() else \
                Lookup(pred.hardware, None, None, q.kernel or "", 0, ())
            name = "gpu_busy_s" if quantity == "gpu" else "wall_s"
            iv = interval_s(lk, total)
            for level in LEVELS:
                row[f"{name}_{level}"] = iv.get(level) if iv else None
            row[f"{name}_validated_on"] = validated_on(lk)
            terms[quantity].append((total, lk))
        phases.append(row)
    totals = {}
    for quantity, name in (("gpu", "gpu_busy_s"), ("wall", "wall_s")):
        s = sum_intervals(terms[quantity])
        totals.update({f"{name}_{level}": s[level] for level in LEVELS})
    return {"device": pred.hardware, "phases": phases, "total": totals, "data": list(tables.data_files(pred.hardware))}
