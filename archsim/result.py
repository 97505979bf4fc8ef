"""Simulation results: per-operator rows, totals, and the files of an output folder.

A Result is data: the reporting layer writes it (:func:`archsim.reporting.run_folder.write_run`:
``summary.json``, ``ops.csv``, ``timeline.json``, ``report.html``, atomically).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import archsim


@dataclass
class OpResult:
    """One operator's cost for ONE execution (``count`` executions happen in total).

    Units: seconds, FLOPs, bytes, joules. ``bound`` names the resource with the largest time
    (``compute``, ``vector``, ``sfu``, ``memory:<level>``, ``launch``).
    """

    name: str
    kind: str
    phase: str
    count: int
    dtype: str
    matrix_flops: float
    vector_flops: float
    transcendentals: float
    useful_flops: float
    bytes_by_level: dict[str, float]
    time_s: float
    time_by_resource: dict[str, float]
    bound: str
    energy_j: float
    energy_by_part: dict[str, float]
    shape: dict[str, Any] = field(default_factory=dict)
    fused: bool = True
    #: the backend whose model costed this operator (the driver's roofline fallback says "roofline")
    costed_by: str = ""

    @property
    def flops(self) -> float:
        return self.matrix_flops + self.vector_flops

    @property
    def total_time_s(self) -> float:
        return self.time_s * self.count

    @property
    def total_energy_j(self) -> float:
        return self.energy_j * self.count


@dataclass
class Result:
    """What a simulation produced. ``to_frame()`` gives one pandas row per operator."""

    workload: str
    hardware: str
    family: str
    backend: str
    ops: list[OpResult]
    peaks: dict[str, Any]
    tokens_by_phase: dict[str, int] = field(default_factory=dict)
    timeline: list[dict[str, Any]] | None = None
    notes: list[str] = field(default_factory=list)
    #: bytes per device (weights, KV cache, activations, capacity) from archsim.capacity, when known
    memory: dict[str, Any] | None = None
    #: prediction intervals from validation residuals (archsim.intervals.attach), per op, phase and total
    intervals: dict[str, Any] | None = None
    #: software stack and host mode with GPU-busy and wall time per phase (archsim.gpu.stack_run), GPU runs
    stack: dict[str, Any] | None = None

    @property
    def gpu_busy_s(self) -> float | None:
        return self.stack["gpu_busy_s"] if self.stack else None

    @property
    def wall_s(self) -> float | None:
        return self.stack["wall_s"] if self.stack else None

    @property
    def latency_s(self) -> float:
        return sum(o.total_time_s for o in self.ops)

    @property
    def energy_j(self) -> float:
        return sum(o.total_energy_j for o in self.ops)

    @property
    def flops(self) -> float:
        return sum(o.flops * o.count for o in self.ops)

    def bytes_by_level(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for o in self.ops:
            for level, b in o.bytes_by_level.items():
                out[level] = out.get(level, 0.0) + b * o.count
        return out

    def by_phase(self) -> dict[str, dict[str, float]]:
        phases: dict[str, dict[str, float]] = {}
        for o in self.ops:
            p = phases.setdefault(o.phase, {"latency_s": 0.0, "energy_j": 0.0, "flops": 0.0})
            p["latency_s"] += o.total_time_s
            p["energy_j"] += o.total_energy_j
            p["flops"] += o.flops * o.count
        for name, p in phases.items():
            tokens = self.tokens_by_phase.get(name)
            if tokens:
                p["tokens"] = tokens
                p["tokens_per_s"] = tokens / p["latency_s"] if p["latency_s"] else 0.0
        return phases

    def rows(self) -> list[dict[str, Any]]:
        """One dict per operator; text cells pass :func:`archsim.textsafe.csv_cell` (no control characters,
        no spreadsheet formulas). ``intensity_flops_per_byte`` is None when nothing crossed the off-chip level."""
        from archsim.textsafe import csv_cell

        rows = []
        op_intervals = (self.intervals or {}).get("ops") or [None] * len(self.ops)
        for o, iv in zip(self.ops, op_intervals, strict=True):
            row: dict[str, Any] = {
                "name": csv_cell(o.name), "kind": csv_cell(o.kind), "phase": csv_cell(o.phase), "count": o.count,
                "dtype": csv_cell(o.dtype), "fused": o.fused, "bound": csv_cell(o.bound),
                "costed_by": csv_cell(o.costed_by),
                "time_s": o.time_s, "total_time_s": o.total_time_s,
                "energy_j": o.energy_j, "total_energy_j": o.total_energy_j,
                "flops": o.flops, "matrix_flops": o.matrix_flops, "vector_flops": o.vector_flops,
                "useful_flops": o.useful_flops, "transcendentals": o.transcendentals,
                "achieved_flops_per_s": o.flops / o.time_s if o.time_s else 0.0,
            }
            for level, b in o.bytes_by_level.items():
                row[csv_cell(f"bytes_{level}")] = b
            offchip = next(iter(o.bytes_by_level.values()), 0.0)
            row["intensity_flops_per_byte"] = o.flops / offchip if offchip else None
            for part, e in o.energy_by_part.items():
                row[csv_cell(f"energy_{part.replace(':', '_')}_j")] = e
            if iv is not None:  # empty cells (not NaN) where the operator has no validated interval
                row["interval_status"], row["interval_cell"] = csv_cell(iv["status"]), csv_cell(iv["cell"])
                row["time_s_calibrated"] = iv.get("time_s_calibrated")  # model x cell median measured/modeled
                for level in ("p80", "p95"):
                    lo_hi = iv.get(f"time_s_{level}")
                    row[f"time_s_{level}_lo"], row[f"time_s_{level}_hi"] = lo_hi if lo_hi else (None, None)
            row["shape"] = json.dumps(o.shape, sort_keys=True)
            rows.append(row)
        return rows

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.rows())

    def summary(self) -> dict[str, Any]:
        return {
            "archsim_version": archsim.__version__,
            "workload": self.workload,
            "hardware": self.hardware,
            "family": self.family,
            "backend": self.backend,
            "latency_s": self.latency_s,
            "energy_j": self.energy_j,
            "flops": self.flops,
            "bytes": self.bytes_by_level(),
            "phases": self.by_phase(),
            "peaks": self.peaks,
            "notes": self.notes,
            "memory_per_device": self.memory,
            "intervals": None if self.intervals is None else {k: v for k, v in self.intervals.items() if k != "ops"},
            "stack": self.stack,
            "ops": [{k: v for k, v in asdict(o).items()} | {"total_time_s": o.total_time_s,
                                                            "total_energy_j": o.total_energy_j}
                    for o in self.ops],
        }
