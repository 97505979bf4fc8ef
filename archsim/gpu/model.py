"""Wave/occupancy model of one kernel launch on an H100-class GPU.

A launch is a grid of CTAs (thread blocks) described by :class:`LaunchSpec`: per-CTA work
(tensor-core FLOPs, FP32-pipe lane ops, special-function ops, shared-memory bytes, bytes through
L2 and the part of them that comes from HBM), the CTA's resources (threads, registers, shared
memory) and how the kernel overlaps its phases.

Model (per launch):
1. Occupancy: resident CTAs per SM = min over threads, registers (allocated per warp in units of
   256), shared memory (+1 KiB reserved per CTA), and the CTA limit.
2. A CTA resident with ``r - 1`` others gets ``1/r`` of its SM's pipes. A CTA has a GEMM phase
   (tensor cores, with its shared-memory operand traffic pipelined alongside: the max of the two)
   and a softmax phase (special-function + FP32 ops issued by the same warps: their sum).
   ``serial`` kernels run the phases one after the other (FlashAttention-2, Triton kernels);
   ``overlap`` kernels run them concurrently (warp-specialised ping-pong, FlashAttention-3/cuDNN;
   cuBLAS's producer/consumer pipeline). A CTA alone cannot stream faster than its bytes in
   flight over the memory latency (Little's law, latency from the 1-CTA copy microbenchmark);
   loads are pipelined, so CTA time = max(compute, HBM bytes / Little rate) + one latency.
3. CTAs are dispatched in launch order to the earliest free slot (``SMs x occupancy`` slots):
   wave quantisation and causal imbalance come out of this list schedule. Shared resources bound
   the launch as a whole: makespan = max(list schedule, all HBM bytes / HBM bandwidth, all L2
   bytes / L2 bandwidth) — so a memory-bound tail wave gets the bandwidth the others left.
4. Clock: the board power limit sets the SM clock (:mod:`archsim.gpu.power`). Dynamic power =
   the launch's dynamic energy (per-op and per-byte energies of the preset, fitted to NVML
   microbenchmarks at boost clock, times the voltage line's v(f)^2 at clock f) over its time; when static +
   dynamic power exceeds the limit the clock falls to the highest f at which it fits (bracketed root on
   ln P against ln f: a compute-bound launch slows, a memory-bound one only saves energy), and only a launch
   over the limit at the lowest modelled clock is held to dynamic energy / (limit - static power) (bound
   ``power``). Launches may start below the maximum clock (``PowerCoefficients.clock_fraction``: the window
   clock of a step run back to back, :func:`archsim.gpu.power_validation.at_window_limit`). Padded tile rows
   (``padded_*`` counts) take issue slots like real work and draw their measured fraction of its energy
   (``compute:padded``). The limit is the sustained 700 W one unless the rates carry the burst
   regime (:func:`archsim.gpu.power.burst_rates`: a kernel timed right after an idle pause). Energy =
   static power x time + dynamic energy, by part, on every :class:`LaunchResult`.
5. Kernel time = launch floor + DRAM ramp (both calibrated from copy microbenchmarks) + makespan.

Ignored: instruction issue limits and latencies inside a warp, bank conflicts, register-spill
traffic, L2 misses caused by capacity (K/V and GEMM operands are assumed L2-resident while their
consumers run), L2 partition crossing, DRAM refresh/page effects (see the DRAM model for those),
clock ramp-up, launch overlap between consecutive kernels.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

from archsim.gpu.calibration import DeviceRates
from archsim.gpu.power import MIN_CLOCK_FRACTION

PIPES = ("mma", "vec", "sfu", "smem")
#: The counts of a launch (``LaunchResult.totals``): work, bytes and the padded part of the work.
TOTAL_KEYS = ("mma_flops", "vec_ops", "sfu_ops", "hbm_bytes", "l2_bytes", "smem_bytes", "padded_mma_flops",
              "padded_vec_ops", "padded_sfu_ops", "padded_smem_bytes")


@dataclass(frozen=True)
class CtaWork:
    """Work of one CTA. Units: FLOPs (mma), lane operations (vec, sfu), bytes.

    ``padded_*``: the part of ``mma_flops`` / ``vec_ops`` / ``sfu_ops`` / ``smem_bytes`` spent on tile rows
    past the problem (a 64-row tile run for one query row or a 1-row GEMM). They take issue slots like any
    other work (time counts them); their energy is bounded apart (:mod:`archsim.gpu.power`).
    """

    mma_flops: float = 0.0
    vec_ops: float = 0.0
    sfu_ops: float = 0.0
    smem_bytes: float = 0.0
    l2_bytes: float = 0.0
    hbm_bytes: float = 0.0
    padded_mma_flops: float = 0.0
    padded_vec_ops: float = 0.0
    padded_sfu_ops: float = 0.0
    padded_smem_bytes: float = 0.0


@dataclass(frozen=True)
class LaunchSpec:
    """One kernel launch: CTA runs in launch order ``(count, work)`` and CTA resources.

    ``repeat``: the runs are one period of the launch order, repeated ``repeat`` times (e.g. the
    query blocks of one head, repeated over batch x heads), kept compact for long grids.
    """

    name: str
    ctas: tuple[tuple[int, CtaWork], ...]
    threads_per_cta: int
    regs_per_thread: int
    smem_per_cta_bytes: float
    mma_path: str = "wgmma"  # wgmma | mma_sync | none
    schedule: str = "serial"  # serial | overlap | pipelined
    inflight_bytes_per_cta: float = 32768.0
    repeat: int = 1
    note: str = ""
    mma_dtype: str = "bf16"  # which tensor-core energy per FLOP applies (archsim.gpu.power)
    #: what a padded tile row holds: "zero" (TMA out-of-bounds fill, masked loads with other=0) or "stale"
    #: (shared memory the kernel never writes for those rows: FlashAttention-2's Q tile)
    padded_fill: str = "zero"
    #: cuBLAS's swap-AB GEMM (m <= 64): its HBM bytes cost the measured weight-stream energy (archsim.gpu.power)
    weight_stream: bool = False
    #: energy class with a measured per-op factor (archsim.gpu.power ``class_compute_scale``): "" none,
    #: "stream_wide" cuBLAS non-swap GEMMs m <= 256, "fa2_splitkv" FlashAttention-2's split-KV kernel
    energy_class: str = ""

    @property
    def grid(self) -> int:
        return self.repeat * sum(n for n, _ in self.ctas)

    def total(self, key: str) -> float:
        return self.repeat * sum(n * getattr(w, key) for n, w in self.ctas)

    def launch_order(self) -> list[tuple[int, CtaWork]]:
        """The runs over the whole grid (period repeated)."""
        return list(self.ctas) * self.repeat


@dataclass
class LaunchResult:
    """Predicted time of one launch (seconds) and what bounded it."""

    name: str
    time_s: float
    bound: str
    grid: int
    ctas_per_sm: int
    occupancy_limiter: str
    waves: float
    clock_hz: float
    busy_s: dict[str, float]
    totals: dict[str, float]
    timeline: list[dict] = field(default_factory=list)
    energy_j: float = 0.0  # board energy over time_s (J): static power x time + dynamic energy
    energy_by_part: dict[str, float] = field(default_factory=dict)


def occupancy(spec: LaunchSpec, rates: DeviceRates) -> tuple[int, str]:
    """(resident CTAs per SM, the limiting resource)."""
    warps = math.ceil(spec.threads_per_cta / 32)
    regs_per_warp = math.ceil(spec.regs_per_thread * 32 / 256) * 256
    limits = {
        "threads": rates.max_threads_per_sm // max(1, warps * 32),
        "registers": rates.registers_per_sm // max(1, warps * regs_per_warp),
        "shared_memory": int(rates.shared_memory_per_sm_bytes // (spec.smem_per_cta_bytes + 1024)),
        "cta_limit": rates.max_ctas_per_sm,
    }
    limiter = min(limits, key=lambda k: limits[k])
    if limits[limiter] < 1:
        from archsim.errors import PhysicalLimitError
        raise PhysicalLimitError(f"{spec.name}: a CTA does not fit on one SM ({limiter})")
    return limits[limiter], limiter


def _pipe_rates(spec: LaunchSpec, rates: DeviceRates, clock: float) -> dict[str, float]:
    """Per-SM rates at ``clock`` (FLOP/s, op/s, B/s)."""
    s = clock / rates.clock_hz / rates.sm_count
    mma = rates.mma_sync_fmax if spec.mma_path == "mma_sync" else rates.mma_fmax
    return {"mma": mma * s, "vec": rates.vec_fmax * s, "sfu": rates.sfu_fmax * s, "smem": rates.smem_fmax * s}


def _cta_time(w: CtaWork, spec: LaunchSpec, rates: DeviceRates, per_sm: dict[str, float],
              r: int) -> tuple[float, dict[str, float]]:
    """A CTA's own time: compute at 1/r of its SM, memory at its Little's-law rate, plus one latency."""
    parts = {
        "mma": w.mma_flops * r / per_sm["mma"] if w.mma_flops else 0.0,
        "vec": w.vec_ops * r / per_sm["vec"] if w.vec_ops else 0.0,
        "sfu": w.sfu_ops * r / per_sm["sfu"] if w.sfu_ops else 0.0,
        "smem": w.smem_bytes * r / per_sm["smem"] if w.smem_bytes else 0.0,
    }
    gemm_phase = max(parts["mma"], parts["smem"])  # operand loads from shared memory pipeline with the MMAs
    softmax_phase = parts["sfu"] + parts["vec"]  # issued by the same warps, one after the other
    if spec.schedule == "serial":
        compute = gemm_phase + softmax_phase
    elif spec.schedule == "pipelined":  # one consumer warpgroup, intra-warpgroup overlap (FA3 Algorithm 2)
        # per KV tile: S = Q K^T must finish before its softmax; the softmax overlaps only the P V GEMM of the
        # previous tile, so the chain is GEMM0 + max(GEMM1, softmax) at the CTA's own (unshared) rates, and the
        # shared pipes bound the co-resident CTAs together
        chain = (0.5 * gemm_phase + max(0.5 * gemm_phase, softmax_phase)) / r
        compute = max(gemm_phase, softmax_phase, chain)
    else:
        compute = max(gemm_phase, softmax_phase)
    little = spec.inflight_bytes_per_cta / rates.cta_mem_latency_s
    parts["latency"] = w.hbm_bytes / little
    parts["compute"] = compute
    return max(compute, parts["latency"]) + rates.cta_mem_latency_s, parts


def _merge(runs: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """Join neighbouring runs of equal duration."""
    out: list[tuple[int, float]] = []
    for n, d in runs:
        if out and out[-1][1] == d:
            out[-1] = (out[-1][0] + n, d)
        else:
            out.append((n, d))
    return out


def _schedule(durations: list[tuple[int, float]], slots: int, wave_events: bool) -> tuple[float, list[dict]]:
    """List-schedule CTA runs ``(count, duration)`` onto ``slots`` in order; returns makespan."""
    if len(durations) == 1:
        n, d = durations[0]
        waves = math.ceil(n / slots)
        waves_ev = [{"wave": k, "start_s": k * d, "dur_s": d, "ctas": min(slots, n - k * slots)}
                    for k in range(min(waves, 64))] if wave_events else []
        return waves * d, waves_ev
    free = [0.0] * slots
    heapq.heapify(free)
    end = 0.0
    events: list[dict] = []
    started = 0
    for n, d in durations:
        for _ in range(n):
            t0 = heapq.heappop(free)
            heapq.heappush(free, t0 + d)
            end = max(end, t0 + d)
            if wave_events and started % slots == 0 and len(events) < 64:
                events.append({"wave": started // slots, "start_s": t0, "dur_s": d, "ctas": min(slots, n)})
            started += 1
    return end, events


def simulate_launch(spec: LaunchSpec, rates: DeviceRates, *, timeline: bool = False) -> LaunchResult:
    """Predict one launch (see module docstring)."""
    occ, limiter = occupancy(spec, rates)
    grid = spec.grid
    r = max(1, min(occ, math.ceil(grid / rates.sm_count)))
    slots = rates.sm_count * r
    clock = rates.clock_hz * (rates.power.clock_fraction if rates.power is not None else 1.0)
    fixed = rates.launch_floor_s + max(0.0, rates.mem_fixed_s - rates.launch_floor_s)
    shared = {"memory:hbm": spec.total("hbm_bytes") / rates.hbm_bw, "memory:l2": spec.total("l2_bytes") / rates.l2_bw}
    totals = {k: spec.total(k) for k in TOTAL_KEYS}
    power = rates.power
    staged = spec.mma_path == "wgmma"
    # the power manager reacts to what the board draws: every part of the work, padded tile rows at their
    # measured fraction of the energy on random operands (archsim.gpu.power)
    async_copy = spec.mma_path == "mma_sync"  # cp.async into shared memory (archsim.gpu.power)
    fill = spec.padded_fill
    # dynamic energies by part at the maximum clock; at a lower clock every one follows the voltage line
    parts0 = power.parts_j(totals, spec.mma_dtype, staged, async_copy, fill, spec.weight_stream,
                           spec.energy_class) if power is not None else {}
    dyn0 = sum(parts0.values())

    def timed_at(clock_hz: float) -> tuple:
        per_sm = _pipe_rates(spec, rates, clock_hz)
        period, worst_parts, worst = [], {}, -1.0
        timed: dict[CtaWork, float] = {}
        for n, w in spec.ctas:
            if w not in timed:
                timed[w], parts = _cta_time(w, spec, rates, per_sm, r)
                if timed[w] > worst:
                    worst, worst_parts = timed[w], parts
            period.append((n, timed[w]))
        runs = period if spec.repeat == 1 else _merge(period * spec.repeat)
        sched, events = _schedule(runs, slots, timeline)
        makespan = max(sched, *shared.values())
        return fixed + makespan, sched, events, makespan, worst_parts

    def dyn_at(clock_hz: float) -> float:
        return dyn0 * power.op_scale(clock_hz / rates.clock_hz) if power is not None else 0.0
    # the power manager: the highest clock at which the launch's average dynamic power fits the headroom
    # (P(f) = E_dyn(f) / T(f) rises with f: a compute-bound launch by its time and the voltage line, a memory-bound
    # one by the voltage line alone); bracketed secant on ln P against ln f
    got = timed_at(clock)
    head = power.headroom_w if power is not None else None
    if head is not None and dyn_at(clock) / got[0] > head * (1.0 + 1e-3):
        f_lo = MIN_CLOCK_FRACTION * rates.clock_hz
        lo_got = timed_at(f_lo)
        p_lo, p_hi = dyn_at(f_lo) / lo_got[0], dyn_at(clock) / got[0]
        hi = clock
        if p_lo >= head:  # even the lowest clock draws too much: the limit holds by the floor below
            clock, got = f_lo, lo_got
        else:
            lo, side = f_lo, 0
            for _ in range(40):  # regula falsi with the Illinois step (each end moves at least every other step)
                w = (math.log(head) - math.log(p_lo)) / (math.log(p_hi) - math.log(p_lo))
                f = math.exp(math.log(lo) + w * (math.log(hi) - math.log(lo)))
                f_got = timed_at(f)
                p = dyn_at(f) / f_got[0]
                clock, got = f, f_got
                if abs(p - head) <= 1e-6 * head or hi - lo <= 1e-7 * hi:
                    break
                if p > head:
                    hi, p_hi = f, p
                    if side == 1:
                        p_lo = head * math.sqrt(p_lo / head)
                    side = 1
                else:
                    lo, p_lo = f, p
                    if side == -1:
                        p_hi = head * math.sqrt(p_hi / head)
                    side = -1
    time_s, sched, events, makespan, worst_parts = got
    dyn_j = dyn_at(clock)
    power_floor = power.power_floor_s(dyn_j) if power is not None else 0.0
    if power_floor > time_s or clock < rates.clock_hz * (1.0 - 1e-3):  # power-limited
        time_s = max(time_s, power_floor)  # the limit holds even where a lower clock does not slow it
        bound = "power"
    elif fixed >= makespan:
        bound = "launch"
    elif sched >= max(shared.values()):
        bound = "latency" if worst_parts["latency"] > worst_parts["compute"] else \
            "compute:" + max(PIPES, key=lambda p: worst_parts[p])
    else:
        bound = max(shared, key=lambda k: shared[k])
    busy = {**worst_parts, **{f"launch_{k}": v for k, v in shared.items()}, "schedule": sched,
            "power_floor": power_floor}
    scale = power.op_scale(clock / rates.clock_hz) if power is not None else 1.0
    parts = {**{k: v * scale for k, v in parts0.items()},
             "static": power.static_w * time_s} if power is not None else {}
    return LaunchResult(name=spec.name, time_s=time_s, bound=bound, grid=grid, ctas_per_sm=occ,
                        occupancy_limiter=limiter, waves=grid / slots, clock_hz=clock, busy_s=busy, totals=totals,
                        timeline=events, energy_j=sum(parts.values()), energy_by_part=parts)
