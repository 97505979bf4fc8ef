"""Tiled GEMM in Triton: ``C[M, N] = A[M, K] @ B[K, N]`` with an fp32 accumulator.

Grid ``(cdiv(M, BLOCK_M), cdiv(N, BLOCK_N))``; each program walks K in ``BLOCK_K`` steps,
loading masked A and B tiles and accumulating with ``tl.dot``. No grouped (swizzled) program
order, no split-K: the L2 reuse that swizzling buys is the GPU model's concern, and the counts
here are per-request, not per-DRAM-byte. Under the interpreter, bf16 operands are upcast to
fp32 before ``tl.dot`` (see :func:`kernels.runtime.needs_dot_upcast`).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from archsim.kernels.runtime import needs_dot_upcast
from archsim.kernels.trace import Launch
from archsim.kernels.triton.flash_attention import DTYPES


@triton.jit
def _gemm(A, B, C, M, N, K, stride_am, stride_ak, stride_bk, stride_bn, stride_cm, stride_cn,
          BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
          UPCAST: tl.constexpr, PRECISION: tl.constexpr):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        ks = k0 + offs_k
        a = tl.load(A + offs_m[:, None] * stride_am + ks[None, :] * stride_ak,
                    mask=(offs_m[:, None] < M) & (ks[None, :] < K), other=0.0)
        b = tl.load(B + ks[:, None] * stride_bk + offs_n[None, :] * stride_bn,
                    mask=(ks[:, None] < K) & (offs_n[None, :] < N), other=0.0)
        if UPCAST:
            a = a.to(tl.float32)
            b = b.to(tl.float32)
        acc = tl.dot(a, b, acc, input_precision=PRECISION)
    tl.store(C + offs_m[:, None] * stride_cm + offs_n[None, :] * stride_cn, acc.to(C.dtype.element_ty),
             mask=(offs_m[:, None] < M) & (offs_n[None, :] < N))


def gemm_launch(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, *, block_m: int = 64, block_n: int = 64,
                block_k: int = 32, num_warps: int = 4, num_stages: int = 3) -> Launch:
    """Describe one GEMM launch writing ``c = a @ b``."""
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[0] or c.shape != (a.shape[0], b.shape[1]):
        raise ValueError(f"shapes do not chain: a{tuple(a.shape)} @ b{tuple(b.shape)} -> c{tuple(c.shape)}")
    m, k = a.shape
    n = b.shape[1]
    dtype = {v: key for key, v in DTYPES.items()}[a.dtype]
    n_m, n_n = triton.cdiv(m, block_m), triton.cdiv(n, block_n)
    return Launch(name="gemm", kernel=_gemm, grid=(n_m, n_n),
                  args=(a, b, c, m, n, k, *a.stride(), *b.stride(), *c.stride()),
                  kwargs=dict(BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_K=block_k, UPCAST=needs_dot_upcast(dtype),
                              PRECISION="ieee" if dtype == "fp32" else "tf32"),
                  block_sizes={"BLOCK_M": block_m, "BLOCK_N": block_n, "BLOCK_K": block_k},
                  num_warps=num_warps, num_stages=num_stages,
                  class_key=lambda p: (p[0] == n_m - 1, p[1] == n_n - 1))


def gemm(a: torch.Tensor, b: torch.Tensor, *, out: torch.Tensor | None = None, block_m: int = 64,
         block_n: int = 64, block_k: int = 32, num_warps: int = 4, num_stages: int = 3) -> torch.Tensor:
    """``a @ b`` in a's dtype."""
    out = torch.empty(a.shape[0], b.shape[1], dtype=a.dtype, device=a.device) if out is None else out
    gemm_launch(a, b, out, block_m=block_m, block_n=block_n, block_k=block_k, num_warps=num_warps,
                num_stages=num_stages).run()
    return out


def gemm_reference(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` in float64."""
    return a.double() @ b.double()


def counts(*, m: int, n: int, k: int, dtype: str = "fp16", block_m: int = 64, block_n: int = 64,
           block_k: int = 32) -> dict:
    """Analytic counts. Executed: every program runs ``cdiv(K, BK)`` dots of ``2*BM*BN*BK``
    (padding included); loads are the in-bounds tile elements (A is read once per N-tile column,
    B once per M-tile row); no elementwise work (the accumulate is inside the MMA). Useful: ``2MNK``."""
    es = torch.finfo(DTYPES[dtype]).bits // 8
    n_m, n_n, n_k = triton.cdiv(m, block_m), triton.cdiv(n, block_n), triton.cdiv(k, block_k)
    executed = {"matmul_flops": n_m * n_n * n_k * 2 * block_m * block_n * block_k, "elementwise_flops": 0,
                "reduction_flops": 0, "transcendentals": 0,
                "bytes_loaded": (n_n * m * k + n_m * k * n) * es, "bytes_stored": m * n * es}
    executed["flops"] = executed["matmul_flops"]
    useful = {"matmul_flops": 2 * m * n * k, "bytes_loaded": (m * k + k * n) * es, "bytes_stored": m * n * es}
    return {"executed": executed, "useful": useful}
