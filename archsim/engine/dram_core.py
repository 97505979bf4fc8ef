"""The DRAM controller core (numba): the front end, command issue and completions, in global cycle order.

``advance`` plays every command of every unit up to a horizon; the Python side
(:mod:`archsim.engine.dram`) owns the arrays and turns completions into simpy events. The
decision of each unit lives in :mod:`archsim.engine.dram_sched`; timing and command buses in
:mod:`archsim.engine.dram_gates`.

Front end: transactions (linear bursts ``base + k * stride``, seeded uniform random bursts,
or one burst each from a trace) enter in order, one burst per decision, while the target
unit's queue has room and fewer than ``max_inflight`` bursts are queued or in flight (a full
queue holds the front end: head-of-line blocking, as the peers' trace front ends do).
``queue_per_channel`` makes a channel's pseudo-channels share one queue of ``queue_depth``,
as Ramulator 2's per-channel HBM controller does; ``active_buffer`` stops counting a request
against the queue once its row is activated for it (Ramulator 2 moves it to an active buffer
of one entry per bank; the scheduler then serves it in either write mode and keeps its row
open). With the ``drain`` write policy a read whose address a queued write holds is
forwarded (done one cycle later, no DRAM command) and a write to an address already queued
merges into it. A burst completes at RD + nCL + nBL (WR + nCWL + nBL).
"""

from __future__ import annotations

from numba import njit

from archsim.engine.dram_frontend import (  # noqa: F401  (TX_* re-exported for dram.py)
    TX_ARRIVAL,
    TX_BASE,
    TX_COLS,
    TX_COUNT,
    TX_DONE,
    TX_ENTER,
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
from archsim.engine.dram_gates import bus_ready, gate, issue
from archsim.engine.dram_mapping import decode
from archsim.engine.dram_sched import INF, schedule
from archsim.engine.dram_timing import (
    ACT,
    LAST_Q,
    MOVE_DUE,
    MOVED_AT,
    NACTIVE,
    P_ACTBUF,
    P_CMD_BUS,
    P_CMDQ,
    P_NBANKS,
    P_NBL,
    P_NCL,
    P_NCWL,
    P_PAGE,
    P_PCS,
    P_Q,
    P_QSHARE,
    P_RANKS,
    P_REF_INTERVAL,
    P_REF_MODE,
    P_RSHIFT,
    P_SCHED,
    P_W,
    P_WPOL,
    PRE,
    QACT,
    QACTW,
    QN,
    QW,
    RD,
    REF_DUE,
    REF_MASK,
    REF_RANK,
    REF_SEL,
    REFAB,
    REFPB,
    TQR,
    TQW,
    WR,
)
from archsim.engine.dram_txq import admit, enqueue, pending_write, push, want_move

# global scalars
(G_FRONT, G_NTX, G_QUEUED, G_HEAPN, G_SEQ, G_COMPN, G_NOW, G_MASK, G_NEXT_U, G_NEXT_B, G_NEXT_R, G_NEXT_OK,
 G_LOGN, G_NEXT_C, G_FLUSH_U, G_LAST_IN) = range(16)
G_LEN = 16
#: columns of the optional command log: cycle, unit, command, bank, row (-1 unless ACT/RD/WR), uses the command bus
LOG_COLS = 6
# counters per unit
C_ACT, C_PRE, C_RD, C_WR, C_REFAB, C_REFPB, C_HIT, C_MISS, C_CONFLICT, C_AUTOPRE, C_FWD, C_MERGE = range(12)
C_LEN = 12
COUNTER_NAMES = ("act", "pre", "rd", "wr", "refab", "refpb", "row_hits", "row_misses", "row_conflicts",
                 "auto_precharges", "read_forwards", "write_merges")


@njit(cache=True, inline="always", error_model="numpy")
def _log(log, g, t, u, cmd, b, row, bus):
    n = g[G_LOGN]
    if n < log.shape[0]:
        log[n, 0], log[n, 1], log[n, 2], log[n, 3], log[n, 4], log[n, 5] = t, u, cmd, b, row, bus
        g[G_LOGN] = n + 1


@njit(cache=True, inline="always", error_model="numpy")
def _finish(tx, k, t_id, done, comp, g):
    tx[k, TX_LEFT] -= 1
    if done > tx[k, TX_DONE]:
        tx[k, TX_DONE] = done
    if tx[k, TX_LEFT] == 0:
        comp[g[G_COMPN]] = t_id
        g[G_COMPN] += 1


@njit(cache=True, inline="always", error_model="numpy")
def _queued_write(u, b, row, col, q_row, q_write, q_col, q_next, b_head):
    s = b_head[u, b]
    while s >= 0:
        if q_write[u, s] and q_row[u, s] == row and q_col[u, s] == col:
            return True
        s = q_next[u, s]
    return False


@njit(cache=True, inline="always", error_model="numpy")
def _order_update(order, nxt, u):
    """Tournament tree over the units' next-command cycles (``order[1]``: the earliest, lowest unit on ties):
    replay the matches from unit ``u``'s leaf to the root."""
    i = (order.shape[0] // 2 + u) >> 1
    while i >= 1:
        a, b = order[2 * i], order[2 * i + 1]
        order[i] = a if b < 0 or (a >= 0 and nxt[a, 0] <= nxt[b, 0]) else b
        i >>= 1


@njit(cache=True, inline="always", error_model="numpy")
def _decide(sched_u, sched_t, siblings, channel_mode, order, bank_next, bg_next, unit_next, open_row, ui, rank_next,
            rfaw, bus, p, q_row, q_write, q_seq, q_next, b_head, b_count, b_hits, b_wcount, active, q_flags, nxt):
    """The decisions after an event: the unit that changed, then the sibling pseudo-channels whose decisions are
    stale because they wanted the command bus just taken (with one write mode per shared queue: every unit of it,
    the changed one first, as the mode may flip)."""
    first, n = sched_u, 1
    if siblings or channel_mode:
        first, n = (sched_u // p[P_PCS]) * p[P_PCS], p[P_PCS]
    for i in range(n):  # one call site of the inlined decision: sched_u, then the others in order
        v = sched_u if i == 0 else first + i - 1 + (1 if first + i - 1 >= sched_u else 0)
        if i == 0 or channel_mode or nxt[v, 0] < bus_ready(nxt[v, 1], v, ui, bus, p):
            schedule(v, sched_t, bank_next, bg_next, unit_next, open_row, ui, rank_next, rfaw, bus, p, q_row,
                     q_write, q_seq, q_next, b_head, b_count, b_hits, b_wcount, active, q_flags, nxt)
            _order_update(order, nxt, v)


@njit(cache=True, error_model="numpy", _nrt=False)
def advance(until, stop_when_drained, st, tb, qs, bq, nxt, tx, g, heap, comp, counters, mp, log, order, tq):
    """Play commands and front-end entries with cycle < ``until``; returns the last event cycle.

    ``log`` (rows of :data:`LOG_COLS`) receives every command issued while it has room (give a
    0-row array for none). ``order``: ``2 * P`` integers, ``P`` a power of two >= units (a
    tournament tree over ``nxt``, rebuilt here). ``tq``: the transaction queues of the ``dramsim3``
    write policy (:mod:`archsim.engine.dram_txq`; a dummy otherwise). Compiled without NRT (``_nrt=False``): nothing
    here allocates, and the reference counting of the array arguments of every inlined helper was
    40% of the time.
    """
    bank_next, bg_next, unit_next, open_row, _faw, ui, rank_next, rfaw, bus = st
    p, eff, neff = tb[3], tb[6], tb[7]
    q_valid, q_bank, q_row, q_write, q_seq, q_txn, q_flags, q_next, q_prev, q_col = qs
    b_head, b_tail, b_count, b_wcount, b_hits, active, active_at = bq
    offset_bits, fields, widths, pcs, bpg, burst_bytes, n_bursts_total = mp
    units = q_valid.shape[0]
    qcap = p[P_Q]
    qshare = p[P_QSHARE]
    actbuf = p[P_ACTBUF] == 1
    nbl, ncl, ncwl = p[P_NBL], p[P_NCL], p[P_NCWL]
    closed_page = p[P_PAGE] == 1
    drain = p[P_WPOL] == 1 or p[P_WPOL] == 2
    channel_mode = p[P_WPOL] == 2 and qshare > 1  # one write mode for the units sharing a queue
    batch = p[P_WPOL] == 3  # DRAMsim3: transaction queues in front of per-bank command queues
    cmdq = p[P_CMDQ]
    round_robin = p[P_SCHED] == 2  # its tie order is not the incremental decision's: decide afresh on entries
    ref_mode, rshift = p[P_REF_MODE], p[P_RSHIFT]
    shared_bus = p[P_CMD_BUS] == 1
    mask = g[G_MASK]
    half = order.shape[0] // 2
    for i in range(half):
        order[half + i] = i if i < units else -1
    for i in range(half - 1, 0, -1):
        a, b = order[2 * i], order[2 * i + 1]
        order[i] = a if b < 0 or (a >= 0 and nxt[a, 0] <= nxt[b, 0]) else b
    while True:
        now = g[G_NOW]
        # --- next front-end entry
        tf = INF
        front = g[G_FRONT]
        if front < g[G_NTX]:
            k = front & mask
            if g[G_NEXT_OK] == 0:
                a = burst_address(tx, k, tx[k, TX_FED], burst_bytes, n_bursts_total)
                du, db, dr, dc = decode(a, offset_bits, fields, widths, pcs, bpg)
                g[G_NEXT_U], g[G_NEXT_B], g[G_NEXT_R], g[G_NEXT_C], g[G_NEXT_OK] = du, db, dr, dc, 1
            tf = max(now, tx[k, TX_ARRIVAL])
            nu = g[G_NEXT_U]
            q0 = (nu // qshare) * qshare  # the units sharing this request queue (one unless per channel)
            qn, qw = 0, 0
            for v in range(q0, q0 + qshare):
                qn += ui[v, QN] - ui[v, QACT]
                qw += ui[v, QW] - ui[v, QACTW]
            if batch:
                full = (ui[nu, TQW] if tx[k, TX_WRITE] else ui[nu, TQR]) >= qcap
                # after a move of its cycle it was waiting for that room; DRAMsim3's trace front end hands over at
                # most one transaction per cycle (TraceBasedCPU::ClockTick)
                tf = max(tf, ui[nu, MOVED_AT] + 1, g[G_LAST_IN] + 1)
            elif drain:
                full = (qw if tx[k, TX_WRITE] else qn - qw) >= qcap
            else:
                full = qn >= qcap
            if full:
                tf = INF
            elif g[G_QUEUED] + g[G_HEAPN] >= p[P_W]:
                if g[G_HEAPN] > 0:
                    tf = max(tf, heap[0])
                else:
                    tf = INF
        # --- next command
        bu = order[1]  # the unit with the earliest next command (lowest index on ties)
        tc = nxt[bu, 0]
        if stop_when_drained and front >= g[G_NTX] and g[G_QUEUED] == 0:
            break
        tm, mu = INF, -1  # next transaction move (DRAMsim3 queues): after a command of its cycle, before an entry
        if batch:
            if front >= g[G_NTX] and g[G_FLUSH_U] < units:  # no more requests: idle units flush their writes
                for v in range(g[G_FLUSH_U], units):
                    want_move(v, now, ui)
                g[G_FLUSH_U] = units
            for v in range(units):
                if ui[v, MOVE_DUE] < tm:
                    tm, mu = ui[v, MOVE_DUE], v
        if tm < tc and tm < tf:  # in a cycle: entries, then the command, then the move
            if tm >= until:
                break
            g[G_NOW] = tm
            ui[mu, MOVE_DUE] = INF
            ui[mu, MOVED_AT] = tm
            moved = admit(mu, g[G_SEQ], front >= g[G_NTX], tq, qcap, cmdq, qs, bq, open_row, ui)
            g[G_SEQ] += moved
            if moved:
                want_move(mu, tm + 1, ui)
            sched_u, sched_t, siblings = mu, tm + 1, False  # a moved command issues from the next cycle on
        elif tf <= tc:
            if tf >= until:
                break
            g[G_NOW] = tf
            while g[G_HEAPN] > 0 and heap[0] <= tf:
                g[G_HEAPN] = heap_pop(heap, g[G_HEAPN])
            u, b, row, col = g[G_NEXT_U], g[G_NEXT_B], g[G_NEXT_R], g[G_NEXT_C]
            is_write = tx[k, TX_WRITE]
            g[G_LAST_IN] = tf
            if tx[k, TX_FED] == 0:
                tx[k, TX_ENTER] = tf
            tx[k, TX_FED] += 1
            g[G_NEXT_OK] = 0
            if tx[k, TX_FED] == tx[k, TX_COUNT]:
                g[G_FRONT] = front + 1
            if (drain or batch) and ((b_wcount[u, b] > 0 and _queued_write(u, b, row, col, q_row, q_write, q_col,
                                                                           q_next, b_head))
                                     or (batch and pending_write(u, b, row, col, tq, ui))):
                counters[u, C_MERGE if is_write else C_FWD] += 1
                _finish(tx, k, front, tf + 1, comp, g)
                continue
            g[G_QUEUED] += 1
            if batch:  # into the transaction queues (no command queue changes): it may move after this cycle's command
                push(u, is_write, b, row, col, front, tq, ui)
                want_move(u, tf, ui)
                continue
            else:
                s = enqueue(u, b, row, col, is_write, front, g[G_SEQ], qs, bq, open_row, ui)
                g[G_SEQ] += 1
            # incremental decision: the new request can only win with a better (cycle, first-ready) key,
            # unless it changes refresh, row-protection or write-mode choices -- then decide afresh
            r = open_row[u, b]
            c_new = (WR if is_write else RD) if r == row else (PRE if r >= 0 else ACT)
            t_new = max(tf, gate(c_new, u, b, bank_next, bg_next, unit_next, rank_next, rfaw, ui, bus, p))
            due = ui[u, REF_DUE]
            col_new = c_new == RD or c_new == WR
            # refresh: a decision before the due cycle ignores it (the new candidate, if at or after it, loses);
            # one that saw it stays valid unless the new request is in the bank (rank) reserved for the refresh or
            # (per-bank) makes an idle bank busy, which may move the refresh to another bank
            is_ref = nxt[u, 3] == 1
            ref_kept = True
            if is_ref or nxt[u, 0] >= due:
                if ref_mode == 1:
                    ref_kept = b_count[u, b] > 1 and b != ui[u, REF_SEL]
                elif ref_mode == 0:
                    ref_kept = (b >> rshift) != ui[u, REF_RANK]
            if (batch or round_robin or not ref_kept or (drain and (ui[u, QW] > 0 or channel_mode))
                    or (not is_ref and col_new and nxt[u, 1] == PRE and q_bank[u, nxt[u, 2]] == b)):
                sched_u, sched_t, siblings = u, tf, False
            elif c_new == PRE and b_count[u, b] > 1:
                continue  # older requests of this bank need the same PRE (or hold its row open): no new candidate
            else:
                if t_new < nxt[u, 0] or (not is_ref and t_new == nxt[u, 0] and col_new
                                         and not (nxt[u, 1] == RD or nxt[u, 1] == WR)):
                    nxt[u, 0], nxt[u, 1], nxt[u, 2], nxt[u, 3] = t_new, c_new, s, 0
                    _order_update(order, nxt, u)
                continue
        else:
            if tc >= until:
                break
            g[G_NOW] = tc
            u = bu
            cmd, slot, is_ref = nxt[u, 1], nxt[u, 2], nxt[u, 3]
            if is_ref == 1:
                b = slot
                issue(cmd, u, b, -1, tc, True, bank_next, bg_next, unit_next, open_row, ui, rank_next, rfaw, bus,
                      eff, neff, p)
                _log(log, g, tc, u, cmd, b, -1, 1)
                if cmd == PRE:
                    b_hits[u, b] = 0
                    counters[u, C_PRE] += 1
                    if actbuf:  # requests activated in this bank count against the queue again
                        s2 = b_head[u, b]
                        while s2 >= 0:
                            if q_flags[u, s2] & 1:
                                q_flags[u, s2] &= ~1
                                ui[u, QACT] -= 1
                                ui[u, QACTW] -= q_write[u, s2]
                            s2 = q_next[u, s2]
                else:
                    counters[u, C_REFAB if cmd == REFAB else C_REFPB] += 1
                    ui[u, REF_DUE] += p[P_REF_INTERVAL]
                    if cmd == REFPB:
                        ui[u, REF_MASK] |= 1 << b
                        if ui[u, REF_MASK] == (1 << p[P_NBANKS]) - 1:
                            ui[u, REF_MASK] = 0
                    else:
                        ui[u, REF_RANK] = (ui[u, REF_RANK] + 1) % p[P_RANKS]
            else:
                b = q_bank[u, slot]
                ui[u, LAST_Q] = b  # the round_robin scheduler's next search starts after this bank's queue
                _log(log, g, tc, u, cmd, b, q_row[u, slot] if cmd != PRE else -1, 1)
                issue(cmd, u, b, q_row[u, slot], tc, True, bank_next, bg_next, unit_next, open_row, ui, rank_next, rfaw,
                      bus, eff, neff, p)
                if cmd == ACT:
                    hits = 0
                    s2 = b_head[u, b]
                    while s2 >= 0:
                        if q_row[u, s2] == q_row[u, slot]:
                            hits += 1
                        s2 = q_next[u, s2]
                    b_hits[u, b] = hits
                    counters[u, C_ACT] += 1
                    if actbuf and not q_flags[u, slot] & 1:
                        ui[u, QACT] += 1
                        ui[u, QACTW] += q_write[u, slot]
                    q_flags[u, slot] |= 1
                elif cmd == PRE:
                    b_hits[u, b] = 0
                    counters[u, C_PRE] += 1
                    q_flags[u, slot] |= 2
                else:
                    fl = q_flags[u, slot]
                    if actbuf and fl & 1:
                        ui[u, QACT] -= 1
                        ui[u, QACTW] -= q_write[u, slot]
                    counters[u, C_CONFLICT if fl & 2 else (C_MISS if fl & 1 else C_HIT)] += 1
                    counters[u, C_WR if cmd == WR else C_RD] += 1
                    done = tc + (ncwl if cmd == WR else ncl) + nbl
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
                    if b_count[u, b] == 0:  # leaves the active list: the last entry takes its place
                        last_i = ui[u, NACTIVE] - 1
                        moved = active[u, last_i]
                        active[u, active_at[u, b]] = moved
                        active_at[u, moved] = active_at[u, b]
                        active_at[u, b] = -1
                        ui[u, NACTIVE] = last_i
                    b_wcount[u, b] -= q_write[u, slot]
                    b_hits[u, b] -= 1  # a column command always serves a hit
                    ui[u, QN] -= 1
                    ui[u, QW] -= q_write[u, slot]
                    g[G_QUEUED] -= 1
                    g[G_HEAPN] = heap_push(heap, g[G_HEAPN], done)
                    t_id = q_txn[u, slot]
                    _finish(tx, t_id & mask, t_id, done, comp, g)
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
                            t_pre = max(tc, gate(PRE, u, b, bank_next, bg_next, unit_next, rank_next, rfaw, ui, bus, p))
                            issue(PRE, u, b, -1, t_pre, False, bank_next, bg_next, unit_next, open_row, ui, rank_next,
                                  rfaw, bus, eff, neff, p)
                            _log(log, g, t_pre, u, PRE, b, -1, 0)
                            b_hits[u, b] = 0
                            counters[u, C_AUTOPRE] += 1
                    if batch:  # a command queue entry is free: a transaction may move in this cycle
                        want_move(u, tc, ui)
            sched_u, sched_t, siblings = bu, tc, shared_bus
        _decide(sched_u, sched_t, siblings, channel_mode, order, bank_next, bg_next, unit_next, open_row, ui,
                rank_next, rfaw, bus, p, q_row, q_write, q_seq, q_next, b_head, b_count, b_hits, b_wcount, active,
                q_flags, nxt)
    return g[G_NOW]

