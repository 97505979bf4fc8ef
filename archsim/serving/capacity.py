"""Capacity at a latency objective: the highest Poisson load whose SLO attainment stays at a target.

``probe_at(...)`` turns one deployment (an iteration-cost function, its KV blocks, a scheduler and a
traffic mix) into a function ``load_qps -> Probe``: fresh requests from the seeded generator, a fresh
scheduler, one :class:`archsim.serving.simulator.Simulation`, :func:`archsim.serving.metrics.summarise` with the
SLO and the deployment's price. ``find_capacity(probe, start_qps=...)`` searches the load in code (the
in-code counterpart of a sweep's ``serving.load_qps`` axis): double (or halve) from ``start_qps`` until the
attainment crosses ``target``, then bisect until the bracket is within ``rel_tol``.

Definitions (DistServe's "goodput": the largest rate at which ``target`` of the requests meet the SLO):
- attainment = fraction of a run's requests with TTFT <= ``ttft_ms`` and TBT p99 <= ``tbt_ms``
  (``summary["goodput"]["fraction"]``);
- goodput tokens per second = output tokens of the requests that meet the SLO / arrival window (the rate
  the deployment sustains at the offered load; dividing by the run time instead, as ``summarise``'s
  throughput does, would charge a deployment for the queue it drains after the last arrival);
- output tokens per USD = goodput tokens per second x 3600 / USD per hour of the whole deployment.
Attainment is not strictly monotone in the load for one seed (different arrivals at each load), so the
search reports its bracket (``load_qps`` passes, ``fail_qps`` fails) and every probe it made.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from archsim.errors import ConfigError
from archsim.serving.metrics import request_rows, summarise
from archsim.serving.requests import Arrivals, Lengths, generate
from archsim.serving.schedulers import CostFn, Deployment, make_scheduler
from archsim.serving.simulator import Simulation


@dataclass(frozen=True)
class Probe:
    """One run at ``load_qps``: its SLO attainment and figures (``summary`` is summarise's, plus goodput tokens)."""

    load_qps: float
    attainment: float
    goodput_tokens_per_s: float
    summary: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Capacity:
    """The search's answer: ``load_qps`` met the target (0: not even the lowest load), ``fail_qps`` did not
    (inf: the search stopped at ``max_qps``); ``at`` is the probe at ``load_qps`` (None when 0)."""

    load_qps: float
    fail_qps: float
    target: float
    probes: list[Probe]

    @property
    def at(self) -> Probe | None:
        passing = [p for p in self.probes if p.load_qps == self.load_qps]
        return passing[-1] if passing else None


def probe_at(cost: CostFn, deployment: Deployment, *, prompt: Lengths, output: Lengths, duration_s: float,
             slo: dict[str, float], usd_per_hour: float | None = None, scheduler: str = "continuous",
             options: dict[str, Any] | None = None, seed: int = 0, min_requests: int = 0) -> Callable[[float], Probe]:
    """A function ``load_qps -> Probe`` for one deployment (see the module doc); ``usd_per_hour`` prices the
    whole deployment (one system-hour), so ``summary["cost"]`` is per million output tokens of that system.
    The arrival window is ``duration_s``, stretched to ``min_requests / load_qps`` at low loads (so that a
    low-capacity deployment's attainment is not decided by a handful of requests)."""
    if not slo:
        raise ConfigError.single("a capacity search needs an slo (ttft_ms and/or tbt_ms)", key_path="slo")

    def run(load_qps: float) -> Probe:
        rng = np.random.default_rng(seed)
        window = max(duration_s, min_requests / load_qps)
        requests = generate(Arrivals(kind="poisson", qps=load_qps), prompt, output, window, rng)
        if not requests:
            raise ConfigError.single(f"no request arrives in {duration_s} s at {load_qps} req/s (raise the "
                                     "duration)", key_path="duration_s")
        sched = make_scheduler(scheduler, deployment, **dict(options or {}))
        result = Simulation(requests, sched, cost, seed=seed).run()
        summary = summarise(result, window_s=window, slo=slo, usd_per_hour=usd_per_hour, devices=1)
        rows = request_rows(result)
        ok = np.ones(len(requests), dtype=bool)
        if "ttft_ms" in slo:
            ok &= rows["ttft_s"] <= slo["ttft_ms"] / 1e3
        if "tbt_ms" in slo:
            ok &= np.nan_to_num(rows["tbt_p99_s"], nan=0.0) <= slo["tbt_ms"] / 1e3
        good = float(rows["output_tokens"][ok].sum()) / window
        return Probe(load_qps, summary["goodput"]["fraction"], good, summary)

    return run


def find_capacity(probe: Callable[[float], Probe], *, start_qps: float, target: float = 0.9,
                  rel_tol: float = 0.05, min_qps: float = 1e-3, max_qps: float = 1e4,
                  max_probes: int = 24) -> Capacity:
    """Highest load (req/s) whose attainment >= ``target``, to ``rel_tol`` (relative width of the bracket)."""
    if not (0 < target <= 1 and rel_tol > 0 and 0 < min_qps <= start_qps <= max_qps):
        raise ConfigError.single(f"capacity search needs 0 < target <= 1, rel_tol > 0 and min_qps <= start_qps <= "
                                 f"max_qps (got {target}, {rel_tol}, {min_qps}, {start_qps}, {max_qps})",
                                 key_path="capacity")
    probes: list[Probe] = []

    def passes(qps: float) -> bool:
        probes.append(probe(qps))
        return probes[-1].attainment >= target

    lo, hi = 0.0, math.inf
    qps = start_qps
    if passes(qps):
        lo = qps
        while qps < max_qps and len(probes) < max_probes:
            qps = min(2 * qps, max_qps)
            if not passes(qps):
                hi = qps
                break
            lo = qps
    else:
        hi = qps
        while qps > min_qps and len(probes) < max_probes:
            qps = max(qps / 2, min_qps)
            if passes(qps):
                lo = qps
                break
            hi = qps
    while lo > 0 and math.isfinite(hi) and hi / lo - 1 > rel_tol and len(probes) < max_probes:
        mid = math.sqrt(lo * hi)
        if passes(mid):
            lo = mid
        else:
            hi = mid
    return Capacity(lo, hi, target, probes)
