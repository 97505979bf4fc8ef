"""Conformal intervals on log residuals: the arithmetic, nothing else.

A residual is the ratio ``measured / modeled`` of one validation measurement; the interval is fit
on ``x = ln(ratio)``. For one cell of ``n`` residuals, each tagged with its group (the campaign's
shape family: every implementation and size of, e.g., "prefill d64 mha causal"):

- centre ``m`` = the median of all ``x`` (the model's typical bias in that cell);
- score of each residual ``s_i = |x_i - m_(-g(i))|``, where ``m_(-g)`` is the median of the cell
  WITHOUT the residual's own group: how far a residual lands from a centre that never saw its
  shape family (the jackknife+ idea of Barber, Candes, Ramdas & Tibshirani 2021, left out per
  group because users ask about shapes nobody measured). A residual whose group is the cell's only
  group has no score;
- for nominal coverage ``1 - alpha`` over ``N`` scores, ``k = ceil((N + 1)(1 - alpha))`` and
  ``q`` = the ``k``-th smallest score; ``k > N`` means the cell is too small for that level (the
  interval would be unbounded): 95% needs N >= 19, 80% needs N >= 4;
- interval of a new prediction ``p`` seconds: ``[p * exp(m - q), p * exp(m + q)]``.

With every residual in its own group this is split conformal with leave-one-out centres. What it
assumes: a new shape family is exchangeable with the measured ones (same kernels, shapes drawn
like the campaign's); the held-out check (:mod:`archsim.intervals.coverage`) measures what breaks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import median

#: Nominal levels every table carries, by name.
LEVELS: dict[str, float] = {"p80": 0.80, "p95": 0.95}


def conformal_rank(n: int, level: float) -> int | None:
    """1-based rank ``ceil((n + 1) * level)`` of the conformal quantile, or None when it exceeds ``n``."""
    k = math.ceil((n + 1) * level - 1e-9)  # 1e-9: (n+1)*0.8 must not round up past an exact integer
    return k if k <= n else None


def min_points(level: float) -> int:
    """Smallest ``n`` for which the ``level`` interval is finite (19 for 0.95, 4 for 0.80)."""
    n = 1
    while conformal_rank(n, level) is None:
        n += 1
    return n


def conformal_quantile(scores: list[float], level: float) -> float | None:
    """The split-conformal quantile of ``scores`` at ``level``; None when there are too few scores."""
    k = conformal_rank(len(scores), level)
    return None if k is None else sorted(scores)[k - 1]


@dataclass(frozen=True)
class CellFit:
    """Fitted interval of one cell, in log-ratio space (``ratio = measured / modeled``).

    ``center_log``: median ln(ratio); ``half_log[level]``: conformal half-width (None = too few
    scores for that level). ``n``: residuals; ``n_scores``: residuals with an out-of-group score.
    """

    n: int
    center_log: float
    half_log: dict[str, float | None]
    n_scores: int = 0

    @property
    def usable(self) -> bool:
        """Every level has a finite interval."""
        return all(self.half_log.get(name) is not None for name in LEVELS)

    def ratio_interval(self, level: str) -> tuple[float, float] | None:
        """(low, high) multipliers of the modeled time at ``level`` (e.g. ``"p80"``), or None."""
        q = self.half_log.get(level)
        if q is None:
            return None
        return math.exp(self.center_log - q), math.exp(self.center_log + q)

    def to_json(self) -> dict:
        out: dict = {"n": self.n, "n_scores": self.n_scores, "center_log": self.center_log,
                     "median_ratio": math.exp(self.center_log)}
        for name in LEVELS:
            out[f"half_log_{name}"] = self.half_log.get(name)
            iv = self.ratio_interval(name)
            out[f"ratio_{name}"] = list(iv) if iv else None
        return out

    @classmethod
    def from_json(cls, d: dict) -> CellFit:
        return cls(n=int(d["n"]), center_log=float(d["center_log"]), n_scores=int(d.get("n_scores", 0)),
                   half_log={name: d.get(f"half_log_{name}") for name in LEVELS})


def fit_cell(ratios: list[float], groups: list[str] | None = None) -> CellFit:
    """Fit one cell from residual ratios (measured / modeled, each > 0) and their groups (default: one each)."""
    if not ratios:
        raise ValueError("fit_cell needs at least one residual")
    bad = [r for r in ratios if not (r > 0 and math.isfinite(r))]
    if bad:
        raise ValueError(f"residual ratios must be positive and finite, got {bad[:3]}")
    groups = groups if groups is not None else [str(i) for i in range(len(ratios))]
    if len(groups) != len(ratios):
        raise ValueError(f"{len(groups)} groups for {len(ratios)} residuals")
    logs = [math.log(r) for r in ratios]
    by_group: dict[str, list[float]] = {}
    for g, x in zip(groups, logs, strict=True):
        by_group.setdefault(g, []).append(x)
    centre_without = {g: median(x for h, xs in by_group.items() if h != g for x in xs)
                      for g in by_group if len(by_group) > 1}
    scores = [abs(x - centre_without[g]) for g, x in zip(groups, logs, strict=True) if g in centre_without]
    return CellFit(n=len(logs), center_log=median(logs), n_scores=len(scores),
                   half_log={name: conformal_quantile(scores, lv) for name, lv in LEVELS.items()})


def covers(fit: CellFit, level: str, ratio: float) -> bool | None:
    """Whether ``ratio`` (measured / modeled) lies inside the cell's ``level`` interval; None if no interval."""
    iv = fit.ratio_interval(level)
    if iv is None:
        return None
    return iv[0] <= ratio <= iv[1]
