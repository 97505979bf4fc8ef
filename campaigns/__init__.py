"""GPU measurement campaigns (installed as ``archsim.campaigns``; run on a CUDA machine).

Each campaign imports only what the GPU image has (torch, triton, transformers, cupy, pynvml,
numpy) plus archsim's own kernels (``archsim.kernels``), never the models, schemas or pydantic:
on a GPU machine without archsim's dependencies, ``pip install --no-deps --no-index -e .`` then
``python -m archsim.campaigns.<name> --out DIR``.

- :mod:`.gpu_kernels`: calibration microbenchmarks and kernel validation timings (``archsim measure``).
- :mod:`.whole_model`: whole models (plain PyTorch and HF transformers) timed and profiled.
- :mod:`.power`: NVML power and energy microbenchmarks.
"""
