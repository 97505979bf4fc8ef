"""The serving iteration on the GPU stack model: pinned against the public archsim.gpu API, computed apart."""

import math
from dataclasses import replace

import pytest

from archsim import presets
from archsim.errors import ConfigError
from archsim.gpu.baselines import calibration_for
from archsim.gpu.devices import device_calibration
from archsim.gpu.host import graph_wall_s
from archsim.gpu.kernels import fa2_decode
from archsim.gpu.model import simulate_launch
from archsim.gpu.power_validation import EnergyPricer
from archsim.gpu.predict import attention_shape
from archsim.gpu.stack_run import shape_from_model
from archsim.gpu.stacks import KernelItem, Step, lower
from archsim.gpu.wholemodel import KernelPricer, predict_step
from archsim.offload.deployments import homogeneous, offloaded
from archsim.offload.device_cost import StepWork, device_step, timing_for
from archsim.offload.gpu_shard import shard, step_items
from archsim.offload.serving import ServingConfig, decode_iteration, mixed_iteration, prefill

H100 = presets.load_hardware("h100-sxm")
H20 = presets.load_hardware("h20")
LLAMA2_7B = presets.load_model("llama-2-7b")
LLAMA3_70B = presets.load_model("llama-3-70b")
OPT = presets.load_model("opt-30b")


def test_homogeneous_decode_is_the_stack_models_step():
    """One H100, batch 8 at 1024 tokens, SDPA's FlashAttention-2 kernel (the stack's): the iteration is
    predict_step's fused / cuda-graph wall time, and its energy is static power over that time plus every kernel's
    dynamic energy (board power model)."""
    cal = device_calibration("h100-sxm")
    step = Step(phase="decode", batch=8, seq_len=1, context=1024)
    shape = shape_from_model(LLAMA2_7B)
    want = predict_step(shape, step, "fused", "cuda-graph", cal)
    it = decode_iteration(LLAMA2_7B, replace(homogeneous(H100, 1), attention_kernel="flash2"), 8, 1024)
    assert it.time_s == pytest.approx(want.wall_s, rel=1e-12)
    assert it.compute_s + it.attention_s == pytest.approx(want.wall_s, rel=1e-12)
    # attention: its kernels plus their graph-node gaps
    assert it.attention_s == pytest.approx(want.by_category["attention"] + shape.layers * cal.host.graph_gap_s,
                                           rel=1e-12)
    assert it.timing == {"compute": "gpu-stack"}
    energy = EnergyPricer(cal)
    dynamic = sum(energy(k)[1] * k.count for k in lower(shape, step, "fused", "cuda-graph"))
    assert it.energy_j == pytest.approx(H100.static_power_w * want.wall_s + dynamic, rel=1e-9)
    assert it.joules_per_token == pytest.approx(it.energy_j / 8)


@pytest.mark.parametrize("batch", [2, 96])
def test_vllm_decode_runs_the_split_kv_kernel_of_a_paged_cache(batch):
    """vLLM's paged KV cache forces FlashAttention-2's split-KV kernel (64-row tiles) even when it does not split;
    the default iteration is the stack model's step with that kernel in place of SDPA's: the same when FA2 splits
    (batch 2), cheaper than SDPA's 128-row regular kernel when it does not (batch 96)."""
    cal = device_calibration("h100-sxm")
    pricer = KernelPricer(cal)
    shape = shape_from_model(LLAMA2_7B)
    want = predict_step(shape, Step(phase="decode", batch=batch, seq_len=1, context=4096), "fused", "cuda-graph", cal)
    s = attention_shape(batch, 32, 32, 1, 4097, 128, False, "bf16")
    launches = [simulate_launch(replace(ln, mma_dtype="bf16"), cal.rates)
                for ln in fa2_decode(s, "paged", cal.rates.sm_count)]
    paged = sum(max(pricer.floor_s, r.time_s - pricer.event_overhead_s) for r in launches)
    it = decode_iteration(LLAMA2_7B, homogeneous(H100, 1), batch, 4096)
    expect = want.wall_s + shape.layers * (paged - want.by_category["attention"] / shape.layers)
    assert it.time_s == pytest.approx(expect, rel=1e-9)
    assert (len(launches) > 1) == (batch == 2)  # split (with its combine kernel) only at the small batch
    assert it.time_s < want.wall_s if batch == 96 else it.time_s == pytest.approx(want.wall_s, rel=1e-9)


def test_tensor_parallel_shards_by_hand():
    """Two ranks: column-parallel QKV / gate-up and vocab-parallel LM head halve n, O / down halve k, heads and
    the FFN glue halve, norms are replicated; every GEMM FLOP is split exactly in two."""
    shape = shape_from_model(LLAMA3_70B)  # 64 heads, 8 KV heads, head dim 128, ffn 28672
    one = step_items(shape, StepWork(rows=4, lm_rows=4, context=100, attention_batch=4, tp=1))
    two = step_items(shape, StepWork(rows=4, lm_rows=4, context=100, attention_batch=4, tp=2))
    by = {it.name: it for part in two for it, _ in part}
    assert by["qkv_proj"].gemm == (4, (32 + 2 * 4) * 128, 8192, 1)
    assert by["o_proj"].gemm == (4, 8192, 4096, 1)
    assert by["gate_up_proj"].gemm == (4, 28672, 8192, 1)
    assert by["down_proj"].gemm == (4, 8192, 14336, 1)
    assert by["lm_head"].gemm == (4, 128256 // 2, 8192, 1)
    attn = by["attention_vllm-flash2"].attention
    assert attn["heads"] == 32 and attn["kv_heads"] == 4
    assert by["silu_mul_fused"].glue[1] == 4 * 4 * 28672 / 2
    one_by = {it.name: it for part in one for it, _ in part}
    assert by["norm1_fused"] == one_by["norm1_fused"]

    def flops(items):
        return sum(2 * m * n * k * g for part in items for it, _ in part if it.gemm for m, n, k, g in [it.gemm])
    assert flops(two) * 2 == flops(one)
    # fewer KV heads than ranks: replicated, one per rank (vLLM's QKVParallelLinear)
    assert shard(one_by["attention_vllm-flash2"], shape, 16).attention["kv_heads"] == 1
    with pytest.raises(ConfigError, match="no tensor-parallel rule"):
        shard(KernelItem(category="copy", name="mystery", glue=("vec", 1.0, 1.0)), shape, 2)
    with pytest.raises(ConfigError, match="do not split"):
        shard(one_by["qkv_proj"], shape, 3)


def test_offloaded_prices_compute_and_memory_sides_with_the_gpu_model():
    """1 H100 + 2 H20, one micro-batch: the H100 runs the dense kernels (one graph, no attention nodes), each H20
    the decode attention of half the requests (H20 calibration transferred from the H200)."""
    cfg = replace(offloaded(H100, 1, H20, 2, micro_batches=1), attention_kernel="flash2")  # SDPA's FA2 kernel
    it = decode_iteration(LLAMA2_7B, cfg, 16, 2048)
    assert it.timing == {"compute": "gpu-stack", "attention": "gpu-stack"}
    cal = device_calibration("h100-sxm")
    shape = shape_from_model(LLAMA2_7B)
    pred = predict_step(shape, Step(phase="decode", batch=16, seq_len=1, context=2048), "fused", "cuda-graph", cal)
    dense = [t for k, t in pred.kernels if k.category != "attention" for _ in range(k.count)]
    assert it.compute_s == pytest.approx(graph_wall_s(dense, cal.host), rel=1e-12)
    h20 = calibration_for("h20")
    attn = KernelItem(category="attention", name="a", attention=dict(
        impl="flash2", batch=8, heads=32, kv_heads=32, seq_q=1, seq_kv=2049, head_dim=128, causal=False))
    per_layer = KernelPricer(h20)(attn)
    assert it.attention_s == pytest.approx(graph_wall_s([per_layer] * shape.layers, h20.host), rel=1e-12)
    assert it.time_s == pytest.approx(it.compute_s + it.attention_s + 2 * it.transfer_s
                                      + shape.layers * 2 * cfg.offload_link.latency_s, rel=1e-12)


def test_device_kind_and_model_choose_the_timing():
    """GPU presets with Llama-style models get the stack model; OPT (layernorm, ReLU FFN) and a roofline config
    get the roofline, and say so."""
    assert timing_for(H100, LLAMA2_7B, "gpu-stack") == "gpu-stack"
    assert timing_for(H100, OPT, "gpu-stack") == "roofline"
    assert timing_for(presets.load_hardware("hbm2-pim"), LLAMA2_7B, "gpu-stack") == "roofline"
    assert timing_for(H100, LLAMA2_7B, "roofline") == "roofline"
    with pytest.raises(ConfigError, match="unknown timing"):
        timing_for(H100, LLAMA2_7B, "exact")
    cfg = homogeneous(H100, 2)
    roof = ServingConfig(**{**cfg.__dict__, "timing": "roofline"})
    assert decode_iteration(OPT, cfg, 8, 1024).time_s == decode_iteration(OPT, roof, 8, 1024).time_s
    assert decode_iteration(OPT, cfg, 8, 1024).timing == {"compute": "roofline"}


def test_roofline_timing_is_the_operator_sum():
    """timing='roofline': dense operators and attention summed from evaluate_op on the tensor-parallel shard."""
    from archsim.backends.roofline import evaluate_op
    from archsim.offload.device_cost import ATTENTION_ROLES, decode_ops, split_tp
    ops = decode_ops(LLAMA3_70B, 32, 4096, "bf16")
    dense = sum(evaluate_op(split_tp(op, 4), H100).time_s * op.count for op in ops if op.role not in ATTENTION_ROLES)
    attn = sum(evaluate_op(split_tp(op, 4), H100).time_s * op.count for op in ops if op.role in ATTENTION_ROLES)
    step = device_step(H100, LLAMA3_70B, StepWork(rows=32, lm_rows=32, context=4096, attention_batch=32, tp=4),
                       timing="roofline")
    assert step.dense_s == pytest.approx(dense, rel=1e-12) and step.attention_s == pytest.approx(attn, rel=1e-12)


def test_prefill_and_mixed_iterations_dispatch_eagerly_on_the_compute_gpus():
    """Iterations with prefill run outside CUDA graphs: host dispatch per kernel overlapped with the GPU queue,
    never faster than the kernels alone; a decode-only mixed iteration is the decode iteration."""
    cfg = homogeneous(H100, 1)
    p = prefill(LLAMA2_7B, cfg, 512)
    work = StepWork(rows=512, lm_rows=1, chunks=1, chunk=512, host="eager")
    kernels = device_step(H100, LLAMA2_7B, work)
    assert p.compute_s == pytest.approx(kernels.time_s)
    cal = device_calibration("h100-sxm")
    pro, layer, epi = step_items(shape_from_model(LLAMA2_7B), work)
    gpu = sum(KernelPricer(cal)(it) * it.count for part in (pro, epi) for it, _ in part) \
        + LLAMA2_7B.num_layers * sum(KernelPricer(cal)(it) * it.count for it, _ in layer)
    assert p.compute_s >= gpu
    assert mixed_iteration(LLAMA2_7B, cfg, 8, 1024, 0, 0).time_s == decode_iteration(LLAMA2_7B, cfg, 8, 1024).time_s
    mixed = mixed_iteration(LLAMA2_7B, cfg, 8, 1024, 256, 1)
    assert decode_iteration(LLAMA2_7B, cfg, 8, 1024).time_s < mixed.time_s
    assert math.isfinite(mixed.energy_j) and mixed.energy_j > H100.static_power_w * mixed.time_s
