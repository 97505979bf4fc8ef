"""GPU device model (H100-class) and the modeled-vs-measured loop.

- :mod:`archsim.gpu.calibration`: the calibration record (microbenchmarks only) a device uses.
- :mod:`archsim.gpu.model`: wave/occupancy model of one kernel launch on a GPU.
- :mod:`archsim.gpu.kernels`: how known kernels (our Triton kernels, PyTorch's FlashAttention-2,
  cuBLAS GEMM, naive attention) tile their work, lowered to launches for the model.
- the measurement scripts run on a real GPU live outside the model package, in
  :mod:`archsim.campaigns` (top-level folder ``campaigns/``).
"""
