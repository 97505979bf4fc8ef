"""Tiled attention on the CPU with numba, with the same band masks as the Triton kernels.

Work is split into tasks of ``block_m`` query rows of one (batch, head), run in parallel with
``prange``; each task walks the KV blocks its band touches (same lo/hi rule as
:mod:`kernels.triton.flash_attention`, bottom-right aligned) with an online softmax in base e.
Unlike the GPU kernel, a CPU core needs no padded tiles: only allowed (query, key) pairs are
computed, so executed work equals useful work. The kernel counts what it does (per task,
summed after): multiply-add FLOPs, exp calls, K/V bytes read, KV tiles visited — and
:func:`counts` gives the same from the shape alone.

Explicit loops, no BLAS (numba's ``np.dot`` needs SciPy, which archsim does not depend on).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

N_COUNTERS = 4  # flops, exps, kv_bytes, tiles


@njit(parallel=True, cache=True)
def _attention(q, k, v, out, window_left, window_right, scale, block_m, block_n, counters):  # pragma: no cover
    batch, heads, seq_q, dim = q.shape
    kv_heads, seq_kv = k.shape[1], k.shape[2]
    group = heads // kv_heads
    n_m = (seq_q + block_m - 1) // block_m
    off = seq_kv - seq_q
    es = q.itemsize
    for task in prange(batch * heads * n_m):
        b = task // (heads * n_m)
        h = (task // n_m) % heads
        mb = task % n_m
        hk = h // group
        row0 = mb * block_m
        rows = min(block_m, seq_q - row0)
        lo = 0
        hi = seq_kv
        if window_left >= 0:
            lo = max(row0 + off - window_left, 0) // block_n * block_n
        if window_right >= 0:
            hi = min(row0 + block_m - 1 + off + window_right + 1, seq_kv)
        m_i = np.full(rows, -np.inf)
        l_i = np.zeros(rows)
        acc = np.zeros((rows, dim))
        scores = np.empty(block_n)
        flops = 0
        exps = 0
        tiles = 0
        kv_bytes = 0
        for start in range(lo, hi, block_n):
            cols = min(block_n, seq_kv - start)
            tiles += 1
            kv_bytes += 2 * cols * dim * es
            for r in range(rows):
                pos = row0 + r + off
                first = start
                last = start + cols - 1
                if window_left >= 0:
                    first = max(first, pos - window_left)
                if window_right >= 0:
                    last = min(last, pos + window_right)
                if last < first:
                    continue
                tile_max = -np.inf
                for j in range(first, last + 1):
                    s = 0.0
                    for d in range(dim):
                        s += q[b, h, row0 + r, d] * k[b, hk, j, d]
                    s *= scale
                    scores[j - first] = s
                    tile_max = max(tile_max, s)
                flops += 2 * dim * (last - first + 1)
                m_new = max(m_i[r], tile_max)
                alpha = math.exp(m_i[r] - m_new)
                exps += 1
                l_i[r] *= alpha
                for d in range(dim):
                    acc[r, d] *= alpha
                for j in range(first, last + 1):
                    p = math.exp(scores[j - first] - m_new)
                    l_i[r] += p
                    for d in range(dim):
                        acc[r, d] += p * v[b, hk, j, d]
                exps += last - first + 1
                flops += 2 * dim * (last - first + 1)
                m_i[r] = m_new
        for r in range(rows):
            inv = 1.0 / l_i[r] if l_i[r] > 0.0 else 0.0
            for d in range(dim):
                out[b, h, row0 + r, d] = acc[r, d] * inv
        counters[task, 0] = flops
        counters[task, 1] = exps
        counters[task, 2] = kv_bytes
        counters[task, 3] = tiles


def tiled_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, *, causal: bool = False,
                    window_left: int | None = None, window_right: int | None = None, sm_scale: float | None = None,
                    out: np.ndarray | None = None, block_m: int = 32, block_n: int = 64) -> tuple[np.ndarray, dict]:
    """Attention over ``[B, H, S, D]`` float32/float64 arrays; returns ``(out, measured counts)``.

    ``causal`` is ``window_right = 0``; rows that see no key output 0. Counts: ``flops`` (2 per
    multiply-add in QK^T and PV), ``exps``, ``kv_bytes`` (K and V tile bytes read), ``tiles``.
    """
    if causal:
        window_right = 0
    batch, heads, seq_q, dim = q.shape
    kv_heads = k.shape[1]
    if heads % kv_heads or k.shape != v.shape:
        raise ValueError("heads must be a multiple of kv_heads and k.shape == v.shape")
    out = np.empty_like(q) if out is None else out
    n_m = -(-seq_q // block_m)
    counters = np.zeros((batch * heads * n_m, N_COUNTERS), dtype=np.int64)
    scale = 1.0 / math.sqrt(dim) if sm_scale is None else sm_scale
    _attention(q, k, v, out, -1 if window_left is None else window_left, -1 if window_right is None else window_right,
               scale, block_m, block_n, counters)
    totals = counters.sum(axis=0)
    return out, {"flops": int(totals[0]), "exps": int(totals[1]), "kv_bytes": int(totals[2]), "tiles": int(totals[3])}


def counts(*, batch: int, heads: int, seq_q: int, seq_kv: int, head_dim: int, causal: bool = False,
           window_left: int | None = None, window_right: int | None = None, block_m: int = 32, block_n: int = 64,
           itemsize: int = 4) -> dict:
    """Analytic counts of :func:`tiled_attention`: ``4*D`` FLOPs and one exp per allowed pair,
    one rescale exp per (row, tile) with an allowed key, K+V bytes of every tile visited."""
    if causal:
        window_right = 0
    off = seq_kv - seq_q
    flops = exps = kv_bytes = tiles = 0
    for mb in range(-(-seq_q // block_m)):
        row0 = mb * block_m
        lo, hi = 0, seq_kv
        if window_left is not None:
            lo = max(row0 + off - window_left, 0) // block_n * block_n
        if window_right is not None:
            hi = min(row0 + block_m - 1 + off + window_right + 1, seq_kv)
        pos = np.arange(row0, min(row0 + block_m, seq_q)) + off
        for start in range(lo, hi, block_n):
            cols = min(block_n, seq_kv - start)
            tiles += 1
            kv_bytes += 2 * cols * head_dim * itemsize
            first = np.full(pos.shape, start) if window_left is None else np.maximum(start, pos - window_left)
            last = np.full(pos.shape, start + cols - 1)
            if window_right is not None:
                last = np.minimum(last, pos + window_right)
            n = np.maximum(last - first + 1, 0)
            flops += int(4 * head_dim * n.sum())
            exps += int(n.sum() + np.count_nonzero(n))
    scale = batch * heads
    return {"flops": flops * scale, "exps": exps * scale, "kv_bytes": kv_bytes * scale, "tiles": tiles * scale}


def reference(q: np.ndarray, k: np.ndarray, v: np.ndarray, *, causal: bool = False, window_left: int | None = None,
              window_right: int | None = None, sm_scale: float | None = None) -> np.ndarray:
    """Exact attention in float64 with numpy (rows that see no key give 0)."""
    if causal:
        window_right = 0
    seq_q, dim = q.shape[2], q.shape[3]
    seq_kv = k.shape[2]
    group = q.shape[1] // k.shape[1]
    kd = np.repeat(k.astype(np.float64), group, axis=1)
    vd = np.repeat(v.astype(np.float64), group, axis=1)
    scale = 1.0 / math.sqrt(dim) if sm_scale is None else sm_scale
    s = np.einsum("bhqd,bhkd->bhqk", q.astype(np.float64), kd) * scale
    pos = np.arange(seq_q)[:, None] + (seq_kv - seq_q)
    j = np.arange(seq_kv)[None, :]
    allowed = np.ones((seq_q, seq_kv), dtype=bool)
    if window_right is not None:
        allowed &= j <= pos + window_right
    if window_left is not None:
        allowed &= j >= pos - window_left
    s = np.where(allowed, s, -np.inf)
    m = s.max(axis=-1, keepdims=True)
    e = np.where(allowed, np.exp(s - np.where(np.isfinite(m), m, 0.0)), 0.0)
    denom = e.sum(axis=-1, keepdims=True)
    return np.einsum("bhqk,bhkd->bhqd", e / np.where(denom > 0, denom, 1.0), vd)
