"""Chrome/Perfetto trace events (the ``timeline.json`` format), built in one place.

Times inside archsim are seconds; the format's unit is microseconds, converted here and only
here. Every model that emits a timeline (the engine's observers, the DRAM command trace, the
GPU launch model, the task-graph player, the backend driver) builds its events with these.
"""

from __future__ import annotations

from typing import Any

Event = dict[str, Any]


def complete(name: str, start_s: float, duration_s: float, *, pid: int = 0, tid: int = 0, cat: str | None = None,
             args: dict[str, Any] | None = None) -> Event:
    """A complete ("X") slice from ``start_s`` lasting ``duration_s`` seconds."""
    event: Event = {"name": name, "ph": "X", "ts": start_s * 1e6, "dur": duration_s * 1e6, "pid": pid, "tid": tid}
    if cat is not None:
        event["cat"] = cat
    if args:
        event["args"] = args
    return event


def process_name(pid: int, name: str) -> Event:
    return {"name": "process_name", "ph": "M", "pid": pid, "args": {"name": name}}


def thread_name(pid: int, tid: int, name: str) -> Event:
    return {"name": "thread_name", "ph": "M", "pid": pid, "tid": tid, "args": {"name": name}}


def serial_schedule(result: Any, *, pid: int = 1) -> list[Event]:
    """One slice per operator (all its repetitions), back to back in workload order; tid = phase.

    This is the operator-level schedule every backend's Result carries: archsim's backends cost
    operators one after another (no overlap between operators).
    """
    events: list[Event] = []
    t = 0.0
    tids: dict[str, int] = {}
    for op in result.ops:
        tid = tids.setdefault(op.phase, len(tids) + 1)
        dur = op.total_time_s
        events.append(complete(op.name, t, dur, pid=pid, tid=tid, cat=op.kind,
                               args={"count": op.count, "bound": op.bound, "energy_j": op.total_energy_j,
                                     "phase": op.phase}))
        t += dur
    meta = [process_name(pid, f"{result.hardware} ({result.backend}, operators back to back)")]
    meta += [thread_name(pid, tid, phase) for phase, tid in tids.items()]
    return meta + events
