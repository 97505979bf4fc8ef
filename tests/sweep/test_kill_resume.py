"""kill -9 in the middle of a sweep, rerun: no point lost, none duplicated, identical values."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from archsim.sweep.runner import run_sweep

REPO = Path(__file__).resolve().parents[2]
SWEEP = REPO / "workloads" / "sweeps" / "accelerator-attention-dse.yaml"  # 1,000 points, 990 run


def _rows(path: Path) -> int:
    try:
        return pq.ParquetFile(path).metadata.num_rows
    except (OSError, ValueError):
        return 0  # not there yet


def test_sigkill_then_rerun_resumes_exactly(tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "archsim", "sweep", str(SWEEP), "--out", str(out), "--workers", "2",
         "--checkpoint-s", "0.05", "--no-report"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    results = out / "results.parquet"
    deadline = time.monotonic() + 60
    try:
        while _rows(results) == 0 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)  # kill -9 the sweep process itself
        proc.wait(timeout=10)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # and its pool workers (same session), if still alive
        except ProcessLookupError:
            pass
    assert proc.returncode == -signal.SIGKILL, "the sweep finished before it could be killed"
    partial = pd.read_parquet(results)  # a complete, readable table even after kill -9
    assert 0 < len(partial) < 990
    print(f"killed with {len(partial)} of 990 rows in results.parquet")
    assert partial["point"].is_unique

    resumed = run_sweep(SWEEP, out, workers=2)
    assert resumed.resumed == len(partial) and resumed.ran == 990 - len(partial)
    assert resumed.ok == 990 and resumed.dropped == 10

    clean = run_sweep(SWEEP, tmp_path / "clean", workers=2)
    assert clean.ran == 990
    after = pd.read_parquet(results)
    reference = pd.read_parquet(tmp_path / "clean" / "results.parquet")
    assert after["point"].is_unique and len(after) == 990
    pd.testing.assert_frame_equal(after, reference, check_exact=True)
    # the rows written before the kill are untouched by the resume
    pd.testing.assert_frame_equal(partial, after[after["point"].isin(partial["point"])].reset_index(drop=True),
                                  check_exact=True)
