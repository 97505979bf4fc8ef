"""Grouped-GEMM experts under random top-k routing and the MoE path's copies: pencil-checkable cases."""

from __future__ import annotations

import math

import pytest

from archsim.errors import ConfigError
from archsim.gpu.grouped import GroupedGemmModel, binomial_pmf, committed_grouped, config_of, load_grouped
from archsim.gpu.stacks import ModelShape, Step, parts

MOE = ModelShape(name="mixtral", hidden=4096, heads=32, kv_heads=8, ffn=14336, vocab=32000, layers=2, experts=8,
                 top_k=2)
FLAT = GroupedGemmModel(source="t", bandwidth={"small": ((128.0, 1e12),), "large": ((256.0, 1e12),)})


def test_tile_config_follows_pytorch_groupmm_rule():
    assert config_of(1024, 8, 28672) == "small"  # mean 128 rows per expert
    assert config_of(1032, 8, 28672) == "large"
    assert config_of(10**6, 8, 128) == "small"  # N <= 128


def test_expert_cost_counts_cluster_rows_of_weight_passes():
    w = 2.0 * 256 * 512 / 1e12  # one pass over a 256 x 512 bf16 expert at 1 TB/s
    assert FLAT.expert_s(0, 256, 512, "small") == 0.0
    assert FLAT.expert_s(1, 256, 512, "small") == pytest.approx(w)
    assert FLAT.expert_s(128, 256, 512, "small") == pytest.approx(w)  # 2 tiles of 64 = one cluster row
    assert FLAT.expert_s(129, 256, 512, "small") == pytest.approx(2 * w)
    assert FLAT.expert_s(257, 256, 512, "large") == pytest.approx(2 * w)  # 128-row tiles, 2 per cluster row


def test_binomial_loads_are_a_distribution_with_mean_tp():
    pmf = binomial_pmf(4096, 0.25)
    assert sum(p for _, p in pmf) == pytest.approx(1.0, abs=1e-9)
    assert sum(r * p for r, p in pmf) == pytest.approx(1024.0, rel=1e-9)
    assert binomial_pmf(0, 0.3) == [(0, 1.0)]


def test_random_routing_costs_at_least_the_even_split_and_one_token_hits_top_k_experts():
    one = FLAT.call_s(1, 8, 2, 256, 512)
    assert one == pytest.approx(2 * FLAT.expert_s(1, 256, 512, "small"))  # exactly k experts, one row each
    # 512 tokens x top-2 over 8 experts: 128 rows each if even (1 cluster row), ~128 +- 10 when random
    even, rand = FLAT.call_s(512, 8, 2, 256, 512, uniform=True), FLAT.call_s(512, 8, 2, 256, 512)
    assert even == pytest.approx(8 * FLAT.expert_s(128, 256, 512, "small"))
    assert 1.3 * even < rand < 2.0 * even  # about half the experts spill into a second cluster row
    # many tokens per expert: the relative spill shrinks (sd / mean ~ 1 / sqrt(T))
    big_even, big = FLAT.call_s(65536, 8, 2, 256, 512, uniform=True), FLAT.call_s(65536, 8, 2, 256, 512)
    assert 1.0 <= big / big_even < 1.1


def test_load_grouped_bandwidth_by_pencil(tmp_path):
    f = tmp_path / "g.csv"
    f.write_text("n,k,experts,rows_total,rows_per_expert,active_experts,kernel,calls,gpu_us,api\n"
                 "256,512,8,16,2.0,8,main,1.0,2.0,x\n256,512,8,16,2.0,8,prepare_grouped_gemm_data<x>,1.0,1.5,x\n")
    g = load_grouped(f)  # 8 experts x 1 cluster row x 256 x 512 x 2 B in 2 us
    assert g.bandwidth == {"small": ((2.0, pytest.approx(8 * 2 * 256 * 512 / 2e-6)),)}
    assert g.prepare_s == pytest.approx(1.5e-6)
    f.write_text("n,k\n1,2\n")
    with pytest.raises(ConfigError, match="not a grouped-GEMM CSV"):
        load_grouped(f)


def test_committed_grouped_bandwidths_are_plausible():
    g = committed_grouped("h200-wm-grouped-2026-12-01.csv")
    for pts in g.bandwidth.values():
        assert all(1.5e12 < bw < 4.8e12 for _, bw in pts)  # weight-equivalent, below the H200's 4.8 TB/s
    assert set(g.bandwidth) == {"small", "large"}


def test_moe_masked_fill_is_clone_plus_fill_and_small_sorts_copy_their_keys():
    s = Step(phase="prefill", batch=1, seq_len=512)
    layer = parts(MOE, s, "hf")[1]
    clones = {it.name: it.glue for it in layer if it.glue and it.glue[0] == "clone" and "mask" in it.name}
    sel = 512 * 2
    assert clones == {"mask_selected_clone": ("clone", 2.0 * sel * 4096, 2.0 * sel * 4096),
                      "mask_gate_up_clone": ("clone", 2.0 * sel * 2 * 14336, 2.0 * sel * 2 * 14336),
                      "mask_down_clone": ("clone", 2.0 * sel * 4096, 2.0 * sel * 4096)}
    assert sum("sort_copy" in it.name for it in layer) == 2
    big = parts(MOE, Step(phase="prefill", batch=1, seq_len=4096), "hf")[1]  # 8192 ids: CUB radix sort
    assert not any("sort_copy" in it.name for it in big)
    assert sum(it.name.startswith("sort_pass_") for it in big) == 8  # CUB onesweep: 64-bit keys, 8-bit digits
    grouped = [it.grouped for it in layer if it.grouped]
    assert grouped == [(512, 8, 2, 2 * 14336, 4096), (512, 8, 2, 4096, 14336)]


def test_graph_capture_gqa_attention_reads_repeated_heads():
    dec = Step(phase="decode", batch=8, seq_len=1, context=1024)
    eager = [it for it in parts(MOE, dec, "hf", "eager")[1] if it.attention][0].attention
    graph = [it for it in parts(MOE, dec, "hf", "cuda-graph")[1] if it.attention][0].attention
    assert eager["kv_heads"] == 8 and graph["kv_heads"] == 32


def test_moe_step_gpu_time_grows_with_tokens():
    from archsim.gpu.devices import device_calibration
    from archsim.gpu.wholemodel import KernelPricer, predict_step
    cal = device_calibration("h200", "own")
    pr = KernelPricer(cal)
    ts = [predict_step(MOE, Step(phase="prefill", batch=1, seq_len=n), "hf", "eager", cal, pr).gpu_s
          for n in (64, 256, 1024, 4096, 16384)]
    assert all(b > a for a, b in zip(ts, ts[1:], strict=False))
    assert math.isfinite(ts[-1])


def test_moving_the_grouped_model_to_a_slower_memory_gpu_floors_rows_at_its_copy_bandwidth():
    slow = FLAT.on_device(2e12, 0.5e12)  # rows measured at 1 TB/s weight-equivalent; the new GPU copies 0.5 TB/s
    w = 2.0 * 256 * 512
    assert slow.expert_s(1, 256, 512, "small") == pytest.approx(w / 0.5e12)
    fast = FLAT.on_device(2e12, 4e12)  # never faster than measured
    assert fast.expert_s(1, 256, 512, "small") == pytest.approx(FLAT.expert_s(1, 256, 512, "small"))
    with pytest.raises(ConfigError, match="positive"):
        FLAT.on_device(0.0, 1e12)


def test_row_cost_separates_weight_stream_and_per_tile_overhead():
    from archsim.gpu.grouped import _fit_row
    b, tau = 2e12, 50e-9  # 2 TB/s and 50 ns per CTA tile
    pts = [(w, c, w / b + c * tau) for w, c in ((2.35e8, 448.0), (1.17e8, 64.0))]  # gate/up- and down-like
    assert _fit_row(pts) == (pytest.approx(b), pytest.approx(tau))
    assert _fit_row(pts[:1]) == (pytest.approx(pts[0][0] / pts[0][2]), 0.0)  # one shape: bandwidth only
    g = committed_grouped("h200-wm-grouped-2026-12-01.csv")
    assert all(t >= 0.0 for pts in g.tile_s.values() for _, t in pts)
