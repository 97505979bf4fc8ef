"""Sweep throughput (marker ``benchmark``): prints figures, asserts none on time.

The 1,000-point sweep of issue 11: one attention layer (16 heads, 4k tokens) over a
FuseMax-style spatial array's PE count x global-buffer size x DRAM bandwidth
(workloads/sweeps/accelerator-attention-dse.yaml; 990 points run, 10 dropped by a constraint).
Reported: planning time (expand, validate, derive, constrain), the wall time of
``run_sweep`` with the local process pool and with a local Ray started by the sweep (so Ray's
start-up and shut-down are in its figure), and points per second.
Run: ``pytest -m benchmark tests/benchmarks/test_sweep_bench.py -s``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
import pytest

from archsim.sweep.plan import load_plan
from archsim.sweep.runner import run_sweep

pytestmark = pytest.mark.benchmark

SWEEP = Path(__file__).resolve().parents[2] / "workloads" / "sweeps" / "accelerator-attention-dse.yaml"


def test_thousand_point_sweep_local_and_ray(tmp_path):
    cores = len(os.sched_getaffinity(0))
    t0 = time.perf_counter()
    plan = load_plan(SWEEP)
    plan_s = time.perf_counter() - t0
    print(f"\nplan: {len(plan.points)} points ({plan.count('run')} to run, {plan.count('dropped')} dropped) "
          f"in {plan_s:.2f} s")
    figures = {}
    for engine in ("local", "ray"):
        if engine == "ray":
            pytest.importorskip("ray")
        t0 = time.perf_counter()
        summary = run_sweep(SWEEP, tmp_path / engine, engine=engine, workers=cores)
        wall = time.perf_counter() - t0
        figures[engine] = wall
        assert summary.ok == plan.count("run")  # correctness, not speed
        print(f"{engine:5s}: {len(plan.points)} points, {summary.ok} ok, {cores} workers on {cores} cores: "
              f"{wall:.2f} s wall ({summary.ok / wall:.0f} points/s)")
        if engine == "ray":
            e = summary.engine
            print(f"       of which ray.init {e['ray_start_s']:.2f} s, tasks {e['ray_tasks_s']:.2f} s, "
                  f"ray.shutdown {e['ray_shutdown_s']:.2f} s")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "local" / "results.parquet"),
                                  pd.read_parquet(tmp_path / "ray" / "results.parquet"), check_exact=True)
    print(f"ray overhead over local: {figures['ray'] - figures['local']:+.2f} s "
          f"({figures['ray'] / figures['local']:.1f}x); tables identical")
