"""Lowering a workload to operators with hardware-independent shapes and counts.

An :class:`Op` is one kernel-sized operator (a GEMM, a fused attention, a norm ...) with its
shape, repeated ``count`` times (once per layer). Backends turn ops into time and energy.

Modelling choices (stated, not hidden):
- Decoder prefill computes logits only for the last token of each sequence (serving); decode
  computes them for every sequence in the batch.
- Embedding lookups and the final norm are ignored (well under 0.1% of time at these sizes).
- K/V produced by the QKV projection are written to the KV cache by that GEMM's output;
  decode attention reads the whole cache (``context_len + step`` tokens) every step.
- MoE experts: each token goes to ``top_k`` experts; the expected number of distinct active
  experts for T tokens with uniform routing is E * (1 - (1 - k/E)^T), and only those experts'
  weights are read.
- Causal attention's useful work counts only the unmasked (query, key) pairs with
  bottom-right alignment (query i sees keys j <= i + seq_kv - seq_q), as FlashAttention-2 does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archsim.schemas.base import DTYPE_BYTES
from archsim.schemas.model import ModelSpec
from archsim.schemas.workload import ATTENTION_DATAFLOWS, AttentionLayer, DecodePhase, GemmLayer, Workload

#: Elementwise FLOPs per element (and transcendentals per element) of the vector ops.
#: Sources: operation counts of the textbook formulas; softmax = max, subtract, exp, sum, divide.
VECTOR_FLOPS_PER_ELEMENT = {"layernorm": 8, "rmsnorm": 5, "gelu": 8, "silu_mul": 5, "relu": 1, "softmax": 4,
                            "residual_add": 1}
TRANSCENDENTALS_PER_ELEMENT = {"layernorm": 1, "rmsnorm": 1, "gelu": 1, "silu_mul": 1, "relu": 0, "softmax": 1,
                               "residual_add": 0}


@dataclass(frozen=True)
class Op:
    """One operator. ``shape`` keys depend on ``kind``; ``count`` = identical repetitions."""

    name: str
    kind: str  # gemm | attention | attention_scores | attention_context | softmax | norm | activation | ...
    phase: str
    shape: dict[str, Any]
    dtype: str
    count: int = 1
    fused: bool = True
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def causal_pairs(seq_q: int, seq_kv: int) -> int:
    """Unmasked (query, key) pairs of a causal mask, bottom-right aligned."""
    offset = seq_kv - seq_q
    total = 0
    # closed form of sum_i clip(i + offset + 1, 0, seq_kv)
    lo = max(0, -offset)  # first query row that sees any key
    full_from = max(lo, seq_kv - offset - 1)  # rows from here on see all keys
    full_from = min(full_from, seq_q)
    if full_from > lo:
        a, b = lo + offset + 1, full_from - 1 + offset + 1
        total += (a + b) * (full_from - lo) // 2
    total += (seq_q - full_from) * seq_kv
    return total


def attention_pairs(seq_q: int, seq_kv: int, causal: bool, window: int | None = None) -> int:
    if window is not None:
        return sum(min(window, i + 1 + seq_kv - seq_q) for i in range(seq_q) if i + 1 + seq_kv - seq_q > 0)
    return causal_pairs(seq_q, seq_kv) if causal else seq_q * seq_kv


def _attention_ops(phase: str, prefix: str, batch: int, heads: int, kv_heads: int, seq_q: int, seq_kv: int,
                   head_dim: int, causal: bool, dtype: str, fused: bool, count: int, dataflow: str) -> list[Op]:
    shape = {"batch": batch, "heads": heads, "kv_heads": kv_heads, "seq_q": seq_q, "seq_kv": seq_kv,
             "head_dim": head_dim, "causal": causal}
    if fused:
        return [Op(f"{prefix}attention", "attention", phase, shape, dtype, count, True, extra={"dataflow": dataflow})]
    return [
        Op(f"{prefix}attn_scores", "attention_scores", phase, shape, dtype, count, False,
           notes="Q K^T, scores written off-chip", extra={"dataflow": dataflow}),
        Op(f"{prefix}attn_softmax", "softmax", phase, {"rows": batch * heads * seq_q, "cols": seq_kv}, dtype, count,
           False, extra={"dataflow": dataflow}),
        Op(f"{prefix}attn_context", "attention_context", phase, shape, dtype, count, False,
           notes="P V, probabilities read from off-chip", extra={"dataflow": dataflow}),
    ]


def _gemm(phase: str, name: str, m: int, n: int, k: int, dtype: str, count: int, **extra: Any) -> Op:
    return Op(name, "gemm", phase, {"m": m, "n": n, "k": k}, dtype, count, extra=extra)


def _vector(phase: str, name: str, fn: str, elements: int, dtype: str, count: int, inputs: int = 1) -> Op:
    return Op(name, "vector", phase, {"elements": elements, "fn": fn, "inputs": inputs}, dtype, count)


def expected_active_experts(num_experts: int, top_k: int, tokens: int) -> float:
    return num_experts * (1.0 - (1.0 - top_k / num_experts) ** tokens)


def _layer_ops(model: ModelSpec, phase: str, batch: int, seq_q: int, seq_kv: int, dtype: str, dataflow: str,
               moe_layer: bool, count: int, tag: str) -> list[Op]:
    h, d = model.hidden_size, model.dhead
    tokens = batch * seq_q
    norm = model.norm
    qkv_n = d * (model.num_heads + 2 * model.kv_heads)
    causal = model.arch == "decoder"
    ops = [
        _vector(phase, f"{tag}attn_norm", norm, tokens * h, dtype, count),
        _gemm(phase, f"{tag}qkv_proj", tokens, qkv_n, h, dtype, count),
        *_attention_ops(phase, tag, batch, model.num_heads, model.kv_heads, seq_q, seq_kv, d, causal, dtype,
                        ATTENTION_DATAFLOWS[dataflow], count, dataflow),
        _gemm(phase, f"{tag}out_proj", tokens, h, model.num_heads * d, dtype, count),
        _vector(phase, f"{tag}attn_residual", "residual_add", tokens * h, dtype, count, inputs=2),
        _vector(phase, f"{tag}ffn_norm", norm, tokens * h, dtype, count),
    ]
    gated = model.ffn_kind == "gated_silu"
    act = "silu_mul" if gated else model.ffn_kind
    if moe_layer and model.moe is not None:
        moe = model.moe
        f = moe.expert_ffn_hidden_size
        ops.append(_gemm(phase, f"{tag}moe_router", tokens, moe.num_experts, h, dtype, count))
        active = expected_active_experts(moe.num_experts, moe.top_k, tokens)
        pairs = tokens * moe.top_k
        up_n = 2 * f if gated else f
        ops.append(Op(f"{tag}moe_experts_up", "moe_experts", phase,
                      {"tokens": pairs, "n": up_n, "k": h, "active_experts": active}, dtype, count))
        ops.append(_vector(phase, f"{tag}moe_act", act, pairs * f, dtype, count, inputs=2 if gated else 1))
        ops.append(Op(f"{tag}moe_experts_down", "moe_experts", phase,
                      {"tokens": pairs, "n": h, "k": f, "active_experts": active}, dtype, count))
    else:
        f = model.ffn_hidden_size
        ops.append(_gemm(phase, f"{tag}ffn_up", tokens, 2 * f if gated else f, h, dtype, count))
        ops.append(_vector(phase, f"{tag}ffn_act", act, tokens * f, dtype, count, inputs=2 if gated else 1))
        ops.append(_gemm(phase, f"{tag}ffn_down", tokens, h, f, dtype, count))
    ops.append(_vector(phase, f"{tag}ffn_residual", "residual_add", tokens * h, dtype, count, inputs=2))
    return ops


def _model_phase_ops(model: ModelSpec, phase: Any, dtype: str, dataflow: str) -> list[Op]:
    ops: list[Op] = []
    if isinstance(phase, DecodePhase):
        batch, seq_q, steps = phase.batch, 1, phase.steps
        # The KV length grows during decode; the mean step sees context_len + (steps - 1)/2 keys.
        # Steps are simulated at their mean length and repeated (exact for linear-in-length costs).
        seq_kv = phase.context_len + (steps + 1) // 2
        name = "decode"
    else:
        batch = phase.batch
        seq_q = phase.seq_len if phase.seq_len is not None else model.vision.num_tokens  # type: ignore[union-attr]
        seq_kv, steps, name = seq_q, 1, "prefill"
    if model.arch == "vit" and model.vision is not None:
        v = model.vision
        ops.append(_gemm(name, "patch_embed", batch * v.num_patches, model.hidden_size, v.channels * v.patch_size ** 2,
                         dtype, steps))
    moe_layers = 0
    if model.moe is not None:
        moe_layers = model.num_layers // model.moe.every_n_layers
    dense_layers = model.num_layers - moe_layers
    if dense_layers:
        ops += _layer_ops(model, name, batch, seq_q, seq_kv, dtype, dataflow, False, dense_layers * steps, "")
    if moe_layers:
        ops += _layer_ops(model, name, batch, seq_q, seq_kv, dtype, dataflow, True, moe_layers * steps, "moe.")
    if model.arch == "decoder" and model.vocab_size:
        ops.append(_gemm(name, "lm_head", batch, model.vocab_size, model.hidden_size, dtype, steps))
    return ops


def lower(workload: Workload, model: ModelSpec | None) -> list[Op]:
    """All operators of ``workload`` in execution order."""
    dtype = workload.dtype
    dataflow = workload.dataflow.attention
    if workload.layers is not None:
        ops: list[Op] = []
        for layer in workload.layers:
            if isinstance(layer, GemmLayer):
                ops.append(_gemm("layers", layer.name, layer.m, layer.n, layer.k, dtype, layer.count))
            elif isinstance(layer, AttentionLayer):
                ops += _attention_ops("layers", f"{layer.name}.", layer.batch, layer.heads,
                                      layer.kv_heads or layer.heads, layer.seq_q, layer.seq_kv, layer.head_dim,
                                      layer.causal, dtype, ATTENTION_DATAFLOWS[dataflow], layer.count, dataflow)
        return ops
    assert model is not None
    ops = []
    for phase in workload.phases:
        ops += _model_phase_ops(model, phase, dtype, dataflow)
    return ops


def dtype_bytes(dtype: str) -> float:
    return DTYPE_BYTES[dtype]
