"""The Ray engine runs the same tasks as the local pool and gives the same table."""

from __future__ import annotations

import pandas as pd
import pytest
from sweep_data import N_DROPPED, N_POINTS

from archsim.sweep.runner import run_sweep


def test_ray_equals_local(small_sweep, tmp_path):
    pytest.importorskip("ray")
    local = run_sweep(small_sweep, tmp_path / "local", engine="local", workers=2)
    on_ray = run_sweep(small_sweep, tmp_path / "ray", engine="ray", workers=2)
    assert on_ray.engine["engine"] == "ray" and on_ray.engine["ray_address"] == "local"
    assert (on_ray.ok, on_ray.failed, on_ray.dropped) == (local.ok, local.failed, local.dropped)
    a = pd.read_parquet(tmp_path / "local" / "results.parquet")
    b = pd.read_parquet(tmp_path / "ray" / "results.parquet")
    assert len(a) == N_POINTS - N_DROPPED
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    import ray

    assert not ray.is_initialized()  # the local Ray the sweep started is shut down again
