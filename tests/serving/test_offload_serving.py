"""Attention offloading (Lamina) on the serving simulator: iteration costs are archsim.offload.serving's."""

from __future__ import annotations

import pytest

from archsim import presets
from archsim.errors import ConfigError
from archsim.offload.serving import decode_iteration, max_batch, prefill
from archsim.offload.system import config_from_system
from archsim.schemas.workload import Workload
from archsim.serving.offload_cost import OffloadCost
from archsim.serving.requests import Lengths
from archsim.serving.scenario import serve
from archsim.serving.schedulers import Iteration

WORKLOAD = Workload.model_validate({"name": "l70", "model": "llama-3-70b", "dtype": "bf16",
                                    "phases": [{"phase": "decode", "batch": 1, "context_len": 1}]})


@pytest.fixture(scope="module")
def lamina():
    return presets.load_hardware("lamina-h100-h20")


def test_costs_are_the_offload_models(lamina):
    model = presets.resolve_model(WORKLOAD)
    cfg = config_from_system(lamina)
    cost = OffloadCost(model, lamina, "bf16")
    assert cost.decode_s(40, 1024) == pytest.approx(decode_iteration(model, cfg, 40, 1024, "bf16").time_s, rel=1e-12)
    assert cost.prefill_s(1, 512) == pytest.approx(prefill(model, cfg, 512, 1, "bf16").ttft_s, rel=1e-12)
    assert cost.kv_blocks(16) == max_batch(model, cfg, 16, "bf16")
    # between context grid points (128 tokens) the decode cost is linear
    a = decode_iteration(model, cfg, 40, 1024, "bf16").time_s
    b = decode_iteration(model, cfg, 40, 1152, "bf16").time_s
    assert cost.decode_s(40, 1100) == pytest.approx(a + (1100 - 1024) / 128 * (b - a), rel=1e-12)
    with pytest.raises(ConfigError, match="not a positive number"):
        cost(Iteration("engine"))  # an empty iteration has no cost: a bug upstream, not a zero


def test_serving_on_lamina_runs_and_prices_the_system(lamina):
    sc = serve(WORKLOAD, lamina, load_qps=3, duration_s=10, seed=1, usd_per_hour=12.0,
               prompt=Lengths(kind="fixed", value=512), output=Lengths(kind="fixed", value=16))
    s = sc.summary
    assert s["requests"] > 10 and s["littles_law"]["whole_run_rel_gap"] < 1e-9
    tokens = sum(r.output_tokens for r in sc.run.requests)
    assert s["cost"]["devices"] == 1  # the price is one system-hour's
    assert s["cost"]["usd_per_million_output_tokens"] == pytest.approx(12.0 * sc.run.end_s / 3600 / tokens * 1e6)
    assert s["kv_cache"]["blocks_per_worker"] == max_batch(presets.resolve_model(WORKLOAD),
                                                           config_from_system(lamina), 16, "bf16")


def test_offloading_refuses_a_parallel_section(lamina):
    wl = WORKLOAD.model_copy(update={"parallel": WORKLOAD.parallel.model_copy(update={"tensor": 2})})
    with pytest.raises(ConfigError, match="without a parallel section"):
        serve(wl, lamina, load_qps=1, duration_s=1)


def test_mixed_iterations_are_fused(lamina):
    """Prefill chunks with decode tokens: one fused pass (archsim.offload.serving.mixed_iteration), dearer than the
    decode batch alone and at most prefill + decode one after the other; a prefill-only iteration is the prefill
    model, a decode-only one the decode model (token counts on the bucket grid: exact)."""
    from archsim.offload.serving import mixed_iteration
    from archsim.serving.requests import Request

    model = presets.resolve_model(WORKLOAD)
    cfg = config_from_system(lamina)
    cost = OffloadCost(model, lamina, "bf16")
    for batch, ctx, tokens in ((8, 1024, 512), (128, 4096, 512), (512, 2048, 64)):
        it = Iteration("engine")
        for i in range(batch):
            r = Request(i, 0.0, ctx, 10)
            r.cached_tokens = ctx + 1  # the new token's slot is reserved: context ctx
            it.add_decode(r)
        it.add_prefill(Request(batch, 0.0, tokens, 10), tokens)
        mixed = cost(it)
        assert mixed == pytest.approx(mixed_iteration(model, cfg, batch, ctx, tokens, 1, 0, "bf16").time_s, rel=1e-12)
        decode = decode_iteration(model, cfg, batch, ctx, "bf16").time_s
        serial = cost.prefill_s(1, tokens) + cost.decode_s(batch, ctx)  # what OffloadCost charged before fusing
        assert decode < mixed <= serial
        only = Iteration("engine")
        only.add_prefill(Request(0, 0.0, tokens, 10), tokens)
        assert cost(only) == pytest.approx(prefill(model, cfg, tokens, 1, "bf16").ttft_s, rel=1e-12)


def test_offload_costs_use_the_gpu_stack_model_on_both_sides(lamina):
    """OffloadCost (archsim serve) and ConfigCost (the under-load study) price iterations through the same
    per-device cost function: the GPU stack model for the H100s and the H20s, the roofline only when asked."""
    from dataclasses import replace

    from archsim.offload.deployments import homogeneous
    from archsim.offload.under_load import ConfigCost

    model = presets.resolve_model(WORKLOAD)
    cfg = config_from_system(lamina)
    it = decode_iteration(model, cfg, 40, 1024, "bf16")
    assert it.timing == {"compute": "gpu-stack", "attention": "gpu-stack"}
    roof = decode_iteration(model, replace(cfg, timing="roofline"), 40, 1024, "bf16")
    assert roof.timing == {"compute": "roofline", "attention": "roofline"} and roof.time_s != it.time_s
    assert OffloadCost(model, lamina, "bf16").decode_s(40, 1024) == it.time_s
    homo = homogeneous(presets.load_hardware("h100-sxm"), 4)
    cost = ConfigCost(model, homo)
    assert cost.decode_s(64, 2048) == decode_iteration(model, homo, 64, 2048, "bf16").time_s
    assert ConfigCost(model, replace(homo, timing="roofline")).decode_s(64, 2048) == \
        decode_iteration(model, replace(homo, timing="roofline"), 64, 2048, "bf16").time_s
