"""Power regime per measurement and cuDNN's pipelined prefill (issue 16/22 follow-up)."""

from __future__ import annotations

import csv
import dataclasses

import pytest

from archsim.data import measurement
from archsim.errors import ConfigError
from archsim.gpu.calibration import rates_for
from archsim.gpu.compare import compare
from archsim.gpu.kernels import cudnn
from archsim.gpu.model import CtaWork, LaunchSpec, simulate_launch
from archsim.presets import load_hardware

RATES = dataclasses.replace(rates_for(load_hardware("h200")), power=None)  # no power limit: the schedule alone


def one_cta_per_sm(schedule: str, mma: float, sfu: float) -> float:
    spec = LaunchSpec(name="t", ctas=((132, CtaWork(mma_flops=mma, sfu_ops=sfu)),), threads_per_cta=1024,
                      regs_per_thread=64, smem_per_cta_bytes=0, schedule=schedule)
    return simulate_launch(spec, RATES).time_s


def test_pipelined_softmax_overlaps_only_the_second_gemm():
    per_sm = RATES.mma_fmax / RATES.sm_count
    g = 1e-3 * per_sm  # 1 ms of tensor-core work per CTA
    for s_ms in (0.2, 0.5, 0.8, 1.5):  # softmax shorter than, equal to, longer than one GEMM half
        s = s_ms * 1e-3 * RATES.sfu_fmax / RATES.sm_count
        over, piped, serial = (one_cta_per_sm(k, g, s) for k in ("overlap", "pipelined", "serial"))
        fixed = serial - (1e-3 + s_ms * 1e-3)
        assert piped - fixed == pytest.approx((0.5 + max(0.5, s_ms)) * 1e-3, rel=1e-6)
        assert over <= piped <= serial


def test_cudnn_prefill_is_the_pipelined_sm90_kernel_one_cta_per_sm():
    s = {"batch": 1, "heads": 32, "kv_heads": 32, "seq_q": 16384, "seq_kv": 16384, "head_dim": 64, "causal": False,
         "dtype": "bf16"}
    (spec,) = cudnn(s, sm_count=132)
    assert spec.schedule == "pipelined" and spec.mma_path == "wgmma"
    assert simulate_launch(spec, RATES).ctas_per_sm == 1


def test_cudnn_d64_cycles_per_tile_match_the_clock_sampled_run():
    """The sustained row of the regime campaign (clock known from NVML) against the model's cycles at that clock."""
    with open(measurement("h200", "regime-h200-2026-12-01.csv"), newline="") as fh:
        row = next(r for r in csv.DictReader(fh) if r["bench"] == "prefill_cudnn_b1_h32_s16384_d64"
                   and r["regime"] == "sustained")
    s = {"batch": 1, "heads": 32, "kv_heads": 32, "seq_q": 16384, "seq_kv": 16384, "head_dim": 64, "causal": False,
         "dtype": "bf16"}
    (spec,) = cudnn(s, sm_count=132)
    model_cycles = simulate_launch(spec, RATES).time_s * RATES.clock_hz
    measured_cycles = float(row["time_s"]) * float(row["sm_clock_mhz"]) * 1e6
    assert model_cycles == pytest.approx(measured_cycles, rel=0.10)
    overlap = simulate_launch(dataclasses.replace(spec, schedule="overlap"), RATES).time_s * RATES.clock_hz
    assert overlap < 0.8 * measured_cycles  # the old max(GEMM, softmax) schedule could not explain the run


def _csv(tmp_path, regimes):
    src = measurement("h100", "h100-validation-2026-11-23.csv")
    with open(src, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["ok"] == "1" and r["impl"] == "cudnn" and r["family"] == "prefill"]
    rows = rows[:len(regimes)]
    for r, reg in zip(rows, regimes, strict=True):
        r["regime"] = reg
    path = tmp_path / "v.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def test_each_row_is_compared_in_its_regime(tmp_path):
    rows, _ = compare(_csv(tmp_path, ["sustained", ""]), "h100-sxm")
    assert [r["regime"] for r in rows] == ["sustained", "burst"]  # no column value: do_bench -> burst
    forced, _ = compare(_csv(tmp_path, ["sustained", ""]), "h100-sxm", regime="sustained")
    assert {r["regime"] for r in forced} == {"sustained"}


def test_a_bad_regime_names_the_file_and_line(tmp_path):
    with pytest.raises(ConfigError, match=r"line 3: regime"):
        compare(_csv(tmp_path, ["burst", "boost"]), "h100-sxm")
