"""Point-to-point links: bandwidth, latency, flit size, full or half duplex.

Used for NoCs, PCIe, NVLink, Ethernet/RDMA. A transfer of ``nbytes`` is rounded up to whole
flits; it occupies its direction's wire for ``flits * flit_bytes / bandwidth`` seconds, in
FIFO order behind earlier transfers, and arrives ``latency_s`` after its last flit leaves.
The wire therefore never carries more than ``bandwidth_bytes_per_s`` (the bandwidth is per
direction; a half-duplex link shares one wire between both). Ignored: protocol headers
beyond flit padding, credit-based flow control, error retry, and packet switching.
"""

from __future__ import annotations

from dataclasses import dataclass

from archsim.engine.core import Engine


@dataclass(frozen=True, kw_only=True)
class LinkSpec:
    bandwidth_bytes_per_s: float
    latency_s: float
    flit_bytes: int = 1
    full_duplex: bool = True

    def __post_init__(self) -> None:
        if self.bandwidth_bytes_per_s <= 0 or self.latency_s < 0 or self.flit_bytes < 1:
            raise ValueError(f"invalid link spec {self}")


class Link:
    """A link between two endpoints; ``send(nbytes, direction)`` is a process ending on arrival."""

    def __init__(self, engine: Engine, spec: LinkSpec, *, name: str = "link") -> None:
        self.engine, self.spec, self.name = engine, spec, name
        self._free_at = [0.0, 0.0]
        self.payload_bytes = [0, 0]
        self.wire_bytes = [0, 0]
        self.busy_s = [0.0, 0.0]

    def _wire(self, direction: int) -> int:
        if direction not in (0, 1):
            raise ValueError(f"{self.name}: direction must be 0 or 1, got {direction}")
        return direction if self.spec.full_duplex else 0

    def transfer_s(self, nbytes: int) -> float:
        """Serialisation time of ``nbytes`` (whole flits) on an idle wire, without latency."""
        flits = -(-nbytes // self.spec.flit_bytes)
        return flits * self.spec.flit_bytes / self.spec.bandwidth_bytes_per_s

    def send(self, nbytes: int, direction: int = 0):
        """Process: move ``nbytes`` in ``direction`` (0 or 1); value = arrival time in s."""
        if nbytes <= 0:
            raise ValueError(f"{self.name}: send of {nbytes} bytes")
        wire = self._wire(direction)
        now = self.engine.now
        start = max(now, self._free_at[wire])
        ser = self.transfer_s(nbytes)
        self._free_at[wire] = start + ser
        arrival = start + ser + self.spec.latency_s
        self.payload_bytes[wire] += nbytes
        self.wire_bytes[wire] += -(-nbytes // self.spec.flit_bytes) * self.spec.flit_bytes
        self.busy_s[wire] += ser
        yield self.engine.at_s(arrival)
        self.engine.span(self.name, f"send dir{direction}", start, arrival, bytes=nbytes)
        self.engine.count(self.name, "bytes", nbytes)
        return arrival
