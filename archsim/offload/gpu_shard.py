"""The kernels of one device's serving step under the GPU stack model: a ``fused``-stack step
(:func:`archsim.gpu.stacks.parts`), cut to the work of :class:`archsim.offload.device_cost.StepWork`
and sharded over the tensor-parallel group.

From the stack's decode step of ``rows`` tokens (every dense kernel of ``rows`` tokens, in launch order):

- its attention kernel is replaced by what runs on this device: the prefill chunks' causal attention
  (FlashAttention-2 forward, ``chunks`` x ``chunk`` queries over ``prior + chunk`` keys) and the decode
  attention of ``attention_batch`` sequences with ``attention_kernel`` (one query over ``context + 1`` keys,
  as the stack writes a decode step; by default vLLM's paged FlashAttention-2,
  :data:`archsim.offload.device_cost.VLLM_FA2`), or nothing (attention offloaded);
- the final norm and LM head run on ``lm_rows`` rows (one per sequence that samples a token);
- each kernel is sharded by :data:`SHARD` (Megatron tensor parallelism as vLLM's layers do it:
  ``QKVParallelLinear`` / ``MergedColumnParallelLinear`` column-parallel, ``RowParallelLinear`` for O and
  down, ``ParallelLMHead`` vocab-parallel; ``RMSNorm`` and the residual adds replicated). A kernel
  the table does not name is an error, not a guess.

``rows == 0`` (a memory device that only runs attention) leaves only the attention kernels.
"""

from __future__ import annotations

import dataclasses
import math

from archsim.errors import ConfigError
from archsim.gpu.stacks import KernelItem, ModelShape, Step, parts

#: kernel name -> how it is sharded over ``tp`` ranks: "replicated", "heads" (query heads / tp),
#: "kv_heads" (KV heads / tp, at least one), "ffn" (FFN width / tp), "column" (GEMM n / tp), "row" (GEMM k / tp)
SHARD = {
    "embedding": "replicated", "rotary_index_cos": "replicated", "rotary_index_sin": "replicated",
    "norm1_fused": "replicated", "residual_norm2_fused": "replicated", "final_norm_fused": "replicated",
    "qkv_proj": "qkv", "rotary_q_fused": "heads", "rotary_k_cache_write_fused": "kv_heads",
    "o_proj": "row", "gate_up_proj": "column", "silu_mul_fused": "ffn", "down_proj": "row", "lm_head": "column",
}


def local_heads(shape: ModelShape, tp: int) -> tuple[int, int]:
    """(query heads, KV heads) on one rank: KV heads replicated when fewer than ``tp`` (vLLM's QKVParallelLinear)."""
    if shape.heads % tp:
        raise ConfigError.single(f"{shape.name}: {shape.heads} attention heads do not split over {tp} GPUs",
                                 key_path="n_compute")
    return shape.heads // tp, max(1, shape.kv_heads // tp)


def shard(it: KernelItem, shape: ModelShape, tp: int) -> KernelItem:
    """One rank's part of kernel ``it`` (see :data:`SHARD`)."""
    if tp == 1:
        return it
    rule = "attention" if it.category == "attention" else SHARD.get(it.name)
    if rule is None:
        raise ConfigError.single(f"kernel {it.name!r} has no tensor-parallel rule (archsim.offload.gpu_shard.SHARD)",
                                 key_path="n_compute")
    heads, kv = local_heads(shape, tp)
    if rule == "replicated":
        return it
    if rule == "attention":
        return dataclasses.replace(it, attention={**(it.attention or {}), "heads": heads, "kv_heads": kv})
    if it.gemm is not None:
        m, n, k, groups = it.gemm
        if rule == "qkv":
            n = (heads + 2 * kv) * shape.head_dim
        elif rule == "column":
            n = math.ceil(n / tp)
        elif rule == "row":
            k = math.ceil(k / tp)
        return dataclasses.replace(it, gemm=(m, n, k, groups))
    factor = {"heads": heads / shape.heads, "kv_heads": kv / shape.kv_heads, "ffn": 1.0 / tp}[rule]
    cls, read, write = it.glue or ("vec", 0.0, 0.0)
    return dataclasses.replace(it, glue=(cls, read * factor, write * factor))


def _attention(shape: ModelShape, batch: int, seq_q: int, seq_kv: int, causal: bool, impl: str) -> KernelItem:
    return KernelItem(category="attention", name=f"attention_{impl}", attention=dict(
        impl=impl, batch=batch, heads=shape.heads, kv_heads=shape.kv_heads, seq_q=seq_q, seq_kv=seq_kv,
        head_dim=shape.head_dim, causal=causal))


def _rows(it: KernelItem, rows: int, lm_rows: int, hidden: int) -> KernelItem:
    """The final norm and LM head of ``rows`` tokens cut to ``lm_rows`` rows."""
    if it.name == "lm_head" and it.gemm is not None:
        return dataclasses.replace(it, gemm=(lm_rows, *it.gemm[1:]))
    if it.name == "final_norm_fused":
        return dataclasses.replace(it, glue=("vec", 2.0 * lm_rows * hidden, 2.0 * lm_rows * hidden))
    raise ConfigError.single(f"unexpected epilogue kernel {it.name!r} of stack 'fused'", key_path="stack")


Priced = list[tuple[KernelItem, float]]


def step_items(shape: ModelShape, w) -> tuple[Priced, Priced, Priced]:  # w: device_cost.StepWork
    """(prologue, one layer, epilogue) of one device's step: kernels with the share of their cost charged."""
    attn: Priced = []
    if w.chunks:
        attn.append((_attention(shape, w.chunks, w.chunk, w.prior + w.chunk, True, "flash2"), w.prefill_share))
    if w.attention_batch:
        attn.append((_attention(shape, w.attention_batch, 1, w.context + 1, False, w.attention_kernel), 1.0))
    attn = [(shard(it, shape, w.tp), s) for it, s in attn]
    if not w.rows:
        return [], attn, []
    pro, layer, epi = parts(shape, Step(phase="decode", batch=w.rows, seq_len=1, context=w.context), "fused",
                            w.host)
    one: Priced = []
    for it in layer:
        if it.category == "attention":
            one += attn
        else:
            one.append((shard(it, shape, w.tp), 1.0))
    tail = [(shard(_rows(it, w.rows, w.lm_rows, shape.hidden), shape, w.tp), 1.0) for it in epi] if w.lm_rows else []
    return [(shard(it, shape, w.tp), 1.0) for it in pro], one, tail
