"""The ``gpu`` backend: ``archsim run`` on a GPU preset through the GPU model.

Each operator becomes the kernels PyTorch would launch for it: GEMMs -> cuBLAS model, fused
attention -> FlashAttention-2 (SDPA FLASH) with its split-KV decode path, unfused attention ->
batched cuBLAS GEMMs and a softmax kernel, norms/activations/residuals -> streaming kernels.
Operators the GPU model does not cover (MoE expert groups, windowed attention) are costed by the
roofline backend and named in the result's notes — never silently.

Energy: the roofline's dynamic energy from the same operation and byte counts, plus static power
over the GPU model's time.
"""

from __future__ import annotations

import dataclasses

from archsim.backends import Backend, register_backend
from archsim.backends.analytical import peaks
from archsim.backends.roofline import evaluate_op
from archsim.gpu import kernels as K
from archsim.gpu.calibration import DeviceRates
from archsim.gpu.model import LaunchSpec, simulate_launch
from archsim.gpu.predict import device_rates
from archsim.ops import TRANSCENDENTALS_PER_ELEMENT, VECTOR_FLOPS_PER_ELEMENT, Op
from archsim.result import OpResult, Result
from archsim.schemas.hardware import DeviceBase

_CACHE_LIMIT = 4096


def op_launches(op: Op, rates: DeviceRates) -> list[LaunchSpec] | None:
    """The launches of ``op``, or None when the GPU model does not cover it."""
    s, dtype = op.shape, op.dtype
    if dtype not in K.ELEM:
        return None
    e = K.ELEM[dtype]
    if op.kind == "gemm":
        return K.cublas_gemm(s["m"], s["n"], s["k"], dtype, rates)
    if op.kind == "attention" and not s.get("window"):
        shape = {**s, "kv_heads": s.get("kv_heads") or s["heads"], "dtype": dtype, "_sm_count": rates.sm_count}
        return K.flash2(shape)
    if op.kind in ("attention_scores", "attention_context"):
        bh, sq, skv, d = s["batch"] * s["heads"], s["seq_q"], s["seq_kv"], s["head_dim"]
        m, n, k = (sq, skv, d) if op.kind == "attention_scores" else (sq, d, skv)
        return K.cublas_gemm(m, n, k, dtype, rates, batch=bh)
    if op.kind == "softmax":
        return [K.stream_kernel("softmax", s["rows"] * s["cols"], read_b=e, write_b=e, vec_per_elem=4,
                                sfu_per_elem=1)]
    if op.kind == "vector":
        fn = s["fn"]
        return [K.stream_kernel(fn, s["elements"], read_b=e * s["inputs"], write_b=e,
                                vec_per_elem=VECTOR_FLOPS_PER_ELEMENT[fn],
                                sfu_per_elem=TRANSCENDENTALS_PER_ELEMENT[fn])]
    return None


def evaluate(op: Op, device: DeviceBase, rates: DeviceRates, cache: dict) -> tuple[OpResult, bool]:
    """(one execution of ``op``, whether the GPU model costed it)."""
    base = evaluate_op(op, device)
    key = (op.kind, op.dtype, tuple(sorted((k, str(v)) for k, v in op.shape.items())))
    if key not in cache:
        launches = op_launches(op, rates)
        cache[key] = None if launches is None else [simulate_launch(ln, rates) for ln in launches]
        if len(cache) > _CACHE_LIMIT:
            cache.pop(next(iter(cache)))
    results = cache[key]
    if results is None:
        return base, False
    time_s = sum(r.time_s for r in results)
    by_resource = {r.name: r.time_s for r in results}
    bound = max(results, key=lambda r: r.time_s).bound
    energy = base.energy_j + device.static_power_w * (time_s - base.time_s)
    return dataclasses.replace(base, time_s=time_s, time_by_resource=by_resource, bound=bound, energy_j=energy), True


def run_gpu(workload_name: str, device: DeviceBase, ops: list[Op], tokens: dict[str, int]) -> Result:
    rates = device_rates(device)
    cache: dict = {}
    out, fallback = [], []
    for op in ops:
        res, modelled = evaluate(op, device, rates, cache)
        out.append(res)
        if not modelled:
            fallback.append(op.name)
    notes = ["gpu: wave/occupancy model calibrated by microbenchmarks (archsim.gpu); kernels = cuBLAS, "
             "FlashAttention-2 (SDPA FLASH), streaming elementwise kernels"]
    if fallback:
        names = ", ".join(sorted(set(fallback)))
        notes.append(f"gpu: roofline used for operators the GPU model does not cover: {names}")
    return Result(workload=workload_name, hardware=device.name, family="gpu", backend="gpu", ops=out,
                  peaks=peaks(device), tokens_by_phase=tokens, notes=notes)


register_backend(Backend("gpu", ("gpu",), 10, run_gpu,
                         "GPU wave/occupancy model (archsim.gpu), calibrated on H100 microbenchmarks"))
