"""Flash-decoding (split-KV) attention for the decode phase, in Triton: two launches.

Decode has one query per sequence, so FlashAttention's parallelism over query blocks is gone;
flash-decoding (Dao et al., 2023) splits the KV sequence into ``num_splits`` chunks processed
in parallel, then merges the partial results with their log-sum-exps.

Launch 1 ``_decode_split``, grid ``(num_splits, batch*kv_heads)``: one program takes the
``group = heads // kv_heads`` query heads that share a KV head (GQA/MQA: K/V are read once for
the whole group), padded to ``BLOCK_H = max(16, next_pow2(group))`` rows because ``tl.dot``
needs at least 16 rows; it writes a normalised partial output and its base-2 log-sum-exp
(fp32) per split. Launch 2 ``_decode_reduce``, grid ``(batch*heads,)``: weights each split by
``exp2(lse - max lse)`` and sums. Padding rows are masked on load/store but still occupy the
MMA: executed matmul FLOPs exceed useful ones by ``BLOCK_H / group`` (16x for MHA); ``counts``
reports both. Bytes count requests as issued (masks honoured).
Under the interpreter, bf16 operands are upcast to fp32 before ``tl.dot``.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl
from archsim.kernels.runtime import needs_dot_upcast
from archsim.kernels.trace import Launch
from archsim.kernels.triton.flash_attention import DTYPES, LOG2E, attention_reference


@triton.jit
def _decode_split(Q, K, V, O_PART, LSE, qk_scale,
                  stride_qb, stride_qh, stride_qd,
                  stride_kb, stride_kh, stride_kn, stride_kd,
                  stride_vb, stride_vh, stride_vn, stride_vd,
                  stride_pb, stride_ph, stride_ps, stride_pd,
                  stride_lb, stride_lh, stride_ls,
                  KV_HEADS, GROUP, SEQ_KV, SPLIT_LEN,
                  HEAD_DIM: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_N: tl.constexpr,
                  UPCAST: tl.constexpr, PRECISION: tl.constexpr):
    split = tl.program_id(0)
    off_bkv = tl.program_id(1)
    off_b = off_bkv // KV_HEADS
    off_hkv = off_bkv % KV_HEADS
    offs_h = tl.arange(0, BLOCK_H)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)
    heads = off_hkv * GROUP + offs_h
    h_ok = offs_h < GROUP
    q = tl.load(Q + off_b * stride_qb + heads[:, None] * stride_qh + offs_d[None, :] * stride_qd,
                mask=h_ok[:, None], other=0.0)
    if UPCAST:
        q = q.to(tl.float32)
    k_base = K + off_b * stride_kb + off_hkv * stride_kh
    v_base = V + off_b * stride_vb + off_hkv * stride_vh
    lo = split * SPLIT_LEN
    hi = tl.minimum(lo + SPLIT_LEN, SEQ_KV)
    m_i = tl.full([BLOCK_H], -1.0e30, dtype=tl.float32)
    l_i = tl.zeros([BLOCK_H], dtype=tl.float32)
    acc = tl.zeros([BLOCK_H, HEAD_DIM], dtype=tl.float32)
    for start_n in range(lo, hi, BLOCK_N):
        cols = start_n + offs_n
        kv_ok = cols < hi
        k = tl.load(k_base + cols[None, :] * stride_kn + offs_d[:, None] * stride_kd, mask=kv_ok[None, :], other=0.0)
        if UPCAST:
            k = k.to(tl.float32)
        qk = tl.dot(q, k, input_precision=PRECISION)
        qk = tl.where(kv_ok[None, :], qk * qk_scale, float("-inf"))
        m_ij = tl.maximum(m_i, tl.max(qk, 1))
        p = tl.math.exp2(qk - m_ij[:, None])
        alpha = tl.math.exp2(m_i - m_ij)
        l_i = l_i * alpha + tl.sum(p, 1)
        acc = acc * alpha[:, None]
        v = tl.load(v_base + cols[:, None] * stride_vn + offs_d[None, :] * stride_vd, mask=kv_ok[:, None], other=0.0)
        if UPCAST:
            v = v.to(tl.float32)
        acc = tl.dot(p.to(v.dtype), v, acc, input_precision=PRECISION)
        m_i = m_ij
    l_safe = tl.where(l_i > 0.0, l_i, 1.0)
    part = acc / l_safe[:, None]
    lse = m_i + tl.math.log2(l_safe)
    tl.store(O_PART + off_b * stride_pb + heads[:, None] * stride_ph + split * stride_ps + offs_d[None, :] * stride_pd,
             part, mask=h_ok[:, None])
    tl.store(LSE + off_b * stride_lb + heads * stride_lh + split * stride_ls, lse, mask=h_ok)


@triton.jit
def _decode_reduce(O_PART, LSE, Out, HEADS, NUM_SPLITS,
                   stride_pb, stride_ph, stride_ps, stride_pd,
                   stride_lb, stride_lh, stride_ls,
                   stride_ob, stride_oh, stride_od,
                   HEAD_DIM: tl.constexpr, BLOCK_S: tl.constexpr):
    off_bh = tl.program_id(0)
    off_b = off_bh // HEADS
    off_h = off_bh % HEADS
    offs_s = tl.arange(0, BLOCK_S)
    offs_d = tl.arange(0, HEAD_DIM)
    s_ok = offs_s < NUM_SPLITS
    lse = tl.load(LSE + off_b * stride_lb + off_h * stride_lh + offs_s * stride_ls, mask=s_ok, other=float("-inf"))
    m = tl.max(lse, 0)
    w = tl.math.exp2(lse - m)
    part = tl.load(O_PART + off_b * stride_pb + off_h * stride_ph + offs_s[:, None] * stride_ps
                   + offs_d[None, :] * stride_pd, mask=s_ok[:, None], other=0.0)
    num = tl.sum(w[:, None] * part, 0)
    den = tl.sum(w, 0)
    out = num / den
    tl.store(Out + off_b * stride_ob + off_h * stride_oh + offs_d * stride_od, out.to(Out.dtype.element_ty))


def _geometry(seq_kv: int, num_splits: int, block_n: int) -> tuple[int, int]:
    """(split length in tokens, a multiple of BLOCK_N; number of non-empty splits)."""
    split_len = triton.cdiv(triton.cdiv(seq_kv, num_splits), block_n) * block_n
    return split_len, triton.cdiv(seq_kv, split_len)


def _block_h(group: int) -> int:
    return max(16, triton.next_power_of_2(group))


def decoding_launches(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, out: torch.Tensor, *, num_splits: int = 4,
                      sm_scale: float | None = None, block_n: int = 64, num_warps: int = 4,
                      num_stages: int = 2) -> tuple[Launch, Launch]:
    """Describe both launches. ``q``/``out``: [B, H, 1, D]; ``k``/``v``: [B, HKV, Skv, D]."""
    if q.dim() != 4 or q.shape[2] != 1 or k.shape != v.shape or k.dim() != 4:
        raise ValueError("decode expects q [B, H, 1, D] and k, v [B, HKV, Skv, D]")
    batch, heads, _, head_dim = q.shape
    kv_heads, seq_kv = k.shape[1], k.shape[2]
    if heads % kv_heads:
        raise ValueError(f"heads ({heads}) must be a multiple of kv_heads ({kv_heads})")
    if num_splits < 1:
        raise ValueError(f"num_splits must be >= 1, got {num_splits}")
    group = heads // kv_heads
    split_len, n_splits = _geometry(seq_kv, num_splits, block_n)
    part = torch.empty(batch, heads, n_splits, head_dim, dtype=torch.float32, device=q.device)
    lse = torch.empty(batch, heads, n_splits, dtype=torch.float32, device=q.device)
    scale = (1.0 / math.sqrt(head_dim) if sm_scale is None else sm_scale) * LOG2E
    dtype = {val: key for key, val in DTYPES.items()}[q.dtype]
    block_h = _block_h(group)
    split = Launch(
        name="flash_decoding_split", kernel=_decode_split, grid=(n_splits, batch * kv_heads),
        args=(q, k, v, part, lse, scale, q.stride(0), q.stride(1), q.stride(3), *k.stride(), *v.stride(),
              *part.stride(), *lse.stride(), kv_heads, group, seq_kv, split_len),
        kwargs=dict(HEAD_DIM=head_dim, BLOCK_H=block_h, BLOCK_N=block_n, UPCAST=needs_dot_upcast(dtype),
                    PRECISION="ieee" if dtype == "fp32" else "tf32"),
        block_sizes={"BLOCK_H": block_h, "BLOCK_N": block_n, "HEAD_DIM": head_dim, "SPLIT_LEN": split_len},
        num_warps=num_warps, num_stages=num_stages, uniform_axes=(1,), class_key=lambda p: p[0] == n_splits - 1)
    block_s = max(2, triton.next_power_of_2(n_splits))
    reduce = Launch(
        name="flash_decoding_reduce", kernel=_decode_reduce, grid=(batch * heads,),
        args=(part, lse, out, heads, n_splits, *part.stride(), *lse.stride(), out.stride(0), out.stride(1),
              out.stride(3)),
        kwargs=dict(HEAD_DIM=head_dim, BLOCK_S=block_s),
        block_sizes={"BLOCK_S": block_s, "HEAD_DIM": head_dim}, num_warps=4, num_stages=1, uniform_axes=(0,))
    return split, reduce


def flash_decoding(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, num_splits: int = 4,
                   sm_scale: float | None = None, out: torch.Tensor | None = None, block_n: int = 64,
                   num_warps: int = 4, num_stages: int = 2) -> torch.Tensor:
    """Decode attention of one query per sequence against the whole KV cache; returns [B, H, 1, D]."""
    out = torch.empty_like(q) if out is None else out
    for launch in decoding_launches(q, k, v, out, num_splits=num_splits, sm_scale=sm_scale, block_n=block_n,
                                    num_warps=num_warps, num_stages=num_stages):
        launch.run()
    return out


def decoding_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, sm_scale: float | None = None):
    """Exact attention of the single query against all keys, float64."""
    return attention_reference(q, k, v, sm_scale=sm_scale)


def counts(*, batch: int, heads: int, kv_heads: int, seq_kv: int, head_dim: int, dtype: str = "fp16",
           num_splits: int = 4, block_n: int = 64) -> dict:
    """Analytic counts of both launches (exact), plus the useful work of one-query attention.

    Split launch, per (split, batch, kv head), with ``BH = BLOCK_H`` rows and ``n`` KV blocks:
    matmul ``4*BH*BN*D*n``; elementwise ``n*(2*BH*BN + 2*BH*(BN-1) + 4*BH + BH*D) + BH*D + BH``;
    transcendentals ``n*(BH*BN + BH) + BH`` (exp2, and log2 of the lse). Reduce launch, per
    (batch, head), with ``S`` splits and ``BS = BLOCK_S``: elementwise ``(BS-1) + BS + BS*D +
    (BS-1)*D + (BS-1) + D``, transcendentals ``BS``. Bytes: requests as issued (masks honoured).
    """
    es = torch.finfo(DTYPES[dtype]).bits // 8
    group = heads // kv_heads
    bh, bn, d = _block_h(group), block_n, head_dim
    split_len, n_splits = _geometry(seq_kv, num_splits, block_n)
    programs = batch * kv_heads
    ex = dict.fromkeys(("matmul_flops", "elementwise_flops", "reduction_flops", "transcendentals",
                        "bytes_loaded", "bytes_stored"), 0)
    for s in range(n_splits):
        lo, hi = s * split_len, min((s + 1) * split_len, seq_kv)
        n = triton.cdiv(hi - lo, bn)
        ex["matmul_flops"] += programs * n * 4 * bh * bn * d
        ex["reduction_flops"] += programs * n * 2 * bh * (bn - 1)
        ex["elementwise_flops"] += programs * (n * (2 * bh * bn + 2 * bh * (bn - 1) + 4 * bh + bh * d) + bh * d + bh)
        ex["transcendentals"] += programs * (n * (bh * bn + bh) + bh)
        ex["bytes_loaded"] += programs * (group * d * es + 2 * (hi - lo) * d * es)
        ex["bytes_stored"] += programs * group * (d + 1) * 4
    bs = max(2, triton.next_power_of_2(n_splits))
    rows = batch * heads
    ex["reduction_flops"] += rows * ((bs - 1) + (bs - 1) * d + (bs - 1))
    ex["elementwise_flops"] += rows * ((bs - 1) + bs + bs * d + (bs - 1) * d + (bs - 1) + d)
    ex["transcendentals"] += rows * bs
    ex["bytes_loaded"] += rows * n_splits * (1 + d) * 4
    ex["bytes_stored"] += rows * d * es
    ex["flops"] = ex["matmul_flops"] + ex["elementwise_flops"]
    useful = {"matmul_flops": 4 * batch * heads * seq_kv * d, "transcendentals": batch * heads * seq_kv,
              "bytes_loaded": (batch * heads * d + 2 * batch * kv_heads * seq_kv * d) * es,
              "bytes_stored": batch * heads * d * es}
    return {"executed": ex, "useful": useful, "num_splits": n_splits, "split_len": split_len}
