"""Lowering: the one place where a workload becomes typed operators (:mod:`archsim.operators`).

Modelling choices (stated, not hidden):
- Decoder prefill computes logits only for the last token of each sequence (serving); decode
  computes them for every sequence in the batch.
- Embedding lookups and the final norm are ignored (well under 0.1% of time at these sizes).
- K/V produced by the QKV projection are written to the KV cache by that GEMM's output;
  decode attention reads the whole cache (``context_len + step`` tokens) every step.
- Decode steps are simulated at their mean KV length and repeated (exact for costs linear in
  the length).
- MoE experts: each token goes to ``top_k`` experts; the expected number of distinct active
  experts for T tokens with uniform routing is E * (1 - (1 - k/E)^T), and only those experts'
  weights are read.
- The attention algorithm (``algorithm.attention``) decides fused vs unfused: a fused one is
  one :class:`~archsim.operators.Attention`; an unfused one is scores, softmax and context.
"""

from __future__ import annotations

from dataclasses import dataclass

from archsim.algorithms import attention_algorithm
from archsim.operators import (
    Attention,
    AttentionContext,
    AttentionScores,
    Elementwise,
    Gemm,
    MoeExperts,
    Norm,
    Operator,
    Role,
    Softmax,
    expected_active_experts,
)
from archsim.schemas.model import ModelSpec
from archsim.schemas.workload import AttentionLayer, DecodePhase, GemmLayer, Workload


@dataclass(frozen=True, kw_only=True)
class _Ctx:
    phase: str
    dtype: str
    count: int
    tag: str
    algorithm: str


def attention_operators(ctx: _Ctx, *, batch: int, heads: int, kv_heads: int, seq_q: int, seq_kv: int,
                        head_dim: int, causal: bool, window: int | None = None) -> list[Operator]:
    """One fused attention, or the unfused three (scores, softmax, context), per the algorithm."""
    shape = dict(batch=batch, heads=heads, kv_heads=kv_heads, seq_q=seq_q, seq_kv=seq_kv, head_dim=head_dim,
                 causal=causal, window=window, algorithm=ctx.algorithm)
    common = dict(phase=ctx.phase, dtype=ctx.dtype, count=ctx.count)
    if attention_algorithm(ctx.algorithm).fused:
        return [Attention(name=f"{ctx.tag}attention", role=Role.ATTENTION, **common, **shape)]
    return [
        AttentionScores(name=f"{ctx.tag}attn_scores", role=Role.ATTN_SCORES, **common, **shape),
        Softmax(name=f"{ctx.tag}attn_softmax", role=Role.ATTN_SOFTMAX, **common, rows=batch * heads * seq_q,
                cols=seq_kv),
        AttentionContext(name=f"{ctx.tag}attn_context", role=Role.ATTN_CONTEXT, **common, **shape),
    ]


def _gemm(ctx: _Ctx, role: Role, m: int, n: int, k: int, name: str | None = None) -> Gemm:
    return Gemm(name=name or f"{ctx.tag}{role.value}", role=role, phase=ctx.phase, dtype=ctx.dtype, count=ctx.count,
                m=m, n=n, k=k)


def _norm(ctx: _Ctx, role: Role, fn: str, elements: int) -> Norm:
    return Norm(name=f"{ctx.tag}{role.value}", role=role, phase=ctx.phase, dtype=ctx.dtype, count=ctx.count,
                fn=fn, elements=elements)


def _elementwise(ctx: _Ctx, role: Role, fn: str, elements: int, inputs: int = 1) -> Elementwise:
    return Elementwise(name=f"{ctx.tag}{role.value}", role=role, phase=ctx.phase, dtype=ctx.dtype,
                       count=ctx.count, fn=fn, elements=elements, inputs=inputs)


def layer_operators(model: ModelSpec, ctx: _Ctx, *, batch: int, seq_q: int, seq_kv: int,
                    moe_layer: bool) -> list[Operator]:
    """One transformer layer (pre-norm): norm, QKV, attention, out, residual, norm, FFN or MoE, residual."""
    h, d = model.hidden_size, model.dhead
    tokens = batch * seq_q
    ops: list[Operator] = [
        _norm(ctx, Role.ATTN_NORM, model.norm, tokens * h),
        _gemm(ctx, Role.QKV_PROJ, tokens, d * (model.num_heads + 2 * model.kv_heads), h),
        *attention_operators(ctx, batch=batch, heads=model.num_heads, kv_heads=model.kv_heads, seq_q=seq_q,
                             seq_kv=seq_kv, head_dim=d, causal=model.arch == "decoder"),
        _gemm(ctx, Role.OUT_PROJ, tokens, h, model.num_heads * d),
        _elementwise(ctx, Role.ATTN_RESIDUAL, "residual_add", tokens * h, inputs=2),
        _norm(ctx, Role.FFN_NORM, model.norm, tokens * h),
    ]
    gated = model.ffn_kind == "gated_silu"
    act = "silu_mul" if gated else model.ffn_kind
    if moe_layer and model.moe is not None:
        moe = model.moe
        f = moe.expert_ffn_hidden_size
        pairs = tokens * moe.top_k
        active = expected_active_experts(moe.num_experts, moe.top_k, tokens)
        common = dict(phase=ctx.phase, dtype=ctx.dtype, count=ctx.count, tokens=pairs, active_experts=active,
                      num_experts=moe.num_experts)
        ops += [
            _gemm(ctx, Role.MOE_ROUTER, tokens, moe.num_experts, h),
            MoeExperts(name=f"{ctx.tag}moe_experts_up", role=Role.MOE_UP, n=2 * f if gated else f, k=h, **common),
            _elementwise(ctx, Role.MOE_ACT, act, pairs * f, inputs=2 if gated else 1),
            MoeExperts(name=f"{ctx.tag}moe_experts_down", role=Role.MOE_DOWN, n=h, k=f, **common),
        ]
    else:
        f = model.ffn_hidden_size
        ops += [
            _gemm(ctx, Role.FFN_UP, tokens, 2 * f if gated else f, h),
            _elementwise(ctx, Role.FFN_ACT, act, tokens * f, inputs=2 if gated else 1),
            _gemm(ctx, Role.FFN_DOWN, tokens, h, f),
        ]
    ops.append(_elementwise(ctx, Role.FFN_RESIDUAL, "residual_add", tokens * h, inputs=2))
    return ops


def phase_operators(model: ModelSpec, phase: object, dtype: str, algorithm: str) -> list[Operator]:
    """The operators of one prefill or decode phase of ``model``."""
    if isinstance(phase, DecodePhase):
        batch, seq_q, steps, name = phase.batch, 1, phase.steps, "decode"
        seq_kv = phase.context_len + (steps + 1) // 2  # the mean step's KV length
    else:
        batch = phase.batch  # type: ignore[attr-defined]
        seq_q = phase.seq_len if phase.seq_len is not None else model.vision.num_tokens  # type: ignore
        seq_kv, steps, name = seq_q, 1, "prefill"
    head = _Ctx(phase=name, dtype=dtype, count=steps, tag="", algorithm=algorithm)
    ops: list[Operator] = []
    if model.arch == "vit" and model.vision is not None:
        v = model.vision
        ops.append(_gemm(head, Role.PATCH_EMBED, batch * v.num_patches, model.hidden_size,
                         v.channels * v.patch_size ** 2))
    moe_layers = model.num_layers // model.moe.every_n_layers if model.moe is not None else 0
    dense_layers = model.num_layers - moe_layers
    for n_layers, moe, tag in ((dense_layers, False, ""), (moe_layers, True, "moe.")):
        if n_layers:
            ctx = _Ctx(phase=name, dtype=dtype, count=n_layers * steps, tag=tag, algorithm=algorithm)
            ops += layer_operators(model, ctx, batch=batch, seq_q=seq_q, seq_kv=seq_kv, moe_layer=moe)
    if model.arch == "decoder" and model.vocab_size:
        ops.append(_gemm(head, Role.LM_HEAD, batch, model.vocab_size, model.hidden_size))
    return ops


def lower(workload: Workload, model: ModelSpec | None) -> list[Operator]:
    """All operators of ``workload`` in execution order."""
    dtype, algorithm = workload.dtype, workload.algorithm.attention
    if workload.layers is not None:
        ops: list[Operator] = []
        for layer in workload.layers:
            ctx = _Ctx(phase="layers", dtype=dtype, count=layer.count, tag=f"{layer.name}.", algorithm=algorithm)
            if isinstance(layer, GemmLayer):
                ops.append(_gemm(ctx, Role.LAYER, layer.m, layer.n, layer.k, name=layer.name))
            elif isinstance(layer, AttentionLayer):
                ops += attention_operators(ctx, batch=layer.batch, heads=layer.heads,
                                           kv_heads=layer.kv_heads or layer.heads, seq_q=layer.seq_q,
                                           seq_kv=layer.seq_kv, head_dim=layer.head_dim, causal=layer.causal)
        return ops
    if model is None:
        raise ValueError("lower: a model workload needs its resolved model")
    return [op for phase in workload.phases for op in phase_operators(model, phase, dtype, algorithm)]


def tokens_by_phase(workload: Workload, model: ModelSpec | None) -> dict[str, int]:
    """Tokens each phase produces (prefill: prompt tokens; decode: batch x steps)."""
    tokens: dict[str, int] = {}
    for phase in workload.phases:
        if isinstance(phase, DecodePhase):
            n = phase.batch * phase.steps
        else:
            n = phase.batch * (phase.seq_len or (model.vision.num_tokens if model and model.vision else 0))
        tokens[phase.phase] = tokens.get(phase.phase, 0) + n
    return tokens
