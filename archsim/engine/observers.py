"""Observers: counters, a timeline recorder (Chrome/Perfetto trace JSON) and utilisation.

Components report through ``Engine.count`` / ``Engine.span``; an observer attached to the
engine receives them. Models never format output themselves.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any


class Counters:
    """Sums of named quantities per component."""

    def __init__(self) -> None:
        self.values: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))

    def count(self, component: str, key: str, n: float = 1) -> None:
        self.values[component][key] += n

    def span(self, component: str, name: str, start_s: float, end_s: float, **args: Any) -> None:
        self.values[component]["busy_s"] += end_s - start_s

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {c: dict(v) for c, v in self.values.items()}


class Timeline:
    """Records spans; ``to_chrome_trace()`` gives Chrome/Perfetto 'X' (complete) events in microseconds."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str, float, float, dict[str, Any]]] = []

    def count(self, component: str, key: str, n: float = 1) -> None:
        return None

    def span(self, component: str, name: str, start_s: float, end_s: float, **args: Any) -> None:
        self.spans.append((component, name, start_s, end_s, args))

    def to_chrome_trace(self) -> dict[str, Any]:
        tracks = {c: i for i, c in enumerate(dict.fromkeys(s[0] for s in self.spans))}
        events: list[dict[str, Any]] = [
            {"name": "thread_name", "ph": "M", "pid": 0, "tid": tid, "args": {"name": comp}}
            for comp, tid in tracks.items()]
        for comp, name, start, end, args in self.spans:
            events.append({"name": name, "ph": "X", "pid": 0, "tid": tracks[comp], "ts": start * 1e6,
                           "dur": (end - start) * 1e6, "args": args})
        return {"traceEvents": events, "displayTimeUnit": "ns"}

    def write(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_chrome_trace()))

    def utilisation(self, component: str, elapsed_s: float) -> float:
        """Fraction of ``elapsed_s`` during which ``component`` had at least one span open."""
        intervals = sorted((s, e) for c, _, s, e, _ in self.spans if c == component)
        busy = 0.0
        cur_s = cur_e = float("-inf")
        for s, e in intervals:
            if s > cur_e:
                busy += max(0.0, cur_e - cur_s)
                cur_s, cur_e = s, e
            else:
                cur_e = max(cur_e, e)
        busy += max(0.0, cur_e - cur_s) if intervals else 0.0
        return busy / elapsed_s if elapsed_s > 0 else 0.0


class Fanout:
    """Forward every report to several observers."""

    def __init__(self, *observers: Any) -> None:
        self.observers = observers

    def count(self, component: str, key: str, n: float = 1) -> None:
        for o in self.observers:
            o.count(component, key, n)

    def span(self, component: str, name: str, start_s: float, end_s: float, **args: Any) -> None:
        for o in self.observers:
            o.span(component, name, start_s, end_s, **args)
