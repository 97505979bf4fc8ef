"""cuDNN SDPA with a bias (a masked SDPA) in the GPU kernel model, against the masked-SDPA microbenchmark."""

from __future__ import annotations

import pytest

from archsim.gpu.kernels import cudnn
from archsim.gpu.kernels_masked import (
    CUDNN_PREFILL_BIAS_TILE_FACTOR,
    bool_mask_to_bias_glue,
    cudnn_bias,
    microbenchmark_rows,
)


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return microbenchmark_rows()


def test_microbenchmark_names_cudnn_for_every_masked_call(rows):
    assert len(rows) >= 40
    for r in rows:
        assert "cudnn_generated_fort_native_sdpa" in r["kernels"], r


def test_prefill_bias_slowdown_matches_microbenchmark(rows):
    pre = [r for r in rows if r["seq_q"] > 16]
    assert len(pre) >= 6
    for r in pre:
        meas = r["measured_bias_us"] / r["measured_none_us"]
        model = r["model_bias_us"] / r["model_none_us"]
        assert meas > 1.5 and abs(model / meas - 1.0) < 0.15, r
        assert abs(r["model_bias_us"] / r["measured_bias_us"] - 1.0) < 0.2, r


def test_decode_bias_costs_bytes_not_a_factor(rows):
    dec = [r for r in rows if r["seq_q"] == 1]
    for r in dec:
        assert r["model_bias_us"] >= r["model_none_us"]
        assert r["model_bias_us"] / r["model_none_us"] < 1.02  # measured 0.99-1.17, under 1 % at large grids
    s = dict(batch=8, heads=32, kv_heads=32, seq_q=1, seq_kv=4096, head_dim=128, causal=False, dtype="bf16")
    base, bias = cudnn(s, sm_count=132)[0], cudnn_bias(s, sm_count=132)[0]
    extra = bias.total("hbm_bytes") - base.total("hbm_bytes")
    assert extra == pytest.approx(8 * 4096 * 2, rel=0.05)  # one bf16 bias row per batch, shared by the heads


def test_prefill_factor_scales_the_tile_work():
    s = dict(batch=1, heads=12, kv_heads=12, seq_q=4096, seq_kv=4096, head_dim=64, causal=False, dtype="bf16")
    base, bias = cudnn(s, sm_count=132)[0], cudnn_bias(s, sm_count=132)[0]
    assert bias.total("mma_flops") == pytest.approx(base.total("mma_flops") * CUDNN_PREFILL_BIAS_TILE_FACTOR)
    assert bias.total("l2_bytes") - base.total("l2_bytes") == pytest.approx(12 * 4096 * 4096 * 2, rel=0.01)


def test_bool_mask_conversion_kernels():
    g = bool_mask_to_bias_glue(16, 1, 320)
    assert [n for n, *_ in g] == ["sdpa_mask_fill_0", "sdpa_mask_fill_1", "sdpa_mask_select"]
    assert all(r == w == 2 * 16 * 320 for _, _, r, w in g)


def test_server_decode_prices_the_mask():
    from archsim.gpu.stacks import ModelShape
    from archsim.serving.server_cost import ServerCost, ServerSpec
    shape = ModelShape(name="llama-2-7b-l2", hidden=4096, heads=32, kv_heads=32, ffn=11008, vocab=32000, layers=2)
    masked = ServerCost(shape, ServerSpec()).decode_kernels(8)
    plain = ServerCost(shape, ServerSpec(decode_attention="cudnn")).decode_kernels(8)
    assert len(masked) == len(plain) + 3 * 2
    assert sum(masked) > sum(plain)
