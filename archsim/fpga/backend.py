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

from dataclasses import dataclass
from typing import Any, ClassVar

from archsim.backends import Backend
from archsim.backends.driver import run_operators
from archsim.fpga.design import Step, UnifiedDesign, UnifiedDesignConfig
from archsim.fpga.device import FpgaPart, check_fit
from archsim.operators import Operator
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


def evaluate(op: Operator, design: UnifiedDesign, event: bool) -> OpResult | None:
    """One execution of ``op`` on ``design``, or None when the design has no unit for it."""
    part, cfg = design.part, design.config
    steps = design.op_steps(op)
    if steps is None:
        return None
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
        time_by_resource={"fpga": time_s}, bound="dataflow" if steps else "fused",
        energy_j=e_compute + e_mem + e_static,
        energy_by_part={"compute": e_compute, f"memory:{part.offchip_name}": e_mem, "static": e_static},
        shape=op.shape(), fused=op.fused)


@dataclass
class FpgaView:
    """The FPGA backend's device view: the part, the design placed on it, its utilisation."""

    device: FpgaDevice
    design: UnifiedDesign
    utilisation: dict[str, float]


class FpgaBackend(Backend):
    """Unified-compute-unit design; HLS regions simulated on the event engine."""

    name: ClassVar[str] = "fpga"
    families: ClassVar[tuple[str, ...]] = ("fpga",)
    priority: ClassVar[int] = 10
    description: ClassVar[str] = "FPGA unified design: HLS pipelines and dataflow regions on the event engine"
    event: ClassVar[bool] = True

    def __init__(self, config: UnifiedDesignConfig | None = None) -> None:
        self.config = config

    def prepare(self, hardware: FpgaDevice) -> FpgaView:
        part = FpgaPart.from_device(hardware)
        design = UnifiedDesign(self.config or UnifiedDesignConfig(clock_hz=hardware.clock_hz), part)
        return FpgaView(hardware, design, check_fit(design.design, part))

    def evaluate(self, op: Operator, view: FpgaView) -> OpResult | None:
        return evaluate(op, view.design, self.event)

    def peaks(self, hardware: FpgaDevice, view: FpgaView) -> dict[str, Any]:
        d = view.design
        return {"clock_hz": d.config.clock_hz, "utilisation": view.utilisation, "port_bytes_per_cycle": d.port_rate(),
                "resources_used": d.design.total().as_dict()}

    def notes(self, view: FpgaView) -> list[str]:
        how = "simulated on the event engine" if self.event else "in closed form"
        return [f"fpga: unified-compute-unit design {view.design.config.name!r} (Edge-MoE HLS parameters), "
                f"HLS regions {how}"]


class FpgaAnalyticBackend(FpgaBackend):
    """The same design with every HLS region in closed form (no engine)."""

    name: ClassVar[str] = "fpga-analytic"
    priority: ClassVar[int] = 5
    description: ClassVar[str] = "FPGA unified design: dataflow regions in closed form"
    event: ClassVar[bool] = False


def run_design(workload_name: str, device: FpgaDevice, ops: list[Operator], tokens: dict[str, int],
               config: UnifiedDesignConfig | None = None, event: bool = True) -> Result:
    """Run ``ops`` on a design with ``config`` (studies sweep design parameters through this)."""
    backend = FpgaBackend(config) if event else FpgaAnalyticBackend(config)
    return run_operators(backend, workload_name, device, ops, tokens)
