"""FlashAttention-2-style forward pass in Triton, with a torch reference and analytic counts.

Layout ``[batch, heads, seq, head_dim]`` (any strides). GQA/MQA: ``heads`` query heads share
``kv_heads`` key/value heads, query head ``h`` reads kv head ``h // (heads // kv_heads)``.
One program computes ``BLOCK_M`` query rows of one (batch, head) against all keys it may see,
``BLOCK_N`` keys per step, with the online softmax in base 2 (``exp2``, scale folded into
``log2(e) / sqrt(d)``) and an fp32 accumulator. Grid ``(cdiv(seq_q, BLOCK_M), batch*heads)``.

Masks are a band around each query's position. Query row ``i`` sits at key position
``i + seq_kv - seq_q``: **bottom-right alignment**, as FlashAttention-2 (>= 2.1) does for
causal attention when ``seq_q != seq_kv`` — the last query sees every key. Query ``i`` may see
key ``j`` when ``pos - window_left <= j <= pos + window_right`` (``None`` = unbounded side).
Causal is ``window_right = 0``. A query row that sees no key (causal with ``seq_q > seq_kv``)
outputs zeros, as FlashAttention-2 does.

What differs from the FlashAttention-2 CUDA kernel: one loop with the mask applied on every KV
block (FA2 and Triton's tutorial split off-diagonal blocks to skip masking); no dropout, no
log-sum-exp output (forward inference only). Blocks fully outside the band are skipped.
Under the interpreter, bf16 operands are upcast to fp32 before ``tl.dot`` (see
:func:`kernels.runtime.needs_dot_upcast`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import triton
import triton.language as tl
from archsim.kernels.runtime import needs_dot_upcast
from archsim.kernels.trace import Launch

DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
LOG2E = 1.4426950408889634


@triton.jit
def _attn_fwd(Q, K, V, Out, qk_scale,
              stride_qb, stride_qh, stride_qm, stride_qd,
              stride_kb, stride_kh, stride_kn, stride_kd,
              stride_vb, stride_vh, stride_vn, stride_vd,
              stride_ob, stride_oh, stride_om, stride_od,
              HEADS, GROUP, SEQ_Q, SEQ_KV,
              HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
              WINDOW_LEFT: tl.constexpr, WINDOW_RIGHT: tl.constexpr,
              UPCAST: tl.constexpr, PRECISION: tl.constexpr):
    start_m = tl.program_id(0)
    off_bh = tl.program_id(1)
    off_b = off_bh // HEADS
    off_h = off_bh % HEADS
    off_hkv = off_h // GROUP
    offs_m = start_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)
    q_ptrs = Q + off_b * stride_qb + off_h * stride_qh + offs_m[:, None] * stride_qm + offs_d[None, :] * stride_qd
    q = tl.load(q_ptrs, mask=offs_m[:, None] < SEQ_Q, other=0.0)
    if UPCAST:
        q = q.to(tl.float32)
    k_base = K + off_b * stride_kb + off_hkv * stride_kh
    v_base = V + off_b * stride_vb + off_hkv * stride_vh
    # key position of each query row (bottom-right alignment)
    pos = offs_m + (SEQ_KV - SEQ_Q)
    lo = 0
    hi = SEQ_KV
    if WINDOW_LEFT >= 0:
        lo = tl.maximum(start_m * BLOCK_M + (SEQ_KV - SEQ_Q) - WINDOW_LEFT, 0)
        lo = (lo // BLOCK_N) * BLOCK_N
    if WINDOW_RIGHT >= 0:
        hi = tl.minimum((start_m + 1) * BLOCK_M - 1 + (SEQ_KV - SEQ_Q) + WINDOW_RIGHT + 1, SEQ_KV)
    m_i = tl.full([BLOCK_M], -1.0e30, dtype=tl.float32)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, HEAD_DIM], dtype=tl.float32)
    for start_n in range(lo, hi, BLOCK_N):
        cols = start_n + offs_n
        kv_ok = cols < SEQ_KV
        k = tl.load(k_base + cols[None, :] * stride_kn + offs_d[:, None] * stride_kd, mask=kv_ok[None, :], other=0.0)
        if UPCAST:
            k = k.to(tl.float32)
        qk = tl.dot(q, k, input_precision=PRECISION)
        allowed = kv_ok[None, :]
        if WINDOW_RIGHT >= 0:
            allowed = allowed & (cols[None, :] <= pos[:, None] + WINDOW_RIGHT)
        if WINDOW_LEFT >= 0:
            allowed = allowed & (cols[None, :] >= pos[:, None] - WINDOW_LEFT)
        qk = tl.where(allowed, qk * qk_scale, float("-inf"))
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
    out = acc / l_safe[:, None]
    o_ptrs = Out + off_b * stride_ob + off_h * stride_oh + offs_m[:, None] * stride_om + offs_d[None, :] * stride_od
    tl.store(o_ptrs, out.to(Out.dtype.element_ty), mask=offs_m[:, None] < SEQ_Q)


def _dtype_name(t: torch.Tensor) -> str:
    return {v: k for k, v in DTYPES.items()}[t.dtype]


def _check(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[int, int, int, int, int, int]:
    if q.dim() != 4 or k.shape != v.shape or k.dim() != 4:
        raise ValueError("q, k, v must be [batch, heads, seq, head_dim] with k.shape == v.shape")
    batch, heads, seq_q, head_dim = q.shape
    _, kv_heads, seq_kv, _ = k.shape
    if heads % kv_heads:
        raise ValueError(f"heads ({heads}) must be a multiple of kv_heads ({kv_heads})")
    if head_dim not in (16, 32, 64, 128, 256):
        raise ValueError(f"head_dim must be a power of two in 16..256, got {head_dim}")
    return batch, heads, kv_heads, seq_q, seq_kv, head_dim


def attention_launch(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, out: torch.Tensor, *,
                     window_left: int | None = None, window_right: int | None = None, sm_scale: float | None = None,
                     block_m: int = 64, block_n: int = 64, num_warps: int = 4, num_stages: int = 2,
                     name: str = "flash_attention") -> Launch:
    """Describe one launch of the forward kernel writing into ``out`` (same shape as ``q``)."""
    batch, heads, kv_heads, seq_q, seq_kv, head_dim = _check(q, k, v)
    scale = (1.0 / math.sqrt(head_dim) if sm_scale is None else sm_scale) * LOG2E
    n_m = triton.cdiv(seq_q, block_m)
    banded = window_left is not None or window_right is not None
    dtype = _dtype_name(q)
    return Launch(
        name=name, kernel=_attn_fwd, grid=(n_m, batch * heads),
        args=(q, k, v, out, scale, *q.stride(), *k.stride(), *v.stride(), *out.stride(),
              heads, heads // kv_heads, seq_q, seq_kv),
        kwargs=dict(HEAD_DIM=head_dim, BLOCK_M=block_m, BLOCK_N=block_n,
                    WINDOW_LEFT=-1 if window_left is None else window_left,
                    WINDOW_RIGHT=-1 if window_right is None else window_right,
                    UPCAST=needs_dot_upcast(dtype), PRECISION="ieee" if dtype == "fp32" else "tf32"),
        block_sizes={"BLOCK_M": block_m, "BLOCK_N": block_n, "HEAD_DIM": head_dim},
        num_warps=num_warps, num_stages=num_stages, uniform_axes=(1,),
        class_key=(lambda p: p[0]) if banded else (lambda p: p[0] == n_m - 1 and seq_q % block_m != 0))


def flash_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool = False,
                    sm_scale: float | None = None, out: torch.Tensor | None = None, block_m: int = 64,
                    block_n: int = 64, num_warps: int = 4, num_stages: int = 2) -> torch.Tensor:
    """Attention forward; causal uses bottom-right alignment. Returns ``out`` ([B, H, Sq, D], q's dtype)."""
    out = torch.empty_like(q) if out is None else out
    attention_launch(q, k, v, out, window_right=0 if causal else None, sm_scale=sm_scale, block_m=block_m,
                     block_n=block_n, num_warps=num_warps, num_stages=num_stages).run()
    return out


def band_mask(seq_q: int, seq_kv: int, window_left: int | None, window_right: int | None,
              device: str | torch.device = "cpu") -> torch.Tensor:
    """Boolean ``[seq_q, seq_kv]`` mask, True where query ``i`` may see key ``j`` (bottom-right aligned)."""
    pos = torch.arange(seq_q, device=device)[:, None] + (seq_kv - seq_q)
    j = torch.arange(seq_kv, device=device)[None, :]
    mask = torch.ones(seq_q, seq_kv, dtype=torch.bool, device=device)
    if window_right is not None:
        mask &= j <= pos + window_right
    if window_left is not None:
        mask &= j >= pos - window_left
    return mask


def attention_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, window_left: int | None = None,
                        window_right: int | None = None, sm_scale: float | None = None) -> torch.Tensor:
    """Exact attention in float64 (rows that see no key give 0). Returns float64 ``[B, H, Sq, D]``."""
    batch, heads, kv_heads, seq_q, seq_kv, head_dim = _check(q, k, v)
    group = heads // kv_heads
    qd, kd, vd = (t.double() for t in (q, k, v))
    kd, vd = kd.repeat_interleave(group, dim=1), vd.repeat_interleave(group, dim=1)
    scale = 1.0 / math.sqrt(head_dim) if sm_scale is None else sm_scale
    scores = (qd @ kd.transpose(-1, -2)) * scale
    mask = band_mask(seq_q, seq_kv, window_left, window_right, q.device)
    scores = scores.masked_fill(~mask, float("-inf"))
    probs = torch.softmax(scores, dim=-1).nan_to_num(0.0)  # all-masked rows: softmax gives NaN -> 0
    return probs @ vd


def _block_range(m: int, *, seq_q: int, seq_kv: int, block_m: int, block_n: int,
                 window_left: int | None, window_right: int | None) -> range:
    """KV block starts the kernel visits for query block ``m`` (mirrors the kernel's lo/hi)."""
    off = seq_kv - seq_q
    lo, hi = 0, seq_kv
    if window_left is not None:
        lo = max(m * block_m + off - window_left, 0) // block_n * block_n
    if window_right is not None:
        hi = min((m + 1) * block_m - 1 + off + window_right + 1, seq_kv)
    return range(lo, hi, block_n)


def allowed_pairs(seq_q: int, seq_kv: int, window_left: int | None, window_right: int | None) -> int:
    """Number of (query, key) pairs the band allows, in closed form per row (one batch-head)."""
    pos = np.arange(seq_q, dtype=np.int64) + (seq_kv - seq_q)
    first = np.zeros(seq_q, dtype=np.int64) if window_left is None else np.maximum(pos - window_left, 0)
    last = np.full(seq_q, seq_kv - 1, dtype=np.int64) if window_right is None else np.minimum(pos + window_right,
                                                                                              seq_kv - 1)
    return int(np.maximum(last - first + 1, 0).sum())


def band_counts(*, batch: int, heads: int, kv_heads: int, seq_q: int, seq_kv: int, head_dim: int, dtype: str,
                window_left: int | None, window_right: int | None, block_m: int, block_n: int) -> dict:
    """Analytic executed counts of :func:`_attn_fwd` (exact) and the useful (dense-reference) work.

    Per visited KV block of a query block: ``4*BM*BN*D`` matmul FLOPs (QK^T and PV, padding
    included); elementwise ``2*BM*BN`` (scale, subtract max) + ``2*BM*(BN-1)`` (row max, row
    sum) + ``4*BM`` (running max, m_i - m_ij, l*alpha, + rowsum) + ``BM*D`` (acc*alpha);
    transcendentals ``BM*BN + BM`` (exp2). Epilogue ``BM*D`` divides. Loads count valid rows/keys
    only (masked lanes issue no request). All of it times ``batch*heads``.
    """
    es = torch.finfo(DTYPES[dtype]).bits // 8
    bm, bn, d = block_m, block_n, head_dim
    per_bh = dict.fromkeys(("matmul_flops", "elementwise_flops", "reduction_flops", "transcendentals",
                            "bytes_loaded", "bytes_stored"), 0)
    for m in range(triton.cdiv(seq_q, bm)):
        rows = min(bm, seq_q - m * bm)
        blocks = _block_range(m, seq_q=seq_q, seq_kv=seq_kv, block_m=bm, block_n=bn,
                              window_left=window_left, window_right=window_right)
        n_iter = len(blocks)
        keys = sum(min(bn, seq_kv - s) for s in blocks)
        per_bh["matmul_flops"] += n_iter * 4 * bm * bn * d
        per_bh["reduction_flops"] += n_iter * 2 * bm * (bn - 1)
        per_bh["elementwise_flops"] += n_iter * (2 * bm * bn + 2 * bm * (bn - 1) + 4 * bm + bm * d) + bm * d
        per_bh["transcendentals"] += n_iter * (bm * bn + bm)
        per_bh["bytes_loaded"] += rows * d * es + 2 * keys * d * es
        per_bh["bytes_stored"] += rows * d * es
    executed = {key: value * batch * heads for key, value in per_bh.items()}
    executed["flops"] = executed["matmul_flops"] + executed["elementwise_flops"]
    pairs = allowed_pairs(seq_q, seq_kv, window_left, window_right) * batch * heads
    useful = {"matmul_flops": 4 * head_dim * pairs, "transcendentals": pairs, "attention_pairs": pairs,
              "bytes_loaded": (batch * heads * seq_q + 2 * batch * kv_heads * seq_kv) * head_dim * es,
              "bytes_stored": batch * heads * seq_q * head_dim * es}
    return {"executed": executed, "useful": useful}


def counts(*, batch: int, heads: int, kv_heads: int, seq_q: int, seq_kv: int, head_dim: int, dtype: str = "fp16",
           causal: bool = False, block_m: int = 64, block_n: int = 64) -> dict:
    """Analytic counts of :func:`flash_attention` (see :func:`band_counts`)."""
    return band_counts(batch=batch, heads=heads, kv_heads=kv_heads, seq_q=seq_q, seq_kv=seq_kv, head_dim=head_dim,
                       dtype=dtype, window_left=None, window_right=0 if causal else None,
                       block_m=block_m, block_n=block_n)
