"""The sweep's ``base.serving`` section: points run as serving scenarios; other sweeps' configs are unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from archsim.errors import ConfigError
from archsim.sweep.plan import load_plan
from archsim.sweep.point import run_point

ROOT = Path(__file__).resolve().parents[2]
SWEEP = """kind: sweep
name: s
base:
  workload: llama2-7b-serving
  hardware: h100-sxm
  serving: {load_qps: 1, duration_s: 3, prompt: "fixed:256", output: "fixed:8", slo: {ttft_ms: 100}}
axes:
  - grid:
      %s: [2, 4]
"""


def test_serving_points_sweep_the_load(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(SWEEP % "serving.load_qps")
    plan = load_plan(path)
    assert [p.config["serving"]["load_qps"] for p in plan.points] == [2, 4]
    rows = [run_point((p.index, p.config)) for p in plan.points]
    assert all(r["status"] == "ok" for r in rows), rows
    assert rows[1]["requests"] > rows[0]["requests"] > 0
    assert rows[0]["little_gap"] < 1e-9 and 0 <= rows[0]["goodput_fraction"] <= 1
    assert rows[0]["latency_s"] == rows[0]["e2e_p50_s"] >= rows[0]["ttft_p50_s"]


def test_serving_path_typo_lists_the_keys(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(SWEEP % "serving.load")
    with pytest.raises(ConfigError, match="valid keys: load_qps, duration_s, scheduler"):
        load_plan(path)


def test_sweeps_without_serving_keep_their_configs():
    plan = load_plan(ROOT / "workloads" / "sweeps" / "gpu-attention-bandwidth.yaml")
    assert all("serving" not in p.config for p in plan.points if p.config is not None)
