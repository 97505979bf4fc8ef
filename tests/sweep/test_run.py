"""Running sweeps on the local process pool: rows, failures, resume, refusal of a foreign folder."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from sweep_data import N_DROPPED, N_INVALID, N_OK, N_POINTS, N_RUNTIME_FAIL

import archsim
from archsim.errors import ConfigError
from archsim.schemas.hardware import Hardware
from archsim.schemas.workload import Workload
from archsim.sweep.plan import load_plan
from archsim.sweep.runner import run_sweep


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One local run of the small sweep (2 workers), shared by the tests below."""
    from sweep_data import SMALL_SWEEP

    folder = tmp_path_factory.mktemp("sweep")
    path = folder / "small.yaml"
    path.write_text(SMALL_SWEEP)
    summary = run_sweep(path, folder / "out", workers=2)
    return path, folder / "out", summary


def test_counts_and_rows(finished):
    _, out, summary = finished
    assert (summary.points, summary.ok, summary.dropped) == (N_POINTS, N_OK, N_DROPPED)
    assert summary.failed == N_INVALID + N_RUNTIME_FAIL
    frame = pd.read_parquet(out / "results.parquet")
    assert len(frame) == N_POINTS - N_DROPPED  # one row per kept point, dropped ones have none
    assert frame["point"].is_unique and list(frame["point"]) == sorted(frame["point"])
    assert list(frame.columns[:4]) == ["point", "config_hash", "status", "error"]
    for col in ("workload.layers[0].seq_q", "hw.memory.hbm.bandwidth_bytes_per_s", "backend",
                "latency_s", "energy_j", "utilization", "bound", "bytes_hbm", "capex_usd"):
        assert col in frame.columns, col
    failed = frame[frame["status"] == "error"]
    runtime = failed[failed["backend"] == "fpga"]
    assert len(runtime) == N_RUNTIME_FAIL
    assert runtime["error"].str.contains("backend 'fpga' does not simulate family 'gpu'").all()
    assert failed[failed["workload.layers[0].kv_heads"] == 3]["error"].str.contains("does not divide").all()
    ok = frame[frame["status"] == "ok"]
    assert (ok["latency_s"] > 0).all() and (ok["energy_j"] > 0).all() and ok["error"].eq("").all()
    meta = json.loads((out / "sweep.json").read_text())
    assert meta["state"] == "done" and meta["summary"]["failed"] == N_INVALID + N_RUNTIME_FAIL
    assert len(meta["dropped_points"]) == N_DROPPED
    assert all("short enough" in d["reason"] for d in meta["dropped_points"])


def test_row_values_equal_a_direct_simulation(finished):
    path, out, _ = finished
    frame = pd.read_parquet(out / "results.parquet").set_index("point")
    plan = load_plan(path)
    from pydantic import TypeAdapter

    for point in [p for p in plan.points if p.status == "run"][:3]:
        wl = TypeAdapter(Workload).validate_python(point.config["workload"])
        hw = TypeAdapter(Hardware).validate_python(point.config["hardware"])
        if point.config["backend"] != "roofline":
            continue
        direct = archsim.simulate(wl, hw, backend="roofline")
        assert frame.loc[point.index, "latency_s"] == direct.latency_s
        assert frame.loc[point.index, "energy_j"] == direct.energy_j
        assert frame.loc[point.index, "config_hash"] == point.config_hash


def test_rerun_resumes_nothing_to_do(finished):
    path, out, _ = finished
    before = pd.read_parquet(out / "results.parquet")
    again = run_sweep(path, out, workers=2)
    assert again.ran == 0 and again.resumed == N_POINTS - N_DROPPED
    pd.testing.assert_frame_equal(before, pd.read_parquet(out / "results.parquet"))


def test_retry_failed_reruns_only_failures(finished, tmp_path):
    path, out, _ = finished
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    again = run_sweep(path, copy, workers=1, retry_failed=True)
    assert again.ran == N_RUNTIME_FAIL and again.failed == N_INVALID + N_RUNTIME_FAIL


def test_other_sweep_into_same_folder_is_refused(finished, tmp_path):
    path, out, _ = finished
    other = tmp_path / "other.yaml"
    other.write_text(path.read_text().replace("[2.0e12, 3.35e12]", "[2.0e12, 4.0e12]"))
    with pytest.raises(ConfigError, match="holds results of a different sweep"):
        run_sweep(other, out, workers=1)


def test_bad_engine_and_workers(small_sweep, tmp_path):
    with pytest.raises(ConfigError, match="unknown engine 'dask'; valid: local, ray"):
        run_sweep(small_sweep, tmp_path / "o", engine="dask")
    with pytest.raises(ConfigError, match="--workers must be >= 1"):
        run_sweep(small_sweep, tmp_path / "o", workers=0)
