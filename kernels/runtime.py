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


def install_interpreter_compat() -> None:
    """Make triton 3.6's interpreter take loop bounds that are kernel arguments (numpy >= 2.5).

    Triton 3.6's interpreter converts a scalar tensor to ``int`` with ``int(data)`` where
    ``data`` has shape ``(1,)``; numpy 2.5 refuses that, so ``range(0, SEQ_KV, BLOCK_N)``
    fails. Triton 3.9 squeezes first; this applies the same fix to older interpreters. No-op
    when not interpreting or when triton already squeezes.
    """
    if not interpret_mode():
        return
    import numpy as np
    from triton.runtime import interpreter as interp

    if getattr(interp, "_archsim_index_compat", False) or not hasattr(interp, "_patch_lang_tensor"):
        return
    original = interp._patch_lang_tensor

    def patch_lang_tensor(tensor, scope):  # type: ignore[no-untyped-def]
        original(tensor, scope)
        scope.set_attr(tensor, "__index__", lambda self: int(np.asarray(self.handle.data).squeeze()))

    interp._patch_lang_tensor = patch_lang_tensor
    interp._archsim_index_compat = True
