"""Roofline formulas against hand-computed values.

The test device has round numbers so every expectation below can be checked with a pencil:
100 TFLOP/s bf16, 1 TB/s DRAM, a 1 MiB on-chip buffer (so GEMM tiles have edge
T = isqrt(2**20 / (2 operands * 2 bytes)) = 512), 10 TB/s buffer bandwidth, 1 pJ/FLOP and
10 pJ/byte off-chip.
"""

import pytest

from archsim.backends.roofline import evaluate_op, op_traffic
from archsim.operators import (
    Attention,
    AttentionContext,
    AttentionScores,
    Elementwise,
    Gemm,
    MoeExperts,
    Role,
    attention_pairs,
    causal_pairs,
    expected_active_experts,
    window_pairs,
)
from archsim.schemas.hardware import AcceleratorDevice

DEVICE = AcceleratorDevice.model_validate({
    "family": "accelerator", "name": "pencil", "clock_hz": "1 GHz",
    "compute": {"matrix_flops_per_s": {"bf16": "100 TFLOP/s"}, "vector_flops_per_s": {"fp32": "10 TFLOP/s"},
                "matrix_energy_j_per_flop": {"bf16": "1 pJ"}},
    "memory": {
        "dram": {"kind": "dram", "capacity_bytes": "16 GiB", "bandwidth_bytes_per_s": "1 TB/s",
                 "read_energy_j_per_byte": "10 pJ/B"},
        "buffer": {"kind": "sram", "capacity_bytes": "1 MiB", "bandwidth_bytes_per_s": "10 TB/s"},
    },
    "accelerator": {"pe_rows": 128, "pe_cols": 128, "vector_pes": 128, "macs_per_pe_per_cycle": 4},  # 131 TFLOP/s
})
LEVELS = list(DEVICE.memory.values())


KINDS = {"attention": Attention, "attention_scores": AttentionScores, "attention_context": AttentionContext}


def attn(batch, heads, kv_heads, sq, skv, d, causal=False, kind="attention"):
    return KINDS[kind](name="a", role=Role.ATTENTION, phase="p", dtype="bf16", batch=batch, heads=heads,
                       kv_heads=kv_heads, seq_q=sq, seq_kv=skv, head_dim=d, causal=causal)


def gemm(m, n, k):
    return Gemm(name="g", role=Role.LAYER, phase="p", dtype="bf16", m=m, n=n, k=k)


def test_gemm_flops_time_bytes_energy():
    op = gemm(1024, 1024, 1024)
    r = evaluate_op(op, DEVICE)
    assert r.matrix_flops == 2 * 1024**3
    # tiles of 512 -> A read twice (n/512), B read twice (m/512), C written once
    assert r.bytes_by_level["dram"] == 2 * (1024 * 1024 * 2 + 1024 * 1024 * 2) + 1024 * 1024 * 2
    assert r.time_by_resource["compute"] == pytest.approx(2 * 1024**3 / 100e12)
    assert r.time_by_resource["memory:dram"] == pytest.approx(10 * 2**20 / 1e12)
    assert r.bound == "compute" and r.time_s == pytest.approx(21.47483648e-6)
    assert r.energy_j == pytest.approx(2 * 1024**3 * 1e-12 + 10 * 2**20 * 10e-12)


def test_gemv_is_memory_bound_and_reads_weights_once():
    r = evaluate_op(gemm(1, 4096, 4096), DEVICE)
    assert r.bytes_by_level["dram"] == 4096 * 2 + 4096 * 4096 * 2 + 4096 * 2
    assert r.bound == "memory:dram"
    assert r.time_s == pytest.approx((4096 * 2 * 2 + 4096 * 4096 * 2) / 1e12)


def test_fused_attention_never_moves_scores_off_chip():
    # 1 head, 1024 x 1024, d 64: Q, K, V read once, O written once (K/V fit in the 1 MiB buffer)
    t = op_traffic(attn(1, 1, 1, 1024, 1024, 64), 0, LEVELS)
    assert t.read_bytes == 3 * 1024 * 64 * 2
    assert t.write_bytes == 1024 * 64 * 2
    w = attn(1, 1, 1, 1024, 1024, 64).work()
    assert w.matrix_flops == 4 * 1024 * 1024 * 64


def test_unfused_attention_writes_and_reads_scores():
    scores = op_traffic(attn(1, 1, 1, 1024, 1024, 64, kind="attention_scores"), 0, LEVELS)
    context = op_traffic(attn(1, 1, 1, 1024, 1024, 64, kind="attention_context"), 0, LEVELS)
    n2 = 1024 * 1024 * 2  # the N x N score matrix in bf16
    assert scores.write_bytes == n2
    assert context.read_bytes >= n2
    # S = Q K^T: Q and K (128 KiB each) fit in half the buffer -> each read once
    assert scores.read_bytes == 2 * (1024 * 64 * 2)
    # P V: P (2 MiB) read once (n = 64 < T = 512), V (128 KiB) resident -> read once
    assert context.read_bytes == n2 + 1024 * 64 * 2


def test_decode_attention_gqa_reads_kv_cache_once_per_kv_head():
    op = attn(2, 32, 8, 1, 4096, 128)
    # K/V of one head: 2*4096*128*2 B = 2 MiB > 1 MiB buffer -> tiled per query head; use a GPU-sized level
    big = AcceleratorDevice.model_validate(DEVICE.model_dump() | {
        "memory": {"dram": LEVELS[0].model_dump(),
                   "buffer": LEVELS[1].model_dump() | {"capacity_bytes": 64 * 2**20}}})
    t = op_traffic(op, 0, list(big.memory.values()))
    kv_cache = 2 * 8 * 2 * 4096 * 128 * 2
    q = 2 * 32 * 128 * 2
    assert t.read_bytes == q + kv_cache
    assert t.write_bytes == q
    r = evaluate_op(op, big)
    assert r.bound == "memory:dram"


def test_causal_pairs_bottom_right():
    assert causal_pairs(4, 4) == 10  # 1+2+3+4
    assert causal_pairs(2, 5) == 4 + 5  # rows see 4 and 5 keys
    assert causal_pairs(5, 2) == 0 + 0 + 0 + 1 + 2
    assert causal_pairs(1, 4096) == 4096
    for sq, skv in [(7, 13), (13, 7), (64, 64), (1, 1)]:
        brute = sum(max(0, min(skv, i + 1 + skv - sq)) for i in range(sq))
        assert causal_pairs(sq, skv) == brute
    assert attention_pairs(8, 8, causal=False) == 64


def test_causal_fused_attention_halves_flops():
    full = attn(1, 1, 1, 2048, 2048, 128).work().matrix_flops
    causal = attn(1, 1, 1, 2048, 2048, 128, causal=True).work().matrix_flops
    assert causal == pytest.approx(full * (2048 * 2049 / 2) / 2048**2)


def test_moe_reads_only_active_experts():
    assert expected_active_experts(16, 4, 1) == pytest.approx(4.0)
    assert expected_active_experts(16, 4, 1000) == pytest.approx(16.0)
    op = MoeExperts(name="e", role=Role.MOE_UP, phase="p", dtype="bf16", tokens=4, n=1536, k=384, active_experts=4.0,
                    num_experts=16)
    t = op_traffic(op, 0, LEVELS)
    assert t.read_bytes == 4 * 1536 * 384 * 2 + 4 * 384 * 2


def test_vector_ops_stream_once():
    op = Elementwise(name="v", role=Role.ATTN_RESIDUAL, phase="p", dtype="bf16", fn="residual_add", elements=1000,
                     inputs=2)
    t = op_traffic(op, 0, LEVELS)
    assert (t.read_bytes, t.write_bytes) == (4000, 2000)
    assert op.work().vector_flops == 1000


def test_window_pairs_closed_form_matches_the_row_sum():
    for sq, skv, w in [(8, 8, 3), (5, 9, 4), (9, 5, 2), (16, 16, 16), (16, 16, 40), (1, 100, 7)]:
        brute = sum(min(w, i + 1 + skv - sq) for i in range(sq) if i + 1 + skv - sq > 0)
        assert window_pairs(sq, skv, w) == brute
    assert window_pairs(4, 4, 2) == 1 + 2 + 2 + 2
