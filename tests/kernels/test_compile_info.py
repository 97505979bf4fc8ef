"""sm_90 compile metadata, computed in a subprocess without TRITON_INTERPRET (no GPU needed)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("triton")

from archsim.kernels.compile_info import sm90_metadata  # noqa: E402


def test_gemm_compiles_for_sm90_with_wgmma_and_shared_memory():
    (meta,) = sm90_metadata("gemm", m=256, n=256, k=256, dtype="fp16", block_m=64, block_n=64, block_k=32,
                            num_warps=4, num_stages=3)
    assert meta["num_warps"] == 4 and meta["num_stages"] == 3
    assert meta["uses_wgmma"], "an fp16 64x64x32 tile on sm_90 should lower to wgmma"
    # A and B tiles per stage: (64*32 + 32*64) fp16 = 8 KiB; triton keeps num_stages-1 in flight
    assert 8192 <= meta["shared_bytes_per_cta"] <= 3 * 8192
    assert meta["registers_per_thread"] is None or 16 <= meta["registers_per_thread"] <= 255


def test_bad_kernel_name_fails_before_compiling():
    with pytest.raises(ValueError, match="unknown kernel"):
        sm90_metadata("nope")
