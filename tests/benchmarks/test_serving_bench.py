"""Serving-simulator throughput (marker ``benchmark``): prints figures, asserts none on time.

10,000 requests of Llama-3-70B, tensor parallel over the 8 H100s of the hgx-h100 system preset
(workloads/llama3-70b-tp8.yaml), Poisson arrivals, prompt lognormal (median 1024, sigma 0.6),
output lognormal (median 128, sigma 0.6), continuous batching. Reported: wall time of the whole
``serve`` call (preset loading, backend calls for new bucket keys, the event loop, the summary),
requests simulated per second, iterations, backend calls, and the run's own TTFT/TBT figures.
Run: ``pytest -m benchmark tests/benchmarks/test_serving_bench.py -s``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from archsim.serving.scenario import serve

pytestmark = pytest.mark.benchmark

WORKLOAD = Path(__file__).resolve().parents[2] / "workloads" / "llama3-70b-tp8.yaml"


@pytest.mark.parametrize("scheduler", ["continuous", "disaggregated"])
def test_ten_thousand_requests_70b_tp8(scheduler):
    qps, duration = 10.0, 1000.0
    start = time.perf_counter()
    sc = serve(str(WORKLOAD), "hgx-h100", load_qps=qps, duration_s=duration, scheduler=scheduler, seed=0)
    wall = time.perf_counter() - start
    s = sc.summary
    n = s["requests"]
    assert n > 9_000 and s["littles_law"]["whole_run_rel_gap"] < 1e-9
    print(f"\nserving {scheduler}: {n} requests of llama-3-70b TP8 on hgx-h100 at {qps} QPS: {wall:.1f} s wall, "
          f"{n / wall:.0f} requests/s simulated; {sum(s['iterations'].values())} iterations, "
          f"{s['backend_calls']} backend calls; TTFT p50 {s['ttft_s']['p50'] * 1e3:.1f} ms p99 "
          f"{s['ttft_s']['p99'] * 1e3:.1f} ms, TBT mean p50 {s['tbt_mean_s']['p50'] * 1e3:.2f} ms, "
          f"{s['throughput']['output_tokens_per_s']:.0f} output tokens/s, utilisation {s['utilisation']}")
