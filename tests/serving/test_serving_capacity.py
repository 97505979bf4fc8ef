"""Capacity at an SLO: the load search pinned probe by probe on a known attainment curve, and probe runs on
the real simulator (Little's law on every run, goodput tokens by hand)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from archsim.errors import ConfigError
from archsim.serving.capacity import Probe, find_capacity, probe_at
from archsim.serving.requests import Lengths
from archsim.serving.schedulers import Deployment, Iteration


def step_curve(edge: float):
    def probe(qps: float) -> Probe:
        return Probe(qps, 1.0 if qps <= edge else 0.5, 0.0, {})
    return probe


def test_search_doubles_then_bisects():
    cap = find_capacity(step_curve(7.3), start_qps=2.0, target=0.9, rel_tol=0.05)
    # 2 pass, 4 pass, 8 fail; bisect geometrically: sqrt(32)=5.657 pass, sqrt(5.657*8)=6.727 pass,
    # sqrt(6.727*8)=7.336 fail, sqrt(6.727*7.336)=7.025 pass; 7.336 / 7.025 = 1.044 < 1.05: stop
    loads = [p.load_qps for p in cap.probes]
    assert loads[:3] == [2.0, 4.0, 8.0]
    assert loads[3:] == pytest.approx([math.sqrt(32), 6.727171, 7.336032, 7.025009], rel=1e-6)
    assert cap.load_qps == pytest.approx(7.025009, rel=1e-6) and cap.fail_qps == pytest.approx(7.336032, rel=1e-6)
    assert cap.load_qps <= 7.3 < cap.fail_qps and cap.fail_qps / cap.load_qps - 1 <= 0.05
    assert cap.at is cap.probes[-1]


def test_search_halves_when_the_start_fails_and_reports_zero_below_min():
    cap = find_capacity(step_curve(1.1), start_qps=8.0, rel_tol=0.05)
    assert [p.load_qps for p in cap.probes][:4] == [8.0, 4.0, 2.0, 1.0]
    assert cap.load_qps <= 1.1 < cap.fail_qps
    none = find_capacity(step_curve(0.0), start_qps=1.0, min_qps=0.25)
    assert none.load_qps == 0.0 and none.at is None and none.fail_qps == 0.25
    with pytest.raises(ConfigError, match="capacity search needs"):
        find_capacity(step_curve(1.0), start_qps=1.0, target=0.0)


def cost(it: Iteration) -> float:
    return 0.01 + 1e-4 * it.prefill_tokens + 1e-3 * it.decode_batch


def test_probes_on_the_simulator_obey_littles_law_and_count_goodput():
    slo = {"ttft_ms": 200.0, "tbt_ms": 30.0}
    probe = probe_at(cost, Deployment(capacity_blocks=2000), prompt=Lengths(kind="fixed", value=200),
                     output=Lengths(kind="fixed", value=20), duration_s=20.0, slo=slo, seed=3,
                     options={"token_budget": 256})
    low, high = probe(1.0), probe(200.0)
    for p in (low, high):
        assert p.summary["littles_law"]["whole_run_rel_gap"] < 1e-9
    assert low.attainment > high.attainment
    # goodput tokens by hand from the summary's own figures: all requests have 20 output tokens
    for p in (low, high):
        s = p.summary
        met = round(s["goodput"]["fraction"] * s["requests"])
        assert p.goodput_tokens_per_s == pytest.approx(20 * met / s["arrival_window_s"], rel=1e-12)
    cap = find_capacity(probe, start_qps=1.0)
    assert cap.at is not None and cap.at.attainment >= 0.9
    assert all(p.attainment < 0.9 for p in cap.probes if p.load_qps == cap.fail_qps)


def test_low_loads_stretch_the_window_to_min_requests():
    probe = probe_at(cost, Deployment(capacity_blocks=2000), prompt=Lengths(kind="fixed", value=10),
                     output=Lengths(kind="fixed", value=2), duration_s=1.0, slo={"ttft_ms": 1e3}, min_requests=50)
    p = probe(0.5)  # 1 s alone would hold no request; the window stretches to 100 s
    assert p.summary["arrival_window_s"] == 100.0 and 30 < p.summary["requests"] < 80
    assert np.isfinite(p.goodput_tokens_per_s)
    with pytest.raises(ConfigError, match="needs an slo"):
        probe_at(cost, Deployment(capacity_blocks=10), prompt=Lengths(kind="fixed", value=1),
                 output=Lengths(kind="fixed", value=1), duration_s=1.0, slo={})
