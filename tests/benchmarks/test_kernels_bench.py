"""GPU timings of the Triton kernels (markers ``benchmark`` and ``gpu``): prints figures, asserts none.

Each line: kernel, shape, config, median time from ``triton.testing.do_bench`` (warm-up and
repetitions by time, L2 flushed between runs), and achieved rates computed from the kernel's
analytic counts (executed = what the hardware ran, padding included; useful = dense work).
Run: ``pytest -m "benchmark and gpu" tests/benchmarks/test_kernels_bench.py -s``.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.benchmark, pytest.mark.gpu]

ATTN = [  # batch, heads, kv_heads, seq, head_dim, causal, block_m, block_n, warps, stages
    (4, 32, 8, 4096, 128, False, 128, 64, 8, 3),
    (4, 32, 8, 4096, 128, True, 128, 64, 8, 3),
    (4, 32, 32, 2048, 64, False, 128, 64, 4, 3),
]


def _cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    from archsim.kernels.runtime import interpret_mode

    if interpret_mode():
        pytest.skip("TRITON_INTERPRET=1 is set")
    return torch


@pytest.mark.parametrize("case", ATTN)
def test_bench_flash_attention(case):
    torch = _cuda()
    from archsim.kernels.triton import flash_attention as fa
    from triton.testing import do_bench

    b, h, hkv, s, d, causal, bm, bn, warps, stages = case
    q = torch.randn(b, h, s, d, device="cuda", dtype=torch.float16)
    k = torch.randn(b, hkv, s, d, device="cuda", dtype=torch.float16)
    v = torch.randn_like(k)
    out = torch.empty_like(q)
    ms = do_bench(lambda: fa.flash_attention(q, k, v, causal=causal, out=out, block_m=bm, block_n=bn,
                                             num_warps=warps, num_stages=stages))
    c = fa.counts(batch=b, heads=h, kv_heads=hkv, seq_q=s, seq_kv=s, head_dim=d, dtype="fp16", causal=causal,
                  block_m=bm, block_n=bn)
    print(f"\nflash_attention fp16 B{b} H{h} HKV{hkv} S{s} D{d} causal={causal} BM{bm} BN{bn} w{warps} s{stages}: "
          f"{ms:.3f} ms, executed {c['executed']['matmul_flops'] / ms / 1e9:.1f} TFLOP/s, "
          f"useful {c['useful']['matmul_flops'] / ms / 1e9:.1f} TFLOP/s")


def test_bench_flash_decoding():
    torch = _cuda()
    from archsim.kernels.triton import flash_decoding as fd
    from triton.testing import do_bench

    b, h, hkv, s, d, splits = 8, 32, 8, 16384, 128, 16
    q = torch.randn(b, h, 1, d, device="cuda", dtype=torch.float16)
    k = torch.randn(b, hkv, s, d, device="cuda", dtype=torch.float16)
    v = torch.randn_like(k)
    out = torch.empty_like(q)
    ms = do_bench(lambda: fd.flash_decoding(q, k, v, num_splits=splits, out=out, block_n=64))
    c = fd.counts(batch=b, heads=h, kv_heads=hkv, seq_kv=s, head_dim=d, dtype="fp16", num_splits=splits, block_n=64)
    moved = c["executed"]["bytes_loaded"] + c["executed"]["bytes_stored"]
    print(f"\nflash_decoding fp16 B{b} H{h} HKV{hkv} Skv{s} D{d} splits{splits}: {ms:.3f} ms, "
          f"{moved / ms / 1e9:.2f} TB/s of requested bytes (KV cache {c['useful']['bytes_loaded'] / 1e9:.3f} GB)")


def test_bench_gemm():
    torch = _cuda()
    from archsim.kernels.triton import gemm as gm
    from triton.testing import do_bench

    m = n = k = 8192
    a = torch.randn(m, k, device="cuda", dtype=torch.float16)
    b = torch.randn(k, n, device="cuda", dtype=torch.float16)
    out = torch.empty(m, n, device="cuda", dtype=torch.float16)
    ms = do_bench(lambda: gm.gemm(a, b, out=out, block_m=128, block_n=128, block_k=64, num_warps=8, num_stages=3))
    print(f"\ngemm fp16 {m}x{n}x{k} 128x128x64 w8 s3: {ms:.3f} ms, {2 * m * n * k / ms / 1e9:.1f} TFLOP/s")
