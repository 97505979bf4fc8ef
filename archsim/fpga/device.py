"""FPGA part model: resource capacities, AXI ports to off-chip memory, and the fit check.

A design is a set of named blocks, each with a :class:`Resources` bill (DSP slices, LUTs,
flip-flops, 36 Kb block RAMs, UltraRAMs, AXI master ports). :func:`check_fit` adds the bills
and raises :class:`ResourceOveruseError` naming the first over-used resource, how much is used
and available, and the blocks that use the most of it.

Off-chip bandwidth: an AXI master of ``width_bits`` at the kernel clock moves at most
``width/8`` bytes per cycle; it lands on a part port of ``axi_width_bits`` (a Zynq HP port is
128 bits, an HBM pseudo-channel 256), so one master moves ``min(kernel, port) width / 8`` bytes
per cycle, and all masters together never exceed the off-chip memory's peak.

What it ignores: routing congestion and timing closure (a design that fits by count may not
close at the clock), SLR crossings, LUTRAM/SRL use of LUTs (counted in the block's LUT bill).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from archsim.errors import ConfigError, Problem
from archsim.schemas.hardware import FpgaDevice

#: Bits of one 36 Kb block RAM and its widest port (72 bits incl. parity) [UG573].
BRAM36_BITS = 36 * 1024
BRAM36_MAX_WIDTH_BITS = 72
#: (width bits, depth) configurations of one BRAM36 [UG573]; parity bits carry data at >= 9 bits.
BRAM36_ASPECTS = ((72, 512), (36, 1024), (18, 2048), (9, 4096), (4, 8192), (2, 16384), (1, 32768))
#: One UltraRAM: 4K x 72 bits [UG573].
URAM_BITS = 4096 * 72
#: DSP48E2 multiplier operand widths (27 x 18 signed) [UG579].
DSP_A_BITS, DSP_B_BITS = 27, 18


@dataclass(frozen=True)
class Resources:
    """A resource bill or a capacity (counts of FPGA primitives)."""

    dsp: float = 0.0
    lut: float = 0.0
    ff: float = 0.0
    bram_36k: float = 0.0
    uram: float = 0.0
    axi_ports: float = 0.0

    def __add__(self, other: Resources) -> Resources:
        return Resources(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def scaled(self, factor: float) -> Resources:
        return Resources(**{f.name: getattr(self, f.name) * factor for f in fields(self)})

    def as_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


RESOURCE_NAMES = {"dsp": "DSP slices", "lut": "LUTs", "ff": "flip-flops", "bram_36k": "36Kb block RAMs",
                  "uram": "UltraRAMs", "axi_ports": "AXI ports to off-chip memory"}


class ResourceOveruseError(ConfigError):
    """A design needs more of a resource than the part has (a ConfigError: exit code 2)."""


@dataclass(frozen=True)
class FpgaPart:
    """What the model needs of an FPGA device preset, in SI units."""

    name: str
    part: str
    clock_hz: float
    capacity: Resources
    axi_width_bits: int
    offchip_name: str
    offchip_bandwidth_bytes_per_s: float
    offchip_latency_s: float
    offchip_energy_j_per_byte: float
    mac_energy_j: float
    vector_op_energy_j: float
    onchip_energy_j_per_byte: float
    static_power_w: float

    @classmethod
    def from_device(cls, device: FpgaDevice) -> FpgaPart:
        p = device.fpga
        levels = list(device.memory.values())
        onchip = levels[-1] if len(levels) > 1 else levels[0]
        mac_table = device.compute.matrix_energy_j_per_flop
        mac_op = next(iter(mac_table.values()), 0.0)
        return cls(
            name=device.name, part=p.part, clock_hz=device.clock_hz,
            capacity=Resources(dsp=p.dsp_slices, lut=p.luts, ff=p.flip_flops, bram_36k=p.bram_36k_blocks,
                               uram=p.uram_blocks, axi_ports=p.axi_ports),
            axi_width_bits=p.axi_width_bits, offchip_name=device.offchip_name,
            offchip_bandwidth_bytes_per_s=device.offchip.bandwidth_bytes_per_s,
            offchip_latency_s=device.offchip.latency_s or 0.0,
            offchip_energy_j_per_byte=device.offchip.read_energy_j_per_byte,
            mac_energy_j=2.0 * mac_op, vector_op_energy_j=device.compute.vector_energy_j_per_flop,
            onchip_energy_j_per_byte=onchip.read_energy_j_per_byte, static_power_w=device.static_power_w,
        )

    def port_bytes_per_cycle(self, kernel_width_bits: int, clock_hz: float | None = None) -> float:
        """Bytes per kernel cycle one AXI master moves, before the off-chip memory's own cap."""
        clock = clock_hz or self.clock_hz
        width = min(kernel_width_bits, self.axi_width_bits) / 8
        return min(width, self.offchip_bandwidth_bytes_per_s / clock)


# ---- primitive cost estimates (documented rules of thumb, not synthesis) ----

def dsps_per_multiplier(a_bits: int, b_bits: int) -> int:
    """DSP48E2 slices for one a x b multiply: tiles of 27 x 18 (HLS splits wider operands)."""
    a, b = max(a_bits, b_bits), min(a_bits, b_bits)
    if b <= DSP_B_BITS and a <= DSP_A_BITS:
        return 1
    return math.ceil(a / DSP_A_BITS) * math.ceil(b / DSP_B_BITS) if b > DSP_B_BITS else math.ceil(a / DSP_A_BITS)


def bram_for_array(width_bits: int, depth: int, partitions: int = 1) -> float:
    """36 Kb BRAMs for an array of ``depth`` words of ``width_bits``, split into ``partitions``.

    Each partition is mapped at the widest aspect ratio that holds its words: BRAM36 columns of
    72 bits x 512 (or 36 x 1K, 18 x 2K ... 1 x 32K). Arrays under 1 Kb go to LUTRAM (0 BRAM).
    """
    depth_p = math.ceil(depth / partitions)
    if width_bits * depth_p < 1024:
        return 0.0
    per_partition = min(math.ceil(width_bits / w) * math.ceil(depth_p / d) for w, d in BRAM36_ASPECTS)
    return float(per_partition * partitions)


#: LUT/FF per fixed-point adder bit and per multiplier glue (assumption: HLS-typical averages).
LUT_PER_ADDER_BIT = 1.0
FF_PER_PIPELINE_BIT = 1.5


def mac_array(macs: int, a_bits: int, b_bits: int, acc_bits: int) -> Resources:
    """``macs`` multiply-accumulate lanes: DSPs for the products, LUT adders for the tree."""
    dsp = macs * dsps_per_multiplier(a_bits, b_bits)
    lut = macs * acc_bits * LUT_PER_ADDER_BIT
    ff = macs * acc_bits * FF_PER_PIPELINE_BIT * 2
    return Resources(dsp=dsp, lut=lut, ff=ff)


@dataclass
class Design:
    """A named collection of blocks with resource bills, checked against a part."""

    name: str
    blocks: dict[str, Resources] = field(default_factory=dict)

    def add(self, block: str, bill: Resources) -> None:
        if block in self.blocks:
            raise ValueError(f"design {self.name!r} already has a block {block!r}")
        self.blocks[block] = bill

    def total(self) -> Resources:
        out = Resources()
        for bill in self.blocks.values():
            out = out + bill
        return out

    def utilisation(self, part: FpgaPart) -> dict[str, float]:
        used, cap = self.total().as_dict(), part.capacity.as_dict()
        return {k: (used[k] / cap[k] if cap[k] else (math.inf if used[k] else 0.0)) for k in used}


def check_fit(design: Design, part: FpgaPart) -> dict[str, float]:
    """Utilisation per resource (0..1); every over-used resource becomes one problem."""
    used, cap = design.total().as_dict(), part.capacity.as_dict()
    problems = []
    for key, amount in used.items():
        if amount > cap[key] + 1e-9:
            top = sorted(design.blocks.items(), key=lambda kv: -getattr(kv[1], key))[:3]
            users = ", ".join(f"{b} {getattr(r, key):.0f}" for b, r in top if getattr(r, key))
            problems.append(Problem(
                f"design {design.name!r} needs {amount:.0f} {RESOURCE_NAMES[key]} but {part.part} has "
                f"{cap[key]:.0f} ({amount / cap[key] if cap[key] else math.inf:.0%}); largest users: {users}",
                key_path=f"fpga.{key}"))
    if problems:
        raise ResourceOveruseError(problems)
    return design.utilisation(part)
