"""cuDNN's SDPA decode kernel lowered to launches (split out of :mod:`archsim.gpu.kernels`, which dispatches to it)."""

from __future__ import annotations

from archsim.gpu.kernels import ELEM, SOFTMAX_VEC_OPS, _cdiv
from archsim.gpu.model import CtaWork, LaunchSpec

#: cuDNN's split-KV choice for this kernel, read off the profiler's grids (h200-decode-micro-cudnn-2026-12-01.csv,
#: grid = splits x heads x batch): a grid of at most CUDNN_SPLIT_MAX_GRID CTAs over a KV longer than
#: CUDNN_SPLIT_MIN_KV keys is split into min(CUDNN_SPLIT_TARGET_CTAS / grid, the largest power of two <= its 128-key
#: tiles) parts. Seen: grid 8 -> 32 splits, 32 -> 8 (4 at 6 tiles), 64 -> 4; grid 128 and KV <= 512 never split.
CUDNN_SPLIT_MAX_GRID = 64
CUDNN_SPLIT_MIN_KV = 512
CUDNN_SPLIT_TARGET_CTAS = 256
#: the kernel's launch geometry as the profiler reports it (same file): 86336 B static shared memory per CTA
#: (2 CTAs per SM), 186 registers per thread (248 with a bias input: kernels_masked)
CUDNN_DECODE_SMEM_BYTES = 86336
CUDNN_DECODE_REGS = 186


def cudnn_splits(grid: int, n_tiles: int, seq_kv: int) -> int:
    """KV splits cuDNN picks for ``grid`` CTAs over ``n_tiles`` 128-key tiles (see CUDNN_SPLIT_*)."""
    if grid > CUDNN_SPLIT_MAX_GRID or seq_kv <= CUDNN_SPLIT_MIN_KV:
        return 1
    pow2 = 1 << (max(1, n_tiles).bit_length() - 1)
    return max(1, min(CUDNN_SPLIT_TARGET_CTAS // grid, pow2))


def cudnn_decode(s: dict, sm_count: int) -> list[LaunchSpec]:
    """cuDNN's SDPA decode kernel on the H200 (profiler, power-h200-2026-12-01-padded.csv:
    ``cudnn_generated_fort_native_sdpa_sm80_flash_fprop_wmma_f16_knob_35_16x128x128_1x4x1``, plus
    ``cudnn::fusion::lean_reduction_kernel`` where the grid is small): 16 query rows x 128 keys per tile,
    head dim 128, 4 warps side by side along the keys (1x4x1: each warp reads its own 32-key slice of
    K and V), the Ampere ``mma.sync`` path. Assumptions (cuDNN is closed): the query heads of one KV head
    are packed as tile rows when they fit the 16 rows (measured GQA 32/8 decode takes a quarter of the MHA
    time: it streams each KV head once), else one CTA per (batch, query head, 16-row block); the
    key range is split as cuDNN was seen to split it (:func:`cudnn_splits`, measured grids), with the
    measured shared memory and registers per CTA (occupancy 2 CTAs per SM: wave quantisation)."""
    b, h, hkv, sq, skv, d = s["batch"], s["heads"], s["kv_heads"], s["seq_q"], s["seq_kv"], s["head_dim"]
    e = ELEM[s["dtype"]]
    bm, bn = 16, 128
    group = h // hkv
    rows, heads = (sq * group, hkv) if (sq * group <= bm and group > 1) else (sq, h)  # GQA heads packed as rows
    n_m, n_n = _cdiv(rows, bm), _cdiv(skv, bn)
    grid = b * heads * n_m
    splits = cudnn_splits(grid, n_n, skv)
    per = _cdiv(n_n, splits)
    tile = bn * d * e
    pad = 1.0 - rows / (n_m * bm)
    share = hkv / heads  # HBM share of one CTA's row of heads in its KV head's bytes
    ctas = []
    for i in range(splits):
        keys = max(0, min(skv, (i + 1) * per * bn) - i * per * bn)
        nb = _cdiv(keys, bn)
        mma, sfu, vec = nb * 4.0 * bm * bn * d, nb * bm * bn, nb * bm * (bn * SOFTMAX_VEC_OPS + d)
        ctas.append((grid, CtaWork(
            mma_flops=mma, sfu_ops=sfu, vec_ops=vec, smem_bytes=nb * 2 * tile * 2 + bm * d * e,
            l2_bytes=keys * 2 * d * e, hbm_bytes=keys * 2 * d * e * share, padded_mma_flops=mma * pad,
            padded_vec_ops=vec * pad, padded_sfu_ops=sfu * pad)))
    launches = [LaunchSpec(name="cudnn_decode_16x128", ctas=tuple(ctas), threads_per_cta=128,
                           regs_per_thread=CUDNN_DECODE_REGS, smem_per_cta_bytes=CUDNN_DECODE_SMEM_BYTES,
                           mma_path="mma_sync", schedule="serial",
                           inflight_bytes_per_cta=2 * tile)]
    if splits > 1:  # one CTA per output row (profiler grid: 1 x heads x batch), partials L2-resident
        out_rows = b * h * sq
        part = splits * (d + 1) * 4
        wc = CtaWork(vec_ops=splits * d * 3.0, l2_bytes=part + d * e, hbm_bytes=d * e)
        launches.append(LaunchSpec(name="cudnn_lean_reduction", ctas=((out_rows, wc),),
                                   threads_per_cta=128, regs_per_thread=64, smem_per_cta_bytes=16 * 1024,
                                   mma_path="none", inflight_bytes_per_cta=part))
    return launches
