"""Compute units: systolic array (output/weight stationary), vector unit, special-function unit.

Each has a rate, a latency and an energy per operation; each is usable from a simpy process
(``yield engine.process(array.run_tile(m, n, k))``) and in closed form (``tile_cycles``).
Units are in-order and pipelined: a new job starts when the previous one has *issued* its
last operation (``busy_until``), and finishes ``latency`` after its own last issue.

Systolic-array timing contract (cross-checked by the RTL in rtl/):

* Output stationary, array ``rows x cols``, tile C[rows x cols] += A[rows x K] @ B[K x cols];
  A enters from the left and B from the top, each skewed by one cycle per row/column; one MAC
  per PE per cycle. A pass has fill = (rows - 1) + (cols - 1) skew cycles, compute = K cycles
  (first operand in to last MAC is fill + compute), and drain = rows cycles (results shifted
  out one row per cycle). So ``tile_cycles(rows, cols, K) = K + 3 * rows - 2`` for a square
  array. Every pass uses the full physical array (a partial tile costs a full pass).
  ``m x n`` tiles into ceil(m/rows) * ceil(n/cols) passes. ``overlap_drain=False`` (default):
  passes run back to back, total = passes * (fill + K + drain). ``overlap_drain=True``
  (double-buffered output registers): each drain overlaps the next pass, total =
  passes * (fill + K) + drain.
* Weight stationary: B[K x n] is held in the array, ``rows`` = K-dimension, ``cols`` = n.
  A pass preloads a rows x cols weight block (load = rows cycles), then streams all m rows of
  A through it: m + (rows - 1) + (cols - 1) cycles until the last partial sum leaves the bottom
  row. Passes = ceil(k/rows) * ceil(n/cols); with ``overlap_drain=True`` the next block's
  weight load is hidden behind the current stream (double-buffered weights), total =
  rows + passes * (m + rows + cols - 2); else passes * (rows + m + rows + cols - 2).
  Partial sums across k-passes are accumulated outside the array at no extra cycles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from archsim.engine.core import Engine

STATIONARITIES = ("output_stationary", "weight_stationary")


@dataclass(frozen=True)
class TileBreakdown:
    passes: int
    fill_cycles: int
    compute_cycles: int
    drain_cycles: int
    total_cycles: int
    macs: int
    utilisation: float


class _Pipelined:
    def __init__(self, engine: Engine, name: str, clock_hz: float) -> None:
        if clock_hz <= 0:
            raise ValueError(f"{name}: clock_hz must be > 0")
        self.engine, self.name, self.clock_hz = engine, name, clock_hz
        self._issue_free_at = 0.0
        self.busy_cycles = 0
        self.energy_j = 0.0

    def _run(self, issue_cycles: int, latency_cycles: int, label: str, energy_j: float, **args):
        start = max(self.engine.now, self._issue_free_at)
        self._issue_free_at = start + issue_cycles / self.clock_hz
        end = self._issue_free_at + latency_cycles / self.clock_hz
        self.busy_cycles += issue_cycles
        self.energy_j += energy_j
        yield self.engine.at_s(end)
        self.engine.span(self.name, label, start, end, **args)
        return end


class SystolicArray(_Pipelined):
    """A rows x cols MAC array; ``energy_j_per_mac`` e.g. from :data:`archsim.engine.energy.OP_ENERGY_J`."""

    def __init__(self, engine: Engine | None = None, *, rows: int, cols: int, stationarity: str = "output_stationary",
                 clock_hz: float = 1e9, energy_j_per_mac: float = 0.0, overlap_drain: bool = False,
                 name: str = "systolic") -> None:
        if stationarity not in STATIONARITIES:
            raise ValueError(f"unknown stationarity {stationarity!r}; valid: {', '.join(STATIONARITIES)}")
        if rows < 1 or cols < 1:
            raise ValueError("rows and cols must be >= 1")
        super().__init__(engine, name, clock_hz)  # type: ignore[arg-type]
        self.rows, self.cols, self.stationarity = rows, cols, stationarity
        self.energy_j_per_mac, self.overlap_drain = energy_j_per_mac, overlap_drain
        self.macs = 0

    def tile_cycle_breakdown(self, m: int, n: int, k: int) -> TileBreakdown:
        if min(m, n, k) < 1:
            raise ValueError(f"tile dims must be >= 1, got m={m} n={n} k={k}")
        r, c = self.rows, self.cols
        if self.stationarity == "output_stationary":
            passes = math.ceil(m / r) * math.ceil(n / c)
            fill, compute, drain = (r - 1) + (c - 1), k, r
            if self.overlap_drain:
                total = passes * (fill + compute) + drain
            else:
                total = passes * (fill + compute + drain)
            fill_t, compute_t, drain_t = passes * fill, passes * compute, (drain if self.overlap_drain
                                                                           else passes * drain)
        else:
            passes = math.ceil(k / r) * math.ceil(n / c)
            load, stream = r, m + (r - 1) + (c - 1)
            if self.overlap_drain:
                total = load + passes * stream
                fill_t = load
            else:
                total = passes * (load + stream)
                fill_t = passes * load
            compute_t, drain_t = passes * m, passes * ((r - 1) + (c - 1))
        macs = m * n * k
        return TileBreakdown(passes, fill_t, compute_t, drain_t, total, macs, macs / (total * r * c))

    def tile_cycles(self, m: int, n: int, k: int) -> int:
        return self.tile_cycle_breakdown(m, n, k).total_cycles

    def run_tile(self, m: int, n: int, k: int):
        """Process: C[m x n] += A[m x k] @ B[k x n]; value = finish time in s."""
        b = self.tile_cycle_breakdown(m, n, k)
        self.macs += b.macs
        return self._run(b.total_cycles, 0, f"tile {m}x{n}x{k}", b.macs * self.energy_j_per_mac,
                         macs=b.macs, cycles=b.total_cycles)


class VectorUnit(_Pipelined):
    """``lanes`` element operations per cycle, ``latency_cycles`` pipeline depth."""

    def __init__(self, engine: Engine | None = None, *, lanes: int, clock_hz: float, latency_cycles: int = 1,
                 energy_j_per_op: float = 0.0, name: str = "vector") -> None:
        if lanes < 1:
            raise ValueError("lanes must be >= 1")
        super().__init__(engine, name, clock_hz)  # type: ignore[arg-type]
        self.lanes, self.latency_cycles, self.energy_j_per_op = lanes, latency_cycles, energy_j_per_op
        self.ops = 0

    def cycles(self, ops: int) -> int:
        return math.ceil(ops / self.lanes) + self.latency_cycles

    def run(self, ops: int):
        """Process: ``ops`` element operations; value = finish time in s."""
        self.ops += ops
        return self._run(math.ceil(ops / self.lanes), self.latency_cycles, f"vector {ops}",
                         ops * self.energy_j_per_op, ops=ops)


@dataclass(frozen=True, kw_only=True)
class SfuFunction:
    ops_per_cycle: float
    latency_cycles: int
    energy_j_per_op: float = 0.0


class SpecialFunctionUnit(_Pipelined):
    """exp, reciprocal, ...: each function with its own rate, latency and energy."""

    def __init__(self, engine: Engine | None = None, *, functions: dict[str, SfuFunction], clock_hz: float,
                 name: str = "sfu") -> None:
        super().__init__(engine, name, clock_hz)  # type: ignore[arg-type]
        self.functions = dict(functions)
        self.ops: dict[str, int] = {f: 0 for f in functions}

    def _fn(self, function: str) -> SfuFunction:
        try:
            return self.functions[function]
        except KeyError:
            raise ValueError(f"{self.name}: unknown function {function!r}; valid: {', '.join(self.functions)}") \
                from None

    def cycles(self, function: str, count: int) -> int:
        f = self._fn(function)
        return math.ceil(count / f.ops_per_cycle) + f.latency_cycles

    def run(self, function: str, count: int):
        f = self._fn(function)
        self.ops[function] += count
        return self._run(math.ceil(count / f.ops_per_cycle), f.latency_cycles, f"{function} {count}",
                         count * f.energy_j_per_op, count=count)
