"""The DRAM controller core (numba): bounded per-unit queues, FR-FCFS, page policy, refresh.

``advance`` plays every command of every unit in global cycle order up to a horizon; the
Python side (:mod:`archsim.engine.dram`) owns the arrays and turns completions into simpy
events. Per unit and decision: the candidate command of each queued request (RD/WR on a row
hit, else PRE on a conflict, else ACT) at its earliest legal cycle; the earliest candidate
wins, ties go to column commands (first-ready) and then to the oldest request (FCFS). A row
that still has queued hits is not precharged for another request. Closed-page policy
auto-precharges after a column command when no queued request hits the row (no command-bus
slot). Refresh: REFab every nREFI (all-bank mode) or REFpb every nREFI / banks (per-bank mode) to a
bank not yet refreshed in this round, idle, closed and most recently used ones
first (JEDEC allows any order); from its due cycle the refreshed bank(s) take no new commands
until precharged and refreshed.

Front end: transactions (linear bursts ``base + k * stride`` or seeded uniform random
bursts) enter in order, one burst per decision, while the target unit's queue has room and
fewer than ``max_inflight`` bursts are queued or in flight. A burst completes at
RD + nCL + nBL (WR + nCWL + nBL).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from archsim.engine.dram_frontend import (  # noqa: F401  (TX_* re-exported for dram.py)
    TX_ARRIVAL,
    TX_BASE,
    TX_COLS,
    TX_COUNT,
    TX_DONE,
    TX_FED,
    TX_KIND,
    TX_LEFT,
    TX_SEED,
    TX_STRIDE,
    TX_WRITE,
    burst_address,
    heap_pop,
    heap_push,
)
from archsim.engine.dram_mapping import decode
from archsim.engine.dram_timing import (
    ACT,
    FAW_IDX,
    LAST_CMD,
    P_BPG_SHIFT,
    P_NBANKS,
    P_NBL,
    P_NCL,
    P_NCWL,
    P_NFAW,
    P_PAGE,
    P_Q,
    P_REF_INTERVAL,
    P_REF_MODE,
    P_W,
    PRE,
    QN,
    RD,
    REF_DUE,
    REF_MASK,
    REFAB,
    REFPB,
    WR,
    apply_a,
    earliest_a,
)

INF = 1 << 62
# global scalars
(G_FRONT, G_NTX, G_QUEUED, G_HEAPN, G_SEQ, G_COMPN, G_NOW, G_MASK, G_NEXT_U, G_NEXT_B, G_NEXT_R, G_NEXT_OK,
 G_LOGN) = range(13)
G_LEN = 13
#: columns of the optional command log: cycle, unit, command, bank, row (-1 unless ACT/RD/WR), uses the command bus
LOG_COLS = 6
# counters per unit
C_ACT, C_PRE, C_RD, C_WR, C_REFAB, C_REFPB, C_HIT, C_MISS, C_CONFLICT, C_AUTOPRE = range(10)
C_LEN = 10
COUNTER_NAMES = ("act", "pre", "rd", "wr", "refab", "refpb", "row_hits", "row_misses", "row_conflicts",
                 "auto_precharges")


@njit(cache=True, inline="always")
def _candidate(u, s, now, open_row, q_bank, q_row, q_write, bank_next, bg_next, unit_next, faw, ui, p):
    """(cycle, command) the queued request in slot ``s`` needs next (PRE on a row conflict)."""
    b = q_bank[u, s]
    r = open_row[u, b]
    if r == q_row[u, s]:
        cmd = WR if q_write[u, s] else RD
    elif r >= 0:
        cmd = PRE
    else:
        cmd = ACT
    return max(now, earliest_a(cmd, u, b, bank_next, bg_next, unit_next, faw, ui, p)), cmd


@njit(cache=True, inline="always")
def schedule(u, now, bank_next, bg_next, unit_next, open_row, faw, ui, p, q_row, q_write, q_seq, q_next,
             b_head, b_count, b_hits, b_wcount, nxt):
    """Store in ``nxt[u]`` = (cycle, command, queue slot or bank, is_refresh) of unit ``u``'s next command.

    Requests sit in per-bank lists in arrival order. Within a bank every request needing the
    same command has the same earliest cycle, so only the oldest RD hit, the oldest WR hit and
    (when the open row has no queued hits) the oldest request can win: FR-FCFS over the whole
    queue, at the cost of a walk to the first hits of each bank.
    """
    nbanks = p[P_NBANKS]
    per_bank = p[P_REF_MODE] == 1
    due = ui[u, REF_DUE]
    # per-bank refresh may go to any bank not yet refreshed this round: prefer idle, closed, recently used
    rb = -1
    if per_bank:
        mask = ui[u, REF_MASK]
        score, recent = 4, -INF
        for b in range(nbanks):
            if (mask >> b) & 1:
                continue
            sc = (1 if b_count[u, b] > 0 else 0) + (2 if open_row[u, b] >= 0 else 0)
            used = bank_next[u, b, ACT]  # later for a bank used more recently: the least likely to be needed soon
            if sc < score or (sc == score and used > recent):
                score, recent, rb = sc, used, b
    best_t, best_cmd, best_slot, best_col, best_seq = INF, -1, -1, False, INF
    # the gate arithmetic of earliest_a, inlined by hand: a call per candidate costs much more in numba
    shift = p[P_BPG_SHIFT]
    t_bus = max(now, ui[u, LAST_CMD] + 1)
    t_faw = faw[u, ui[u, FAW_IDX]] + p[P_NFAW]
    for b in range(nbanks):
        n = b_count[u, b]
        if n == 0:
            continue
        if per_bank and b == rb:
            reserved_from = due
        elif per_bank:
            reserved_from = INF
        else:
            reserved_from = due
        r = open_row[u, b]
        rd_slot, wr_slot = -1, -1
        if b_hits[u, b] > 0:
            nw = b_wcount[u, b]
            s = b_head[u, b]
            while s >= 0:
                if q_row[u, s] == r:
                    if q_write[u, s]:
                        if wr_slot < 0:
                            wr_slot = s
                    elif rd_slot < 0:
                        rd_slot = s
                    if (rd_slot >= 0 or nw == n) and (wr_slot >= 0 or nw == 0):
                        break
                s = q_next[u, s]
        g = b >> shift
        for k in range(2):
            s = rd_slot if k == 0 else wr_slot
            if s < 0:
                continue
            cmd = RD if k == 0 else WR
            t = max(t_bus, bank_next[u, b, cmd], bg_next[u, g, cmd], unit_next[u, cmd])
            if t >= reserved_from:
                continue  # reserved for refresh from its due cycle on
            seq = q_seq[u, s]
            if t < best_t or (t == best_t and (not best_col or seq < best_seq)):
                best_t, best_cmd, best_slot, best_col, best_seq = t, cmd, s, True, seq
        if rd_slot < 0 and wr_slot < 0:  # no hit: the oldest request precharges or activates
            s = b_head[u, b]
            cmd = PRE if r >= 0 else ACT
            t = max(t_bus, bank_next[u, b, cmd], bg_next[u, g, cmd], unit_next[u, cmd])
            if cmd == ACT and t_faw > t:
                t = t_faw
            if t >= reserved_from:
                continue
            seq = q_seq[u, s]
            if t < best_t or (t == best_t and not best_col and seq < best_seq):
                best_t, best_cmd, best_slot, best_col, best_seq = t, cmd, s, False, seq
    ref_t, ref_cmd, ref_bank = INF, -1, -1
    if per_bank:
        ref_cmd = PRE if open_row[u, rb] >= 0 else REFPB
        ref_bank = rb
        ref_t = max(now, due, earliest_a(ref_cmd, u, rb, bank_next, bg_next, unit_next, faw, ui, p))
    else:
        for b in range(nbanks):
            if open_row[u, b] >= 0:
                t = max(now, due, earliest_a(PRE, u, b, bank_next, bg_next, unit_next, faw, ui, p))
                if t < ref_t:
                    ref_t, ref_cmd, ref_bank = t, PRE, b
        if ref_cmd < 0:
            ref_cmd, ref_bank = REFAB, 0
            ref_t = max(now, due, earliest_a(REFAB, u, 0, bank_next, bg_next, unit_next, faw, ui, p))
    if best_t < ref_t:
        nxt[u, 0], nxt[u, 1], nxt[u, 2], nxt[u, 3] = best_t, best_cmd, best_slot, 0
    else:
        nxt[u, 0], nxt[u, 1], nxt[u, 2], nxt[u, 3] = ref_t, ref_cmd, ref_bank, 1


@njit(cache=True)
def _schedule_entry(u, now, st, tb, qs, bq, nxt):
    schedule(u, now, st[0], st[1], st[2], st[3], st[4], st[5], tb[3], qs[2], qs[3], qs[4], qs[7], bq[0], bq[2],
             bq[4], bq[3], nxt)


def schedule_unit(u: int, now: int, st: tuple, tb: tuple, qs: tuple, nxt: np.ndarray, bq: tuple) -> None:
    """Python entry to :func:`schedule` (initialisation, tests)."""
    _schedule_entry(u, now, st, tb, qs, bq, nxt)


def new_queues(units: int, depth: int, banks: int) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Request slots (valid, bank, row, write, seq, txn, flags, next, prev) and per-bank lists (head, tail,
    count, writes, hits on the open row)."""
    slots = (np.zeros((units, depth), np.bool_),) + tuple(np.zeros((units, depth), np.int64) for _ in range(6)) \
        + (np.full((units, depth), -1, np.int64), np.full((units, depth), -1, np.int64))
    lists = (np.full((units, banks), -1, np.int64), np.full((units, banks), -1, np.int64),
             np.zeros((units, banks), np.int64), np.zeros((units, banks), np.int64), np.zeros((units, banks), np.int64))
    return slots, lists


@njit(cache=True, inline="always")
def _log(log, g, t, u, cmd, b, row, bus):
    n = g[G_LOGN]
    if n < log.shape[0]:
        log[n, 0], log[n, 1], log[n, 2], log[n, 3], log[n, 4], log[n, 5] = t, u, cmd, b, row, bus
        g[G_LOGN] = n + 1


@njit(cache=True)
def advance(until, stop_when_drained, st, tb, qs, bq, nxt, tx, g, heap, comp, counters, mp, log):
    """Play commands and front-end entries with cycle < ``until``; returns the last event cycle.

    ``log`` (rows of :data:`LOG_COLS`) receives every command issued while it has room (give a
    0-row array for none).
    """
    bank_next, bg_next, unit_next, open_row, faw, ui = st
    d_bank, d_bg, d_unit, p = tb
    q_valid, q_bank, q_row, q_write, q_seq, q_txn, q_flags, q_next, q_prev = qs
    b_head, b_tail, b_count, b_wcount, b_hits = bq
    offset_bits, fields, widths, pcs, bpg, burst_bytes, n_bursts_total = mp
    units = q_valid.shape[0]
    qcap = p[P_Q]
    nbl, ncl, ncwl = p[P_NBL], p[P_NCL], p[P_NCWL]
    closed_page = p[P_PAGE] == 1
    mask = g[G_MASK]
    while True:
        now = g[G_NOW]
        # --- next front-end entry
        tf = INF
        front = g[G_FRONT]
        if front < g[G_NTX]:
            if g[G_NEXT_OK] == 0:
                a = burst_address(tx[front & mask], tx[front & mask, TX_FED], burst_bytes, n_bursts_total)
                du, db, dr, dc = decode(a, offset_bits, fields, widths, pcs, bpg)
                g[G_NEXT_U], g[G_NEXT_B], g[G_NEXT_R], g[G_NEXT_OK] = du, db, dr, 1
            tf = max(now, tx[front & mask, TX_ARRIVAL])
            if ui[g[G_NEXT_U], QN] >= qcap:
                tf = INF
            elif g[G_QUEUED] + g[G_HEAPN] >= p[P_W]:
                if g[G_HEAPN] > 0:
                    tf = max(tf, heap[0])
                else:
                    tf = INF
        # --- next command
        bu = 0
        for u in range(1, units):
            if nxt[u, 0] < nxt[bu, 0]:
                bu = u
        tc = nxt[bu, 0]
        if stop_when_drained and front >= g[G_NTX] and g[G_QUEUED] == 0:
            break
        if tf <= tc:
            if tf >= until:
                break
            g[G_NOW] = tf
            while g[G_HEAPN] > 0 and heap[0] <= tf:
                g[G_HEAPN] = heap_pop(heap, g[G_HEAPN])
            u = g[G_NEXT_U]
            s = 0
            while q_valid[u, s]:
                s += 1
            q_valid[u, s] = True
            q_bank[u, s], q_row[u, s] = g[G_NEXT_B], g[G_NEXT_R]
            q_write[u, s] = tx[front & mask, TX_WRITE]
            q_seq[u, s] = g[G_SEQ]
            q_txn[u, s] = front
            q_flags[u, s] = 0
            b = q_bank[u, s]
            q_prev[u, s], q_next[u, s] = b_tail[u, b], -1
            if b_tail[u, b] >= 0:
                q_next[u, b_tail[u, b]] = s
            else:
                b_head[u, b] = s
            b_tail[u, b] = s
            b_count[u, b] += 1
            b_wcount[u, b] += q_write[u, s]
            if open_row[u, b] == q_row[u, s]:
                b_hits[u, b] += 1
            g[G_SEQ] += 1
            ui[u, QN] += 1
            g[G_QUEUED] += 1
            tx[front & mask, TX_FED] += 1
            g[G_NEXT_OK] = 0
            if tx[front & mask, TX_FED] == tx[front & mask, TX_COUNT]:
                g[G_FRONT] = front + 1
            # incremental decision: the new request can only win with a better (cycle, first-ready) key,
            # unless it changes refresh or row-protection choices -- then decide afresh
            t_new, c_new = _candidate(u, s, tf, open_row, q_bank, q_row, q_write, bank_next, bg_next, unit_next,
                                      faw, ui, p)
            due = ui[u, REF_DUE]
            col_new = c_new == RD or c_new == WR
            if (nxt[u, 3] == 1 or t_new >= due or nxt[u, 0] >= due
                    or (col_new and nxt[u, 1] == PRE and q_bank[u, nxt[u, 2]] == b)):
                schedule(u, tf, bank_next, bg_next, unit_next, open_row, faw, ui, p, q_row, q_write, q_seq, q_next,
                         b_head, b_count, b_hits, b_wcount, nxt)
            elif c_new == PRE and b_count[u, b] > 1:
                pass  # older requests of this bank need the same PRE (or hold its row open): no new candidate
            elif t_new < nxt[u, 0] or (t_new == nxt[u, 0] and (c_new == RD or c_new == WR)
                                       and not (nxt[u, 1] == RD or nxt[u, 1] == WR)):
                nxt[u, 0], nxt[u, 1], nxt[u, 2], nxt[u, 3] = t_new, c_new, s, 0
            continue
        if tc >= until:
            break
        # --- issue the command of unit bu at cycle tc
        g[G_NOW] = tc
        u = bu
        cmd, slot, is_ref = nxt[u, 1], nxt[u, 2], nxt[u, 3]
        if is_ref == 1:
            b = slot
            apply_a(cmd, u, b, -1, tc, True, bank_next, bg_next, unit_next, open_row, faw, ui, d_bank, d_bg, d_unit, p)
            _log(log, g, tc, u, cmd, b, -1, 1)
            if cmd == PRE:
                b_hits[u, b] = 0
                counters[u, C_PRE] += 1
            else:
                counters[u, C_REFAB if cmd == REFAB else C_REFPB] += 1
                ui[u, REF_DUE] += p[P_REF_INTERVAL]
                if cmd == REFPB:
                    ui[u, REF_MASK] |= 1 << b
                    if ui[u, REF_MASK] == (1 << p[P_NBANKS]) - 1:
                        ui[u, REF_MASK] = 0
        else:
            b = q_bank[u, slot]
            _log(log, g, tc, u, cmd, b, q_row[u, slot] if cmd != PRE else -1, 1)
            if cmd == ACT:
                apply_a(ACT, u, b, q_row[u, slot], tc, True, bank_next, bg_next, unit_next, open_row, faw, ui,
                        d_bank, d_bg, d_unit, p)
                hits = 0
                s2 = b_head[u, b]
                while s2 >= 0:
                    if q_row[u, s2] == q_row[u, slot]:
                        hits += 1
                    s2 = q_next[u, s2]
                b_hits[u, b] = hits
                counters[u, C_ACT] += 1
                q_flags[u, slot] |= 1
            elif cmd == PRE:
                apply_a(PRE, u, b, -1, tc, True, bank_next, bg_next, unit_next, open_row, faw, ui, d_bank, d_bg,
                        d_unit, p)
                b_hits[u, b] = 0
                counters[u, C_PRE] += 1
                q_flags[u, slot] |= 2
            else:
                apply_a(cmd, u, b, -1, tc, True, bank_next, bg_next, unit_next, open_row, faw, ui, d_bank, d_bg,
                        d_unit, p)
                fl = q_flags[u, slot]
                counters[u, C_CONFLICT if fl & 2 else (C_MISS if fl & 1 else C_HIT)] += 1
                counters[u, C_WR if cmd == WR else C_RD] += 1
                done = tc + (ncwl if cmd == WR else ncl) + nbl
                t_id = q_txn[u, slot]
                q_valid[u, slot] = False
                pv, nx = q_prev[u, slot], q_next[u, slot]
                if pv >= 0:
                    q_next[u, pv] = nx
                else:
                    b_head[u, b] = nx
                if nx >= 0:
                    q_prev[u, nx] = pv
                else:
                    b_tail[u, b] = pv
                b_count[u, b] -= 1
                b_wcount[u, b] -= q_write[u, slot]
                b_hits[u, b] -= 1  # a column command always serves a hit
                ui[u, QN] -= 1
                g[G_QUEUED] -= 1
                g[G_HEAPN] = heap_push(heap, g[G_HEAPN], done)
                k = t_id & mask
                tx[k, TX_LEFT] -= 1
                if done > tx[k, TX_DONE]:
                    tx[k, TX_DONE] = done
                if tx[k, TX_LEFT] == 0:
                    comp[g[G_COMPN]] = t_id
                    g[G_COMPN] += 1
                if closed_page:
                    row = q_row[u, slot]
                    keep = False
                    s2 = b_head[u, b]
                    while s2 >= 0:
                        if q_row[u, s2] == row:
                            keep = True
                            break
                        s2 = q_next[u, s2]
                    if not keep:
                        t_pre = earliest_a(PRE, u, b, bank_next, bg_next, unit_next, faw, ui, p)
                        apply_a(PRE, u, b, -1, max(t_pre, tc), False, bank_next, bg_next, unit_next, open_row, faw,
                                ui, d_bank, d_bg, d_unit, p)
                        _log(log, g, max(t_pre, tc), u, PRE, b, -1, 0)
                        b_hits[u, b] = 0
                        counters[u, C_AUTOPRE] += 1
        schedule(u, tc + 1, bank_next, bg_next, unit_next, open_row, faw, ui, p, q_row, q_write, q_seq, q_next,
                 b_head, b_count, b_hits, b_wcount, nxt)
    return g[G_NOW]
