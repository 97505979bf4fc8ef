"""Real kernels that archsim's models are held against.

``kernels.triton``: Triton kernels (FlashAttention-2 forward, flash-decoding, sliding-window
attention, tiled GEMM), each with a torch reference and an analytic ``counts()`` formula.
``kernels.numba``: CPU kernels (tiled attention, Edge-MoE softmax/GELU approximations, PIM GEMV).
``kernels.trace``: the op-count tracer producing :class:`~kernels.trace.KernelTrace`.
``kernels.compile_info``: sm_90 compile metadata (shared memory per CTA, warps, registers),
computed in a subprocess so it never meets ``TRITON_INTERPRET=1``.

Triton runs either compiled (CUDA tensors, ``TRITON_INTERPRET`` unset) or through its
interpreter (``TRITON_INTERPRET=1`` set before ``triton`` is first imported). The mode is
per process; :func:`kernels.runtime.interpret_mode` says which one this process is in.
"""
