"""The DRAM peer comparison's cases: traces both sides run, and the matched-timing standards.

A case is (peer, standard, pattern). Traces are generated here, deterministically, and written
in the peer's own format for the peer run (:func:`write_peer_trace`); archsim reads the same
requests through :func:`archsim.engine.dram_trace.run_trace`. Patterns: ``stream`` (consecutive
bursts), ``random`` (uniform bursts over the capacity, numpy PCG64 seed 1), ``mix`` (the random
addresses, every request by a seeded coin a write: 50/50). Ramulator 2 traces have no times
(every request is sent as soon as the controller accepts it); DRAMsim3 traces give request i
cycle i, the rate its trace front end admits anyway (one transaction per cycle). Queue depths
match the peers' buffering: DRAMsim3 holds 32 reads and 32 writes in its transaction queues
(``trans_queue_size``) in front of per-bank command queues of 8 (``cmd_queue_size``): the
``dramsim3`` write policy (:mod:`archsim.engine.dram_txq`), scheduled by its round-robin command
arbitration (the ``dramsim3`` scheduler); Ramulator 2 32 reads and 32 writes per
channel, shared by its two pseudo-channels (``queue_per_channel``), a request leaving them for the
active buffer when its row is opened (``active_buffer``).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from archsim.engine.dram_trace import Trace

PATTERNS = ("stream", "random", "mix")
N_REQUESTS = 20_000


@dataclass(frozen=True)
class PeerSetup:
    """How a peer is matched: the archsim twin standard, request size, mapping and controller parts."""

    peer: str
    standard: str              # archsim preset name or a file in the dram-peers data folder
    request_bytes: int
    mapping: str
    queue_depth: int
    parts: tuple[tuple[str, str], ...]
    capacity_bytes: int
    queue_per_channel: bool = False
    active_buffer: bool = False


SETUPS = {
    ("dramsim3", "ddr4"): PeerSetup("dramsim3", "dramsim3-ddr4-8gb-x8-3200.yaml", 64, "RoChRaBaBgCo", 32,
                                    (("write_policy", "dramsim3"), ("scheduler", "dramsim3"),
                                     ("refresh", "all_bank")), 16 << 30),
    ("dramsim3", "hbm2"): PeerSetup("dramsim3", "dramsim3-hbm2-8gb-x128.yaml", 64, "RoRaBgBaChCo", 32,
                                    (("write_policy", "dramsim3"), ("scheduler", "dramsim3"),
                                     ("refresh", "all_bank")), 8 << 30),
    ("ramulator2", "hbm3"): PeerSetup("ramulator2", "hbm3", 32, "RoBaBgRaPcCoCh", 32,
                                      (("write_policy", "ramulator2"), ("refresh", "none")), 16 << 30,
                                      queue_per_channel=True, active_buffer=True),
}


def data_dir() -> Path:
    return Path(str(resources.files("archsim") / "data" / "measurements" / "dram-peers"))


def load_standard(setup: PeerSetup):
    from archsim.presets import load_memory_standard

    path = data_dir() / setup.standard
    return load_memory_standard(str(path) if path.exists() else setup.standard)


def make_trace(pattern: str, setup: PeerSetup, n: int = N_REQUESTS) -> Trace:
    """The requests of one case (byte addresses aligned to the request size)."""
    if pattern not in PATTERNS:
        raise ValueError(f"unknown pattern {pattern!r}; valid: {', '.join(PATTERNS)}")
    rb = setup.request_bytes
    rng = np.random.default_rng(1)
    if pattern == "stream":
        addrs = np.arange(n, dtype=np.int64) * rb
    else:
        addrs = rng.integers(0, setup.capacity_bytes // rb, n, dtype=np.int64) * rb
    writes = (rng.random(n) < 0.5) if pattern == "mix" else np.zeros(n, bool)
    # DRAMsim3's TraceBasedCPU adds at most one transaction per cycle: request i arrives at cycle i for it
    cycles = np.arange(n, dtype=np.int64) if setup.peer == "dramsim3" else np.zeros(n, np.int64)
    return Trace("dramsim3", addrs, writes, cycles)


def write_peer_trace(trace: Trace, peer: str, path: Path) -> None:
    """The trace in the peer's format: DRAMsim3 ``0xADDR READ|WRITE 0``, Ramulator 2 ``LD|ST 0xADDR``."""
    if peer == "dramsim3":
        lines = [f"{a:#x} {'WRITE' if w else 'READ'} {c}" for a, w, c in zip(trace.addresses, trace.writes,
                                                                          trace.cycles, strict=True)]
    else:
        lines = [f"{'ST' if w else 'LD'} {a:#x}" for a, w in zip(trace.addresses, trace.writes, strict=True)]
    path.write_text("\n".join(lines) + "\n")
