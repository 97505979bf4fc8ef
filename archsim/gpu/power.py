"""GPU board power: static power, dynamic energy per operation and per byte, and the board power limit.

A launch that runs for ``T`` seconds and does work ``n`` (tensor-core FLOPs by dtype, FP32-pipe lane
operations, special-function ops, bytes through shared memory/L1, L2 and HBM) draws on average

    P = P_static + E_dyn / T,    E_dyn = sum_j e_j * n_j,

and costs ``E = P_static * T + E_dyn`` joules. ``P_static`` is the board with a CUDA context and its
clocks up but no work (measured: NVML energy counter over 5 s idle); it is paid over the whole
predicted timeline, gaps between kernels (host-bound waits) included. The ``e_j`` are fitted from
microbenchmarks only (:mod:`archsim.gpu.power_fit`); the bytes of a level already include traffic
that passes through it on the way to an inner level (an HBM byte is also an L2 byte).

Power limit (one mechanism with the clock of :mod:`archsim.gpu.model`): when ``P`` at the maximum SM
clock would exceed the board limit ``P_limit`` (the preset's ``tdp_w``: 700 W on H100/H200 SXM), the
power manager lowers the SM clock until ``P = P_limit``. With energy per operation independent of the
clock, a compute-bound launch stretches to ``T = E_dyn / (P_limit - P_static)``; a memory-bound one
cannot be slowed by the SM clock alone, so the model bounds its time by the same floor (the board
cannot spend dynamic energy faster than the limit allows). Time changes; dynamic energy does not.

Padded tile rows (a 64-row tensor-core tile run for one decode query row, a 1-row GEMM on 64-row
wgmma tiles; kernels count them as ``padded_*`` work): the clock decision and the floor use the
energy of the real work only (every byte moved, the work on problem rows) — a physically bounded
estimate: the board draws at least that. The padded work is then charged at the full per-op
energies, capped at what the limit leaves over the launch's time (the board averages at most its
limit). Evidence: on the H200 the split-KV decode kernels (60-63 of 64 rows padded) streamed KV
at 4.4-4.5 TB/s (archsim/data/measurements/h200/h200-validation-2026-11-23.csv) where the fitted
per-byte energies alone give 680-700 W; full-energy padded rows would need ~1100 W. Why padded
rows would cost less is not settled here: their operands are stale shared memory (FA2 does not
clear out-of-range Q rows) or zeros (TMA fill), and switching is data-dependent (zeros-vs-random
not measured); those kernel timings are also 50 ms do_bench windows, not the >= 2 s NVML runs the
energies were fitted on. What it misses: FlashAttention-2's non-split decode kernel (one query
row in 128-row tiles, compute-bound on them) ran capped at 700 W, 1635-1665 MHz, in the power
campaign's long windows; the model predicts it at the full clock (time and energy ~23% low).

Assumptions and what is ignored: energy per operation does not depend on the clock/voltage point
(the fit's residuals on GEMMs run at 1410-1980 MHz bound that error); temperature (leakage grows
with it) is folded into the coefficients; the power manager's averaging window (tens of ms) is
replaced by a per-launch limit, which moves time between launches of one step but not dynamic energy;
deep idle (no CUDA context, 345 MHz) is reported but never part of a predicted run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from archsim.schemas.hardware import DeviceBase

#: Lowest SM clock the power manager is modelled to reach, as a fraction of the maximum (the H200
#: calibration GEMMs ran at 1410-1500 MHz of 1980 under the 700 W limit; far below is not seen).
MIN_CLOCK_FRACTION = 0.3


@dataclass(frozen=True)
class PowerCoefficients:
    """Board power model of one GPU (SI units: W, J per FLOP / op / byte)."""

    static_w: float
    limit_w: float | None
    matrix_j_per_flop: dict[str, float]
    vec_j_per_lane_op: float
    sfu_j_per_op: float
    smem_j_per_byte: float
    l2_j_per_byte: float
    hbm_j_per_byte: float
    source: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def parts_j(self, totals: dict[str, float], mma_dtype: str = "bf16", staged: bool = False) -> dict[str, float]:
        """Dynamic energy of ``totals`` (a launch's counts, see :class:`archsim.gpu.model.LaunchResult`).

        ``staged``: a ``wgmma`` kernel, whose operand staging (L2 re-reads, shared memory) is part of
        the per-FLOP energy (see :func:`charged_counts`).
        """
        t = charged_counts(totals, staged)
        mat = self.matrix_j_per_flop.get(mma_dtype, self.matrix_j_per_flop.get("bf16", 0.0))
        return {"compute:mma": mat * t["mma_flops"], "compute:vec": self.vec_j_per_lane_op * t["vec_ops"],
                "compute:sfu": self.sfu_j_per_op * t["sfu_ops"], "memory:smem": self.smem_j_per_byte * t["smem_bytes"],
                "memory:l2": self.l2_j_per_byte * t["l2_bytes"], "memory:hbm": self.hbm_j_per_byte * t["hbm_bytes"]}

    def dynamic_j(self, totals: dict[str, float], mma_dtype: str = "bf16", staged: bool = False) -> float:
        return sum(self.parts_j(totals, mma_dtype, staged).values())

    def padded_j(self, totals: dict[str, float], mma_dtype: str = "bf16", staged: bool = False) -> float:
        """Energy of the work on padded tile rows (``padded_*`` counts) at the full per-op energies
        (shared-memory bytes only where they are charged per byte: not ``staged``)."""
        mat = self.matrix_j_per_flop.get(mma_dtype, self.matrix_j_per_flop.get("bf16", 0.0))
        return (mat * totals.get("padded_mma_flops", 0.0) + self.vec_j_per_lane_op * totals.get("padded_vec_ops", 0.0)
                + self.sfu_j_per_op * totals.get("padded_sfu_ops", 0.0)
                + (0.0 if staged else self.smem_j_per_byte * totals.get("padded_smem_bytes", 0.0)))

    def real_dynamic_j(self, totals: dict[str, float], mma_dtype: str = "bf16", staged: bool = False) -> float:
        """Dynamic energy of the work on real operands: every byte moved, the work on problem rows."""
        return self.dynamic_j(totals, mma_dtype, staged) - self.padded_j(totals, mma_dtype, staged)

    def bounded_parts_j(self, totals: dict[str, float], time_s: float, mma_dtype: str = "bf16",
                        staged: bool = False) -> dict[str, float]:
        """Dynamic energy by part of a launch that ran ``time_s``, padded work within the limit.

        The real work keeps its parts (``compute:mma`` etc. less their padded share); the padded rows
        are charged at the full per-op energies (their operands are zeros or stale data: the lower
        energy that data-dependent switching suggests is not measured here) but never beyond what the
        power limit leaves over ``time_s`` (``compute:padded``): the board cannot average more than its
        limit, and the clock was set by the real work (see module docstring).
        """
        parts = self.parts_j(totals, mma_dtype, staged)
        mat = self.matrix_j_per_flop.get(mma_dtype, self.matrix_j_per_flop.get("bf16", 0.0))
        parts["compute:mma"] -= mat * totals.get("padded_mma_flops", 0.0)
        parts["compute:vec"] -= self.vec_j_per_lane_op * totals.get("padded_vec_ops", 0.0)
        parts["compute:sfu"] -= self.sfu_j_per_op * totals.get("padded_sfu_ops", 0.0)
        if not staged:
            parts["memory:smem"] -= self.smem_j_per_byte * totals.get("padded_smem_bytes", 0.0)
        padded = self.padded_j(totals, mma_dtype, staged)
        head = self.headroom_w
        if head is not None:
            padded = min(padded, max(0.0, head * time_s - sum(parts.values())))
        parts["compute:padded"] = padded
        return parts

    @property
    def headroom_w(self) -> float | None:
        """Dynamic power the limit leaves (None: no limit)."""
        return None if self.limit_w is None else max(1e-3, self.limit_w - self.static_w)

    def next_clock(self, clock_hz: float, max_clock_hz: float, dynamic_w: float) -> float:
        """One fixed-point step of the power manager: scale the clock so dynamic power meets the headroom."""
        head = self.headroom_w
        if head is None or dynamic_w <= 0.0:
            return max_clock_hz
        return min(max_clock_hz, max(MIN_CLOCK_FRACTION * max_clock_hz, clock_hz * head / dynamic_w))

    def power_floor_s(self, dynamic_j: float) -> float:
        """Shortest time in which the board can spend ``dynamic_j`` under its limit."""
        head = self.headroom_w
        return 0.0 if head is None else dynamic_j / head


def charged_counts(totals: dict[str, float], staged: bool) -> dict[str, float]:
    """The counts energy is charged on.

    ``staged`` (``wgmma`` kernels: cuBLAS, cuDNN/FA3-style): operands arrive by TMA in shared memory
    and the tensor cores read them there; that staging is not the LSU path the per-byte energies were
    measured on (copies, read streams), and in GEMMs it scales with the FLOPs, so it is fitted into the
    per-FLOP energy: such a kernel is charged its HBM bytes (which also cross L2) but not its L2
    re-reads or shared-memory bytes. ``mma.sync`` kernels (FlashAttention-2, Triton) load every
    operand fragment from shared memory into registers (``ldmatrix``, each warp its own copy) after
    ``cp.async`` from L2: the LSU path, charged per byte like the microbenchmarks. History: the first
    rule (every tensor-core kernel staged) predicted FlashAttention-2 prefill energy 40% low on the
    H200 validation set; no fitted coefficient depends on the rule (the fit's GEMMs are wgmma)."""
    keys = ("mma_flops", "vec_ops", "sfu_ops", "smem_bytes", "l2_bytes", "hbm_bytes")
    t = {k: totals.get(k, 0.0) for k in keys}
    if staged:
        t["smem_bytes"] = 0.0
        t["l2_bytes"] = t["hbm_bytes"]
    return t


def coefficients_for(device: DeviceBase) -> PowerCoefficients:
    """The power model of a GPU preset, read from its energy fields (each cites its source there).

    ``compute.vector_energy_j_per_flop`` is per FLOP of an FFMA; one FP32-pipe lane operation of the
    GPU model (an FFMA = 2 FLOPs, an FADD/FMUL) costs twice that. Levels named ``smem``, ``l2`` and the
    off-chip level give the per-byte energies (read and write taken alike: the model counts bytes
    moved, not their direction).
    """
    c, m = device.compute, device.memory
    off = next(iter(m.values()))
    matrix = {str(k): v for k, v in c.matrix_energy_j_per_flop.items()}
    return PowerCoefficients(
        static_w=device.static_power_w, limit_w=device.tdp_w, matrix_j_per_flop=matrix,
        vec_j_per_lane_op=2.0 * c.vector_energy_j_per_flop, sfu_j_per_op=c.sfu_energy_j_per_op,
        smem_j_per_byte=m["smem"].read_energy_j_per_byte if "smem" in m else 0.0,
        l2_j_per_byte=m["l2"].read_energy_j_per_byte if "l2" in m else 0.0,
        hbm_j_per_byte=off.read_energy_j_per_byte, source=f"preset {device.name}")


@dataclass(frozen=True)
class EnergyReport:
    """Energy of a predicted timeline: launches plus gaps at static power (J, s, W)."""

    energy_j: float
    time_s: float
    static_j: float
    dynamic_by_part_j: dict[str, float]

    @property
    def avg_power_w(self) -> float:
        return self.energy_j / self.time_s if self.time_s > 0 else 0.0

    def to_dict(self) -> dict:
        return {"energy_j": self.energy_j, "time_s": self.time_s, "avg_power_w": self.avg_power_w,
                "static_j": self.static_j, "dynamic_by_part_j": self.dynamic_by_part_j}


def timeline_energy(launches: list, coeffs: PowerCoefficients, gaps_s: float = 0.0) -> EnergyReport:
    """Integrate power over launches (``LaunchResult`` with ``time_s`` and ``energy_by_part``) and gaps.

    Each launch carries its dynamic energy by part (computed by the GPU model with its dtype); the
    static power is paid over every launch and over ``gaps_s`` of host-side waiting.
    """
    parts: dict[str, float] = {}
    busy = 0.0
    for r in launches:
        busy += r.time_s
        for k, v in r.energy_by_part.items():
            if k != "static":
                parts[k] = parts.get(k, 0.0) + v
    total_s = busy + gaps_s
    static = coeffs.static_w * total_s
    return EnergyReport(energy_j=static + sum(parts.values()), time_s=total_s, static_j=static,
                        dynamic_by_part_j=parts)
