"""How an estimate and its interval read in text: one wording for ``archsim run``, report.html and friends.

Every printed interval shows three labelled numbers — the model's raw estimate, the calibrated
estimate (what the measurement most likely is given the validation residuals; inside the interval)
and the interval — and, on a second line, what they were calibrated on: the device's validation
data of the kinds the cells hold, and the coverage those intervals reached on held-out data.
The numbers come from :class:`archsim.intervals.estimate.Estimate` and
:func:`archsim.intervals.attach.calibrated_on`; nothing here computes a figure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archsim.intervals.conformal import LEVELS

Format = Callable[[float], str]


def _si(x: float) -> str:
    from archsim.units import format_si
    return format_si(x, "s")


def level_text(level: str) -> str:
    """``"p80"`` -> ``"80%"``."""
    return f"{LEVELS[level] * 100:.0f}%"


def estimate_text(record: dict[str, Any], quantity: str, fmt: Format = _si) -> str:
    """``model 699 ms, calibrated 797 ms, 80% interval 712 ms - 895 ms, 95% 343 ms - 2.21 s`` for the fields of
    ``quantity`` in ``record`` (:meth:`archsim.intervals.estimate.Estimate.fields` beside ``record[quantity]``);
    ``model 699 ms (unvalidated: no calibration, no interval)`` where it has none."""
    modeled, calibrated = record[quantity], record.get(f"{quantity}_calibrated")
    if calibrated is None:
        return f"model {fmt(modeled)} (unvalidated: no calibration, no interval)"
    parts = [f"model {fmt(modeled)}", f"calibrated {fmt(calibrated)}"]
    for i, level in enumerate(LEVELS):
        lo_hi = record.get(f"{quantity}_{level}")
        if lo_hi:
            parts.append(f"{level_text(level)}{' interval' if i == 0 else ''} {fmt(lo_hi[0])} - {fmt(lo_hi[1])}")
    return ", ".join(parts)


def coverage_text(cal: dict[str, Any]) -> str:
    """``held-out coverage (leave one shape family out): kernel campaigns 80% -> 75.0%, 95% -> 91.8% (n=220)``."""
    cov = cal.get("held_out_coverage")
    if cov is None:
        return "held-out coverage: not recorded in these tables (`archsim reproduce intervals` refits and records it)"
    kinds = []
    for kind, c in cov.items():
        if not c:
            kinds.append(f"{kind} none held out")
            continue
        levels = ", ".join(f"{level_text(lv)} -> {c[lv] * 100:.1f}%" for lv in LEVELS if c.get(lv) is not None)
        kinds.append(f"{kind} {levels} (n={c['n']})")
    return f"held-out coverage ({cal['held_out_scheme']}): " + "; ".join(kinds)


def files_text(files: list[str]) -> str:
    """``measurements/h200/ a.csv, b.csv`` (files grouped by folder, relative to ``archsim/data/``)."""
    folders: dict[str, list[str]] = {}
    for f in files:
        folder, _, name = f.rpartition("/")
        folders.setdefault(folder, []).append(name)
    return "; ".join(f"{folder}/ {', '.join(names)}" if folder else ", ".join(names)
                     for folder, names in folders.items())


def calibration_lines(record: dict[str, Any], cal: dict[str, Any], quantity: str) -> list[str]:
    """What an estimate was calibrated on: how, on which data, with which held-out coverage (three lines);
    one line with the reason where it has no interval."""
    if record.get(f"{quantity}_calibrated") is None:
        return [cal.get("reason") or f"no validation cell for this prediction on {cal['device']}"]
    modeled = record[quantity]
    shares = [f"{len(cal['cells'])} cells"]
    for key, what in (("fallback_s", "in fallback (coarser) cells"), ("unvalidated_s", "without a cell, at its "
                                                                                       "modeled value")):
        if modeled and record.get(key):
            shares.append(f"{record[key] / modeled * 100:.0f}% of the modeled time {what}")
    return [f"calibrated = model x median measured/modeled of its validation cells ({', '.join(shares)})",
            f"calibrated on: {cal['device']} {' + '.join(cal['data_kinds'])} ({files_text(cal['data'])})",
            coverage_text(cal)]


def stack_lines(stack: dict[str, Any], steps: dict[str, Any] | None) -> list[str]:
    """A stack prediction's GPU-busy and wall time (``stack``: ``StackPrediction.to_dict()``) with their step
    intervals (``steps``: :func:`archsim.intervals.steps.for_stack`; None: not computed), then what they were
    calibrated on or why there are none."""
    lines = []
    for name, label in (("gpu_busy_s", "GPU-busy"), ("wall_s", "wall")):
        lines.append(f"{label}: {estimate_text((steps or {}).get('total') or {name: stack[name]}, name)}")
    if steps is None:
        return lines
    if steps.get("reason"):
        return [*lines, f"no step interval: {steps['reason']}"]
    return lines + calibration_lines(steps["total"], steps["calibrated_on"]["wall_s"], "wall_s")
