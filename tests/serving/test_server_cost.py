"""The server cost model: hand-computed host/GPU timelines, the carried compaction time, and its check
against the committed H200 serving run (per iteration and per load)."""

from __future__ import annotations

import pytest

from archsim.errors import ConfigError
from archsim.gpu.host import HostModel
from archsim.gpu.stacks import ModelShape
from archsim.serving.requests import Request
from archsim.serving.schedulers import Iteration
from archsim.serving.server_cost import ServerCost, ServerSpec, _Shared

US = 1e-6
HOST = HostModel(source="test", per_kernel={"cat": 10 * US, "linear": 20 * US, "sdpa_flash": 30 * US, "add": 5 * US},
                 stack_layer={("plain", "prefill"): (100 * US, 50 * US)}, graph_launch_s=5 * US,
                 graph_host_per_node_s=0.1 * US, graph_gap_s=1 * US)
SHAPE = ModelShape(name="t", hidden=64, heads=2, kv_heads=2, ffn=128, vocab=256, layers=2)


def cost(prefill_host: str, **kw: object) -> ServerCost:
    shared = _Shared(decode={1: [10 * US] * 4, 2: [12 * US] * 4}, prefill={16: [100 * US, 200 * US]})
    return ServerCost(SHAPE, ServerSpec(buckets=(1, 2), kv_max_len=64, prefill_host=prefill_host), host=HOST,
                      _shared=shared, **kw)  # type: ignore[arg-type]


def test_decode_only_is_launch_then_nodes_with_gaps():
    t = cost("cuda-graph").timeline(1, 0)
    # host: copy 10 + graph launch 5 + 4 x 0.1; GPU from then: 4 x 10 + 4 x 1 gap
    assert t.span_s == pytest.approx((10 + 5.4 + 40 + 4) * US)
    assert t.decode_end_s == t.span_s and t.carry_s == 0.0


def test_graph_prefill_queues_behind_the_decode():
    t = cost("cuda-graph").timeline(1, 16)
    # host 15.4 + 2 copies 20 + launch 5.2 = 40.6 < decode end 59.4: prefill nodes start at 59.4
    assert t.span_s == pytest.approx((59.4 + 300 + 2) * US)


def test_eager_prefill_overlaps_its_dispatch_with_the_decode():
    t = cost("eager").timeline(1, 16)
    # host 100 + 2 x 50 = 200 us over 2 kernels: issues at 15.4+100, 15.4+200; kernel 0 starts at
    # max(115.4, 59.4 + 1) = 115.4, ends 215.4; kernel 1 at max(215.4, 216.4), ends 416.4
    assert t.span_s == pytest.approx(416.4 * US)
    assert t.host_s == pytest.approx(215.4 * US)


def test_compaction_is_charged_to_the_next_iteration():
    c = cost("cuda-graph")
    leaving = Request(0, 0.0, 16, 2, generated=1, cached_tokens=17, prefilled=16)
    staying = Request(1, 0.0, 16, 5, generated=1, cached_tokens=17, prefilled=16)
    first = c(Iteration("engine", decode=[leaving, staying], decode_context=[16, 16]))
    assert first == pytest.approx(c.timeline(2, 0).span_s)
    second = c(Iteration("engine", decode=[staying], decode_context=[17]))
    assert second == pytest.approx(c.timeline(1, 0).span_s + (2 * 2 + 1) * 10 * US)
    assert c.fresh()(Iteration("engine", decode=[staying], decode_context=[17])) == pytest.approx(
        c.timeline(1, 0).span_s)


def test_isolated_step_times_replace_the_kernel_sums():
    t = cost("cuda-graph", step_gpu_s={"decode1": 1e-3, "prefill_graph": 2e-3}).timeline(1, 16)
    assert t.decode_end_s == pytest.approx(15.4 * US + 1e-3)
    assert t.span_s == pytest.approx(15.4 * US + 3e-3)


def test_batch_beyond_the_buckets_and_two_prefills_are_errors():
    with pytest.raises(ConfigError, match="largest graph bucket 2"):
        cost("eager").timeline(3, 0)
    r = [Request(i, 0.0, 16, 2) for i in range(2)]
    with pytest.raises(ConfigError, match="at most one prompt"):
        cost("eager")(Iteration("engine", prefill=[(r[0], 16), (r[1], 16)], prefill_context=[0, 0]))


def test_real_kernel_lists_decode_grows_with_the_bucket():
    from dataclasses import replace

    shape = replace(SHAPE, hidden=4096, heads=32, kv_heads=32, ffn=11008, vocab=32000)  # Llama-2-7B, 2 layers
    c = ServerCost(shape, ServerSpec(buckets=(1, 64), kv_max_len=320, prefill_host="cuda-graph"), host=HOST)
    assert 0 < c.timeline(1, 0).span_s < c.timeline(64, 0).span_s < c.timeline(64, 256).span_s
    assert c.timeline(2, 0).span_s == c.timeline(64, 0).span_s  # padded to the bucket


@pytest.fixture(scope="module")
def graph_steps():
    from archsim.serving import server_check

    return server_check.check("serving-h200-2026-12-01-r2", "graph", calibration="steps")


def test_committed_run_every_load_is_simulated_with_its_arrivals(graph_steps):
    labels = [e["load"] for e in graph_steps["loads"]]
    assert labels == ["graph-burst"] + [f"graph-load{p:03d}" for p in (20, 40, 60, 75, 110, 130)]
    for e in graph_steps["loads"][1:]:  # the burst stops at its deadline with requests unfinished
        assert e["done"] == e["requests"]
        assert e["ttft_s_p50"]["measured"] > 0 and e["ttft_s_p50"]["simulated"] > 0


def test_committed_run_iteration_spans_regression(graph_steps):
    # regression guard on the committed data (the report states the figures): step-calibrated spans of
    # every populated class within 10% of the measured medians
    big = [i for i in graph_steps["iterations"] if i["iterations"] >= 100]
    assert len(big) >= 15
    assert all(0.9 < i["ratio"] < 1.1 for i in big), [(i["bucket"], i["prefill"], i["ratio"]) for i in big]
    sat = graph_steps["saturation"]
    assert sat["loads"] == ["graph-load110", "graph-load130"]
    assert sat["closed_form_req_s"] == pytest.approx(sat["simulated_req_s"], rel=0.02)


@pytest.mark.parametrize("run,label", [("serving-h200-2026-12-01", "| load050 |"),
                                       ("serving-h200-2026-12-01-r2", "| graph-load075 |")])
def test_campaign_summary_reads_both_runs(run, label):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    prefix = root / "archsim" / "data" / "measurements" / "h200" / f"{run}-"
    out = subprocess.run([sys.executable, str(root / "campaigns" / "serving.py"), "--summarise", str(prefix)],
                         capture_output=True, text=True, check=True).stdout
    assert label in out and out.startswith("| load | QPS |")
