"""The stack model on shapes outside the H200 campaign: physical properties, not numbers.

Llama-3-70B layer count (80 layers, GQA 64/8), a Qwen2-7B-like GQA ratio of 7 (28/4 heads), a
fine-grained MoE (60 experts, top-4) and 32k contexts: times grow with batch and length, stay above
the datasheet bounds (weights streamed once at the HBM peak, dense FLOPs at the tensor-core peak),
small-batch eager decode is host-bound while CUDA-graph replay is not, and the kernels of a step
do not depend on the host mode for stacks whose code path does not.
"""

from __future__ import annotations

import pytest

from archsim.gpu.stacks import ModelShape, Step
from archsim.gpu.wholemodel import predict_step

L70 = ModelShape(name="llama-3-70b", hidden=8192, heads=64, kv_heads=8, ffn=28672, vocab=128256, layers=80)
QWEN = ModelShape(name="qwen2-7b-like", hidden=3584, heads=28, kv_heads=4, ffn=18944, vocab=152064, layers=28)
FINE_MOE = ModelShape(name="qwen-moe-like", hidden=2048, heads=16, kv_heads=16, ffn=1408, vocab=151936, layers=24,
                      experts=60, top_k=4)


@pytest.fixture(scope="module")
def env():
    from archsim.gpu.devices import device_calibration
    from archsim.gpu.wholemodel import KernelPricer
    from archsim.presets import load_hardware
    cal = device_calibration("h200", "own")
    hw = load_hardware("h200")
    return cal, KernelPricer(cal), hw.memory["hbm"].bandwidth_bytes_per_s, cal.rates.mma_fmax


def _layer_params(m: ModelShape) -> float:
    d = m.hidden // m.heads
    return m.layers * (m.hidden * (m.heads + 2 * m.kv_heads) * d + m.heads * d * m.hidden + 3 * m.hidden * m.ffn)


def _weights(m: ModelShape) -> float:
    """bf16 bytes of the dense weights one decode token streams (layers and lm_head; embedding row not counted)."""
    return 2.0 * (_layer_params(m) + m.hidden * m.vocab)


@pytest.mark.parametrize("shape", [L70, QWEN], ids=lambda s: s.name)
@pytest.mark.parametrize("stack", ["plain", "hf", "fused"])
def test_decode_grows_with_batch_and_context_and_respects_the_weight_stream_bound(env, shape, stack):
    cal, pr, hbm, _ = env
    by_ctx = [predict_step(shape, Step(phase="decode", batch=4, seq_len=1, context=c), stack, "cuda-graph", cal,
                           pr).gpu_s for c in (512, 4096, 32768)]
    by_batch = [predict_step(shape, Step(phase="decode", batch=b, seq_len=1, context=2048), stack, "cuda-graph",
                             cal, pr).gpu_s for b in (1, 8, 64, 256)]
    assert all(b > a for a, b in zip(by_ctx, by_ctx[1:], strict=False))
    assert all(b > a for a, b in zip(by_batch, by_batch[1:], strict=False))
    assert by_batch[0] >= _weights(shape) / hbm  # every weight read once, at no more than the HBM peak


@pytest.mark.parametrize("shape", [L70, QWEN], ids=lambda s: s.name)
def test_prefill_grows_with_tokens_and_respects_the_tensor_core_peak(env, shape):
    cal, pr, _, peak = env
    tokens = (128, 2048, 32768)
    ts = [predict_step(shape, Step(phase="prefill", batch=1, seq_len=n), "plain", "eager", cal, pr).gpu_s
          for n in tokens]
    assert all(b > a for a, b in zip(ts, ts[1:], strict=False))
    flops = 2.0 * _layer_params(shape) * tokens[-1] + 2.0 * shape.hidden * shape.vocab  # lm_head: last token only
    assert ts[-1] >= flops / peak


def test_small_batch_eager_decode_is_host_bound_and_graph_replay_is_not(env):
    cal, pr, _, _ = env
    step = Step(phase="decode", batch=1, seq_len=1, context=1024)
    for shape in (QWEN, L70):
        eager = predict_step(shape, step, "plain", "eager", cal, pr)
        graph = predict_step(shape, step, "plain", "cuda-graph", cal, pr)
        assert eager.gpu_s == pytest.approx(graph.gpu_s)  # same kernels; only the host differs
        assert graph.wall_s < eager.wall_s and graph.wall_s < 1.2 * graph.gpu_s
    assert predict_step(QWEN, step, "hf", "eager", cal, pr).wall_s > 1.2 * predict_step(QWEN, step, "hf", "eager",
                                                                                          cal, pr).gpu_s
    big = predict_step(L70, Step(phase="prefill", batch=1, seq_len=4096), "plain", "eager", cal, pr)
    assert big.wall_s < 1.05 * big.gpu_s  # long GPU kernels hide the dispatch


def test_fine_grained_moe_streams_only_routed_experts_at_decode(env):
    cal, pr, hbm, _ = env
    one = predict_step(FINE_MOE, Step(phase="decode", batch=1, seq_len=1, context=1024), "hf", "cuda-graph", cal, pr)
    many = predict_step(FINE_MOE, Step(phase="prefill", batch=1, seq_len=512), "hf", "cuda-graph", cal, pr)
    experts_bytes = 2.0 * FINE_MOE.layers * FINE_MOE.experts * 3 * FINE_MOE.hidden * FINE_MOE.ffn
    assert many.by_category["gemm"] >= experts_bytes / hbm  # 2048 routed rows reach every expert
    assert one.by_category["gemm"] < many.by_category["gemm"] / 3  # one token reaches top_k of 60
    ts = [predict_step(FINE_MOE, Step(phase="prefill", batch=1, seq_len=n), "hf", "eager", cal, pr).gpu_s
          for n in (64, 512, 4096, 32768)]
    assert all(b > a for a, b in zip(ts, ts[1:], strict=False))


def test_graph_capture_gqa_costs_the_repeated_cache(env):
    """Under capture transformers repeats K/V to every head: the cost grows with the GQA ratio x context."""
    cal, pr, _, _ = env
    step = Step(phase="decode", batch=8, seq_len=1, context=32768)
    eager = predict_step(L70, step, "hf", "eager", cal, pr)
    graph = predict_step(L70, step, "hf", "cuda-graph", cal, pr)
    kv_bytes = 2.0 * 2 * L70.layers * step.batch * L70.kv_heads * (step.context + 1) * (L70.hidden // L70.heads)
    ratio = L70.heads // L70.kv_heads
    assert graph.gpu_s - eager.gpu_s > kv_bytes * (1 + ratio) / (4.8e12)  # read once, written ratio times
