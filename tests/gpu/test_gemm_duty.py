"""GEMMs between low-power kernels (campaigns/gemm_duty.py, h200-gemm-duty-2026-12-01.*): the committed
microbenchmark carries its provenance, its GEMMs between copies run at their burst time, and the kernel model's
burst regime prices the compute-bound ones within a few per cent while its sustained regime is slower."""

from __future__ import annotations

import csv
import json

import pytest

from archsim.data import measurement
from archsim.gpu.gemm_duty import DUTY_CSV, duty_rows, markdown, whole_model_gemm_regimes

COMPUTE_FLOPS = 10e9  # shapes above this many FLOPs are compute-bound on the H200 (>= 13 us at peak)


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return duty_rows()


def test_committed_data_records_device_versions_and_a_correct_product():
    meta = json.loads(measurement("h200", "h200-gemm-duty-meta-2026-12-01.json").read_text())
    assert meta["device_name"] == "NVIDIA H200" and meta["driver"] and meta["torch"] and meta["date_utc"]
    assert not meta["smoke"] and not meta["skipped"]
    with open(measurement("h200", DUTY_CSV), newline="") as fh:
        data = list(csv.DictReader(fh))
    assert {r["pattern"] for r in data} == {"burst", "duty_0", "duty_1", "duty_3"}
    assert len(data) == 4 * len(meta["ran"])
    assert all(float(r["check_rel_err"]) < 1e-2 for r in data)  # bf16 operands against a float64 reference


def test_gemms_between_copies_run_at_their_burst_time_and_back_to_back_slower(rows):
    by = {(r["shape"], r["pattern"]): r["measured_s"] for r in rows}
    for shape in {r["shape"] for r in rows}:
        if 2.0 * shape[0] * shape[1] * shape[2] < COMPUTE_FLOPS:
            continue
        burst = by[(shape, "burst")]
        assert abs(by[(shape, "duty_1")] / burst - 1.0) < 0.03
        assert abs(by[(shape, "duty_3")] / burst - 1.0) < 0.03
        assert by[(shape, "duty_0")] > 1.08 * burst  # the sustained controller acted


def test_burst_regime_prices_compute_bound_gemms_between_copies(rows):
    between = [r for r in rows if r["pattern"] in ("burst", "duty_1", "duty_3")
               and 2.0 * r["shape"][0] * r["shape"][1] * r["shape"][2] >= COMPUTE_FLOPS]
    assert len(between) >= 15
    assert max(abs(r["burst_error"]) for r in between) < 0.07
    assert all(r["sustained_s"] >= r["burst_s"] for r in rows)
    assert sum(r["sustained_error"] for r in between) / len(between) > 0.04  # the per-launch 700 W price is slow


def test_whole_model_what_if_lists_dense_prefills_and_the_tables_render():
    wm = whole_model_gemm_regimes()
    assert wm and all(r["measured_s"] > 0 and r["burst_s"] <= r["sustained_s"] for r in wm)
    assert not any("mixtral" in r["model"] for r in wm)
    assert ("blind-2", "r001") in {(r["set"], r["run_id"]) for r in wm}
    md = markdown()
    assert "NOT a fit" in md and md.count("\n| ") >= len(wm)
