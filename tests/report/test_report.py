"""Report contents (run and sweep folders), the trace file, parity plots, Pareto fronts."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archsim.errors import ConfigError
from archsim.reporting import build_report, load_result
from archsim.reporting.pareto import pareto_mask


def sections(html: str) -> list[str]:
    return re.findall(r'<section id="plot-([^"]+)"', html)


def test_run_report_sections_and_trace(run_dir, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(run_dir, folder)
    out = build_report(folder)
    html = out.read_text()
    assert sections(html)[:5] == ["phases", "roofline", "operators", "energy", "timeline"]
    assert html.count("window.PlotlyConfig") == 1  # plotly.js inlined once
    trace = json.loads((folder / "timeline.json").read_text())
    slices = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    result = load_result(folder)
    assert len(slices) == len(result.ops)
    # back to back, in order, durations = operator totals (microseconds)
    ends = [e["ts"] + e["dur"] for e in slices]
    assert all(abs(b["ts"] - a) < 1e-6 for a, b in zip(ends, slices[1:], strict=False))
    assert sum(e["dur"] for e in slices) == pytest.approx(result.latency_s * 1e6, rel=1e-12)


def test_load_result_round_trips(run_dir):
    import archsim

    result = load_result(run_dir)
    direct = archsim.simulate("llama2-7b-serving", "h100-sxm")
    assert result.latency_s == direct.latency_s and result.energy_j == direct.energy_j
    assert result.by_phase() == direct.by_phase()


def test_sweep_report_sections(sweep_dir):
    html = build_report(sweep_dir).read_text()
    names = sections(html)
    assert sum(n.startswith("heatmap-latency_s") for n in names) == 3  # 3 dimensions -> 3 pairs
    assert sum(n.startswith("heatmap-energy_j") for n in names) == 3
    assert {"pareto", "pareto-table", "bounds", "dropped"} <= set(names)
    assert "scores fit in HBM" in html


def test_parity_plots_from_measured_csv(run_dir, sweep_dir, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(run_dir, folder)
    ops = pd.read_csv(folder / "ops.csv")
    # a joined-layout file: keys name/phase + measured_total_time_s (here: model x 1.1, a stand-in
    # measurement whose error the section must report as exactly 1/1.1 - 1)
    measured = ops[["name", "phase"]].assign(measured_total_time_s=ops["total_time_s"] * 1.1)
    measured.to_csv(folder / "measured_ops.csv", index=False)
    html = build_report(folder).read_text()
    assert "parity-0" in sections(html)
    assert f"MAPE {100 * (1 - 1 / 1.1):.1f}%" in html
    # paired layout given on the command line, for a sweep
    paired = tmp_path / "cmp.csv"
    pd.DataFrame({"kernel": ["a", "b"], "modeled_latency_s": [1e-3, 2e-3],
                  "measured_latency_s": [1e-3, 4e-3]}).to_csv(paired, index=False)
    html = build_report(sweep_dir, measured=[paired]).read_text()
    assert "MAPE 25.0%, max |error| 50.0%" in html


def test_bad_measurement_and_folder(tmp_path, run_dir):
    with pytest.raises(ConfigError, match="not an archsim output folder"):
        build_report(tmp_path)
    bad = tmp_path / "m.csv"
    bad.write_text("name,time\nx,1\n")
    with pytest.raises(ConfigError, match="measured_<quantity>"):
        build_report(run_dir, measured=[bad])
    with pytest.raises(ConfigError, match="measurement file not found"):
        build_report(run_dir, measured=[tmp_path / "missing.csv"])


def brute_force_front(values: np.ndarray) -> np.ndarray:
    n = len(values)
    return np.array([not any((values[j] <= values[i]).all() and (values[j] < values[i]).any()
                             for j in range(n)) for i in range(n)])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(*[st.integers(0, 6)] * 3), min_size=1, max_size=40))
def test_pareto_mask_matches_definition(points):
    values = np.array(points, dtype=float)
    assert (pareto_mask(values) == brute_force_front(values)).all()
