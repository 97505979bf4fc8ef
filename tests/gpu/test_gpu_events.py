"""The event-driven twin (archsim.engine components) agrees with the analytical launch model."""

from __future__ import annotations

import pytest

from archsim.engine import Timeline
from archsim.gpu import kernels as K
from archsim.gpu.events import play_launch
from archsim.gpu.predict import _rates, predict_attention

RATES = _rates("h100-sxm")


def shape(**kw):
    s = {"batch": 2, "heads": 16, "kv_heads": 16, "seq_q": 2048, "seq_kv": 2048, "head_dim": 128, "causal": False,
         "dtype": "bf16"}
    s.update(kw)
    return s


@pytest.mark.parametrize("name,spec", [
    ("fa2 causal prefill (list schedule, 5 CTA classes)", K.flash2(shape(causal=True), sm_count=132)[0]),
    ("fa2 split-KV decode (HBM-bound)", K.fa2_decode(shape(batch=8, kv_heads=8, seq_q=1, seq_kv=32768), "x", 132)[0]),
    ("our flash-decoding, 32 CTAs (Little's law)", K.flash_decoding(shape(batch=1, heads=32, kv_heads=8, seq_q=1,
                                                                         seq_kv=16384))[0]),
    ("cuBLAS 2048^3 (compute)", K.cublas_gemm(2048, 2048, 2048, "bf16", RATES)[0]),
    ("GEMV (few CTAs, HBM)", K.cublas_gemm(1, 4096, 4096, "bf16", RATES)[0]),
])
def test_event_engine_within_6_percent_of_the_analytical_model(name, spec):
    res = play_launch(spec, RATES)
    assert res.events_ctas == spec.grid
    assert abs(res.gap) < 0.06, f"{name}: events {res.time_s:.3e} s vs analytical {res.analytical_s:.3e} s"


def test_event_timeline_has_one_span_per_cta():
    obs = Timeline()
    spec = K.flash2(shape(batch=1, heads=4, kv_heads=4, seq_q=1024, seq_kv=1024), sm_count=132)[0]
    play_launch(spec, RATES, observer=obs)
    trace = obs.to_chrome_trace()
    assert sum(1 for e in trace["traceEvents"] if e.get("name") == spec.name) == spec.grid


def test_prediction_event_check_reports_the_gap():
    pred = predict_attention("h100-sxm", "flash2", batch=4, heads=8, kv_heads=2, seq_q=1, seq_kv=8192, head_dim=128)
    check = pred.event_check(RATES)
    assert abs(check["gap_vs_analytical"]) < 0.06 and len(check["launches"]) == len(pred.launches)
