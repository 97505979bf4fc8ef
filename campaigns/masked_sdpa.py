"""Masked vs unmasked SDPA on one GPU (issue 19 / 16: which kernel a masked SDPA runs, and what the mask costs).

Run on the GPU machine from the repository root (imports torch, triton, pynvml; nothing is downloaded)::

    python3 campaigns/masked_sdpa.py --out "$OUT" [--budget-s 170] [--smoke]

For every shape (bf16, head dim 128 unless named): decode (q_len 1) MHA 32/32 and GQA 32/8 at batch 1-64 and
KV 320-16K, and prefill (q_len = KV, batch 1) at 1K-16K with the SWAT shape (12 x 64) and Llama's (32 x 128),
four variants of ``F.scaled_dot_product_attention``:

- ``none``: no mask, PyTorch's default backend choice;
- ``none_cudnn``: no mask, ``sdpa_kernel(SDPBackend.CUDNN_ATTENTION)`` (the bias-free cuDNN kernel);
- ``bool``: a boolean mask ``[batch, 1, q, kv]`` broadcast over heads (as the serving engine's length mask and
  transformers' explicit masks are), default backend; decode rows keep a random valid length in [kv/2, kv];
  prefill rows a band |i - j| < 256 (the SWAT baseline's);
- ``float``: the same mask as an additive bf16 bias (0 / -inf), default backend.

Timing: ``triton.testing.do_bench`` (CUDA events, L2 flushed before each call, median and p20/p80) after 0.3 s idle
(the burst regime of regime-h200-2026-12-01). Each point is then run 3 times under ``torch.profiler`` for the
kernel names and their device time per call. Rows are flushed as measured; points past the budget are skipped
and listed in the meta file.

Files under ``--out``: ``masked-points.csv`` (one row per shape x variant: time_s median/p20/p80, profiled kernel
sum per call, kernel names), ``masked-kernels.csv`` (per point and kernel: calls and us per SDPA call),
``masked-meta.json`` (device, driver, torch/triton/cuDNN versions, clocks, date, ran/skipped/errors).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
import traceback

import torch
import torch.nn.functional as F
from csv_sink import Sink
from profiled import clocks, nvml
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.profiler import ProfilerActivity, profile
from triton.testing import do_bench

VARIANTS = ("none", "none_cudnn", "bool", "float")


def shapes(smoke: bool) -> list[dict]:
    out = []
    batches, kvs = ((1, 16), (320, 4096)) if smoke else ((1, 4, 16, 32, 64), (320, 1024, 4096, 16384))
    for h, hkv in ((32, 32), (32, 8)):
        for b in batches:
            for kv in kvs:
                out.append({"kind": "decode", "batch": b, "heads": h, "kv_heads": hkv, "seq_q": 1, "seq_kv": kv,
                            "head_dim": 128})
    pre = ((12, 12, 64, 1024), (12, 12, 64, 4096)) if smoke else (
        (12, 12, 64, 1024), (12, 12, 64, 2048), (12, 12, 64, 4096), (12, 12, 64, 8192), (12, 12, 64, 16384),
        (32, 32, 128, 1024), (32, 32, 128, 4096), (32, 8, 128, 2048))
    for h, hkv, d, n in pre:
        out.append({"kind": "prefill", "batch": 1, "heads": h, "kv_heads": hkv, "seq_q": n, "seq_kv": n,
                    "head_dim": d})
    return out


def make(s: dict, gen: torch.Generator):
    b, h, hkv, sq, skv, d = (s[k] for k in ("batch", "heads", "kv_heads", "seq_q", "seq_kv", "head_dim"))
    dev, dt_ = "cuda", torch.bfloat16
    q = torch.randn(b, h, sq, d, device=dev, dtype=dt_, generator=gen)
    k = torch.randn(b, hkv, skv, d, device=dev, dtype=dt_, generator=gen)
    v = torch.randn(b, hkv, skv, d, device=dev, dtype=dt_, generator=gen)
    if s["kind"] == "decode":
        lens = torch.randint(skv // 2, skv + 1, (b,), device=dev, generator=gen)
        ar = torch.arange(skv, device=dev)
        mask = (ar[None, :] < lens[:, None])[:, None, None, :]
    else:
        i = torch.arange(sq, device=dev)[:, None]
        j = torch.arange(skv, device=dev)[None, :]
        mask = ((i - j).abs() < 256)[None, None].expand(b, 1, sq, skv).contiguous()
    bias = torch.zeros(mask.shape, device=dev, dtype=dt_).masked_fill(~mask, float("-inf"))
    return q, k, v, mask, bias


def call(variant: str, q, k, v, mask, bias, gqa: bool):
    if variant == "none":
        return lambda: F.scaled_dot_product_attention(q, k, v, enable_gqa=gqa)
    if variant == "none_cudnn":
        def f():
            with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
                return F.scaled_dot_product_attention(q, k, v, enable_gqa=gqa)
        return f
    m = mask if variant == "bool" else bias
    return lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=m, enable_gqa=gqa)


def kernel_table(prof) -> list[tuple[str, int, float]]:
    out = []
    for e in prof.key_averages():
        t = getattr(e, "device_time_total", None)
        if t is None:
            t = getattr(e, "cuda_time_total", 0.0)
        if t and e.device_type == torch.autograd.DeviceType.CUDA:
            out.append((e.key, int(e.count), float(t)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--budget-s", type=float, default=170.0)
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()
    import triton
    nv, nh = nvml()
    p = torch.cuda.get_device_properties(0)
    meta = {"date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "device_name": p.name,
            "sm_count": p.multi_processor_count, "compute_capability": f"{p.major}.{p.minor}",
            "torch": torch.__version__, "torch_cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(), "triton": triton.__version__, "python": sys.version.split()[0],
            "driver": nv.nvmlSystemGetDriverVersion() if nv else None, "clocks_start": clocks(nv, nh),
            "timing": "triton do_bench(warmup=5 ms, rep=20 ms, L2 flush), median + p20/p80, after 0.3 s idle",
            "command": " ".join(sys.argv), "smoke": args.smoke, "ran": [], "skipped": [], "errors": []}
    fields = ["point", "kind", "variant", "batch", "heads", "kv_heads", "seq_q", "seq_kv", "head_dim", "dtype",
              "mask_dtype", "mask_shape", "time_s", "time_s_p20", "time_s_p80", "kernel_sum_s", "n_kernels",
              "kernels", "ok", "error"]
    pts = Sink(os.path.join(args.out, "masked-points.csv"), fields)
    ker = Sink(os.path.join(args.out, "masked-kernels.csv"), ["point", "variant", "kernel", "calls_per_call",
                                                               "us_per_call"])
    gen = torch.Generator(device="cuda").manual_seed(0)
    n = 0
    for s in shapes(args.smoke):
        for variant in VARIANTS:
            pid = f"p{n:03d}"
            n += 1
            if time.perf_counter() - t0 > args.budget_s:
                meta["skipped"].append(pid)
                continue
            row = {"point": pid, "variant": variant, "dtype": "bf16", **s}
            try:
                q, k, v, mask, bias = make(s, gen)
                m = None if variant.startswith("none") else (mask if variant == "bool" else bias)
                row["mask_dtype"] = "" if m is None else str(m.dtype).replace("torch.", "")
                row["mask_shape"] = "" if m is None else "x".join(map(str, m.shape))
                fn = call(variant, q, k, v, mask, bias, s["heads"] != s["kv_heads"])
                out = fn()
                torch.cuda.synchronize()
                if not torch.isfinite(out).all():
                    raise RuntimeError("non-finite output")
                time.sleep(0.3)
                med, p20, p80 = do_bench(fn, warmup=5, rep=20, quantiles=[0.5, 0.2, 0.8])
                with profile(activities=[ProfilerActivity.CUDA]) as prof:
                    for _ in range(3):
                        fn()
                    torch.cuda.synchronize()
                table = kernel_table(prof)
                for name, calls, us in table:
                    ker.row(point=pid, variant=variant, kernel=name, calls_per_call=calls / 3, us_per_call=us / 3)
                row.update(time_s=med * 1e-3, time_s_p20=p20 * 1e-3, time_s_p80=p80 * 1e-3,
                           kernel_sum_s=sum(t for _, _, t in table) * 1e-6 / 3, n_kernels=len(table),
                           kernels=" | ".join(nm[:160] for nm, _, _ in table), ok=1)
                meta["ran"].append(pid)
                del q, k, v, mask, bias, out
            except Exception as e:  # noqa: BLE001 - recorded, the campaign goes on
                row.update(ok=0, error=repr(e)[:300])
                meta["errors"].append({"point": pid, "error": traceback.format_exc()[-800:]})
            pts.row(**row)
            print(pid, s["kind"], variant, s["batch"], s["heads"], s["kv_heads"], s["seq_kv"], s["head_dim"],
                  f"{row.get('time_s', float('nan')) * 1e6:.1f} us", (row.get("kernels") or row.get("error", ""))[:90],
                  flush=True)
    meta["clocks_end"] = clocks(nv, nh)
    meta["wall_s"] = time.perf_counter() - t0
    with open(os.path.join(args.out, "masked-meta.json"), "w") as fh:
        json.dump(meta, fh, indent=1)
    print(json.dumps({"ran": len(meta["ran"]), "skipped": len(meta["skipped"]), "errors": len(meta["errors"]),
                      "wall_s": meta["wall_s"]}))


if __name__ == "__main__":
    main()
