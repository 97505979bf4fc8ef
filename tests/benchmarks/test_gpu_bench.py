"""Prediction speed of the GPU model (target: <= 50 ms per kernel on the 2-core CI machine).

Prints milliseconds per prediction; never asserts on time (run with ``-m benchmark -s``).
"""

from __future__ import annotations

import time

import pytest

from archsim.gpu.predict import _rates, predict_attention, predict_gemm

CASES = {
    "flash2 prefill b1 h32 s16k d128 causal": lambda: predict_attention(
        "h100-sxm", "flash2", batch=1, heads=32, seq_q=16384, head_dim=128, causal=True),
    "triton-flash prefill b4 h32 s4k d64": lambda: predict_attention(
        "h100-sxm", "triton-flash", batch=4, heads=32, seq_q=4096, head_dim=64),
    "cudnn prefill b2 h40/8 s12k d128 causal": lambda: predict_attention(
        "h100-sxm", "cudnn", batch=2, heads=40, kv_heads=8, seq_q=12288, head_dim=128, causal=True),
    "naive b4 h32 s4k d64 causal": lambda: predict_attention(
        "h100-sxm", "naive", batch=4, heads=32, seq_q=4096, head_dim=64, causal=True),
    "flash2 decode b64 h32/8 kv64k": lambda: predict_attention(
        "h100-sxm", "flash2", batch=64, heads=32, kv_heads=8, seq_q=1, seq_kv=65536, head_dim=128),
    "flash-decoding b8 h32/8 kv16k": lambda: predict_attention(
        "h100-sxm", "flash-decoding", batch=8, heads=32, kv_heads=8, seq_q=1, seq_kv=16384, head_dim=128,
        config={"num_splits": 8}),
    "cublas 8192^3": lambda: predict_gemm("h100-sxm", m=8192, n=8192, k=8192),
    "cublas 1x4096x4096": lambda: predict_gemm("h100-sxm", m=1, n=4096, k=4096),
    "triton-gemm 4096^3": lambda: predict_gemm("h100-sxm", m=4096, n=4096, k=4096, impl="triton-gemm"),
}


@pytest.mark.benchmark
@pytest.mark.parametrize("name", list(CASES))
def test_prediction_time(name):
    _rates("h100-sxm")  # preset loading is once per process, not per prediction
    fn = CASES[name]
    fn()
    reps = 20
    t0 = time.perf_counter()
    for _ in range(reps):
        pred = fn()
    ms = (time.perf_counter() - t0) / reps * 1e3
    print(f"\n{name}: {ms:.2f} ms per prediction (latency {pred.latency_s * 1e6:.1f} us, {pred.bound})")
    assert pred.latency_s > 0
