"""Prediction intervals (archsim.intervals): conformal arithmetic by pencil, fallback, unvalidated, coverage."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from archsim.intervals import attach_intervals, for_prediction, from_sum, op_columns, sweep_columns
from archsim.intervals.conformal import CellFit, conformal_quantile, conformal_rank, fit_cell, min_points
from archsim.intervals.coverage import Outcome, coverage, leave_one_group_out, within_target
from archsim.intervals.sources import Point, regime, size_class
from archsim.intervals.tables import (
    MIN_POINTS,
    TABLES_PATH,
    Query,
    Tables,
    build_tables,
    fit_cells,
    lookup,
    model_fingerprint,
)


def _point(kernel: str, ratio: float, *, regime_: str = "memory", size: str = "small", group: str = "g",
           device: str = "gpu-x") -> Point:
    return Point(device=device, kernel=kernel, family=kernel.split("/")[0], regime=regime_, size=size, ratio=ratio,
                 modeled_s=1e-5, source="test", groups={"shape": group, "shape_family": group, "campaign": "t:grid"})


# --- conformal arithmetic --------------------------------------------------------------------------------------

def test_conformal_rank_and_minimum_sizes():
    assert conformal_rank(19, 0.95) == 19 and conformal_rank(18, 0.95) is None
    assert conformal_rank(19, 0.80) == 16  # ceil(20 * 0.8) exactly, not 17 from float round-up
    assert min_points(0.95) == 19 and min_points(0.80) == 4 and MIN_POINTS == 19
    assert conformal_quantile([3.0, 1.0, 2.0], 0.95) is None


def test_conformal_interval_on_hand_made_residuals():
    # ln(ratio) = 0.01 j, j = -9 .. +9 (n = 19), each its own group. Centre: median 0. Score of j > 0: distance to
    # the median of the other 18 (-0.01 and 0 in the middle -> -0.005): 0.01 j + 0.005; j < 0 mirrored; j = 0: 0.
    # Sorted scores 0, .015, .015, .025, .025, ..., .095, .095.
    # p80: rank ceil(20 * 0.8) = 16 -> 0.085; p95: rank 19 -> 0.095.
    fit = fit_cell([math.exp(0.01 * i) for i in range(-9, 10)])
    assert fit.n == fit.n_scores == 19 and fit.center_log == pytest.approx(0.0, abs=1e-15)
    lo, hi = fit.ratio_interval("p80")
    assert (lo, hi) == pytest.approx((math.exp(-0.085), math.exp(0.085)), rel=1e-12)
    assert fit.ratio_interval("p95") == pytest.approx((math.exp(-0.095), math.exp(0.095)), rel=1e-12)
    # a biased cell: every residual 1.25x larger -> same widths around ln 1.25
    shifted = fit_cell([1.25 * math.exp(0.01 * i) for i in range(-9, 10)])
    assert shifted.ratio_interval("p80") == pytest.approx((1.25 * math.exp(-0.085), 1.25 * math.exp(0.085)))


def test_scores_come_from_a_centre_that_never_saw_the_shape_family():
    # two families of 10: ratio 1 and ratio 2. Each residual's score is its distance to the other family: ln 2.
    # Centre = median of all 20 = ln(2)/2, so every interval is [2^-1/2, 2^3/2] (pooled scores would give ln(2)/2).
    fit = fit_cell([1.0] * 10 + [2.0] * 10, ["A"] * 10 + ["B"] * 10)
    for level in ("p80", "p95"):
        assert fit.ratio_interval(level) == pytest.approx((2 ** -0.5, 2 ** 1.5), rel=1e-12)
    lone = fit_cell([1.0] * 25, ["A"] * 25)  # one family only: no residual can be scored, no interval
    assert lone.n == 25 and lone.n_scores == 0 and not lone.usable


def test_small_cell_has_no_95_interval_and_bad_ratios_are_rejected():
    fit = fit_cell([1.0, 1.1, 0.9, 1.2, 0.8])
    assert fit.ratio_interval("p95") is None and fit.ratio_interval("p80") is not None
    with pytest.raises(ValueError, match="positive and finite"):
        fit_cell([1.0, 0.0])


# --- cells and fallback ----------------------------------------------------------------------------------------

def test_finest_cell_used_when_large_enough_else_coarser_and_said():
    pts = [_point("decode/a", 1.0 + 0.01 * i, group=f"a{i}") for i in range(25)]  # 25 in (decode/a, memory, small)
    pts += [_point("decode/b", 2.0, size="large", group=f"bl{i}") for i in range(5)]  # 5 in (decode/b, memory, large)
    pts += [_point("decode/b", 2.0 + 0.01 * i, size="medium", group=f"bm{i}")
            for i in range(15)]  # 20 in (decode/b, memory)
    cells = fit_cells(pts)
    a = lookup(cells, "gpu-x", Query("decode/a", "decode", "memory", "small"))
    assert a.status == "validated" and a.cell == "kernel=decode/a regime=memory size=small" and a.fit.n == 25
    b = lookup(cells, "gpu-x", Query("decode/b", "decode", "memory", "large"))
    assert b.status == "fallback" and b.cell == "kernel=decode/b regime=memory" and b.fit.n == 20
    assert b.fallback == ("too few residuals for a 95% interval in kernel=decode/b regime=memory size=large (n=5); "
                          "used kernel=decode/b regime=memory (n=20)")
    # a kernel no campaign timed: the device's cells of the same bound, said as a fallback
    c = lookup(cells, "gpu-x", Query("softmax", None, "memory", "small"))
    assert c.status == "fallback" and c.cell == "regime=memory" and c.fit.n == 45 and c.finest_n == 0
    assert c.fallback.startswith("too few residuals for a 95% interval in kernel=softmax regime=memory size=small "
                                 "(n=0), kernel=softmax regime=memory (n=0), kernel=softmax (n=0); used regime=memory")
    # a bound no campaign residual has: the kernel's own cell, said as a fallback
    d = lookup(cells, "gpu-x", Query("decode/a", "decode", "warp-drive", "small"))
    assert d.status == "fallback" and d.cell == "kernel=decode/a" and d.fit.n == 25


def test_device_without_enough_data_is_unvalidated():
    cells = fit_cells([_point("gemm/x", 1.0, group=f"g{i}") for i in range(MIN_POINTS - 1)])
    lk = lookup(cells, "gpu-x", Query("gemm/x", "gemm", "memory", "small"))
    assert lk.status == "unvalidated" and lk.fit is None and lk.cell is None


def test_regime_and_size_classes():
    assert [regime(b) for b in ("compute:mma", "vector", "power", "memory:hbm", "latency", "launch")] == \
        ["compute", "compute", "compute", "memory", "memory", "launch"]
    assert [size_class(t) for t in (49e-6, 50e-6, 999e-6, 1e-3)] == ["small", "medium", "medium", "large"]
    assert regime("warp-drive:x") == "warp-drive"  # unknown: its own regime, which no cell has


# --- sums of operators -----------------------------------------------------------------------------------------

def _lk(cell: str, half80: float):
    from archsim.intervals.tables import Lookup
    fit = CellFit(n=30, center_log=0.0, half_log={"p80": half80, "p95": 2 * half80}, n_scores=30)
    return Lookup("gpu-x", cell, fit, cell, 30, ())


def test_sum_within_a_cell_adds_widths_and_across_cells_in_quadrature():
    q = math.log(1.2)  # ratio interval [1/1.2, 1.2]
    same = from_sum([(1.0, _lk("A", q)), (2.0, _lk("A", q))])
    assert same.bounds_s["p80"] == pytest.approx([3.0 / 1.2, 3.0 * 1.2])  # fully correlated: one factor on 3 s
    apart = from_sum([(1.0, _lk("A", q)), (2.0, _lk("B", q))])
    below = math.hypot(1.0 - 1.0 / 1.2, 2.0 - 2.0 / 1.2)
    above = math.hypot(0.2, 0.4)
    assert apart.bounds_s["p80"] == pytest.approx([3.0 - below, 3.0 + above])
    assert len(apart.cells) == 2 and apart.unvalidated_s == 0.0 and apart.status == "validated"
    from archsim.intervals.tables import Lookup
    partial = from_sum([(1.0, _lk("A", q)), (0.5, Lookup("gpu-x", None, None, "all", 0, ()))])
    assert partial.bounds_s["p80"] == pytest.approx([0.5 + 1.0 / 1.2, 0.5 + 1.2]) and partial.unvalidated_s == 0.5
    assert partial.status == "partial" and partial.calibrated_s == pytest.approx(1.5)


# --- coverage --------------------------------------------------------------------------------------------------

def test_coverage_counts_hits_and_keeps_missing_intervals_apart():
    fit = CellFit(n=30, center_log=0.0, half_log={"p80": math.log(1.1), "p95": math.log(1.5)}, n_scores=30)
    from archsim.intervals.tables import Lookup
    lk = Lookup("gpu-x", "all", fit, "all", 30, ())
    ratios = [1.0, 1.05, 0.95, 1.2, 1.3, 1.0, 1.0, 1.0, 0.8, 2.0]  # p80 [0.909, 1.1]: 6 in; p95 [0.667, 1.5]: 9 in
    outs = [Outcome(_point("k/a", r), lk, {"p80": 0.909 <= r <= 1.1, "p95": 1 / 1.5 <= r <= 1.5}) for r in ratios]
    outs.append(Outcome(_point("k/a", 1.0), Lookup("gpu-x", None, None, "all", 0, ()), {"p80": None, "p95": None}))
    cov = coverage(outs)
    assert cov["n"] == 11 and cov["no_interval"] == 1
    assert cov["p80"] == pytest.approx(0.6) and cov["p95"] == pytest.approx(0.9)
    assert cov["median_half_width_p80"] == pytest.approx((1.1 - 1 / 1.1) / 2)
    assert not within_target(cov) and within_target({"p80": 0.75, "p95": 0.99})


def test_leave_one_group_out_never_sees_the_held_out_group():
    # group "far" has ratios 3.0; the rest ~1.0: held out, "far" falls outside intervals fit on the rest
    pts = [_point("k/a", 1.0 + 0.001 * i, group=f"g{i}") for i in range(30)]
    pts += [_point("k/a", 3.0, group="far") for _ in range(3)]
    outs = leave_one_group_out(pts, "shape_family")
    far = [o for o in outs if o.point.groups["shape_family"] == "far"]
    assert len(outs) == 33 and all(o.covered == {"p80": False, "p95": False} for o in far)
    assert all(o.lookup.fit.n == 30 for o in far)


# --- the committed tables and the real model -------------------------------------------------------------------

@pytest.fixture(scope="module")
def validation_points():
    """Every validation residual of the committed campaigns, re-predicted once for this module (~15 s)."""
    from archsim.intervals.sources import load_points
    return load_points()


def test_committed_tables_match_todays_model_and_data(validation_points):
    """The tables in package data were fit on today's model: regenerate with `archsim reproduce intervals`."""
    points, data = validation_points
    committed = Tables.load(TABLES_PATH).raw
    fresh = build_tables(points, data)
    assert sorted(committed["devices"]) == sorted(fresh["devices"]) == ["h100-sxm", "h200"]
    for dev, d in fresh["devices"].items():
        assert committed["devices"][dev]["model_fingerprint"] == d["model_fingerprint"], \
            (f"{TABLES_PATH} is stale for {dev} (the model or the data changed): refit with `archsim reproduce "
             "intervals` or python -c 'from archsim.intervals import regenerate; regenerate()'")
        assert committed["devices"][dev]["data"] == d["data"]
    assert model_fingerprint(points) == model_fingerprint(list(reversed(points)))


def test_predict_json_carries_interval_and_where_it_came_from():
    r = subprocess.run([sys.executable, "-m", "archsim", "predict", "attention", "--hw", "h100-sxm", "--impl", "flash2",
                        "--batch", "4", "--heads", "32", "--seq-q", "2048", "--head-dim", "128"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    lo80, hi80 = out["latency_s_p80"]
    lo95, hi95 = out["latency_s_p95"]
    assert lo95 <= lo80 <= out["latency_s_calibrated"] <= hi80 <= hi95 and out["latency_s"] > 0
    assert out["calibrated_on"]["data_kinds"] == ["kernel campaigns"]
    v = out["validated_on"]
    assert v["device"] == "h100-sxm" and v["n"] >= MIN_POINTS and v["cell"].startswith("kernel=prefill/flash2")
    assert v["data"] == ["measurements/h100/h100-validation-2026-11-23.csv"]


def test_unvalidated_gpu_gets_no_interval():
    from archsim.gpu.predict import predict_gemm
    out = for_prediction(predict_gemm("a100-sxm", m=1024, n=1024, k=1024))
    assert out["latency_s_p80"] is None and out["latency_s_calibrated"] is None
    assert out["validated_on"]["status"] == "unvalidated" and "a100-sxm" in out["validated_on"]["reason"]


def test_parallel_run_uses_its_devices_cells():
    from archsim.intervals.attach import result_device
    assert result_device("hgx-h200 (h200 x8)") == "h200" and result_device("h100-sxm") == "h100-sxm"


def test_result_rows_and_totals_carry_intervals():
    import archsim
    res = archsim.simulate("llama2-7b-serving", "h100-sxm")
    iv = attach_intervals(res)
    assert res.intervals is iv and len(iv["ops"]) == len(res.ops)
    total = iv["total"]
    lo, hi = total["latency_s_p80"]
    assert lo < total["latency_s_calibrated"] < hi and total["status"] in ("validated", "fallback", "partial")
    assert total["latency_s"] == pytest.approx(res.latency_s)
    # phases partition the total's modeled time
    assert sum(p["latency_s_calibrated"] for p in iv["phases"].values()) == pytest.approx(total["latency_s_calibrated"])
    gemm = next(r for r, o in zip(iv["ops"], res.ops, strict=True) if o.kind == "gemm")
    assert gemm["cell"].startswith("kernel=gemm/cublas") and gemm["time_s_p95"][0] < gemm["time_s_p80"][0]
    cols = op_columns(iv)
    assert len(cols) == len(res.ops) and cols[0]["time_s_p80_lo"] == iv["ops"][0]["time_s_p80"][0]
    sweep = sweep_columns(res)
    assert (sweep["latency_s_p80_lo"], sweep["latency_s_p80_hi"]) == (lo, hi)
    assert sweep["latency_s_calibrated"] == total["latency_s_calibrated"]
    # on the H200 a Result's operators look up whole-model category cells first; on the H100 (no whole-model data)
    # they land in kernel cells
    h200 = attach_intervals(archsim.simulate("llama2-7b-serving", "h200"))
    assert any(r["cell"].startswith("op=gemm") for r in h200["ops"])
    assert not any(r["cell"].startswith("op=") for r in iv["ops"])
    roof = archsim.simulate("llama2-7b-serving", "h100-sxm", backend="roofline")
    assert attach_intervals(roof)["total"]["status"] == "unvalidated"
    assert math.isnan(sweep_columns(roof)["latency_s_p95_hi"])


def test_held_out_coverage_on_the_committed_campaigns(capsys, validation_points):
    """Leave one shape family out on the real validation data; prints observed coverage per device (the report's
    headline figures). Asserted: every residual was checked, and 95% intervals cover at least what 80% ones do."""
    from archsim.intervals.coverage import by, run_scheme
    points, _ = validation_points
    outcomes = run_scheme(points, "shape_family")
    assert len(outcomes) == len(points)
    per_device = by(outcomes, lambda o: o.point.device)
    with capsys.disabled():
        for dev, cov in per_device.items():
            print(f"\n{dev}: leave-one-shape-family-out coverage 80% {cov['p80']:.1%}, 95% {cov['p95']:.1%} "
                  f"(n={cov['n']}, median 80% half-width {cov['median_half_width_p80']:.1%})")
    for cov in per_device.values():
        assert cov["no_interval"] == 0 and cov["p95"] >= cov["p80"] > 0.5


def test_whole_model_categories_set_profiler_time_against_modeled_operators_of_that_kind():
    from archsim.intervals.whole_model import category_residuals, simulate_row
    row = {"run_id": "t1", "model": "llama-2-7b", "impl": "plain", "phase": "prefill", "batch": "2", "seq_len": "512",
           "context": "0", "layers": "2", "mode": "graph", "ok": "1"}
    result = simulate_row(row, "h200")
    modeled = {kind: sum(o.total_time_s for o in result.ops if o.kind == kind) for kind in ("gemm", "norm")}
    assert len({o.name for o in result.ops if o.kind == "gemm"}) >= 4 and modeled["norm"] > 0
    # profiler says: GEMMs took twice the model, norms 3x (split over two columns for elementwise: rotary counts)
    row |= {"gemm_s": str(2 * modeled["gemm"]), "attention_s": "0", "norm_s": str(3 * modeled["norm"]),
            "elementwise_s": "1e-4", "rotary_s": "1e-4"}
    got = {cat: (measured, model_s) for cat, measured, model_s, _ in category_residuals(row, result)}
    assert "attention" not in got  # no measured time -> no residual
    assert got["gemm"][0] / got["gemm"][1] == pytest.approx(2.0)
    assert got["norm"][0] / got["norm"][1] == pytest.approx(3.0)
    assert got["elementwise"][0] == pytest.approx(2e-4)


def test_stack_prediction_gets_step_intervals_on_h200_and_none_on_h100():
    from archsim.gpu.stack_run import predict_workload
    from archsim.intervals.steps import for_stack
    from archsim.presets import load_model
    from archsim.schemas.workload import DecodePhase, PrefillPhase, Workload
    wl = Workload(name="t", model=load_model("llama-2-7b"), layers=None,
                  phases=[PrefillPhase(phase="prefill", batch=1, seq_len=1024),
                          DecodePhase(phase="decode", batch=8, context_len=1024)])
    pred = predict_workload(wl, "h200", software="plain", host="cuda-graph")
    out = for_stack(pred)
    assert [p["phase"] for p in out["phases"]] == ["prefill", "decode"]
    for p, ph in zip(out["phases"], pred.phases, strict=True):
        lo, hi = p["gpu_busy_s_p80"]
        assert lo < hi and p["gpu_busy_s_validated_on"]["cell"].startswith(("kernel=step/plain/gpu", "family=step/gpu"))
        assert p["wall_s_p95"][0] <= p["wall_s_p80"][0] and p["wall_s_p80"][1] <= p["wall_s_p95"][1]
        assert lo < ph.gpu_busy_s * 2 and hi > ph.gpu_busy_s / 2
    assert out["total"]["wall_s_p80"][0] < pred.wall_s < out["total"]["wall_s_p95"][1]
    h100 = for_stack(predict_workload(wl, "h100-sxm", software="plain", host="cuda-graph"))
    assert h100["phases"][0]["gpu_busy_s_p80"] is None
    assert h100["phases"][0]["gpu_busy_s_validated_on"]["status"] == "unvalidated"
    assert "no whole-model step measurements for 'h100-sxm'" in h100["reason"]
    cross = for_stack(predict_workload(wl, "h200", software="plain", host="cuda-graph", calibration="cross"))
    assert cross["total"]["wall_s_p80"] is None and "calibration 'cross'" in cross["reason"]
