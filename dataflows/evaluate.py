"""Evaluate a lowered operator: the event-model makespan (the player, on :mod:`archsim.engine`
components), the analytical bound from the same task graph (max over units of work / rate),
and energy from action counts.

Energy = sum over actions of count x the target's energy per action, plus static power x the
event-model time. Action counts and per-unit work are linear in key tiles and groups, so
they are extrapolated exactly from two small graphs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from archsim.dataflows.array_attention import plan_flat, plan_fusemax
from archsim.dataflows.generic import plan_attention, plan_gemm
from archsim.dataflows.player import play, play_extrapolated
from archsim.dataflows.shapes import AttentionShape
from archsim.dataflows.target import Target
from archsim.dataflows.taskgraph import TaskGraph

from archsim.algorithms import ATTENTION_ALGORITHMS

#: Attention algorithms (archsim.algorithms) with a schedule of their own on a 2-D + 1-D array;
#: every other registered algorithm is scheduled by the generic tiled planner (dataflows.generic).
ARRAY_DATAFLOWS = ("fusemax", "flat")
GENERIC_DATAFLOWS = tuple(name for name in ATTENTION_ALGORITHMS if name not in ARRAY_DATAFLOWS)


@dataclass
class Evaluation:
    name: str
    target: str
    time_s: float
    analytical_time_s: float
    busy_s: dict[str, float]
    work: dict[str, float]
    actions: dict[str, float]
    energy_j: float
    dynamic_energy_j: float
    params: dict[str, Any] = field(default_factory=dict)
    #: Chrome/Perfetto events of the simulated probe slice (engine Timeline observer), when asked for
    trace: list[dict[str, Any]] | None = None

    def utilisation(self, unit: str) -> float:
        return self.busy_s.get(unit, 0.0) / self.time_s if self.time_s else 0.0

    def bytes_at(self, level: str) -> float:
        return self.actions.get(f"{level}_read_bytes", 0.0) + self.actions.get(f"{level}_write_bytes", 0.0)


def _linear(build: Callable[[int, int], TaskGraph], tiles: int, groups: int,
            get: Callable[[TaskGraph], dict[str, float]]) -> dict[str, float]:
    t2 = min(tiles, 8)
    t1 = min(t2, 4)
    a = get(build(t2, 1))
    out = dict(a)
    if t2 > t1 and tiles > t2:
        b = get(build(t1, 1))
        out = {k: v + (v - b.get(k, 0.0)) / (t2 - t1) * (tiles - t2) for k, v in a.items()}
    return {k: v * groups for k, v in out.items()}


def run_plan(name: str, plan: Any, target: Target, energy_j: dict[str, float] | None = None, *,
             trace: bool = False) -> Evaluation:
    def build(t: int, g: int) -> TaskGraph:
        return plan.build(target, t, g)

    probe = max(2, int(plan.params.get("inflight", 1)) + 1)
    played = play_extrapolated(build, target, tiles=plan.tiles, groups=plan.groups, group_probe=probe)
    work = _linear(build, plan.tiles, plan.groups, TaskGraph.work_by_unit)
    actions = _linear(build, plan.tiles, plan.groups, TaskGraph.actions)
    analytical = max(w / target.rate(u) for u, w in work.items())
    table = energy_j or target.energy_j
    dynamic = sum(n * table.get(a, 0.0) for a, n in actions.items())
    spans = None
    if trace:  # the largest slice the extrapolation simulated: a few key tiles of the first groups
        spans = play(build(min(plan.tiles, 8), min(plan.groups, probe)), target, trace=True).spans
    return Evaluation(name, target.name, played.time_s, analytical, played.busy_s, work, actions,
                      dynamic + target.static_power_w * played.time_s, dynamic,
                      {**plan.params, "tiles": plan.tiles, "groups": plan.groups, **played.slices}, spans)


def plan_for(dataflow: str, shape: AttentionShape, target: Target) -> Any:
    if dataflow == "fusemax":
        return plan_fusemax(shape, target)
    if dataflow == "flat":
        return plan_flat(shape, target)
    if dataflow in GENERIC_DATAFLOWS:
        return plan_attention(dataflow, shape, target)
    valid = ", ".join(ARRAY_DATAFLOWS + GENERIC_DATAFLOWS)
    raise ValueError(f"unknown attention dataflow {dataflow!r}; valid: {valid}")


def evaluate_attention(dataflow: str, shape: AttentionShape, target: Target,
                       energy_j: dict[str, float] | None = None, *, trace: bool = False) -> Evaluation:
    return run_plan(f"attention/{dataflow}", plan_for(dataflow, shape, target), target, energy_j, trace=trace)


def evaluate_gemm(m: int, n: int, k: int, target: Target, *, elem_bytes: float = 2.0, count: int = 1,
                  energy_j: dict[str, float] | None = None, trace: bool = False) -> Evaluation:
    return run_plan("gemm", plan_gemm(m, n, k, target, elem_bytes, count), target, energy_j, trace=trace)
