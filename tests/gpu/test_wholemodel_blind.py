"""The blind set: committed predictions stay the blind figures; the point list is what was measured."""

import json
import subprocess
import sys

from archsim.data import measurement
from archsim.gpu.devices import device_calibration
from archsim.gpu.wholemodel_blind import PREDICTIONS, blind_summary, compare_blind, is_blind_csv, points, section


def test_measured_points_are_the_committed_points_and_blind_errors_use_the_committed_file():
    doc = json.loads(measurement("h200", PREDICTIONS).read_text())
    assert doc["points"] == points()  # the list in code is still the list that was predicted
    committed = {(p["id"], p["host"]): p["gpu_s"] for p in doc["predictions"]}
    rows = compare_blind(device_calibration("h200", "own"))
    assert len(rows) == len(committed) == 45
    for r in rows:
        assert r["blind_gpu_s"] == committed[(r["point_id"], r["host"])]
        assert abs(r["blind_gpu_error"] - (r["blind_gpu_s"] / r["measured_gpu_s"] - 1)) < 1e-12
    summary = blind_summary(rows)["groups"]["all"]["gpu"]
    assert summary["n"] == 45 and summary["mape"] > 0
    text = section(rows, blind_summary(rows))
    assert PREDICTIONS in text and text.count("\n| b") == 45


def test_blind_csv_detection():
    assert is_blind_csv(measurement("h200", "h200-blind-whole-2026-12-01.csv"))
    assert not is_blind_csv(measurement("h200", "h200-wm-whole-2026-12-01.csv"))


def test_stack_runs_on_a_gpt2_workload(tmp_path):
    wl = tmp_path / "g.yaml"
    wl.write_text("kind: workload\nname: g\nmodel: gpt2-xl\ndtype: fp16\nphases:\n"
                  "  - {phase: prefill, batch: 4, seq_len: 512}\n  - {phase: decode, batch: 4, context_len: 512}\n")
    r = subprocess.run([sys.executable, "-m", "archsim", "stack", str(wl), "--hw", "h200", "--json",
                        str(tmp_path / "o.json")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads((tmp_path / "o.json").read_text())
    assert out["software"] == "eager" and out["phases"][1]["bound"] == "host"  # 4 tokens of GPT-2 XL: host-bound
    assert out["phases"][0]["by_category"]["norm"] > 0 and out["phases"][0]["by_category"]["rotary"] == 0
    r = subprocess.run([sys.executable, "-m", "archsim", "stack", str(wl), "--software", "fused"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "GPT-2-style" in r.stderr and "Traceback" not in r.stderr


def test_reproduce_whole_model_carries_the_blind_set(tmp_path):
    from archsim.gpu.wholemodel_report import reproduce
    written = {p.name for p in reproduce(tmp_path)}
    assert {"tables-blind-h200-own.md", "parity-blind-h200-own.html", "whole-model.md"} <= written
    doc = (tmp_path / "whole-model.md").read_text()
    assert "## Blind set" in doc and "| blind / H200-from-H200 | 45 |" in doc and "GPU MAPE blind" in doc


def test_compare_prints_blind_rows_and_summary(tmp_path):
    r = subprocess.run([sys.executable, "-m", "archsim", "compare", str(measurement("h200",
                        "h200-blind-whole-2026-12-01.csv")), "--hw", "h200", "--rows", "worst", "--plot",
                        str(tmp_path / "p.html")], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "blind set (blind): the predictions committed before measurement" in r.stdout
    assert r.stdout.count("\nb") >= 45  # one line per blind step (point ids b01..b26)
