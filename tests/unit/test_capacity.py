"""Memory per device (weights + KV cache + activations) by pencil on a tiny model, the split by
parallelism, and refusal of over-capacity runs on a device of every family that has a memory size."""

from __future__ import annotations

import pytest

from archsim import presets
from archsim.capacity import check_capacity, memory_report
from archsim.errors import ConfigError
from archsim.schemas.model import ModelSpec
from archsim.schemas.parallel import Parallel
from archsim.schemas.workload import Workload

# 2 layers, hidden 64, 4 heads of 16, 2 KV heads, gated FFN 128, vocab 100
TINY = ModelSpec(name="tiny", arch="decoder", num_layers=2, hidden_size=64, num_heads=4, num_kv_heads=2,
                 ffn_hidden_size=128, ffn_kind="gated_silu", norm="rmsnorm", vocab_size=100)


def decode(batch: int = 3, context: int = 10, steps: int = 2, dtype: str = "bf16", **extra) -> Workload:
    return Workload(name="tiny-decode", model=TINY, dtype=dtype,
                    phases=[{"phase": "decode", "batch": batch, "context_len": context, "steps": steps}], **extra)


def test_weights_by_pencil_and_equal_to_parameter_count():
    # per layer: Q,O 2*64*16*4 = 8192; K,V 2*64*16*2 = 4096; FFN 3*64*128 = 24576 -> 36864; + embedding 6400
    r = memory_report(decode(), presets.load_hardware("h100-sxm"))
    assert r.weights_bytes == (2 * 36864 + 6400) * 2
    assert r.weights_bytes == TINY.parameter_count() * 2
    for name in ("llama-3-70b", "llama-2-7b", "gpt2-small"):
        model = presets.load_model(name)
        wl = Workload(name="w", model=name, phases=[{"phase": "decode", "batch": 1, "context_len": 16}])
        assert memory_report(wl, presets.load_hardware("h200")).weights_bytes == model.parameter_count() * 2


def test_kv_cache_by_pencil():
    # 2 (K and V) x 2 layers x 2 KV heads x 16 x (10 + 2 tokens) x batch 3 = 4608 elements, bf16
    assert memory_report(decode(), presets.load_hardware("h100-sxm")).kv_cache_bytes == 4608 * 2


def test_tensor_parallel_halves_and_replicates_kv_heads_beyond_their_count():
    hw = presets.load_hardware("hgx-h100")
    one = memory_report(decode(), hw, Parallel())
    two = memory_report(decode(), hw, Parallel(tensor=2))
    assert two.weights_bytes == one.weights_bytes / 2
    assert two.kv_cache_bytes == one.kv_cache_bytes / 2
    four = memory_report(decode(), hw, Parallel(tensor=4))
    # 2 KV heads over 4 GPUs: each keeps one (replicated), so K/V weights and the cache stop shrinking
    kv_weights = 2 * 2 * 64 * 16 * 1
    q_o_ffn = 2 * (8192 + 24576) / 4
    assert four.weights_bytes == (q_o_ffn + kv_weights + 6400 / 4) * 2
    assert four.kv_cache_bytes == two.kv_cache_bytes


def test_pipeline_and_data_split_layers_and_batch():
    hw = presets.load_hardware("hgx-h100")
    one = memory_report(decode(batch=4), hw, Parallel())
    pp = memory_report(decode(batch=4), hw, Parallel(pipeline=2))
    assert pp.kv_cache_bytes == one.kv_cache_bytes / 2
    assert pp.weights_bytes == (36864 + 6400) * 2  # one layer + the embedding on the first stage
    dp = memory_report(decode(batch=4), hw, Parallel(data=2))
    assert dp.kv_cache_bytes == one.kv_cache_bytes / 2 and dp.weights_bytes == one.weights_bytes


def test_unfused_attention_adds_the_scores():
    hw = presets.load_hardware("h100-sxm")
    wl = Workload(name="p", model=TINY, phases=[{"phase": "prefill", "batch": 1, "seq_len": 512}])
    naive = wl.model_copy(update={"algorithm": wl.algorithm.model_copy(update={"attention": "naive"})})
    extra = memory_report(naive, hw).activation_bytes - memory_report(wl, hw).activation_bytes
    assert extra == 4 * 512 * 512 * 2  # heads x seq x seq, bf16


def test_the_70b_workload_refuses_one_h100_and_fits_an_hgx_node():
    wl = presets.load_workload("workloads/llama3-70b-decode-gqa.yaml")
    with pytest.raises(ConfigError) as info:
        check_capacity(wl, presets.load_hardware("h100-sxm"))
    msg = str(info.value)
    assert "needs 160.1 GB per device" in msg and "h100-sxm has 80.0 GB" in msg
    assert "parallel: {tensor: 4}" in msg and "dtype: fp8" in msg
    report = check_capacity(wl, presets.load_hardware("hgx-h100"), Parallel(tensor=8))
    assert report.fits and report.total_bytes < 25e9


def test_parallel_must_fit_the_hardware_and_the_model():
    with pytest.raises(ConfigError, match="8 devices, but 'h100-sxm' is one device"):
        memory_report(decode(), presets.load_hardware("h100-sxm"), Parallel(tensor=8))
    with pytest.raises(ConfigError, match="tensor 8 does not divide the model's 4 attention heads"):
        memory_report(decode(), presets.load_hardware("hgx-h100"), Parallel(tensor=8))
    with pytest.raises(ConfigError, match="expert 2 does not divide"):
        memory_report(decode(), presets.load_hardware("hgx-h100"), Parallel(tensor=2, expert=2))


@pytest.mark.parametrize("hardware", ["h100-sxm", "duplex-logic-pim", "alveo-u280", "fusemax-array"])
def test_every_family_with_a_memory_size_refuses_what_does_not_fit(hardware):
    """gpu, pim, fpga, accelerator: Llama-3-70B in bf16 fits none of them; a tiny model fits all."""
    hw = presets.load_hardware(hardware)
    assert check_capacity(decode(), hw).fits
    wl = presets.load_workload("workloads/llama3-70b-decode-gqa.yaml")
    with pytest.raises(ConfigError, match=f"but {hardware} has"):
        check_capacity(wl, hw)


def test_explicit_layers_count_b_operands_and_kv():
    wl = Workload(name="l", layers=[
        {"op": "gemm", "name": "g", "m": 8, "n": 32, "k": 16, "count": 2},
        {"op": "attention", "name": "a", "batch": 1, "heads": 4, "kv_heads": 2, "seq_q": 8, "seq_kv": 64,
         "head_dim": 16},
    ])
    r = memory_report(wl, presets.load_hardware("h100-sxm"))
    assert r.weights_bytes == 16 * 32 * 2 * 2
    assert r.kv_cache_bytes == 2 * 2 * 64 * 16 * 2
    assert r.activation_bytes == max(8 * 16 + 8 * 32, 2 * 4 * 8 * 16) * 2
