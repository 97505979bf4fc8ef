"""The serving simulator on :class:`archsim.engine.Engine`: one event per arrival and per iteration.

One process releases the requests at their arrival times; one process per worker (device group) asks
the scheduler for an iteration whenever the worker is idle, waits the iteration's cost, then lets the
scheduler apply it. An idle worker sleeps on a wake event that the next arrival (or a KV hand-off)
fires. The run ends when every request has finished (the queue drains after the last arrival).

Recorded (data only; :mod:`archsim.serving.metrics` turns it into figures): per request its token times,
per iteration (worker, start, end, prefill tokens and chunks, decode batch, mean decode context), and the
step functions ``requests in the system``, ``queued`` and KV blocks used per worker, as (time, value)
changes. Deterministic: arrivals come from the seeded RNG, ties run in scheduling order (the engine's rule).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from archsim.engine import Engine
from archsim.errors import ConfigError
from archsim.serving.requests import Request
from archsim.serving.schedulers import CostFn, Iteration, Scheduler


@dataclass
class IterationRecord:
    worker: str
    start_s: float
    end_s: float
    prefill_tokens: int
    prefill_chunks: int
    decode_batch: int
    decode_context_mean: float


@dataclass
class Run:
    """What one simulation produced."""

    requests: list[Request]
    iterations: list[IterationRecord]
    in_system: list[tuple[float, int]]  # (time, requests arrived and not finished) at every change
    queued: list[tuple[float, int]]  # (time, requests waiting to start)
    kv_used: dict[str, list[tuple[float, float]]]  # worker -> (time, fraction of blocks used)
    end_s: float
    scheduler: str
    workers: tuple[str, ...]
    link_busy_s: float = 0.0
    link_bytes: float = 0.0
    notes: list[str] = field(default_factory=list)


class Simulation:
    """Run ``requests`` through ``scheduler``; ``cost`` is one cost function or one per worker."""

    def __init__(self, requests: list[Request], scheduler: Scheduler, cost: CostFn | dict[str, CostFn], *,
                 seed: int = 0, progress: Callable[[int, int], None] | None = None) -> None:
        self.requests = requests
        self.scheduler = scheduler
        self.costs = cost if isinstance(cost, dict) else {w: cost for w in scheduler.workers}
        missing = [w for w in scheduler.workers if w not in self.costs]
        if missing:
            raise ValueError(f"no cost function for worker(s) {', '.join(missing)}")
        self.engine = Engine(seed=seed)
        self.progress = progress
        self._wake: dict[str, Any] = {}
        self.iterations: list[IterationRecord] = []
        self.in_system: list[tuple[float, int]] = [(0.0, 0)]
        self.queued: list[tuple[float, int]] = [(0.0, 0)]
        self.kv_used: dict[str, list[tuple[float, float]]] = {w: [(0.0, 0.0)] for w in scheduler.workers}
        self._n_in = 0
        self.finished = 0
        self._all_done = self.engine.event()
        self._check_fits()

    def _check_fits(self) -> None:
        blocks = self.scheduler.deployment
        most = blocks.capacity_blocks * blocks.block_tokens
        big = [r for r in self.requests if r.max_tokens > most]
        if big:
            r = big[0]
            raise ConfigError.single(
                f"{len(big)} request(s) can never fit the KV cache: request {r.rid} needs {r.max_tokens} tokens "
                f"(prompt {r.prompt_tokens} + output {r.output_tokens} - 1), the cache holds {most} "
                f"({blocks.capacity_blocks} blocks of {blocks.block_tokens})", key_path="requests")

    # -- hooks for schedulers -------------------------------------------------------------------
    def wake(self, worker: str) -> None:
        event = self._wake.pop(worker, None)
        if event is not None:
            event.succeed()

    def after(self, delay_s: float, fn: Callable[[], None]) -> None:
        """Call ``fn`` ``delay_s`` seconds from now (one event)."""
        def proc() -> Any:
            yield self.engine.timeout_s(delay_s)
            fn()
        self.engine.process(proc())

    # -- processes ------------------------------------------------------------------------------
    def _sample(self) -> None:
        now = self.engine.now_s
        for series, value in ((self.in_system, self._n_in), (self.queued, self.scheduler.waiting())):
            if series[-1][1] != value:
                series.append((now, value))
        for worker, blocks in self.scheduler.kv().items():
            if self.kv_used[worker][-1][1] != blocks.occupancy:
                self.kv_used[worker].append((now, blocks.occupancy))

    def _arrivals(self) -> Any:
        for r in self.requests:
            yield self.engine.at_s(r.arrival_s)
            self._n_in += 1
            self.scheduler.admit(r, self.engine.now_s)
            self._sample()
            for w in self.scheduler.workers:
                self.wake(w)
        self.scheduler.arrivals_over = True
        for w in self.scheduler.workers:
            self.wake(w)

    def _worker(self, worker: str) -> Any:
        cost = self.costs[worker]
        while True:
            it: Iteration | None = self.scheduler.form(worker, self.engine.now_s)
            if it is None:
                event = self.engine.event()
                self._wake[worker] = event
                yield event
                continue
            self._sample()
            start = self.engine.now_s
            yield self.engine.timeout_s(cost(it))
            done = self.scheduler.finish(worker, it, self.engine.now_s)
            ctx = it.decode_context
            self.iterations.append(IterationRecord(worker, start, self.engine.now_s, it.prefill_tokens,
                                                   len(it.prefill), it.decode_batch,
                                                   sum(ctx) / len(ctx) if ctx else 0.0))
            if done:
                self._n_in -= len(done)
                self.finished += len(done)
                if self.progress is not None:
                    self.progress(self.finished, len(self.requests))
            self._sample()
            if self.finished == len(self.requests):
                self._all_done.succeed()
                return

    def run(self) -> Run:
        self.scheduler.bind(self)
        if not self.requests:
            raise ConfigError.single("no requests arrived in the run (raise --load or --duration)", key_path="--load")
        self.engine.process(self._arrivals())
        for w in self.scheduler.workers:
            self.engine.process(self._worker(w))
        self.engine.run(until=self._all_done)
        link = getattr(self.scheduler, "link", None)
        return Run(self.requests, self.iterations, self.in_system, self.queued, self.kv_used, self.engine.now_s,
                   self.scheduler.name, self.scheduler.workers, link.busy_s if link else 0.0,
                   link.bytes if link else 0.0)
