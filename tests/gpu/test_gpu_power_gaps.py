"""Host gaps, tiny kernels and the skinny-GEMM weight stream (campaigns/power_gaps.py): the fit, its checks on the
measurement, the kernel flag that selects the stream energy, and the new host-bound validation rows."""

from __future__ import annotations

import csv
import dataclasses

import pytest

from archsim.data import measurement
from archsim.errors import ConfigError
from archsim.gpu.calibration import rates_for
from archsim.gpu.power import H200_GAPS, H200_SPLIT, H200_STREAM8_J_PER_BYTE, PowerCoefficients
from archsim.gpu.power_fit import GAPS_CSV, fit_gaps, read_power_csv
from archsim.presets import load_hardware

ROUND = PowerCoefficients(static_w=100.0, limit_w=500.0, matrix_j_per_flop={"bf16": 1e-12}, vec_j_per_lane_op=0.0,
                          sfu_j_per_op=0.0, smem_j_per_byte=0.0, l2_j_per_byte=10e-12, hbm_j_per_byte=100e-12,
                          tma_stream_j_per_byte=50e-12, gemm_stream_j_per_byte=80e-12)


def _power():
    return rates_for(load_hardware("h200")).power


def test_gaps_fit_reproduces_the_gemm_stream_constant():
    got = fit_gaps(measurement("h200", GAPS_CSV), _power())
    assert got["gemm_stream_j_per_byte"] == pytest.approx(H200_GAPS["gemm_stream_j_per_byte"], rel=2e-3)
    # between the cp.async figure (96.9 pJ/B) and twice the load/store stream: a weight stream, not noise
    assert 0.9e-10 < got["gemm_stream_j_per_byte"] < 2.5e-10
    # the model charges the mean of this board's figure and the split campaign's TN rows (another board)
    assert _power().gemm_stream_j_per_byte == pytest.approx(H200_STREAM8_J_PER_BYTE, rel=1e-3)
    assert H200_STREAM8_J_PER_BYTE == pytest.approx((H200_GAPS["gemm_stream_j_per_byte"] + H200_SPLIT["stream8_tn"])
                                                    / 2.0)


def test_host_gaps_draw_idle_power_and_tiny_kernels_cost_microjoules():
    """What the model's rule (static power over host gaps, no tail) rests on, read off the measurement."""
    got = fit_gaps(measurement("h200", GAPS_CSV), _power())
    assert set(got["gap_lines"]) == {"add4k", "gemv22k"}
    for k, line in got["gap_lines"].items():
        assert abs(line["excess_w"]) < 3.0, k  # power in the gaps within 3 W of idle (~128 W)
    assert abs(got["gap_lines"]["add4k"]["tail_j"]) < 1e-4  # < 0.1 mJ per gap after a tiny kernel
    assert abs(got["gap_lines"]["gemv22k"]["tail_j"]) < 0.2 * got["chain_dyn_j"]["gemv22k"]
    for k in ("add4k", "float4k"):
        assert 0.0 < got["chain_dyn_j"][k] < 2e-5, k  # a tiny kernel: a few microjoules
    assert all(g["gap_s"] >= 5e-6 for g in got["gaps"])


def test_gaps_fit_reads_calibration_rows_only(tmp_path):
    rows = read_power_csv(measurement("h200", GAPS_CSV))
    assert any(r["set"] == "validation" for r in rows)
    for r in rows:
        if r["set"] == "validation":
            r["energy_per_step_j"] = "1e9"
    path = tmp_path / "gaps-doctored.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    a, b = fit_gaps(path, _power()), fit_gaps(measurement("h200", GAPS_CSV), _power())
    assert a["gemm_stream_j_per_byte"] == b["gemm_stream_j_per_byte"] and a["gap_lines"] == b["gap_lines"]
    with pytest.raises(ConfigError, match="chain_gemv22k"):
        fit_gaps(measurement("h200", "power-h200-2026-12-01-r2.csv"), _power())


def test_weight_stream_energy_applies_to_the_flagged_staged_kernel_only():
    t = {"mma_flops": 0.0, "l2_bytes": 3e9, "hbm_bytes": 1e9}
    assert ROUND.parts_j(t, staged=True, weight_stream=True)["memory:hbm"] == pytest.approx(0.08)
    # other wgmma kernels: e_l2 + e_hbm per HBM byte, as the main fit charged its GEMMs
    assert ROUND.parts_j(t, staged=True)["memory:hbm"] == pytest.approx(0.1)
    assert ROUND.parts_j(t, staged=True)["memory:l2"] == pytest.approx(0.01)
    assert ROUND.parts_j(t, async_copy=True, weight_stream=True)["memory:hbm"] == pytest.approx(0.05)
    none = dataclasses.replace(ROUND, gemm_stream_j_per_byte=None)
    assert none.parts_j(t, staged=True, weight_stream=True)["memory:hbm"] == pytest.approx(0.1)


def test_cublas_flags_its_swap_ab_tiles_as_the_measured_weight_stream():
    from archsim.gpu.devices import device_calibration
    from archsim.gpu.kernels import cublas_gemm
    rates = device_calibration("h200").rates
    flags = {m: [ln.weight_stream for ln in cublas_gemm(m, 4096, 4096, "bf16", rates)] for m in (1, 8, 16, 64, 4096)}
    # every swap-AB tile (m <= 64: nvjet_sm90_tst_..x8 .. x64) streams its weight at the pooled TN figure
    assert flags[1][0] and flags[8][0] and flags[16][0] and flags[64][0]
    assert not any(flags[4096])  # non-swap tiles: e_l2 + e_hbm per HBM byte, as the main fit
    assert all(not f for f in flags[1][1:])  # a split-K reduction is no weight stream


def test_new_host_bound_rows_are_classified_by_their_graph_twin_and_predicted_per_shape():
    from archsim.gpu.devices import device_calibration
    from archsim.gpu.energy_host import validate_gaps
    from archsim.gpu.power_validation import summarise, validate_power_csv
    rows = validate_gaps(device_calibration("h200"))
    plain = validate_power_csv(measurement("h200", GAPS_CSV), device_calibration("h200"))
    assert len(plain) == len(rows) - 2 and not any("generate" in r["bench"] for r in plain)  # no pricer: skipped
    by = {r["bench"]: r for r in rows}
    assert len(rows) == 14 and sum(r["regime"] == "host" for r in rows) == 8
    assert all(by[b]["regime"] == "host" for b in by if b.endswith("_eager") or "generate" in b)
    # the 1.1B-shaped stack (hidden 2048, 8 layers) is priced at its own width: less GPU time per layer than 7B's
    small, big = by["l1b_l8_decode_b1_q1_ctx1024_graph"], by["l7b_l4_decode_b1_q1_ctx2048_graph"]
    assert small["modeled_gpu_s"] / 8 < big["modeled_gpu_s"] / 4
    s = summarise(rows)["by_regime"]["host"]
    assert s["n"] == 8 and 0.0 < s["power_mape"] < 1.0
