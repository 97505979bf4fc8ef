"""DRAM device component: a memory standard, an address mapping and a controller per unit.

High-level use from a simpy process (times in seconds)::

    dram = Dram(engine, load_memory_standard("hbm3"))
    yield engine.process(dram.read(addr, nbytes))     # returns when the last burst's data is back

Each ``read``/``write`` is one transaction split into bursts of ``std.burst_bytes``; the
numba core (:mod:`archsim.engine.dram_sched`) schedules every ACT/PRE/RD/WR/REF command
cycle-exactly, but simpy sees only one event per transaction completion plus one controller
wake-up per ``lookahead_cycles`` while busy (a new request wakes it at once). The core may
have issued commands up to ``lookahead_cycles`` ahead of simpy time, so a request arriving
while earlier ones are in progress enters the queues at most that many cycles late (0 when
the controller is idle: unloaded latency is exact).
Transactions enter the front end in arrival order (one DMA-like stream per device).

:meth:`Dram.run_pattern` is the trace-driven fast path used by the micro-benchmark: the
whole pattern runs inside one numba call. Energy: per-command figures of the standard
(see :mod:`archsim.engine.energy`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from archsim.engine import dram_core as core
from archsim.engine.core import Engine
from archsim.engine.dram_gates import core_tables, effect_lists, new_core_state
from archsim.engine.dram_mapping import AddressMapping
from archsim.engine.dram_parts import resolve
from archsim.engine.dram_sched import INF, new_queues, schedule_unit
from archsim.engine.dram_timing import P_REF_INTERVAL, P_W, REF_DUE, params_vector
from archsim.errors import PhysicalLimitError
from archsim.schemas.memory import MemoryStandard

PAGE_POLICIES = ("open", "closed")


@dataclass
class DramStats:
    """Counts of one controller since construction; ``elapsed_cycles`` spans first arrival to last data."""

    counters: dict[str, int]
    bytes_read: int
    bytes_written: int
    energy_j: float
    elapsed_cycles: int
    tck_s: float
    per_unit: np.ndarray = field(repr=False)
    controller: DramController | None = field(default=None, repr=False)

    @property
    def row_hit_rate(self) -> float:
        c = self.counters
        total = c["row_hits"] + c["row_misses"] + c["row_conflicts"]
        return c["row_hits"] / total if total else 0.0


class DramController:
    """The numba controller's arrays for one device, and the calls into it."""

    def __init__(self, std: MemoryStandard, *, mapping: str = "RoBaCoBgPcCh", page_policy: str = "open",
                 queue_depth: int = 64, max_inflight: int | None = None, log_commands: int = 0,
                 parts: dict[str, str] | None = None, queue_per_channel: bool = False,
                 active_buffer: bool = False) -> None:
        """``log_commands``: record up to that many issued commands in :attr:`command_log`. ``parts``: controller
        parts by kind (:mod:`archsim.engine.dram_parts`); ``page_policy`` is the ``row_policy`` part.
        ``queue_per_channel``: the pseudo-channels of a channel share one queue of ``queue_depth``.
        ``active_buffer``: a request stops counting against the queue once its row is activated for it."""
        if page_policy not in PAGE_POLICIES:
            raise ValueError(f"unknown page policy {page_policy!r}; valid: {', '.join(PAGE_POLICIES)}")
        if queue_depth < 1:
            raise ValueError("queue_depth must be >= 1")
        self.std = std
        self.mapping = AddressMapping.build(std, mapping)
        self.parts = resolve({"row_policy": page_policy} | dict(parts or {}))
        units, banks = std.units, std.banks * std.organisation.ranks
        drain = self.parts["write_policy"].core in ("drain", "drain_channel")
        wp = self.parts["write_policy"].params
        cmdq = int(wp.get("command_queue", 0)) if self.parts["write_policy"].core == "batch" else 0
        slots = cmdq * banks if cmdq else queue_depth * (2 if drain else 1)  # requests the scheduler sees
        self.max_inflight = max_inflight or units * (slots + (2 * queue_depth if cmdq else 0))
        ref = self.parts["refresh"].core
        p = params_vector(std, queue_depth=queue_depth, max_inflight=self.max_inflight,
                          closed_page=self.parts["row_policy"].core == "closed",
                          refresh=None if ref == "standard" else ref, scheduler=self.parts["scheduler"].code,
                          write_policy=self.parts["write_policy"].code,
                          write_high=min(queue_depth, math.floor(wp.get("high", 1.0) * queue_depth) + 1),
                          write_low=math.ceil(wp.get("low", 0.0) * queue_depth), queue_per_channel=queue_per_channel,
                          active_buffer=active_buffer, command_queue=cmdq)
        bank_t, bg_t, unit_t, rank_t, xrank_t = core_tables(std)
        eff, neff = effect_lists((bank_t, bg_t, unit_t, rank_t, xrank_t), std.organisation.ranks)
        self.tables = (bank_t, bg_t, unit_t, p, rank_t, xrank_t, eff, neff)
        self.state = new_core_state(std)
        self.state[5][:, REF_DUE] = p[P_REF_INTERVAL]
        self._tq = np.zeros((units, 2, queue_depth if cmdq else 1, 4), np.int64)  # DRAMsim3's transaction queues
        self.queues, self.bank_lists = new_queues(units, slots + (banks if active_buffer else 0), banks)
        self.nxt = np.zeros((units, 4), np.int64)
        self._order = np.zeros(2 * (1 << max(0, units - 1).bit_length()), np.int64)  # the core's tournament tree
        self.tx = np.zeros((64, core.TX_COLS), np.int64)
        self.g = np.zeros(core.G_LEN, np.int64)
        self.g[core.G_MASK] = 63
        self.g[core.G_LAST_IN] = -(1 << 40)  # no queue entry yet
        self.heap = np.zeros(int(p[P_W]) + 1, np.int64)
        self.comp = np.zeros(64, np.int64)
        self.counters = np.zeros((units, core.C_LEN), np.int64)
        self._log = np.zeros((log_commands, core.LOG_COLS), np.int64)
        n_bursts_total = int(std.organisation.capacity_bytes) // std.burst_bytes
        m = self.mapping
        self.mp = (m.offset_bits, m.fields, m.widths, m.pseudo_channels, m.banks_per_group, std.burst_bytes,
                   n_bursts_total)
        self._oldest_open_tx = 0
        for u in range(units):
            schedule_unit(u, 0, self.state, self.tables, self.queues, self.nxt, self.bank_lists)

    # --- transactions ---------------------------------------------------------------------
    def submit(self, *, base: int, count: int, write: bool, arrival_cycle: int, stride: int = 0,
               random_seed: int | None = None) -> int:
        """Queue a transaction of ``count`` bursts; returns its id."""
        if count < 1:
            raise ValueError("a transaction needs at least one burst")
        n = int(self.g[core.G_NTX])
        if n - self._oldest_open_tx >= self.tx.shape[0]:
            self._grow()
        row = self.tx[n & self.g[core.G_MASK]]
        row[:] = 0
        row[core.TX_KIND] = 0 if random_seed is None else 1
        row[core.TX_BASE], row[core.TX_COUNT], row[core.TX_STRIDE] = base, count, stride or self.std.burst_bytes
        row[core.TX_SEED] = random_seed or 0
        row[core.TX_WRITE], row[core.TX_ARRIVAL], row[core.TX_LEFT] = int(write), arrival_cycle, count
        self.g[core.G_NTX] = n + 1
        self.g[core.G_FLUSH_U] = 0
        return n

    def submit_many(self, bases: np.ndarray, writes: np.ndarray, arrivals: np.ndarray) -> int:
        """Queue one single-burst transaction per element (a trace), in order; returns the first id."""
        n = int(self.g[core.G_NTX])
        k = len(bases)
        while n + k - self._oldest_open_tx > self.tx.shape[0]:
            self._grow()
        ids = np.arange(n, n + k) & int(self.g[core.G_MASK])
        bb = self.std.burst_bytes
        self.tx[ids] = 0
        self.tx[ids, core.TX_BASE] = np.asarray(bases, np.int64) // bb * bb
        self.tx[ids, core.TX_COUNT] = 1
        self.tx[ids, core.TX_LEFT] = 1
        self.tx[ids, core.TX_STRIDE] = bb
        self.tx[ids, core.TX_WRITE] = np.asarray(writes, np.int64)
        self.tx[ids, core.TX_ARRIVAL] = np.asarray(arrivals, np.int64)
        self.g[core.G_NTX] = n + k
        self.g[core.G_FLUSH_U] = 0
        return n

    def _grow(self) -> None:
        old, mask = self.tx, int(self.g[core.G_MASK])
        cap = old.shape[0] * 2
        new = np.zeros((cap, core.TX_COLS), np.int64)
        for t_id in range(self._oldest_open_tx, int(self.g[core.G_NTX])):
            new[t_id & (cap - 1)] = old[t_id & mask]
        self.tx, self.g[core.G_MASK] = new, cap - 1
        self.comp = np.zeros(cap, np.int64)

    def advance(self, until_cycle: int, *, drain: bool = False) -> list[tuple[int, int]]:
        """Run the core to ``until_cycle``; returns (transaction id, done cycle) completed meanwhile."""
        self.g[core.G_COMPN] = 0
        core.advance(until_cycle, drain, self.state, self.tables, self.queues, self.bank_lists, self.nxt, self.tx,
                     self.g, self.heap, self.comp, self.counters, self.mp, self._log, self._order,
                     self._tq)
        mask = int(self.g[core.G_MASK])
        done = [(int(t), int(self.tx[t & mask, core.TX_DONE])) for t in self.comp[: self.g[core.G_COMPN]]]
        if done:
            self._oldest_open_tx = self._oldest_unfinished()
        return done

    def _oldest_unfinished(self) -> int:
        mask = int(self.g[core.G_MASK])
        t_id = self._oldest_open_tx
        while t_id < self.g[core.G_NTX] and self.tx[t_id & mask, core.TX_LEFT] == 0:
            t_id += 1
        return t_id

    @property
    def command_log(self) -> np.ndarray:
        """Rows (cycle, unit, command code, bank, row, uses command bus) of the commands logged so far."""
        return self._log[: self.g[core.G_LOGN]]

    @property
    def busy(self) -> bool:
        return self._oldest_unfinished() < self.g[core.G_NTX]

    @property
    def now_cycle(self) -> int:
        return int(self.g[core.G_NOW])

    def command_trace(self) -> dict[str, Any]:
        """The logged commands as a Chrome/Perfetto trace: one track per (pseudo-)channel, times in us."""
        from archsim.engine.dram_timing import COMMAND_NAMES

        tck_us = self.std.timing.tck_s * 1e6
        log = self.command_log
        events: list[dict[str, Any]] = [
            {"name": "thread_name", "ph": "M", "pid": 0, "tid": int(u), "args": {"name": f"{self.std.name} unit {u}"}}
            for u in np.unique(log[:, 1])]
        for cycle, unit, cmd, bank, row, bus in log.tolist():
            args = {"bank": bank, "cycle": cycle} | ({"row": row} if row >= 0 else {}) | (
                {} if bus else {"auto_precharge": True})
            events.append({"name": COMMAND_NAMES[cmd], "ph": "X", "pid": 0, "tid": unit, "ts": cycle * tck_us,
                           "dur": tck_us, "args": args})
        return {"traceEvents": events, "displayTimeUnit": "ns"}

    def stats(self, first_cycle: int = 0, last_cycle: int | None = None) -> DramStats:
        from archsim.engine.energy import dram_energy_j

        totals = {name: int(self.counters[:, i].sum()) for i, name in enumerate(core.COUNTER_NAMES)}
        bb = self.std.burst_bytes
        last = self.now_cycle if last_cycle is None else last_cycle
        return DramStats(totals, totals["rd"] * bb, totals["wr"] * bb, dram_energy_j(self.std, totals),
                         last - first_cycle, self.std.timing.tck_s, self.counters.copy())


class Dram:
    """simpy component: ``read``/``write`` processes over one :class:`DramController`."""

    def __init__(self, engine: Engine, std: MemoryStandard, *, name: str = "dram", mapping: str = "RoBaCoBgPcCh",
                 page_policy: str = "open", queue_depth: int = 64, max_inflight: int | None = None,
                 lookahead_cycles: int = 256) -> None:
        self.engine, self.std, self.name = engine, std, name
        self.ctrl = DramController(std, mapping=mapping, page_policy=page_policy, queue_depth=queue_depth,
                                   max_inflight=max_inflight)
        self.tck_s = std.timing.tck_s
        self.lookahead_cycles = lookahead_cycles
        self._waiting: dict[int, Any] = {}
        self._wake = engine.event()
        self._running = False
        self.bytes_requested = 0

    def _cycle(self) -> int:
        return math.ceil(self.engine.now / self.tck_s - 1e-6)

    def read(self, addr: int, nbytes: int):
        """Process: read ``nbytes`` from byte address ``addr``; value = completion time in s."""
        return self._access(addr, nbytes, write=False)

    def write(self, addr: int, nbytes: int):
        return self._access(addr, nbytes, write=True)

    def _access(self, addr: int, nbytes: int, *, write: bool):
        if nbytes <= 0:
            raise ValueError(f"{self.name}: access of {nbytes} bytes")
        bb = self.std.burst_bytes
        first, last = addr // bb, (addr + nbytes - 1) // bb
        start = self.engine.now
        if not self.ctrl.busy:  # idle: bring refresh state up to now, exactly
            self.ctrl.advance(self._cycle())
        t_id = self.ctrl.submit(base=first * bb, count=last - first + 1, write=write, arrival_cycle=self._cycle())
        done = self.engine.event()
        self._waiting[t_id] = done
        self.bytes_requested += nbytes
        if not self._running:
            self._running = True
            self.engine.process(self._controller())
        elif not self._wake.triggered:
            self._wake.succeed()
        end = yield done
        self.engine.span(self.name, "write" if write else "read", start, end, bytes=nbytes, addr=addr)
        self.engine.count(self.name, "bytes_written" if write else "bytes_read", nbytes)
        return end

    def _finish(self, t_id: int, done_cycle: int) -> None:
        event = self._waiting.pop(t_id)
        end = done_cycle * self.tck_s
        self.engine.at_s(end).callbacks.append(lambda _ev: event.succeed(end))

    def _controller(self):
        """Advance the core while work is pending, ``lookahead_cycles`` at a time; a new request wakes it."""
        while self.ctrl.busy:
            until = max(self._cycle(), self.ctrl.now_cycle) + self.lookahead_cycles
            for t_id, done_cycle in self.ctrl.advance(until, drain=True):
                self._finish(t_id, done_cycle)
            if not self.ctrl.busy:
                break
            self._wake = self.engine.event()
            yield self.engine.any_of([self.engine.at_s(until * self.tck_s), self._wake])
        self._running = False

    def stats(self) -> DramStats:
        return self.ctrl.stats()

    # --- trace-driven fast path -----------------------------------------------------------
    @staticmethod
    def run_pattern(std: MemoryStandard, *, pattern: str, nbytes: int, write: bool = False, stride_bytes: int = 0,
                    seed: int = 0, mapping: str = "RoBaCoBgPcCh", page_policy: str = "open", queue_depth: int = 64,
                    max_inflight: int | None = None, log_commands: int = 0,
                    parts: dict[str, str] | None = None) -> DramStats:
        """Play ``nbytes`` of ``stream``/``strided``/``random`` bursts from cycle 0 to the last data.

        With ``log_commands`` > 0 the first that many commands are kept: ``stats.controller.command_trace()``.
        """
        bb = std.burst_bytes
        count = max(1, nbytes // bb)
        ctrl = DramController(std, mapping=mapping, page_policy=page_policy, queue_depth=queue_depth,
                              max_inflight=max_inflight, log_commands=log_commands, parts=parts)
        if pattern == "stream":
            ctrl.submit(base=0, count=count, write=write, arrival_cycle=0)
        elif pattern == "strided":
            ctrl.submit(base=0, count=count, write=write, arrival_cycle=0, stride=stride_bytes or 4 * bb)
        elif pattern == "random":
            ctrl.submit(base=0, count=count, write=write, arrival_cycle=0, random_seed=seed + 1)
        else:
            raise ValueError(f"unknown pattern {pattern!r}; valid: stream, strided, random")
        done = ctrl.advance(INF, drain=True)
        last = max(d for _, d in done)
        stats = ctrl.stats(0, last)
        stats.controller = ctrl
        achieved = (stats.bytes_read + stats.bytes_written) / (stats.elapsed_cycles * std.timing.tck_s)
        if achieved > std.peak_bandwidth_bytes_per_s * (1 + 1e-9):
            raise PhysicalLimitError(f"{std.name}: simulated {achieved:.4g} B/s exceeds peak "
                                     f"{std.peak_bandwidth_bytes_per_s:.4g} B/s")
        return stats
