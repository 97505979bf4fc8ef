"""Simulation results: per-operator rows, totals, and the files of an output folder.

Files written by :meth:`Result.write` (atomically, through :mod:`archsim.outdir`: into a staging
sibling swapped into place, so a failure never leaves a half-written output folder, and never over
a folder archsim did not write):
``summary.json`` (machine-readable), ``ops.csv`` (one row per operator), ``report.html``.
Backends that have a timeline add ``timeline.json`` (Chrome/Perfetto trace format).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import archsim
from archsim.errors import ConfigError

if TYPE_CHECKING:
    from archsim.outdir import OutputFolder


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
        for o in self.ops:
            row: dict[str, Any] = {
                "name": csv_cell(o.name), "kind": csv_cell(o.kind), "phase": csv_cell(o.phase), "count": o.count,
                "dtype": csv_cell(o.dtype), "fused": o.fused, "bound": csv_cell(o.bound),
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
            "ops": [{k: v for k, v in asdict(o).items()} | {"total_time_s": o.total_time_s,
                                                            "total_energy_j": o.total_energy_j}
                    for o in self.ops],
        }

    def write(self, out_dir: str | Path | OutputFolder, *, report: bool = True, force: bool = False) -> Path:
        """Write summary.json, ops.csv (and report.html, timeline.json) into ``out_dir``; returns its real path.

        The folder is checked, locked and swapped in atomically by :class:`archsim.outdir.OutputFolder`:
        a folder archsim did not write is refused (ConfigError) unless ``force``. A caller that holds
        an ``OutputFolder`` already (``archsim run`` locks it before simulating) passes it instead of a
        path. A result holding a NaN or infinity is refused before anything is written.
        """
        from archsim.outdir import OutputFolder

        summary = self.summary()
        bad = _non_finite(summary) + _non_finite(self.timeline or [], "timeline")
        if bad:
            raise ConfigError.single(
                f"the result of {self.workload} on {self.hardware} holds non-finite numbers "
                f"({'; '.join(bad[:3])}); nothing was written: an input drives the model outside its range",
                key_path=bad[0].split(" ")[0])
        summary_text = json.dumps(summary, indent=2, allow_nan=False)

        def files(folder: Path) -> None:
            (folder / "summary.json").write_text(summary_text + "\n")
            self.to_frame().to_csv(folder / "ops.csv", index=False)
            if self.timeline is not None:
                (folder / "timeline.json").write_text(json.dumps({"traceEvents": self.timeline}, allow_nan=False))
            if report:
                from archsim.report import write_run_report

                write_run_report(self, folder / "report.html")

        if isinstance(out_dir, OutputFolder):
            return out_dir.replace(files)
        with OutputFolder(out_dir, kind="run", force=force) as target:
            return target.replace(files)


def _non_finite(value: Any, where: str = "") -> list[str]:
    """Key paths (``ops[3].time_s = nan``) of every NaN or infinity inside nested dicts and lists."""
    if isinstance(value, float):
        return [] if math.isfinite(value) else [f"{where or '<value>'} = {value}"]
    if isinstance(value, dict):
        return [hit for k, v in value.items() for hit in _non_finite(v, f"{where}.{k}" if where else str(k))]
    if isinstance(value, list | tuple):
        return [hit for i, v in enumerate(value) for hit in _non_finite(v, f"{where}[{i}]")]
    return []
