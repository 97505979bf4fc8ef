"""Run a parallel workload on a node: ONE device's operators costed by the device's backend, the
collectives by :mod:`archsim.collectives`, the pipeline bubble and hand-offs added as rows.

``simulate_parallel(workload, hardware)`` takes a ``system`` preset with a GPU group (hgx-h100,
hgx-h200, hgx-b200) or a single device when the workload asks for one device; it refuses a
workload that needs more devices than the hardware has, or more memory per device than the device
holds (:func:`archsim.capacity.check_capacity`). The Result describes one device of the
deployment: its latency is the deployment's (all devices run in lock step), its energy is one
device's (multiply by ``parallel.devices`` for the node). Communication does not overlap compute
(eager Megatron) unless ``parallel.overlap_communication`` is set: then each collective hides
behind the GEMM that produces its input, as far as that GEMM is long (an upper bound on what
chunked async tensor parallelism or fused GEMM+all-reduce kernels achieve).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from archsim import presets
from archsim.backends import choose
from archsim.backends.driver import run_operators
from archsim.capacity import _device, check_capacity
from archsim.collectives import Fabric, estimate, fabric_from_system, p2p_time_s
from archsim.errors import ConfigError
from archsim.guards import check_result_within_peaks
from archsim.lowering import tokens_by_phase
from archsim.operators import Collective, Operator
from archsim.parallel.lowering import lower_parallel, stage_activation_bytes
from archsim.result import OpResult, Result
from archsim.schemas.hardware import SystemSpec
from archsim.schemas.workload import DecodePhase, Workload
from archsim.trace_events import serial_schedule


def collective_result(op: Collective, fabric: Fabric) -> OpResult:
    """One collective operator timed by the NCCL-style model over ``fabric``."""
    est = estimate(op.op.replace("_", "-"), op.bytes, op.group, fabric)
    work = op.work()
    # the reduction's adds run inside NCCL's kernel and are bounded by the link, not the vector unit: kept
    # in ``shape`` rather than as vector FLOPs (an overlapped collective may expose zero time)
    return OpResult(name=op.name, kind=op.kind, phase=op.phase, count=op.count, dtype=op.dtype, matrix_flops=0.0,
                    vector_flops=0.0, transcendentals=0.0, useful_flops=0.0, bytes_by_level={},
                    time_s=est.latency_s, time_by_resource={f"link:{fabric.intra.name}": est.latency_s},
                    bound=f"link:{fabric.intra.name}", energy_j=0.0, energy_by_part={},
                    shape={"op": op.op, "bytes": op.bytes, "group": op.group, "algorithm": est.algorithm,
                           "protocol": est.protocol, "bus_bandwidth_bytes_per_s": est.bus_bandwidth_bytes_per_s,
                           "reduce_flops": work.vector_flops},
                    fused=True)


def _row(name: str, phase: str, dtype: str, seconds: float, resource: str, shape: dict[str, Any]) -> OpResult:
    return OpResult(name=name, kind="pipeline", phase=phase, count=1, dtype=dtype, matrix_flops=0.0,
                    vector_flops=0.0, transcendentals=0.0, useful_flops=0.0, bytes_by_level={}, time_s=seconds,
                    time_by_resource={resource: seconds}, bound=resource, energy_j=0.0, energy_by_part={},
                    shape=shape, fused=True)


def _overlap(results: list[OpResult]) -> list[OpResult]:
    """Hide each collective behind the GEMM just before it (ideal chunked overlap): only the part of the
    collective longer than that GEMM stays exposed; the hidden part is kept in ``time_by_resource``."""
    out: list[OpResult] = []
    for r in results:
        prev = out[-1] if out else None
        if r.kind == "collective" and prev is not None and prev.kind == "gemm" and prev.count == r.count:
            link = r.time_s
            exposed = max(0.0, link - prev.time_s)
            hidden = {**r.time_by_resource, "hidden_behind_gemm": link - exposed}
            r = replace(r, time_s=exposed, time_by_resource=hidden, bound=r.bound if exposed > 0 else "overlapped")
        out.append(r)
    return out


def _pipeline_rows(workload: Workload, model: Any, fabric: Fabric, ops: list[OpResult]) -> list[OpResult]:
    """Bubble ((pipeline - 1) micro-batch stage times per step) and the critical path's hand-offs."""
    p = workload.parallel
    steps: dict[str, int] = {}
    for phase in workload.phases:
        steps[phase.phase] = steps.get(phase.phase, 0) + (phase.steps if isinstance(phase, DecodePhase) else 1)
    handoff = stage_activation_bytes(workload, model, p)
    across = p.devices > fabric.gpus_per_node
    rows = []
    for name, n_steps in steps.items():
        stage_s = sum(o.total_time_s for o in ops if o.phase == name) / p.micro_batches
        rows.append(_row(f"{name}.pipeline_bubble", name, workload.dtype, (p.pipeline - 1) * stage_s, "bubble",
                         {"stages": p.pipeline, "micro_batches": p.micro_batches,
                          "bubble_fraction": (p.pipeline - 1) / (p.micro_batches + p.pipeline - 1)}))
        hop = p2p_time_s(handoff[name], fabric, across_nodes=across)
        rows.append(_row(f"{name}.pipeline_send", name, workload.dtype, n_steps * (p.pipeline - 1) * hop,
                         f"link:{fabric.intra.name}", {"bytes": handoff[name], "hops": p.pipeline - 1}))
    return rows


def simulate_parallel(workload: Workload | str, hardware: Any, *, backend: str = "auto") -> Result:
    """One device's view of ``workload`` split by its ``parallel`` section over ``hardware``."""
    wl = presets.load_workload(workload) if isinstance(workload, str) else workload
    hw = presets.load_hardware(hardware) if isinstance(hardware, str) else hardware
    if isinstance(hw, SystemSpec) and len(hw.devices) > 1:
        raise ConfigError.single(
            f"hardware {hw.name!r} mixes device groups ({', '.join(hw.devices)}); `archsim run` simulates one group "
            f"of identical GPUs (hgx-h100, hgx-h200, hgx-b200) — serve a model on this system with "
            f"`archsim offload {hw.name}`", key_path="devices")
    model = presets.resolve_model(wl)
    if model is None:
        raise ConfigError.single("parallel splits need a model workload (explicit layers are one device's shapes)",
                                 key_path="parallel")
    device: Any
    device, count = _device(hw)
    memory = check_capacity(wl, hw, model=model)  # also refuses more devices than the hardware has
    p = wl.parallel
    fabric = fabric_from_system(hw, load_device=presets.load_hardware) if isinstance(hw, SystemSpec) else None
    ops: list[Operator] = lower_parallel(wl, model, p)
    if fabric is None and any(isinstance(op, Collective) for op in ops):
        raise ConfigError.single(f"{device.name!r} is one device; parallel {p.devices} needs a system preset",
                                 key_path="parallel")
    scale = p.micro_batches if p.pipeline > 1 else 1
    ops = [op if scale == 1 else type(op)(**{**op.__dict__, "count": op.count * scale}) for op in ops]
    compute = [op for op in ops if not isinstance(op, Collective)]
    base = run_operators(choose(backend, device.family), wl.name, device, compute, tokens_by_phase(wl, model))
    costed = iter(base.ops)
    results = [collective_result(op, fabric) if isinstance(op, Collective) else next(costed)  # type: ignore[arg-type]
               for op in ops]
    if p.overlap_communication:
        results = _overlap(results)
    if p.pipeline > 1:
        assert fabric is not None
        results += _pipeline_rows(wl, model, fabric, results)
    split = ", ".join(f"{k}={v}" for k, v in p.model_dump(exclude={"micro_batches", "overlap_communication"}).items()
                      if v > 1)
    notes = [*base.notes, f"parallel: one device of {p.devices} ({split or 'no split'}) on {hw.name}; collectives "
             f"timed by archsim.collectives over {fabric.intra.name if fabric else 'none'}; "
             + ("each collective overlapped with the GEMM before it (ideal chunking)" if p.overlap_communication
                else "no overlap of communication with compute (eager Megatron)") + "; energy is one device's",
             f"memory per device: {memory.total_bytes / 1e9:.1f} GB of {memory.capacity_bytes / 1e9:.1f} GB (weights "
             f"{memory.weights_bytes / 1e9:.1f} + KV cache {memory.kv_cache_bytes / 1e9:.1f} + activations "
             f"{memory.activation_bytes / 1e9:.2f} GB)"]
    result = Result(workload=wl.name, hardware=f"{hw.name}" if count == 1 else f"{hw.name} ({device.name} x{count})",
                    family=device.family, backend=base.backend, ops=results, peaks=base.peaks,
                    tokens_by_phase=base.tokens_by_phase, notes=notes, memory=memory.to_dict())
    result.timeline = serial_schedule(result)
    check_result_within_peaks(result, device)
    if not math.isfinite(result.latency_s):
        raise ConfigError.single("parallel simulation produced a non-finite latency", key_path="parallel")
    return result
