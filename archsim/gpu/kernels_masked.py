"""PyTorch SDPA with an explicit ``attn_mask`` on the H200: the kernels it runs and their launches.

Dispatch (PyTorch ``aten/src/ATen/native/transformers/cuda/sdp_utils.cpp``): ``can_use_flash_attention``'s general
constraints include ``check_for_attn_mask`` (any mask rejects FLASH); cuDNN's constraints check only the mask's shape
(``check_attn_mask_shape``) and admit GQA; EFFICIENT takes a mask too but comes after cuDNN in the H200 order.

What runs (profiler, archsim/data/measurements/h200/h200-masked-sdpa-kernels-2026-12-01.csv, torch 2.11.0+cu130,
cuDNN 9.19; campaigns/masked_sdpa.py): PyTorch's default backend choice is cuDNN attention with and without a
mask, for decode (q_len 1) and prefill, MHA and GQA (``enable_gqa``), boolean and additive masks alike:

- the same kernel names as the bias-free calls: ``cudnn_generated_fort_native_sdpa_sm80_flash_fprop_wmma_f16_
  knob_35_16x128x128_1x4x1`` (+ ``cudnn::fusion::lean_reduction_kernel`` on small grids) for decode,
  ``..._sm90_flash_fprop_wgmma_f16_knob_7_64x128x{64,128}_4x1x1`` for prefill, now with a bias input;
- a boolean mask is first converted to an additive bias of the query dtype (``sdp::convert_boolean_attn_mask``:
  profiler ``FillFunctor`` x 2 (``vectorized_elementwise_kernel<8>``) and one ``elementwise_kernel<128, 4>``
  select over the mask's elements); a float mask goes in as is. The bias keeps the mask's shape
  ``[batch, 1, q, kv]`` (broadcast over heads).

Measured cost of the bias inside the cuDNN kernel (same data; bias-free = ``none`` rows):
- decode: +0.5..1.5 us per call (1.00-1.17x), under 1 % at large batch x context: the bias row of a 16x128 tile
  is 128 x 2 B next to 64 KB of K/V. Modelled from what the kernel must do: the bias bytes (one read per
  (batch, key) from HBM, per head from L2) and :data:`BIAS_VEC_OPS` per score; nothing fitted.
- prefill: 1.6x (1K) to 2.0x (16K), head dim 64 and 128, MHA and GQA: the per-tile time doubles, far more than
  the bias bytes (64x128x2 B per tile, L2) or an extra add explain (serial schedule + bytes + ops: 1.2-1.4x).
  cuDNN is closed; the mechanism is not observable without a kernel profiler, so the slow-down is a fitted
  per-tile factor :data:`CUDNN_PREFILL_BIAS_TILE_FACTOR` on the KV-tile work (calibrated on the microbenchmark's
  prefill rows with n >= 2048 only), plus the bias bytes.
"""

from __future__ import annotations

import dataclasses

from archsim.gpu.kernels import ELEM, cudnn
from archsim.gpu.model import CtaWork, LaunchSpec

#: FP32-pipe lane ops per score for an additive bias: convert the bf16 bias to fp32, add (instruction count).
BIAS_VEC_OPS = 2.0
#: Per-KV-tile work multiplier of cuDNN's sm90 prefill kernel with a bias input (fitted: least squares of
#: masked / bias-free kernel time over the prefill rows n >= 2048 of h200-masked-sdpa-points-2026-12-01.csv,
#: ratios 1.74-1.99; the n = 1024 rows (1.63, 1.84) are validation). Applies to the tile chain's compute and
#: shared-memory work; the bias bytes are added on top.
CUDNN_PREFILL_BIAS_TILE_FACTOR = 1.82


def _with_bias(w: CtaWork, scores: float, bias_l2: float, bias_hbm: float, factor: float) -> CtaWork:
    return dataclasses.replace(
        w, mma_flops=w.mma_flops * factor, sfu_ops=w.sfu_ops * factor, smem_bytes=w.smem_bytes * factor,
        vec_ops=w.vec_ops * factor + BIAS_VEC_OPS * scores, l2_bytes=w.l2_bytes + bias_l2,
        hbm_bytes=w.hbm_bytes + bias_hbm, padded_mma_flops=w.padded_mma_flops * factor,
        padded_vec_ops=w.padded_vec_ops * factor, padded_sfu_ops=w.padded_sfu_ops * factor,
        padded_smem_bytes=w.padded_smem_bytes * factor)


def cudnn_bias(s: dict, *, sm_count: int, **_: object) -> list[LaunchSpec]:
    """cuDNN SDPA with an additive bias ``[batch, 1, seq_q, seq_kv]`` of the query dtype (see module docstring).

    Units: bytes, lane ops. The bias tile of a CTA holds its real query rows x the keys it visits; each head
    reads it from L2 and the heads of one batch share one HBM read (share ``1 / heads`` per CTA)."""
    base = cudnn(s, sm_count=sm_count)
    e, h, sq = ELEM[s["dtype"]], s["heads"], s["seq_q"]
    out = []
    for i, ln in enumerate(base):
        if i > 0 or ln.mma_path == "none":  # split-KV reduction: no bias
            out.append(ln)
            continue
        decode = sq <= 16
        factor = 1.0 if decode else CUDNN_PREFILL_BIAS_TILE_FACTOR
        ctas, d = [], s["head_dim"]
        for n, w in ln.ctas:
            # score elements the CTA computes = its QK^T FLOPs / (2 d); real rows for the bias bytes
            scores = w.mma_flops / (4.0 * d)
            real = 1.0 - (w.padded_mma_flops / w.mma_flops if w.mma_flops else 0.0)
            bias_l2 = scores * real * e
            ctas.append((n, _with_bias(w, scores, bias_l2, bias_l2 / h, factor)))
        out.append(dataclasses.replace(ln, name=ln.name + "_bias", ctas=tuple(ctas)))
    return out


def bool_mask_to_bias_glue(batch: int, seq_q: int, seq_kv: int) -> list[tuple[str, str, float, float]]:
    """The kernels PyTorch runs to turn a boolean ``[batch, 1, seq_q, seq_kv]`` mask into the bias (profiler:
    two ``FillFunctor`` launches and one ``elementwise_kernel<128, 4>`` select), as ``(name, glue class, bytes
    read, bytes written)`` for :class:`archsim.gpu.stacks.KernelItem` glue; the same byte convention as the
    transformers mask kernels of :mod:`archsim.gpu.stacks` (2 B per mask element)."""
    n = 2 * batch * seq_q * seq_kv
    return [("sdpa_mask_fill_0", "vec", n, n), ("sdpa_mask_fill_1", "vec", n, n),
            ("sdpa_mask_select", "strided", n, n)]


MICROBENCH = ("h200-masked-sdpa-points-2026-12-01.csv", "h200-masked-sdpa-kernels-2026-12-01.csv")


def microbenchmark_rows(hw: str = "h200") -> list[dict]:
    """Measured (profiler: cuDNN kernels + memsets, us per call) vs modelled bias-free and bias kernels for every
    shape of the masked-SDPA microbenchmark (``float`` = the bias as given; ``bool`` adds the conversion kernels,
    reported as ``glue_us``). Units: microseconds."""
    import csv
    from collections import defaultdict

    from archsim.data import measurement
    from archsim.gpu.predict import predict_attention

    with open(measurement("h200", MICROBENCH[0]), newline="") as fh:
        points = {r["point"]: r for r in csv.DictReader(fh) if r["ok"] == "1"}
    attn: dict[str, float] = defaultdict(float)
    glue: dict[str, float] = defaultdict(float)
    with open(measurement("h200", MICROBENCH[1]), newline="") as fh:
        for r in csv.DictReader(fh):
            part = attn if ("cudnn" in r["kernel"] or "Memset" in r["kernel"]) else glue
            part[r["point"]] += float(r["us_per_call"])
    shapes: dict[tuple, dict] = defaultdict(dict)
    for pid, r in points.items():
        key = tuple(int(r[k]) for k in ("batch", "heads", "kv_heads", "seq_q", "seq_kv", "head_dim"))
        shapes[key][r["variant"]] = pid
    out = []
    for (b, h, hkv, sq, skv, d), v in shapes.items():
        if "none" not in v or "float" not in v:
            continue
        kw = dict(batch=b, heads=h, kv_heads=hkv, seq_q=sq, seq_kv=skv, head_dim=d)
        out.append({**kw, "measured_none_us": attn[v["none"]], "measured_bias_us": attn[v["float"]],
                    "glue_us": glue.get(v.get("bool", ""), 0.0),
                    "kernels": points[v["float"]]["kernels"],
                    "model_none_us": predict_attention(hw, "cudnn", **kw).latency_s * 1e6,
                    "model_bias_us": predict_attention(hw, "cudnn-bias", **kw).latency_s * 1e6})
    return out
