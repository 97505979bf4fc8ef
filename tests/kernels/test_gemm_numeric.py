"""Tiled GEMM against float64 torch: fresh random inputs, NaN-poisoned output, odd shapes."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("triton")

from archsim.kernels.triton.flash_attention import DTYPES  # noqa: E402
from archsim.kernels.triton.gemm import gemm, gemm_reference  # noqa: E402

from tests.kernels.conftest import assert_close  # noqa: E402


@pytest.mark.parametrize("dtype", ["fp32", "fp16", "bf16"])
@pytest.mark.parametrize("shape", [(100, 90, 70), (64, 64, 64), (33, 130, 47)], ids=lambda s: "x".join(map(str, s)))
def test_gemm_matches_reference(shape, dtype, device):
    m, n, k = shape
    a = torch.randn(m, k, dtype=DTYPES[dtype], device=device)
    b = torch.randn(k, n, dtype=DTYPES[dtype], device=device)
    out = torch.full((m, n), float("nan"), dtype=DTYPES[dtype], device=device)
    gemm(a, b, out=out, block_m=32, block_n=32, block_k=32)
    assert_close(out, gemm_reference(a, b), dtype)
