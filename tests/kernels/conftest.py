"""Kernel tests: Triton through its interpreter on CPU, compiled on a CUDA GPU (marker ``gpu``).

Triton picks interpreter or compiler when it is first imported, once per process. Here, with
no CUDA GPU and no explicit ``TRITON_INTERPRET``, the interpreter is switched on before any
kernel module imports triton. On a GPU machine nothing is set, so ``pytest -m gpu
tests/kernels`` runs the kernels compiled; the CPU variants then skip, saying why.
"""

from __future__ import annotations

import os
import sys

import pytest

if "triton" not in sys.modules and "TRITON_INTERPRET" not in os.environ:
    try:
        import torch

        _has_cuda = torch.cuda.is_available()
    except ImportError:
        _has_cuda = False
    if not _has_cuda:
        os.environ["TRITON_INTERPRET"] = "1"

# Relative tolerance per dtype: max |out - ref| / max |ref|, ref in float64. Measured on CPU
# (interpreter, triton 3.9): fp32 ~1e-6, fp16 ~3e-4, bf16 ~7e-3 for attention.
REL_TOL = {"fp32": 1e-5, "fp16": 3e-3, "bf16": 2.5e-2}


def assert_close(out, ref, dtype: str) -> float:
    """Fail on any non-finite output (poisoned NaN never passes) or on error above REL_TOL."""
    import torch

    assert torch.isfinite(out).all(), "output has NaN/inf (unwritten poisoned lanes or a numeric blow-up)"
    err = ((out.double().cpu() - ref.cpu()).abs().max() / ref.abs().max().clamp_min(1e-30)).item()
    assert err <= REL_TOL[dtype], f"relative error {err:.3e} above {REL_TOL[dtype]:.1e} for {dtype}"
    return err


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def device(request):
    """Where the kernel runs: 'cpu' (Triton interpreter) or 'cuda' (compiled, marker gpu)."""
    import torch
    from archsim.kernels.runtime import interpret_mode

    if request.param == "cpu" and not interpret_mode():
        if not torch.cuda.is_available():
            pytest.fail("triton was imported without TRITON_INTERPRET=1 before tests/kernels/conftest.py could set it; "
                        "set TRITON_INTERPRET=1 in the environment or the root conftest")
        pytest.skip("this process compiles Triton (a CUDA GPU is present); CPU runs need TRITON_INTERPRET=1")
    if request.param == "cuda":
        if not torch.cuda.is_available():
            pytest.skip("no CUDA GPU")
        if interpret_mode():
            pytest.skip("TRITON_INTERPRET=1 is set; unset it to run the kernels compiled on the GPU")
    return request.param


@pytest.fixture
def interpreter():
    """Skip unless this process runs Triton's interpreter (the tracer needs it)."""
    from archsim.kernels.runtime import interpret_mode

    if not interpret_mode():
        pytest.skip("tracer tests need TRITON_INTERPRET=1")
