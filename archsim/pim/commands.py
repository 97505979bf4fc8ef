"""Cycle-exact PIM command streams on one DRAM channel, gated by the engine's DRAM timing.

A bank-level PIM GEMV on one channel is a stream of commands (all-bank mode, as AiM and
HBM2-PIM run it):

- ``WRGB``  one burst of the input vector into the channel's global buffer (a WR on the data
  bus: tCCD_S, write-to-read turnaround);
- ``ACTab`` open the same DRAM row in every bank (counts as four activates for tFAW);
- ``MAC``   one column (32 B) read in every bank of one bank-set, fed to the bank's MAC unit;
  gated like a RD to every bank of the set (tRCD after ACT, tCCD_L since every bank group is
  busy, RD-to-PRE tRTP) and never faster than the unit consumes a column
  (``mac_gap_cycles``); it uses the command bus, not the data bus;
- ``PREab`` close every bank (tRAS after ACT, tRTP after the last MAC);
- ``RDRES`` one burst of results read out over the data bus;
- ``REFab`` all-bank refresh every tREFI (tRFC), inserted between rows when due.

Every gate is the engine's (:mod:`archsim.engine.dram_timing`: ``earliest``/``apply`` on the
distance tables built from the memory-standard preset); this module only decides the order.
Bank pairs (one unit per two banks, HBM2-PIM) read the even banks' row first and then the odd
banks' row of the same ACTab.

Ignored: the HBM 2-cycle ACT and separate row/column command buses; overlap of the result
read-out or the next global-buffer load with MACs (no double buffering); power-down; the
controller's own queueing (the stream is issued in order as early as the gates allow).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from archsim.engine.dram_timing import (
    ACT,
    FAW_IDX,
    LAST_CMD,
    P_NBL,
    P_NCL,
    P_NCWL,
    P_NFAW,
    PRE,
    RD,
    REFAB,
    WR,
    apply_a,
    distance_tables,
    earliest_a,
    new_state,
    params_vector,
)
from archsim.schemas.memory import MemoryStandard


@njit(cache=True)
def earliest(c, u, b, st, tb):  # pragma: no cover - numba
    """The engine's gate check (``earliest_a``) on the packed (state, tables) tuples."""
    return earliest_a(c, u, b, st[0], st[1], st[2], st[4], st[5], tb[3])


@njit(cache=True)
def apply(c, u, b, row, t, uses_bus, st, tb):  # pragma: no cover - numba
    """The engine's state update (``apply_a``) on the packed (state, tables) tuples."""
    apply_a(c, u, b, row, t, uses_bus, st[0], st[1], st[2], st[3], st[4], st[5], tb[0], tb[1], tb[2], tb[3])

# counters returned by :func:`run_stream`
(C_TOTAL, C_ACT, C_MAC, C_WR, C_RD, C_REF, C_GB_CYCLES, C_READOUT_CYCLES, C_REF_CYCLES, C_LAST) = range(10)
N_COUNTERS = 10


@njit(cache=True)
def _actab(t0, row, nbanks, st, tb):  # pragma: no cover - numba
    faw, ui = st[4], st[5]
    p = tb[3]
    t = t0
    for b in range(nbanks):
        t = max(t, earliest(ACT, 0, b, st, tb))
    t = max(t, faw[0].max() + p[P_NFAW])
    for b in range(nbanks):
        apply(ACT, 0, b, row, t, False, st, tb)
    faw[0, :] = t
    ui[0, FAW_IDX] = 0
    ui[0, LAST_CMD] = max(ui[0, LAST_CMD], t)
    return t


@njit(cache=True)
def _preab(t0, nbanks, st, tb):  # pragma: no cover - numba
    t = t0
    for b in range(nbanks):
        t = max(t, earliest(PRE, 0, b, st, tb))
    for b in range(nbanks):
        apply(PRE, 0, b, -1, t, False, st, tb)
    st[5][0, LAST_CMD] = max(st[5][0, LAST_CMD], t)
    return t


@njit(cache=True)
def _mac(t0, half, banks_per_unit, nbanks, st, tb):  # pragma: no cover - numba
    t = t0
    for b in range(half, nbanks, banks_per_unit):
        t = max(t, earliest(RD, 0, b, st, tb))
    for b in range(half, nbanks, banks_per_unit):
        apply(RD, 0, b, -1, t, False, st, tb)
    st[5][0, LAST_CMD] = max(st[5][0, LAST_CMD], t)
    return t


@njit(cache=True)
def _bursts(t0, cmd, n, stride, nbanks, st, tb):  # pragma: no cover - numba
    """``n`` data-bus bursts (WR into the global buffer or RD of results), rotating over the bank
    groups (``stride`` = banks per group) so back-to-back bursts are tCCD_S apart, not tCCD_L."""
    t = t0
    last = t0 - 1
    for i in range(n):
        b = (i * stride) % nbanks
        t = max(t, earliest(cmd, 0, b, st, tb))
        apply(cmd, 0, b, -1, t, True, st, tb)
        last = t
    return last


@njit(cache=True)
def run_stream(row_cols, row_new_chunk, chunk_gb_bursts, chunk_readout_bursts, gb_cols, gb_bursts_per_fill,
               banks_per_unit, nbanks, stride, cols_per_bank_row, mac_gap, nrefi, st, tb):  # pragma: no cover - numba
    """Issue one channel's GEMV stream; returns int64 counters (see ``C_*``).

    ``row_cols[j]``: MAC commands of DRAM row ``j`` (issue order); ``row_new_chunk[j]``: chunk
    index if row ``j`` starts a new input-vector chunk, else -1 (the previous chunk's results are
    read out and the global buffer refilled before it). ``gb_cols`` > 0: the buffer holds only
    ``gb_cols`` columns of the vector, refilled (``gb_bursts_per_fill`` bursts) inside each row.
    """
    p = tb[3]
    out = np.zeros(N_COUNTERS, np.int64)
    t = 0
    last_mac = -(1 << 40)
    next_ref = nrefi
    n_rows = row_cols.size
    chunk = -1
    for j in range(n_rows):
        if row_new_chunk[j] >= 0:
            if chunk >= 0 and chunk_readout_bursts[chunk] > 0:
                start = max(t, last_mac + p[P_NCL] + p[P_NBL] + mac_gap)
                end = _bursts(start, RD, chunk_readout_bursts[chunk], stride, nbanks, st, tb)
                out[C_RD] += chunk_readout_bursts[chunk]
                out[C_READOUT_CYCLES] += end + p[P_NCL] + p[P_NBL] - t
                t = end + p[P_NCL] + p[P_NBL]
            chunk = row_new_chunk[j]
            if gb_cols == 0 and chunk_gb_bursts[chunk] > 0:
                end = _bursts(t, WR, chunk_gb_bursts[chunk], stride, nbanks, st, tb)
                out[C_WR] += chunk_gb_bursts[chunk]
                out[C_GB_CYCLES] += end + p[P_NCWL] + p[P_NBL] - t
                t = end + p[P_NCWL] + p[P_NBL]
        if t >= next_ref:
            t_ref = earliest(REFAB, 0, 0, st, tb)
            t_ref = max(t_ref, t)
            apply(REFAB, 0, 0, -1, t_ref, True, st, tb)
            out[C_REF] += 1
            t_after = earliest(ACT, 0, 0, st, tb)
            out[C_REF_CYCLES] += t_after - t
            t = t_after
            next_ref += nrefi
        t = _actab(t, j, nbanks, st, tb)
        out[C_ACT] += 1
        cols = row_cols[j]
        for k in range(cols):
            if gb_cols > 0 and k % gb_cols == 0:
                t_fill = max(t, last_mac + 1)
                end = _bursts(t_fill, WR, gb_bursts_per_fill, stride, nbanks, st, tb)
                out[C_WR] += gb_bursts_per_fill
                out[C_GB_CYCLES] += end + p[P_NCWL] + p[P_NBL] - t_fill
                t = end + p[P_NCWL] + p[P_NBL]
            half = k // cols_per_bank_row
            t = _mac(max(t, last_mac + mac_gap), half, banks_per_unit, nbanks, st, tb)
            last_mac = t
            out[C_MAC] += 1
        t = _preab(t + 1, nbanks, st, tb) + 1
    if chunk >= 0 and chunk_readout_bursts[chunk] > 0:
        start = max(t, last_mac + p[P_NCL] + p[P_NBL] + mac_gap)
        end = _bursts(start, RD, chunk_readout_bursts[chunk], stride, nbanks, st, tb)
        out[C_RD] += chunk_readout_bursts[chunk]
        out[C_READOUT_CYCLES] += end + p[P_NCL] + p[P_NBL] - t
        t = end + p[P_NCL] + p[P_NBL]
    out[C_TOTAL] = max(t, last_mac + p[P_NCL] + p[P_NBL] + mac_gap)
    out[C_LAST] = last_mac
    return out


def fresh_timing(std: MemoryStandard) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """(state, tables) of one channel of ``std`` in the engine's representation."""
    bank, bg, unit = distance_tables(std)
    tables = (bank, bg, unit, params_vector(std))
    state = new_state(1, std.banks, std.organisation.bank_groups)
    return state, tables
