"""Bank-level PIM GEMV: functional execution vs numpy, the shared partition, and timing gates."""

from __future__ import annotations

import numpy as np
import pytest
from archsim.kernels.numba.pim_gemv import partition, pim_gemv

from archsim.pim import device, gemv


@pytest.fixture(scope="module")
def aim():
    return device.load("aim-gddr6")


@pytest.fixture(scope="module")
def hbm():
    return device.load("hbm2-pim")


@pytest.mark.parametrize("preset", ["aim-gddr6", "hbm2-pim"])
@pytest.mark.parametrize("m,n", [(300, 200), (257, 64), (70, 2500), (33, 1024)])
def test_functional_matches_numpy(preset, m, n):
    pim = device.load(preset)
    rng = np.random.default_rng(m * 7 + n)
    w = rng.standard_normal((m, n), dtype=np.float32)
    x = rng.standard_normal(n, dtype=np.float32)
    y, counts = gemv.execute(pim, w, x)
    wq, xq = gemv.round_to(pim.pim.pim_dtype, w), gemv.round_to(pim.pim.pim_dtype, x)
    ref = wq.astype(np.float64) @ xq.astype(np.float64)
    assert np.max(np.abs(y - ref)) <= 1e-5 * np.max(np.abs(ref)) * np.sqrt(n)
    # the timed stream issues exactly the rows and MACs the functional model executed (busiest unit 0)
    p = gemv.plan(pim, m, n)
    assert counts["dram_rows_opened"][0] == p.row_cols.size
    assert counts["mac_commands"][0] == p.row_cols.sum()
    # bf16/fp16 rounding really happens: the unrounded product differs
    assert not np.allclose(y, w.astype(np.float64) @ x, rtol=1e-7, atol=0)


def test_uses_the_shared_partition(aim):
    """Unpacked shapes are laid out exactly as kernels.numba.pim_gemv.partition says."""
    m, n = 100, 3000
    p = gemv.plan(aim, m, n)
    ref = partition(m, n, aim.pim.channels, aim.pim.units_per_channel, elem_bytes=2, dram_row_bytes=aim.unit_row_bytes)
    assert p.pack == 1 and np.array_equal(p.part.unit_of_row, ref.unit_of_row)
    rng = np.random.default_rng(1)
    w = gemv.round_to("bf16", rng.standard_normal((m, n), dtype=np.float32))
    x = gemv.round_to("bf16", rng.standard_normal(n, dtype=np.float32))
    y_ours, c_ours = gemv.execute(aim, w, x)
    y_theirs, c_theirs = pim_gemv(w, x, ref)
    np.testing.assert_allclose(y_ours, y_theirs, rtol=1e-4, atol=1e-3)
    assert np.array_equal(c_ours["dram_rows_opened"], c_theirs["dram_rows_opened"])


N_TIGHT = 528  # 33 columns: more than half a 2 KB row, so rows are not concatenated


def _first_row(t, gap, cols):
    """(ACTab, last MAC, PREab) cycles of the first row after the vector's 33 bursts."""
    act = (cols - 1) * t.nCCD_S + t.nCWL + t.nBL   # last WRGB burst lands in the global buffer
    last_mac = act + t.nRCD + (cols - 1) * max(gap, t.nCCD_L)  # MAC exactly tRCD after ACTab, then tCCD_L
    pre = max(last_mac + t.nRTP, act + t.nRAS)      # PREab: tRTP after the last MAC, tRAS after ACTab
    return act, last_mac, pre


def test_single_row_gemv_is_tight_on_every_gate(aim):
    t = aim.std.timing
    cols = N_TIGHT // aim.elems_per_column
    r = gemv.timed(aim, aim.units, N_TIGHT)  # one matrix row per unit
    act, last_mac, pre = _first_row(t, aim.mac_gap_cycles, cols)
    rd = max(pre + 1, last_mac + t.nCL + t.nBL + aim.mac_gap_cycles)
    assert r.cycles == rd + t.nCL + t.nBL
    assert r.counts == {"ACTab": 1, "MAC": cols, "WRGB": cols, "RDRES": 1, "REFab": 0, "pack": 1}


def test_second_row_waits_for_trp_and_trc(aim):
    t = aim.std.timing
    cols = N_TIGHT // aim.elems_per_column
    two = gemv.timed(aim, 2 * aim.units, N_TIGHT)
    act, _, pre1 = _first_row(t, aim.mac_gap_cycles, cols)
    act2 = max(pre1 + t.nRP, act + t.nRAS + t.nRP, act + t.nFAW)  # tRP after PREab, tRC, tFAW
    last2 = act2 + t.nRCD + (cols - 1) * max(aim.mac_gap_cycles, t.nCCD_L)
    pre2 = max(last2 + t.nRTP, act2 + t.nRAS)
    rd1 = max(pre2 + 1, last2 + t.nCL + t.nBL + aim.mac_gap_cycles)
    assert two.cycles == rd1 + t.nCCD_S + t.nCL + t.nBL  # two result bursts, tCCD_S apart (other bank groups)


@pytest.mark.parametrize("preset", ["aim-gddr6", "hbm2-pim"])
@pytest.mark.parametrize("m,n", [(4096, 4096), (1024, 64), (768, 3072)])
def test_rates_stay_under_peaks(preset, m, n):
    pim = device.load(preset)
    r = gemv.timed(pim, m, n)
    assert r.achieved_flops_per_s <= pim.streaming_flops_per_s <= pim.peak_flops_per_s * (1 + 1e-9)
    assert r.time_s >= gemv.gemv_flop_bound(pim, m, n)
    assert 0.0 <= r.row_activation_share < 1.0
    assert abs(sum(r.time_share.values()) - 1.0) < 1e-9


def test_concatenation_saves_activations(aim):
    """Short rows (attention keys) are concatenated: far fewer ACTab than one per key."""
    r = gemv.timed(aim, 16 * 1024, 64)
    keys_per_unit = 16 * 1024 // aim.units
    assert r.counts["pack"] == aim.unit_row_bytes // (64 * 2)
    assert r.counts["ACTab"] == -(-keys_per_unit // r.counts["pack"])
