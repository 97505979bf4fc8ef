"""numba kernels: tiled CPU attention, Edge-MoE GELU/softmax emulation, PIM GEMV partitioning.

Fresh random inputs each run; outputs poisoned with NaN where the kernel writes into a given
buffer; counts measured inside the kernels must equal the analytic formulas.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from archsim.kernels.numba import attention, edge_moe, pim_gemv


def _reference_attention(q, k, v, left, right):
    torch = pytest.importorskip("torch")
    from archsim.kernels.triton.flash_attention import attention_reference

    t = [torch.from_numpy(a) for a in (q, k, v)]
    return attention_reference(*t, window_left=left, window_right=right).numpy()


@pytest.mark.parametrize("seq_q,seq_kv,left,right", [(100, 100, None, None), (70, 130, None, 0), (130, 70, None, 0),
                                                     (90, 90, 17, 5)])
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 2e-6)])
def test_tiled_attention_matches_reference_and_counts(seq_q, seq_kv, left, right, dtype, tol):
    rng = np.random.default_rng()
    q = rng.standard_normal((2, 4, seq_q, 64)).astype(dtype)
    k = rng.standard_normal((2, 2, seq_kv, 64)).astype(dtype)
    v = rng.standard_normal(k.shape).astype(dtype)
    out = np.full_like(q, np.nan)
    _, measured = attention.tiled_attention(q, k, v, window_left=left, window_right=right, out=out,
                                            block_m=32, block_n=48)
    ref = _reference_attention(q, k, v, left, right)
    assert np.isfinite(out).all()
    assert np.abs(out - ref).max() / np.abs(ref).max() <= tol
    assert measured == attention.counts(batch=2, heads=4, seq_q=seq_q, seq_kv=seq_kv, head_dim=64, window_left=left,
                                        window_right=right, block_m=32, block_n=48, itemsize=q.itemsize)


def test_edge_moe_gelu_is_bit_exact_at_table_knots():
    knots = np.arange(0, edge_moe.TABLE_SIZE - 1) / 32.0
    for sign in (1.0, -1.0):
        raw = edge_moe.to_fixed(sign * knots)
        got = edge_moe._gelu_raw(raw, edge_moe.GELU_DELTA_RAW)
        relu = np.maximum(raw, 0)
        assert np.array_equal(got, relu - edge_moe.GELU_DELTA_RAW[: knots.size])


def test_edge_moe_gelu_error_bound():
    """Linear interpolation of delta(a) = a*Phi(-a) at step h = 1/32 errs at most h^2/8 * max|delta''|,
    and max|delta''| = 2*phi(0) at a = 0: 9.74e-5. The emulation must show that error, not less
    (it is an approximation) and not more (plus 2 LSB of truncation)."""
    bound = (1 / 32) ** 2 / 8 * 2 / math.sqrt(2 * math.pi) + 2 * 2.0**-22
    x = np.random.default_rng().uniform(-8, 8, 20000)
    x = np.concatenate([x, np.arange(-512, 513) / 1024])  # dense near 0, where the error peaks
    err = np.abs(edge_moe.gelu(x) - edge_moe.gelu_exact(x))
    assert err.max() <= bound
    assert err.max() >= 0.9 * (1 / 32) ** 2 / 8 * 2 / math.sqrt(2 * math.pi)
    beyond = np.abs(x) >= 199 / 32
    assert np.all(edge_moe.gelu(x[beyond]) == np.floor(np.maximum(x[beyond], 0) * 2**22) / 2**22)


def test_edge_moe_softmax_single_pass_by_hand():
    """Scores [1, 0]: first score sets bias 1, sum 1; second adds exp(-1) truncated; p = exp(x-1)*recip."""
    one = 1 << 22
    e = math.floor(math.exp(-1.0) * one)
    total = one + e
    recip = (1 << 44) // total
    expected = np.array([[(one * recip) >> 22, (e * recip) >> 22]]) / one
    assert np.array_equal(edge_moe.softmax(np.array([[1.0, 0.0]])), expected)


def test_edge_moe_softmax_error_bounds():
    rng = np.random.default_rng()
    s = rng.normal(0.0, 2.0, size=(32, 197))
    p, exact = edge_moe.softmax(s), edge_moe.softmax_exact(s)
    assert np.isfinite(p).all()
    assert np.abs(p - exact).max() <= 2e-5
    assert np.abs(p.sum(axis=-1) - 1).max() <= 1e-4
    assert np.all(np.argmax(p, axis=-1) == np.argmax(exact, axis=-1))


def test_measured_error_bounds_reports_all_figures():
    bounds = edge_moe.measured_error_bounds(rows=8)
    assert set(bounds) >= {"gelu_max_abs_error", "softmax_max_abs_error", "softmax_max_row_sum_error"}
    assert 0 < bounds["gelu_max_abs_error"] < 1e-4


@pytest.mark.parametrize("m,n,channels,banks", [(1000, 1300, 4, 16), (7, 512, 2, 8), (4096, 2048, 16, 16)])
def test_pim_partition_covers_every_row_once_and_balances(m, n, channels, banks):
    part = pim_gemv.partition(m, n, channels, banks)
    units = channels * banks
    per_unit = part.rows_per_unit()
    assert per_unit.sum() == m and per_unit.max() - per_unit.min() <= 1
    # (unit, local row) pairs are unique, and local rows of a unit are 0..count-1
    pairs = set(zip(part.unit_of_row.tolist(), part.local_row.tolist(), strict=True))
    assert len(pairs) == m
    assert all(sorted(lr for u2, lr in pairs if u2 == u) == list(range(per_unit[u])) for u in range(min(units, 8)))
    ch, bank, dram_row, col = part.locate(m - 1, n - 1)
    assert 0 <= ch < channels and 0 <= bank < banks and 0 <= col < part.row_elems
    assert dram_row == part.local_row[m - 1] * part.chunks_per_row + part.chunks_per_row - 1


def test_pim_gemv_matches_reference_and_counts():
    rng = np.random.default_rng()
    part = pim_gemv.partition(1000, 1300, 4, 16, elem_bytes=4, dram_row_bytes=1024)
    w = rng.standard_normal((1000, 1300)).astype(np.float32)
    x = rng.standard_normal(1300).astype(np.float32)
    y = np.full(1000, np.nan, dtype=np.float32)
    _, measured = pim_gemv.pim_gemv(w, x, part, out=y)
    ref = w.astype(np.float64) @ x.astype(np.float64)
    assert np.isfinite(y).all()
    assert np.abs(y - ref).max() / np.abs(ref).max() <= 1e-5
    predicted = pim_gemv.counts(part)
    for key in ("macs", "dram_rows_opened", "bytes_read"):
        assert np.array_equal(measured[key], predicted[key]), key
    assert measured["macs"].sum() == 1000 * 1300


def test_pim_partition_rejects_bad_input():
    with pytest.raises(ValueError, match="channels must be >= 1"):
        pim_gemv.partition(10, 10, 0, 4)
    with pytest.raises(ValueError, match="multiple of elem_bytes"):
        pim_gemv.partition(10, 10, 1, 4, elem_bytes=3, dram_row_bytes=1024)


def test_numpy_reference_matches_torch_reference():
    rng = np.random.default_rng()
    q, k = rng.standard_normal((1, 4, 30, 16)), rng.standard_normal((1, 2, 50, 16))
    v = rng.standard_normal(k.shape)
    for left, right in ((None, None), (None, 0), (6, 2)):
        ours = attention.reference(q, k, v, window_left=left, window_right=right)
        assert np.allclose(ours, _reference_attention(q, k, v, left, right), rtol=1e-12, atol=1e-12)
