"""Calibration of the GPU model from microbenchmarks only, and its transfer to other GPUs.

The calibration CSV (written by :mod:`archsim.campaigns.gpu_kernels`) holds microbenchmarks: copy
bandwidth at several sizes and CTA counts, L2-resident copy, pointer-chase latency,
shared-memory bandwidth, cuBLAS GEMM peak, the legacy ``mma.sync`` tensor-core peak, the ex2
(special-function) peak and the launch floor. Kernel timings (validation CSV) are never read
here.

:func:`analyse` turns the CSV into a :class:`Calibration` (SI units). The model does not use
these absolute numbers directly on other devices: :func:`efficiencies` divides each by the
preset (datasheet) value of the calibrated device, and :func:`rates_for` multiplies those
ratios onto any GPU preset — that is how an H200 is predicted from its datasheet without
recalibration.

Derivations (all from one CSV):
- ``hbm_bw``: median of torch ``copy_`` bandwidth (read + write bytes) at >= 1 GiB.
- ``mem_fixed_s``: intercept of copy time vs bytes between 16 MiB and 256 MiB (launch plus
  DRAM ramp for a streaming kernel); ``launch_floor_s``: the empty Triton kernel.
- ``l2_bw``: best read-only L2-resident bandwidth (time slope between 20 and 60 passes over a
  4-16 MiB buffer, ``read_l2_resident``); the copy-based figure (slope of L2-resident copy time
  between 2 and 8 MiB, read + write bytes) is kept as ``l2_copy_bw`` for reference: kernels
  mostly read through L2, and reads run faster than copies.
- ``cta_mem_latency_s``: Little's law on the 1-CTA copy (bytes in flight / bandwidth).
- ``mma_peak``: best cuBLAS bf16 GEMM over the calibration sizes; ``mma_sync_peak``,
  ``sfu_peak``, ``smem_bw``, ``hbm_latency_s``, ``l2_latency_s`` read directly.
"""

from __future__ import annotations

import csv
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path

from archsim.errors import ConfigError
from archsim.gpu.power import PowerCoefficients, coefficients_for
from archsim.schemas.hardware import GpuDevice


@dataclass(frozen=True)
class Calibration:
    """Measured device figures (SI units) and where they came from."""

    device: str
    source: str
    hbm_bw_bytes_per_s: float
    mem_fixed_s: float
    launch_floor_s: float
    l2_bw_bytes_per_s: float
    l2_copy_bw_bytes_per_s: float
    cta_mem_latency_s: float
    hbm_latency_s: float
    l2_latency_s: float
    mma_peak_flops_per_s: float
    mma_sync_peak_flops_per_s: float
    sfu_peak_ops_per_s: float
    smem_bw_bytes_per_s: float


def _rows(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="") as fh:
            return list(csv.DictReader(fh))
    except OSError as e:
        raise ConfigError.single(f"cannot read calibration CSV {path}: {e.strerror}") from None


def _fit_line(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares (intercept, slope) of y on x."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx
    return my - slope * mx, slope


def analyse(path: str | Path, device: str) -> Calibration:
    """Derive a :class:`Calibration` from a campaign calibration CSV (see module docstring)."""
    rows = _rows(Path(path))
    by: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by.setdefault(r["bench"], []).append(r)
    need = ("copy_torch", "copy_l2_resident", "launch_floor_triton", "gemm_peak_cublas_bf16", "copy_ctas",
            "smem_read", "chase_hbm", "chase_l2", "mma_sync_peak_bf16", "sfu_ex2_peak", "read_l2_resident")
    missing = [b for b in need if b not in by]
    if missing:
        raise ConfigError.single(f"calibration CSV {path} lacks benchmarks: {', '.join(missing)}")

    def f(r: dict[str, str], k: str) -> float:
        return float(r[k])
    copies = by["copy_torch"]
    hbm = statistics.median(f(r, "value") for r in copies if f(r, "size_bytes") >= 1 << 30)
    mid = [(f(r, "bytes_moved"), f(r, "time_s")) for r in copies if 16 << 20 <= f(r, "size_bytes") <= 256 << 20]
    fixed, _ = _fit_line(mid)
    l2pts = [(f(r, "bytes_moved"), f(r, "time_s")) for r in by["copy_l2_resident"]
             if 2 << 20 <= f(r, "size_bytes") <= 8 << 20]
    _, l2_slope = _fit_line(l2pts)
    one = [r for r in by["copy_ctas"] if r["ctas"] == "1"][0]
    inflight = f(one, "threads") * f(one, "unroll") * 16
    return Calibration(
        device=device, source=str(path), hbm_bw_bytes_per_s=hbm, mem_fixed_s=fixed,
        launch_floor_s=f(by["launch_floor_triton"][0], "time_s"),
        l2_bw_bytes_per_s=max(f(r, "value") for r in by["read_l2_resident"]), l2_copy_bw_bytes_per_s=1.0 / l2_slope,
        cta_mem_latency_s=inflight / f(one, "value"), hbm_latency_s=f(by["chase_hbm"][0], "value"),
        l2_latency_s=f(by["chase_l2"][0], "value"),
        mma_peak_flops_per_s=max(f(r, "value") for r in by["gemm_peak_cublas_bf16"]),
        mma_sync_peak_flops_per_s=f(by["mma_sync_peak_bf16"][0], "value"),
        sfu_peak_ops_per_s=f(by["sfu_ex2_peak"][0], "value"),
        smem_bw_bytes_per_s=max(f(r, "value") for r in by["smem_read"]))


#: H100 SXM5 calibration: ``analyse("archsim/data/measurements/h100/h100-calibration-2026-11-23.csv")`` for the
#: memory and GEMM figures plus ``archsim/data/measurements/h100/h100-calibration-followup-2026-11-23.csv`` (same
#: day, same command with ``--calibration-only``) for mma.sync and ex2 peaks and
#: ``archsim/data/measurements/h100/h100-calibration-reads-2026-11-23.csv`` (``--calibration-only --reads-only``)
#: for read-only L2 bandwidth. NVIDIA H100 80GB
#: HBM3, 132 SMs, driver 580.159.04, torch 2.11.0+cu130, triton 3.6.0, 2026-11-23.
#: tests/gpu/test_calibration.py re-derives these numbers from the CSVs.
H100_CALIBRATION = Calibration(
    device="h100-sxm",
    source="archsim/data/measurements/h100/h100-calibration-2026-11-23.csv (+ -followup- for mma.sync, ex2)",
    hbm_bw_bytes_per_s=3.0156e12, mem_fixed_s=6.373e-6, launch_floor_s=3.808e-6, l2_bw_bytes_per_s=7.333e12,
    l2_copy_bw_bytes_per_s=5.919e12,
    cta_mem_latency_s=4.035e-7, hbm_latency_s=3.516e-7, l2_latency_s=1.445e-7,
    mma_peak_flops_per_s=7.364e14, mma_sync_peak_flops_per_s=6.243e14, sfu_peak_ops_per_s=4.202e12,
    smem_bw_bytes_per_s=3.307e13)


def merged_h100(main_csv: str | Path, *followups: str | Path) -> Calibration:
    """The H100 calibration as committed: main CSV plus benchmarks only the follow-ups ran."""
    main = _rows(Path(main_csv))
    have = {r["bench"] for r in main}
    extra = [r for path in followups for r in _rows(Path(path)) if r["bench"] not in have]
    tmp = Path(main_csv).with_suffix(".merged.tmp.csv")
    try:
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(main[0]))
            w.writeheader()
            w.writerows(main + extra)
        return analyse(tmp, "h100-sxm")
    finally:
        tmp.unlink(missing_ok=True)


@dataclass(frozen=True)
class Efficiencies:
    """Calibrated figure / datasheet figure of the calibrated device (dimensionless)."""

    hbm: float
    l2: float
    mma: float
    mma_sync: float
    sfu: float
    smem: float


def efficiencies(cal: Calibration, ref: GpuDevice) -> Efficiencies:
    """Ratios of the calibration to the preset of the device it was measured on."""
    c, m = ref.compute, ref.memory
    return Efficiencies(
        hbm=cal.hbm_bw_bytes_per_s / ref.offchip.bandwidth_bytes_per_s,
        l2=cal.l2_bw_bytes_per_s / m["l2"].bandwidth_bytes_per_s,
        mma=cal.mma_peak_flops_per_s / c.matrix_flops_per_s["bf16"],
        mma_sync=cal.mma_sync_peak_flops_per_s / c.matrix_flops_per_s["bf16"],
        sfu=cal.sfu_peak_ops_per_s / (c.sfu_ops_per_s or cal.sfu_peak_ops_per_s),
        smem=cal.smem_bw_bytes_per_s / m["smem"].bandwidth_bytes_per_s)


@dataclass(frozen=True)
class DeviceRates:
    """What the model uses for one GPU (SI units). ``*_fmax`` rates are at the maximum SM clock;
    the model scales SM-clocked rates by the power-throttled clock (see :mod:`archsim.gpu.model`)."""

    name: str
    sm_count: int
    clock_hz: float
    registers_per_sm: int
    shared_memory_per_sm_bytes: float
    max_threads_per_sm: int
    max_ctas_per_sm: int
    hbm_bw: float
    l2_bw: float
    l2_bytes: float
    mem_fixed_s: float
    launch_floor_s: float
    cta_mem_latency_s: float
    mma_fmax: float
    mma_sync_fmax: float
    throttle_at_full_mma: float
    vec_fmax: float
    sfu_fmax: float
    smem_fmax: float
    #: board power model (static power, energy per op/byte, limit); it sets the power-limited clock
    power: PowerCoefficients | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def rates_for(device: GpuDevice, cal: Calibration = H100_CALIBRATION, ref: GpuDevice | None = None) -> DeviceRates:
    """Model rates for ``device``: its datasheet figures times the calibrated efficiencies.

    ``ref`` is the preset of the device ``cal`` was measured on (default: the h100-sxm preset).
    The clock under load comes from the board power model (:mod:`archsim.gpu.power`, the preset's
    energies and power limit): the cuBLAS GEMM peak ran power-limited (nvidia-smi read 1410 MHz
    after it), so ``throttle_at_full_mma`` (its efficiency) is kept as a check of that model, not
    used by it; the mma.sync and ex2 peaks are taken as measured at the maximum clock.
    """
    if ref is None:
        from archsim.presets import load_hardware
        ref = load_hardware("h100-sxm")  # type: ignore[assignment]
    eff = efficiencies(cal, ref)  # type: ignore[arg-type]
    c, m, g = device.compute, device.memory, device.gpu
    if ("l2" not in m or "smem" not in m or "bf16" not in c.matrix_flops_per_s or not c.sfu_ops_per_s
            or not c.vector_flops_per_s.get("fp32")):
        raise ConfigError.single(f"GPU preset {device.name!r} needs memory levels 'l2' and 'smem', a bf16 matrix "
                                 "peak, an fp32 vector peak and sfu_ops_per_s for the GPU model", key_path="memory")
    peak = c.matrix_flops_per_s["bf16"]
    return DeviceRates(
        name=device.name, sm_count=g.sm_count, clock_hz=device.clock_hz, registers_per_sm=g.registers_per_sm,
        shared_memory_per_sm_bytes=g.shared_memory_per_sm_bytes, max_threads_per_sm=g.max_threads_per_sm,
        max_ctas_per_sm=g.max_ctas_per_sm, hbm_bw=device.offchip.bandwidth_bytes_per_s * eff.hbm,
        l2_bw=m["l2"].bandwidth_bytes_per_s * eff.l2, l2_bytes=m["l2"].capacity_bytes,
        mem_fixed_s=cal.mem_fixed_s, launch_floor_s=cal.launch_floor_s, cta_mem_latency_s=cal.cta_mem_latency_s,
        mma_fmax=peak, mma_sync_fmax=peak * eff.mma_sync, throttle_at_full_mma=eff.mma,
        vec_fmax=c.vector_flops_per_s.get("fp32", 0.0) / 2.0,
        sfu_fmax=(c.sfu_ops_per_s or 0.0) * eff.sfu, smem_fmax=m["smem"].bandwidth_bytes_per_s * eff.smem,
        power=coefficients_for(device))
