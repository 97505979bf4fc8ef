"""ServerCost's measured decode glue (campaigns/decode_micro.py ``glue`` part)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from archsim import presets
from archsim.serving.server_cost import ServerCost, ServerSpec, glue_s, shape_of


def test_glue_interpolates_between_measured_batches_and_clamps():
    tab = {"op": [(1, 2e-6), (4, 5e-6), (8, 5e-6)]}
    assert glue_s(tab, "op", 1) == pytest.approx(2e-6)
    assert glue_s(tab, "op", 2) == pytest.approx(3e-6)
    assert glue_s(tab, "op", 64) == pytest.approx(5e-6)


@pytest.fixture(scope="module")
def costs():
    shape = shape_of(presets.load_model("llama-2-7b"), 8)
    on = ServerCost(shape, ServerSpec(prefill_host="cuda-graph"))
    off = ServerCost(shape, replace(on.spec, measured_glue=False))
    return on, off


def test_measured_glue_adds_the_engines_own_kernels(costs):
    on, off = costs
    assert len(on.decode_kernels(16)) == len(off.decode_kernels(16)) + 3  # length mask, argmax, token copy


def test_measured_glue_prices_the_step_above_the_generic_profile_at_batch_16(costs):
    on, off = costs
    extra = sum(on.decode_kernels(16)) - sum(off.decode_kernels(16))
    # the 1-CTA mean (17 x ~9 us), the index_put cache writes (16 x ~3.5 us), the argmax (~9 us) exceed the
    # generic pricing; the difference is tens of microseconds, not more than the measured step's glue
    assert 30e-6 < extra < 200e-6


def test_every_plain_decode_glue_kernel_has_a_measured_op():
    from archsim.gpu.stacks import Step, sequence
    from archsim.serving.server_cost import measured_op

    shape = shape_of(presets.load_model("llama-2-7b"), 8)
    names = {k.name for k in sequence(shape, Step(phase="decode", batch=16, seq_len=1, context=319), "plain",
                                      "cuda-graph") if not (k.gemm or k.attention)}
    assert names and all(measured_op(n) is not None for n in names), sorted(n for n in names if not measured_op(n))


def test_decode_anatomy_gemms_match_the_profile_and_kernel_counts_line_up(costs):
    from archsim.serving.server_check import decode_anatomy

    on, _ = costs
    rows = decode_anatomy(on)
    assert [r["bucket"] for r in rows] == list(on.spec.buckets)
    for r in rows:
        m, p = r["measured"], r["model"]
        assert abs(p["gemm"] / m["gemm"] - 1.0) < 0.03  # cuBLAS GEMV/GEMM model within 3 % of the profile
        assert 0 <= m["n"] - p["n"] <= 16  # the profile adds the split-K reduces (8 per step below batch 56)
