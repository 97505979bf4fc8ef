"""Energy per DRAM command, per SRAM access and per arithmetic operation, with sources.

DRAM: the standard's ``energy`` block (per ACT+PRE pair, per byte read/written, per REFab;
a REFpb refreshes 1/banks of the rows and is charged refresh_j / banks). The presets derive
them from datasheet IDD currents with Micron TN-41-01's method; they exclude I/O (PHY and
termination) energy and background (standby) power, which this model ignores.

SRAM and arithmetic: Horowitz, "Computing's energy problem (and what we can do about it)",
ISSCC 2014, 45 nm, 0.9 V: 64-bit SRAM reads of 10 pJ (8 KB), 20 pJ (32 KB), 100 pJ (1 MB);
fp16 add 0.4 pJ / mult 1.1 pJ, fp32 add 0.9 pJ / mult 3.7 pJ, int8 add 0.03 pJ / mult 0.2 pJ.
Other sizes interpolate log-log between those three points (clamped at the ends).
"""

from __future__ import annotations

import math

from archsim.schemas.memory import MemoryStandard

#: Horowitz ISSCC 2014 (45 nm): energy per 64-bit SRAM read, by array size in bytes.
SRAM_READ_J_PER_64BIT = ((8 * 1024, 10e-12), (32 * 1024, 20e-12), (1024 * 1024, 100e-12))

#: Horowitz ISSCC 2014 (45 nm): energy per operation in joules.
OP_ENERGY_J = {
    "fp16_add": 0.4e-12, "fp16_mul": 1.1e-12, "fp16_mac": 1.5e-12,
    "fp32_add": 0.9e-12, "fp32_mul": 3.7e-12, "fp32_mac": 4.6e-12,
    "int8_add": 0.03e-12, "int8_mul": 0.2e-12, "int8_mac": 0.23e-12,
}


def dram_energy_j(std: MemoryStandard, counts: dict[str, int]) -> float:
    """Energy of the commands in ``counts`` (keys act, rd, wr, refab, refpb) on ``std``."""
    e = std.energy
    bb = std.burst_bytes
    return (counts.get("act", 0) * e.activate_j
            + counts.get("rd", 0) * bb * e.read_j_per_byte
            + counts.get("wr", 0) * bb * e.write_j_per_byte
            + counts.get("refab", 0) * e.refresh_j
            + counts.get("refpb", 0) * e.refresh_j / std.banks)


def sram_j_per_byte(capacity_bytes: float) -> float:
    """Read energy per byte of an SRAM array of ``capacity_bytes`` (Horowitz 2014, log-log fit)."""
    pts = SRAM_READ_J_PER_64BIT
    c = min(max(capacity_bytes, pts[0][0]), pts[-1][0])
    for (c0, e0), (c1, e1) in zip(pts, pts[1:], strict=False):
        if c <= c1:
            f = (math.log(c) - math.log(c0)) / (math.log(c1) - math.log(c0))
            return math.exp(math.log(e0) + f * (math.log(e1) - math.log(e0))) / 8
    return pts[-1][1] / 8


def op_energy_j(op: str) -> float:
    try:
        return OP_ENERGY_J[op]
    except KeyError:
        raise ValueError(f"unknown op {op!r}; valid: {', '.join(OP_ENERGY_J)}") from None
