"""Serving model for attention offloading: hand-checked capacities and traffic, and the claims."""

import json
import subprocess
import sys

import pytest

from archsim import presets
from archsim.offload import lamina
from archsim.offload.serving import (
    LinkSpec,
    ServingConfig,
    best_batch,
    decode_iteration,
    kv_bytes_per_sequence,
    max_batch,
)

H100 = presets.load_hardware("h100-sxm")
H20 = presets.load_hardware("h20")
NV = LinkSpec(450e9, 1e-6)
RDMA = LinkSpec(50e9, 5e-6)
LLAMA2_7B = presets.load_model("llama-2-7b")
LLAMA3_70B = presets.load_model("llama-3-70b")


def test_kv_bytes_by_hand():
    # 2 (K, V) x 32 layers x 32 KV heads x 128 dims x 4096 tokens x 2 bytes = 2 GiB
    assert kv_bytes_per_sequence(LLAMA2_7B, 4096, "bf16") == 2 * 32 * 32 * 128 * 4096 * 2 == 2**31
    # GQA: Llama-3-70B has 8 KV heads over 80 layers
    assert kv_bytes_per_sequence(LLAMA3_70B, 1, "bf16") == 2 * 80 * 8 * 128 * 2


def test_max_batch_by_hand():
    cfg = ServingConfig("one", "homogeneous", H100, 1, NV)
    free = 80e9 * 0.9 - LLAMA2_7B.parameter_count() * 2
    assert max_batch(LLAMA2_7B, cfg, 4096, "bf16") == int(free // 2**31)
    off = ServingConfig("off", "attention_offload", H100, 1, NV, H20, 4, RDMA)
    assert max_batch(LLAMA2_7B, off, 4096, "bf16") == int(4 * 96e9 * 0.9 // 2**31)
    # 70B weights do not fit on one H100
    assert max_batch(LLAMA3_70B, cfg, 1024, "bf16") == 0


def test_offload_traffic_by_hand():
    cfg = ServingConfig("off", "attention_offload", H100, 2, NV, H20, 4, RDMA, micro_batches=1)
    it = decode_iteration(LLAMA3_70B, cfg, 32, 4096)
    q_o = 32 * 64 * 128 * 2
    new_kv = 32 * 2 * 8 * 128 * 2
    assert it.offload_bytes == 80 * (q_o + new_kv + q_o)
    assert it.transfer_s == pytest.approx(80 * (q_o + new_kv) / (4 * 50e9))


def test_pipelining_never_slower_than_serial_and_bounded_by_resources():
    serial = ServingConfig("s", "attention_offload", H100, 2, NV, H20, 4, RDMA, micro_batches=1)
    piped = ServingConfig("p", "attention_offload", H100, 2, NV, H20, 4, RDMA, micro_batches=2)
    a = decode_iteration(LLAMA3_70B, serial, 128, 8192)
    b = decode_iteration(LLAMA3_70B, piped, 128, 8192)
    assert b.time_s <= a.time_s * 1.05
    assert b.time_s >= max(b.compute_s, b.attention_s, b.transfer_s)


def test_attention_time_grows_with_context_compute_does_not():
    cfg = ServingConfig("off", "attention_offload", H100, 2, NV, H20, 4, RDMA)
    short, long = (decode_iteration(LLAMA3_70B, cfg, 32, c) for c in (2048, 32768))
    assert long.attention_s > 8 * short.attention_s
    assert long.compute_s == pytest.approx(short.compute_s, rel=1e-6)


def test_best_batch_respects_latency_limit():
    cfg = ServingConfig("off", "attention_offload", H100, 2, NV, H20, 8, RDMA)
    free = best_batch(LLAMA3_70B, cfg, 16384)
    tight = best_batch(LLAMA3_70B, cfg, 16384, tbt_limit_s=free.iteration.time_s / 1.5)
    assert tight.iteration.time_s <= free.iteration.time_s / 1.5
    assert tight.batch < free.batch


def test_lamina_claims_direction_and_bandwidth():
    rep = lamina.reproduce()
    for row in rep["rows"]:
        assert row["offload"]["tokens_per_dollar"] > 0
        assert row["gain_vs_h100"] == row["offload"]["tokens_per_dollar"] / row["homogeneous_h100"]["tokens_per_dollar"]
        for side in ("homogeneous_h100", "offload"):
            assert 1 <= row[side]["batch"] <= row[side]["max_batch"]
        assert row["timing"] == ("roofline" if row["model"] == "opt-30b" else "gpu-stack")
    # the roofline column (the earlier model) keeps its result: offloading ahead in every row
    assert lamina.reproduce(timing="roofline")["gain_min"] > 1.0
    # the paper: required bandwidth is manageable with common networking (< one 400 Gb/s port)
    assert all(r["link_utilisation_400g"] < 1.0 for r in lamina.bandwidth_needed())


def test_headinfer_kv_numbers():
    hi = lamina.headinfer_check()
    assert hi["kv_total_bytes"] == 128 * 2**30
    assert hi["gpu_resident_bytes_double_buffered"] == 2**30


def test_cli_offload_json_and_errors():
    run = [sys.executable, "-m", "archsim", "offload"]
    out = subprocess.run([*run, "lamina-h100-h20", "--context", "4096"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["policy"] == "attention_offload" and data["tokens_per_dollar"] > 0 and data["batch"] >= 1
    bad = subprocess.run([*run, "h100-sxm"], capture_output=True, text=True)
    assert bad.returncode == 2 and "needs a system" in bad.stderr and "Traceback" not in bad.stderr
    big = subprocess.run([*run, "lamina-h100-h20", "--batch", "100000"], capture_output=True, text=True)
    assert big.returncode == 2 and "does not fit" in big.stderr


def test_prefill_handoff_by_hand_and_ttft():
    from archsim.offload.serving import prefill

    off = ServingConfig("off", "attention_offload", H100, 2, NV, H20, 4, RDMA)
    homo = ServingConfig("homo", "homogeneous", H100, 2, NV)
    a = prefill(LLAMA3_70B, off, 8192)
    b = prefill(LLAMA3_70B, homo, 8192)
    assert a.kv_handoff_s == pytest.approx(kv_bytes_per_sequence(LLAMA3_70B, 8192, "bf16") / (4 * 50e9))
    assert a.compute_s == pytest.approx(b.compute_s)
    assert b.kv_handoff_s == 0 and b.ttft_s == b.compute_s
    assert a.compute_s < a.ttft_s <= a.compute_s + a.kv_handoff_s
