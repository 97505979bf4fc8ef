"""DRAMsim3's two-level request queues (numba, inlined into the controller core).

DRAMsim3 (``controller.cc``, ``command_queue.cc`` at 29817593) keeps per channel a read queue
and a write buffer of ``trans_queue_size`` transactions each, in front of per-bank command
queues of ``cmd_queue_size`` entries; only the command queues are scheduled.
``ScheduleTransaction`` moves transactions into them:

- not draining: the first read (queue order) whose bank's command queue has room;
- a drain starts when the write buffer is full, or holds more than 8 writes while every
  command queue is empty; it then moves exactly as many writes as the buffer held at its start
  (first with room first), no reads, and ends when that many have moved.

Here the per-bank command queues are the core's per-bank request lists (scheduled by the
scheduler part, :mod:`archsim.engine.dram_sched`), each capped at ``command_queue`` entries,
and the two transaction queues are ``tq[u, 0]`` (reads) and ``tq[u, 1]`` (writes): rows (bank,
row, column, transaction id) in arrival order. A unit moves at most one transaction per cycle,
in mover events of the core (``ui[u, MOVE_DUE]``). Within a cycle t the order is DRAMsim3's: queue entries, then the
command, then the move (``Controller::ClockTick`` issues, then ``ScheduleTransaction``; its trace
front end adds after the tick, so archsim's cycle t is DRAMsim3's clk t + 1). So a transaction
entering at t may move at t, a move allowed by a column command at t happens in that cycle, a
moved request's commands start at t + 1, and an entry that waited for room in a full queue comes
the cycle after the move that made it (``ui[u, MOVED_AT]``); the front end hands over at most one
transaction per cycle (``TraceBasedCPU::ClockTick``; with this write policy, all units together).
An entry changes no command queue, so it does not re-decide the unit's next command.
Differences from DRAMsim3, by name: its read-after-write check (a drain stops at a write whose
address a pending read holds) is not modelled (the peer traces are uniform random over the
whole device); at the end of the requests idle units drain the last 8 or fewer writes (DRAMsim3
never issues them).
"""

from __future__ import annotations

from numba import njit

from archsim.engine.dram_timing import DRAIN, MOVE_DUE, NACTIVE, QN, QW, TQR, TQW

#: DRAMsim3's second drain trigger: more than this many writes wait while the command queues are empty
IDLE_DRAIN_WRITES = 8


@njit(cache=True, inline="always", error_model="numpy")
def enqueue(u, b, row, col, is_write, txn, seq, qs, bq, open_row, ui):
    """Append a request to bank ``b``'s list of unit ``u``; returns its queue slot."""
    q_valid, q_bank, q_row, q_write, q_seq, q_txn, q_flags, q_next, q_prev, q_col = qs
    b_head, b_tail, b_count, b_wcount, b_hits, active, active_at = bq
    s = 0
    while q_valid[u, s]:
        s += 1
    q_valid[u, s] = True
    q_bank[u, s], q_row[u, s], q_col[u, s], q_write[u, s] = b, row, col, is_write
    q_seq[u, s] = seq
    q_txn[u, s] = txn
    q_flags[u, s] = 0
    q_prev[u, s], q_next[u, s] = b_tail[u, b], -1
    if b_tail[u, b] >= 0:
        q_next[u, b_tail[u, b]] = s
    else:
        b_head[u, b] = s
    b_tail[u, b] = s
    b_count[u, b] += 1
    if b_count[u, b] == 1:
        active_at[u, b] = ui[u, NACTIVE]
        active[u, ui[u, NACTIVE]] = b
        ui[u, NACTIVE] += 1
    b_wcount[u, b] += is_write
    if open_row[u, b] == row:
        b_hits[u, b] += 1
    ui[u, QN] += 1
    ui[u, QW] += is_write
    return s


@njit(cache=True, inline="always", error_model="numpy")
def push(u, is_write, b, row, col, txn, tq, ui):
    """A transaction enters the read queue or the write buffer of unit ``u`` (the caller checked for room)."""
    w = 1 if is_write else 0
    n = ui[u, TQW] if w else ui[u, TQR]
    tq[u, w, n, 0], tq[u, w, n, 1], tq[u, w, n, 2], tq[u, w, n, 3] = b, row, col, txn
    if w:
        ui[u, TQW] = n + 1
    else:
        ui[u, TQR] = n + 1


@njit(cache=True, inline="always", error_model="numpy")
def pending_write(u, b, row, col, tq, ui):
    """Whether the write buffer of unit ``u`` holds a write to (bank, row, column)."""
    for j in range(ui[u, TQW]):
        if tq[u, 1, j, 0] == b and tq[u, 1, j, 1] == row and tq[u, 1, j, 2] == col:
            return True
    return False


@njit(cache=True, inline="always", error_model="numpy")
def admit(u, seq0, flush, tq, qcap, cmdq, qs, bq, open_row, ui):
    """DRAMsim3's ScheduleTransaction of one cycle: the drain check, then at most one move; returns how many moved
    (0 or 1; it takes the sequence number ``seq0``). ``flush`` (no more requests will come): an idle unit also
    drains 8 or fewer writes, which DRAMsim3 would leave unissued."""
    b_count = bq[2]
    moved = 0
    while moved == 0:
        if ui[u, DRAIN] == 0:
            nw = ui[u, TQW]
            idle = ui[u, QN] == 0
            if nw >= qcap or (nw > IDLE_DRAIN_WRITES and idle) or (flush and nw > 0 and idle and ui[u, TQR] == 0):
                ui[u, DRAIN] = nw
        w = 1 if ui[u, DRAIN] > 0 else 0
        n = ui[u, TQW] if w else ui[u, TQR]
        j = 0
        while j < n and b_count[u, tq[u, w, j, 0]] >= cmdq:
            j += 1
        if j == n:
            return moved
        b, row, col, txn = tq[u, w, j, 0], tq[u, w, j, 1], tq[u, w, j, 2], tq[u, w, j, 3]
        for i in range(j, n - 1):
            for f in range(4):
                tq[u, w, i, f] = tq[u, w, i + 1, f]
        if w:
            ui[u, TQW] = n - 1
            ui[u, DRAIN] -= 1
        else:
            ui[u, TQR] = n - 1
        enqueue(u, b, row, col, w, txn, seq0 + moved, qs, bq, open_row, ui)
        moved += 1
    return moved


@njit(cache=True, inline="always", error_model="numpy")
def want_move(u, t, ui):
    """A transaction of unit ``u`` may move at cycle ``t`` (one move per unit and cycle, as DRAMsim3)."""
    if t < ui[u, MOVE_DUE]:
        ui[u, MOVE_DUE] = t
