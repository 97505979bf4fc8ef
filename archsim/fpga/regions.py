"""HLS-style pipelines and dataflow regions joined by FIFOs, with back-pressure.

- :class:`Pipeline`: a pipelined loop of ``trip_count`` iterations, initiation interval ``ii``
  and ``depth`` stages: ``cycles = depth + ii * (trip_count - 1)`` (Vitis HLS's own formula).
- :class:`Stage`: one process of a ``#pragma HLS dataflow`` region. It handles ``tokens``
  tokens (one token = a chunk of pipeline iterations, e.g. one patch row), each costing
  ``cycles_per_token``; it pops one token from every input FIFO before working and pushes one to
  every output FIFO after. ``burst`` > 1 makes it emit its outputs in groups (a stage that
  accumulates ``burst`` tokens before writing, like a row-block of a matmul).
- :class:`Fifo`: ``hls::stream`` of ``depth`` tokens; a full FIFO blocks its producer
  (back-pressure), an empty one its consumer.
- :class:`AxiPort`: an m_axi bundle on the part: ``bytes_per_cycle`` shared by every stage
  that uses it (requests are served in arrival order), plus a first-access ``latency_cycles``.

:meth:`HlsRegion.simulate` plays the region on the event engine (one event per token
per stage, so choose coarse tokens for long loops); :meth:`HlsRegion.analytic_cycles` is
the closed-form estimate ``max_s(work_s) + sum_s(depth_s)`` beside it. They agree when FIFOs
are deep enough and ports are not shared; the gap is the back-pressure / contention cost.

What it ignores: per-beat AXI timing (bursts resolve in closed form: bytes / port rate),
stall cycles inside a stage, and the HLS region's start/done handshake (a few cycles).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import simpy

from archsim.engine.core import Engine


@dataclass(frozen=True)
class Pipeline:
    """A pipelined loop: ``cycles = depth + ii * (trip_count - 1)``."""

    trip_count: int
    ii: int = 1
    depth: int = 1

    def __post_init__(self) -> None:
        if self.trip_count < 0 or self.ii < 1 or self.depth < 1:
            raise ValueError(f"bad pipeline {self}: need trip_count >= 0, ii >= 1, depth >= 1")

    @property
    def cycles(self) -> int:
        return 0 if self.trip_count == 0 else self.depth + self.ii * (self.trip_count - 1)


@dataclass(frozen=True)
class Fifo:
    name: str
    depth: int = 2

    def __post_init__(self) -> None:
        if self.depth < 1:
            raise ValueError(f"FIFO {self.name!r}: depth must be >= 1, got {self.depth}")


@dataclass(frozen=True)
class AxiPort:
    """An off-chip AXI master bundle: ``bytes_per_cycle`` at the kernel clock, shared by users."""

    name: str
    bytes_per_cycle: float
    latency_cycles: int = 0


@dataclass(frozen=True)
class Stage:
    name: str
    tokens: int
    cycles_per_token: float
    depth_cycles: int = 1
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    port: str | None = None
    offchip_bytes_per_token: float = 0.0
    burst: int = 1

    @property
    def work_cycles(self) -> float:
        return self.tokens * self.cycles_per_token


@dataclass
class RegionResult:
    cycles: float
    analytic_cycles: float
    port_bytes: dict[str, float]
    stage_busy_cycles: dict[str, float]
    stall_cycles: dict[str, float]

    @property
    def gap(self) -> float:
        """(event - analytic) / analytic: the back-pressure and port-contention cost."""
        return self.cycles / self.analytic_cycles - 1.0 if self.analytic_cycles else 0.0


@dataclass
class HlsRegion:
    name: str
    stages: list[Stage]
    fifos: list[Fifo] = field(default_factory=list)
    ports: list[AxiPort] = field(default_factory=list)

    def __post_init__(self) -> None:
        names = {f.name for f in self.fifos}
        ports = {p.name for p in self.ports}
        producers: dict[str, int] = {}
        consumers: dict[str, int] = {}
        for s in self.stages:
            for f in (*s.inputs, *s.outputs):
                if f not in names:
                    raise ValueError(f"region {self.name!r}: stage {s.name!r} uses undeclared FIFO {f!r}")
            for f in s.outputs:
                producers[f] = producers.get(f, 0) + s.tokens
            for f in s.inputs:
                consumers[f] = consumers.get(f, 0) + s.tokens
            if s.port is not None and s.port not in ports:
                raise ValueError(f"region {self.name!r}: stage {s.name!r} uses unknown port {s.port!r}")
        for f in names:
            if producers.get(f, 0) != consumers.get(f, 0):
                raise ValueError(f"region {self.name!r}: FIFO {f!r} gets {producers.get(f, 0)} tokens "
                                 f"but {consumers.get(f, 0)} are taken (the region would deadlock)")

    def _port_rate(self, name: str) -> float:
        return next(p.bytes_per_cycle for p in self.ports if p.name == name)

    def token_cycles(self, stage: Stage) -> float:
        """Cycles per token: compute, or the port transfer if that is slower."""
        if stage.port is None or not stage.offchip_bytes_per_token:
            return stage.cycles_per_token
        return max(stage.cycles_per_token, stage.offchip_bytes_per_token / self._port_rate(stage.port))

    def analytic_cycles(self) -> float:
        """Slowest stage (ports shared: their summed traffic) plus the sum of pipeline depths."""
        work = max((s.tokens * self.token_cycles(s) for s in self.stages), default=0.0)
        for port in self.ports:
            traffic = sum(s.tokens * s.offchip_bytes_per_token for s in self.stages if s.port == port.name)
            work = max(work, traffic / port.bytes_per_cycle)
        fill = sum(s.depth_cycles for s in self.stages)
        fill += max((p.latency_cycles for p in self.ports
                     if any(s.port == p.name for s in self.stages)), default=0)
        return work + fill

    def simulate(self, clock_hz: float, engine: Engine | None = None) -> RegionResult:
        """Play the region on the event engine; returns cycles (event) beside the analytic ones."""
        env = engine or Engine()
        start = env.now_s
        cycle = 1.0 / clock_hz
        stores = {f.name: simpy.Store(env, capacity=f.depth) for f in self.fifos}
        ports = {p.name: (simpy.Resource(env, capacity=1), p) for p in self.ports}
        busy = {s.name: 0.0 for s in self.stages}
        stall = {s.name: 0.0 for s in self.stages}
        port_bytes = {p.name: 0.0 for p in self.ports}
        first_access = {p.name: True for p in self.ports}

        def run(stage: Stage):  # type: ignore[no-untyped-def]
            pending = 0
            for index in range(stage.tokens):
                t0 = env.now_s
                for f in stage.inputs:
                    yield stores[f].get()
                stall[stage.name] += env.now_s - t0
                compute = stage.cycles_per_token
                if stage.port is not None and stage.offchip_bytes_per_token:
                    lock, port = ports[stage.port]
                    with lock.request() as req:
                        yield req
                        latency = port.latency_cycles if first_access[port.name] else 0
                        first_access[port.name] = False
                        transfer = stage.offchip_bytes_per_token / port.bytes_per_cycle
                        yield env.timeout_s((latency + transfer) * cycle)
                        port_bytes[port.name] += stage.offchip_bytes_per_token
                        compute = max(0.0, compute - transfer)
                # pipeline depth: the first token's results leave ``depth`` cycles late
                yield env.timeout_s((compute + (stage.depth_cycles if index == 0 else 0)) * cycle)
                busy[stage.name] += compute
                pending += 1
                if pending == stage.burst:
                    t1 = env.now_s
                    for _ in range(pending):
                        for f in stage.outputs:
                            yield stores[f].put(True)
                    stall[stage.name] += env.now_s - t1
                    pending = 0
            for _ in range(pending):
                for f in stage.outputs:
                    yield stores[f].put(True)

        procs = [env.process(run(s)) for s in self.stages]
        env.run(until=simpy.AllOf(env, procs))
        cycles = (env.now_s - start) * clock_hz
        return RegionResult(cycles=cycles, analytic_cycles=self.analytic_cycles(), port_bytes=port_bytes,
                            stage_busy_cycles=busy, stall_cycles={k: v * clock_hz for k, v in stall.items()})


def chunks(iterations: int, max_tokens: int) -> tuple[int, int]:
    """Split ``iterations`` pipeline iterations into at most ``max_tokens`` equal tokens.

    Returns (tokens, iterations_per_token); the last token is padded (at most tokens-1 extra
    iterations, under 1% for the sizes used here — callers needing exact cycles use Pipeline).
    """
    tokens = max(1, min(iterations, max_tokens))
    return tokens, math.ceil(iterations / tokens)
