"""Registers the roofline backend for every single-device family."""

from __future__ import annotations

from typing import Any

from archsim.backends import Backend, register_backend
from archsim.backends.roofline import evaluate_op
from archsim.ops import Op
from archsim.result import Result
from archsim.schemas.hardware import DeviceBase


def peaks(device: DeviceBase) -> dict[str, Any]:
    return {
        "matrix_flops_per_s": dict(device.compute.matrix_flops_per_s),
        "vector_flops_per_s": dict(device.compute.vector_flops_per_s),
        "bandwidth_bytes_per_s": {n: lvl.bandwidth_bytes_per_s for n, lvl in device.memory.items()},
    }


def run_roofline(workload_name: str, device: DeviceBase, ops: list[Op], tokens: dict[str, int]) -> Result:
    return Result(workload=workload_name, hardware=device.name, family=device.family,  # type: ignore[attr-defined]
                  backend="roofline", ops=[evaluate_op(op, device) for op in ops], peaks=peaks(device),
                  tokens_by_phase=tokens,
                  notes=["roofline: time = max(compute, memory per level); no occupancy, waves or DRAM timing"])


register_backend(Backend("roofline", ("gpu", "fpga", "pim", "accelerator"), 0, run_roofline,
                         "analytical roofline: FLOPs and bytes per level, time = max over resources"))
