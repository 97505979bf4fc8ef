"""The ``fpga`` backend: operators on a unified-compute-unit design, played as dataflow regions.

``archsim run --hw zcu102 <workload>`` lands here (family ``fpga``, priority above the
roofline). Each operator becomes steps (:mod:`archsim.fpga.design`); each step's dataflow
region is simulated on the event engine (``fpga``) or estimated in closed form
(``fpga-analytic``); a weight-load step marked ``overlap_with_next`` runs beside the next
step (ping/pong buffers). The design is checked against the part first: over-use of any
resource is a :class:`~archsim.fpga.device.ResourceOveruseError` naming it.

Energy = MACs x MAC energy + off-chip bytes x off-chip energy + exp/recip ops x vector-op
energy + static power x time (the part preset's numbers, all cited or marked assumption).
The workload's dtype is not used: the design's own fixed-point widths set the bytes.
"""

from __future__ import annotations

from typing import Any

from archsim.backends import Backend, register_backend
from archsim.fpga.design import Step, UnifiedDesign, UnifiedDesignConfig
from archsim.fpga.device import FpgaPart, check_fit
from archsim.ops import Op
from archsim.result import OpResult, Result
from archsim.schemas.hardware import FpgaDevice


def step_cycles(step: Step, clock_hz: float, event: bool) -> float:
    if event:
        return step.region.simulate(clock_hz).cycles
    return step.region.analytic_cycles()


def op_cycles(steps: list[Step], clock_hz: float, event: bool) -> tuple[float, dict[str, float]]:
    """Cycles of a list of steps run in order; an overlapped load runs beside the next step."""
    total, by_step = 0.0, {}
    pending = 0.0
    for step in steps:
        cyc = step_cycles(step, clock_hz, event)
        by_step[step.name] = cyc
        if step.overlap_with_next:
            pending = max(pending, cyc)
            continue
        total += max(cyc, pending)
        pending = 0.0
    return total + pending, by_step


def evaluate(op: Op, design: UnifiedDesign, event: bool) -> OpResult:
    part, cfg = design.part, design.config
    steps = design.op_steps(op)
    cycles, _ = op_cycles(steps, cfg.clock_hz, event)
    time_s = cycles / cfg.clock_hz
    macs = sum(s.macs for s in steps)
    offchip = sum(s.offchip_bytes for s in steps)
    exps = sum(s.exp_ops for s in steps)
    e_compute = macs * part.mac_energy_j + exps * part.vector_op_energy_j
    e_mem = offchip * part.offchip_energy_j_per_byte
    e_static = part.static_power_w * time_s
    return OpResult(
        name=op.name, kind=op.kind, phase=op.phase, count=op.count, dtype=op.dtype,
        matrix_flops=2.0 * macs, vector_flops=exps, transcendentals=exps, useful_flops=2.0 * macs,
        bytes_by_level={part.offchip_name: offchip}, time_s=time_s,
        time_by_resource={"fpga": time_s}, bound="dataflow",
        energy_j=e_compute + e_mem + e_static,
        energy_by_part={"compute": e_compute, f"memory:{part.offchip_name}": e_mem, "static": e_static},
        shape=dict(op.shape), fused=op.fused)


def run_design(workload_name: str, device: FpgaDevice, ops: list[Op], tokens: dict[str, int],
               config: UnifiedDesignConfig | None = None, event: bool = True) -> Result:
    part = FpgaPart.from_device(device)
    cfg = config or UnifiedDesignConfig(clock_hz=device.clock_hz)
    design = UnifiedDesign(cfg, part)
    util = check_fit(design.design, part)
    results = [evaluate(op, design, event) for op in ops]
    peaks: dict[str, Any] = {"clock_hz": cfg.clock_hz, "utilisation": util,
                             "port_bytes_per_cycle": design.port_rate(),
                             "resources_used": design.design.total().as_dict()}
    return Result(workload=workload_name, hardware=device.name, family="fpga",
                  backend="fpga" if event else "fpga-analytic", ops=results, peaks=peaks, tokens_by_phase=tokens,
                  notes=[f"fpga: unified-compute-unit design {cfg.name!r} (Edge-MoE HLS parameters), "
                         "dataflow regions " + ("simulated on the event engine" if event else "in closed form")])


def _run_event(workload_name: str, device: FpgaDevice, ops: list[Op], tokens: dict[str, int]) -> Result:
    return run_design(workload_name, device, ops, tokens, event=True)


def _run_analytic(workload_name: str, device: FpgaDevice, ops: list[Op], tokens: dict[str, int]) -> Result:
    return run_design(workload_name, device, ops, tokens, event=False)


register_backend(Backend("fpga", ("fpga",), 10, _run_event,
                         "FPGA unified design: HLS pipelines and dataflow regions on the event engine"))
register_backend(Backend("fpga-analytic", ("fpga",), 5, _run_analytic,
                         "FPGA unified design: dataflow regions in closed form"))
