"""DRAM request traces: the peers' formats in, archsim's controller run over them, latency statistics out.

Formats (detected from the first request line; ``#`` starts a comment):

- ``dramsim3``: ``0x1a2b40 READ 120`` -- hex byte address, READ / WRITE (also DRAMsim3's
  P_MEM_RD, P_FETCH, P_MEM_WR, BOFF), arrival cycle in DRAM clocks (DRAMsim3 ``TraceBasedCPU``).
- ``ramulator-loadstore``: ``LD 0x1a2b40`` / ``ST 4096`` -- Ramulator 2 ``LoadStoreTrace``:
  no timestamps, every request is sent as soon as the controller accepts it (arrival 0 here).
- ``ramulator-readwrite``: ``R 0,1,2,100,32`` -- Ramulator 2 ``ReadWriteTrace``: an address
  vector in Ramulator's level order, channel[,pseudo-channel][,rank/SID],bank group,bank,row,column
  (5 to 7 numbers; the column counts bursts within the row). Arrival 0.

Latency of a read: from the cycle it entered the controller's queue (the peers' ``added_cycle`` /
``arrive``) to its data's last beat (RD + nCL + nBL), in DRAM clocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from archsim.errors import ConfigError, Problem
from archsim.schemas.memory import MemoryStandard

FORMATS = ("dramsim3", "ramulator-loadstore", "ramulator-readwrite")
_DS3_WRITES = {"WRITE", "write", "P_MEM_WR", "BOFF"}
_DS3_READS = {"READ", "read", "P_MEM_RD", "P_FETCH"}


@dataclass(frozen=True)
class Trace:
    """Requests in file order: byte addresses or address vectors, write flags, arrival cycles."""

    fmt: str
    addresses: np.ndarray  # int64 byte addresses, or (n, k) address vectors for ramulator-readwrite
    writes: np.ndarray     # bool
    cycles: np.ndarray     # int64 arrival cycles (0 when the format has none)

    def __len__(self) -> int:
        return int(self.writes.shape[0])


def _detect(first: list[str]) -> str:
    if len(first) == 3 and first[0].lower().startswith("0x"):
        return "dramsim3"
    if len(first) == 2 and first[0] in ("LD", "ST"):
        return "ramulator-loadstore"
    if len(first) == 2 and first[0] in ("R", "W"):
        return "ramulator-readwrite"
    return ""


def read_trace(path: str | Path, fmt: str = "auto") -> Trace:
    """Parse a trace file; every malformed line is reported as ``file:line: message`` (ConfigError)."""
    path = Path(path)
    if fmt != "auto" and fmt not in FORMATS:
        raise ConfigError.single(f"unknown trace format {fmt!r}; valid: auto, {', '.join(FORMATS)}",
                                 key_path="--trace-format")
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError.single(f"cannot read trace: {exc}", file=str(path)) from None
    addrs: list = []
    writes: list[bool] = []
    cycles: list[int] = []
    problems: list[Problem] = []
    for no, raw in enumerate(lines, 1):
        tok = raw.split("#", 1)[0].split()
        if not tok:
            continue
        if fmt == "auto":
            fmt = _detect(tok)
            if not fmt:
                raise ConfigError.single(f"cannot tell the trace format from {raw.strip()!r}; expected "
                                         "'0xADDR READ|WRITE CYCLE', 'LD|ST ADDR' or 'R|W a,b,c,...'",
                                         file=str(path), line=no)
        try:
            if fmt == "dramsim3":
                if len(tok) != 3:
                    raise ValueError(f"expected 3 fields (ADDR OP CYCLE), got {len(tok)}")
                if tok[1] not in _DS3_WRITES and tok[1] not in _DS3_READS:
                    raise ValueError(f"unknown operation {tok[1]!r}; valid: READ, WRITE, P_MEM_RD, P_FETCH, "
                                     "P_MEM_WR, BOFF")
                addr, cyc = int(tok[0], 16), int(tok[2])
                if cyc < 0 or (cycles and cyc < cycles[-1]):
                    raise ValueError(f"cycle {cyc} is negative or earlier than the line before")
                addrs.append(addr)
                writes.append(tok[1] in _DS3_WRITES)
                cycles.append(cyc)
            elif fmt == "ramulator-loadstore":
                if len(tok) != 2 or tok[0] not in ("LD", "ST"):
                    raise ValueError("expected 'LD ADDR' or 'ST ADDR'")
                addrs.append(int(tok[1], 16) if tok[1].lower().startswith("0x") else int(tok[1]))
                writes.append(tok[0] == "ST")
                cycles.append(0)
            else:
                if len(tok) != 2 or tok[0] not in ("R", "W"):
                    raise ValueError("expected 'R a,b,c,...' or 'W a,b,c,...'")
                vec = [int(x) for x in tok[1].split(",")]
                if not 5 <= len(vec) <= 7 or (addrs and len(vec) != len(addrs[0])):
                    raise ValueError("an address vector has 5 to 7 numbers, the same on every line")
                addrs.append(vec)
                writes.append(tok[0] == "W")
                cycles.append(0)
            if (np.asarray(addrs[-1]) < 0).any():
                raise ValueError("negative address")
        except ValueError as exc:
            problems.append(Problem(str(exc), file=str(path), line=no))
            if len(problems) >= 20:
                break
    if problems:
        raise ConfigError(problems)
    if not writes:
        raise ConfigError.single("the trace has no requests", file=str(path))
    return Trace(fmt, np.asarray(addrs, np.int64), np.asarray(writes, bool), np.asarray(cycles, np.int64))


def byte_addresses(trace: Trace, std: MemoryStandard, mapping: str) -> np.ndarray:
    """Byte addresses of the requests under ``mapping`` (address vectors encoded, others as given)."""
    from archsim.engine.dram_mapping import AddressMapping

    if trace.fmt != "ramulator-readwrite":
        return trace.addresses
    o = std.organisation
    vec = trace.addresses
    k = vec.shape[1]
    ch, rest = vec[:, 0], vec[:, 1:]
    pc = rest[:, 0] if k == 7 else np.zeros_like(ch)
    ra = rest[:, k - 6] if k >= 6 else np.zeros_like(ch)
    bg, ba, ro, co = rest[:, -4], rest[:, -3], rest[:, -2], rest[:, -1]
    unit = (ch % o.channels) * o.pseudo_channels + pc % o.pseudo_channels
    bank = ((ra % o.ranks) * o.bank_groups + bg % o.bank_groups) * o.banks_per_group + ba % o.banks_per_group
    amap = AddressMapping.build(std, mapping)
    bursts = int(o.row_buffer_bytes) // std.burst_bytes
    return np.array([amap.encode(int(u), int(b), int(r) % o.rows, int(c) % bursts)
                     for u, b, r, c in zip(unit, bank, ro, co, strict=True)], np.int64)


@dataclass
class TraceResult:
    """One trace through the controller: counters, cycles and per-read latencies (DRAM clocks)."""

    stats: object  # DramStats
    read_latency_cycles: np.ndarray
    first_cycle: int
    last_cycle: int
    done_cycles: np.ndarray = None  # per request, in trace order
    enter_cycles: np.ndarray = None

    def served_until_last_entry(self) -> tuple[int, int]:
        """(requests done, cycles) when the last request entered the queue -- Ramulator 2's window: it stops
        once its front end has handed over the last request and counts what was served by then."""
        end = int(self.enter_cycles.max())
        return int((self.done_cycles <= end).sum()), end - self.first_cycle

    @property
    def bandwidth_bytes_per_s(self) -> float:
        st = self.stats
        return (st.bytes_read + st.bytes_written) / ((self.last_cycle - self.first_cycle) * st.tck_s)

    def summary(self) -> dict[str, float]:
        """Bandwidth (B/s), row-hit rate, average / p99 read latency (cycles and ns), command counts."""
        lat = self.read_latency_cycles
        tck_ns = self.stats.tck_s * 1e9
        c = self.stats.counters
        return {"bandwidth_bytes_per_s": self.bandwidth_bytes_per_s, "row_hit_rate": self.stats.row_hit_rate,
                "avg_read_latency_cycles": float(lat.mean()) if lat.size else 0.0,
                "p99_read_latency_cycles": float(np.percentile(lat, 99)) if lat.size else 0.0,
                "avg_read_latency_ns": float(lat.mean()) * tck_ns if lat.size else 0.0,
                "cycles": self.last_cycle - self.first_cycle,
                **{k: c[k] for k in ("act", "pre", "rd", "wr", "refab", "refpb", "read_forwards", "write_merges")}}


def run_trace(std: MemoryStandard, trace: Trace, *, mapping: str = "RoBaCoBgPcCh", queue_depth: int = 32,
              parts: dict[str, str] | None = None, page_policy: str = "open",
              queue_per_channel: bool = False, active_buffer: bool = False, log_commands: int = 0) -> TraceResult:
    """Play every request of ``trace`` (one burst each) from its arrival cycle until the last data; with
    ``log_commands`` the first that many commands are kept (``result.stats.controller.command_log``)."""
    from archsim.engine import dram_core as core
    from archsim.engine.dram import DramController
    from archsim.engine.dram_sched import INF

    ctrl = DramController(std, mapping=mapping, queue_depth=queue_depth, parts=parts, page_policy=page_policy,
                          queue_per_channel=queue_per_channel, active_buffer=active_buffer,
                          log_commands=log_commands)
    addrs = byte_addresses(trace, std, mapping) % int(std.organisation.capacity_bytes)
    first = ctrl.submit_many(addrs, trace.writes, trace.cycles)
    ctrl.advance(INF, drain=True)
    rows = ctrl.tx[(np.arange(first, first + len(trace)) & int(ctrl.g[core.G_MASK]))]
    done, enter = rows[:, core.TX_DONE], rows[:, core.TX_ENTER]
    reads = ~trace.writes
    start = int(trace.cycles.min())
    last = int(done.max())
    if (rows[:, core.TX_LEFT] > 0).any():
        raise RuntimeError(f"{std.name}: {int((rows[:, core.TX_LEFT] > 0).sum())} requests never completed "
                           "(controller deadlock: a bug, please report the trace)")
    stats = ctrl.stats(start, last)
    stats.controller = ctrl
    return TraceResult(stats, (done - enter)[reads], start, last, done, enter)
