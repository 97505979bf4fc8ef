"""On-chip SRAM buffers and scratchpads: capacity, banks, ports, bytes per cycle, double buffering.

Space is allocated explicitly (``allocate(name, nbytes)``); exceeding the capacity raises
:class:`CapacityError` naming the buffer and what holds the space -- never a silent spill.
A double-buffered allocation reserves two copies (ping and pong). Accesses contend for
``ports``; each moves ``bytes_per_cycle_per_port`` (capped by ``banks * bank_width_bytes``,
the aggregate array width) after ``latency_cycles``. Banks are assumed conflict-free
(addresses interleaved across banks); bank conflicts, ECC and tag overheads are ignored.
Energy per byte comes from :func:`archsim.engine.energy.sram_j_per_byte` unless given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import simpy

from archsim.engine.core import Engine
from archsim.engine.energy import sram_j_per_byte


class CapacityError(RuntimeError):
    """An allocation would exceed a buffer's capacity."""


@dataclass(frozen=True, kw_only=True)
class SramSpec:
    capacity_bytes: int
    clock_hz: float
    bytes_per_cycle_per_port: int
    ports: int = 1
    banks: int = 1
    bank_width_bytes: int | None = None
    latency_cycles: int = 1
    energy_j_per_byte: float | None = None

    @property
    def port_bytes_per_cycle(self) -> int:
        if self.bank_width_bytes is None:
            return self.bytes_per_cycle_per_port
        return min(self.bytes_per_cycle_per_port, self.banks * self.bank_width_bytes // self.ports)

    @property
    def peak_bytes_per_s(self) -> float:
        return self.ports * self.port_bytes_per_cycle * self.clock_hz


@dataclass(frozen=True)
class Allocation:
    name: str
    nbytes: int
    double_buffered: bool

    @property
    def reserved_bytes(self) -> int:
        return self.nbytes * (2 if self.double_buffered else 1)


class Sram:
    """A scratchpad: explicit allocations plus timed ``read``/``write`` processes."""

    def __init__(self, engine: Engine, spec: SramSpec, *, name: str = "sram") -> None:
        self.engine, self.spec, self.name = engine, spec, name
        self._ports = simpy.Resource(engine, capacity=spec.ports)
        self._allocs: dict[str, Allocation] = {}
        self.used_bytes = 0
        self.peak_used_bytes = 0
        self.bytes_read = 0
        self.bytes_written = 0
        self.energy_j_per_byte = spec.energy_j_per_byte or sram_j_per_byte(spec.capacity_bytes)

    def allocate(self, name: str, nbytes: int, *, double_buffered: bool = False) -> Allocation:
        if name in self._allocs:
            raise ValueError(f"{self.name}: buffer {name!r} is already allocated")
        alloc = Allocation(name, int(nbytes), double_buffered)
        if self.used_bytes + alloc.reserved_bytes > self.spec.capacity_bytes:
            held = ", ".join(f"{a.name}={a.reserved_bytes} B" for a in self._allocs.values()) or "nothing"
            raise CapacityError(
                f"{self.name}: allocating {name!r} ({alloc.reserved_bytes} B"
                f"{', double-buffered' if double_buffered else ''}) exceeds capacity {self.spec.capacity_bytes} B; "
                f"{self.used_bytes} B in use ({held})")
        self._allocs[name] = alloc
        self.used_bytes += alloc.reserved_bytes
        self.peak_used_bytes = max(self.peak_used_bytes, self.used_bytes)
        return alloc

    def free(self, name: str) -> None:
        alloc = self._allocs.pop(name)
        self.used_bytes -= alloc.reserved_bytes

    def access_cycles(self, nbytes: int) -> int:
        return self.spec.latency_cycles + math.ceil(nbytes / self.spec.port_bytes_per_cycle)

    def _access(self, nbytes: int, write: bool):
        if nbytes <= 0:
            raise ValueError(f"{self.name}: access of {nbytes} bytes")
        with self._ports.request() as port:
            yield port
            start = self.engine.now
            yield self.engine.timeout_s(self.access_cycles(nbytes) / self.spec.clock_hz)
        if write:
            self.bytes_written += nbytes
        else:
            self.bytes_read += nbytes
        self.engine.span(self.name, "write" if write else "read", start, self.engine.now, bytes=nbytes)
        self.engine.count(self.name, "bytes_written" if write else "bytes_read", nbytes)
        return self.engine.now

    def read(self, nbytes: int):
        """Process: read ``nbytes`` through one port."""
        return self._access(nbytes, False)

    def write(self, nbytes: int):
        return self._access(nbytes, True)

    @property
    def energy_j(self) -> float:
        return (self.bytes_read + self.bytes_written) * self.energy_j_per_byte
