"""Bounds from known silicon, and the checks that hold a preset to them (the spec guards).

:func:`device_problems` (one device of any family), :func:`system_problems` and
:func:`memory_standard_problems` return ``(key path, message)`` pairs; the schema validators of
:mod:`archsim.schemas.hardware` and :mod:`archsim.schemas.memory` raise them through
:func:`raise_problems` as validation errors, so a user sees ``file:line: key.path: message``
beside every other problem of the file, and exit code 2. Every bound names the shipping silicon
it is derived from (in the comment beside it) and sits a margin above it: a guard catches unit
slips and fuzzed numbers, not the next product generation. The checks of results against these
devices' peaks are in :mod:`archsim.guards`.

Units: SI throughout (Hz, FLOP/s, B/s, B, W, J).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Problems = list[tuple[tuple[Any, ...], str]]

#: Relative slack for a power or rate compared with its bound (float rounding).
RATE_TOLERANCE = 1e-6

# --- every family -----------------------------------------------------------------------------
#: Below 1 MHz no device archsim models runs; a bare ``clock_hz: 1.98`` (GHz meant) lands here.
MIN_CLOCK_HZ = 1e6
#: Each resource alone at its peak rate (a compute unit, or one memory level with every port busy
#: every cycle) may draw at most this many times the TDP. TDP bounds the sustained power of the
#: whole part; one resource flat out is an upper estimate no workload sustains beside the others.
#: The GPU presets sit at 0.7x (energy per FLOP = 70% of TDP at peak); the closest shipped preset
#: is the ZCU102's BRAM level (0.6 pJ/bit x 19.7 TB/s = 95 W on a 30 W part, 3.2x). 4x still
#: rejects 1 nJ/FLOP on an H100 (1,400x its 700 W).
POWER_OVER_TDP = 4.0
#: 0.1 fJ per FLOP: 10x below the most efficient reported compute (binary/analog in-memory
#: macros at ~1 fJ/op, ~1000 TOPS/W); digital tensor cores are ~0.2-1 pJ/FLOP.
MIN_ENERGY_J_PER_FLOP = 1e-16
#: 1 fJ per byte: ~1000x below the smallest on-chip SRAM access energies (~0.1 pJ/bit = 0.8 pJ/B).
MIN_ENERGY_J_PER_BYTE = 1e-15
#: DRAM bandwidth of one device: 100 TB/s is 12x a B200's 8 TB/s of HBM3e and 7x the in-stack
#: bandwidth of Duplex's logic-die PIM (13.4 TB/s, the highest DRAM-level figure shipped here).
MAX_DRAM_BANDWIDTH_BYTES_PER_S = 100e12
#: DRAM capacity of one device: 8 TiB, above a 12-channel 2-DIMM-per-channel CPU socket (6 TB) and
#: 28x the largest GPU memory (288 GB HBM3e on B300/MI355X).
MAX_DRAM_CAPACITY_BYTES = 8 * 2**40
#: On-chip capacity (SRAM, caches, registers) of one device: 64 GiB, above the largest die ever
#: built (Cerebras WSE-3, a whole wafer, 44 GB of SRAM); an H100 has ~85 MB on chip.
MAX_ONCHIP_CAPACITY_BYTES = 64 * 2**30

#: Kinds of memory level from off-chip inward; a level may not follow one of a higher rank.
LEVEL_RANK = {"dram": 0, "cache": 1, "sram": 1, "register": 2}


@dataclass(frozen=True)
class FamilyLimits:
    """Per-family upper bounds: clock (Hz) and TDP (W, also the power bound when a preset has no TDP)."""

    max_clock_hz: float
    max_tdp_w: float


FAMILY_LIMITS = {
    # fastest shipping GPU boost clocks are ~2.5-3 GHz (RTX 5090 2.41 GHz, RX 9070 XT 2.97 GHz);
    # largest GPU board power 1.4 kW (B300, MI355X)
    "gpu": FamilyLimits(max_clock_hz=4e9, max_tdp_w=3000.0),
    # FPGA fabric tops out near 1 GHz (UltraScale+ DSP48E2 Fmax 891 MHz, Versal AI Engine 1.3 GHz);
    # the largest accelerator cards draw 225-400 W (Alveo U280 225 W, VPK180 boards)
    "fpga": FamilyLimits(max_clock_hz=2e9, max_tdp_w=1000.0),
    # logic next to or inside DRAM: AiM 1 GHz, HBM-PIM 300 MHz, logic-die PIM 1.5 GHz (Duplex);
    # a PIM device is a DRAM module or an HBM stack set (tens to a few hundred watts)
    "pim": FamilyLimits(max_clock_hz=3e9, max_tdp_w=1000.0),
    # any silicon: the fastest shipping cores run ~6 GHz (i9-14900KS 6.2 GHz boost); the largest
    # single device is a wafer-scale engine (Cerebras CS-3 system ~23 kW)
    "accelerator": FamilyLimits(max_clock_hz=6.5e9, max_tdp_w=30000.0),
}

# --- GPUs ---------------------------------------------------------------------------------------
#: SMs/CUs: the largest shipping GPUs have 304 CUs (MI300X) and 148 SMs (B200, two dies).
MAX_SM_COUNT = 1024
#: Resident threads per SM: 2048 on NVIDIA since Kepler; 2560 per AMD CDNA CU (4 SIMDs x 10 waves x 64).
MAX_THREADS_PER_SM = 4096
#: Resident CTAs per SM: 32 on NVIDIA Volta..Blackwell (cc 7.0-10.0); 2x that.
MAX_CTAS_PER_SM = 64
#: 32-bit registers per SM: 65,536 on NVIDIA; 131,072 VGPRs (+ AGPRs) per AMD CDNA3 CU; 4x the AMD figure.
MAX_REGISTERS_PER_SM = 2**19
#: Shared memory per SM: 228 KiB on H100/B200, 64 KiB LDS per AMD CU; 1 MiB is 4x the largest.
MAX_SHARED_MEMORY_PER_SM_BYTES = 2**20
#: Threads per warp/wavefront: 32 (NVIDIA), 64 (AMD CDNA), 8-32 (Intel sub-groups).
WARP_SIZES = (8, 16, 32, 64)
#: Kernel launch overhead: 2-10 us on CUDA/ROCm stacks; 1 ms is a unit slip.
MAX_LAUNCH_OVERHEAD_S = 1e-3
#: Dense matrix FLOP per SM per clock: B200 FP8 dense is 4.5 PFLOP/s / (148 SMs x 1.965 GHz) =
#: 15.5k (H100: 7.6k); 2x B200 FP8 covers its FP4 rate as well.
MAX_MATRIX_FLOP_PER_SM_PER_CLOCK = 32768
#: Vector FLOP per SM per clock: 256 FP32 on H100 (128 FMA lanes) and MI300X (FP32 dual-issue);
#: packed FP16 doubles it; 8x H100 FP32.
MAX_VECTOR_FLOP_PER_SM_PER_CLOCK = 2048
#: Transcendental results per SM per clock: 16 MUFU/SM/clk on NVIDIA cc 8.x-9.0; 16x.
MAX_SFU_OPS_PER_SM_PER_CLOCK = 256

# --- FPGAs --------------------------------------------------------------------------------------
#: DSP slices: VU13P 12,288 DSP48E2; Versal Premium VP1802 14,352 DSP58; ~2x.
MAX_DSP_SLICES = 32768
#: LUTs: Versal VP1902 (the largest FPGA, 18.5 M logic cells) has ~8.5 M LUTs; ~2x.
MAX_LUTS = 20_000_000
#: Flip-flops: twice the LUTs on every AMD/Intel family.
MAX_FLIP_FLOPS = 40_000_000
#: 36 Kb block RAMs: VU13P 2,688; VU19P 2,160; 6x the largest.
MAX_BRAM_36K = 16384
#: UltraRAM blocks: VU13P 1,280; 6x.
MAX_URAM = 8192
#: AXI ports: U280 exposes 32 HBM pseudo-channel ports; 32x.
MAX_AXI_PORTS = 1024
#: AXI data width: the AMBA AXI4 specification allows at most 1024 bits.
MAX_AXI_WIDTH_BITS = 1024
#: Ops per DSP slice per clock: one 27x18 MAC is 2 ops; INT8 packing gives 2 MACs (4 ops) on
#: DSP48E2 and 3 (6 ops) on DSP58; LUT logic adds a little; 16 covers all of it.
MAX_OPS_PER_DSP_PER_CLOCK = 16

# --- PIM ----------------------------------------------------------------------------------------
#: Channels of one PIM device: Duplex uses 80 (5 HBM3 stacks x 16); 8 HBM4 stacks x 32 = 256; 4x that.
MAX_PIM_CHANNELS = 1024
#: Banks per channel: 16 (GDDR6, LPDDR5), 32 (DDR5), 48-64 per HBM3 channel; 2x.
MAX_BANKS_PER_CHANNEL = 128
#: MAC lanes per PIM unit: 16 (AiM, HBM-PIM), 448 (Duplex's logic-die unit); ~9x.
MAX_LANES_PER_UNIT = 4096

# --- spatial accelerators -----------------------------------------------------------------------
#: PEs in one array: 256 x 256 (TPU v1, FuseMax); Cerebras WSE-3 has 900,000 cores; 4 Mi.
MAX_PES = 2**22
#: MACs per PE per clock: 1 in FuseMax/TPU PEs, 8 FP16 FMAs per Cerebras core; 32x the latter.
MAX_MACS_PER_PE_PER_CLOCK = 256

# --- systems ------------------------------------------------------------------------------------
#: Devices in one system entry: the largest training clusters have ~100k-200k GPUs; 1 Mi.
MAX_DEVICES_PER_ENTRY = 2**20
#: One link's bandwidth per direction: NVLink 5 gives a B200 900 GB/s per direction; ~11x.
MAX_LINK_BANDWIDTH_BYTES_PER_S = 10e12

# --- DRAM memory standards (archsim.schemas.memory, microbench dram) ----------------------------
#: Per-pin data rate: GDDR7 runs 28-32 Gb/s (48 Gb/s in its spec), HBM4 8-10, DDR5 8.8; 64 Gb/s is
#: above every DRAM interface.
MAX_DATA_RATE_TRANSFERS_PER_S = 64e9
#: Below 100 MT/s is pre-DDR SDRAM: a unit slip.
MIN_DATA_RATE_TRANSFERS_PER_S = 1e8
#: Command clock: tCK >= 0.1 ns (10 GHz); GDDR7's CK is ~2-4 GHz, DDR5-8800 runs 4.4 GHz.
MIN_TCK_S = 1e-10
#: Data bus width per (pseudo-)channel: 16-64 bits today; a whole HBM4 stack is 2048 bits.
MAX_BUS_WIDTH_BITS = 2048
#: Independently scheduled (pseudo-)channels per device: HBM4 has 32 channels x 2 = 64; 4x.
MAX_DRAM_UNITS = 256
#: Peak bandwidth of one memory device (stack/chip/channel set): an HBM4 stack is 2 TB/s
#: (2048 bits x 8 Gb/s); 4x that.
MAX_STANDARD_BANDWIDTH_BYTES_PER_S = 8e12
#: Capacity of one memory device: HBM4 16-high 64 GB, DDR5 RDIMM 256 GB; 1 TiB.
MAX_STANDARD_CAPACITY_BYTES = 2**40
#: Row timings: tRCD and tRP are 12-18 ns on every DDR/GDDR/HBM/LPDDR generation (sense-amplifier
#: physics); RLDRAM3, the lowest-latency DRAM, has a 6.7 ns row cycle. 5 ns is below all of them.
MIN_ROW_TIMING_S = 5e-9


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _below(problems: Problems, path: tuple[Any, ...], value: float, limit: float, what: str) -> None:
    if value > limit:
        problems.append((path, f"{_fmt(value)} is beyond known silicon: {what} (limit {_fmt(limit)})"))


def _energy(problems: Problems, path: tuple[Any, ...], value: float, floor: float, unit: str) -> None:
    if value < floor:
        problems.append((path, f"{_fmt(value)} {unit} is not a physical energy (nothing real spends less than "
                               f"{_fmt(floor)} {unit})"))


def _power(problems: Problems, path: tuple[Any, ...], what: str, watts: float, budget_w: float,
           budget: str) -> None:
    if watts > budget_w * (1 + RATE_TOLERANCE):
        problems.append((path, f"{what} draws {_fmt(watts)} W at peak, above {budget} ({_fmt(budget_w)} W): "
                               "the energy or the peak rate is wrong"))


def device_problems(device: Any) -> Problems:
    """Every physical-limit problem of one device (any family); empty when the device is plausible."""
    problems: Problems = []
    family = device.family
    limits = FAMILY_LIMITS[family]
    clock = device.clock_hz
    if clock < MIN_CLOCK_HZ:
        problems.append((("clock_hz",), f"{_fmt(clock)} Hz is below {_fmt(MIN_CLOCK_HZ)} Hz (did you mean GHz?)"))
    _below(problems, ("clock_hz",), clock, limits.max_clock_hz, f"{family} clocks")
    if device.tdp_w is not None:
        _below(problems, ("tdp_w",), device.tdp_w, limits.max_tdp_w, f"{family} power")
    if device.tdp_w is not None and device.static_power_w > device.tdp_w:
        problems.append((("static_power_w",), f"static power {_fmt(device.static_power_w)} W exceeds tdp_w "
                                              f"{_fmt(device.tdp_w)} W"))
    problems += _memory_problems(device)
    problems += _energy_problems(device, limits)
    checker = {"gpu": _gpu_problems, "fpga": _fpga_problems, "pim": _pim_problems,
               "accelerator": _accelerator_problems}[family]
    problems += checker(device)
    return problems


def _memory_problems(device: Any) -> Problems:
    problems: Problems = []
    levels = list(device.memory.items())
    dram_totals = [lvl.capacity_bytes * lvl.instances for _, lvl in levels if lvl.kind == "dram"]
    for i, (name, lvl) in enumerate(levels):
        total = lvl.capacity_bytes * lvl.instances
        path = ("memory", name)
        if lvl.kind == "dram":
            _below(problems, path + ("bandwidth_bytes_per_s",), lvl.bandwidth_bytes_per_s,
                   MAX_DRAM_BANDWIDTH_BYTES_PER_S, "DRAM bandwidth of one device")
            _below(problems, path + ("capacity_bytes",), total, MAX_DRAM_CAPACITY_BYTES,
                   "DRAM capacity of one device")
        else:
            _below(problems, path + ("capacity_bytes",), total, MAX_ONCHIP_CAPACITY_BYTES,
                   "on-chip memory of one device (capacity x instances)")
            if dram_totals and total >= min(dram_totals):
                problems.append((path + ("capacity_bytes",),
                                 f"on-chip {lvl.kind} holds {_fmt(total)} B (capacity x instances), not less than "
                                 f"the off-chip DRAM ({_fmt(min(dram_totals))} B)"))
        if i == 0:
            continue
        outer_name, outer = levels[i - 1]
        if LEVEL_RANK[lvl.kind] < LEVEL_RANK[outer.kind]:
            problems.append((path + ("kind",), f"a {lvl.kind} level listed inside {outer.kind} level {outer_name!r}: "
                                               "list memory levels from off-chip inward"))
        elif lvl.kind == outer.kind == "dram" and total > outer.capacity_bytes * outer.instances:
            problems.append((path + ("capacity_bytes",), f"DRAM level holds more than the outer DRAM level "
                                                         f"{outer_name!r}: list levels from the largest inward"))
        elif LEVEL_RANK[lvl.kind] == LEVEL_RANK[outer.kind] == 1 and lvl.capacity_bytes > outer.capacity_bytes:
            problems.append((path + ("capacity_bytes",), f"{_fmt(lvl.capacity_bytes)} B per instance is more than "
                                                         f"the outer level {outer_name!r} "
                                                         f"({_fmt(outer.capacity_bytes)} B): levels run from the "
                                                         "largest inward"))
    return problems


def _energy_problems(device: Any, limits: FamilyLimits) -> Problems:
    problems: Problems = []
    c = device.compute
    budget_w, budget = ((POWER_OVER_TDP * device.tdp_w, f"{POWER_OVER_TDP:g}x tdp_w") if device.tdp_w is not None
                        else (limits.max_tdp_w, f"the largest {device.family} power"))
    # A zero vector or on-chip energy reads "not modelled" (the schema default, and what a
    # model_dump round trip carries); a zero matrix entry, a zero off-chip energy, or a device
    # with no compute energy at all is an energy model that makes everything free.
    for dtype, e in c.matrix_energy_j_per_flop.items():
        _energy(problems, ("compute", "matrix_energy_j_per_flop", dtype), e, MIN_ENERGY_J_PER_FLOP, "J/FLOP")
        rate = c.matrix_flops_per_s.get(dtype)
        if rate is not None:
            _power(problems, ("compute", "matrix_energy_j_per_flop", dtype), f"the {dtype} matrix unit",
                   e * rate, budget_w, budget)
    if c.vector_energy_j_per_flop:
        _energy(problems, ("compute", "vector_energy_j_per_flop"), c.vector_energy_j_per_flop,
                MIN_ENERGY_J_PER_FLOP, "J/FLOP")
        vmax = max(c.vector_flops_per_s.values(), default=0.0)
        _power(problems, ("compute", "vector_energy_j_per_flop"), "the vector unit",
               c.vector_energy_j_per_flop * vmax, budget_w, budget)
    if not any(c.matrix_energy_j_per_flop.values()) and not c.vector_energy_j_per_flop:
        problems.append((("compute",), "no compute energy given (matrix_energy_j_per_flop and "
                                       "vector_energy_j_per_flop): every FLOP would be free"))
    for name, lvl in device.memory.items():
        path = ("memory", name)
        for key, e in (("read_energy_j_per_byte", lvl.read_energy_j_per_byte),
                       ("write_energy_j_per_byte", lvl.write_energy_j_per_byte)):
            if not e:
                continue
            _energy(problems, path + (key,), e, MIN_ENERGY_J_PER_BYTE, "J/B")
            _power(problems, path + (key,), f"memory level {name!r}", e * lvl.bandwidth_bytes_per_s, budget_w, budget)
    offchip = device.offchip
    if not offchip.read_energy_j_per_byte:
        problems.append((("memory", device.offchip_name, "read_energy_j_per_byte"),
                         "the off-chip level needs a read energy: without it every byte moved is free"))
    return problems


def _peak_per_unit(problems: Problems, key: str, rates: dict[str | None, float], capacity: float, what: str) -> None:
    """A peak above what the device's units can deliver (1% slack for rounded datasheet figures)."""
    for dtype, rate in rates.items():
        if rate > capacity * (1 + 0.01):
            path = ("compute", key) if dtype is None else ("compute", key, dtype)
            problems.append((path, f"{_fmt(rate)}/s is more than {what} can deliver ({_fmt(capacity)}/s)"))


def _gpu_problems(device: Any) -> Problems:
    problems: Problems = []
    g, c, clock = device.gpu, device.compute, device.clock_hz
    for key, limit, what in (("sm_count", MAX_SM_COUNT, "SMs/CUs of one GPU"),
                             ("max_threads_per_sm", MAX_THREADS_PER_SM, "resident threads per SM"),
                             ("max_ctas_per_sm", MAX_CTAS_PER_SM, "resident CTAs per SM"),
                             ("registers_per_sm", MAX_REGISTERS_PER_SM, "registers per SM"),
                             ("shared_memory_per_sm_bytes", MAX_SHARED_MEMORY_PER_SM_BYTES, "shared memory per SM"),
                             ("launch_overhead_s", MAX_LAUNCH_OVERHEAD_S, "kernel launch overhead")):
        _below(problems, ("gpu", key), getattr(g, key), limit, what)
    if g.max_shared_memory_per_cta_bytes > g.shared_memory_per_sm_bytes:
        problems.append((("gpu", "max_shared_memory_per_cta_bytes"), "more than shared_memory_per_sm_bytes"))
    if g.warp_size not in WARP_SIZES:
        problems.append((("gpu", "warp_size"), f"{g.warp_size}: shipping GPUs use {', '.join(map(str, WARP_SIZES))}"))
    if g.sm_count <= MAX_SM_COUNT:
        per = g.sm_count * clock
        _peak_per_unit(problems, "matrix_flops_per_s", c.matrix_flops_per_s, per * MAX_MATRIX_FLOP_PER_SM_PER_CLOCK,
                       f"{g.sm_count} SMs at {_fmt(clock)} Hz ({MAX_MATRIX_FLOP_PER_SM_PER_CLOCK} FLOP/SM/clock)")
        _peak_per_unit(problems, "vector_flops_per_s", c.vector_flops_per_s, per * MAX_VECTOR_FLOP_PER_SM_PER_CLOCK,
                       f"{g.sm_count} SMs at {_fmt(clock)} Hz ({MAX_VECTOR_FLOP_PER_SM_PER_CLOCK} FLOP/SM/clock)")
        if c.sfu_ops_per_s:
            _peak_per_unit(problems, "sfu_ops_per_s", {None: c.sfu_ops_per_s}, per * MAX_SFU_OPS_PER_SM_PER_CLOCK,
                           f"{g.sm_count} SMs at {_fmt(clock)} Hz ({MAX_SFU_OPS_PER_SM_PER_CLOCK} ops/SM/clock)")
    return problems


def _fpga_problems(device: Any) -> Problems:
    problems: Problems = []
    f = device.fpga
    for key, limit in (("dsp_slices", MAX_DSP_SLICES), ("luts", MAX_LUTS), ("flip_flops", MAX_FLIP_FLOPS),
                       ("bram_36k_blocks", MAX_BRAM_36K), ("uram_blocks", MAX_URAM), ("axi_ports", MAX_AXI_PORTS),
                       ("axi_width_bits", MAX_AXI_WIDTH_BITS)):
        _below(problems, ("fpga", key), getattr(f, key), limit, f"FPGA {key}")
    if f.dsp_slices <= MAX_DSP_SLICES:
        cap = f.dsp_slices * device.clock_hz * MAX_OPS_PER_DSP_PER_CLOCK
        _peak_per_unit(problems, "matrix_flops_per_s", device.compute.matrix_flops_per_s, cap,
                       f"{f.dsp_slices} DSPs at {_fmt(device.clock_hz)} Hz ({MAX_OPS_PER_DSP_PER_CLOCK} ops/DSP/clock)")
    return problems


def _pim_problems(device: Any) -> Problems:
    problems: Problems = []
    p = device.pim
    for key, limit in (("channels", MAX_PIM_CHANNELS), ("banks_per_channel", MAX_BANKS_PER_CHANNEL),
                       ("lanes_per_unit", MAX_LANES_PER_UNIT)):
        _below(problems, ("pim", key), getattr(p, key), limit, f"PIM {key}")
    _below(problems, ("pim", "pim_clock_hz"), p.pim_clock_hz, FAMILY_LIMITS["pim"].max_clock_hz, "PIM clocks")
    if p.placement == "bank" and p.units_per_channel > p.banks_per_channel:
        problems.append((("pim", "units_per_channel"), f"{p.units_per_channel} in-bank units on "
                                                       f"{p.banks_per_channel} banks: one unit per bank at most"))
    if not problems:
        # one MAC (2 FLOP) per lane per PIM clock
        cap = p.channels * p.units_per_channel * p.lanes_per_unit * 2 * p.pim_clock_hz
        _peak_per_unit(problems, "matrix_flops_per_s", device.compute.matrix_flops_per_s, cap,
                       "channels x units x lanes x 2 FLOP x pim_clock_hz")
    return problems


def _accelerator_problems(device: Any) -> Problems:
    problems: Problems = []
    a = device.accelerator
    _below(problems, ("accelerator", "pe_rows"), a.pe_rows * a.pe_cols, MAX_PES, "PEs in one array (rows x cols)")
    _below(problems, ("accelerator", "vector_pes"), a.vector_pes, MAX_PES, "vector PEs")
    _below(problems, ("accelerator", "macs_per_pe_per_cycle"), a.macs_per_pe_per_cycle, MAX_MACS_PER_PE_PER_CLOCK,
           "MACs per PE per clock")
    if not problems:
        cap = a.pe_rows * a.pe_cols * a.macs_per_pe_per_cycle * 2 * device.clock_hz
        _peak_per_unit(problems, "matrix_flops_per_s", device.compute.matrix_flops_per_s, cap,
                       "pe_rows x pe_cols x macs_per_pe_per_cycle x 2 FLOP x clock_hz")
    return problems


def system_problems(system: Any) -> Problems:
    """Physical-limit problems of a system's device counts and links (inline devices are checked on their own)."""
    problems: Problems = []
    for name, ref in system.devices.items():
        _below(problems, ("devices", name, "count"), ref.count, MAX_DEVICES_PER_ENTRY, "devices in one system entry")
    for i, link in enumerate(system.links):
        _below(problems, ("links", i, "bandwidth_bytes_per_s"), link.bandwidth_bytes_per_s,
               MAX_LINK_BANDWIDTH_BYTES_PER_S, "one link's bandwidth per direction")
        end = link.between[0]
        if end == link.between[1] and end in system.devices and system.devices[end].count < 2:
            problems.append((("links", i, "between"), f"a link from {end!r} to itself needs count >= 2 "
                                                      "(it joins devices of one entry)"))
    return problems


def memory_standard_problems(std: Any) -> Problems:
    """Physical-limit problems of a DRAM standard (organisation, timing, energy)."""
    problems: Problems = []
    o, t, e = std.organisation, std.timing, std.energy
    rate = o.data_rate_transfers_per_s
    _below(problems, ("organisation", "data_rate_transfers_per_s"), rate, MAX_DATA_RATE_TRANSFERS_PER_S,
           "DRAM per-pin data rate")
    if rate < MIN_DATA_RATE_TRANSFERS_PER_S:
        problems.append((("organisation", "data_rate_transfers_per_s"),
                         f"{_fmt(rate)} transfers/s is below {_fmt(MIN_DATA_RATE_TRANSFERS_PER_S)} (Gbps meant?)"))
    _below(problems, ("organisation", "bus_width_bits"), o.bus_width_bits, MAX_BUS_WIDTH_BITS,
           "data bus bits per (pseudo-)channel")
    _below(problems, ("organisation", "channels"), o.channels * o.pseudo_channels, MAX_DRAM_UNITS,
           "(pseudo-)channels of one memory device")
    _below(problems, ("organisation", "capacity_bytes"), o.capacity_bytes, MAX_STANDARD_CAPACITY_BYTES,
           "capacity of one memory device")
    peak = o.channels * o.pseudo_channels * o.bus_width_bits / 8 * rate
    _below(problems, ("organisation", "data_rate_transfers_per_s"), peak, MAX_STANDARD_BANDWIDTH_BYTES_PER_S,
           "peak bandwidth of one memory device (channels x pseudo-channels x bus width x data rate)")
    if t.tck_s < MIN_TCK_S:
        problems.append((("timing", "tck_s"), f"{_fmt(t.tck_s)} s is a clock above {_fmt(1 / MIN_TCK_S)} Hz"))
    for key in ("nRCD", "nRP", "nRAS"):
        seconds = getattr(t, key) * t.tck_s
        if seconds < MIN_ROW_TIMING_S:
            problems.append((("timing", key), f"{key} x tck_s = {_fmt(seconds)} s is below "
                                              f"{_fmt(MIN_ROW_TIMING_S)} s: faster than any DRAM row"))
    if t.nRFC >= t.nREFI:
        problems.append((("timing", "nRFC"), "nRFC >= nREFI: the device would never leave refresh"))
    for key, floor, unit in (("activate_j", MIN_ENERGY_J_PER_BYTE, "J"), ("refresh_j", MIN_ENERGY_J_PER_BYTE, "J"),
                             ("read_j_per_byte", MIN_ENERGY_J_PER_BYTE, "J/B"),
                             ("write_j_per_byte", MIN_ENERGY_J_PER_BYTE, "J/B")):
        _energy(problems, ("energy", key), getattr(e, key), floor, unit)
    return problems


def raise_problems(model_name: str, problems: Problems, data: Any = None) -> None:
    """Raise the problems as one pydantic ValidationError (used by schema validators), if any.

    Each problem becomes a line error at its key path, so :mod:`archsim.yamlio` reports it as
    ``file:line: key.path: message`` beside every other problem of the file.
    """
    if not problems:
        return
    from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

    errors = [InitErrorDetails(type=PydanticCustomError("physical_limit", message), loc=path, input=data)
              for path, message in problems]
    raise ValidationError.from_exception_data(model_name, errors)
