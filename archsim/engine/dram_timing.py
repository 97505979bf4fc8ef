"""DRAM command timing: the gate tables and the cycle-exact earliest/issue kernels.

One *unit* is an independently scheduled (pseudo-)channel: its own banks, bank groups,
command bus and data bus. Every JEDEC constraint is a minimum distance, in tCK cycles, from
a command to a later command, scoped to the same bank, the same bank group, or the whole
unit (Ramulator's formulation); the four-activate window is a ring of the last four ACTs.

Commands: ACT, PRE, RD, WR, REFab (all banks of the unit, all must be closed), REFpb (one
closed bank). The PIM all-bank variants are built on these in :class:`CommandChannel`:
ACTab opens one row in every bank at once and counts as four activates for tFAW (it needs
``t >= newest ACT + nFAW`` and blocks the next ACT for nFAW); PREab closes every bank.

Derived distances (Ramulator2 DDR4/HBM3 conventions): nRC = nRAS + nRP;
read-to-write nRTW = nCL + nBL + 2 - nCWL; write-to-read nCWL + nBL + nWTR_S/L;
write-to-precharge nCWL + nBL + nWR. These tables and :class:`CommandChannel` see one rank and
one command bus per unit; the controller core adds ranks / stack IDs and the HBM row/column
command buses on top of them (:mod:`archsim.engine.dram_gates`). Ignored everywhere: tCCD for
auto-precharge variants, power-down, and postponed refresh.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from archsim.schemas.memory import MemoryStandard

ACT, PRE, RD, WR, REFAB, REFPB = 0, 1, 2, 3, 4, 5
NCMD = 6
COMMAND_NAMES = ("ACT", "PRE", "RD", "WR", "REFab", "REFpb")
FAR_PAST = -(1 << 40)

# columns of the per-unit integer state ``ui``
(FAW_IDX, LAST_CMD, REF_DUE, REF_MASK, QN, WMODE, QW, REF_RANK, NACTIVE, QACT, QACTW, TQR, TQW, DRAIN,
 LAST_Q, MOVE_DUE, REF_SEL, MOVED_AT) = range(18)
UI_COLS = 18

# entries of the parameter vector ``p``
(P_BPG, P_NFAW, P_NCL, P_NCWL, P_NBL, P_REF_MODE, P_REF_INTERVAL, P_NBANKS, P_Q, P_W, P_PAGE,
 P_NREFI, P_BPG_SHIFT, P_RANKS, P_RSHIFT, P_FAW_RANK, P_CMD_BUS, P_ACT_HALF, P_ROW_HALF, P_PCS, P_SCHED,
 P_WPOL, P_WHI, P_WLO, P_QSHARE, P_ACTBUF, P_CMDQ) = range(27)
P_LEN = 27


def distance_tables(std: MemoryStandard) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(same bank, same bank group, same unit) minimum distances ``d[preceding, following]``."""
    t = std.timing
    n_rc = t.nRAS + t.nRP
    rtw = t.nRTW or t.nCL + t.nBL + 2 - t.nCWL
    wtr_s, wtr_l = t.nCWL + t.nBL + t.nWTR_S, t.nCWL + t.nBL + t.nWTR_L
    wr_pre = t.nCWL + t.nBL + t.nWR
    rfc_pb = t.nRFCpb or t.nRFC
    rrefd = t.nRREFD or t.nRRD_S
    bank = np.zeros((NCMD, NCMD), np.int64)
    bg = np.zeros((NCMD, NCMD), np.int64)
    unit = np.zeros((NCMD, NCMD), np.int64)
    bank[ACT, ACT], bank[ACT, RD], bank[ACT, WR], bank[ACT, PRE] = n_rc, t.nRCD, t.nRCDWR or t.nRCD, t.nRAS
    bank[ACT, REFPB] = n_rc
    bank[RD, PRE], bank[WR, PRE] = t.nRTP, wr_pre
    bank[PRE, ACT], bank[PRE, REFPB] = t.nRP, t.nRP
    bank[REFPB, ACT], bank[REFPB, REFPB] = rfc_pb, rfc_pb
    bg[ACT, ACT], bg[RD, RD], bg[WR, WR], bg[WR, RD] = t.nRRD_L, t.nCCD_L, t.nCCD_L, wtr_l
    unit[ACT, ACT], unit[RD, RD], unit[WR, WR], unit[WR, RD], unit[RD, WR] = t.nRRD_S, t.nCCD_S, t.nCCD_S, wtr_s, rtw
    unit[ACT, REFAB], unit[PRE, REFAB] = n_rc, t.nRP
    unit[REFAB, ACT], unit[REFAB, REFAB], unit[REFAB, REFPB] = t.nRFC, t.nRFC, t.nRFC
    unit[REFPB, ACT], unit[REFPB, REFPB], unit[REFPB, REFAB] = rrefd, rrefd, rfc_pb
    unit[ACT, REFPB] = t.nRRD_S
    unit[PRE, PRE] = t.nPPD or 0  # HBM3 tPPD (0: no PRE-to-PRE gate)
    return bank, bg, unit


def new_state(units: int, banks: int, bank_groups: int) -> tuple[np.ndarray, ...]:
    """Fresh timing state: (bank_next, bg_next, unit_next, open_row, faw, ui)."""
    bank_next = np.zeros((units, banks, NCMD), np.int64)
    bg_next = np.zeros((units, bank_groups, NCMD), np.int64)
    unit_next = np.zeros((units, NCMD), np.int64)
    open_row = np.full((units, banks), -1, np.int64)
    faw = np.full((units, 4), FAR_PAST, np.int64)
    ui = np.zeros((units, UI_COLS), np.int64)
    ui[:, LAST_CMD] = -1
    ui[:, MOVE_DUE] = 1 << 62  # no transaction move pending (DRAMsim3 queues)
    ui[:, MOVED_AT] = FAR_PAST  # cycle of the unit's last transaction move (DRAMsim3 queues)
    return bank_next, bg_next, unit_next, open_row, faw, ui


@njit(cache=True)
def earliest_a(cmd, u, b, bank_next, bg_next, unit_next, faw, ui, p):
    """Earliest cycle at which ``cmd`` to bank ``b`` of unit ``u`` meets every timing gate."""
    g = b >> p[P_BPG_SHIFT]
    t = max(bank_next[u, b, cmd], bg_next[u, g, cmd], unit_next[u, cmd], ui[u, LAST_CMD] + 1)
    if cmd == ACT:
        t = max(t, faw[u, ui[u, FAW_IDX]] + p[P_NFAW])
    return t


@njit(cache=True, inline="always")
def apply_a(cmd, u, b, row, t, uses_bus, bank_next, bg_next, unit_next, open_row, faw, ui, d_bank, d_bg, d_unit, p):
    """Record ``cmd`` issued at cycle ``t`` (caller checked legality): update every gate it sets."""
    g = b >> p[P_BPG_SHIFT]
    for c in range(NCMD):
        if d_bank[cmd, c] > 0 and t + d_bank[cmd, c] > bank_next[u, b, c]:
            bank_next[u, b, c] = t + d_bank[cmd, c]
        if d_bg[cmd, c] > 0 and t + d_bg[cmd, c] > bg_next[u, g, c]:
            bg_next[u, g, c] = t + d_bg[cmd, c]
        if d_unit[cmd, c] > 0 and t + d_unit[cmd, c] > unit_next[u, c]:
            unit_next[u, c] = t + d_unit[cmd, c]
    if uses_bus and t > ui[u, LAST_CMD]:
        ui[u, LAST_CMD] = t
    if cmd == ACT:
        open_row[u, b] = row
        faw[u, ui[u, FAW_IDX]] = t
        ui[u, FAW_IDX] = (ui[u, FAW_IDX] + 1) % 4
    elif cmd == PRE:
        open_row[u, b] = -1


def earliest(cmd: int, u: int, b: int, st: tuple, tb: tuple) -> int:
    return int(earliest_a(cmd, u, b, st[0], st[1], st[2], st[4], st[5], tb[3]))


def apply(cmd: int, u: int, b: int, row: int, t: int, uses_bus: bool, st: tuple, tb: tuple) -> None:
    apply_a(cmd, u, b, row, t, uses_bus, st[0], st[1], st[2], st[3], st[4], st[5], tb[0], tb[1], tb[2], tb[3])


def params_vector(std: MemoryStandard, *, queue_depth: int = 64, max_inflight: int = 0,
                  closed_page: bool = False, refresh: str | None = None, scheduler: int = 0, write_policy: int = 0,
                  write_high: int = 0, write_low: int = 0, queue_per_channel: bool = False,
                  active_buffer: bool = False, command_queue: int = 0) -> np.ndarray:
    """Parameters of the numba kernels; ``refresh`` overrides the standard's mode (``none`` disables it)."""
    t = std.timing
    o = std.organisation
    p = np.zeros(P_LEN, np.int64)
    p[P_BPG] = std.organisation.banks_per_group
    p[P_BPG_SHIFT] = int(std.organisation.banks_per_group).bit_length() - 1
    if 1 << p[P_BPG_SHIFT] != p[P_BPG]:
        raise ValueError(f"{std.name}: banks_per_group must be a power of two")
    p[P_NFAW], p[P_NCL], p[P_NCWL], p[P_NBL] = t.nFAW, t.nCL, t.nCWL, t.nBL
    ranks = o.ranks
    if ranks & (ranks - 1):
        raise ValueError(f"{std.name}: ranks must be a power of two")
    nbanks = std.banks * ranks
    mode = refresh or t.refresh
    p[P_NBANKS] = nbanks
    p[P_REF_MODE] = {"all_bank": 0, "per_bank": 1, "none": 2}[mode]
    if mode == "per_bank":
        p[P_REF_INTERVAL] = max(1, t.nREFI // nbanks)
    else:  # all-bank refresh goes rank by rank, staggered: one REFab per rank every nREFI
        p[P_REF_INTERVAL] = max(1, t.nREFI // ranks) if mode == "all_bank" else 1 << 60
    p[P_NREFI] = t.nREFI
    p[P_Q], p[P_W], p[P_PAGE] = queue_depth, max_inflight, int(closed_page)
    p[P_RANKS], p[P_RSHIFT] = ranks, int(std.banks).bit_length() - 1
    if 1 << p[P_RSHIFT] != std.banks:
        raise ValueError(f"{std.name}: banks per rank must be a power of two")
    p[P_FAW_RANK] = int(t.activate_scope == "rank")
    p[P_CMD_BUS] = int(t.command_bus == "row_column")
    p[P_ACT_HALF], p[P_ROW_HALF], p[P_PCS] = t.act_bus_half_cycles, t.row_bus_half_cycles, o.pseudo_channels
    p[P_SCHED], p[P_WPOL], p[P_WHI], p[P_WLO] = scheduler, write_policy, write_high, write_low
    p[P_QSHARE] = o.pseudo_channels if queue_per_channel else 1  # units sharing one request queue
    p[P_ACTBUF] = int(active_buffer)  # activated requests leave the queue's count (Ramulator 2's active buffer)
    p[P_CMDQ] = command_queue  # per-bank command queue entries behind the transaction queues (DRAMsim3), 0: none
    return p


class TimingViolation(RuntimeError):
    """A command was issued before its earliest legal cycle (or in an illegal bank state)."""


class CommandChannel:
    """Command-level access to one DRAM unit's timing gates, for tests and PIM command streams.

    Cycles are integers of ``std.timing.tck_s``. Commands must be issued in non-decreasing
    cycle order per unit (the hardware's command bus is in order). ``earliest`` answers the
    first cycle every gate allows; ``can_issue`` checks a cycle; ``issue`` records a command
    and raises :class:`TimingViolation` if any gate or the bank state forbids it.
    """

    def __init__(self, std: MemoryStandard, *, units: int | None = None) -> None:
        self.std = std
        self.units = units or std.units
        bank, bg, unit = distance_tables(std)
        self.tables = (bank, bg, unit, params_vector(std))
        self.state = new_state(self.units, std.banks, std.organisation.bank_groups)

    # --- state ---------------------------------------------------------------------------
    def open_row(self, bank: int, unit: int = 0) -> int | None:
        row = int(self.state[3][unit, bank])
        return None if row < 0 else row

    def _banks(self) -> range:
        return range(self.std.banks)

    def _state_error(self, cmd: str, bank: int | None, row: int | None, unit: int) -> str | None:
        open_row = self.state[3][unit]
        if cmd == "ACT" and open_row[bank] >= 0:
            return f"bank {bank} already has row {open_row[bank]} open"
        if cmd in ("RD", "WR") and open_row[bank] != row:
            return f"bank {bank} has row {open_row[bank]} open, not {row}"
        if cmd == "REFpb" and open_row[bank] >= 0:
            return f"bank {bank} must be precharged before REFpb"
        if cmd in ("REFab", "ACTab") and (open_row >= 0).any():
            return f"all banks must be precharged before {cmd}"
        return None

    # --- gates ---------------------------------------------------------------------------
    def earliest(self, cmd: str, bank: int = 0, unit: int = 0, cycle: int = 0) -> int:
        """First cycle >= ``cycle`` at which ``cmd`` passes every timing gate (bank state aside)."""
        code = _code(cmd)
        if cmd == "ACTab":
            t = max(earliest(ACT, unit, b, self.state, self.tables) for b in self._banks())
            t = max(t, int(self.state[4][unit].max()) + int(self.tables[3][P_NFAW]))
        elif cmd == "PREab":
            t = max(earliest(PRE, unit, b, self.state, self.tables) for b in self._banks())
        elif code == REFAB:
            t = max(earliest(REFAB, unit, b, self.state, self.tables) for b in self._banks())
        else:
            t = earliest(code, unit, bank, self.state, self.tables)
        return max(int(t), cycle)

    def can_issue(self, cmd: str, cycle: int, bank: int = 0, row: int | None = None, unit: int = 0) -> bool:
        return self._state_error(cmd, bank, row, unit) is None and cycle >= self.earliest(cmd, bank, unit)

    def issue(self, cmd: str, cycle: int, bank: int = 0, row: int | None = None, unit: int = 0) -> int:
        """Issue ``cmd`` at ``cycle``; returns the cycle its data transfer ends (RD/WR) or ``cycle``."""
        problem = self._state_error(cmd, bank, row, unit)
        if problem is None and cycle < self.earliest(cmd, bank, unit):
            problem = f"{cmd} at cycle {cycle} is before its earliest legal cycle {self.earliest(cmd, bank, unit)}"
        if problem is not None:
            raise TimingViolation(f"unit {unit}: {problem}")
        if cmd == "ACTab":
            for b in self._banks():
                apply(ACT, unit, b, row if row is not None else 0, cycle, False, self.state, self.tables)
            self.state[4][unit, :] = cycle
            self.state[5][unit, 1] = cycle
        elif cmd == "PREab":
            for b in self._banks():
                apply(PRE, unit, b, -1, cycle, False, self.state, self.tables)
            self.state[5][unit, 1] = cycle
        else:
            apply(_code(cmd), unit, bank, -1 if row is None else row, cycle, True, self.state, self.tables)
        t = self.std.timing
        if cmd == "RD":
            return cycle + t.nCL + t.nBL
        if cmd == "WR":
            return cycle + t.nCWL + t.nBL
        return cycle


_CODES = {"ACT": ACT, "PRE": PRE, "RD": RD, "WR": WR, "REFab": REFAB, "REF": REFAB, "REFpb": REFPB,
          "ACTab": ACT, "PREab": PRE}


def _code(cmd: str) -> int:
    try:
        return _CODES[cmd]
    except KeyError:
        raise ValueError(f"unknown DRAM command {cmd!r}; valid: {', '.join(_CODES)}") from None
