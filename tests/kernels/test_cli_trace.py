"""``archsim trace``: JSON on good input, a clear message and exit 2 on bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("torch")
pytest.importorskip("triton")


def _archsim(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from archsim.cli import main; main()", *args],
                          capture_output=True, text=True, check=False)


def test_trace_flash_attention_prints_json_matching_formula():
    done = _archsim("trace", "flash_attention", "--batch", "1", "--heads", "4", "--kv-heads", "2", "--seq-q", "100",
                    "--seq-kv", "160", "--head-dim", "64", "--causal", "--dtype", "bf16", "--block-m", "32",
                    "--block-n", "32", "--formula")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["formula_matches_trace"] is True
    assert out["grid"] == [4, 4, 1]
    assert out["block_sizes"]["BLOCK_M"] == 32
    assert out["flops"] == out["matmul_flops"] + out["elementwise_flops"] > 0
    assert out["transcendentals"] > 0 and out["bytes_loaded"] > 0 and out["bytes_stored"] == 100 * 4 * 64 * 2
    assert out["useful"]["matmul_flops"] < out["matmul_flops"]  # causal: masked tile lanes are executed


@pytest.mark.parametrize("args,message", [
    (["trace", "flash_attention", "--heads", "6", "--kv-heads", "4"], "multiple of kv_heads"),
    (["trace", "flash_attention", "--seq-q", "-5"], "Invalid value for '--seq-q'"),
    (["trace", "no_such_kernel"], "unknown kernel 'no_such_kernel'"),
    (["trace", "gemm", "--causal"], "takes no parameter(s) ['causal']"),
    (["trace", "flash_attention", "--dtype", "fp8"], "'fp8' is not one of fp16, bf16, fp32"),
])
def test_trace_bad_flags_exit_2_without_traceback(args, message):
    done = _archsim(*args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_trace_numba_kernels_print_measured_and_formula():
    done = _archsim("trace", "pim_gemv", "--m", "300", "--n", "700", "--channels", "2", "--banks-per-channel", "4")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["formula_matches_measured"] is True and out["units"] == 8 and out["chunks_per_row"] == 2
    assert out["max_rel_error_vs_float64"] < 1e-5
    done = _archsim("trace", "numba_attention", "--seq-q", "40", "--seq-kv", "90", "--causal", "--heads", "2")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["formula_matches_measured"] is True
    done = _archsim("trace", "pim_gemv", "--channels", "0")
    assert done.returncode == 2 and "Invalid value for '--channels'" in done.stderr
