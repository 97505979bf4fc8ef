"""The blind host-bound power round (issue 22): committed predictions, the measured pairing, host states."""

import json

import pytest

from archsim.data import measurement
from archsim.gpu import energy_host_blind as eb


def test_committed_points_are_the_module_points_and_were_made_before_the_measurement():
    doc = eb.committed()
    assert doc["points"] == eb.POINTS
    assert [p["bench"] for p in doc["predictions"]] == [p["bench"] for p in eb.POINTS]
    for _, meta_name in eb.RUNS.values():
        meta = json.loads(measurement("h200", meta_name).read_text())
        assert meta["points_model_commit"] == doc["model_commit"]  # the campaign read this very file
        assert doc["date_utc"] < meta["date_utc"]


def test_host_state_classes():
    assert eb.host_state({"probe_before_us": "3000", "probe_after_us": "3100"}) == "fast"
    assert eb.host_state({"probe_before_us": "5000", "probe_after_us": "4500"}) == "slow"
    assert eb.host_state({"probe_before_us": "3000", "probe_after_us": "5000"}) == "changed"
    assert eb.host_state({"probe_before_us": "", "probe_after_us": "3000"}) == "unknown"
    assert eb.host_state({}) == "unknown"


@pytest.fixture(scope="module")
def rows():
    from archsim.gpu.devices import device_calibration
    return eb.compare(device_calibration("h200"))


def test_every_measured_window_pairs_with_its_committed_prediction(rows):
    doc = eb.committed()
    blind = {p["bench"]: p for p in doc["predictions"]}
    assert len(rows) == 2 * len(eb.RUNS) * len(eb.POINTS)  # two passes per run, nothing skipped
    assert {(r["run"], r["pass"]) for r in rows} == {(run, p) for run in eb.RUNS for p in "ab"}
    for r in rows:
        b = blind[r["bench"]]
        power = b["modeled_energy_j"] / b["modeled_wall_s"]
        assert r["blind_power_w"] == pytest.approx(power)
        assert r["blind_power_error"] == pytest.approx((power - r["measured_power_w"]) / r["measured_power_w"])
        assert r["regime"] in ("compute", "memory", "host")
        assert r["host_state"] in ("fast", "slow", "changed")


def test_gemm_gap_prediction_is_dispatch_kernel_plus_gap_at_static_power(rows):
    from archsim.gpu.devices import device_calibration
    from archsim.gpu.predict import predict_gemm
    from archsim.gpu.wholemodel import KernelPricer
    cal = device_calibration("h200")
    r = next(r for r in rows if r["bench"].startswith("gemm_bf16_m8_") and r["run"] == "r2")
    p = predict_gemm("h200", m=8, n=8192, k=8192, rates=cal.rates)
    dyn = sum(v for ln in p.launches for k, v in ln.energy_by_part.items() if k != "static")
    # the host dispatches the matmul (the microbenchmarked per-call cost of a linear, at the host-speed point probe:
    # archsim.gpu.host_speed), then the kernel runs
    from archsim.gpu.host_speed import h200_host_speed
    f = h200_host_speed().factor("gemm-sync")
    wall = cal.host.per_kernel["linear"] * f + KernelPricer(cal).launches_s(p.launches) + 2e-4
    assert cal.host.per_kernel["linear"] > 5e-6
    assert r["modeled_wall_s"] == pytest.approx(wall)
    assert r["modeled_energy_j"] == pytest.approx(dyn + cal.rates.power.static_w * wall)
    assert r["regime"] == "host"


def test_burst_gemm_rows_compare_the_same_kernel_in_two_regimes(rows):
    from archsim.gpu.devices import device_calibration
    got = eb.burst_gemm_energy(device_calibration("h200"), rows)
    assert {b.split(" ")[0] for b, _, _ in got} == {"gemm_bf16_m8192_n8192_k8192_then_1000us_spin",
                                                    "gemm_bf16_m4096_n4096_k4096_then_500us_spin"}
    for _, duty, capped in got:
        assert duty > 0 and capped > 0


def test_section_reports_blind_and_current_figures():
    from archsim.gpu.devices import device_calibration
    from archsim.gpu.power_validation import summarise
    md, data = eb.section(device_calibration("h200"), summarise)
    text = "\n".join(md)
    assert "Blind host-bound round" in text and eb.PREDICTIONS in text
    n = data["summary_blind"]["by_regime"]["host"]["n"]
    assert n == data["summary_now"]["by_regime"]["host"]["n"] > 0
    assert f"| host | {n} |" in text
    assert sum(data["per_run"][run]["now"]["by_regime"]["host"]["n"] for run in eb.RUNS) == n


@pytest.mark.parametrize("name", ["vf", "window", "stream", "probe"])
def test_later_rounds_were_committed_before_they_were_measured_and_pair_window_by_window(name):
    from archsim.gpu.devices import device_calibration
    points, predictions, runs = eb.ROUNDS[name]
    doc = eb.committed(predictions)
    assert doc["points"] == points and doc["round"] == name
    for _, meta_name in runs.values():
        meta = json.loads(measurement("h200", meta_name).read_text())
        assert meta["points_model_commit"] == doc["model_commit"] and doc["date_utc"] < meta["date_utc"]
        assert not meta["skipped_for_budget"]
    got = eb.compare(device_calibration("h200"), round_name=name)
    assert len(got) == 2 * len(runs) * len(points)
    blind = {p["bench"]: p for p in doc["predictions"]}
    for r in got:  # the committed column is the file's prediction, not the model now
        assert r["blind_power_w"] == pytest.approx(blind[r["bench"]]["modeled_energy_j"]
                                                   / blind[r["bench"]]["modeled_wall_s"])
