"""Play a task graph on the shared event engine's components (:mod:`archsim.engine`).

Each unit a task names becomes one engine component on one :class:`~archsim.engine.Engine`:

- ``mem:<level>`` -> :class:`~archsim.engine.Link` (the level's bandwidth and latency, half
  duplex: loads and stores share the channel's wire). A transfer occupies the wire for its
  serialisation time in FIFO order and arrives ``latency`` later, so requests are pipelined
  (the channel serves the next transfer while data is in flight). DRAM command timing, bank
  conflicts and row hits are NOT played here (the engine's cycle-exact ``Dram`` costs one numba
  transaction per tile and runs ~100x slower; the fixed peak bandwidth is what the FuseMax
  artifact assumes too).
- ``2d`` (spatial array) -> :class:`StreamedArray`, the engine's :class:`~archsim.engine.SystolicArray`
  (weight stationary, double-buffered weights). A task with a ``tile`` (a GEMM tile) is timed by
  the array's own contract ``run_tile(m, n, k)`` (fill, stream and drain per pass). An attention
  stage program (FuseMax's QK+LM, SLN+SLD+SLNV, FLAT's QK/AV row tiles) is issued as a stream of
  ``amount / (PE-MACs per cycle)`` cycles: consecutive key tiles enter back to back, so the skew of
  one pass hides behind the previous one (as FuseMax's and FLAT's own models assume); the fill
  and drain of a whole stream (~3 x 256 cycles) are not charged.
- ``1d`` -> :class:`~archsim.engine.VectorUnit` (``vector_pes`` lanes, 1 element op per lane per cycle).
- ``matrix``/``vector``/``sfu`` (GPUs, FPGAs, PIM logic; the aggregate-unit view) -> one
  :class:`~archsim.engine.SpecialFunctionUnit` function each (:class:`RateUnit`), at the device's
  ops per cycle, issued in exact fractional cycles.

Compute units are in-order and pipelined (the engine's rule): a task starts when its
dependencies are done and the unit has issued everything requested before it (ties: task id
order = creation order, so runs are deterministic). Buffers the graph declares are allocated in
an engine :class:`~archsim.engine.Sram` of the target's on-chip capacity (over capacity ->
``CapacityError``); on-chip access time is not played (its bandwidth is 10-40x the off-chip one
on the presets these dataflows target). With ``trace=True`` an engine
:class:`~archsim.engine.Timeline` observer records every component span (Chrome/Perfetto JSON).

Large operators repeat one slice many times. :func:`play_extrapolated` simulates a slice
with a few key tiles and groups and extrapolates linearly in both (exact when the schedule
is periodic; the report states the fill/drain this keeps).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from archsim.dataflows.target import Target
from archsim.dataflows.taskgraph import Task, TaskGraph

from archsim.engine import (
    Engine,
    Link,
    LinkSpec,
    SfuFunction,
    SpecialFunctionUnit,
    Sram,
    SramSpec,
    SystolicArray,
    Timeline,
    VectorUnit,
)


class StreamedArray(SystolicArray):
    """The engine's systolic array plus a streamed issue path for attention stage programs."""

    def __init__(self, engine: Engine, *, macs_per_cycle: float, **kw: Any) -> None:
        super().__init__(engine, **kw)
        self.macs_per_cycle = macs_per_cycle

    def run_stream(self, pe_macs: float, label: str):
        """Process: ``pe_macs`` PE operations issued back to back at the array's full rate."""
        return self._run(pe_macs / self.macs_per_cycle, 0, label, 0.0, pe_ops=pe_macs)


class RateUnit(SpecialFunctionUnit):
    """An engine special-function unit with one function at a fractional ops-per-cycle rate.

    Aggregate units (a GPU's matrix cores as one unit) issue many small tasks; the engine's
    ``run`` rounds each up to whole cycles, which for a few-cycle tile task inflates time by up
    to ~20%. ``run_ops`` issues the exact fractional cycle count instead.
    """

    def run_ops(self, unit: str, amount: float):
        f = self._fn(unit)
        self.ops[unit] += int(amount)
        return self._run(amount / f.ops_per_cycle, f.latency_cycles, f"{unit} {amount:.0f}", 0.0, ops=amount)


@dataclass
class PlayResult:
    time_s: float
    busy_s: dict[str, float]
    tasks: int
    spans: list[dict[str, Any]] = field(default_factory=list)
    sram_peak_bytes: int = 0

    def utilisation(self, unit: str) -> float:
        return self.busy_s.get(unit, 0.0) / self.time_s if self.time_s else 0.0

    def chrome_trace(self) -> dict[str, Any]:
        return {"traceEvents": self.spans, "displayTimeUnit": "ns"}


def build_units(engine: Engine, graph: TaskGraph, target: Target) -> dict[str, Any]:
    """One engine component per unit the graph uses (see the module docstring)."""
    clock = target.clock_hz
    units: dict[str, Any] = {}
    for unit in dict.fromkeys(t.unit for t in graph.tasks):
        rate = target.rate(unit)
        if unit.startswith("mem:"):
            spec = LinkSpec(bandwidth_bytes_per_s=rate, latency_s=target.latency_s.get(unit, 0.0), full_duplex=False)
            units[unit] = Link(engine, spec, name=unit)
        elif unit == "2d" and target.is_array:
            units[unit] = StreamedArray(engine, macs_per_cycle=rate / clock, rows=int(target.pe_rows or 1),
                                        cols=int(target.pe_cols or 1), stationarity="weight_stationary",
                                        clock_hz=clock, overlap_drain=True, name=unit)
        elif unit == "1d" and target.vector_pes:
            units[unit] = VectorUnit(engine, lanes=int(target.vector_pes), clock_hz=clock, latency_cycles=0,
                                     name=unit)
        else:
            units[unit] = RateUnit(engine, functions={unit: SfuFunction(ops_per_cycle=rate / clock,
                                                                        latency_cycles=0)},
                                   clock_hz=clock, name=unit)
    return units


def _issue(comp: Any, task: Task, one_mac_per_pe: bool) -> Generator[Any, Any, Any]:
    if isinstance(comp, Link):
        return comp.send(task.amount, 0 if task.kind == "load" else 1)
    if isinstance(comp, StreamedArray):
        if task.tile is not None and one_mac_per_pe:
            return comp.run_tile(*task.tile)
        return comp.run_stream(task.amount, task.name)
    if isinstance(comp, VectorUnit):
        return comp.run(int(round(task.amount)))
    return comp.run_ops(task.unit, task.amount)


def _busy_s(comp: Any) -> float:
    if isinstance(comp, Link):
        return sum(comp.busy_s)
    return comp.busy_cycles / comp.clock_hz


def play(graph: TaskGraph, target: Target, *, trace: bool = False) -> PlayResult:
    """Run ``graph`` to completion on engine components; makespan, busy time per unit, optional trace."""
    timeline = Timeline() if trace else None
    eng = Engine(seed=0, observer=timeline)
    if graph.buffers:
        on = f"mem:{target.onchip}"
        port = max(1, int(target.rates.get(on, 0.0) / target.clock_hz))
        sram = Sram(eng, SramSpec(capacity_bytes=int(target.onchip_capacity_bytes), clock_hz=target.clock_hz,
                                  bytes_per_cycle_per_port=port), name=on)
        for name, nbytes, double in graph.buffers:
            sram.allocate(name, int(nbytes), double_buffered=double)
    units = build_units(eng, graph, target)
    one_mac = target.rates.get("2d", 0.0) == (target.pe_rows or 0) * (target.pe_cols or 0) * target.clock_hz
    done = [eng.event() for _ in graph.tasks]

    def run(task: Task) -> Generator[Any, Any, None]:
        if task.deps:
            yield eng.all_of([done[d] for d in task.deps])
        if task.amount > 0:
            yield from _issue(units[task.unit], task, one_mac)
        done[task.id].succeed()

    for task in graph.tasks:
        eng.process(run(task))
    end = eng.run_all()
    busy = {u: _busy_s(c) for u, c in units.items()}
    spans = timeline.to_chrome_trace()["traceEvents"] if timeline is not None else []
    peak = sram.peak_used_bytes if graph.buffers else 0
    return PlayResult(end, busy, len(graph.tasks), spans, peak)


@dataclass
class Extrapolated:
    time_s: float
    busy_s: dict[str, float]
    simulated_tasks: int
    slices: dict[str, float]


def play_extrapolated(build: Callable[[int, int], TaskGraph], target: Target, *, tiles: int, groups: int,
                      tile_probe: tuple[int, int] = (4, 8), group_probe: int = 2) -> Extrapolated:
    """Makespan of ``build(tiles, groups)`` from runs of small slices.

    ``build(t, g)`` must give the graph of ``g`` consecutive groups of ``t`` key tiles each.
    One group's time is linear in tiles (per-tile period from two probes); each further group
    adds the probe's per-group period scaled by the full/probe group time, never less than the
    busiest unit's work per group. Fill and drain are counted once, as in the full run.
    """
    t1, t2 = tile_probe
    if tiles <= t2:
        t1 = t2 = tiles
    g2 = min(groups, group_probe)

    def run(t: int, g: int) -> PlayResult:
        return play(build(t, g), target)

    a = run(t2, 1)
    per_tile = 0.0
    busy_tile: dict[str, float] = {}
    if t2 > t1:
        b = run(t1, 1)
        per_tile = (a.time_s - b.time_s) / (t2 - t1)
        busy_tile = {u: (a.busy_s[u] - b.busy_s.get(u, 0.0)) / (t2 - t1) for u in a.busy_s}
    extra = tiles - t2
    one_group = a.time_s + extra * per_tile
    busy_one = {u: a.busy_s[u] + extra * busy_tile.get(u, 0.0) for u in a.busy_s}
    total, busy, sims = one_group, dict(busy_one), a.tasks
    increment = 0.0
    if groups > 1:
        c = run(t2, g2)
        sims += c.tasks
        # the steady period per extra group at the probe's tile count, plus the per-tile period
        # for the tiles the probe left out
        # probe period scaled to the full tile count (overlapped groups keep their overlap), never
        # below the busiest unit's work per group (the throughput bound)
        scale = one_group / a.time_s if a.time_s else 1.0
        increment = max((c.time_s - a.time_s) / (g2 - 1) * scale, max(busy_one.values()))
        total = one_group + (groups - 1) * increment
        busy = {u: v * groups for u, v in busy_one.items()}
    for unit, b in busy.items():
        if b > total * 1.01:  # 1%: beyond extrapolation rounding
            raise RuntimeError(f"extrapolation gave unit {unit} busy {b:.4g} s in a makespan of {total:.4g} s")
    return Extrapolated(total, busy, sims, {"one_group_s": one_group, "per_tile_s": per_tile,
                                             "per_group_increment_s": increment})
