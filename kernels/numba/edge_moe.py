"""Edge-MoE's fixed-point GELU and single-pass softmax, emulated bit by bit in numba.

Source: Sarkar et al., "Edge-MoE: Memory-Efficient Multi-Task Vision Transformer Architecture
with Task-level Sparsity via Mixture-of-Experts", ICCAD 2023 (arXiv 2305.18691), and its public
HLS (github.com/sharc-lab/Edge-MoE: ``src/gelu.cpp``, ``src/attention.cpp``,
``include/datatypes.hpp``), read for the arithmetic; no code copied.

Number format: feature maps are ``ap_fixed<32, 10>`` — 32-bit two's complement with 22
fractional bits (LSB ``2**-22``). ap_fixed's default quantisation truncates towards -inf
(``AP_TRN``); here every value is held as its raw int64 and every narrowing is a floor shift.

GELU: ``GELU(x) = ReLU(x) - delta(|x|)`` with ``delta(a) = a * Phi(-a)`` (even in x). ``delta``
is tabulated at ``a = i/32`` for ``i = 0..199`` in ``ap_ufixed<22, 0>`` and linearly
interpolated; for ``|x| >= 199/32`` the result is ReLU(x). Table entries here are the exact
``delta`` truncated to 22 fractional bits (the HLS table lists float values that this rule
reproduces within one LSB). The interpolation ``a + t*(b - a)`` is exact and then truncated
to 22 bits, then subtracted from ReLU(x).

Softmax (per row, one pass over the scores): keep a running bias (max) and sum. For a score
``x``: if ``x > bias``: ``sum = sum * exp(bias - x) + 1`` and ``bias = x``; else ``sum +=
exp(x - bias)``. The exponent argument is never positive. Then ``recip = 1/sum`` and each
probability is ``exp(x - bias) * recip``. The HLS calls ``hls::exp``/``hls::recip`` on
ap_fixed; here they are modelled as exact results truncated to 22 fractional bits — the HLS
math library's own approximation error (a few LSB) is not modelled. Initial bias is the most
negative fm_t, so the first score always takes the ``sum * exp(...) + 1`` branch with sum 0.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

FRAC_BITS = 22
ONE = 1 << FRAC_BITS
TABLE_STEP_LOG2 = 5  # step 1/32
TABLE_SIZE = 200
TABLE_MAX_RAW = (TABLE_SIZE - 1) << (FRAC_BITS - TABLE_STEP_LOG2)  # 199/32 in raw units
FM_MIN_RAW = -(1 << 31)  # most negative ap_fixed<32, 10>: -512


def _delta_table() -> np.ndarray:
    a = np.arange(TABLE_SIZE, dtype=np.float64) / (1 << TABLE_STEP_LOG2)
    phi_neg = 0.5 * np.array([math.erfc(x / math.sqrt(2.0)) for x in a])
    return np.floor(a * phi_neg * ONE).astype(np.int64)


GELU_DELTA_RAW = _delta_table()


def to_fixed(x: np.ndarray) -> np.ndarray:
    """float -> raw ap_fixed<32, 10> (truncate towards -inf, saturate to the 32-bit range)."""
    raw = np.floor(np.asarray(x, dtype=np.float64) * ONE)
    return np.clip(raw, -(2**31), 2**31 - 1).astype(np.int64)


def from_fixed(raw: np.ndarray) -> np.ndarray:
    """raw ap_fixed<32, 10> -> float64 (exact)."""
    return np.asarray(raw, dtype=np.float64) / ONE


@njit(cache=True)
def _gelu_raw(x_raw, table):  # pragma: no cover
    out = np.empty_like(x_raw)
    frac_mask = (1 << (FRAC_BITS - TABLE_STEP_LOG2)) - 1
    for i in range(x_raw.size):
        x = x_raw[i]
        relu = x if x > 0 else 0
        x_abs = -x if x < 0 else x
        if x_abs >= TABLE_MAX_RAW:
            out[i] = relu
            continue
        index = x_abs >> (FRAC_BITS - TABLE_STEP_LOG2)
        t = (x_abs & frac_mask) << TABLE_STEP_LOG2  # fraction of the step, 22 fractional bits
        a = table[index]
        b = table[index + 1]
        delta = (a * ONE + t * (b - a)) >> FRAC_BITS  # exact product, then floor to 22 bits
        out[i] = relu - delta
    return out


def gelu(x: np.ndarray) -> np.ndarray:
    """Edge-MoE GELU of float inputs (quantised to ap_fixed<32,10> first); returns float64."""
    raw = to_fixed(np.ravel(x))
    return from_fixed(_gelu_raw(raw, GELU_DELTA_RAW)).reshape(np.shape(x))


@njit(cache=True)
def _exp_fixed(arg_raw):  # pragma: no cover
    """exp of a raw fixed-point argument, truncated to 22 fractional bits."""
    return np.int64(math.floor(math.exp(arg_raw / ONE) * ONE))


@njit(cache=True)
def _softmax_raw(scores_raw):  # pragma: no cover
    rows, n = scores_raw.shape
    out = np.empty_like(scores_raw)
    for r in range(rows):
        total = np.int64(0)
        bias = np.int64(FM_MIN_RAW)
        for j in range(n):
            x = scores_raw[r, j]
            if x > bias:
                e = _exp_fixed(max(bias - x, FM_MIN_RAW))
                total = ((total * e) >> FRAC_BITS) + ONE
                bias = x
            else:
                total += _exp_fixed(x - bias)
        recip = (np.int64(1) << (2 * FRAC_BITS)) // total  # 1/sum, floored to 22 fractional bits
        for j in range(n):
            out[r, j] = (_exp_fixed(scores_raw[r, j] - bias) * recip) >> FRAC_BITS
    return out


def softmax(scores: np.ndarray) -> np.ndarray:
    """Edge-MoE single-pass softmax over the last axis of float scores; returns float64."""
    arr = np.asarray(scores, dtype=np.float64)
    raw = to_fixed(arr.reshape(-1, arr.shape[-1]))
    return from_fixed(_softmax_raw(raw)).reshape(arr.shape)


def gelu_exact(x: np.ndarray) -> np.ndarray:
    """Exact GELU, ``x * Phi(x)``, float64."""
    x = np.asarray(x, dtype=np.float64)
    return x * 0.5 * np.array([math.erfc(-v / math.sqrt(2.0)) for v in x.ravel()]).reshape(x.shape)


def softmax_exact(scores: np.ndarray) -> np.ndarray:
    """Exact softmax over the last axis, float64."""
    s = np.asarray(scores, dtype=np.float64)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def measured_error_bounds(*, seed: int | None = None, rows: int = 64, row_len: int = 197) -> dict:
    """Measure max errors vs exact math: GELU on a dense grid of [-8, 8] (step 2**-10) and in
    the table range; softmax on random ViT-sized rows (197 patches, scores ~ N(0, 2**2))."""
    x = np.arange(-8 * 1024, 8 * 1024 + 1) / 1024.0
    gelu_err = np.abs(gelu(x) - gelu_exact(x))
    rng = np.random.default_rng(seed)
    s = rng.normal(0.0, 2.0, size=(rows, row_len))
    p, p_exact = softmax(s), softmax_exact(s)
    return {"gelu_max_abs_error": float(gelu_err.max()),
            "gelu_max_abs_error_beyond_table": float(gelu_err[np.abs(x) >= (TABLE_SIZE - 1) / 32].max()),
            "softmax_max_abs_error": float(np.abs(p - p_exact).max()),
            "softmax_max_rel_error_of_largest": float((np.abs(p - p_exact) / p_exact)[p_exact > 1e-3].max()),
            "softmax_max_row_sum_error": float(np.abs(p.sum(axis=-1) - 1.0).max())}
