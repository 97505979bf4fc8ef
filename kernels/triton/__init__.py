"""Triton kernels: FlashAttention-2 forward, flash-decoding, sliding-window attention, GEMM.

Importing this package on an interpreter-mode process applies
:func:`kernels.runtime.install_interpreter_compat` (needed on triton 3.6 with numpy >= 2.5).
"""

from archsim.kernels.runtime import install_interpreter_compat

install_interpreter_compat()
