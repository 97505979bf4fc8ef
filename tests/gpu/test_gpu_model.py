"""The launch model: occupancy, waves, shared bandwidth, the power-limited clock."""

from __future__ import annotations

import dataclasses

import pytest

from archsim.errors import PhysicalLimitError
from archsim.gpu.calibration import rates_for
from archsim.gpu.model import CtaWork, LaunchSpec, occupancy, simulate_launch
from archsim.presets import load_hardware

RATES = rates_for(load_hardware("h100-sxm"))


def spec(grid=132, threads=128, regs=64, smem=0.0, **work) -> LaunchSpec:
    return LaunchSpec(name="t", ctas=((grid, CtaWork(**work)),), threads_per_cta=threads, regs_per_thread=regs,
                      smem_per_cta_bytes=smem)


@pytest.mark.parametrize("threads,regs,smem,want,limiter", [
    (128, 255, 0, 2, "registers"),           # 128 x 256 regs = 32768 per CTA -> 2 of 65536
    (128, 168, 0, 3, "registers"),           # 168 rounds to 5376 per warp -> 21504 per CTA -> 3
    (128, 32, 81920, 2, "shared_memory"),    # (80 KiB + 1 KiB reserved) x 2 <= 228 KiB < x 3
    (1024, 32, 0, 2, "threads"),
    (32, 16, 0, 32, "cta_limit"),
])
def test_occupancy_limits(threads, regs, smem, want, limiter):
    assert occupancy(spec(threads=threads, regs=regs, smem=smem), RATES) == (want, limiter)


def test_a_cta_that_fits_nowhere_is_an_error():
    with pytest.raises(PhysicalLimitError, match="shared_memory"):
        occupancy(spec(smem=300 * 1024), RATES)


def test_wave_quantisation_one_cta_more_costs_a_wave():
    work = dict(vec_ops=1e8)  # compute-bound CTA, one per SM (1024 threads, 64 regs -> 1 per SM)
    full = simulate_launch(spec(grid=132, threads=1024, **work), RATES)
    extra = simulate_launch(spec(grid=133, threads=1024, **work), RATES)
    fixed = RATES.mem_fixed_s
    assert (extra.time_s - fixed) == pytest.approx(2 * (full.time_s - fixed), rel=1e-9)
    assert full.bound == "compute:vec" and full.waves == 1.0


def test_memory_bound_launch_runs_at_calibrated_bandwidth():
    total = 4 << 30
    grid = 132 * 64
    res = simulate_launch(spec(grid=grid, threads=256, regs=32, hbm_bytes=total / grid, l2_bytes=total / grid), RATES)
    assert res.bound == "memory:hbm"
    assert res.time_s == pytest.approx(RATES.mem_fixed_s + total / RATES.hbm_bw, rel=1e-6)


def test_few_ctas_are_limited_by_bytes_in_flight():
    one = spec(grid=1, threads=512, regs=32, hbm_bytes=128 << 20)
    one = dataclasses.replace(one, inflight_bytes_per_cta=32768)
    res = simulate_launch(one, RATES)
    assert res.bound == "latency"
    achieved = (128 << 20) / (res.time_s - RATES.mem_fixed_s)
    assert achieved == pytest.approx(32768 / RATES.cta_mem_latency_s, rel=0.01)  # the 1-CTA copy it came from


def test_full_tensor_load_throttles_to_the_board_power_limit():
    flops = 1e15
    grid = 132
    res = simulate_launch(spec(grid=grid, threads=384, regs=168, mma_flops=flops / grid), RATES)
    pw = RATES.power
    # the clock falls until the board draws its limit; energy per op follows the voltage line at that clock, so
    # the launch takes E_dyn(f) / (limit - static) with E_dyn(f) = E_dyn(boost) v(f)^2 and f = f_max T_full / T
    assert res.energy_j / res.time_s == pytest.approx(pw.limit_w, rel=0.01)
    assert res.bound == "power"
    full_clock_s = flops / RATES.mma_fmax
    assert res.clock_hz == pytest.approx(RATES.clock_hz * full_clock_s / res.time_s, rel=0.01)
    scale = pw.vf_scale(res.clock_hz / RATES.clock_hz)
    assert 0.5 < scale < 1.0
    assert res.time_s == pytest.approx(pw.matrix_j_per_flop["bf16"] * flops * scale / (pw.limit_w - pw.static_w),
                                       rel=0.01)


def test_serial_kernels_add_the_softmax_phase_overlap_kernels_hide_it():
    work = dict(mma_flops=2e9, sfu_ops=2e6, vec_ops=8e6)
    serial = simulate_launch(spec(grid=528, **work), RATES)
    overlap = simulate_launch(dataclasses.replace(spec(grid=528, **work), schedule="overlap"), RATES)
    assert overlap.time_s < serial.time_s
    parts = serial.busy_s
    assert parts["compute"] == pytest.approx(max(parts["mma"], parts["smem"]) + parts["sfu"] + parts["vec"])


def test_heterogeneous_ctas_are_list_scheduled():
    a, b = CtaWork(vec_ops=4e7), CtaWork(vec_ops=1e7)
    launch = LaunchSpec(name="t", ctas=((132, a), (132 * 4, b)), threads_per_cta=1024, regs_per_thread=64,
                        smem_per_cta_bytes=0)  # 1024 x 64 registers: one CTA per SM
    res = simulate_launch(launch, RATES, timeline=True)
    lat = RATES.cta_mem_latency_s
    c = simulate_launch(spec(grid=132, threads=1024, regs=64, vec_ops=4e7), RATES).time_s - RATES.mem_fixed_s - lat
    # each slot runs one long CTA then four short ones (a quarter of the work each), one latency per CTA
    assert res.time_s - RATES.mem_fixed_s == pytest.approx(2 * c + 5 * lat, rel=1e-9)
    assert res.timeline and res.timeline[0]["start_s"] == 0.0
