"""Logic-die PIM (Duplex's Logic-PIM) and the Op/B co-processing policy.

A logic-die PIM device sits under the DRAM dies of an HBM stack and reaches them through TSVs:
its "off-chip" level is the TSV bandwidth (several times the external HBM bandwidth), its
compute is a few to a few dozen FLOP per byte of that bandwidth. It is modelled with the
roofline of :mod:`archsim.backends.roofline` on those numbers — time = max(compute, TSV
bytes / TSV bandwidth) — which ignores DRAM row timing below the TSVs (bank-level PIM models
that with the command stream; at a few Op/B the logic die is fed by whole-row streams, where
row switches cost a few percent) and contention with the xPU (the two never run together in
this model: each operator runs on one of them).

Op/B (FLOPs per byte of DRAM traffic) of an operator is its roofline FLOPs over the bytes it
moves off-chip; Duplex sends an operator to Logic-PIM when that is the faster device, which
for these two devices is a threshold on Op/B (:func:`crossover_op_per_byte`).
"""

from __future__ import annotations

from dataclasses import dataclass

from archsim.backends.roofline import evaluate_op, op_traffic
from archsim.operators import Operator
from archsim.result import OpResult
from archsim.schemas.hardware import DeviceBase


def op_per_byte(op: Operator, device: DeviceBase) -> float:
    """FLOPs per byte of off-chip (DRAM) traffic of one execution of ``op`` on ``device``."""
    w = op.work()
    traffic = op_traffic(op, 0, list(device.memory.values())).total
    return (w.matrix_flops + w.vector_flops) / traffic if traffic else float("inf")


@dataclass(frozen=True)
class Placement:
    """Where one operator ran under a policy, and its cost there (one execution)."""

    op: Operator
    device: str
    op_per_byte: float
    result: OpResult


def co_process(ops: list[Operator], xpu: DeviceBase, logic_pim: DeviceBase, *,
               policy: str = "duplex") -> list[Placement]:
    """Assign each operator to ``xpu`` or ``logic_pim``.

    ``policy``: ``gpu_only`` (everything on the xPU), ``duplex`` (each operator on the device
    where it finishes first — Duplex's per-layer choice by Op/B), ``logic_only``.
    """
    if policy not in ("gpu_only", "duplex", "logic_only"):
        raise ValueError(f"unknown policy {policy!r}; valid: gpu_only, duplex, logic_only")
    out = []
    for op in ops:
        on_xpu = evaluate_op(op, xpu)
        opb = op_per_byte(op, xpu)
        if policy == "gpu_only":
            out.append(Placement(op, "xpu", opb, on_xpu))
            continue
        on_pim = evaluate_op(op, logic_pim)
        if policy == "logic_only" or on_pim.time_s < on_xpu.time_s:
            out.append(Placement(op, "logic_pim", opb, on_pim))
        else:
            out.append(Placement(op, "xpu", opb, on_xpu))
    return out


def crossover_op_per_byte(xpu: DeviceBase, logic_pim: DeviceBase, dtype: str = "bf16") -> float:
    """Op/B below which Logic-PIM is the faster device for a streaming GEMM (both rooflines).

    xPU time per byte: max(opb / F_x, 1 / B_x); Logic-PIM: max(opb / F_p, 1 / B_p). With
    B_p > B_x and F_p < F_x they cross where opb / F_p = 1 / B_x, i.e. opb = F_p / B_x.
    """
    f_p = logic_pim.compute.matrix_flops_per_s[dtype]
    b_x = xpu.offchip.bandwidth_bytes_per_s
    return f_p / b_x
