"""One modeled time with what validation says about it: raw estimate, calibrated estimate, interval.

The three numbers every printed or serialised interval carries (seconds):

- ``modeled_s``: the model's own estimate, unchanged;
- ``calibrated_s``: the model's estimate moved by the validation residuals of its cell — ``modeled_s``
  times the cell's median ``measured / modeled`` (the conformal centre, :mod:`archsim.intervals.conformal`):
  the most likely measurement given the residuals. For a sum (a Result's total, a phase, a stack's
  steps) the per-cell terms add, and terms without a cell enter at their modeled value. It is derived
  from the fitted tables on every call, never stored apart from them, so a refit moves it with the interval;
- ``bounds_s[level]``: the conformal interval at ``level`` (``p80``, ``p95``). Around one cell it is
  ``calibrated x exp(+-q)``, around a sum ``calibrated -+`` the root-sum-square of the cells'
  deviations: either way the calibrated estimate lies inside (checked on construction). The modeled
  estimate need not: a model that under-predicts every measurement of a cell sits below the interval.

Unvalidated (no cell: a device without validation data, another backend, an operator the GPU model
does not cost): ``calibrated_s`` None and no bounds.

Serialised flat beside the quantity it belongs to (:meth:`Estimate.fields`): for a quantity ``Q``
(``latency_s``, ``time_s``, ``gpu_busy_s`` ...), ``Q`` = modeled, ``Q_calibrated``, ``Q_p80`` = ``[lo, hi]``,
``Q_p95``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from archsim.intervals.conformal import LEVELS
from archsim.intervals.tables import Lookup

STATUSES = ("validated", "fallback", "partial", "unvalidated")


@dataclass(frozen=True)
class Estimate:
    """A modeled time (s), its calibrated value (s) and its conformal intervals (s) per level.

    ``status``: ``validated`` (every term in its finest cell), ``fallback`` (some in coarser cells),
    ``partial`` (some terms without a cell, at their modeled value) or ``unvalidated`` (no interval).
    ``cells``: the cell keys used; ``fallback_s`` / ``unvalidated_s``: modeled seconds in coarser cells /
    without a cell.
    """

    modeled_s: float
    calibrated_s: float | None
    bounds_s: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    status: str = "unvalidated"
    cells: tuple[str, ...] = ()
    fallback_s: float = 0.0
    unvalidated_s: float = 0.0

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r}; valid: {', '.join(STATUSES)}")
        if (self.calibrated_s is None) != (self.status == "unvalidated") or (self.calibrated_s is None and
                                                                             self.bounds_s):
            raise ValueError(f"an {self.status} estimate with calibrated_s={self.calibrated_s} and bounds "
                             f"{dict(self.bounds_s)}")
        for level, (lo, hi) in self.bounds_s.items():
            if not lo <= self.calibrated_s <= hi:  # type: ignore[operator]
                raise ValueError(f"calibrated {self.calibrated_s} s outside its {level} interval [{lo}, {hi}] s")

    def fields(self, quantity: str) -> dict[str, Any]:
        """``{Q_calibrated, Q_p80, Q_p95}`` for quantity ``Q`` (intervals as ``[lo, hi]``, None where missing)."""
        out: dict[str, Any] = {f"{quantity}_calibrated": self.calibrated_s}
        for level in LEVELS:
            lo_hi = self.bounds_s.get(level)
            out[f"{quantity}_{level}"] = list(lo_hi) if lo_hi else None
        return out


def from_lookup(lk: Lookup, modeled_s: float) -> Estimate:
    """The estimate of one prediction of ``modeled_s`` seconds in the cell ``lk`` landed in."""
    if lk.fit is None or lk.cell is None:
        return Estimate(modeled_s, None, unvalidated_s=modeled_s)
    bounds = {}
    for level in LEVELS:
        iv = lk.fit.ratio_interval(level)
        if iv is not None:
            bounds[level] = (modeled_s * iv[0], modeled_s * iv[1])
    return Estimate(modeled_s, modeled_s * math.exp(lk.fit.center_log), bounds, lk.status, (lk.cell,),
                    fallback_s=modeled_s if lk.status == "fallback" else 0.0)


def from_sum(terms: Iterable[tuple[float, Lookup]]) -> Estimate:
    """The estimate of a sum of ``(modeled seconds, lookup)`` terms.

    Fully correlated inside a cell (one shared calibration error: the cell's terms add before its
    interval is taken), independent across cells (deviations from the calibrated value at one level
    added in quadrature, separately below and above). Terms without a cell enter at their modeled
    value and widen nothing.
    """
    by_cell: dict[str, tuple[float, Lookup]] = {}
    modeled = unvalidated = fallback = 0.0
    for t, lk in terms:
        modeled += t
        if lk.fit is None or lk.cell is None:
            unvalidated += t
            continue
        if lk.status == "fallback":
            fallback += t
        by_cell[lk.cell] = (by_cell.get(lk.cell, (0.0, lk))[0] + t, lk)
    if not by_cell:
        return Estimate(modeled, None, unvalidated_s=unvalidated)
    parts = [from_lookup(lk, t) for t, lk in by_cell.values()]
    centres = [p.calibrated_s for p in parts if p.calibrated_s is not None]  # every part has a cell
    calibrated = unvalidated + sum(centres)
    bounds = {}
    for level in LEVELS:
        below = math.sqrt(sum((c - p.bounds_s[level][0]) ** 2 for c, p in zip(centres, parts, strict=True)))
        above = math.sqrt(sum((p.bounds_s[level][1] - c) ** 2 for c, p in zip(centres, parts, strict=True)))
        bounds[level] = (calibrated - below, calibrated + above)
    status = "partial" if unvalidated > 0 else "fallback" if fallback > 0 else "validated"
    return Estimate(modeled, calibrated, bounds, status, tuple(by_cell), fallback_s=fallback,
                    unvalidated_s=unvalidated)
