"""Lamina under load: fused mixed iterations against their limits, the per-config cost, prices in one place,
and one small capacity search on the real models (Little's law on every probe)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from archsim import presets
from archsim.offload import under_load
from archsim.offload.lamina import homogeneous, offloaded
from archsim.offload.serving import decode_iteration, mixed_iteration, prefill
from archsim.serving.requests import Request
from archsim.serving.schedulers import Iteration


@pytest.fixture(scope="module")
def setup():
    h100, h20 = presets.load_hardware("h100-sxm"), presets.load_hardware("h20")
    return presets.load_model("llama-3-70b"), homogeneous(h100, 4), offloaded(h100, 2, h20, 8)


def test_prefill_only_iteration_is_the_prefill_model(setup):
    model, homo, _ = setup
    for tokens in (64, 512, 2048):
        assert mixed_iteration(model, homo, 0, 0, tokens, 1).time_s == pytest.approx(
            prefill(model, homo, tokens, 1).compute_s, rel=1e-12)


def test_fusion_costs_between_decode_alone_and_decode_plus_prefill(setup):
    model, homo, off = setup
    assert mixed_iteration(model, off, 64, 2048, 0, 0).time_s == decode_iteration(model, off, 64, 2048).time_s
    for cfg in (homo, off):
        for batch, ctx, tokens in ((8, 1024, 512), (128, 4096, 512), (512, 2048, 64)):
            mixed = mixed_iteration(model, cfg, batch, ctx, tokens, 1).time_s
            decode = decode_iteration(model, cfg, batch, ctx).time_s
            serial = decode + mixed_iteration(model, cfg, 0, 0, tokens, 1).time_s
            assert decode < mixed <= serial * (1 + 1e-12)


def test_offloaded_chunk_kv_crosses_the_link(setup):
    model, _, off = setup
    alone = mixed_iteration(model, off, 32, 1024, 0, 0)
    with_chunk = mixed_iteration(model, off, 32, 1024, 512, 1)
    # the chunk's new K/V rows: 512 tokens x 2 x kv_heads x head_dim x 2 B per layer, shared by the 2 micro-batches
    extra = 2 * model.num_layers * 256 * 2 * model.kv_heads * model.dhead * 2
    assert with_chunk.offload_bytes - alone.offload_bytes == pytest.approx(extra, rel=1e-12)


def test_config_cost_uses_the_fused_iteration_rounded_up(setup):
    model, _, off = setup
    cost = under_load.ConfigCost(model, off)
    it = Iteration("engine")
    a, b = Request(0, 0.0, 1000, 10), Request(1, 0.0, 300, 10)
    a.cached_tokens = 1001
    it.add_decode(a)  # context 1000
    it.add_prefill(b, 300)
    serial = replace(off, micro_batches=1)
    exact = min(mixed_iteration(model, c, 1, 1000, 300, 1).time_s for c in (serial, off))
    rounded = min(mixed_iteration(model, c, 1, 1024, 320, 1).time_s for c in (serial, off))
    assert cost(it) == pytest.approx(rounded, rel=1e-12) and cost(it) >= exact
    decode_only = Iteration("engine")
    decode_only.add_decode(a)
    # decode-only: linear between the 128-token context grid points around 1000 (the GPU model's attention is
    # piecewise in the context, 128-key tiles, so the exact context is not the interpolation)
    c0, c1 = cost.buckets.context_grid(1000)
    t0, t1 = (min(decode_iteration(model, c, 1, x).time_s for c in (serial, off)) for x in (c0, c1))
    assert (c0, c1) == (896, 1024)
    assert cost(decode_only) == pytest.approx(t0 + (1000 - c0) / (c1 - c0) * (t1 - t0), rel=1e-12)
    assert cost(decode_only) == pytest.approx(decode_iteration(model, off, 1, 1000).time_s, rel=2e-3)


def test_offloaded_iterations_take_the_faster_micro_batch_count(setup):
    """Small batches run serially (two micro-batches would read the weights twice); large ones pipelined."""
    model, _, off = setup
    cost = under_load.ConfigCost(model, off)
    serial = replace(off, micro_batches=1)
    small, large = (8, 1024), (512, 4096)
    assert cost.decode_s(*small) == decode_iteration(model, serial, *small).time_s
    assert decode_iteration(model, serial, *small).time_s < decode_iteration(model, off, *small).time_s
    assert cost.decode_s(*large) == decode_iteration(model, off, *large).time_s
    assert decode_iteration(model, off, *large).time_s < decode_iteration(model, serial, *large).time_s


def test_prices_come_from_one_labelled_table(setup):
    _, homo, off = setup
    assert under_load.price_usd_per_hour(homo) == 4 * presets.load_hardware("h100-sxm").cost.rental_usd_per_hour
    assert under_load.price_usd_per_hour(off) == pytest.approx(2 * 2.5 + 8 * 0.9)
    assert all("assumption" in label for label in under_load.PRICE_LABELS.values())
    a100 = presets.load_hardware("a100-sxm")
    with pytest.raises(ValueError, match="no labelled price"):
        under_load.price_usd_per_hour(homogeneous(a100, 2))


def test_small_capacity_search_on_the_real_models(setup):
    model, homo, _ = setup
    r = under_load.row(model, homo, "chat", duration_s=5.0, min_requests=30)
    assert r["capacity_qps"] > 0 and r["fail_qps"] > r["capacity_qps"]
    assert all(p["little_gap"] < 1e-9 for p in r["probes"])
    assert r["tokens_per_usd"] == pytest.approx(r["goodput_tokens_per_s"] * 3600 / r["usd_per_hour"], rel=1e-12)
    assert r["attainment"] >= under_load.TARGET
