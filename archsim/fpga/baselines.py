"""GPU and CPU comparators for the FPGA reproductions.

GPU baseline: the software-stack model of a batch-1 eager PyTorch run (:mod:`archsim.gpu.baselines_vit`:
the kernels the code launches, host dispatch and synchronisations, the board power model for energy) on
a calibrated GPU (h200 by default: the papers' GPUs could not be identified from the stored sources, so
the GPU we measured stands in). :func:`gpu_stack` returns it with its regime (host- or GPU-bound).

GPU roofline (the previous baseline, kept for comparison): archsim's roofline backend on a GPU preset
(per-operator launch floor from the preset) plus an idle-power term: energy = roofline dynamic energy +
``gpu_idle_power_w`` x latency.

CPU: a roofline of one server CPU (there is no CPU family in archsim): time per operator =
max(FLOPs / peak, bytes / DRAM bandwidth) + a dispatch floor; energy = package power x time.

Numbers (each an input, none fitted to a paper result):
- Intel Xeon Gold 6226R [ARK]: 16 cores, 2.9 GHz base, 2 AVX-512 FMA units/core
  -> 16 x 2.9e9 x 2 units x 16 fp32 lanes x 2 = 2.97 TFLOP/s; 6 channels DDR4-2933 -> 140.8 GB/s;
  TDP 150 W. A stand-in: the Edge-MoE paper's CPU model could not be read from the stored sources.
- GPU idle power 60 W (roofline comparison only): assumption, order of nvidia-smi idle readings of A100-class
  boards; the stack baseline uses the preset's static power instead (measured on the H200).
- Dispatch floor 10 us per operator on the CPU: assumption (framework eager-mode order).
"""

from __future__ import annotations

from dataclasses import dataclass

from archsim.api import simulate
from archsim.gpu.baselines import StepCost
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
    """The roofline comparison (no host time): the previous GPU baseline."""
    result = simulate(workload, gpu, backend="roofline")
    return Comparison(gpu, result.latency_s, result.energy_j + idle_power_w * result.latency_s)


def gpu_stack(cost: StepCost, hw: str, software: str) -> dict:
    """A stack-model baseline as the reports show it: wall (the latency), GPU-busy, host, energy, regime."""
    return {"device": hw, "software": software, "latency_s": cost.wall_s, "energy_j": cost.energy_j,
            "gpu_busy_s": cost.gpu_s, "host_s": cost.host_s, "regime": f"{cost.bound}-bound",
            "avg_power_w": cost.avg_power_w, "n_kernels": cost.n_kernels,
            "model": "archsim.gpu.baselines_vit (stack model; power: archsim.gpu.power)"}


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
