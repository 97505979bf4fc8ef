"""Output folders to build reports from: a real `archsim run` result and a real sweep."""

from __future__ import annotations

from pathlib import Path

import pytest

import archsim
from archsim.reporting.run_folder import write_run
from archsim.sweep.runner import run_sweep

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory) -> Path:
    result = archsim.simulate(str(REPO / "workloads" / "llama2-7b-serving.yaml"), "h100-sxm")
    return write_run(result, tmp_path_factory.mktemp("run") / "out", report=False)


@pytest.fixture(scope="session")
def sweep_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sweep") / "out"
    run_sweep(REPO / "workloads" / "sweeps" / "gpu-attention-bandwidth.yaml", out, workers=1)
    return out
