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

from typing import Any

from archsim.dataflows.evaluate import Evaluation, evaluate_attention, evaluate_gemm
from archsim.dataflows.shapes import AttentionShape
from archsim.dataflows.target import Target, target_from_device

from archsim.backends import Backend, register_backend
from archsim.backends.analytical import peaks
from archsim.backends.roofline import evaluate_op, op_work
from archsim.ops import Op, dtype_bytes
from archsim.result import OpResult, Result
from archsim.schemas.hardware import DeviceBase

RESOURCE_OF_UNIT = {"2d": "compute", "matrix": "compute", "1d": "vector", "vector": "vector", "sfu": "sfu"}


def _evaluate(op: Op, target: Target) -> Evaluation | None:
    s = op.shape
    b = dtype_bytes(op.dtype)
    if op.kind == "attention":
        return evaluate_attention(str(op.extra.get("dataflow", "flash")), AttentionShape.from_op(op), target,
                                  trace=True)
    if op.kind == "gemm":
        return evaluate_gemm(s["m"], s["n"], s["k"], target, elem_bytes=b, trace=True)
    if op.kind == "attention_scores":
        return evaluate_gemm(s["seq_q"], s["seq_kv"], s["head_dim"], target, elem_bytes=b,
                             count=s["batch"] * s["heads"], trace=True)
    if op.kind == "attention_context":
        return evaluate_gemm(s["seq_q"], s["head_dim"], s["seq_kv"], target, elem_bytes=b,
                             count=s["batch"] * s["heads"], trace=True)
    return None


def _op_result(op: Op, ev: Evaluation, device: DeviceBase, target: Target) -> OpResult:
    work = op_work(op)
    times = {}
    for unit, busy in ev.busy_s.items():
        key = f"memory:{unit[4:]}" if unit.startswith("mem:") else RESOURCE_OF_UNIT.get(unit, unit)
        times[key] = times.get(key, 0.0) + busy
    parts: dict[str, float] = {"compute": 0.0}
    for action, n in ev.actions.items():
        level = next((lv for lv in device.memory if action in (f"{lv}_read_bytes", f"{lv}_write_bytes")), None)
        key = f"memory:{level}" if level else "compute"
        parts[key] = parts.get(key, 0.0) + n * target.energy_j.get(action, 0.0)
    parts["static"] = target.static_power_w * ev.time_s
    return OpResult(name=op.name, kind=op.kind, phase=op.phase, count=op.count, dtype=op.dtype,
                    matrix_flops=work.matrix_flops, vector_flops=work.vector_flops,
                    transcendentals=work.transcendentals, useful_flops=work.useful_flops,
                    bytes_by_level={lv: ev.bytes_at(lv) for lv in device.memory},
                    time_s=ev.time_s, time_by_resource=times, bound=max(times, key=lambda k: times[k]),
                    energy_j=ev.energy_j, energy_by_part=parts, shape=dict(op.shape), fused=op.fused)


def run_taskgraph(workload_name: str, device: DeviceBase, ops: list[Op], tokens: dict[str, int]) -> Result:
    targets: dict[str, Target] = {}
    results: list[OpResult] = []
    notes = ["taskgraph: operators lowered by dataflows/ to task graphs and played on archsim.engine components "
             "(2-D array = SystolicArray, 1-D array = VectorUnit, DRAM = Link channel; slices extrapolated)"]
    serial: list[dict[str, Any]] = [{"name": "process_name", "ph": "M", "pid": 1,
                                     "args": {"name": f"{device.name} (taskgraph, operators back to back)"}}]
    probes: list[dict[str, Any]] = []
    t = 0.0
    roofline_kinds: set[str] = set()
    for i, op in enumerate(ops):
        target = targets.get(op.dtype) or targets.setdefault(op.dtype, target_from_device(device, op.dtype))
        ev = _evaluate(op, target)
        if ev is None:
            r = evaluate_op(op, device)
            roofline_kinds.add(op.kind)
        else:
            r = _op_result(op, ev, device, target)
            gap = ev.time_s / ev.analytical_time_s - 1 if ev.analytical_time_s else 0.0
            notes.append(f"{op.name}: {ev.name} event {ev.time_s:.4g} s, analytical bound {ev.analytical_time_s:.4g}"
                         f" s (+{gap:.1%})")
            pid = 10 + i
            probes.append({"name": "process_name", "ph": "M", "pid": pid,
                           "args": {"name": f"{op.name} ({ev.name}): simulated slice on archsim.engine"}})
            probes += [dict(e, pid=pid) for e in ev.trace or []]
        if op.kind == "attention" and op.shape.get("causal") and op.extra.get("dataflow") in ("fusemax", "flat"):
            notes.append(f"{op.name}: causal mask not exploited by the {op.extra['dataflow']} lowering "
                         "(the full seq_q x seq_kv rectangle is computed; useful_flops counts unmasked pairs)")
        results.append(r)
        serial.append({"name": op.name, "cat": op.kind, "ph": "X", "ts": t * 1e6, "dur": r.total_time_s * 1e6,
                       "pid": 1, "tid": 1, "args": {"count": op.count, "bound": r.bound}})
        t += r.total_time_s
    if roofline_kinds:
        notes.append(f"roofline (no task graph yet) for operator kinds: {', '.join(sorted(roofline_kinds))}")
    return Result(workload=workload_name, hardware=device.name, family=device.family,  # type: ignore[attr-defined]
                  backend="taskgraph", ops=results, peaks=peaks(device), tokens_by_phase=tokens,
                  timeline=serial + probes, notes=notes)


register_backend(Backend("taskgraph", ("accelerator",), 10, run_taskgraph,
                         "dataflow task graphs (fusemax, flat, flash, ...) played on archsim.engine components"))
