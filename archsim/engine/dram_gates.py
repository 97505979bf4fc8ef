"""Controller-core timing on top of :mod:`archsim.engine.dram_timing`: ranks / stack IDs and command buses.

Scopes of a constraint, from narrow to wide: bank, bank group, rank (same rank or stack ID),
other rank (rank switching: ``nCCDR`` between column commands of two ranks, which share the
data bus), and unit (every bank of the (pseudo-)channel). ``activate_scope`` decides where
tRRD_S / tFAW / tWTR_S sit: ``rank`` is the DDR convention (each rank is its own die set, as
in DRAMsim3), ``unit`` is the HBM3 one (Ramulator 2.1's HBM3 puts nRRDS, nFAW and the
write-to-read turnaround at pseudo-channel level, shared by the stack IDs).

Command buses. ``command_bus: unit``: one command per cycle per unit (DDR, the old default).
``row_column``: each channel has a row bus (ACT, PRE, REF) and a column bus (RD, WR) shared by
its pseudo-channels (JESD235/JESD238 pseudo-channel mode shares the channel's command inputs;
Ramulator 2.1 HBM3 and DRAMsim3's ``hbm_dual_cmd`` issue one row and one column command per
channel and cycle). The row bus is kept in half-cycles: an ACT holds it ``act_bus_half_cycles``
(HBM3: 3 = rising-falling-rising edges, 1.5 CK), a PRE/REF ``row_bus_half_cycles`` (HBM3: 1).
ACT and REF start on a rising edge; a PRE may take the falling edge of its cycle, and then its
timing takes effect one cycle later (the next rising edge, where the gates it sets are read).
Column commands use rising edges, one per CK. Not modelled: the HBM3 rule that a falling-edge
PRE may not follow an all-bank row command of the same pseudo-channel on the rising edge.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from archsim.engine.dram_timing import (
    ACT,
    FAR_PAST,
    LAST_CMD,
    NCMD,
    P_ACT_HALF,
    P_BPG_SHIFT,
    P_CMD_BUS,
    P_FAW_RANK,
    P_NFAW,
    P_PCS,
    P_RANKS,
    P_ROW_HALF,
    P_RSHIFT,
    PRE,
    RD,
    REFAB,
    REFPB,
    WR,
    distance_tables,
    new_state,
)
from archsim.schemas.memory import MemoryStandard


def core_tables(std: MemoryStandard) -> tuple[np.ndarray, ...]:
    """(bank, bank group, unit, same rank, other rank) distances ``d[preceding, following]`` in cycles."""
    t = std.timing
    bank, bg, unit = distance_tables(std)
    rank = np.zeros_like(unit)
    xrank = np.zeros_like(unit)
    moved = [(RD, RD), (WR, WR), (ACT, REFAB), (PRE, REFAB), (REFAB, ACT), (REFAB, REFAB), (REFAB, REFPB)]
    if t.activate_scope == "rank":
        moved += [(ACT, ACT), (WR, RD)]
    for a, b in moved:
        rank[a, b], unit[a, b] = unit[a, b], 0
    ccdr = t.nCCDR or t.nBL
    xrank[RD, RD], xrank[WR, WR] = ccdr, t.nCCDR_WR or ccdr
    unit[RD, RD] = unit[WR, WR] = t.nBL  # the ranks share the data bus
    if t.activate_scope == "rank":
        unit[WR, RD] = max(0, t.nCWL + t.nBL + (ccdr - t.nBL) - t.nCL)  # other rank: data bus turnaround only
    if std.organisation.ranks == 1:  # one rank: its scope is the unit's (the kernel then skips rank_next)
        unit = np.maximum(unit, rank)
        rank[:] = 0
        xrank[:] = 0
    return bank, bg, unit, rank, xrank


def effect_lists(tables: tuple[np.ndarray, ...], ranks: int) -> tuple[np.ndarray, np.ndarray]:
    """The nonzero entries of the (bank, bank group, unit, rank, other rank) tables per preceding command, as rows
    (scope, following command, distance), so that :func:`issue` touches only the gates a command sets."""
    scopes = tables if ranks > 1 else tables[:3]
    rows = [[(k, c, int(d[cmd, c])) for k, d in enumerate(scopes) for c in range(NCMD) if d[cmd, c] > 0]
            for cmd in range(NCMD)]
    width = max(1, max(len(r) for r in rows))
    eff = np.zeros((NCMD, width, 3), np.int64)
    neff = np.zeros(NCMD, np.int64)
    for cmd, r in enumerate(rows):
        neff[cmd] = len(r)
        if r:
            eff[cmd, : len(r)] = r
    return eff, neff


def new_core_state(std: MemoryStandard) -> tuple[np.ndarray, ...]:
    """The state of :func:`archsim.engine.dram_timing.new_state` plus (rank_next, rank FAW rings, buses)."""
    o = std.organisation
    units, ranks = std.units, o.ranks
    st = new_state(units, std.banks * ranks, o.bank_groups * ranks)
    rank_next = np.zeros((units, ranks, NCMD), np.int64)
    rfaw = np.full((units * ranks, 5), FAR_PAST, np.int64)
    rfaw[:, 4] = 0
    bus = np.zeros((o.channels, 2), np.int64)  # row bus free from (half-cycles), column bus free from (cycles)
    return (*st, rank_next, rfaw, bus)


@njit(cache=True, inline="always", error_model="numpy")
def bus_ready(cmd, u, ui, bus, p):
    """First cycle the command bus can carry ``cmd`` of unit ``u``."""
    if p[P_CMD_BUS] == 0:
        return ui[u, LAST_CMD] + 1
    ch = u // p[P_PCS]
    if cmd == RD or cmd == WR:
        return bus[ch, 1]
    if cmd == PRE:
        return bus[ch, 0] >> 1  # the falling edge of that cycle is free
    return (bus[ch, 0] + 1) >> 1


@njit(cache=True, inline="always", error_model="numpy")
def faw_row(u, b, p):
    """Row of the tFAW ring array for bank ``b`` of unit ``u`` (per rank or per unit)."""
    r = (b >> p[P_RSHIFT]) if p[P_FAW_RANK] == 1 else 0
    return u * p[P_RANKS] + r


@njit(cache=True, inline="always", error_model="numpy")
def gate(cmd, u, b, bank_next, bg_next, unit_next, rank_next, rfaw, ui, bus, p):
    """Earliest cycle every timing gate and the command bus allow ``cmd`` to bank ``b`` of unit ``u``."""
    t = max(bus_ready(cmd, u, ui, bus, p), bank_next[u, b, cmd], bg_next[u, b >> p[P_BPG_SHIFT], cmd],
            unit_next[u, cmd], rank_next[u, b >> p[P_RSHIFT], cmd])
    if cmd == ACT:
        f = faw_row(u, b, p)
        t = max(t, rfaw[f, rfaw[f, 4]] + p[P_NFAW])
    return t


@njit(cache=True, inline="always", error_model="numpy")
def issue(cmd, u, b, row, t, uses_bus, bank_next, bg_next, unit_next, open_row, ui, rank_next, rfaw, bus, eff, neff,
          p):
    """Record ``cmd`` issued at cycle ``t``; returns the cycle its timing takes effect (``t``, or ``t + 1`` for a
    PRE on a falling edge)."""
    te = t
    if uses_bus:
        if p[P_CMD_BUS] == 0:
            if t > ui[u, LAST_CMD]:
                ui[u, LAST_CMD] = t
        else:
            ch = u // p[P_PCS]
            if cmd == RD or cmd == WR:
                bus[ch, 1] = t + 1
            else:
                h = 2 * t
                if h < bus[ch, 0]:  # rising edge taken: a PRE on the falling edge
                    h += 1
                    te = t + 1
                bus[ch, 0] = h + (p[P_ACT_HALF] if cmd == ACT else p[P_ROW_HALF])
    g = b >> p[P_BPG_SHIFT]
    r = b >> p[P_RSHIFT]
    for i in range(neff[cmd]):
        k, c, d = eff[cmd, i, 0], eff[cmd, i, 1], eff[cmd, i, 2]
        v = te + d
        if k == 0:
            if v > bank_next[u, b, c]:
                bank_next[u, b, c] = v
        elif k == 1:
            if v > bg_next[u, g, c]:
                bg_next[u, g, c] = v
        elif k == 2:
            if v > unit_next[u, c]:
                unit_next[u, c] = v
        elif k == 3:
            if v > rank_next[u, r, c]:
                rank_next[u, r, c] = v
        else:  # every other rank
            for rr in range(p[P_RANKS]):
                if rr != r and v > rank_next[u, rr, c]:
                    rank_next[u, rr, c] = v
    if cmd == ACT:
        open_row[u, b] = row
        f = faw_row(u, b, p)
        rfaw[f, rfaw[f, 4]] = te
        rfaw[f, 4] = (rfaw[f, 4] + 1) % 4
    elif cmd == PRE:
        open_row[u, b] = -1
    return te
