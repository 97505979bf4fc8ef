"""The ``gpu`` backend: ``archsim run`` on a GPU preset through the GPU model.

Each operator becomes the kernels PyTorch would launch for it: GEMMs -> cuBLAS model, fused
attention -> FlashAttention-2 (SDPA FLASH) with its split-KV decode path, unfused attention ->
batched cuBLAS GEMMs and a softmax kernel, norms/activations/residuals -> streaming kernels.
Operators the GPU model does not cover (MoE expert groups, windowed attention, copies,
collectives) return None and the driver costs them with the roofline, naming them in the notes.

Energy: the board power model (:mod:`archsim.gpu.power`): static power over the GPU model's time
plus each launch's dynamic energy from its own counts (tensor-core FLOPs by dtype, FP32-pipe and
special-function ops, bytes per level); the power limit has already stretched the time where it binds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import singledispatch
from typing import Any, ClassVar

from archsim.backends import Backend
from archsim.backends.roofline import evaluate_op
from archsim.gpu import kernels as K
from archsim.gpu.calibration import DeviceRates
from archsim.gpu.model import LaunchSpec, simulate_launch
from archsim.gpu.predict import device_rates
from archsim.operators import (
    Attention,
    AttentionContext,
    AttentionScores,
    Gemm,
    Operator,
    Softmax,
    _Streaming,
)
from archsim.result import OpResult
from archsim.schemas.hardware import GpuDevice

_CACHE_LIMIT = 4096
#: memory-level kind -> the launch model's byte total for it (archsim.gpu.model.CtaWork)
_LEVEL_TOTALS = {"dram": "hbm", "cache": "l2", "sram": "smem"}


@singledispatch
def op_launches(op: Operator, rates: DeviceRates) -> list[LaunchSpec] | None:
    """The launches of ``op``, or None when the GPU model does not cover it."""
    return None


@op_launches.register
def _(op: Gemm, rates: DeviceRates) -> list[LaunchSpec] | None:
    return K.cublas_gemm(op.m, op.n, op.k, op.dtype, rates, batch=op.batch)


@op_launches.register
def _(op: Attention, rates: DeviceRates) -> list[LaunchSpec] | None:
    if op.window is not None:
        return None
    return K.flash2(K.attention_shape_of(op), sm_count=rates.sm_count)


@op_launches.register(AttentionScores)
@op_launches.register(AttentionContext)
def _(op: AttentionScores | AttentionContext, rates: DeviceRates) -> list[LaunchSpec] | None:
    m, n, k = op.gemm_shape()
    return K.cublas_gemm(m, n, k, op.dtype, rates, batch=op.bh)


@op_launches.register
def _(op: Softmax, rates: DeviceRates) -> list[LaunchSpec] | None:
    e = K.ELEM[op.dtype]
    w = op.work()
    return [K.stream_kernel("softmax", op.elements, read_b=e, write_b=e, vec_per_elem=w.vector_flops / op.elements,
                            sfu_per_elem=w.transcendentals / op.elements)]


@op_launches.register
def _(op: _Streaming, rates: DeviceRates) -> list[LaunchSpec] | None:
    e = K.ELEM[op.dtype]
    w = op.work()
    return [K.stream_kernel(op.fn, op.elements, read_b=e * op.inputs, write_b=e,
                            vec_per_elem=w.vector_flops / op.elements, sfu_per_elem=w.transcendentals / op.elements)]


def launch_energy_parts(results: list) -> dict[str, float]:
    """Board energy of launches by the roofline's parts: compute, memory:<level>, static (J)."""
    parts: dict[str, float] = {}
    for r in results:
        for k, v in r.energy_by_part.items():
            name = "compute" if k.startswith("compute:") else k
            parts[name] = parts.get(name, 0.0) + v
    return parts


@dataclass
class GpuView:
    """The GPU backend's device view: the preset, its calibrated rates, a launch-result cache."""

    device: GpuDevice
    rates: DeviceRates
    cache: dict[Any, Any] = field(default_factory=dict)


class GpuBackend(Backend):
    name: ClassVar[str] = "gpu"
    families: ClassVar[tuple[str, ...]] = ("gpu",)
    priority: ClassVar[int] = 10
    description: ClassVar[str] = "GPU wave/occupancy model (archsim.gpu), calibrated on H100 microbenchmarks"

    def prepare(self, hardware: GpuDevice) -> GpuView:
        return GpuView(hardware, device_rates(hardware))

    def evaluate(self, op: Operator, view: GpuView) -> OpResult | None:
        if op.dtype not in K.ELEM:
            return None
        key = op if op.count == 1 else dataclasses.replace(op, name="", count=1)
        key = dataclasses.replace(key, name="")
        if key not in view.cache:
            launches = op_launches(op, view.rates)
            view.cache[key] = None if launches is None else [
                simulate_launch(dataclasses.replace(ln, mma_dtype=op.dtype), view.rates) for ln in launches]
            if len(view.cache) > _CACHE_LIMIT:
                view.cache.pop(next(iter(view.cache)))
        results = view.cache[key]
        if results is None:
            return None
        base = evaluate_op(op, view.device)
        time_s = sum(r.time_s for r in results)
        parts = launch_energy_parts(results)
        # bytes per level as the launch model moves them (its CTAs' HBM, L2 and shared-memory traffic),
        # not the roofline's tiling estimate: the time and the bytes come from one model
        moved = {kind: sum(r.totals.get(f"{key}_bytes", 0.0) for r in results) for kind, key in _LEVEL_TOTALS.items()}
        levels = {name: moved.get(level.kind, base.bytes_by_level.get(name, 0.0))
                  for name, level in view.device.memory.items()}
        return dataclasses.replace(base, time_s=time_s, time_by_resource={r.name: r.time_s for r in results},
                                   bytes_by_level=levels,
                                   bound=max(results, key=lambda r: r.time_s).bound, energy_j=sum(parts.values()),
                                   energy_by_part=parts)

    def notes(self, view: GpuView) -> list[str]:
        return ["gpu: wave/occupancy model calibrated by microbenchmarks (archsim.gpu); kernels = cuBLAS, "
                "FlashAttention-2 (SDPA FLASH), streaming elementwise kernels"]
