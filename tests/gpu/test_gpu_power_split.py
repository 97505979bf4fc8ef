"""Skinny-GEMM layouts and FlashAttention-2 split-KV (campaigns/power_split.py): the fourth-stage fit re-derives
its constants from calibration rows only, the kernel flags select them, the validation rows are priced as the
kernel the profiler named, and CUDA-graph replays overlap their host launch only in a back-to-back loop."""

from __future__ import annotations

import csv
import dataclasses
import json

import pytest

from archsim.data import measurement
from archsim.errors import ConfigError
from archsim.gpu import kernels as K
from archsim.gpu.calibration import rates_for
from archsim.gpu.host import HostModel, graph_wall_s
from archsim.gpu.power import H200_SPLIT, PowerCoefficients
from archsim.gpu.power_fit import read_power_csv
from archsim.gpu.power_fit_split import SPLIT_CSV, SPLIT_FIT_ROWS, fit_split
from archsim.gpu.predict import attention_shape
from archsim.presets import load_hardware

ROUND = PowerCoefficients(static_w=100.0, limit_w=None, matrix_j_per_flop={"bf16": 1e-12}, vec_j_per_lane_op=1e-12,
                          sfu_j_per_op=0.0, smem_j_per_byte=1e-12, l2_j_per_byte=10e-12, hbm_j_per_byte=100e-12,
                          tma_stream_j_per_byte=50e-12, class_compute_scale={"fa2_splitkv": 0.5})


def _power():
    return rates_for(load_hardware("h200")).power


def test_split_fit_reproduces_the_class_constants():
    got = fit_split(measurement("h200", SPLIT_CSV), _power())
    for k in ("stream_wide", "fa2_splitkv"):
        assert got[k] == pytest.approx(H200_SPLIT[k], rel=2e-3), k
        assert 0.3 < got[k] < 1.0, k  # cheaper than the per-op charge, not free
    assert got["stream8_tn"] == pytest.approx(H200_SPLIT["stream8_tn"], rel=2e-3)
    # the two layouts of the 8-wide tile within 10 % of each other on one board
    assert abs(got["stream8_tn"] / got["stream8_nn"] - 1.0) < 0.10
    # 8 rows of this campaign, 2 boost-clock rows of the V/f campaign (m = 128; its m = 512 are outside the family)
    assert len(got["fa2_splitkv_rows"]) == len(SPLIT_FIT_ROWS) and len(got["stream_wide_rows"]) == 10
    assert _power().class_compute_scale == {k: H200_SPLIT[k] for k in ("stream_wide", "fa2_splitkv")}


def test_split_fit_reads_its_named_rows_only(tmp_path):
    rows = read_power_csv(measurement("h200", SPLIT_CSV))
    for r in rows:
        if r["set"] == "validation" and r["bench"] not in SPLIT_FIT_ROWS:
            r["energy_per_step_j"] = "1e9"
    path = tmp_path / "split-doctored.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    a, b = fit_split(path, _power()), fit_split(measurement("h200", SPLIT_CSV), _power())
    assert a["stream_wide"] == b["stream_wide"] and a["fa2_splitkv"] == b["fa2_splitkv"]


def test_split_fit_names_the_file_when_rows_are_missing(tmp_path):
    path = tmp_path / "empty.csv"
    rows = [r for r in read_power_csv(measurement("h200", SPLIT_CSV)) if r["bench"].startswith("idle")]
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with pytest.raises(ConfigError, match="empty.csv"):
        fit_split(path, _power())


def test_class_scale_applies_to_compute_parts_of_the_flagged_kernel_only():
    totals = {"mma_flops": 1e9, "vec_ops": 1e9, "smem_bytes": 1e9, "l2_bytes": 1e9, "hbm_bytes": 1e9}
    plain = ROUND.parts_j(totals, async_copy=True)
    split = ROUND.parts_j(totals, async_copy=True, energy_class="fa2_splitkv")
    for k in ("compute:mma", "compute:vec", "memory:smem"):
        assert split[k] == pytest.approx(0.5 * plain[k]), k
    assert split["memory:hbm"] == plain["memory:hbm"] == pytest.approx(50e-3)  # the stream is not scaled
    assert ROUND.parts_j(totals, async_copy=True, energy_class="unknown") == plain


def test_kernels_flag_the_measured_families():
    rates = rates_for(load_hardware("h200"))
    assert K.cublas_gemm(128, 22016, 4096, "bf16", rates)[0].energy_class == "stream_wide"
    assert K.cublas_gemm(64, 22016, 4096, "bf16", rates)[0].energy_class == ""  # swap-AB: its own stream figure
    assert K.cublas_gemm(4096, 4096, 4096, "bf16", rates)[0].energy_class == ""  # square: the main fit
    s = attention_shape(1, 32, 32, 1, 65536, 128, False, "bf16")
    dec = K.fa2_decode(s, "flash2", rates.sm_count)
    assert dec[0].name == "flash2_splitkv" and dec[0].energy_class == "fa2_splitkv"
    big = K.fa2_decode(attention_shape(8, 32, 32, 1, 16384, 128, False, "bf16"), "flash2", rates.sm_count)
    assert [x.energy_class for x in big] == [""]  # one split: the regular kernel, charged in full


def test_split_campaign_data_record_device_and_kernels():
    meta = json.loads(measurement("h200", "power-h200-meta-2026-12-01-split.json").read_text())
    for k in ("device_name", "driver", "torch", "date_utc", "power_limit_w"):
        assert meta[k], k
    rows = {r["bench"]: r for r in read_power_csv(measurement("h200", SPLIT_CSV)) if r.get("step_s")}
    assert "splitkv" in rows["fa2_dense_b1_h32_kv32_q1_ctx65536"]["kernels"]
    assert "splitkv" not in rows["fa2_varlen_b1_h32_kv32_q1_ctx65536"]["kernels"]
    assert {r["layout"] for r in rows.values() if r.get("kind") == "gemm"} == {"tn", "nn"}


def test_validation_rows_skip_the_fit_rows_and_land_near_the_meter():
    from archsim.gpu.devices import device_calibration
    from archsim.gpu.energy_split import validate_split
    rows = validate_split(device_calibration("h200"))
    names = {r["bench"] for r in rows}
    assert not names & set(SPLIT_FIT_ROWS) and not any("22016" in n for n in names)  # calibration GEMMs out
    big = [r for r in rows if r["bench"].startswith("gemm_") and "m256" in r["bench"]]
    assert big and all(abs(r["energy_error"]) < 0.10 for r in big)  # were +20 % before the stream_wide class


def test_graph_replay_hides_its_launch_only_back_to_back():
    host = HostModel(source="t", per_kernel={}, graph_launch_s=10e-6, graph_host_per_node_s=1e-6, graph_gap_s=0.5e-6)
    long = [100e-6] * 4
    assert graph_wall_s(long, host) == pytest.approx(14e-6 + 400e-6 + 2e-6)
    assert graph_wall_s(long, host, back_to_back=True) == pytest.approx(402e-6)
    tiny = [1e-6] * 4  # host-bound replay: the launch is the floor
    assert graph_wall_s(tiny, host, back_to_back=True) == pytest.approx(14e-6)


def test_minillama_eager_decode_takes_its_measured_host_line():
    from archsim.gpu.host import path_lines
    from archsim.gpu.power_validation import minillama_host_line
    assert minillama_host_line(4096) == path_lines("minillama-decode", 4096).line("point")
    assert minillama_host_line(2048) == path_lines("minillama-decode", 4096).line("point")
    assert minillama_host_line(512) == path_lines("minillama-decode", 256).line("point")
    fixed, per_layer = minillama_host_line(4096)
    assert 0 < fixed < 1e-3 and 1e-4 < per_layer < 2e-3


def test_unflagged_coefficients_keep_their_charge():
    p = dataclasses.replace(ROUND, class_compute_scale={})
    totals = {"mma_flops": 1e9}
    assert p.parts_j(totals, energy_class="fa2_splitkv") == p.parts_j(totals)
