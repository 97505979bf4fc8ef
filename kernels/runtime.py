"""Which way Triton runs in this process, and the guard on its version.

Triton decides at import time whether ``@triton.jit`` compiles or interprets
(``TRITON_INTERPRET=1``), so the mode is fixed per process. The tracer needs the interpreter;
compiling for sm_90 needs it off (see :mod:`kernels.compile_info`). Kernels are written for
triton 3.6 (GPU machines) and 3.9 (CPU machines); the tracer uses the interpreter's private
builder API, checked against these versions only.
"""

from __future__ import annotations

import os

SUPPORTED_TRITON = ("3.6", "3.7", "3.8", "3.9")


def interpret_requested() -> bool:
    """True when ``TRITON_INTERPRET`` asks for the interpreter (read as triton reads it)."""
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on", "yes")


def interpret_mode() -> bool:
    """True when ``@triton.jit`` functions in this process run in the interpreter."""
    import triton

    return bool(triton.knobs.runtime.interpret) if hasattr(triton, "knobs") else interpret_requested()


def triton_version_supported() -> bool:
    """True for the triton versions whose interpreter internals the tracer was checked against."""
    import triton

    return any(triton.__version__.startswith(v) for v in SUPPORTED_TRITON)


def needs_dot_upcast(dtype_name: str) -> bool:
    """bf16 ``tl.dot`` is wrong in the triton 3.9 interpreter (it multiplies the raw uint16 bits).

    Under the interpreter, kernels upcast bf16 operands to fp32 before ``tl.dot``; products of
    bf16 values are exact in fp32 and tensor cores accumulate in fp32, so this matches the
    hardware's arithmetic. Compiled kernels keep bf16 operands (real bf16 MMA).
    """
    return dtype_name == "bf16" and interpret_mode()
