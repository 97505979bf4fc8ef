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

from archsim.errors import ConfigError, PhysicalLimitError
from archsim.ops import (
    TRANSCENDENTALS_PER_ELEMENT,
    VECTOR_FLOPS_PER_ELEMENT,
    Op,
    attention_pairs,
    dtype_bytes,
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


def fused_attention_traffic(shape: dict, b: float, inner_capacity: float, offchip: bool) -> Traffic:
    batch, heads, kv_heads = shape["batch"], shape["heads"], shape["kv_heads"]
    sq, skv, d = shape["seq_q"], shape["seq_kv"], shape["head_dim"]
    pairs = attention_pairs(sq, skv, shape["causal"], shape.get("window"))
    kv_eff = pairs / sq  # mean keys each query row touches
    q_o = batch * heads * sq * d * b
    kv_head_bytes = 2 * skv * d * b
    if offchip and inner_capacity >= kv_head_bytes:
        kv_reads = batch * kv_heads * 2 * kv_eff * d * b if sq > 1 else batch * kv_heads * kv_head_bytes
        return Traffic(q_o + kv_reads, q_o)
    tq = tile_rows(inner_capacity, 4 * d * b, sq)
    q_blocks = math.ceil(sq / tq)
    # keys a query block touches: the mean per row, plus half a block for the causal diagonal
    kv_block = min(skv, kv_eff + (tq / 2 if shape["causal"] and sq > 1 else 0))
    kv_reads = batch * heads * q_blocks * 2 * kv_block * d * b
    return Traffic(q_o + kv_reads, q_o)


def vector_traffic(elements: int, inputs: int, b: float) -> Traffic:
    return Traffic(elements * inputs * b, elements * b)


@dataclass(frozen=True)
class Work:
    matrix_flops: float
    vector_flops: float
    transcendentals: float
    useful_flops: float


def op_work(op: Op) -> Work:
    s = op.shape
    if op.kind == "gemm":
        f = 2.0 * s["m"] * s["n"] * s["k"]
        return Work(f, 0.0, 0.0, f)
    if op.kind == "moe_experts":
        f = 2.0 * s["tokens"] * s["n"] * s["k"]
        return Work(f, 0.0, 0.0, f)
    if op.kind == "vector":
        e = s["elements"]
        return Work(0.0, VECTOR_FLOPS_PER_ELEMENT[s["fn"]] * e, TRANSCENDENTALS_PER_ELEMENT[s["fn"]] * e, 0.0)
    if op.kind == "softmax":
        e = s["rows"] * s["cols"]
        return Work(0.0, VECTOR_FLOPS_PER_ELEMENT["softmax"] * e, e, 0.0)
    if op.kind in ("attention", "attention_scores", "attention_context"):
        bh, d = s["batch"] * s["heads"], s["head_dim"]
        full = s["seq_q"] * s["seq_kv"]
        useful_pairs = attention_pairs(s["seq_q"], s["seq_kv"], s["causal"], s.get("window"))
        if op.kind == "attention":
            # fused kernels skip masked tiles: executed ~ useful (tile-edge waste ignored here)
            mm = 4.0 * bh * useful_pairs * d
            return Work(mm, 5.0 * bh * useful_pairs, bh * useful_pairs, mm)
        # unfused kernels compute the full rectangle and mask afterwards
        return Work(2.0 * bh * full * d, 0.0, 0.0, 2.0 * bh * useful_pairs * d)
    raise ValueError(f"roofline: no cost model for operator kind {op.kind!r}")


def op_traffic(op: Op, level_index: int, levels: list[MemoryLevel]) -> Traffic:
    """Bytes crossing ``levels[level_index]`` toward the inner level (or the compute units)."""
    b = dtype_bytes(op.dtype)
    inner = levels[level_index + 1] if level_index + 1 < len(levels) else levels[level_index]
    cap = inner.capacity_bytes
    s = op.shape
    if op.kind == "gemm":
        return gemm_traffic(s["m"], s["n"], s["k"], b, cap)
    if op.kind == "moe_experts":
        weights = s["active_experts"] * s["n"] * s["k"] * b
        acts = s["tokens"] * s["k"] * b
        return Traffic(weights + acts, s["tokens"] * s["n"] * b)
    if op.kind == "vector":
        return vector_traffic(s["elements"], s["inputs"], b)
    if op.kind == "softmax":
        return vector_traffic(s["rows"] * s["cols"], 1, b)
    if op.kind == "attention":
        return fused_attention_traffic(s, b, cap, offchip=level_index == 0)
    if op.kind in ("attention_scores", "attention_context"):
        bh = s["batch"] * s["heads"]
        sq, skv, d = s["seq_q"], s["seq_kv"], s["head_dim"]
        if op.kind == "attention_scores":  # S = Q K^T : (sq x d) @ (d x skv)
            return gemm_traffic(sq, skv, d, b, cap, batch=bh)
        return gemm_traffic(sq, d, skv, b, cap, batch=bh)  # O = P V : (sq x skv) @ (skv x d)
    raise ValueError(f"roofline: no traffic model for operator kind {op.kind!r}")


def _rate(table: dict[str, float], dtype: str, what: str, device: DeviceBase) -> float:
    if dtype in table:
        return table[dtype]
    if not table:
        raise ConfigError.single(f"hardware {device.name!r} has no {what} rates", key_path=f"compute.{what}")
    raise ConfigError.single(
        f"hardware {device.name!r} has no {dtype} {what} rate; it has: {', '.join(table)}",
        key_path=f"compute.{what}")


def evaluate_op(op: Op, device: DeviceBase) -> OpResult:
    """Time, energy and counts of one execution of ``op`` on ``device`` (multiply by op.count)."""
    work = op_work(op)
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
        shape=dict(op.shape), fused=op.fused,
    )
    _check_physical(result, device)
    return result


def _check_physical(result: OpResult, device: DeviceBase) -> None:
    for name, level in device.memory.items():
        achieved = result.bytes_by_level[name] / result.time_s if result.time_s else 0.0
        if achieved > level.bandwidth_bytes_per_s * (1 + 1e-9):
            raise PhysicalLimitError(f"{result.name}: {name} at {achieved:.3g} B/s exceeds its peak")
