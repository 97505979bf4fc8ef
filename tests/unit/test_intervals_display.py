"""Intervals as users see them: model / calibrated / interval, always consistent, with what they were calibrated on.

The first user of `archsim run` saw ``699 ms (80% interval 712 ms - 895 ms)``: an interval that does not
contain the number printed beside it, because the model under-predicts the validation measurements of
those cells. These tests hold that every interval carries its calibrated centre, that the centre lies
inside, and that every output prints or stores all three.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from archsim.intervals import Estimate, attach_intervals, for_prediction, from_lookup, from_sum, sweep_columns
from archsim.intervals.attach import calibrated_on
from archsim.intervals.conformal import LEVELS, CellFit, fit_cell
from archsim.intervals.display import calibration_lines, coverage_text, estimate_text
from archsim.intervals.sources import Point
from archsim.intervals.tables import MIN_POINTS, TABLES_PATH, Lookup, Query, Tables, build_tables

DOC = Path(__file__).resolve().parents[2] / "docs" / "intervals.md"
SI = {"": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9, "k": 1e3}


def _seconds(text: str) -> float:
    value, unit = text.split()
    return float(value) * SI[unit[:-1]]


def _biased_cell(n: int = 19) -> CellFit:
    """Every residual above 1 (the model under-predicts by 20-40%), one shape family each."""
    return fit_cell([1.2 + 0.2 * i / (n - 1) for i in range(n)])


def test_calibrated_estimate_lies_inside_every_interval_of_the_committed_tables():
    tables = Tables.load(TABLES_PATH)
    checked = 0
    for device, cells in tables.cells.items():
        for key, fit in cells.items():
            if not fit.usable:
                continue
            est = from_lookup(Lookup(device, key, fit, key, fit.n, ()), 1e-3)
            assert est.calibrated_s == pytest.approx(1e-3 * math.exp(fit.center_log))
            for level in LEVELS:
                lo, hi = est.bounds_s[level]
                assert lo <= est.calibrated_s <= hi, (device, key, level)
            checked += 1
    assert checked > 50  # both devices' usable cells, not an empty loop


def test_an_estimate_refuses_a_centre_outside_its_interval():
    with pytest.raises(ValueError, match="outside its p80 interval"):
        Estimate(1.0, 2.0, {"p80": (0.5, 1.5)}, "validated", ("all",))
    with pytest.raises(ValueError, match="unvalidated"):
        Estimate(1.0, None, {"p80": (0.5, 1.5)}, "unvalidated")


def test_a_biased_cell_puts_the_interval_above_the_model_and_the_calibrated_estimate_inside_it():
    fit = _biased_cell()
    lk = Lookup("gpu-x", "all", fit, "all", fit.n, ())
    est = from_lookup(lk, 1.0)
    lo, hi = est.bounds_s["p80"]
    assert 1.0 < lo <= est.calibrated_s <= hi  # the raw model is below its own interval: the reported confusion
    assert est.calibrated_s == pytest.approx(1.3)  # median of 1.2 .. 1.4
    text = estimate_text({"latency_s": 1.0, **est.fields("latency_s")}, "latency_s")
    assert text.startswith("model 1 s, calibrated 1.3 s, 80% interval ") and ", 95% " in text
    assert estimate_text({"latency_s": 1.0, "latency_s_calibrated": None}, "latency_s") == \
        "model 1 s (unvalidated: no calibration, no interval)"


def test_sums_of_biased_cells_add_calibrated_terms_and_keep_them_inside():
    # cell A: ratio 1.5 in every residual -> calibrated 1.5 x 1 s; cell B: 0.8 -> 0.8 x 2 s; unvalidated 0.25 s
    a = CellFit(n=30, center_log=math.log(1.5), half_log={"p80": 0.1, "p95": 0.3}, n_scores=30)
    b = CellFit(n=30, center_log=math.log(0.8), half_log={"p80": 0.1, "p95": 0.3}, n_scores=30)
    terms = [(1.0, Lookup("d", "A", a, "A", 30, ())), (2.0, Lookup("d", "B", b, "A", 30, ())),
             (0.25, Lookup("d", None, None, "all", 0, ()))]
    est = from_sum(terms)
    assert est.modeled_s == 3.25 and est.calibrated_s == pytest.approx(1.5 + 1.6 + 0.25)
    assert est.status == "partial" and est.fallback_s == 2.0 and est.unvalidated_s == 0.25
    lo, hi = est.bounds_s["p80"]
    below = math.hypot(1.5 - 1.5 * math.exp(-0.1), 1.6 - 1.6 * math.exp(-0.1))
    assert lo == pytest.approx(est.calibrated_s - below) and lo < est.calibrated_s < hi
    assert from_sum([(1.0, Lookup("d", None, None, "all", 0, ()))]).calibrated_s is None


def _kernel_point(i: int, ratio: float) -> Point:
    return Point(device="gpu-x", kernel="gemm/x", family="gemm", regime="memory", size="small", ratio=ratio,
                 modeled_s=1e-5, source="t.csv", groups={"shape": f"s{i}", "shape_family": f"g{i}",
                                                        "campaign": "t.csv:grid"})


def test_tables_record_held_out_coverage_and_the_label_quotes_it():
    from archsim.intervals.coverage import by, leave_one_group_out
    points = [_kernel_point(i, 1.1 + 0.01 * (i % 7) + (0.3 if i % 10 == 0 else 0.0)) for i in range(40)]
    raw = build_tables(points, {"gpu-x": [{"file": "t.csv", "kind": "kernel validation campaign"}]})
    tables = Tables(raw)
    held = tables.held_out("gpu-x")
    expected = by(leave_one_group_out(points, "shape_family"), lambda o: o.point.data_kind)["kernel campaigns"]
    assert held["by_kind"]["kernel campaigns"] == expected and held["scheme"] == "leave one shape family out"
    lk = tables.lookup("gpu-x", Query("gemm/x", "gemm", "memory", "small"))
    est = from_lookup(lk, 2e-5)
    cal = calibrated_on(tables, "gpu-x", est)
    assert cal["data_kinds"] == ["kernel campaigns"] and cal["data"] == ["t.csv"]
    text = coverage_text(cal)
    assert f"kernel campaigns 80% -> {expected['p80'] * 100:.1f}%, 95% -> {expected['p95'] * 100:.1f}% (n=40)" in text
    lines = calibration_lines({"latency_s": 2e-5, **est.fields("latency_s")}, cal, "latency_s")
    assert lines[1] == "calibrated on: gpu-x kernel campaigns (t.csv)" and lines[2] == text
    # tables fitted before coverage was recorded say so instead of inventing a figure
    old = {**raw, "devices": {"gpu-x": {k: v for k, v in raw["devices"]["gpu-x"].items() if k != "held_out"}}}
    assert "not recorded" in coverage_text(calibrated_on(Tables(old), "gpu-x", est))


@pytest.fixture(scope="module")
def refit():
    """Tables refit in memory from today's model and data, as `archsim reproduce intervals` will (~10 s)."""
    from archsim.intervals.sources import load_points
    points, data = load_points()
    return Tables(build_tables(points, data))


def test_a_refit_carries_calibrated_estimates_and_held_out_coverage_into_every_output(refit):
    import archsim
    for device in ("h100-sxm", "h200"):
        res = archsim.simulate("llama2-7b-serving", device)
        iv = attach_intervals(res, refit)
        for record in [iv["total"], *iv["phases"].values()]:
            lo, hi = record["latency_s_p80"]
            assert lo <= record["latency_s_calibrated"] <= hi
        for row in iv["ops"]:
            if row["time_s_calibrated"] is not None:
                assert row["time_s_p95"][0] <= row["time_s_calibrated"] <= row["time_s_p95"][1]
        cov = iv["calibrated_on"]["held_out_coverage"]
        assert cov and all(c["n"] > 0 and 0 < c["p80"] <= c["p95"] <= 1 for c in cov.values())
        assert "held-out coverage (leave one shape family out): " in coverage_text(iv["calibrated_on"])
        assert sweep_columns(res, refit)["latency_s_calibrated"] == iv["total"]["latency_s_calibrated"]


def _line(stdout: str, start: str) -> str:
    hits = [ln.strip() for ln in stdout.splitlines() if ln.strip().startswith(start)]
    assert len(hits) == 1, (start, stdout[-2000:])
    return hits[0]


ESTIMATE = re.compile(r"model (?P<model>[\d.]+ \w?s), calibrated (?P<cal>[\d.]+ \w?s), 80% interval "
                      r"(?P<lo>[\d.]+ \w?s) - (?P<hi>[\d.]+ \w?s), 95% [\d.]+ \w?s - [\d.]+ \w?s$")


def test_archsim_run_prints_model_calibrated_and_interval_and_summary_json_holds_them(tmp_path):
    """The old line ``699 ms (80% interval 712 ms - 895 ms)`` fails here: no calibrated estimate, no source."""
    from archsim.units import format_si
    r = subprocess.run([sys.executable, "-m", "archsim", "run", "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=300, env=_env())
    assert r.returncode == 0, r.stderr
    m = ESTIMATE.search(_line(r.stdout, "latency: "))
    assert m, r.stdout[-2000:]
    total = json.loads((tmp_path / "o" / "summary.json").read_text())["intervals"]["total"]
    assert m["model"] == format_si(total["latency_s"], "s")
    assert m["cal"] == format_si(total["latency_s_calibrated"], "s")
    assert _seconds(m["lo"]) <= _seconds(m["cal"]) <= _seconds(m["hi"])
    on = _line(r.stdout, "calibrated on: ")
    assert on.startswith("calibrated on: h100-sxm kernel campaigns (measurements/h100/ h100-")
    _line(r.stdout, "held-out coverage")
    html = (tmp_path / "o" / "report.html").read_text()
    assert f"<th>latency estimate</th><td>{m[0]}</td>" in html and "calibrated on validation, 80% interval" in html
    # `archsim report FOLDER` rebuilds the page from summary.json: the estimate row stays
    (tmp_path / "o" / "report.html").unlink()
    rr = subprocess.run([sys.executable, "-m", "archsim", "report", str(tmp_path / "o")], capture_output=True,
                        text=True, timeout=300)
    assert rr.returncode == 0, rr.stderr
    assert f"<th>latency estimate</th><td>{m[0]}</td>" in (tmp_path / "o" / "report.html").read_text()
    # the default workload's stack: no whole-model step measurements on the H100, and the line says so
    assert "no whole-model step measurements for 'h100-sxm'" in _line(r.stdout, "no step interval: ")


def test_archsim_run_on_the_h200_prints_the_stack_steps_intervals(tmp_path):
    r = subprocess.run([sys.executable, "-m", "archsim", "run", "--hw", "h200", "--out", str(tmp_path / "o"),
                        "--no-report"], capture_output=True, text=True, timeout=300, env=_env())
    assert r.returncode == 0, r.stderr
    stack = json.loads((tmp_path / "o" / "summary.json").read_text())["stack"]
    for name, label in (("gpu_busy_s", "GPU-busy: "), ("wall_s", "wall: ")):
        m = ESTIMATE.search(_line(r.stdout, label))
        assert m, r.stdout[-2000:]
        total = stack["intervals"]["total"]
        assert total[name] == stack[name] and total[f"{name}_p80"][0] <= total[f"{name}_calibrated"] <= \
            total[f"{name}_p80"][1]
    assert "whole-model steps (archsim stack)" in _line(r.stdout, "calibrated on: h200 whole-model steps")


def test_archsim_stack_prints_and_writes_the_step_intervals(tmp_path):
    out = tmp_path / "s.json"
    r = subprocess.run([sys.executable, "-m", "archsim", "stack", "--hw", "h200", "--json", str(out)],
                       capture_output=True, text=True, timeout=300, env=_env())
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    total = doc["intervals"]["total"]
    m = ESTIMATE.search(_line(r.stdout, "wall: "))
    assert m and total["wall_s"] == doc["wall_s"] and total["wall_s_p80"][0] <= total["wall_s_calibrated"]
    cross = subprocess.run([sys.executable, "-m", "archsim", "stack", "--hw", "h200", "--calibration", "cross"],
                           capture_output=True, text=True, timeout=300, env=_env())
    assert "calibration 'cross'" in _line(cross.stdout, "no step interval: ")
    assert _line(cross.stdout, "wall: ").endswith("(unvalidated: no calibration, no interval)")


def _env() -> dict[str, str]:
    """A wide terminal, so that rich does not wrap the lines parsed here."""
    import os
    return {**os.environ, "COLUMNS": "400"}


def _documented() -> set[str]:
    return set(re.findall(r"`([a-z_0-9]+)`", DOC.read_text()))


def test_every_interval_key_written_is_documented():
    """Keys of summary.json `intervals` / `stack.intervals`, predict's JSON, ops.csv and sweep columns: in docs."""
    import archsim
    from archsim.gpu.predict import predict_gemm
    from archsim.gpu.stack_run import predict_workload
    from archsim.intervals.steps import for_stack
    from archsim.presets import load_workload
    res = archsim.simulate("llama2-7b-serving", "h100-sxm")
    iv = attach_intervals(res)
    keys = set(iv) | set(iv["total"]) | set(iv["calibrated_on"]) | set(iv["ops"][0])
    keys |= set(next(iter(iv["phases"].values())))
    keys |= set(for_prediction(predict_gemm("h100-sxm", m=1024, n=1024, k=1024)))
    steps = for_stack(predict_workload(load_workload("llama2-7b-serving"), "h200"))
    keys |= set(steps) | set(steps["total"]) | set(steps["phases"][0])
    keys |= set(sweep_columns(res)) | {k for k in res.rows()[0] if k.startswith(("interval_", "time_s_"))}
    missing = sorted(keys - _documented())
    assert not missing, f"interval keys not described in {DOC}: {missing}"
    assert MIN_POINTS == 19  # the doc quotes it
