"""Grouped-GEMM experts (transformers' ``grouped_mm`` path: ``torch.nn.functional.grouped_mm``, a CUTLASS
sm90 grouped kernel plus a small ``prepare_grouped_gemm_data`` kernel) relative to the cuBLAS model.

The grouped kernel at a few rows per expert streams the expert weights well below the copy
bandwidth (8 Mixtral experts' gate/up weights, 1.9 GB: 0.82 ms at 1 row per expert = 2.3 TB/s;
0.52 ms at 128 rows = 3.6 TB/s). Model: time = factor(rows per expert) x the cuBLAS model's time of
one expert's GEMM x active experts, ``factor`` = measured / that product at the microbenchmarked
rows per expert (1 .. 2048, Mixtral's two expert shapes, geometric mean of the two), log-log
interpolated and held constant outside. Calibration: ``h200-wm-grouped-2026-12-01.csv`` only
(``campaigns/whole_model.py --calib2``), never a whole-model run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from archsim.data import read_csv_rows
from archsim.errors import ConfigError

REQUIRED = ("n", "k", "rows_total", "rows_per_expert", "active_experts", "gpu_us", "calls")


@dataclass(frozen=True)
class GroupedGemmModel:
    source: str
    points: tuple[tuple[float, float], ...]  # (rows per expert, measured / (active x cuBLAS model)), ascending

    def factor(self, rows_per_expert: float) -> float:
        pts = self.points
        if rows_per_expert <= pts[0][0]:
            return pts[0][1]
        if rows_per_expert >= pts[-1][0]:
            return pts[-1][1]
        for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False):
            if x0 <= rows_per_expert <= x1:
                f = (math.log(rows_per_expert) - math.log(x0)) / (math.log(x1) - math.log(x0))
                return math.exp(math.log(y0) + f * (math.log(y1) - math.log(y0)))
        raise AssertionError("unreachable: points are sorted")


def load_grouped(path: str | Path, gemm_s: Callable[[int, int, int], float]) -> GroupedGemmModel:
    """Factors from a ``wm-grouped`` CSV; ``gemm_s(m, n, k)``: the cuBLAS model's seconds for one GEMM."""
    path = Path(path)
    rows = read_csv_rows(path, REQUIRED, "grouped-GEMM CSV")
    per_call: dict[tuple[int, int, int], list[float]] = {}
    meta: dict[tuple[int, int, int], tuple[float, int]] = {}
    for i, r in enumerate(rows, start=2):
        try:
            key = (int(r["n"]), int(r["k"]), int(r["rows_total"]))
            per_call.setdefault(key, []).append(float(r["gpu_us"]) * 1e-6 * float(r["calls"]))
            meta[key] = (float(r["rows_per_expert"]), int(r["active_experts"]))
        except ValueError:
            raise ConfigError.single(f"{path}:{i}: malformed grouped-GEMM row", file=str(path), line=i) from None
    by_rows: dict[float, list[float]] = {}
    for key, times in per_call.items():
        n, k, _ = key
        rpe, active = meta[key]
        model = active * gemm_s(max(1, math.ceil(rpe)), n, k)
        by_rows.setdefault(rpe, []).append(sum(times) / model)
    if not by_rows:
        raise ConfigError.single(f"{path}: no grouped-GEMM measurements", file=str(path))
    pts = tuple((x, math.exp(sum(map(math.log, v)) / len(v))) for x, v in sorted(by_rows.items()))
    return GroupedGemmModel(source=str(path), points=pts)
