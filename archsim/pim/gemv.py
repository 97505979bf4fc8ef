"""Bank-level PIM GEMV ``y = W x``: mapping, timed command stream, energy, functional execution.

Mapping: :func:`kernels.numba.pim_gemv.partition` (the one mapping of the project). A unit's
"DRAM row" is the row of all its banks (``BankPim.unit_row_bytes``). Rows narrower than half a
DRAM row are *concatenated* first, as PIM-GPT does: ``k`` matrix rows (each padded to whole
columns) become one partition row, so a short row (an attention key of 64 elements) does not
cost one activation each. The stream is issued chunk-major: for each input-vector chunk the
global buffer is filled once, then every local row's DRAM row holding that chunk is opened,
streamed through the MAC units and closed; partial results of a chunk are read out before the
next chunk (the host/ASIC adds them).

Timing: one channel's stream, cycle-exact on the engine's gates (:mod:`archsim.pim.commands`),
for the busiest unit (units differ by at most one row; channels run in lockstep, each with its
own controller). Energy: activations, array reads of the MAC columns, MAC arithmetic,
global-buffer writes and result reads over the pins, refreshes, and static power x time.

Functional: :func:`execute` runs the same mapping on real data with numba — operands rounded to
the PIM dtype, each MAC command a 16-lane product summed in fp32 into the unit's accumulator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from numba import njit

from archsim.errors import PhysicalLimitError
from archsim.kernels.numba.pim_gemv import PimPartition, partition
from archsim.pim import commands as cmd
from archsim.pim.device import BankPim


@dataclass(frozen=True)
class GemvPlan:
    m: int
    n: int
    pack: int                  # matrix rows concatenated per partition row
    n_pad: int                 # row length padded to whole columns
    part: PimPartition         # partition of the (m/pack) x (pack*n_pad or n) matrix
    row_cols: np.ndarray       # MAC commands per DRAM row of the busiest unit, issue order
    row_new_chunk: np.ndarray  # chunk index where a row starts a chunk, else -1
    chunk_gb_bursts: np.ndarray
    chunk_readout_bursts: np.ndarray
    gb_cols: int               # >0: buffer refilled every gb_cols MACs inside a row
    gb_bursts_per_fill: int


def plan(pim: BankPim, m: int, n: int) -> GemvPlan:
    epc, b = pim.elems_per_column, pim.dtype_bytes
    n_pad = -(-n // epc) * epc
    row_elems = pim.unit_row_bytes // b
    pack = max(1, row_elems // n_pad) if 2 * n_pad <= row_elems else 1
    pm = -(-m // pack)
    pn = pack * n_pad if pack > 1 else n
    part = partition(pm, pn, pim.pim.channels, pim.pim.units_per_channel, elem_bytes=b,
                     dram_row_bytes=pim.unit_row_bytes)
    units = part.units
    local0 = -(-pm // units)  # unit 0 holds the most rows
    burst = pim.std.burst_bytes
    cols, new_chunk, gb, readout = [], [], [], []
    for c in range(part.chunks_per_row):
        start, end = part.chunk_columns(c)
        seg_cols = -(-(end - start) // epc)
        x_bytes = (n_pad if pack > 1 else (end - start)) * b
        gb.append(-(-x_bytes // burst))
        for lr in range(local0):
            if pack > 1:
                packed = min(pack, m - lr * units * pack)
                cols.append(packed * n_pad // epc)
            else:
                cols.append(seg_cols)
            new_chunk.append(c if lr == 0 else -1)
        results = pim.pim.units_per_channel * local0 * pack
        readout.append(-(-results * b // burst))
    x_chunk_bytes = max(gb) * burst
    gb_cols = 0
    per_fill = 0
    if x_chunk_bytes > pim.gb_bytes:
        gb_cols = max(1, pim.gb_bytes // pim.column_bytes)
        per_fill = -(-pim.gb_bytes // burst)
    return GemvPlan(m=m, n=n, pack=pack, n_pad=n_pad, part=part, row_cols=np.array(cols, np.int64),
                    row_new_chunk=np.array(new_chunk, np.int64), chunk_gb_bursts=np.array(gb, np.int64),
                    chunk_readout_bursts=np.array(readout, np.int64), gb_cols=gb_cols, gb_bursts_per_fill=per_fill)


@dataclass
class GemvTiming:
    """One GEMV on the whole device. Times in s, energy in J; counts are per channel."""

    m: int
    n: int
    cycles: int
    time_s: float
    energy_j: float
    energy_by_part: dict[str, float]
    counts: dict[str, int]
    time_share: dict[str, float]
    useful_flops: float
    peak_flops_per_s: float
    notes: list[str] = field(default_factory=list)

    @property
    def achieved_flops_per_s(self) -> float:
        return self.useful_flops / self.time_s

    @property
    def row_activation_share(self) -> float:
        return self.time_share["row_switch"]


def _time(pim: BankPim, p: GemvPlan) -> np.ndarray:
    state, tables = cmd.fresh_timing(pim.std)
    return cmd.run_stream(p.row_cols, p.row_new_chunk, p.chunk_gb_bursts, p.chunk_readout_bursts, p.gb_cols,
                          p.gb_bursts_per_fill, pim.banks_per_unit, pim.std.banks,
                          pim.std.organisation.banks_per_group, pim.cols_per_bank_row,
                          pim.mac_gap_cycles, pim.std.timing.nREFI, state, tables)


def timed(pim: BankPim, m: int, n: int) -> GemvTiming:
    """Time and energy of ``y = W x`` with ``W`` ``m x n`` (cached per shape)."""
    return _timed_cached(pim, m, n)


@lru_cache(maxsize=4096)
def _timed_cached(pim: BankPim, m: int, n: int) -> GemvTiming:
    p = plan(pim, m, n)
    c = _time(pim, p)
    ch = pim.pim.channels
    cycles = int(c[cmd.C_TOTAL])
    time_s = cycles * pim.tck_s
    std, dev = pim.std, pim.device
    burst = std.burst_bytes
    pins = dev.offchip.read_energy_j_per_byte
    mac_bytes = int(c[cmd.C_MAC]) * pim.pim.units_per_channel * pim.column_bytes
    executed_flops = 2.0 * mac_bytes / pim.dtype_bytes
    e = {
        "activate": ch * int(c[cmd.C_ACT]) * std.banks * std.energy.activate_j,
        "array_read": ch * mac_bytes * std.energy.read_j_per_byte,
        "mac": ch * executed_flops * dev.compute.matrix_energy_j_per_flop.get(pim.pim.pim_dtype, 0.0),
        "vector_in": ch * int(c[cmd.C_WR]) * burst * (std.energy.write_j_per_byte + pins),
        "results_out": ch * int(c[cmd.C_RD]) * burst * pins,
        "refresh": ch * int(c[cmd.C_REF]) * std.energy.refresh_j,
        "static": dev.static_power_w * time_s,
    }
    stream = int(c[cmd.C_MAC]) * pim.mac_interval_cycles
    share = {
        "mac_stream": stream / cycles,
        "vector_in": int(c[cmd.C_GB_CYCLES]) / cycles,
        "results_out": int(c[cmd.C_READOUT_CYCLES]) / cycles,
        "refresh": int(c[cmd.C_REF_CYCLES]) / cycles,
    }
    share["row_switch"] = max(0.0, 1.0 - sum(share.values()))
    useful = 2.0 * m * n
    result = GemvTiming(
        m=m, n=n, cycles=cycles, time_s=time_s, energy_j=sum(e.values()), energy_by_part=e,
        counts={"ACTab": int(c[cmd.C_ACT]), "MAC": int(c[cmd.C_MAC]), "WRGB": int(c[cmd.C_WR]),
                "RDRES": int(c[cmd.C_RD]), "REFab": int(c[cmd.C_REF]), "pack": p.pack},
        time_share=share, useful_flops=useful, peak_flops_per_s=pim.peak_flops_per_s)
    if result.achieved_flops_per_s > pim.peak_flops_per_s * (1 + 1e-9):
        raise PhysicalLimitError(f"PIM GEMV {m}x{n}: {result.achieved_flops_per_s:.3g} FLOP/s exceeds the "
                                 f"peak {pim.peak_flops_per_s:.3g}")
    return result


def round_to(dtype: str, a: np.ndarray) -> np.ndarray:
    """Round float values to ``dtype`` (bf16: round-to-nearest-even on the fp32 bits; fp16: numpy)."""
    a32 = np.ascontiguousarray(a, dtype=np.float32)
    if dtype == "bf16":
        bits = a32.view(np.uint32).astype(np.uint64)
        rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
        return rounded.astype(np.uint32).view(np.float32)
    if dtype == "fp16":
        return a32.astype(np.float16).astype(np.float32)
    if dtype in ("fp32", "tf32"):
        return a32
    raise ValueError(f"functional PIM model: unsupported dtype {dtype!r}")


@njit(cache=True)
def _execute(w, x, y, rows_by_unit, unit_offsets, pack, n, n_pad, row_elems, chunks, epc, counters):  # pragma: no cover
    for u in range(unit_offsets.size - 1):
        for c in range(chunks):  # chunk-major, as the stream issues it
            for i in range(unit_offsets[u], unit_offsets[u + 1]):
                prow = rows_by_unit[i]
                counters[u, 1] += 1  # one DRAM row (ACTab) per (local row, chunk)
                for s in range(pack):
                    r = prow * pack + s
                    if r >= w.shape[0]:
                        break
                    lo = c * row_elems if pack == 1 else 0
                    hi = min(lo + row_elems, n) if pack == 1 else n_pad
                    acc = np.float32(0.0)
                    for col in range(lo, hi, epc):  # one MAC command: epc lanes into an adder tree
                        part = np.float32(0.0)
                        for e in range(col, min(col + epc, n)):
                            part += w[r, e] * x[e]
                        acc += part
                        counters[u, 0] += 1
                    y[r] += acc  # partial result read out per chunk, summed by the host


def execute(pim: BankPim, w: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Run ``y = w @ x`` on the model's mapping with real data; returns (y fp32, per-unit counts)."""
    m, n = w.shape
    if x.shape != (n,):
        raise ValueError(f"x has shape {x.shape}, expected ({n},)")
    p = plan(pim, m, n)
    dtype = pim.pim.pim_dtype
    wq, xq = round_to(dtype, w), round_to(dtype, x)
    part = p.part
    order = np.lexsort((part.local_row, part.unit_of_row)).astype(np.int64)
    offsets = np.concatenate(([0], np.cumsum(part.rows_per_unit()))).astype(np.int64)
    y = np.zeros(m, np.float32)
    counters = np.zeros((part.units, 2), np.int64)
    _execute(wq, xq, y, order, offsets, p.pack, n, p.n_pad, part.row_elems, part.chunks_per_row,
             pim.elems_per_column, counters)
    return y, {"mac_commands": counters[:, 0], "dram_rows_opened": counters[:, 1]}


def gemv_flop_bound(pim: BankPim, m: int, n: int) -> float:
    """Lower bound on time: the useful FLOPs at the streaming peak (rows always open)."""
    return 2.0 * m * math.ceil(n / pim.elems_per_column) * pim.elems_per_column / pim.streaming_flops_per_s
