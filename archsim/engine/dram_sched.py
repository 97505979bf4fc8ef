"""The DRAM controller's decision (numba): which command each unit issues next, and when.

Per unit and decision: the candidate command of each queued request (RD/WR on a row hit,
else PRE on a conflict, else ACT) at its earliest legal cycle (:func:`dram_gates.gate`:
timing, ranks, command buses). The registered parts (:mod:`archsim.engine.dram_parts`) pick
among them:

- scheduler ``frfcfs``: the earliest candidate wins, ties go to column commands (first-ready)
  and then to the oldest request; a row that still has queued hits (of the type being served)
  is not precharged for another request. ``fcfs``: the oldest request's command, ready or not.
  ``round_robin`` (DRAMsim3's ``CommandQueue::GetCommandToIssue``): of the earliest candidates,
  the one of the first bank after the last bank served (its per-bank queues visited in turn),
  the oldest within a bank; no column-first tie rule.
- write policy ``mixed``: reads and writes compete in one queue of ``queue_depth``.
  ``drain``: separate read and write queues of ``queue_depth`` each; the unit serves reads
  until the write queue holds ``write_high`` entries (or no read is queued), then only writes
  until fewer than ``write_low`` remain while reads wait (watermarks kept per unit over the
  (shared) queue's counts; a unit whose queue part holds only the other type serves that type);
  reads hitting a queued write are forwarded. ``drain_channel``: Ramulator 2.1's
  ``ControllerBase::set_write_mode`` exactly: one write mode per controller (the units sharing a
  queue), entered when its write buffer holds more than ``high`` x its size or its read buffer is
  empty, left when it holds fewer than ``low`` x its size and a read waits; counts exclude
  activated requests (they have moved to its active buffer); in write mode a unit serves only
  writes (and activated requests), even when all the writes are its sibling's.
- refresh ``all_bank`` (REFab per rank, ranks staggered nREFI / ranks apart), ``per_bank``
  (REFpb every nREFI / banks to a bank not yet refreshed in this round: idle, closed and most
  recently used first, as JEDEC allows any order) or ``none``. From its due cycle the bank(s)
  being refreshed take no new commands until precharged and refreshed.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from archsim.engine.dram_gates import bus_ready, gate
from archsim.engine.dram_timing import (
    ACT,
    LAST_Q,
    NACTIVE,
    P_ACTBUF,
    P_BPG_SHIFT,
    P_FAW_RANK,
    P_NBANKS,
    P_NFAW,
    P_QSHARE,
    P_RANKS,
    P_REF_MODE,
    P_RSHIFT,
    P_SCHED,
    P_WHI,
    P_WLO,
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
    WMODE,
    WR,
)

INF = 1 << 62


@njit(cache=True, inline="always", error_model="numpy")
def _oldest_of_type(u, b, want_write, q_write, q_next, b_head):
    """Oldest queued request of bank ``b`` that is a write (1), a read (0) or either (-1)."""
    s = b_head[u, b]
    if want_write < 0:
        return s
    while s >= 0 and q_write[u, s] != want_write:
        s = q_next[u, s]
    return s


@njit(cache=True, inline="always", error_model="numpy")
def _refresh_bank(u, nbanks, ui, open_row, b_count, bank_next):
    """Per-bank refresh target: a bank not yet refreshed this round; idle, closed and recently used first."""
    mask = ui[u, REF_MASK]
    score, recent, rb = 4, -INF, -1
    for b in range(nbanks):
        if (mask >> b) & 1:
            continue
        sc = (1 if b_count[u, b] > 0 else 0) + (2 if open_row[u, b] >= 0 else 0)
        used = bank_next[u, b, ACT]  # later for a bank used more recently: the least likely to be needed soon
        if sc < score or (sc == score and used > recent):
            score, recent, rb = sc, used, b
    return rb


@njit(cache=True, inline="always", error_model="numpy")
def schedule(u, now, bank_next, bg_next, unit_next, open_row, ui, rank_next, rfaw, bus, p, q_row, q_write, q_seq,
             q_next, b_head, b_count, b_hits, b_wcount, active, q_flags, nxt):
    """Store in ``nxt[u]`` = (cycle, command, queue slot or bank, is_refresh) of unit ``u``'s next command.

    Requests sit in per-bank lists in arrival order. Within a bank every request needing the
    same command has the same earliest cycle, so only the oldest RD hit, the oldest WR hit and
    (when the open row has no hits being served) the oldest request can win: FR-FCFS over the
    whole queue at the cost of a walk to the first hits of each bank.
    """
    nbanks = p[P_NBANKS]
    ref_mode = p[P_REF_MODE]
    rshift = p[P_RSHIFT]
    fcfs = p[P_SCHED] == 1
    col_first = p[P_SCHED] != 2  # round_robin: ties go to the bank queue after the last one served, not to RD/WR
    actbuf = p[P_ACTBUF] == 1
    want = -1  # type being served: -1 either, 0 reads, 1 writes
    if p[P_WPOL] == 2:  # Ramulator 2.1 set_write_mode: one mode per controller, over its read/write buffers
        q0 = (u // p[P_QSHARE]) * p[P_QSHARE]
        writes, queued = 0, 0
        for v in range(q0, q0 + p[P_QSHARE]):  # activated requests have left the buffers (its active buffer)
            writes += ui[v, QW] - ui[v, QACTW]
            queued += ui[v, QN] - ui[v, QACT]
        reads = queued - writes
        if ui[q0, WMODE] == 0:
            if writes >= p[P_WHI] or reads == 0:
                ui[q0, WMODE] = 1
        elif writes < p[P_WLO] and reads > 0:
            ui[q0, WMODE] = 0
        want = ui[q0, WMODE]
    elif p[P_WPOL] == 1:
        q0 = (u // p[P_QSHARE]) * p[P_QSHARE]  # watermarks count the whole (shared) queue
        writes, queued = 0, 0
        for v in range(q0, q0 + p[P_QSHARE]):
            writes += ui[v, QW]
            queued += ui[v, QN]
        reads = queued - writes
        if ui[u, WMODE] == 0:
            if writes >= p[P_WHI] or (reads == 0 and writes > 0):
                ui[u, WMODE] = 1
        elif (writes < p[P_WLO] and reads > 0) or writes == 0:
            ui[u, WMODE] = 0
        want = ui[u, WMODE]
        if want == 1 and ui[u, QW] == 0:  # a shared queue's writes may all be the sibling pseudo-channel's
            want = 0
        elif want == 0 and ui[u, QW] == ui[u, QN]:
            want = 1
    due = ui[u, REF_DUE]
    ref_rank = ui[u, REF_RANK]
    best_t, best_cmd, best_slot, best_col, best_seq = INF, -1, -1, False, INF
    # the gate arithmetic of dram_gates.gate, hoisted and inlined by hand: a call per candidate costs much more
    shift = p[P_BPG_SHIFT]
    t_col = max(now, bus_ready(RD, u, ui, bus, p))
    t_act = max(now, bus_ready(ACT, u, ui, bus, p))
    t_pre = max(now, bus_ready(PRE, u, ui, bus, p))
    faw_rank = p[P_FAW_RANK] == 1
    t_faw = rfaw[u * p[P_RANKS], rfaw[u * p[P_RANKS], 4]] + p[P_NFAW]
    rb = -1
    # pass 0 ignores refresh reservations: exact when its winner comes before the due cycle (every reserved
    # candidate is at or after it); otherwise pass 1 decides again with the bank(s) to refresh reserved. From the
    # due cycle on every candidate is at or after it: pass 1 alone
    first_pass = 1 if (ref_mode != 2 and now >= due) else 0
    for pass_ in range(first_pass, 2):
        if pass_ == 1:
            if ref_mode == 2 or (first_pass == 0 and best_t < due):
                break
            best_t, best_cmd, best_slot, best_col, best_seq = INF, -1, -1, False, INF
            if ref_mode == 1:
                rb = _refresh_bank(u, nbanks, ui, open_row, b_count, bank_next)
                ui[u, REF_SEL] = rb
        for i in range(ui[u, NACTIVE]):  # banks with queued requests (the choice does not depend on their order)
            b = active[u, i]
            n = b_count[u, b]
            nw = b_wcount[u, b]
            none_wanted = (want == 1 and nw == 0) or (want == 0 and nw == n)
            if none_wanted and not (actbuf and ui[u, QACT] > 0):  # an activated request is served in either mode
                continue
            if pass_ == 0:
                reserved_from = INF
            elif ref_mode == 1:
                reserved_from = due if b == rb else INF
            elif ref_mode == 0:
                reserved_from = due if (b >> rshift) == ref_rank else INF
            else:
                reserved_from = INF
            r = open_row[u, b]
            rr_key = 0 if col_first else ((b - ui[u, LAST_Q] - 1 + nbanks) % nbanks) << 40  # banks after the last
            if fcfs:
                s = _oldest_of_type(u, b, want, q_write, q_next, b_head)
                if q_row[u, s] == r:
                    cmd = WR if q_write[u, s] else RD
                else:
                    cmd = PRE if r >= 0 else ACT
                t = max(now, gate(cmd, u, b, bank_next, bg_next, unit_next, rank_next, rfaw, ui, bus, p))
                if t < reserved_from and q_seq[u, s] < best_seq:
                    best_t, best_cmd, best_slot, best_seq = t, cmd, s, q_seq[u, s]
                continue
            rd_slot, wr_slot = -1, -1
            if b_hits[u, b] > 0:
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
            # an activated request (Ramulator 2's active buffer) is served whatever the write mode, and its row is
            # not closed for others
            if want == 1 and not (actbuf and rd_slot >= 0 and q_flags[u, rd_slot] & 1):
                rd_slot = -1
            elif want == 0 and not (actbuf and wr_slot >= 0 and q_flags[u, wr_slot] & 1):
                wr_slot = -1
            g = b >> shift
            rk = b >> rshift
            for k in range(2):
                s = rd_slot if k == 0 else wr_slot
                if s < 0:
                    continue
                cmd = RD if k == 0 else WR
                t = max(t_col, bank_next[u, b, cmd], bg_next[u, g, cmd], unit_next[u, cmd], rank_next[u, rk, cmd])
                if t >= reserved_from:
                    continue  # reserved for refresh from its due cycle on
                seq = q_seq[u, s] + rr_key
                if t < best_t or (t == best_t and ((col_first and not best_col) or seq < best_seq)):
                    best_t, best_cmd, best_slot, best_col, best_seq = t, cmd, s, True, seq
            if rd_slot < 0 and wr_slot < 0 and not none_wanted:  # no hit served: the oldest precharges or activates
                s = _oldest_of_type(u, b, want, q_write, q_next, b_head)
                cmd = PRE if r >= 0 else ACT
                t = max(t_pre if r >= 0 else t_act, bank_next[u, b, cmd], bg_next[u, g, cmd], unit_next[u, cmd],
                        rank_next[u, rk, cmd])
                if cmd == ACT:
                    if faw_rank:
                        f = u * p[P_RANKS] + rk
                        t = max(t, rfaw[f, rfaw[f, 4]] + p[P_NFAW])
                    else:
                        t = max(t, t_faw)
                if t >= reserved_from:
                    continue
                seq = q_seq[u, s] + rr_key
                if t < best_t or (t == best_t and not (col_first and best_col) and seq < best_seq):
                    best_t, best_cmd, best_slot, best_col, best_seq = t, cmd, s, False, seq
    ref_t, ref_cmd, ref_bank = INF, -1, -1
    if best_t < due:
        ref_mode = 2  # every refresh candidate is at or after its due cycle: the best request wins anyway
    if ref_mode == 1:
        if rb < 0:
            rb = _refresh_bank(u, nbanks, ui, open_row, b_count, bank_next)
            ui[u, REF_SEL] = rb  # the bank this decision reserved (read by the core's incremental decisions)
        ref_cmd = PRE if open_row[u, rb] >= 0 else REFPB
        ref_bank = rb
        ref_t = max(now, due, gate(ref_cmd, u, rb, bank_next, bg_next, unit_next, rank_next, rfaw, ui, bus, p))
    elif ref_mode == 0:
        first = ref_rank << rshift
        for b in range(first, first + (1 << rshift)):
            if open_row[u, b] >= 0:
                t = max(now, due, gate(PRE, u, b, bank_next, bg_next, unit_next, rank_next, rfaw, ui, bus, p))
                if t < ref_t:
                    ref_t, ref_cmd, ref_bank = t, PRE, b
        if ref_cmd < 0:
            ref_cmd, ref_bank = REFAB, first
            ref_t = max(now, due, gate(REFAB, u, first, bank_next, bg_next, unit_next, rank_next, rfaw, ui, bus, p))
    if best_t < ref_t:
        nxt[u, 0], nxt[u, 1], nxt[u, 2], nxt[u, 3] = best_t, best_cmd, best_slot, 0
    else:
        nxt[u, 0], nxt[u, 1], nxt[u, 2], nxt[u, 3] = ref_t, ref_cmd, ref_bank, 1


@njit(cache=True)
def _schedule_entry(u, now, st, p, qs, bq, nxt):
    schedule(u, now, st[0], st[1], st[2], st[3], st[5], st[6], st[7], st[8], p, qs[2], qs[3], qs[4], qs[7], bq[0],
             bq[2], bq[4], bq[3], bq[5], qs[6], nxt)


def schedule_unit(u: int, now: int, st: tuple, tb: tuple, qs: tuple, nxt: np.ndarray, bq: tuple) -> None:
    """Python entry to :func:`schedule` (initialisation, tests)."""
    _schedule_entry(u, now, st, tb[3], qs, bq, nxt)


def new_queues(units: int, slots: int, banks: int) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Request slots (valid, bank, row, write, seq, txn, flags, next, prev, column) and per-bank lists (head,
    tail, count, writes, hits on the open row), then the banks that hold requests and each bank's place there."""
    q = (np.zeros((units, slots), np.bool_),) + tuple(np.zeros((units, slots), np.int64) for _ in range(6)) \
        + (np.full((units, slots), -1, np.int64), np.full((units, slots), -1, np.int64),
           np.zeros((units, slots), np.int64))
    lists = (np.full((units, banks), -1, np.int64), np.full((units, banks), -1, np.int64),
             np.zeros((units, banks), np.int64), np.zeros((units, banks), np.int64), np.zeros((units, banks), np.int64),
             np.zeros((units, banks), np.int64), np.full((units, banks), -1, np.int64))
    return q, lists
