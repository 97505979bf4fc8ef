"""The eager-prefill case priced with the interleaved host sweep's lines (server_check.with_path_state): the
prefill's per-layer host line is path_lines('engine-prefill')'s line of the state, nothing else changes."""

from __future__ import annotations

import pytest

from archsim.errors import ConfigError
from archsim.gpu.host import path_lines
from archsim.serving import server_check, server_report

RUN = "serving-h200-2026-12-01-r2"


@pytest.fixture(scope="module")
def meta():
    return server_check.read_run(RUN)["meta"]


@pytest.mark.parametrize("state", ["point", "fast", "slow"])
def test_eager_prefill_host_is_the_sweep_line_of_the_state(meta, state):
    own, _ = server_check.server_cost(RUN, "eager", meta)
    cost, label = server_check.server_cost(RUN, "eager", meta, host_state=state)
    line = path_lines("engine-prefill", width=int(meta["shape"]["hidden"])).line(state)
    assert cost.host.stack_layer[("plain", "prefill")] == line
    assert f"engine-prefill w4096 {state} line" in label
    # only the prefill line moves: decode graph launch, per-kernel costs and the graph gap stay the run's own
    assert cost.host.graph_launch_s == own.host.graph_launch_s and cost.host.per_kernel == own.host.per_kernel
    assert cost.host.graph_gap_s == own.host.graph_gap_s
    layers = int(meta["layers"])
    host = cost.host.eager_host_s("plain", "prefill", layers, [])
    assert host == pytest.approx(line[0] + layers * line[1])
    # a prefill-only iteration is host-bound on the H200: its span is at least the sweep line's host time
    assert cost.timeline(0, int(meta["prompt_tokens"])).span_s >= host


def test_point_sits_between_fast_and_slow_and_differs_from_the_runs_own_host(meta):
    hosts = {s: server_check.server_cost(RUN, "eager", meta, host_state=s)[0].host.eager_host_s(
        "plain", "prefill", int(meta["layers"]), []) for s in ("fast", "point", "slow")}
    own = server_check.server_cost(RUN, "eager", meta)[0].host.eager_host_s("plain", "prefill", int(meta["layers"]), [])
    assert hosts["fast"] < hosts["point"] < hosts["slow"]
    assert hosts["point"] == pytest.approx((hosts["fast"] * hosts["slow"]) ** 0.5, rel=0.05)
    assert abs(hosts["point"] / own - 1.0) > 0.2  # the run's own -host.csv line is another figure (4.4 ms)


def test_report_cases_use_the_point_line_with_fast_slow_band():
    assert server_report.BAND_STATES == ("fast", "slow")
    assert all(v == "eager" for _, v, _ in server_report.HOST_STATE_CASES)
    # the original eager cases stay in the report next to the sweep-priced ones
    assert set(server_report.HOST_STATE_CASES) <= set(server_report.CASES)


def test_band_lines_mark_a_band_that_reaches_the_target():
    loads = [{"load": "a"}, {"load": "b"}]
    ratios = {"fast": {"a": 0.5, "b": 0.5}, "slow": {"a": 0.8, "b": 0.7}}
    band = {s: {"loads": {k: dict.fromkeys(server_report.METRICS, r) for k, r in v.items()},
                "saturation": None} for s, v in ratios.items()}
    out = server_report.band_lines({"loads": loads, "band": band})
    row_a = next(x for x in out if x.startswith("| a |"))
    row_b = next(x for x in out if x.startswith("| b |"))
    # a: 0.5 .. 0.8 reaches 0.85 (p50) no, 0.75 (p99) yes; b: 0.5 .. 0.7 reaches neither
    assert row_a == "| a | 0.50 .. 0.80 | 0.50 .. 0.80 in | 0.50 .. 0.80 | 0.50 .. 0.80 in |"
    assert " in" not in row_b


def test_unknown_host_state_is_a_config_error(meta):
    with pytest.raises(ConfigError, match="unknown host state 'warm'"):
        server_check.server_cost(RUN, "eager", meta, host_state="warm")
