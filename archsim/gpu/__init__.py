"""GPU device model (H100-class) and the modeled-vs-measured loop.

- :mod:`archsim.gpu.calibration`: the calibration record (microbenchmarks only) a device uses.
- :mod:`archsim.gpu.model`: wave/occupancy model of one kernel launch on a GPU.
- :mod:`archsim.gpu.kernels`: how known kernels (our Triton kernels, PyTorch's FlashAttention-2,
  cuBLAS GEMM, naive attention) tile their work, lowered to launches for the model.
- whole models (issue 16): :mod:`archsim.gpu.stacks` (software-stack profiles: the kernels a step
  launches), :mod:`archsim.gpu.glue` (elementwise/reduction/copy kernels vs size),
  :mod:`archsim.gpu.grouped` (grouped-GEMM experts), :mod:`archsim.gpu.host` (eager dispatch vs
  graph replay, wall = host/GPU overlap), :mod:`archsim.gpu.devices` (per-GPU calibration),
  :mod:`archsim.gpu.wholemodel` (GPU-busy and wall time of a step, parity with the campaign),
  :mod:`archsim.gpu.stack_run` (a workload under its ``stack:``; ``archsim stack``).
- the measurement scripts run on a real GPU live outside the model package, in
  :mod:`archsim.campaigns` (top-level folder ``campaigns/``).
"""
