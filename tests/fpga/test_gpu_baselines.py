"""The FPGA reproductions' GPU baselines come from the stack model and say their regime."""

from __future__ import annotations

import json

from archsim.fpga import edge_moe, swat


def test_edge_moe_gpu_baseline_is_the_host_bound_stack_model(tmp_path):
    s = edge_moe.reproduce(tmp_path, event=False)
    gpu = s["gpu"]
    assert gpu["regime"] == "host-bound" and gpu["latency_s"] > 3 * gpu["gpu_busy_s"]
    assert s["energy_eff_vs_gpu"] == gpu["energy_j"] / s["energy_j_per_image"]
    assert s["energy_eff_vs_gpu"] > 10 * s["energy_eff_vs_gpu_roofline"]  # host time and static power count now
    assert {r["run_id"] for r in s["gpu_validation"]} >= {"h200-float32", "h100-float32"}
    assert json.loads((tmp_path / "summary.json").read_text())["gpu"]["device"] == "h200"


def test_swat_gpu_baseline_grows_quadratically_and_names_its_regime():
    cfg = swat.SwatConfig()
    short, long = swat.gpu_layer_stack(1024, cfg), swat.gpu_layer_stack(16384, cfg)
    assert short["regime"] == "host-bound" and long["regime"] == "gpu-bound"
    assert long["energy_j"] / short["energy_j"] > 50  # dense N^2 work behind the band mask
