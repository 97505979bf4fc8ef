"""Timelines in the Chrome/Perfetto trace-event format (``timeline.json``).

A backend with an engine supplies its own events (``Result.timeline``). For a result without
one (the analytical roofline), :func:`serial_schedule` lays the operators end to end in
workload order — each operator one slice lasting all its repetitions — which is exactly the
roofline's assumption (no overlap between operators); the trace says so in its metadata.
Times in the file are microseconds (the format's unit); inside archsim they are seconds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def serial_schedule(result: Any) -> list[dict[str, Any]]:
    """Complete ("X") events, one per operator, back to back; tid = phase."""
    events: list[dict[str, Any]] = []
    t = 0.0
    tids: dict[str, int] = {}
    for op in result.ops:
        tid = tids.setdefault(op.phase, len(tids) + 1)
        dur = op.total_time_s
        events.append({"name": op.name, "cat": op.kind, "ph": "X", "ts": t * 1e6, "dur": dur * 1e6,
                       "pid": 1, "tid": tid,
                       "args": {"count": op.count, "bound": op.bound, "energy_j": op.total_energy_j,
                                "phase": op.phase}})
        t += dur
    meta = [{"name": "process_name", "ph": "M", "pid": 1, "args": {"name": f"{result.hardware} ({result.backend})"}}]
    meta += [{"name": "thread_name", "ph": "M", "pid": 1, "tid": tid, "args": {"name": phase}}
             for phase, tid in tids.items()]
    return meta + events


def write_trace(events: list[dict[str, Any]], path: Path, *, note: str = "") -> None:
    from archsim.sweep.store import atomic_write_bytes

    doc: dict[str, Any] = {"traceEvents": events, "displayTimeUnit": "ns"}
    if note:
        doc["metadata"] = {"archsim": note}
    atomic_write_bytes(path, json.dumps(doc).encode())


def read_trace(path: Path) -> list[dict[str, Any]]:
    doc = json.loads(path.read_text())
    return doc["traceEvents"] if isinstance(doc, dict) else doc


def slices(events: list[dict[str, Any]], limit: int = 2000) -> list[dict[str, Any]]:
    """Complete events (``ph == "X"``) with thread names resolved, earliest first, at most ``limit``."""
    names = {(e.get("pid"), e.get("tid")): e["args"]["name"] for e in events
             if e.get("ph") == "M" and e.get("name") == "thread_name"}
    out = [e | {"lane": names.get((e.get("pid"), e.get("tid")), str(e.get("tid")))}
           for e in events if e.get("ph") == "X"]
    out.sort(key=lambda e: (e["ts"], str(e["lane"])))
    return out[:limit]
