"""Timelines in the Chrome/Perfetto trace-event format (``timeline.json``).

A backend with an engine supplies its own events (``Result.timeline``). For a result without
one, :func:`archsim.trace_events.serial_schedule` lays the operators end to end in
workload order — each operator one slice lasting all its repetitions — which is exactly the
roofline's assumption (no overlap between operators); the trace says so in its metadata.
Times in the file are microseconds (the format's unit); inside archsim they are seconds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


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
