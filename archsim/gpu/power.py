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
power manager lowers the SM clock to the highest ``f`` at which ``P(f) = P_limit``. Energy per operation follows a
voltage line (:data:`H200_VF`): every dynamic part costs its boost-clock energy times ``v(f)^2``,
``v(f) = 1 - beta (1 - f / f_max)``, so ``P(f) = P_static + E_dyn,boost v(f)^2 / T(f)``: a compute-bound launch
(``T ~ 1/f``) settles where its stretched time and its lower voltage meet the limit, a memory-bound one (``T``
independent of ``f``) by the voltage alone, and only a launch that draws too much even at the lowest modelled clock
is held to the floor ``T = E_dyn / (P_limit - P_static)``. The line was measured on the same cuBLAS GEMMs back to
back at the limit (1410-1890 MHz) and between one-warp spins at 1980 MHz (``campaigns/power_vf.py``: 1.15-1.39x the
dynamic energy per call at boost, whole-kernel energies, weight streams included, so every dynamic part follows it)
and fitted before every other stage; the fits read each calibration row at its NVML median clock. Before the line,
the model charged clock-independent energies fitted mostly on power-capped GEMMs, and a GEMM running at boost below
the limit (a small prefill's, a GEMM between host waits) came out 13-50 % low; the ``stream_wide`` class factor
(0.68 of the per-FLOP energy for cuBLAS's m = 96..256 tiles, measured at 1395-1582 MHz) was mostly that clock.
The limit acts on a window, not a launch: the slow controller averages over tens of ms, so a step run back to back
holds one clock, the highest at which its average power fits (:func:`archsim.gpu.power_validation.at_window_limit`;
measured in ``campaigns/power_prefill.py``: a prefill's GEMMs alone ran capped at 1440-1740 MHz, the same GEMMs
between its glue kernels at 1890-1980 MHz); within the window only the spike limit caps a launch (below).

Padded tile rows (a 64-row tensor-core tile run for one decode query row, the 8-column cuBLAS tile of a
1-row GEMM; kernels count them as ``padded_*`` work) cost ``padded_fraction`` of the energy of the same
work on random operands, and count in the clock decision like any other work. Measured
(``power-h200-2026-12-01-padded.csv``, :func:`archsim.gpu.power_fit.fit_padded`): a bf16 GEMM 8192^3 whose A
has 1 or 8 random rows of every 64 (the rest zero, B random) puts its zero rows at 0.56 of the random GEMM's
tensor-core energy (the fit; an all-zero GEMM draws 0.41 of the random one's dynamic energy): tile rows whose
operand is zero still switch the other operand's path. FlashAttention-2's padded rows hold stale shared
memory and feed non-zero softmax rows into P.V: charged in full (``padded_fill == "stale"``). The
same run shows why the earlier bound ("padded rows only within what the limit leaves") was wrong: the
split-KV and non-split FlashAttention-2 decode kernels both ran power-capped (1620-1770 MHz, 680-710 W)
over >= 2 s windows; their kernel-validation timings (``triton.testing.do_bench``, ~60 ms after a pause)
ran at ~1980 MHz because the board's 700 W controller acts only after ~0.07 s (burst regime below).

``cp.async`` kernels (FlashAttention-2, cuDNN's sm80 decode kernel) pay ``tma_stream_j_per_byte`` per HBM byte
(HBM, L2 and the fill of shared memory together), measured on cuBLAS GEMMs m = 1..8 x 16384 x 8192 in the
``x @ W`` (NN) layout (96.9 pJ/B, against 125 pJ/B of ``e_l2 + e_hbm`` fitted on load/store-path copies and
reads). Staged (``wgmma``/TMA) kernels pay ``e_l2 + e_hbm`` per HBM byte, as the main fit charged the GEMMs their
per-FLOP energy was fitted on (boost-clock GEMMs m = 16..8192 of ``campaigns/power_vf.py`` among them), except
cuBLAS's swap-AB GEMMs (m <= 64, the weight streamed through 128 x 8..64 tiles), which pay
``gemm_stream_j_per_byte``: measured on the kernel every
``nn.Linear``/``F.linear`` decode GEMM runs, cuBLAS's TN ``nvjet_sm90_tst_256x8`` (1 x 4096 -> 22016, a 180 MB
weight, CUDA-graph chain, ``power-h200-2026-12-01-gaps.csv``, :func:`archsim.gpu.power_fit.fit_gaps`): 124 pJ/B
at 3.7 TB/s, the time the GPU model already predicts for it (48.2 us), where the NN kernel streams at 4.3 TB/s
for 98-104 pJ/B on the padded run's board (the same nvjet 128x8 family; that board also drew 386 W in the
batch-1 graph decode that three other boards ran at 416-433 W: a board spread, reported in gpu-energy.md).
The split campaign (``power-h200-2026-12-01-split.csv``, :mod:`archsim.gpu.power_fit_split`) measured the same
kernel in both layouts on a third board (TN 102.9, NN 98.0 pJ/B: layout within 5 %, boards 20 % apart): the model
charges the mean of the two boards' TN figures (:data:`H200_STREAM8_J_PER_BYTE`). The wider swap-AB tiles
(m = 16..64) stream at the same figure: on the split board within 0-10 % of it, on the V/f board's boost rows
(m = 16, 64) 1.2-1.3x the cp.async figure they were charged before. Two kernel families cost a measured share of
their per-op charge (``class_compute_scale``, ``LaunchSpec.energy_class``; mechanisms not identified, see
gpu-energy.md): cuBLAS's non-swap tiles for m = 96..256 (``stream_wide``: the split campaign's rows at 1395-1582 MHz
and the V/f campaign's boost rows of the family, with the voltage line; 0.68 before the line) and
FlashAttention-2's split-KV kernel (``fa2_splitkv``; one and 64 real query rows
of its 64-row tile measured the same per KV byte, so its padded rows are not the cause).
Host gaps: the same campaign measured the board between launches (a tiny add or that GEMV, then the host
busy-waits 2 us .. 20 ms; CUDA-graph chains of tiny kernels): the power in the gaps is the idle power (the
least-squares line of the excess energy over the gap: +0.5 W after the add, +1.2 W after the GEMV; no positive
tail per gap beyond 0.1 mJ, the GEMV's is -2.5 mJ: it costs less after an idle gap; SM clock 1980 MHz
throughout) and a tiny kernel costs 4-8 uJ of dynamic energy, so static power over the gaps (below) is the
measured behaviour: no gap-power term is added.

Two regimes of the limit (:func:`burst_rates`): ``sustained`` (the 700 W limit, what runs of more than ~0.1 s
see: serving, training, whole-model steps, NVML windows; the default of the device rates) and ``burst`` (the
regime :func:`archsim.gpu.compare.compare` gives ``do_bench`` kernel timings: clock-sampled in
``regime-h200-2026-12-01.csv``, where NVML reads 1980 MHz in every burst window and compute-bound kernels run up to 19 %
slower after 1 s back to back). Burst: a kernel timed within ~0.07 s of an idle pause, as ``do_bench`` does:
the slow controller has not acted, and only the fast electrical limit ``burst_limit_w`` holds (it acts below
NVML's clock reading); measured from the same GEMMs timed by ``do_bench`` after 1.5 s idle and the
per-launch time of a back-to-back burst: boost clock for the first ~0.07 s, then the 700 W clock).
A third limit holds for a single launch inside a window whose average the slow controller keeps below the
board limit (a GEMM between glue kernels or host gaps: :func:`archsim.gpu.power_validation.at_window_limit`):
such a launch is short against the voltage regulator's response, so it runs at the window clock's voltage
(``voltage_held``: energy per op stays ``v(f_window)^2`` at any lower clock) and meets ``spike_limit_w``
(:data:`H200_SPIKE`, 914 W), fitted on the V/f campaign's duty windows (GEMMs between one-warp spins at a
1980 MHz NVML reading, drawing 935-1010 W at the board): with the voltage taken to follow the clock and the
``do_bench`` burst limit, their GEMM energy came out 0.95-1.30x the model's, held 0.87-1.12x. ``do_bench``'s
~50 ms of back-to-back launches keep the burst rule (the voltage follows the clock; its times fitted
``burst_limit_w``), which the kernel-time validation supports.

Assumptions and what is ignored: one voltage line for every part and kernel (fitted on bf16 GEMMs; the NVML median
clock stands for a window's clock, which understates swings); the other GPUs get the H200's line. Temperature
(leakage grows with it) is folded into the coefficients; the power manager's averaging window (tens of ms) is a
window clock per step in the energy path (:func:`archsim.gpu.power_validation.at_window_limit`), but a per-launch
limit in the kernel model alone and in the whole-model time path (:class:`archsim.gpu.wholemodel.KernelPricer`),
where a GEMM among glue kernels comes out capped and slow;
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
    #: energy of padded tile work relative to the same work on random operands (measured, see module docstring)
    padded_fraction: float = 1.0
    #: cp.async kernels: J per HBM byte (HBM + L2 + shared-memory fill); None: e_l2 + e_hbm as for load/store kernels
    tma_stream_j_per_byte: float | None = None
    #: cuBLAS's swap-AB GEMMs (m <= 64, staged): J per HBM byte, measured on its 8-wide TN (``F.linear``) kernel;
    #: None: e_l2 + e_hbm as for the other staged kernels
    gemm_stream_j_per_byte: float | None = None
    #: energy class (``LaunchSpec.energy_class``) -> measured factor on its compute parts (tensor-core, lane, SFU,
    #: padded work and shared-memory bytes; not the HBM/L2 stream): :data:`H200_SPLIT`
    class_compute_scale: dict[str, float] = field(default_factory=dict)
    #: fast electrical limit that holds before the slow controller acts (burst regime), and its delay
    burst_limit_w: float | None = None
    limit_delay_s: float | None = None
    #: the limit a single launch meets inside a window the slow controller holds below the board limit (a GEMM
    #: among glue kernels or between host gaps): such a launch is short against the voltage regulator's response,
    #: so it runs at the window's voltage (``voltage_held``) and may draw above ``burst_limit_w``, which holds
    #: over ``do_bench``'s ~50 ms of back-to-back launches (the voltage following the clock). :data:`H200_SPIKE`
    spike_limit_w: float | None = None
    #: voltage line: ``v(f) = 1 - vf_beta (1 - f / f_max)``; every dynamic energy is its boost-clock value times
    #: ``v(f)^2`` at the launch's clock (:meth:`vf_scale`). 0: clock-independent. :data:`H200_VF`
    vf_beta: float = 0.0
    #: the clock (a fraction of the maximum) the board's slow controller holds over a window of launches (a model
    #: step run back to back: :func:`archsim.gpu.power_validation.at_window_limit`); launches start there and only
    #: ``limit_w`` (in a window the spike limit) lowers them further. 1: the maximum clock
    clock_fraction: float = 1.0
    #: True: the launches run at ``clock_fraction``'s voltage whatever clock the limit holds them at (a launch
    #: inside a window: the limit slows its clock, the voltage follows only the slow controller), so energy per op
    #: stays ``v(clock_fraction)^2`` (:meth:`op_scale`). False: the voltage follows the clock (a sustained limit: the
    #: slow controller sets both)
    voltage_held: bool = False
    source: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def parts_j(self, totals: dict[str, float], mma_dtype: str = "bf16", staged: bool = False,
                async_copy: bool = False, padded_fill: str = "zero", weight_stream: bool = False,
                energy_class: str = "") -> dict[str, float]:
        """Dynamic energy of ``totals`` (a launch's counts, see :class:`archsim.gpu.model.LaunchResult`) by part.

        ``staged``: a ``wgmma`` kernel, whose operand staging (L2 re-reads, shared memory) is part of
        the per-FLOP energy (see :func:`charged_counts`); its HBM bytes cost ``e_l2 + e_hbm``, as the main fit
        charged its GEMMs. ``async_copy``: the kernel streams its operands
        from global into shared memory by ``cp.async`` (FlashAttention-2, cuDNN's sm80 kernels, Triton's
        pipelined loads), not through registers: its HBM bytes cost ``tma_stream_j_per_byte``, its L2-hit
        bytes ``e_l2``. The work on padded tile rows is taken out of its part and
        charged as ``compute:padded``: at ``padded_fraction`` of the full per-op energies where the rows hold
        zeros (``padded_fill == "zero"``), at the full energies where they hold stale shared memory
        (``"stale"``: FlashAttention-2 does not clear Q rows past ``seqlen_q``, and even a zero Q row gives a
        non-zero softmax row feeding the P.V MMA; measured: zero vs random stale content moved its decode
        energy by 2-3 %, ``power-h200-2026-12-01-stale-padded.csv``). ``weight_stream``: cuBLAS's swap-AB
        GEMM (m <= 64, a staged kernel streaming its weight): HBM bytes at ``gemm_stream_j_per_byte``.
        ``energy_class``: a kernel family whose compute parts were measured to cost a fixed share of the per-op
        charge (``class_compute_scale``; see :data:`H200_SPLIT`).
        """
        t = charged_counts(totals, staged)
        mat = self.matrix_j_per_flop.get(mma_dtype, self.matrix_j_per_flop.get("bf16", 0.0))
        parts = {"compute:mma": mat * (t["mma_flops"] - totals.get("padded_mma_flops", 0.0)),
                 "compute:vec": self.vec_j_per_lane_op * (t["vec_ops"] - totals.get("padded_vec_ops", 0.0)),
                 "compute:sfu": self.sfu_j_per_op * (t["sfu_ops"] - totals.get("padded_sfu_ops", 0.0)),
                 "memory:smem": self.smem_j_per_byte * (t["smem_bytes"]
                                                        - (0.0 if staged else totals.get("padded_smem_bytes", 0.0))),
                 "memory:l2": self.l2_j_per_byte * t["l2_bytes"], "memory:hbm": self.hbm_j_per_byte * t["hbm_bytes"]}
        # staged kernels pay e_l2 + e_hbm per HBM byte, as the main fit charged the GEMMs their per-FLOP energy was
        # fitted on, except cuBLAS's swap-AB weight stream (measured apart); cp.async kernels the TMA stream
        stream = self.gemm_stream_j_per_byte if staged and weight_stream and self.gemm_stream_j_per_byte is not None \
            else self.tma_stream_j_per_byte if async_copy else None
        if stream is not None:
            parts["memory:l2"] = self.l2_j_per_byte * max(0.0, t["l2_bytes"] - t["hbm_bytes"])
            parts["memory:hbm"] = stream * t["hbm_bytes"]
        share = self.padded_fraction if padded_fill == "zero" else 1.0
        parts["compute:padded"] = share * self.padded_j(totals, mma_dtype, staged)
        scale = self.class_compute_scale.get(energy_class, 1.0) if energy_class else 1.0
        if scale != 1.0:
            for k in parts:
                if is_sm_part(k):
                    parts[k] *= scale
        return parts

    def dynamic_j(self, totals: dict[str, float], mma_dtype: str = "bf16", staged: bool = False,
                  async_copy: bool = False, padded_fill: str = "zero", weight_stream: bool = False,
                  energy_class: str = "") -> float:
        return sum(self.parts_j(totals, mma_dtype, staged, async_copy, padded_fill, weight_stream,
                                energy_class).values())

    def padded_j(self, totals: dict[str, float], mma_dtype: str = "bf16", staged: bool = False) -> float:
        """Energy of the work on padded tile rows (``padded_*`` counts) at the full per-op energies
        (shared-memory bytes only where they are charged per byte: not ``staged``)."""
        mat = self.matrix_j_per_flop.get(mma_dtype, self.matrix_j_per_flop.get("bf16", 0.0))
        return (mat * totals.get("padded_mma_flops", 0.0) + self.vec_j_per_lane_op * totals.get("padded_vec_ops", 0.0)
                + self.sfu_j_per_op * totals.get("padded_sfu_ops", 0.0)
                + (0.0 if staged else self.smem_j_per_byte * totals.get("padded_smem_bytes", 0.0)))

    def vf_scale(self, clock_fraction: float) -> float:
        """``v(f)^2``: energy per op at ``clock_fraction`` of the maximum clock over its boost value."""
        v = 1.0 - self.vf_beta * (1.0 - min(1.0, max(0.0, clock_fraction)))
        return v * v

    def op_scale(self, clock_fraction: float) -> float:
        """Energy per op of a launch at ``clock_fraction`` over its boost value: :meth:`vf_scale` at that clock, or at
        the window's (the attribute ``clock_fraction``) where the voltage is held while the limit slows the clock."""
        return self.vf_scale(self.clock_fraction if self.voltage_held else clock_fraction)

    @property
    def headroom_w(self) -> float | None:
        """Dynamic power the limit leaves (None: no limit)."""
        return None if self.limit_w is None else max(1e-3, self.limit_w - self.static_w)

    def power_floor_s(self, dynamic_j: float) -> float:
        """Shortest time in which the board can spend ``dynamic_j`` under its limit."""
        head = self.headroom_w
        return 0.0 if head is None else dynamic_j / head


def is_sm_part(part: str) -> bool:
    """Whether an ``energy_by_part`` key is SM-domain work (compute parts, shared-memory bytes): what a kernel-class
    factor (``class_compute_scale``) multiplies."""
    return part.startswith("compute:") or part == "memory:smem"


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


#: Second-stage fit on the H200 (:func:`archsim.gpu.power_fit.fit_padded` on
#: ``archsim/data/measurements/h200/power-h200-2026-12-01-padded.csv`` + ``power-h200-response-2026-12-01-padded.csv``,
#: ``campaigns/power_padded.py``: NVIDIA H200, driver 580.159.04, torch 2.11.0+cu130, 2026-12-01; the main
#: coefficients held fixed). ``tests/gpu/test_gpu_power.py`` re-derives these numbers from the CSVs.
H200_PADDED = {"padded_fraction": 0.4799, "tma_stream_j_per_byte": 9.616e-11, "burst_limit_w": 810.6,
               "limit_delay_s": 0.0692}
#: Launch limit inside a window (:func:`archsim.gpu.power_fit.fit_spike` on the V/f campaign's duty windows,
#: ``power-h200-vf-2026-12-01.csv``, ``campaigns/power_vf.py``: NVIDIA H200, driver 580.159.04, torch 2.11.0+cu130,
#: 2026-12-01; the main and second-stage coefficients held fixed). ``tests/gpu/test_gpu_power.py`` re-derives it.
H200_SPIKE = {"spike_limit_w": 914.3}
#: Third-stage fit on the H200 (:func:`archsim.gpu.power_fit.fit_gaps` on ``power-h200-2026-12-01-gaps.csv``,
#: ``campaigns/power_gaps.py``: NVIDIA H200, driver 580.159.04, torch 2.11.0+cu130, 2026-12-01; the main and
#: second-stage coefficients held fixed). ``tests/gpu/test_gpu_power.py`` re-derives it from the CSV.
H200_GAPS = {"gemm_stream_j_per_byte": 1.2396e-10}
#: Fourth-stage fit on the H200 (:func:`archsim.gpu.power_fit_split.fit_split` on ``power-h200-2026-12-01-split.csv``,
#: ``campaigns/power_split.py``: NVIDIA H200, driver 580.159.04, torch 2.11.0+cu130, 2026-12-01; the earlier stages
#: held fixed): the share of the per-op charge that two kernel families' compute parts cost (see the module
#: docstring). ``tests/gpu/test_gpu_power.py`` re-derives it from the CSV.
H200_SPLIT = {"stream_wide": 0.7855, "fa2_splitkv": 0.7594, "stream8_tn": 1.0217e-10}
#: Voltage line of the H200 (:func:`archsim.gpu.energy_vf.beta_of` with the pooled spin control and
#: NVML median clocks, on ``power-h200-vf-2026-12-01.csv``, ``campaigns/power_vf.py``: the same bf16 cuBLAS GEMMs back
#: to back at the 700 W limit (1410-1890 MHz) and between one-warp spins at 1980 MHz, 1.15-1.39x the dynamic energy
#: per call at boost clock; NVIDIA H200, driver 580.159.04, torch 2.11.0+cu130, 2026-12-01; calibration rows only).
#: Fitted first: every later stage holds it fixed. ``tests/gpu/test_gpu_power.py`` re-derives it from the CSV.
H200_VF = {"vf_beta": 0.5185}
#: the 8-wide swap-AB weight stream (J/B) every model uses: the mean of the two boards' TN (``F.linear``) figures,
#: :data:`H200_GAPS` (124.2 pJ/B) and this campaign's m <= 8 TN rows (102.9; its NN rows 98.0)
H200_STREAM8_J_PER_BYTE = (H200_GAPS["gemm_stream_j_per_byte"] + H200_SPLIT["stream8_tn"]) / 2.0
#: the H200 preset's e_l2 + e_hbm (46.8 + 78.3 pJ/B, the main fit): other GPUs get the TMA stream as the same share
H200_STREAM_J_PER_BYTE = 46.8e-12 + 78.3e-12


def burst_rates(rates):
    """``rates`` (a :class:`archsim.gpu.calibration.DeviceRates`) in the burst regime: the board limit is the
    fast electrical one (``burst_limit_w``), as for a kernel timed within ``limit_delay_s`` of an idle pause
    (``triton.testing.do_bench``: warm-up 10 ms, repetitions 40 ms). Unchanged where no burst limit is known."""
    import dataclasses
    p = rates.power
    if p is None or p.burst_limit_w is None or p.limit_w is None:
        return rates
    return dataclasses.replace(rates, power=dataclasses.replace(p, limit_w=p.burst_limit_w))


def coefficients_for(device: DeviceBase) -> PowerCoefficients:
    """The power model of a GPU preset, read from its energy fields (each cites its source there).

    ``compute.vector_energy_j_per_flop`` is per FLOP of an FFMA; one FP32-pipe lane operation of the
    GPU model (an FFMA = 2 FLOPs, an FADD/FMUL) costs twice that. Levels named ``smem``, ``l2`` and the
    off-chip level give the per-byte energies (read and write taken alike: the model counts bytes
    moved, not their direction). The padded fraction, the cp.async and GEMM stream energies (as shares of the
    preset's ``e_l2 + e_hbm``) and the burst limit (as a share of the board limit) are :data:`H200_PADDED` and
    :data:`H200_GAPS` (measured on the H200; on other GPUs an assumption, named in ``notes``).
    """
    c, m = device.compute, device.memory
    off = next(iter(m.values()))
    matrix = {str(k): v for k, v in c.matrix_energy_j_per_flop.items()}
    l2 = m["l2"].read_energy_j_per_byte if "l2" in m else 0.0
    # the TMA / cp.async stream as the H200's measured share of its load/store-path stream energy (e_l2 + e_hbm)
    tma_share = H200_PADDED["tma_stream_j_per_byte"] / H200_STREAM_J_PER_BYTE
    gemm_share = H200_STREAM8_J_PER_BYTE / H200_STREAM_J_PER_BYTE
    return PowerCoefficients(
        static_w=device.static_power_w, limit_w=device.tdp_w, matrix_j_per_flop=matrix,
        vec_j_per_lane_op=2.0 * c.vector_energy_j_per_flop, sfu_j_per_op=c.sfu_energy_j_per_op,
        smem_j_per_byte=m["smem"].read_energy_j_per_byte if "smem" in m else 0.0,
        l2_j_per_byte=l2, hbm_j_per_byte=off.read_energy_j_per_byte, padded_fraction=H200_PADDED["padded_fraction"],
        tma_stream_j_per_byte=tma_share * (l2 + off.read_energy_j_per_byte),
        gemm_stream_j_per_byte=gemm_share * (l2 + off.read_energy_j_per_byte),
        burst_limit_w=None if device.tdp_w is None else device.tdp_w * H200_PADDED["burst_limit_w"] / 700.0,
        limit_delay_s=H200_PADDED["limit_delay_s"], source=f"preset {device.name}",
        spike_limit_w=None if device.tdp_w is None else device.tdp_w * H200_SPIKE["spike_limit_w"] / 700.0,
        class_compute_scale={k: H200_SPLIT[k] for k in ("stream_wide", "fa2_splitkv")}, vf_beta=H200_VF["vf_beta"],
        notes=() if device.name == "h200" else ("padded fraction, cp.async / GEMM stream energies, class scales, "
                                                "voltage line, burst and spike limits (as shares of the board "
                                                "limit), the burst delay: the H200's measurement (assumption)",))


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


def launches_dynamic_j(launches) -> float:
    """Dynamic joules of predicted launches (``LaunchResult.energy_by_part`` less its ``static`` part)."""
    return sum(v for ln in launches for k, v in ln.energy_by_part.items() if k != "static")


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
