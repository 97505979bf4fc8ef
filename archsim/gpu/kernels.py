"""Known kernels lowered to :class:`~archsim.gpu.model.LaunchSpec`: how each one tiles its work.

Every builder takes a problem shape (and a launch configuration for our Triton kernels) and
returns the launches the kernel makes. Counts are executed work (padding included, and its share
named apart as ``padded_*`` work: tile rows past the problem, see :mod:`archsim.gpu.power`): tensor-core
FLOPs per tile, softmax lane operations, special-function ops, shared-memory traffic, bytes through
L2 and the compulsory share of each CTA in HBM traffic (K/V and GEMM operands are read from HBM
once and re-read from L2 by the other CTAs that need them).

Tilings (design facts, not fitted):
- ``triton-flash`` / ``flash-decoding`` / ``triton-gemm``: our kernels in ``kernels/triton``
  with their launch configuration (defaults as shipped). Registers are estimated as 40 + fp32
  accumulator and score tiles per thread (the device compile gave 127-168 for attention, 58-117
  for GEMM); shared memory = pipeline stages x tiles, as Triton allocates it.
- ``flash2`` (PyTorch SDPA FLASH = FlashAttention-2 v2.x, flash_fwd_launch_template.h): 4 warps,
  BM x BN = 128x128 for head dim <= 64, 128x64 up to 128, 64x64 above; ``mma.sync`` (Ampere
  path on Hopper); Q in registers, K/V single-buffered in shared memory, each warp reads the
  whole K/V tile (ldmatrix); softmax not overlapped with the GEMMs (FA3 paper, sec. 3.1).
  Decode (seq_q small): the split-KV kernel (BM 64, BN 256/128/64 by head dim) with FA2's
  ``num_splits_heuristic`` over 2 x SMs, GQA query heads packed into the M tile
  (``seqlenq_ngroups_swapped``), plus a combine kernel; where the heuristic gives one split,
  ``run_mha_fwd`` (flash_api.cpp) runs the regular forward kernel (its BM x BN tiles) instead.
- ``cudnn``: prefill as the sm90 kernel the profiler names (64-row wgmma tiles x 128 keys; ``CUDNN_PREFILL_TILE``),
  its softmax overlapping only the P.V GEMM (FA3's intra-warpgroup pipelining); decode as the kernel the profiler
  showed on the H200, a 16x128 ``mma.sync`` tile with GQA heads packed (:mod:`archsim.gpu.kernels_decode`).
- ``cublas``: wgmma tiles from {64,128,256}x{64,128,256}, BK=64, 4 stages, one CTA per SM,
  2x1 clusters sharing the B tile through TMA multicast (CUTLASS sm90 default), optional split-K
  with an fp32 reduction kernel; the tile/split with the least predicted time is
  taken (cuBLAS's heuristic picks from such a list). m <= 64: the swap-AB 128 x (8..64) tiles the
  profiler showed (``CUBLAS_SKINNY_TILES``).
- Padded tile rows are named (``padded_*`` work) with what they hold (``LaunchSpec.padded_fill``):
  zeros for TMA / masked loads, stale shared memory for FlashAttention-2's Q tile.
- ``naive``: torch eager = contiguous copies of q/k/v views, batched GEMM QK^T, scale, (mask),
  softmax, batched GEMM PV.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

from archsim.errors import PhysicalLimitError
from archsim.gpu.calibration import DeviceRates
from archsim.gpu.model import CtaWork, LaunchSpec, simulate_launch

ELEM = {"bf16": 2, "fp16": 2, "fp32": 4}
#: FP32-pipe lane ops per score element in the softmax phase: scale (FFMA), row max, subtract,
#: row sum, convert to the MMA dtype; Triton applies its mask on every block (+1 select, +2 for
#: the causal compare/and). Plus the accumulator rescale: head_dim / BN per element.
#: (Instruction counts of the kernels' inner loops, not the algorithmic FLOPs of
#: archsim.operators.SOFTMAX_VECTOR_FLOPS, which count max/subtract/sum/divide.)
SOFTMAX_VEC_OPS = 4.0
#: Lane ops per element of a tile the causal mask cuts (column index, compare, select -inf);
#: FlashAttention-2/3 apply them only on the ceil(BM/BN) diagonal tiles of each query block.
MASK_VEC_OPS = 3.0


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _kv_blocks(m: int, bm: int, bn: int, sq: int, skv: int, causal: bool) -> int:
    """KV blocks a query block visits (bottom-right causal alignment skips blocks above the band)."""
    if not causal:
        return _cdiv(skv, bn)
    hi = min(skv, (m + 1) * bm - 1 + (skv - sq) + 1)
    return _cdiv(hi, bn) if hi > 0 else 0


def _attention_prefill(name: str, s: dict, *, bm: int, bn: int, threads: int, regs: int, smem: float, path: str,
                       schedule: str, vec_per_elem: float, smem_reads_per_tile: float, inflight: float,
                       diagonal_mask: bool = True) -> LaunchSpec:
    """Tiled fused attention; ``diagonal_mask``: masking costs extra on the diagonal tiles only."""
    b, h, hkv, sq, skv, d = s["batch"], s["heads"], s["kv_heads"], s["seq_q"], s["seq_kv"], s["head_dim"]
    e = ELEM[s["dtype"]]
    n_m = _cdiv(sq, bm)
    kv_head_bytes = 2 * skv * d * e
    hbm_kv_share = kv_head_bytes / (n_m * (h // hkv))
    tile = bn * d * e
    works: dict[tuple[int, int], CtaWork] = {}
    ctas = []  # launch order: the query blocks of one (batch, head) fastest (grid x), as FA2 and Triton launch
    for m in range(n_m):
        nb = _kv_blocks(m, bm, bn, sq, skv, s["causal"])
        real = min(bm, sq - m * bm)
        pad = 1.0 - real / bm  # rows of the last query block past seq_q
        # warps own bm / warps rows each and each reads the K/V tiles: those owning only padded rows do padded reads
        warps = threads // 32
        idle = warps - _cdiv(real * warps, bm)
        key = (nb, real)
        if key not in works:
            elems = nb * bm * bn
            masked = min(nb, _cdiv(bm, bn)) if (s["causal"] and diagonal_mask) else 0
            mma, sfu = nb * 4.0 * bm * bn * d, elems + nb * bm
            vec = elems * vec_per_elem + nb * bm * d + masked * bm * bn * MASK_VEC_OPS
            works[key] = CtaWork(mma_flops=mma, sfu_ops=sfu, vec_ops=vec,
                                 smem_bytes=nb * 2 * tile * (1 + smem_reads_per_tile) + bm * d * e,
                                 l2_bytes=nb * 2 * tile + 2 * bm * d * e,
                                 hbm_bytes=hbm_kv_share * (nb * bn / max(1, skv)) + 2 * bm * d * e,
                                 padded_mma_flops=mma * pad, padded_vec_ops=vec * pad, padded_sfu_ops=sfu * pad,
                                 padded_smem_bytes=nb * 2 * tile * smem_reads_per_tile * idle / warps)
        if ctas and ctas[-1][1] is works[key]:
            ctas[-1] = (ctas[-1][0] + 1, works[key])
        else:
            ctas.append((1, works[key]))
    if len(ctas) == 1:  # every query block alike: one run over the whole grid
        ctas = [(ctas[0][0] * b * h, ctas[0][1])]
        repeat = 1
    else:
        repeat = b * h
    return LaunchSpec(name=name, ctas=tuple(ctas), threads_per_cta=threads, regs_per_thread=regs,
                      smem_per_cta_bytes=smem, mma_path=path, schedule=schedule, inflight_bytes_per_cta=inflight,
                      repeat=repeat)


def _triton_regs(rows: int, cols: int, d: int, threads: int) -> int:
    return min(255, 40 + (rows * d + 2 * rows * cols) // threads)


def triton_flash(s: dict, block_m: int = 64, block_n: int = 64, num_warps: int = 4, num_stages: int = 2,
                 **_: object) -> list[LaunchSpec]:
    d, e = s["head_dim"], ELEM[s["dtype"]]
    threads = 32 * num_warps
    smem = num_stages * 2 * block_n * d * e + block_m * d * e
    vec = SOFTMAX_VEC_OPS + 1 + (2 if s["causal"] else 0)
    return [_attention_prefill("triton_flash_attention", s, bm=block_m, bn=block_n, threads=threads,
                               regs=_triton_regs(block_m, block_n, d, threads), smem=smem, path="wgmma",
                               schedule="serial", vec_per_elem=vec, smem_reads_per_tile=1,
                               inflight=max(1, num_stages - 1) * 2 * block_n * d * e, diagonal_mask=False)]


def attention_shape_of(op: Any) -> dict:
    """The kernel-library shape dict of a typed attention operator (:mod:`archsim.operators`)."""
    return {"batch": op.batch, "heads": op.heads, "kv_heads": op.kv_heads, "seq_q": op.seq_q, "seq_kv": op.seq_kv,
            "head_dim": op.head_dim, "causal": op.causal, "dtype": op.dtype}


def fa2_tile(d: int) -> tuple[int, int]:
    return (128, 128) if d <= 64 else (128, 64) if d <= 128 else (64, 64)


def flash2(s: dict, *, sm_count: int, **_: object) -> list[LaunchSpec]:
    if s["seq_q"] <= 16:
        return fa2_decode(s, "flash2", sm_count)
    return [fa2_forward(s)]


def fa2_forward(s: dict) -> LaunchSpec:
    """FlashAttention-2's regular (non-split) forward kernel."""
    d, e = s["head_dim"], ELEM[s["dtype"]]
    bm, bn = fa2_tile(d)
    smem = bm * d * e + 2 * bn * d * e
    spec = _attention_prefill("fa2_fwd", s, bm=bm, bn=bn, threads=128, regs=255, smem=smem, path="mma_sync",
                              schedule="serial", vec_per_elem=SOFTMAX_VEC_OPS, smem_reads_per_tile=4,
                              inflight=bn * d * e)
    return dataclasses.replace(spec, padded_fill="stale")  # Q rows past seqlen_q are not cleared (flash::copy)


#: cuDNN 9's sm90 prefill kernel as the profiler names it on the H200 (``..._sm90_flash_fprop_wgmma_f16_knob_7_
#: 64x128x128_4x1x1_...`` for head dim 128, ``64x128x64`` for 64; archsim/data/measurements/h200/
#: h200-wm-kernels-2026-12-01.csv): a 64-row query tile, 128-key tiles, 4 MMA warps = one consumer warpgroup (wgmma
#: M = 64). One consumer warpgroup cannot ping-pong: its softmax overlaps only its own P.V GEMM (FA3 Algorithm 2,
#: intra-warpgroup pipelining; ``schedule="pipelined"`` in archsim.gpu.model).
CUDNN_PREFILL_TILE = (128, 128)
#: Registers per thread (assumption; cuDNN's are not public): a producer warpgroup plus the consumer warpgroup whose
#: threads hold S (64x128 fp32: 64 registers), O (64 x d fp32: 32-64) and P (bf16: 32) — FA3's hopper kernels
#: launch such warp-specialised CTAs with more than half the register file (setmaxnreg 240 for consumers), so one
#: CTA per SM; the clock-sampled regime campaign (regime-h200-2026-12-01.csv) measured 1096 / 1463 SM cycles per
#: 64x128 tile at head dim 64 / 128, where the pipelined chain of one CTA gives 1077 / 1354 and two co-resident
#: CTAs would allow 800 / 1108.
CUDNN_PREFILL_REGS = 200


def cudnn(s: dict, *, sm_count: int, **_: object) -> list[LaunchSpec]:
    d, e = s["head_dim"], ELEM[s["dtype"]]
    if s["seq_q"] <= 16:
        from archsim.gpu.kernels_decode import cudnn_decode  # its module imports this one's helpers
        return cudnn_decode(s, sm_count)
    bm, bn = CUDNN_PREFILL_TILE[0], (CUDNN_PREFILL_TILE[1] if d <= 128 else 64)
    smem = bm * d * e + 2 * 2 * bn * d * e
    return [_attention_prefill("cudnn_sm90_fprop", s, bm=bm, bn=bn, threads=384, regs=168, smem=smem, path="wgmma",
                               schedule="pipelined", vec_per_elem=SOFTMAX_VEC_OPS, smem_reads_per_tile=2,
                               inflight=2 * bn * d * e)]


def fa2_num_splits(batch_nheads_mblocks: int, num_sms: int, num_n_blocks: int, max_splits: int = 128) -> int:
    """FlashAttention-2's ``num_splits_heuristic`` (flash_api.cpp), ``num_sms`` = 2 x SM count."""
    if batch_nheads_mblocks >= 0.8 * num_sms:
        return 1
    max_splits = min(max_splits, num_sms, num_n_blocks)
    effs, eligible = [], []
    for splits in range(1, max_splits + 1):
        ok = splits == 1 or _cdiv(num_n_blocks, splits) != _cdiv(num_n_blocks, splits - 1)
        waves = batch_nheads_mblocks * splits / num_sms
        effs.append(waves / math.ceil(waves) if ok else 0.0)
        eligible.append(ok)
    best = max(effs)
    for splits in range(1, max_splits + 1):
        if eligible[splits - 1] and effs[splits - 1] >= 0.85 * best:
            return splits
    return 1


def fa2_decode(s: dict, label: str, sm_count: int) -> list[LaunchSpec]:
    b, h, hkv, sq, skv, d = s["batch"], s["heads"], s["kv_heads"], s["seq_q"], s["seq_kv"], s["head_dim"]
    e = ELEM[s["dtype"]]
    group = h // hkv
    rows, heads = (sq * group, hkv) if (sq == 1 and group > 1) else (sq, h)  # seqlenq_ngroups_swapped
    bm, bn = 64, (256 if d <= 64 else 128 if d <= 128 else 64)
    n_m, n_n = _cdiv(rows, bm), _cdiv(skv, bn)
    splits = fa2_num_splits(b * heads * n_m, 2 * sm_count, n_n)
    if splits == 1 and label == "flash2":  # flash_api.cpp run_mha_fwd: one split runs the regular forward kernel
        swapped = {**s, "heads": heads, "kv_heads": heads if rows != sq else hkv, "seq_q": rows,
                   "causal": s["causal"] and sq > 1}  # FA2 drops causal for seqlen_q == 1
        return [fa2_forward(swapped)]
    per = _cdiv(n_n, splits)  # KV blocks per split; trailing splits may get fewer (or none)
    tile = bn * d * e
    pad = 1.0 - rows / (n_m * bm)  # tile rows past the query rows (63 of 64 for one row without GQA packing)
    # each of the 4 warps owns 16 rows and reads the whole K and V tile (ldmatrix): the reads of warps that own
    # only padded rows are padded work too
    idle_warps = 4.0 - sum(_cdiv(min(bm, rows - j * bm), 16) for j in range(n_m)) / n_m
    ctas = []
    for i in range(splits):
        keys = max(0, min(skv, (i + 1) * per * bn) - i * per * bn)
        nb = _cdiv(keys, bn)
        mma, sfu, vec = nb * 4.0 * bm * bn * d, nb * bm * bn, nb * bm * (bn * SOFTMAX_VEC_OPS + d)
        ctas.append((b * heads * n_m, CtaWork(
            mma_flops=mma, sfu_ops=sfu, vec_ops=vec, smem_bytes=nb * 2 * tile * 5, l2_bytes=keys * 2 * d * e,
            hbm_bytes=keys * 2 * d * e, padded_mma_flops=mma * pad, padded_vec_ops=vec * pad,
            padded_sfu_ops=sfu * pad, padded_smem_bytes=nb * 2 * tile * idle_warps)))
    launches = [LaunchSpec(name=f"{label}_splitkv", ctas=tuple(ctas), threads_per_cta=128,
                           regs_per_thread=255, smem_per_cta_bytes=bm * d * e + 2 * tile, mma_path="mma_sync",
                           schedule="serial", inflight_bytes_per_cta=tile, padded_fill="stale",
                           energy_class="fa2_splitkv")]
    if splits > 1:
        out_rows = b * heads * rows
        part = out_rows * splits * (d + 1) * 4
        wc = CtaWork(vec_ops=out_rows * splits * d * 3 / max(1, _cdiv(out_rows, 16)),
                     l2_bytes=part / _cdiv(out_rows, 16), hbm_bytes=part / _cdiv(out_rows, 16))
        launches.append(LaunchSpec(name=f"{label}_combine", ctas=((_cdiv(out_rows, 16), wc),), threads_per_cta=128,
                                   regs_per_thread=64, smem_per_cta_bytes=16 * 1024, mma_path="none",
                                   inflight_bytes_per_cta=8 * 1024))
    return launches


def flash_decoding(s: dict, num_splits: int = 4, block_n: int = 64, num_warps: int = 4, num_stages: int = 2,
                   **_: object) -> list[LaunchSpec]:
    """Our split-KV decode kernel (kernels/triton/flash_decoding.py) and its reduce kernel."""
    b, h, hkv, skv, d = s["batch"], s["heads"], s["kv_heads"], s["seq_kv"], s["head_dim"]
    e = ELEM[s["dtype"]]
    group = h // hkv
    bh = max(16, 1 << (group - 1).bit_length())
    split_len = _cdiv(_cdiv(skv, num_splits), block_n) * block_n
    n_splits = _cdiv(skv, split_len)
    tile = block_n * d * e
    threads = 32 * num_warps
    classes = []
    for i in range(n_splits):
        keys = min(split_len, skv - i * split_len)
        nb = _cdiv(keys, block_n)
        classes.append((nb, keys))
    ctas = []
    pad = 1.0 - group / bh  # the query heads of one KV head padded to a 16-row (power of two) tile
    for nb, keys in classes:
        mma, sfu, vec = nb * 4.0 * bh * block_n * d, nb * bh * block_n, nb * bh * (block_n * (SOFTMAX_VEC_OPS + 1) + d)
        w = CtaWork(mma_flops=mma, sfu_ops=sfu, vec_ops=vec, smem_bytes=nb * 2 * tile * 2,
                    l2_bytes=keys * 2 * d * e, hbm_bytes=keys * 2 * d * e, padded_mma_flops=mma * pad,
                    padded_vec_ops=vec * pad, padded_sfu_ops=sfu * pad)
        ctas.append((b * hkv, w))
    split = LaunchSpec(name="flash_decoding_split", ctas=tuple(ctas), threads_per_cta=threads,
                       regs_per_thread=_triton_regs(bh, block_n, d, threads),
                       smem_per_cta_bytes=num_stages * tile + 3 * bh * d * e, mma_path="mma_sync",
                       schedule="serial", inflight_bytes_per_cta=max(1, num_stages - 1) * 2 * tile)
    part = n_splits * (d + 1) * 4
    reduce = LaunchSpec(name="flash_decoding_reduce", ctas=((b * h, CtaWork(vec_ops=3 * n_splits * d, l2_bytes=part,
                                                                           hbm_bytes=part + d * e)),),
                        threads_per_cta=128, regs_per_thread=40, smem_per_cta_bytes=0, mma_path="none",
                        inflight_bytes_per_cta=part)
    return [split, reduce]


def gemm_spec(name: str, m: int, n: int, k: int, e: int, *, bm: int, bn: int, bk: int, stages: int, threads: int,
              regs: int, split_k: int = 1, batch: int = 1, schedule: str = "overlap",
              smem_reads: float = 2.0, multicast: int = 1) -> list[LaunchSpec]:
    """Tiled GEMM. ``multicast``: CTAs of a cluster sharing one B tile load from L2 (TMA multicast)."""
    k_per = _cdiv(k, split_k)
    grid = _cdiv(m, bm) * _cdiv(n, bn) * split_k * batch
    steps = _cdiv(k_per, bk)
    a_b = batch * (m * k + k * n) * e
    out_e = 4 if split_k > 1 else e
    pad = 1.0 - m * n / (_cdiv(m, bm) * bm * _cdiv(n, bn) * bn)  # tile rows/columns past the matrix (m=1: 63/64)
    mma = 2.0 * bm * bn * steps * bk
    w = CtaWork(mma_flops=mma, vec_ops=bm * bn, padded_mma_flops=mma * pad, padded_vec_ops=bm * bn * pad,
                smem_bytes=steps * (bm + bn) * bk * e * (1 + smem_reads / 2) + bm * bn * e,
                l2_bytes=steps * (bm + bn / multicast) * bk * e + bm * bn * out_e,
                hbm_bytes=(a_b + batch * m * n * out_e * split_k) / grid)
    launches = [LaunchSpec(name=name, ctas=((grid, w),), threads_per_cta=threads, regs_per_thread=regs,
                           smem_per_cta_bytes=stages * (bm + bn) * bk * e, mma_path="wgmma", schedule=schedule,
                           inflight_bytes_per_cta=max(1, stages - 1) * (bm + bn) * bk * e)]
    if split_k > 1:
        elems = batch * m * n
        launches.append(stream_kernel(f"{name}_splitk_reduce", elems, read_b=split_k * 4.0, write_b=float(e),
                                      vec_per_elem=split_k))
    return launches


def stream_kernel(name: str, elems: int, *, read_b: float, write_b: float, vec_per_elem: float = 1.0,
                  sfu_per_elem: float = 0.0, extra_l2_per_elem: float = 0.0) -> LaunchSpec:
    """An elementwise/row kernel streaming ``elems`` elements (CTA: 256 threads x 8 elements)."""
    per = 2048
    grid = max(1, _cdiv(elems, per))
    w = CtaWork(vec_ops=per * vec_per_elem, sfu_ops=per * sfu_per_elem,
                l2_bytes=per * (read_b + write_b + extra_l2_per_elem), hbm_bytes=per * (read_b + write_b))
    return LaunchSpec(name=name, ctas=((grid, w),), threads_per_cta=256, regs_per_thread=32, smem_per_cta_bytes=0,
                      mma_path="none", inflight_bytes_per_cta=256 * 16 * 2)


CUBLAS_TILES = ((128, 256), (256, 128), (128, 128), (64, 128), (64, 256), (128, 64), (64, 64))
#: Skinny GEMMs (m <= 64): cuBLAS runs them with the operands swapped, 128 rows of the weight by an
#: m-wide tile of wgmma N = 8/16/32/64 and deeper pipelines (profiler names on the H200,
#: archsim/data/measurements/h200/power-h200-2026-12-01-padded.csv:
#: ``nvjet_sm90_tst_128x8_64x12_2x1`` for m = 1..8, ``128x16_64x11`` m = 16, ``128x32_64x10`` m = 32,
#: ``128x64_64x8`` m = 64): N tile -> pipeline stages. For m <= 64 these are the only candidates.
CUBLAS_SKINNY_TILES = {8: 12, 16: 11, 32: 10, 64: 8}
#: largest m of the measured non-swap skinny GEMMs (power-h200-2026-12-01-split.csv: m = 96..256)
STREAM_WIDE_MAX_M = 256


def cublas_gemm(m: int, n: int, k: int, dtype: str, rates: DeviceRates, batch: int = 1) -> list[LaunchSpec]:
    """The cuBLAS-like choice: the tile and split-K with the least predicted time."""
    e = ELEM[dtype]
    best: tuple[float, list[LaunchSpec]] | None = None
    for bm, bn in (() if m <= 64 else CUBLAS_TILES):
        base_grid = _cdiv(m, bm) * _cdiv(n, bn) * batch
        splits = [1] + [s for s in (2, 3, 4, 8, 16) if base_grid * s <= 2 * rates.sm_count and k // s >= 256]
        for split in splits:
            threads = 128 * (bm // 64) + 128  # consumer warpgroups of 64 rows + one producer
            regs = min(168, (rates.registers_per_sm // threads) // 8 * 8)
            launches = gemm_spec(f"cublas_gemm_{bm}x{bn}" + (f"_splitk{split}" if split > 1 else ""), m, n, k, e,
                                 bm=bm, bn=bn, bk=64, stages=4, threads=threads, regs=regs, split_k=split, batch=batch,
                                 multicast=2 if _cdiv(m, bm) >= 2 else 1)
            if m <= STREAM_WIDE_MAX_M and batch == 1 and dtype in ("bf16", "fp16"):  # measured (archsim.gpu.power)
                launches[0] = dataclasses.replace(launches[0], energy_class="stream_wide")
            try:
                t = sum(simulate_launch(ln, rates).time_s for ln in launches)
            except PhysicalLimitError:  # this tile's CTA does not fit this GPU (e.g. A100 smem): cuBLAS skips it
                continue
            if best is None or t < best[0]:
                best = (t, launches)
    if m <= 64:  # swap-AB: C^T = W^T x^T on 128 x (8..64) tiles; the tile columns past m are padded work
        for bn, stages in CUBLAS_SKINNY_TILES.items():
            if bn < m:
                continue
            base_grid = _cdiv(n, 128) * batch
            for split in [1] + [s for s in (2, 3, 4, 8, 16) if base_grid * s <= 2 * rates.sm_count and k // s >= 256]:
                launches = gemm_spec(f"cublas_gemm_swapab_128x{bn}" + (f"_splitk{split}" if split > 1 else ""), n, m,
                                     k, e, bm=128, bn=bn, bk=64, stages=stages, threads=384,
                                     regs=min(168, (rates.registers_per_sm // 384) // 8 * 8), split_k=split,
                                     batch=batch, multicast=2 if _cdiv(n, 128) >= 2 else 1)
                launches[0] = dataclasses.replace(launches[0], weight_stream=True)  # archsim.gpu.power
                try:
                    t = sum(simulate_launch(ln, rates).time_s for ln in launches)
                except PhysicalLimitError:
                    continue
                if best is None or t < best[0]:
                    best = (t, launches)
            break  # cuBLAS takes the narrowest N tile that holds m
    if best is None:  # a device description no real GPU matches (e.g. 2 threads per SM): refuse, not assert
        raise PhysicalLimitError(f"cublas_gemm {m}x{n}x{k}: no cuBLAS tile's CTA fits one SM of this GPU")
    return best[1]


def triton_gemm(m: int, n: int, k: int, dtype: str, block_m: int = 64, block_n: int = 64, block_k: int = 32,
                num_warps: int = 4, num_stages: int = 3, **_: object) -> list[LaunchSpec]:
    threads = 32 * num_warps
    return gemm_spec("triton_gemm", m, n, k, ELEM[dtype], bm=block_m, bn=block_n, bk=block_k, stages=num_stages,
                     threads=threads, regs=min(255, 40 + block_m * block_n // threads), schedule="serial")


def naive_attention(s: dict, rates: DeviceRates) -> list[LaunchSpec]:
    b, h, sq, skv, d = s["batch"], s["heads"], s["seq_q"], s["seq_kv"], s["head_dim"]
    e = ELEM[s["dtype"]]
    scores = b * h * sq * skv
    # torch.matmul on (B, H, S, D) views of (B, S, H, D) tensors cannot fold B and H into one bmm
    # batch stride: it copies q, k (and later v) to contiguous tensors first
    launches = [stream_kernel("contiguous_q", b * h * sq * d, read_b=e, write_b=e),
                stream_kernel("contiguous_k", b * s["kv_heads"] * skv * d, read_b=e, write_b=e)]
    launches += cublas_gemm(sq, skv, d, s["dtype"], rates, batch=b * h)
    launches.append(stream_kernel("scale", scores, read_b=e, write_b=e))
    if s["causal"]:
        launches.append(stream_kernel("masked_fill", scores, read_b=e, write_b=e, extra_l2_per_elem=1))
    launches.append(stream_kernel("softmax", scores, read_b=e, write_b=e, vec_per_elem=4, sfu_per_elem=1))
    launches.append(stream_kernel("contiguous_v", b * s["kv_heads"] * skv * d, read_b=e, write_b=e))
    launches += cublas_gemm(sq, d, skv, s["dtype"], rates, batch=b * h)
    return launches


def cudnn_bias(s: dict, *, sm_count: int, **_: object) -> list[LaunchSpec]:
    """cuDNN SDPA with an additive bias (what a masked SDPA runs): :func:`archsim.gpu.kernels_masked.cudnn_bias`."""
    from archsim.gpu.kernels_masked import cudnn_bias as _cudnn_bias  # its module imports this one
    return _cudnn_bias(s, sm_count=sm_count)


ATTENTION_IMPLS: dict[str, Callable[..., list[LaunchSpec]]] = {
    "triton-flash": triton_flash, "flash2": flash2, "cudnn": cudnn, "flash-decoding": flash_decoding,
    "cudnn-bias": cudnn_bias,
}
