"""GPU and CPU comparators for the FPGA reproductions.

GPU: archsim's own roofline backend on a GPU preset (per-operator launch floor from the preset),
plus an idle-power term the GPU presets leave out (``static_power_w: 0``): energy =
roofline dynamic energy + ``gpu_idle_power_w`` x latency.

CPU: a roofline of one server CPU (there is no CPU family in archsim): time per operator =
max(FLOPs / peak, bytes / DRAM bandwidth) + a dispatch floor; energy = package power x time.

Numbers (each an input, none fitted to a paper result):
- Intel Xeon Gold 6226R [ARK]: 16 cores, 2.9 GHz base, 2 AVX-512 FMA units/core
  -> 16 x 2.9e9 x 2 units x 16 fp32 lanes x 2 = 2.97 TFLOP/s; 6 channels DDR4-2933 -> 140.8 GB/s;
  TDP 150 W. A stand-in: the Edge-MoE paper's CPU model could not be read from the stored sources.
- GPU idle power 60 W: assumption, order of nvidia-smi idle readings of A100-class boards.
- Dispatch floor 10 us per operator on the CPU: assumption (framework eager-mode order).
"""

from __future__ import annotations

from dataclasses import dataclass

from archsim.api import simulate
from archsim.result import Result
from archsim.schemas.workload import Workload


@dataclass(frozen=True)
class CpuSpec:
    name: str = "xeon-gold-6226r"
    peak_flops_per_s: float = 2.97e12
    dram_bandwidth_bytes_per_s: float = 140.8e9
    package_power_w: float = 150.0
    dispatch_floor_s: float = 10e-6


@dataclass(frozen=True)
class Comparison:
    device: str
    latency_s: float
    energy_j: float

    @property
    def fps(self) -> float:
        return 1.0 / self.latency_s

    @property
    def images_per_j(self) -> float:
        return 1.0 / self.energy_j


GPU_IDLE_POWER_W = 60.0


def gpu_comparison(workload: Workload, gpu: str = "a100-sxm", idle_power_w: float = GPU_IDLE_POWER_W) -> Comparison:
    result = simulate(workload, gpu, backend="roofline")
    return Comparison(gpu, result.latency_s, result.energy_j + idle_power_w * result.latency_s)


def cpu_comparison(reference: Result, cpu: CpuSpec = CpuSpec()) -> Comparison:
    """CPU roofline over the same operators (FLOPs and off-chip bytes of ``reference``)."""
    latency = 0.0
    for op in reference.ops:
        bytes_offchip = next(iter(op.bytes_by_level.values()), 0.0)
        t = max(op.flops / cpu.peak_flops_per_s, bytes_offchip / cpu.dram_bandwidth_bytes_per_s)
        if op.flops or bytes_offchip:
            t += cpu.dispatch_floor_s
        latency += t * op.count
    return Comparison(cpu.name, latency, cpu.package_power_w * latency)
