"""The deterministic event core: a thin wrapper over :class:`simpy.Environment`.

Time is in seconds (float, SI). simpy keeps a heap of ``(time, priority, event id)``; the
event id is a global insertion counter, so events at the same time and priority run in the
order they were scheduled. That is the whole tie rule: components never iterate sets or
dicts of hashed objects to decide what goes first, and randomness comes only from
``Engine.rng`` (a seeded numpy Generator). Same inputs and seed therefore give identical
event orders, results and traces.

Components hold the engine, not the other way round; the engine knows nothing about them.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

#: Events scheduled with ``URGENT`` run before ``NORMAL`` ones at the same time (simpy's own rule).
URGENT = simpy.core.URGENT
NORMAL = simpy.core.NORMAL

Process = Generator[simpy.Event, Any, Any]


class Engine(simpy.Environment):
    """simpy environment with SI-time helpers, a seeded RNG and an optional observer.

    ``observer`` is anything with ``count(component, key, n)`` and
    ``span(component, name, start_s, end_s, **args)`` (see :mod:`archsim.engine.observers`);
    components report through :meth:`count` and :meth:`span`, never by printing.
    """

    def __init__(self, *, seed: int = 0, observer: Any = None) -> None:
        super().__init__(initial_time=0.0)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.observer = observer

    @property
    def now_s(self) -> float:
        return float(self.now)

    def timeout_s(self, delay_s: float, value: Any = None) -> simpy.Timeout:
        """A timeout of ``delay_s`` seconds (negative delays are a bug, not clamped)."""
        if delay_s < 0 or math.isnan(delay_s):
            raise ValueError(f"negative or NaN delay {delay_s!r} s")
        return self.timeout(delay_s, value)

    def at_s(self, time_s: float, value: Any = None) -> simpy.Timeout:
        """A timeout that fires at absolute time ``time_s`` (>= now)."""
        return self.timeout_s(max(0.0, time_s - self.now), value)

    def count(self, component: str, key: str, n: float = 1) -> None:
        if self.observer is not None:
            self.observer.count(component, key, n)

    def span(self, component: str, name: str, start_s: float, end_s: float, **args: Any) -> None:
        if self.observer is not None:
            self.observer.span(component, name, start_s, end_s, **args)

    def run_all(self) -> float:
        """Run until no event is left; return the final time in seconds."""
        self.run()
        return self.now_s
