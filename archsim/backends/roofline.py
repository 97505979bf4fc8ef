"""Analytical (roofline) backend: FLOPs, bytes per memory level, time = max over resources.

For each operator the backend counts matrix FLOPs, vector FLOPs and transcendental ops, and
the bytes that cross each memory level. Time is the maximum of compute time per unit and
transfer time per level (plus a launch floor on GPUs); energy is dynamic energy from the
device's per-FLOP and per-byte tables plus static power times time.

Traffic model (the part that decides whether a roofline is honest):
- Level ``i`` counts the bytes it serves to the level inside it (the innermost level serves
  the compute units). Those bytes depend on how much the *inner* level can hold: operands
  are tiled with square tiles of edge T, the largest T with 2*T^2*bytes <= the inner level's
  capacity per instance (A and B tiles; accumulators stay in registers); GEMM traffic is then
  bytes*(M*K*ceil(N/T) + K*N*ceil(M/T) + M*N), never below the compulsory traffic; an
  operand that fits in half the inner level stays resident and is read once.
- Fused attention (FlashAttention-style) never writes the N x N scores: per query head it
  reads Q and writes O once and streams K and V once per query block of Tq rows (Tq from the
  inner capacity, K/V tile of the same size). Off-chip, when the next level holds a head's
  K and V, K/V are read once per KV head (GQA groups share them through the cache).
- Unfused ("naive") attention writes scores and probabilities off-chip: three operators.
- Vector operators stream: each input and the output cross every level once.

What it ignores: occupancy, wave quantisation, pipeline fill, bank conflicts, DRAM timing
(see the engine-based backends for those); L2 hit rates are taken as perfect within capacity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import singledispatch
from typing import Any, ClassVar

from archsim.backends import Backend
from archsim.errors import ConfigError, PhysicalLimitError
from archsim.operators import (
    Attention,
    AttentionContext,
    AttentionScores,
    Gemm,
    Operator,
)
from archsim.result import OpResult
from archsim.schemas.hardware import DeviceBase, GpuDevice, MemoryLevel


@dataclass(frozen=True)
class Traffic:
    read_bytes: float
    write_bytes: float

    @property
    def total(self) -> float:
        return self.read_bytes + self.write_bytes


def tile_edge(capacity_bytes: float, elem_bytes: float, operands: int = 2) -> int:
    """Largest T with operands * T^2 * elem_bytes <= capacity (at least 1).

    Two operands: the A and B tiles staged in the inner level; accumulators live in registers.
    """
    return max(1, math.isqrt(max(1, int(capacity_bytes / (operands * elem_bytes)))))


def tile_rows(capacity_bytes: float, bytes_per_row: float, limit: int) -> int:
    """Largest power-of-two row count whose rows fit in ``capacity_bytes`` (1..limit)."""
    rows = max(1, int(capacity_bytes // bytes_per_row))
    return min(limit, 1 << (rows.bit_length() - 1))


def gemm_traffic(m: int, n: int, k: int, b: float, inner_capacity: float, batch: int = 1) -> Traffic:
    """Bytes crossing a level for ``batch`` GEMMs (m x k) @ (k x n), tiled for ``inner_capacity``."""
    t = tile_edge(inner_capacity, b)
    tm, tn = min(t, m), min(t, n)
    # an operand that fits in half the inner level stays resident and is read once
    a_passes = 1 if m * k * b <= inner_capacity / 2 else math.ceil(n / tn)
    b_passes = 1 if k * n * b <= inner_capacity / 2 else math.ceil(m / tm)
    reads = b * (m * k * a_passes + k * n * b_passes)
    compulsory_reads = b * (m * k + k * n)
    return Traffic(batch * max(reads, compulsory_reads), batch * b * m * n)


def fused_attention_traffic(op: Attention, inner_capacity: float, offchip: bool) -> Traffic:
    """Bytes of a fused attention: Q and O once; K/V once per query block of Tq rows (Tq from the inner level)."""
    b, sq, skv, d = op.elem_bytes, op.seq_q, op.seq_kv, op.head_dim
    kv_eff = op.pairs / sq  # mean keys each query row touches
    q_o = op.bh * sq * d * b
    kv_head_bytes = 2 * skv * d * b
    if offchip and inner_capacity >= kv_head_bytes:
        kv_reads = op.batch * op.kv_heads * 2 * kv_eff * d * b if sq > 1 else op.batch * op.kv_heads * kv_head_bytes
        return Traffic(q_o + kv_reads, q_o)
    tq = tile_rows(inner_capacity, 4 * d * b, sq)
    q_blocks = math.ceil(sq / tq)
    # keys a query block touches: the mean per row, plus half a block for the causal diagonal
    kv_block = min(skv, kv_eff + (tq / 2 if op.causal and sq > 1 else 0))
    kv_reads = op.bh * q_blocks * 2 * kv_block * d * b
    return Traffic(q_o + kv_reads, q_o)


@singledispatch
def op_traffic(op: Operator, level_index: int, levels: list[MemoryLevel]) -> Traffic:
    """Bytes crossing ``levels[level_index]`` toward the inner level (or the compute units).

    Default (MoE experts, softmax, norms, elementwise, copies, collectives' local buffers): the
    operator streams — its compulsory bytes cross every level once.
    """
    read, write = op.compulsory_bytes()
    return Traffic(read, write)


def _inner_capacity(level_index: int, levels: list[MemoryLevel]) -> float:
    inner = levels[level_index + 1] if level_index + 1 < len(levels) else levels[level_index]
    return inner.capacity_bytes


@op_traffic.register
def _(op: Gemm, level_index: int, levels: list[MemoryLevel]) -> Traffic:
    return gemm_traffic(op.m, op.n, op.k, op.elem_bytes, _inner_capacity(level_index, levels), batch=op.batch)


@op_traffic.register
def _(op: Attention, level_index: int, levels: list[MemoryLevel]) -> Traffic:
    return fused_attention_traffic(op, _inner_capacity(level_index, levels), offchip=level_index == 0)


@op_traffic.register(AttentionScores)
@op_traffic.register(AttentionContext)
def _(op: AttentionScores | AttentionContext, level_index: int, levels: list[MemoryLevel]) -> Traffic:
    m, n, k = op.gemm_shape()
    return gemm_traffic(m, n, k, op.elem_bytes, _inner_capacity(level_index, levels), batch=op.bh)


def _rate(table: dict[str, float], dtype: str, what: str, device: DeviceBase) -> float:
    if dtype in table:
        return table[dtype]
    if not table:
        raise ConfigError.single(f"hardware {device.name!r} has no {what} rates", key_path=f"compute.{what}")
    raise ConfigError.single(
        f"hardware {device.name!r} has no {dtype} {what} rate; it has: {', '.join(table)}",
        key_path=f"compute.{what}")


def evaluate_op(op: Operator, device: DeviceBase) -> OpResult:
    """Time, energy and counts of one execution of ``op`` on ``device`` (multiply by op.count)."""
    work = op.work()
    levels = list(device.memory.values())
    names = list(device.memory)
    times: dict[str, float] = {}
    if work.matrix_flops:
        times["compute"] = work.matrix_flops / _rate(device.compute.matrix_flops_per_s, op.dtype,
                                                     "matrix_flops_per_s", device)
    if work.vector_flops:
        vec = device.compute.vector_flops_per_s
        vdtype = "fp32" if "fp32" in vec else op.dtype
        times["vector"] = work.vector_flops / _rate(vec, vdtype, "vector_flops_per_s", device)
    if work.transcendentals and device.compute.sfu_ops_per_s:
        times["sfu"] = work.transcendentals / device.compute.sfu_ops_per_s
    level_bytes: dict[str, Traffic] = {}
    for i, (name, level) in enumerate(zip(names, levels, strict=True)):
        traffic = op_traffic(op, i, levels)
        level_bytes[name] = traffic
        times[f"memory:{name}"] = traffic.total / level.bandwidth_bytes_per_s
    launch = device.gpu.launch_overhead_s if isinstance(device, GpuDevice) else 0.0
    if launch:
        times["launch"] = launch
    bound = max(times, key=lambda k: times[k])
    time_s = times[bound]
    e_matrix = device.compute.matrix_energy_j_per_flop.get(op.dtype, 0.0) * work.matrix_flops
    e_vector = device.compute.vector_energy_j_per_flop * work.vector_flops
    e_levels = {name: t.read_bytes * lvl.read_energy_j_per_byte + t.write_bytes * lvl.write_energy
                for (name, t), lvl in zip(level_bytes.items(), levels, strict=True)}
    e_static = device.static_power_w * time_s
    result = OpResult(
        name=op.name, kind=op.kind, phase=op.phase, count=op.count, dtype=op.dtype,
        matrix_flops=work.matrix_flops, vector_flops=work.vector_flops, transcendentals=work.transcendentals,
        useful_flops=work.useful_flops,
        bytes_by_level={n: t.total for n, t in level_bytes.items()},
        time_s=time_s, time_by_resource=times, bound=bound,
        energy_j=e_matrix + e_vector + sum(e_levels.values()) + e_static,
        energy_by_part={"compute": e_matrix + e_vector, **{f"memory:{n}": e for n, e in e_levels.items()},
                        "static": e_static},
        shape=op.shape(), fused=op.fused,
    )
    _check_physical(result, device)
    return result


def _check_physical(result: OpResult, device: DeviceBase) -> None:
    for name, level in device.memory.items():
        achieved = result.bytes_by_level[name] / result.time_s if result.time_s else 0.0
        if achieved > level.bandwidth_bytes_per_s * (1 + 1e-9):
            raise PhysicalLimitError(f"{result.name}: {name} at {achieved:.3g} B/s exceeds its peak")


def device_peaks(device: Any) -> dict[str, Any]:
    """Peak rates of a single device as reported in a Result (matrix, vector, per-level bandwidth)."""
    return {
        "matrix_flops_per_s": dict(device.compute.matrix_flops_per_s),
        "vector_flops_per_s": dict(device.compute.vector_flops_per_s),
        "bandwidth_bytes_per_s": {n: lvl.bandwidth_bytes_per_s for n, lvl in device.memory.items()},
    }


class RooflineBackend(Backend):
    """The analytical roofline for every single-device family: the baseline and the fallback."""

    name: ClassVar[str] = "roofline"
    families: ClassVar[tuple[str, ...]] = ("gpu", "fpga", "pim", "accelerator")
    priority: ClassVar[int] = 0
    description: ClassVar[str] = "analytical roofline: FLOPs and bytes per level, time = max over resources"

    def evaluate(self, op: Operator, view: DeviceBase) -> OpResult:
        return evaluate_op(op, view)

    def notes(self, view: DeviceBase) -> list[str]:
        return ["roofline: time = max(compute, memory per level); no occupancy, waves or DRAM timing"]
