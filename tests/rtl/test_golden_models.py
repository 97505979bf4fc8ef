"""The RTL golden models (archsim.engine.fixed_units) against the numba kernels and exact math.

No HDL simulator needed. Checks: GELU bit-identical to kernels/numba/edge_moe.py; the softmax
with the numba model's exact-then-truncated exponent bit-identical to it (same update rule,
reciprocal and narrowing), and with the RTL's exponent approximation within the stated bound;
error bounds against float64 math; the Verilog ROM includes equal the Python tables.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from archsim.kernels.numba import edge_moe

from archsim.engine import fixed_units as fu

# Stated bounds (reports/rtl.md): measured maxima below, rounded up.
GELU_MAX_ABS_ERROR = 1.0e-4  # chord error near 0: (1/32)^2/8 * |delta''(0)| = 2^-13 * 0.80 = 9.8e-5
SOFTMAX_MAX_ABS_ERROR = 2.0e-5  # rows of 1..64 scores ~ N(0, 2^2)


def test_gelu_bit_identical_to_numba_kernel():
    rng = np.random.default_rng(0)
    x = np.concatenate([np.arange(-8 << 22, 8 << 22, 1021), rng.integers(-(2**31), 2**31, 5000),
                        np.array([-(2**31), 2**31 - 1, fu.GELU_TABLE_MAX_RAW, -fu.GELU_TABLE_MAX_RAW])])
    numba_out = edge_moe._gelu_raw(x.astype(np.int64), edge_moe.GELU_DELTA_RAW)
    assert list(edge_moe.GELU_DELTA_RAW) == list(fu.GELU_DELTA_TABLE_RAW)
    assert [fu.gelu_raw(int(v)) for v in x] == [int(v) for v in numba_out]


def test_gelu_error_bound_vs_exact():
    x_raw = np.arange(-10 << 22, 10 << 22, 997)
    got = np.array([fu.gelu_raw(int(v)) for v in x_raw]) / fu.ONE_RAW
    xf = x_raw / fu.ONE_RAW
    exact = xf * 0.5 * np.array([math.erfc(-v / math.sqrt(2.0)) for v in xf])
    assert np.abs(got - exact).max() <= GELU_MAX_ABS_ERROR


@pytest.mark.parametrize("length", [1, 7, 64, 197])
def test_softmax_structure_bit_identical_to_numba_kernel(length):
    rng = np.random.default_rng(length)
    scores = np.floor(rng.normal(0.0, 2.0, size=(8, length)) * fu.ONE_RAW).astype(np.int64)
    numba_out = edge_moe._softmax_raw(scores)
    for row, ref in zip(scores, numba_out, strict=True):
        assert fu.edge_softmax_raw([int(v) for v in row], fu.exp_neg_exact_raw) == [int(v) for v in ref]


def test_exp_approximation_error_bound():
    rng = np.random.default_rng(1)
    d = np.concatenate([np.arange(0, 1 << 22, 37), rng.integers(0, 40 << 22, 30000)])
    err = max(abs(fu.exp_neg_raw(int(v)) / fu.ONE_RAW - math.exp(-int(v) / fu.ONE_RAW)) for v in d)
    assert err <= fu.EXP_APPROX_MAX_ABS_ERROR
    assert fu.exp_neg_raw(0) == fu.ONE_RAW and fu.exp_neg_raw(fu.EXP_ZERO_ARG_RAW) == 0
    with pytest.raises(ValueError):
        fu.exp_neg_raw(-1)


def test_softmax_error_bound_vs_exact_and_vs_numba():
    rng = np.random.default_rng(2)
    worst_exact = worst_numba = 0.0
    for length in (1, 2, 13, 64):
        s = rng.normal(0.0, 2.0, size=(40, length))
        raw = np.floor(s * fu.ONE_RAW).astype(np.int64)
        numba_p = edge_moe._softmax_raw(raw) / fu.ONE_RAW
        for row, sf, pn in zip(raw, raw / fu.ONE_RAW, numba_p, strict=True):
            p = np.array(fu.edge_softmax_raw([int(v) for v in row])) / fu.ONE_RAW
            e = np.exp(sf - sf.max())
            worst_exact = max(worst_exact, float(np.abs(p - e / e.sum()).max()))
            worst_numba = max(worst_numba, float(np.abs(p - pn).max()))
    assert worst_exact <= SOFTMAX_MAX_ABS_ERROR
    assert worst_numba <= SOFTMAX_MAX_ABS_ERROR


def test_verilog_rom_includes_match_python_tables():
    from archsim.rtl.tables import generated_files

    for path, text in generated_files().items():
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale: run archsim.rtl.tables.write_generated()"


def test_cycle_models_reject_bad_arguments():
    with pytest.raises(ValueError):
        fu.EdgeSoftmaxUnit(max_length=16).cycles(17)
    with pytest.raises(ValueError):
        fu.GeluUnit().cycles(0)
    with pytest.raises(ValueError):
        fu.PimBankMacUnit().cycles(0)
    with pytest.raises(ValueError):
        fu.PimBankMacUnit(lanes=2).row_dot_raw([[1, 2]], [[1, 1 << 15]])
    assert fu.PimBankMacUnit().cycles(32, 4) == 31 * 4 + 4
