"""The driver every backend shares: loop, roofline fallback, notes, timeline, Result.

``run_operators(backend, ...)`` prepares the backend's device view once, asks it for each
operator, costs what it does not cover with the roofline (:mod:`archsim.backends.roofline`) and
names those operators in one note, lays the operators end to end on a timeline (Chrome trace,
one slice per operator with all its repetitions; backends add their engine slices) and returns
the :class:`~archsim.result.Result`. The peak check of :mod:`archsim.guards` runs on every
result before it is returned.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from archsim.backends import Backend
from archsim.backends.roofline import evaluate_op
from archsim.operators import Operator
from archsim.result import OpResult, Result
from archsim.trace_events import serial_schedule


def run_operators(backend: Backend, workload_name: str, hardware: Any, ops: list[Operator],
                  tokens: dict[str, int]) -> Result:
    """Cost every operator of a workload with ``backend`` on ``hardware``."""
    view = backend.prepare(hardware)
    results: list[OpResult] = []
    fallback: dict[str, list[str]] = {}
    for op in ops:
        result = backend.evaluate(op, view)
        if result is None:
            result = dataclasses.replace(evaluate_op(op, hardware), costed_by="roofline")
            fallback.setdefault(op.kind, []).append(op.name)
        else:
            result = dataclasses.replace(result, costed_by=backend.name)
        results.append(result)
    notes = backend.notes(view)
    if fallback:
        listed = "; ".join(f"{kind}: {', '.join(dict.fromkeys(names))}" for kind, names in sorted(fallback.items()))
        notes.append(f"{backend.name}: roofline used for operators this backend does not cover ({listed})")
    result = Result(workload=workload_name, hardware=hardware.name, family=hardware.family, backend=backend.name,
                    ops=results, peaks=backend.peaks(hardware, view), tokens_by_phase=tokens, notes=notes)
    result.timeline = serial_schedule(result) + backend.trace(view)
    return result
