"""cuDNN's SDPA decode kernel lowered to launches (split out of :mod:`archsim.gpu.kernels`, which dispatches to it)."""

from __future__ import annotations

from archsim.gpu.kernels import ELEM, SOFTMAX_VEC_OPS, _cdiv, fa2_num_splits
from archsim.gpu.model import CtaWork, LaunchSpec


def cudnn_decode(s: dict, sm_count: int) -> list[LaunchSpec]:
    """cuDNN's SDPA decode kernel on the H200 (profiler, power-h200-2026-12-01-padded.csv:
    ``cudnn_generated_fort_native_sdpa_sm80_flash_fprop_wmma_f16_knob_35_16x128x128_1x4x1``, plus
    ``cudnn::fusion::lean_reduction_kernel`` where the grid is small): 16 query rows x 128 keys per tile,
    head dim 128, 4 warps side by side along the keys (1x4x1: each warp reads its own 32-key slice of
    K and V), the Ampere ``mma.sync`` path. Assumptions (cuDNN is closed): the query heads of one KV head
    are packed as tile rows when they fit the 16 rows (measured GQA 32/8 decode takes a quarter of the MHA
    time: it streams each KV head once), else one CTA per (batch, query head, 16-row block); the
    key range is split with FlashAttention-2's heuristic only when that grid is under half the SM
    count (a reduction kernel was seen at 8-32 CTAs, none at 128)."""
    b, h, hkv, sq, skv, d = s["batch"], s["heads"], s["kv_heads"], s["seq_q"], s["seq_kv"], s["head_dim"]
    e = ELEM[s["dtype"]]
    bm, bn = 16, 128
    group = h // hkv
    rows, heads = (sq * group, hkv) if (sq * group <= bm and group > 1) else (sq, h)  # GQA heads packed as rows
    n_m, n_n = _cdiv(rows, bm), _cdiv(skv, bn)
    grid = b * heads * n_m
    splits = fa2_num_splits(grid, 2 * sm_count, n_n) if grid < sm_count / 2 else 1
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
    launches = [LaunchSpec(name="cudnn_decode_16x128", ctas=tuple(ctas), threads_per_cta=128, regs_per_thread=128,
                           smem_per_cta_bytes=bm * d * e + 2 * tile, mma_path="mma_sync", schedule="serial",
                           inflight_bytes_per_cta=2 * tile)]
    if splits > 1:
        out_rows = b * h * sq
        part = out_rows * splits * (d + 1) * 4
        wc = CtaWork(vec_ops=out_rows * splits * d * 3 / max(1, _cdiv(out_rows, 16)),
                     l2_bytes=part / _cdiv(out_rows, 16), hbm_bytes=part / _cdiv(out_rows, 16))
        launches.append(LaunchSpec(name="cudnn_lean_reduction", ctas=((_cdiv(out_rows, 16), wc),),
                                   threads_per_cta=128, regs_per_thread=64, smem_per_cta_bytes=16 * 1024,
                                   mma_path="none", inflight_bytes_per_cta=8 * 1024))
    return launches
