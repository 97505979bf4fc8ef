"""Play a task graph on a target with simpy: one FIFO resource per unit, tasks start when
their dependencies are done and their unit is free.

This is a minimal player of our own, written while the event engine (``archsim.engine``,
issue 3) was not yet committed: each unit (array, vector unit, memory channel) is a
``simpy.Resource`` of capacity 1 that serves tasks in request order (ties: task id order,
which is creation order, so runs are deterministic). A task holds its unit for
``amount / rate`` seconds and completes ``latency`` later (memory requests are pipelined: the
channel serves the next transfer while data is in flight). Latency and bandwidth live in the memory channel, as
DESIGN.md asks. What it ignores: DRAM command timing, bank conflicts and row hits (the
engine's DRAM model has them); partial overlap of one task with another on the same unit;
on-chip buffer occupancy is not checked here -- the dataflow encodes buffer reuse as
dependencies (a tile slot is refilled only after its consumer finished).

Large operators repeat one slice many times. :func:`play_extrapolated` simulates a slice
with a few key tiles and groups and extrapolates linearly in both (exact when the schedule
is periodic; the report states the fill/drain this keeps).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import simpy

from dataflows.target import Target
from dataflows.taskgraph import TaskGraph


@dataclass
class PlayResult:
    time_s: float
    busy_s: dict[str, float]
    tasks: int
    spans: list[dict[str, Any]] = field(default_factory=list)

    def utilisation(self, unit: str) -> float:
        return self.busy_s.get(unit, 0.0) / self.time_s if self.time_s else 0.0


def play(graph: TaskGraph, target: Target, *, trace: bool = False) -> PlayResult:
    """Run ``graph`` to completion; return the makespan, busy time per unit and (optionally) spans."""
    env = simpy.Environment()
    units = {t.unit: simpy.Resource(env, capacity=1) for t in graph.tasks}
    done = [env.event() for _ in graph.tasks]
    busy: dict[str, float] = dict.fromkeys(units, 0.0)
    spans: list[dict[str, Any]] = []

    def run(i: int) -> Generator[simpy.Event, Any, None]:
        task = graph.tasks[i]
        if task.deps:
            yield env.all_of([done[d] for d in task.deps])
        with units[task.unit].request() as req:
            yield req
            start = env.now
            duration = task.amount / target.rate(task.unit)
            yield env.timeout(duration)
            busy[task.unit] += duration
            if trace:
                spans.append({"name": task.name, "ph": "X", "ts": start * 1e6, "dur": duration * 1e6,
                              "pid": target.name, "tid": task.unit, "args": {"kind": task.kind, "group": task.group}})
        latency = target.latency_s.get(task.unit, 0.0)
        if latency:  # pipelined: the channel is free again while the data is in flight
            yield env.timeout(latency)
        done[i].succeed()

    for i in range(len(graph.tasks)):
        env.process(run(i))
    env.run()
    return PlayResult(float(env.now), busy, len(graph.tasks), spans)


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
