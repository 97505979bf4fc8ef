"""``taskgraph`` backend: accelerator workloads lowered by the dataflows, played on the engine.

``archsim run --hw fusemax-array <workload>`` (family ``accelerator``) picks this backend
(priority 10 > the roofline's 0). Per operator:

- ``attention`` (fused): the workload's attention dataflow (``fusemax``, ``flat``, ``flash``,
  ``swat``, ``edge_moe``, ``flash_decoding``) lowers it to a task graph
  (:func:`dataflows.evaluate.evaluate_attention`), played on engine components and
  extrapolated from slices (:mod:`dataflows.player`).
- ``attention_scores`` / ``attention_context`` (the unfused ``naive`` dataflow): per
  (batch, head) GEMM tiles, ``Q K^T`` (seq_q x seq_kv x d) and ``P V`` (seq_q x d x seq_kv),
  through :func:`dataflows.evaluate.evaluate_gemm`.
- ``gemm``: :func:`dataflows.evaluate.evaluate_gemm` (GEMM tiles on the engine's systolic contract).
- ``vector``, ``softmax``, ``moe_experts``: the roofline of :mod:`archsim.backends.roofline`
  (no task graph for them yet; stated in the Result's notes).

Per-op ``time_by_resource`` holds each unit's busy time in the event run (``compute`` = 2-D
array, ``vector`` = 1-D array, ``memory:<level>``); ``bound`` is the busiest. The analytical
bound of the same graph (max over units of work / rate) is written beside each op in the notes.
Energy: the device preset's per-action energies (target view, :mod:`dataflows.target`) x action
counts + static power x event time. ``Result.timeline``: the operators back to back (one slice
per operator, all repetitions) plus, per task-graph operator, the engine timeline of the slice
the player simulated (its own process in the trace).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import singledispatch
from typing import Any, ClassVar

from archsim.dataflows.evaluate import Evaluation, evaluate_attention, evaluate_gemm
from archsim.dataflows.shapes import AttentionShape
from archsim.dataflows.target import Target, target_from_device

from archsim.backends import Backend
from archsim.operators import Attention, AttentionContext, AttentionScores, Gemm, Operator
from archsim.result import OpResult
from archsim.schemas.hardware import DeviceBase
from archsim.trace_events import process_name

RESOURCE_OF_UNIT = {"2d": "compute", "matrix": "compute", "1d": "vector", "vector": "vector", "sfu": "sfu"}


@singledispatch
def schedule(op: Operator, target: Target) -> Evaluation | None:
    """The task-graph evaluation of ``op`` on ``target``, or None when no task graph exists for it."""
    return None


@schedule.register
def _(op: Attention, target: Target) -> Evaluation | None:
    return evaluate_attention(op.algorithm, AttentionShape.from_op(op), target, trace=True)


@schedule.register
def _(op: Gemm, target: Target) -> Evaluation | None:
    return evaluate_gemm(op.m, op.n, op.k, target, elem_bytes=op.elem_bytes, count=op.batch, trace=True)


@schedule.register(AttentionScores)
@schedule.register(AttentionContext)
def _(op: AttentionScores | AttentionContext, target: Target) -> Evaluation | None:
    m, n, k = op.gemm_shape()
    return evaluate_gemm(m, n, k, target, elem_bytes=op.elem_bytes, count=op.bh, trace=True)


def _op_result(op: Operator, ev: Evaluation, device: DeviceBase, target: Target) -> OpResult:
    work = op.work()
    times: dict[str, float] = {}
    for unit, busy in ev.busy_s.items():
        key = f"memory:{unit[4:]}" if unit.startswith("mem:") else RESOURCE_OF_UNIT.get(unit, unit)
        times[key] = times.get(key, 0.0) + busy
    parts: dict[str, float] = {"compute": 0.0}
    for action, n in ev.actions.items():
        level = next((lv for lv in device.memory if action in (f"{lv}_read_bytes", f"{lv}_write_bytes")), None)
        key = f"memory:{level}" if level else "compute"
        parts[key] = parts.get(key, 0.0) + n * target.energy_j.get(action, 0.0)
    parts["static"] = target.static_power_w * ev.time_s
    # vector work as the schedule bound it: FuseMax runs most of the softmax on the 2-D array, so the
    # algorithm's vector FLOPs (op.work()) are not what the 1-D unit executed
    # (and its exps are built from MACs on the PEs): report vector and SFU work per unit the schedule used
    vector_ops = sum(amount for unit, amount in ev.work.items() if RESOURCE_OF_UNIT.get(unit) == "vector")
    sfu_ops = sum(amount for unit, amount in ev.work.items() if RESOURCE_OF_UNIT.get(unit) == "sfu")
    return OpResult(name=op.name, kind=op.kind, phase=op.phase, count=op.count, dtype=op.dtype,
                    matrix_flops=work.matrix_flops, vector_flops=vector_ops,
                    transcendentals=sfu_ops, useful_flops=work.useful_flops,
                    bytes_by_level={lv: ev.bytes_at(lv) for lv in device.memory},
                    time_s=ev.time_s, time_by_resource=times, bound=max(times, key=lambda k: times[k]),
                    energy_j=ev.energy_j, energy_by_part=parts, shape=op.shape(), fused=op.fused)


@dataclass
class TaskgraphView:
    """Per-run state: the device, its per-dtype targets, notes and engine slices collected so far."""

    device: DeviceBase
    targets: dict[str, Target] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    probes: list[dict[str, Any]] = field(default_factory=list)

    def target(self, dtype: str) -> Target:
        if dtype not in self.targets:
            self.targets[dtype] = target_from_device(self.device, dtype)
        return self.targets[dtype]


class TaskgraphBackend(Backend):
    name: ClassVar[str] = "taskgraph"
    families: ClassVar[tuple[str, ...]] = ("accelerator",)
    priority: ClassVar[int] = 10
    description: ClassVar[str] = "task graphs (fusemax, flat, flash, ...) played on archsim.engine components"

    def prepare(self, hardware: DeviceBase) -> TaskgraphView:
        return TaskgraphView(hardware)

    def evaluate(self, op: Operator, view: TaskgraphView) -> OpResult | None:
        target = view.target(op.dtype)
        ev = schedule(op, target)
        if ev is None:
            return None
        gap = ev.time_s / ev.analytical_time_s - 1 if ev.analytical_time_s else 0.0
        view.notes.append(f"{op.name}: {ev.name} event {ev.time_s:.4g} s, analytical bound "
                          f"{ev.analytical_time_s:.4g} s (+{gap:.1%})")
        if isinstance(op, Attention) and op.causal and op.algorithm in ("fusemax", "flat"):
            view.notes.append(f"{op.name}: causal mask not exploited by the {op.algorithm} schedule (the full "
                              "seq_q x seq_kv rectangle is computed; useful_flops counts unmasked pairs)")
        pid = 10 + len(view.probes)
        view.probes.append(process_name(pid, f"{op.name} ({ev.name}): simulated slice on archsim.engine"))
        view.probes += [dict(e, pid=pid) for e in ev.trace or []]
        return _op_result(op, ev, view.device, target)

    def notes(self, view: TaskgraphView) -> list[str]:
        return ["taskgraph: operators scheduled by archsim.dataflows as task graphs and played on archsim.engine "
                "components (2-D array = SystolicArray, 1-D array = VectorUnit, DRAM = Link channel; slices "
                "extrapolated)", *view.notes]

    def trace(self, view: TaskgraphView) -> list[dict[str, Any]]:
        return view.probes
