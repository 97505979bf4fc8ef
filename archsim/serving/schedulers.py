"""Schedulers: the interface, the registry (by name) and static batching.

A scheduler owns the queues and the KV-cache block managers of its workers (device groups) and
decides what each iteration runs. The simulator (:mod:`archsim.serving.simulator`) drives it:

1. ``bind(sim)`` once (gives access to ``sim.after(delay_s, fn)`` and ``sim.wake(worker)``);
2. ``admit(request, now_s)`` at every arrival;
3. ``form(worker, now_s) -> Iteration | None`` when ``worker`` is idle (None: nothing to run now);
4. the iteration's cost passes; ``finish(worker, iteration, now_s) -> finished requests``.

A scheduler is registered with :func:`register_scheduler` under a unique name (a duplicate is an
error) and built with :func:`make_scheduler` (a miss lists the valid names). Built in: ``static``
(here), ``continuous`` (:mod:`archsim.serving.continuous`), ``disaggregated``
(:mod:`archsim.serving.disaggregated`).
"""

from __future__ import annotations

import abc
import importlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from archsim.errors import ConfigError
from archsim.serving.kv import BlockManager
from archsim.serving.requests import Request


@dataclass
class Iteration:
    """One forward pass of one worker: prefill chunks and decode tokens, with their KV contexts (tokens)."""

    worker: str
    prefill: list[tuple[Request, int]] = field(default_factory=list)  # (request, chunk tokens)
    prefill_context: list[int] = field(default_factory=list)  # tokens cached before each chunk
    decode: list[Request] = field(default_factory=list)
    decode_context: list[int] = field(default_factory=list)  # tokens cached before each decode token
    swap_out_blocks: int = 0  # KV blocks copied device -> host before the forward pass (swap preemption)
    swap_in_blocks: int = 0  # KV blocks copied host -> device before the forward pass
    swap_s: float = 0.0  # seconds those copies take; the scheduler adds them to the iteration's cost

    @property
    def prefill_tokens(self) -> int:
        return sum(c for _, c in self.prefill)

    @property
    def decode_batch(self) -> int:
        return len(self.decode)

    @property
    def tokens(self) -> int:
        return self.prefill_tokens + self.decode_batch

    def add_prefill(self, request: Request, chunk: int) -> None:
        self.prefill.append((request, chunk))
        self.prefill_context.append(request.prefilled)

    def add_decode(self, request: Request) -> None:
        self.decode.append(request)
        self.decode_context.append(request.cached_tokens - 1)  # called after the new token's slot was reserved


#: An iteration's duration in seconds (the backends' prediction, or a plain function in tests).
CostFn = Callable[[Iteration], float]


@dataclass(frozen=True, kw_only=True)
class Deployment:
    """What schedulers need to know about the devices: KV blocks per worker, bytes per token, the KV link."""

    capacity_blocks: int
    block_tokens: int = 16  # vLLM's default block size
    kv_bytes_per_token: float = 0.0  # per device of a worker (for KV transfers)
    transfer_s: Callable[[float], float] | None = None  # seconds to move n bytes between workers (per device)


class Scheduler(abc.ABC):
    """Base class. ``workers`` names the device groups; subclasses fill ``admit``, ``form``, ``finish``."""

    name = ""
    workers: tuple[str, ...] = ("engine",)

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.sim: Any = None
        self.arrivals_over = False

    def bind(self, sim: Any) -> None:
        self.sim = sim

    def new_blocks(self) -> BlockManager:
        d = self.deployment
        return BlockManager(capacity_blocks=d.capacity_blocks, block_tokens=d.block_tokens)

    @abc.abstractmethod
    def admit(self, request: Request, now_s: float) -> None:
        """Take an arriving request into the scheduler's queues."""

    @abc.abstractmethod
    def form(self, worker: str, now_s: float) -> Iteration | None:
        """The next iteration of ``worker``, or None when it has nothing to run."""

    @abc.abstractmethod
    def finish(self, worker: str, iteration: Iteration, now_s: float) -> list[Request]:
        """Account for a finished iteration; return the requests it completed."""

    @abc.abstractmethod
    def waiting(self) -> int:
        """Requests admitted but not yet started (queue length)."""

    @abc.abstractmethod
    def kv(self) -> dict[str, BlockManager]:
        """Each worker's block manager."""


_REGISTRY: dict[str, type[Scheduler]] = {}
_BUILTIN_MODULES = ("archsim.serving.continuous", "archsim.serving.disaggregated")


def register_scheduler(cls: type[Scheduler]) -> type[Scheduler]:
    """Class decorator: register ``cls`` under ``cls.name`` (a second class under the same name is an error)."""
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} has no name")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"scheduler {cls.name!r} is already registered ({_REGISTRY[cls.name].__qualname__})")
    _REGISTRY[cls.name] = cls
    return cls


def scheduler_names() -> list[str]:
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
    return sorted(_REGISTRY)


def make_scheduler(name: str, deployment: Deployment, **options: Any) -> Scheduler:
    """Build the scheduler registered as ``name``; a miss names the valid ones, a bad option names it."""
    names = scheduler_names()
    if name not in _REGISTRY:
        raise ConfigError.single(f"unknown scheduler {name!r}; valid: {', '.join(names)}", key_path="scheduler")
    try:
        return _REGISTRY[name](deployment, **options)
    except TypeError as exc:
        raise ConfigError.single(f"scheduler {name!r}: {exc}", key_path="scheduler") from None


@register_scheduler
class Static(Scheduler):
    """Request-level (static) batching: up to ``batch_size`` requests start together once that many wait, the
    oldest has waited ``max_wait_s`` (None: no limit; Triton's max_queue_delay), or arrivals are over; they
    prefill in one iteration, then decode together; no request joins until the whole batch
    has finished. Finished members leave the decode batch (no padding compute). KV for each member's largest
    size is reserved at the start, so a batch never runs out of blocks (it is cut to what fits)."""

    name = "static"

    def __init__(self, deployment: Deployment, *, batch_size: int = 8, max_wait_s: float | None = None) -> None:
        super().__init__(deployment)
        if batch_size < 1:
            raise ConfigError.single(f"static batch_size must be >= 1 (got {batch_size})", key_path="batch_size")
        if max_wait_s is not None and not max_wait_s >= 0:
            raise ConfigError.single(f"static max_wait_s must be >= 0 (got {max_wait_s})", key_path="max_wait_s")
        self.batch_size = batch_size
        self.max_wait_s = max_wait_s
        self._timer_for: int | None = None  # rid of the oldest waiting request a wake-up is set for
        self.blocks = self.new_blocks()
        self.queue: deque[Request] = deque()
        self.batch: list[Request] = []

    def admit(self, request: Request, now_s: float) -> None:
        self.queue.append(request)

    def form(self, worker: str, now_s: float) -> Iteration | None:
        it = Iteration(worker)
        if self.batch:
            for r in self.batch:
                if not r.done:
                    self.blocks.grow(r, 1)  # reserved at the start: never fails
                    it.add_decode(r)
            return it
        if not self.queue:
            return None
        if len(self.queue) < self.batch_size and not self.arrivals_over:
            oldest = self.queue[0]
            if self.max_wait_s is None:
                return None
            due = oldest.arrival_s + self.max_wait_s
            if now_s < due:
                if self._timer_for != oldest.rid:  # one wake-up per oldest request (one event)
                    self._timer_for = oldest.rid
                    self.sim.after(due - now_s, lambda: self.sim.wake(worker))
                return None
        reserved = 0
        while self.queue and len(self.batch) < self.batch_size:
            need = self.blocks.blocks_for(self.queue[0].max_tokens)
            if reserved + need > self.blocks.free_blocks:
                break
            reserved += need
            self.batch.append(self.queue.popleft())
        if not self.batch:
            return None
        for r in self.batch:
            self.blocks.grow(r, r.prompt_tokens)
            it.add_prefill(r, r.prompt_tokens)
        return it

    def finish(self, worker: str, iteration: Iteration, now_s: float) -> list[Request]:
        for r, chunk in iteration.prefill:
            r.prefilled += chunk
            r.emit(now_s)
        for r in iteration.decode:
            r.emit(now_s)
        done = [r for r in iteration.decode + [r for r, _ in iteration.prefill] if r.done]
        if all(r.done for r in self.batch):
            for r in self.batch:
                self.blocks.release(r)
            self.batch = []
        return done

    def waiting(self) -> int:
        return len(self.queue)

    def kv(self) -> dict[str, BlockManager]:
        return {"engine": self.blocks}
