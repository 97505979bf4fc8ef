"""The GPU board power model: energy arithmetic, the power limit, the fit and its data, energy parity."""

from __future__ import annotations

import csv
import dataclasses
import math
import subprocess
import sys

import pytest

from archsim.data import measurement
from archsim.errors import ConfigError
from archsim.gpu.calibration import rates_for
from archsim.gpu.model import CtaWork, LaunchSpec, simulate_launch
from archsim.gpu.power import PowerCoefficients, charged_counts, coefficients_for, timeline_energy
from archsim.gpu.power_fit import COLUMNS, fit, read_power_csv
from archsim.presets import load_hardware

POWER_CSVS = [measurement("h200", "power-h200-2026-12-01.csv"), measurement("h200", "power-h200-2026-12-01-r2.csv")]

# round numbers: 100 W static, 500 W limit, 1 pJ/FLOP, 10 pJ per lane op, 2 pJ per ex2, 1/10/100 pJ per byte
ROUND = PowerCoefficients(static_w=100.0, limit_w=500.0, matrix_j_per_flop={"bf16": 1e-12, "fp32": 4e-12},
                          vec_j_per_lane_op=10e-12, sfu_j_per_op=2e-12, smem_j_per_byte=1e-12, l2_j_per_byte=10e-12,
                          hbm_j_per_byte=100e-12)
TOTALS = {"mma_flops": 1e12, "vec_ops": 1e9, "sfu_ops": 1e9, "smem_bytes": 1e9, "l2_bytes": 1e9, "hbm_bytes": 1e8}


def test_dynamic_energy_by_part_is_count_times_energy():
    parts = ROUND.parts_j(TOTALS)
    assert parts == pytest.approx({"compute:mma": 1.0, "compute:vec": 0.01, "compute:sfu": 0.002,
                                   "memory:smem": 0.001, "memory:l2": 0.01, "memory:hbm": 0.01, "compute:padded": 0.0})
    assert ROUND.parts_j(TOTALS, "fp32")["compute:mma"] == pytest.approx(4.0)
    assert ROUND.parts_j(TOTALS, "int8")["compute:mma"] == pytest.approx(1.0)  # unknown dtype: bf16's energy


def test_staged_kernels_pay_hbm_bytes_not_their_operand_staging():
    staged = charged_counts(TOTALS, staged=True)
    assert staged["smem_bytes"] == 0 and staged["l2_bytes"] == TOTALS["hbm_bytes"]
    assert ROUND.dynamic_j(TOTALS, staged=True) == pytest.approx(1.0 + 0.01 + 0.002 + 0.001 + 0.01)


def test_power_manager_headroom_floor_and_voltage_line():
    assert ROUND.headroom_w == 400.0
    assert ROUND.power_floor_s(4.0) == pytest.approx(0.01)
    assert ROUND.vf_scale(0.5) == 1.0  # vf_beta 0: energy per op independent of the clock
    line = dataclasses.replace(ROUND, vf_beta=0.5)
    assert line.vf_scale(1.0) == 1.0 and line.vf_scale(0.5) == pytest.approx(0.75 ** 2)
    assert dataclasses.replace(ROUND, limit_w=None).power_floor_s(4.0) == 0.0


def test_timeline_energy_charges_static_power_in_gaps():
    class R:
        time_s, energy_by_part = 0.001, {"compute:mma": 0.3, "static": 0.1}
    rep = timeline_energy([R(), R()], ROUND, gaps_s=0.008)
    assert rep.time_s == pytest.approx(0.010)
    assert rep.energy_j == pytest.approx(0.6 + 100.0 * 0.010)
    assert rep.avg_power_w == pytest.approx(160.0)


def _rates(power: PowerCoefficients):
    return dataclasses.replace(rates_for(load_hardware("h100-sxm")), power=power)


def _launch(**work) -> LaunchSpec:
    return LaunchSpec(name="t", ctas=((132, CtaWork(**{k: v / 132 for k, v in work.items()})),), threads_per_cta=384,
                      regs_per_thread=168, smem_per_cta_bytes=0)


def test_compute_bound_launch_runs_into_the_limit_and_energy_stays():
    rates = _rates(ROUND)
    flops = 1e15  # 1000 J of tensor-core work: 2.5 s at the 400 W headroom, 1.0 s at the full clock
    res = simulate_launch(_launch(mma_flops=flops), rates)
    assert res.bound == "power"
    assert res.time_s == pytest.approx(flops * 1e-12 / 400.0, rel=1e-3)
    assert res.energy_j == pytest.approx(1000.0 + 100.0 * res.time_s, rel=1e-6)
    assert res.energy_j / res.time_s == pytest.approx(500.0, rel=1e-3)
    free = simulate_launch(_launch(mma_flops=flops), _rates(dataclasses.replace(ROUND, limit_w=None)))
    assert free.clock_hz == rates.clock_hz and free.time_s < res.time_s
    assert free.energy_j - 100.0 * free.time_s == pytest.approx(1000.0, rel=1e-6)  # same dynamic energy


def test_memory_bound_launch_over_the_limit_is_held_to_it():
    hbm = 1e12  # 1 TB at ~3 TB/s: 0.33 s; at 310 pJ/B (HBM + L2) 310 J, 930 W over a 400 W headroom
    res = simulate_launch(dataclasses.replace(_launch(hbm_bytes=hbm, l2_bytes=hbm), mma_path="none"),
                          _rates(dataclasses.replace(ROUND, hbm_j_per_byte=300e-12)))
    assert res.time_s == pytest.approx(hbm * 310e-12 / 400.0, rel=1e-3)
    assert res.bound == "power"
    light = simulate_launch(  # 110 J in 0.33 s: 333 W, under the headroom
        dataclasses.replace(_launch(hbm_bytes=hbm, l2_bytes=hbm), mma_path="none"), _rates(ROUND))
    assert light.bound == "memory:hbm" and light.energy_j / light.time_s < 500.0


def test_padded_rows_draw_their_measured_share_and_count_in_the_clock():
    rates = _rates(dataclasses.replace(ROUND, padded_fraction=0.5))
    flops = 1e15  # 1000 J at 1 pJ/FLOP: 2.5 s at the 400 W headroom, 1.0 s at the full clock
    real = simulate_launch(_launch(mma_flops=flops), rates)
    # the same executed work, 63 of every 64 rows padded with zeros: 1000/64 J + 0.5 x 1000 x 63/64 J
    padded = simulate_launch(_launch(mma_flops=flops, padded_mma_flops=flops * 63 / 64), rates)
    parts = padded.energy_by_part
    assert parts["compute:mma"] == pytest.approx(1000.0 / 64, rel=1e-6)
    assert parts["compute:padded"] == pytest.approx(0.5 * 1000.0 * 63 / 64, rel=1e-6)
    assert real.bound == padded.bound == "power"  # 508 J still needs 1.27 s at the headroom
    assert padded.time_s == pytest.approx((1000.0 / 64 + 0.5 * 1000.0 * 63 / 64) / 400.0, rel=1e-3)
    # stale shared memory (FlashAttention-2's Q rows): the full energy of random operands, the time of real work
    stale = simulate_launch(dataclasses.replace(_launch(mma_flops=flops, padded_mma_flops=flops * 63 / 64),
                                                padded_fill="stale"), rates)
    assert stale.energy_by_part["compute:padded"] == pytest.approx(1000.0 * 63 / 64, rel=1e-6)
    assert stale.time_s == pytest.approx(real.time_s, rel=1e-6)


def test_padded_shared_memory_reads_count_only_where_shared_memory_is_charged():
    t = {"mma_flops": 0.0, "smem_bytes": 5e9, "padded_smem_bytes": 3e9}
    assert ROUND.padded_j(t) == pytest.approx(3e9 * 1e-12)
    assert ROUND.padded_j(t, staged=True) == 0.0  # wgmma: shared memory is in the per-FLOP energy
    half = dataclasses.replace(ROUND, padded_fraction=0.5)
    assert half.dynamic_j(t) == pytest.approx(2e9 * 1e-12 + 0.5 * 3e9 * 1e-12)


def test_async_copy_kernels_stream_hbm_at_the_tma_energy():
    c = dataclasses.replace(ROUND, tma_stream_j_per_byte=50e-12)
    t = {"mma_flops": 0.0, "l2_bytes": 3e9, "hbm_bytes": 1e9}
    lsu = c.parts_j(t)
    assert lsu["memory:l2"] == pytest.approx(0.03) and lsu["memory:hbm"] == pytest.approx(0.1)
    cp = c.parts_j(t, async_copy=True)  # HBM bytes at 50 pJ/B; the 2 GB of L2 hits at the L2 energy
    assert cp["memory:hbm"] == pytest.approx(0.05) and cp["memory:l2"] == pytest.approx(0.02)
    staged = c.parts_j(t, staged=True)  # wgmma: L2 re-reads are in the per-FLOP energy; HBM bytes at e_l2 + e_hbm
    assert staged["memory:hbm"] == pytest.approx(0.1) and staged["memory:l2"] == pytest.approx(0.01)


def test_burst_regime_raises_only_the_limit():
    from archsim.gpu.power import H200_PADDED, burst_rates
    rates = rates_for(load_hardware("h200"))
    burst = burst_rates(rates)
    assert burst.power.limit_w == pytest.approx(H200_PADDED["burst_limit_w"]) and rates.power.limit_w == 700.0
    assert dataclasses.replace(burst.power, limit_w=700.0) == rates.power
    none = dataclasses.replace(rates, power=dataclasses.replace(rates.power, burst_limit_w=None))
    assert burst_rates(none) is none


def test_a_launch_held_inside_a_window_keeps_the_windows_voltage():
    from archsim.gpu.devices import device_calibration
    from archsim.gpu.power import H200_SPIKE
    from archsim.gpu.power_validation import EnergyPricer
    from archsim.gpu.predict import predict_gemm
    cal = device_calibration("h200")
    rates = cal.rates
    window = EnergyPricer(cal).at_clock(1.0).cal.rates
    assert window.power.limit_w == pytest.approx(H200_SPIKE["spike_limit_w"]) and window.power.voltage_held
    assert window.power.clock_fraction == 1.0
    free = dataclasses.replace(rates, power=dataclasses.replace(rates.power, limit_w=None))

    def dyn(ln):
        return sum(v for k, v in ln.energy_by_part.items() if k != "static")
    w = predict_gemm("h200", m=8192, n=8192, k=8192, rates=window).launches[0]
    f = predict_gemm("h200", m=8192, n=8192, k=8192, rates=free).launches[0]
    s = predict_gemm("h200", m=8192, n=8192, k=8192, rates=rates).launches[0]
    assert w.clock_hz < 0.95 * rates.clock_hz  # the spike limit holds it below boost ...
    assert dyn(w) == pytest.approx(dyn(f), rel=1e-9)  # ... at the window's voltage: the same joules per op
    assert dyn(w) / w.time_s == pytest.approx(window.power.limit_w - window.power.static_w, rel=1e-3)
    assert window.power.op_scale(0.7) == 1.0 and rates.power.op_scale(0.7) == pytest.approx(rates.power.vf_scale(0.7))
    assert dyn(s) < 0.9 * dyn(f)  # the sustained limit lowers clock and voltage together
    assert s.time_s > w.time_s


def test_spike_limit_fit_reproduces_the_constant():
    from archsim.gpu.power import H200_PADDED, H200_SPIKE
    from archsim.gpu.power_fit import fit_spike
    power = rates_for(load_hardware("h200")).power
    got = fit_spike(power)
    assert got == pytest.approx(H200_SPIKE["spike_limit_w"], abs=0.1)
    assert H200_PADDED["burst_limit_w"] < got < 1000.0  # short launches draw above the do_bench burst


def test_second_stage_fit_reproduces_the_constants():
    from archsim.gpu.power import H200_PADDED
    from archsim.gpu.power_fit import PADDED_CSV, RESPONSE_CSV, fit_padded
    power = rates_for(load_hardware("h200")).power
    got = fit_padded(measurement("h200", PADDED_CSV), measurement("h200", RESPONSE_CSV), power)
    for k, v in H200_PADDED.items():
        assert got[k] == pytest.approx(v, rel=2e-3), k
    assert 0.3 < got["padded_fraction"] < 0.8 and 0.7e-10 < got["tma_stream_j_per_byte"] < 1.26e-10


def test_second_stage_fit_reads_calibration_rows_only(tmp_path):
    from archsim.gpu.power_fit import PADDED_CSV, RESPONSE_CSV, fit_padded
    rows = read_power_csv(measurement("h200", PADDED_CSV))
    for r in rows:
        if r["set"] == "validation" and r.get("energy_per_step_j"):
            r["energy_per_step_j"] = "1e9"
    path = tmp_path / "padded-doctored.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    power = rates_for(load_hardware("h200")).power
    resp = measurement("h200", RESPONSE_CSV)
    assert fit_padded(path, resp, power) == pytest.approx(fit_padded(measurement("h200", PADDED_CSV), resp, power))
    with pytest.raises(ConfigError, match="gemm_data"):
        fit_padded(POWER_CSVS[0], resp, power)


def test_h200_hbm_copy_stays_under_the_limit_as_measured():
    # copy_1024MiB in power-h200-2026-12-01.csv: 4.26 TB/s at 656 W, 1980 MHz, no throttle reason
    from archsim.gpu.devices import device_calibration
    from archsim.gpu.kernels import stream_kernel
    rates = device_calibration("h200").rates
    res = simulate_launch(stream_kernel("copy", (1 << 30) // 2, read_b=2.0, write_b=2.0), rates)
    assert res.bound == "memory:hbm" and res.clock_hz == rates.clock_hz
    assert 600.0 < res.energy_j / res.time_s < 700.0


def test_presets_carry_the_fit_and_say_where_it_comes_from():
    f = fit(POWER_CSVS)
    c = f.coefficients
    h200 = coefficients_for(load_hardware("h200"))
    want = {"static_w": h200.static_w, "mma_bf16": h200.matrix_j_per_flop["bf16"],
            "mma_fp16": h200.matrix_j_per_flop["fp16"], "mma_tf32": h200.matrix_j_per_flop["tf32"],
            "mma_fp32": h200.matrix_j_per_flop["fp32"], "vec": h200.vec_j_per_lane_op, "sfu": h200.sfu_j_per_op,
            "smem": h200.smem_j_per_byte, "l2": h200.l2_j_per_byte, "hbm": h200.hbm_j_per_byte}
    for k in COLUMNS:
        assert c[k] == pytest.approx(want[k], rel=0.01), k  # presets round the fit to 3 digits
    # the worst row: 2048^3 at ~1740 MHz, +15-16 % with the voltage line (the same line puts 8192^3 at -10..-12 %)
    assert f.rms_rel_residual < 0.07 and f.max_abs_rel_residual < 0.17
    text = {n: (load_hardware(n), open(f"archsim/presets/hardware/{n}.yaml").read()) for n in ("h200", "h100-sxm")}
    assert "measured: board power with a CUDA context" in text["h200"][1]
    assert text["h100-sxm"][1].count("assumption: carried over from the H200") >= 8
    h100 = coefficients_for(text["h100-sxm"][0])
    assert h100 == dataclasses.replace(h200, source="preset h100-sxm", notes=h100.notes)
    assert "assumption" in h100.notes[0] and not h200.notes


def test_fit_reads_calibration_rows_only(tmp_path):
    rows = read_power_csv(POWER_CSVS[1])
    for r in rows:
        if r["set"] == "validation":
            r["energy_per_step_j"] = "1e9"  # a validation row that leaked into the fit would wreck it
    path = tmp_path / "power-h200-doctored.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    assert fit([POWER_CSVS[0], path]).coefficients == pytest.approx(fit(POWER_CSVS).coefficients, rel=1e-9)


def test_bad_power_csv_names_the_file(tmp_path):
    bad = tmp_path / "not-power.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ConfigError, match="not-power.csv"):
        read_power_csv(bad)


def test_measurement_files_record_device_driver_versions_and_date():
    import json
    meta = json.loads(measurement("h200", "power-h200-meta-2026-12-01-r2.json").read_text())
    for key in ("device_name", "driver", "torch", "triton", "date_utc", "power_limit_w", "max_sm_clock_mhz"):
        assert meta[key], key
    assert meta["power_limit_w"] == load_hardware("h200").tdp_w


def test_energy_parity_on_the_committed_validation_rows():
    from archsim.gpu.devices import device_calibration
    from archsim.gpu.power_validation import summarise, validate_power_csv
    cal = device_calibration("h200")
    rows = validate_power_csv(POWER_CSVS[1], cal)
    assert {r["regime"] for r in rows} == {"compute", "memory", "host"}
    assert all(math.isfinite(r["energy_error"]) and r["modeled_power_w"] <= 700.0 + 1e-6 for r in rows)
    s = summarise(rows)
    assert s["long_windows"]["n"] == len(rows) and s["short_windows"]["n"] == 0


def test_compare_cli_prints_energy_parity():
    r = subprocess.run([sys.executable, "-m", "archsim", "compare", str(POWER_CSVS[1]), "--hw", "h200", "--rows",
                        "none"], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert "E MAPE" in r.stdout and "host-bound" in r.stdout


def test_report_reproduces_from_committed_data(tmp_path):
    from archsim.gpu.energy_report import reproduce
    paths = reproduce(tmp_path)
    assert [p.name for p in paths] == ["gpu-energy.md", "energy.json", "power-trace.svg"]
    text = paths[0].read_text()
    static = load_hardware("h200").static_power_w
    assert f"| static power | {static:.1f} | W |" in text and "energy MAPE" in text and "hbm2-pim" in text
    assert "## Later blind rounds" in text and "| stream | `3663e34` |" in text


def test_glue_run_checks_the_stream_energy_and_ranks_strided_kernels_higher():
    from archsim.gpu.power_fit import GLUE_CSV, fit_glue
    c = fit(POWER_CSVS).coefficients
    glue = fit_glue(measurement("h200", GLUE_CSV), c["static_w"])
    assert glue["vec"] == pytest.approx(c["l2"] + c["hbm"], rel=0.05)  # a contiguous add, never fitted
    assert glue["strided"] > 1.5 * glue["vec"] and glue["cat"] > glue["strided"]


def test_kernels_name_their_padded_rows():
    from archsim.gpu.kernels import fa2_decode, gemm_spec
    one_row = dict(batch=1, heads=8, kv_heads=8, seq_q=1, seq_kv=256, head_dim=128, causal=False, dtype="bf16")
    w = fa2_decode(one_row, "flash2", 132)[0].ctas[0][1]
    assert w.padded_mma_flops == pytest.approx(w.mma_flops * 63 / 64)  # one query row in a 64-row tile
    assert w.padded_smem_bytes == pytest.approx(w.smem_bytes * 3 / 5)  # 3 of 4 warps own no real row
    g = gemm_spec("g", 1, 128, 64, 2, bm=64, bn=128, bk=64, stages=4, threads=256, regs=128)[0].ctas[0][1]
    assert g.padded_mma_flops == pytest.approx(g.mma_flops * 63 / 64)
    assert fa2_decode(one_row, "flash2", 132)[0].padded_fill == "stale"  # FA2 does not clear Q rows
    full = gemm_spec("g", 128, 128, 64, 2, bm=64, bn=128, bk=64, stages=4, threads=256, regs=128)[0].ctas[0][1]
    assert full.padded_mma_flops == 0.0


def test_skinny_gemms_take_the_narrow_cublas_tiles_the_profiler_showed():
    from archsim.gpu.kernels import cublas_gemm
    rates = rates_for(load_hardware("h200"))
    for m, tile in ((1, "128x8"), (8, "128x8"), (16, "128x16"), (32, "128x32"), (64, "128x64")):
        ln = cublas_gemm(m, 16384, 8192, "bf16", rates)[0]
        assert ln.name.startswith(f"cublas_gemm_swapab_{tile}"), (m, ln.name)
        w = ln.ctas[0][1]
        assert w.padded_mma_flops == pytest.approx(w.mma_flops * (1 - m / int(tile.split("x")[1])))
    assert not cublas_gemm(128, 16384, 8192, "bf16", rates)[0].name.startswith("cublas_gemm_swapab")


def test_cudnn_decode_packs_gqa_heads_into_its_16_row_tile():
    from archsim.gpu.kernels import cudnn
    mha = dict(batch=64, heads=32, kv_heads=32, seq_q=1, seq_kv=4096, head_dim=128, causal=False, dtype="bf16")
    gqa = {**mha, "kv_heads": 8}
    a, g = cudnn(mha, sm_count=132), cudnn(gqa, sm_count=132)
    assert [x.name for x in a] == ["cudnn_decode_16x128"] and a[0].grid == 64 * 32
    w = g[0].ctas[0][1]
    assert g[0].grid == 64 * 8 and w.padded_mma_flops == pytest.approx(w.mma_flops * 12 / 16)
    assert a[0].total("hbm_bytes") == pytest.approx(4 * g[0].total("hbm_bytes"))
    small = cudnn({**mha, "batch": 1, "seq_kv": 65536}, sm_count=132)  # 32 CTAs: split, then the reduction
    assert [x.name for x in small] == ["cudnn_decode_16x128", "cudnn_lean_reduction"]


def test_padded_campaign_data_record_device_and_every_kernel_it_measured():
    import json
    meta = json.loads(measurement("h200", "power-h200-meta-2026-12-01-padded.json").read_text())
    assert meta["campaign"] == "campaigns/power_padded.py" and "H200" in meta["device_name"]
    for key in ("driver", "torch", "triton", "date_utc", "power_limit_w"):
        assert meta[key], key
    rows = read_power_csv(measurement("h200", "power-h200-2026-12-01-padded.csv"))
    measured = [r for r in rows if r.get("step_s")]
    assert all(float(r["wall_s"]) >= 2.0 for r in measured if r["bench"].startswith(("gemm", "sdpa", "llama")))
    assert {r["set"] for r in measured} == {"calibration", "validation"}


def test_energy_parity_on_the_padded_campaign():
    from archsim.gpu.devices import device_calibration
    from archsim.gpu.power_validation import summarise, validate_power_csv
    rows = validate_power_csv(measurement("h200", "power-h200-2026-12-01-padded.csv"), device_calibration("h200"))
    assert len(rows) >= 20 and all(math.isfinite(r["energy_error"]) for r in rows)
    assert summarise(rows)["long_windows"]["n"] == len(rows)


def test_stale_shared_memory_run_is_recorded_and_read():
    import json

    from archsim.gpu.energy_padded import STALE_CSV, _stale_table
    meta = json.loads(measurement("h200", "power-h200-meta-2026-12-01-stale-padded.json").read_text())
    assert meta["campaign"] == "campaigns/power_padded.py" and meta["driver"] and meta["torch"]
    lines, got = _stale_table(rates_for(load_hardware("h200")).power.static_w)
    assert len(lines) == 5 and len(got["ratio"]) == 2 and all(math.isfinite(x) for x in got["ratio"])
    assert {r["set"] for r in read_power_csv(measurement("h200", STALE_CSV)) if r.get("step_s")} == {"calibration"}


def test_voltage_line_constant_comes_from_the_vf_campaign():
    from archsim.gpu.energy_vf import beta_of, vf_rows
    from archsim.gpu.power import H200_VF
    assert beta_of(vf_rows(), pooled=True).beta == pytest.approx(H200_VF["vf_beta"], rel=2e-3)
    assert coefficients_for(load_hardware("h200")).vf_scale(1.0) == 1.0
    assert coefficients_for(load_hardware("h200")).vf_scale(1410 / 1980) == pytest.approx(0.724, abs=0.005)


def test_fit_weighs_each_rows_counts_by_the_voltage_line_at_its_clock():
    from archsim.gpu.power import H200_VF
    plain, line = fit(POWER_CSVS, vf_beta=0.0), fit(POWER_CSVS)
    assert fit(POWER_CSVS, vf_beta=H200_VF["vf_beta"]).coefficients == line.coefficients  # the model's line
    # the bf16 calibration GEMMs ran power-capped (1410-1740 MHz): at v(f)^2 < 1 their work counts for less, so the
    # boost-clock energy per FLOP comes out higher; the FP32 (FFMA) GEMMs and the copies ran at 1980 MHz: unchanged
    assert line.coefficients["mma_bf16"] > 1.1 * plain.coefficients["mma_bf16"]
    assert line.coefficients["mma_fp32"] == pytest.approx(plain.coefficients["mma_fp32"], rel=0.02)
    assert line.coefficients["hbm"] == pytest.approx(plain.coefficients["hbm"], rel=0.05)
    assert [r["bench"] for r in line.rows] == [r["bench"] for r in plain.rows]


def test_a_step_back_to_back_is_one_window_for_the_slow_controller():
    from archsim.gpu.devices import device_calibration
    from archsim.gpu.power_validation import EnergyPricer, predict_sequence
    from archsim.gpu.stacks import KernelItem
    cal = device_calibration("h200")
    pricer = EnergyPricer(cal)
    gemm = KernelItem(category="gemm", name="g", gemm=(4096, 4096, 4096, 1))
    glue = KernelItem(category="elementwise", name="add", glue=("vec", 2e8, 1e8))
    alone = predict_sequence([gemm], "none", cal, pricer, None, "prefill", 1)
    mixed = predict_sequence([gemm] + [glue] * 20, "none", cal, pricer, None, "prefill", 1)
    # the GEMM alone runs the board into its limit: the window clock falls, the average power is the limit
    assert alone["window_clock_fraction"] < 0.95
    assert alone["modeled_power_w"] == pytest.approx(cal.rates.power.limit_w, rel=0.01)
    # among cheap glue kernels the step's average fits the limit: one boost-clock window, so the same GEMM costs
    # more energy (the voltage line) and less time than when it is capped
    assert mixed["window_clock_fraction"] == 1.0 and mixed["modeled_power_w"] < cal.rates.power.limit_w
    g_boost, g_capped = pricer.at_clock(1.0)(gemm), pricer.at_clock(alone["window_clock_fraction"])(gemm)
    assert g_boost[1] > 1.05 * g_capped[1] and g_boost[0] < g_capped[0]
