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
