"""Cycle and bit-exact numeric models of three fixed-function units, checked against RTL.

The FPGA and PIM models use these instead of guessing: each unit's ``cycles(...)`` is the
closed form that the Verilog in ``rtl/`` takes (cocotb measures it, ``tests/rtl`` compares),
and each ``*_raw`` function is the golden model the RTL equals bit for bit.

Units (all integer arithmetic on raw fixed-point words; a narrowing is a floor shift):

* :class:`EdgeSoftmaxUnit` — Edge-MoE's single-pass softmax (Sarkar et al., ICCAD 2023,
  arXiv 2305.18691; public HLS ``src/attention.cpp``) on ``ap_fixed<32, 10>`` scores
  (22 fractional bits), the same format and update rule as ``kernels/numba/edge_moe.py``.
  Running bias (max) and sum: for a score ``x`` above the bias ``sum = sum*exp(bias-x) + 1``,
  ``bias = x``; otherwise ``sum += exp(x - bias)``. Then ``recip = floor(2**44 / sum)`` and
  ``p = (exp(x - bias) * recip) >> 22``. The HLS uses ``hls::exp``; the RTL cannot, so the
  exponent here is a hardware approximation (:func:`exp_neg_raw`): ``exp(-d) = 2**(-d*log2 e)``,
  integer part a shift, fractional part a 65-entry table of ``2**(-k/64)`` with linear
  interpolation. Its error is below 1.6e-5 absolute (chord error of a convex function on
  1/64 segments plus three truncations); the numba version models ``exp`` as exact-then-
  truncated, and :func:`edge_softmax_raw` with ``exp_fn=exp_neg_exact_raw`` reproduces it.
* :class:`GeluUnit` — Edge-MoE's GELU (public HLS ``src/gelu.cpp``): ``ReLU(x) - delta(|x|)``,
  ``delta(a) = a*Phi(-a)`` tabulated at ``a = i/32`` (200 entries, 22 fractional bits,
  floor of the exact value) with linear interpolation, ReLU beyond ``199/32``. Bit-identical
  to ``kernels/numba/edge_moe.py``.
* :class:`PimBankMacUnit` — a PIM bank MAC: ``lanes`` signed integer multipliers fed by one
  DRAM burst (``lanes`` weights) per beat against a broadcast activation vector, lane
  accumulators over a whole DRAM row, an adder tree at the row end. Exact integer arithmetic.

What these ignore: clock frequency and routing (cycles only); DRAM timing (the PIM unit is
told the burst interval; the DRAM model decides it); overflow beyond the stated widths (the
RTL wraps, the model asserts in-range inputs instead).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

FRAC_BITS = 22  # ap_fixed<32, 10>: 22 fractional bits
ONE_RAW = 1 << FRAC_BITS
FM_MIN_RAW = -(1 << 31)  # most negative ap_fixed<32, 10> (-512.0): the softmax's initial bias

# ---- exponent approximation ---------------------------------------------------------------
LOG2E_FRAC_BITS = 24
LOG2E_RAW = round(math.log2(math.e) * (1 << LOG2E_FRAC_BITS))  # 24204406
EXP2_SEGMENTS_LOG2 = 6  # 64 segments on [0, 1)
EXP2_TABLE_RAW = tuple(round(ONE_RAW * 2.0 ** (-k / (1 << EXP2_SEGMENTS_LOG2)))
                       for k in range((1 << EXP2_SEGMENTS_LOG2) + 1))
EXP_ZERO_ARG_RAW = 32 << FRAC_BITS  # exp(-32) * 2**22 < 1e-7: arguments this large give 0
EXP_APPROX_MAX_ABS_ERROR = 1.6e-5  # bound on |exp_neg_raw(d)/2**22 - exp(-d/2**22)|, see module doc


def exp_neg_raw(d_raw: int) -> int:
    """``exp(-d)`` for ``d >= 0`` (22 fractional bits in and out), the RTL's approximation.

    ``t = (d * LOG2E_RAW) >> 24`` is ``d*log2(e)`` with 22 fractional bits; its integer part
    ``n`` becomes a right shift, its fraction ``f`` selects segment ``f >> 16`` of the
    ``2**(-k/64)`` table and interpolates linearly with the low 16 bits:
    ``m = P[k] - (((P[k] - P[k+1]) * (f & 0xFFFF)) >> 16)``; result ``m >> n``.
    """
    if d_raw < 0:
        raise ValueError(f"exp_neg_raw takes a non-negative argument, got {d_raw}")
    if d_raw >= EXP_ZERO_ARG_RAW:
        return 0
    t_raw = (d_raw * LOG2E_RAW) >> LOG2E_FRAC_BITS
    n = t_raw >> FRAC_BITS
    f = t_raw & (ONE_RAW - 1)
    seg_shift = FRAC_BITS - EXP2_SEGMENTS_LOG2
    k = f >> seg_shift
    r = f & ((1 << seg_shift) - 1)
    p_k, p_k1 = EXP2_TABLE_RAW[k], EXP2_TABLE_RAW[k + 1]
    m = p_k - (((p_k - p_k1) * r) >> seg_shift)
    return m >> n


def exp_neg_exact_raw(d_raw: int) -> int:
    """``floor(exp(-d) * 2**22)``: the exact-then-truncated exponent the numba model uses."""
    return math.floor(math.exp(-d_raw / ONE_RAW) * ONE_RAW)


def edge_softmax_raw(scores_raw: Sequence[int],
                     exp_fn: Callable[[int], int] = exp_neg_raw) -> list[int]:
    """Edge-MoE single-pass softmax of one row of raw ``ap_fixed<32,10>`` scores.

    Returns raw probabilities (22 fractional bits). ``exp_fn(d)`` gives ``exp(-d)`` raw;
    the default is the RTL's approximation, :func:`exp_neg_exact_raw` the numba model's.
    """
    if len(scores_raw) == 0:
        raise ValueError("softmax of an empty row")
    total, bias = 0, FM_MIN_RAW
    for x in scores_raw:
        if x > bias:
            total = ((total * exp_fn(x - bias)) >> FRAC_BITS) + ONE_RAW
            bias = x
        else:
            total += exp_fn(bias - x)
    recip = (1 << (2 * FRAC_BITS)) // total
    return [(exp_fn(bias - x) * recip) >> FRAC_BITS for x in scores_raw]


@dataclass(frozen=True, kw_only=True)
class EdgeSoftmaxUnit:
    """Cycle model of ``rtl/softmax/edge_softmax.v`` (one score per cycle in, one out).

    Phases, with no idle input cycles and no output back-pressure: load ``L`` scores while
    updating bias and sum (``L`` cycles), a restoring divider for ``1/sum`` producing one
    quotient bit per cycle (``recip_bits`` = 23 cycles: ``1/sum <= 1.0`` needs 23 bits at 22
    fractional bits), then ``L`` probabilities, one per cycle, from the stored scores.
    Cycles are counted from the first accepted score to the last probability, inclusive.
    """

    max_length: int = 64  # buffer depth of the RTL instance (scores per row)
    recip_bits: int = FRAC_BITS + 1

    def cycles(self, length: int) -> int:
        """Cycles for one row of ``length`` scores: ``2*length + recip_bits``."""
        if not 1 <= length <= self.max_length:
            raise ValueError(f"row length {length} outside 1..{self.max_length}")
        return 2 * length + self.recip_bits

    def softmax_raw(self, scores_raw: Sequence[int]) -> list[int]:
        return edge_softmax_raw(scores_raw)


# ---- GELU -----------------------------------------------------------------------------------
GELU_STEP_LOG2 = 5  # table step 1/32
GELU_TABLE_SIZE = 200
GELU_TABLE_MAX_RAW = (GELU_TABLE_SIZE - 1) << (FRAC_BITS - GELU_STEP_LOG2)


def _gelu_delta(a: float) -> float:
    return a * 0.5 * math.erfc(a / math.sqrt(2.0))


GELU_DELTA_TABLE_RAW = tuple(math.floor(_gelu_delta(i / (1 << GELU_STEP_LOG2)) * ONE_RAW)
                             for i in range(GELU_TABLE_SIZE))


def gelu_raw(x_raw: int) -> int:
    """Edge-MoE GELU of one raw ``ap_fixed<32,10>`` value (bit-identical to the numba model)."""
    relu = x_raw if x_raw > 0 else 0
    x_abs = -x_raw if x_raw < 0 else x_raw
    if x_abs >= GELU_TABLE_MAX_RAW:
        return relu
    shift = FRAC_BITS - GELU_STEP_LOG2
    index = x_abs >> shift
    t = x_abs & ((1 << shift) - 1)  # fraction of the step with 17 bits (numba: << 5 to 22 bits)
    a, b = GELU_DELTA_TABLE_RAW[index], GELU_DELTA_TABLE_RAW[index + 1]
    delta = ((a << shift) + t * (b - a)) >> shift
    return relu - delta


@dataclass(frozen=True, kw_only=True)
class GeluUnit:
    """Cycle model of ``rtl/gelu/gelu_unit.v``: one value per cycle, ``latency_cycles`` deep.

    Stage 1 registers the input, stage 2 the result (table read, interpolation, subtraction
    in between). ``n`` values take ``n + latency_cycles`` cycles, first input to last output.
    """

    latency_cycles: int = 2

    def cycles(self, n_values: int) -> int:
        if n_values < 1:
            raise ValueError(f"need at least one value, got {n_values}")
        return n_values + self.latency_cycles


# ---- PIM bank MAC ----------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class PimBankMacUnit:
    """Cycle and numeric model of ``rtl/pim/pim_bank_mac.v``.

    One DRAM burst of ``lanes`` signed ``data_bits`` weights per accepted beat, multiplied
    lane-wise with a broadcast activation vector and accumulated per lane across the row;
    at the row's last burst an adder tree sums the lanes. Pipeline: product register, lane
    accumulators, output register (``latency_cycles`` = 3 from the last burst to the result).
    With bursts every ``burst_interval_cycles`` (the DRAM's column-to-column delay, e.g.
    tCCD in controller cycles), a row of ``bursts`` takes
    ``(bursts - 1) * burst_interval_cycles + 1 + latency_cycles`` cycles, inclusive.
    """

    lanes: int = 16
    data_bits: int = 16
    latency_cycles: int = 3

    def cycles(self, bursts: int, burst_interval_cycles: int = 1) -> int:
        if bursts < 1 or burst_interval_cycles < 1:
            raise ValueError(f"need bursts >= 1 and burst_interval_cycles >= 1, got {bursts}, "
                             f"{burst_interval_cycles}")
        return (bursts - 1) * burst_interval_cycles + 1 + self.latency_cycles

    def row_dot_raw(self, weights: Sequence[Sequence[int]], activations: Sequence[Sequence[int]]) -> int:
        """Exact dot product of a row: ``weights[b][lane] * activations[b][lane]`` summed."""
        lo, hi = -(1 << (self.data_bits - 1)), (1 << (self.data_bits - 1)) - 1
        total = 0
        for w_burst, x_burst in zip(weights, activations, strict=True):
            if len(w_burst) != self.lanes or len(x_burst) != self.lanes:
                raise ValueError(f"each burst carries {self.lanes} lanes")
            for w, x in zip(w_burst, x_burst, strict=True):
                if not (lo <= w <= hi and lo <= x <= hi):
                    raise ValueError(f"operand outside signed {self.data_bits}-bit range")
                total += w * x
        return total
