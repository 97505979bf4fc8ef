"""archsim.gpu.energy_vf: GEMM dynamic energy per call, duty (boost clock) against sustained (power-capped),
from the committed campaign CSV; the voltage-line beta fit; bad files."""

from __future__ import annotations

import csv
import math

import pytest

from archsim.data import measurement
from archsim.errors import ConfigError
from archsim.gpu import energy_vf as vf
from archsim.gpu.devices import device_calibration

CSV = measurement("h200", vf.VF_CSV)


@pytest.fixture(scope="module")
def rows():
    return vf.vf_rows()


def test_committed_csv_gives_finite_energies_for_every_shape_and_pass(rows):
    assert len(rows) == 22  # 11 shapes x passes a, b (nothing skipped in the committed run)
    assert {(r.m, r.n, r.k) for r in rows} >= {(8192, 8192, 8192), (16, 6144, 2048), (512, 11008, 4096)}
    for r in rows:
        for v in (r.e_sustained_j, r.e_duty_j, r.e_spin_j, r.e_duty_pooled_j, r.model_j, r.ratio,
                  r.f_sustained_mean_mhz, r.f_duty_mean_mhz):
            assert math.isfinite(v), r
        assert r.e_sustained_j > 0 and r.e_duty_j > 0 and r.model_j > 0


def _raw(m: int, pass_: str) -> dict[str, dict[str, str]]:
    with open(CSV, newline="") as fh:
        return {r["pattern"]: r for r in csv.DictReader(fh)
                if r["kind"] == "gemm_vf" and r["m"] == str(m) and r["n"] == str(m) and r["pass"] == pass_}


def test_one_row_matches_a_hand_computation(rows):
    raw = _raw(8192, "a")
    ps = device_calibration("h200").rates.power.static_w
    s, d, c = raw["sustained"], raw["duty"], raw["spin_control"]
    e_s = (float(s["energy_per_step_j"]) - ps * float(s["step_s"])) / float(s["gemm_calls"])
    spin = (float(c["energy_per_step_j"]) - ps * float(c["step_s"])) / float(c["launches"])
    e_d = (float(d["energy_per_step_j"]) - ps * float(d["step_s"])) / float(d["gemm_calls"]) - spin
    row = next(r for r in rows if (r.m, r.pass_) == (8192, "a"))
    assert row.e_sustained_j == pytest.approx(e_s, rel=1e-12)
    assert row.e_duty_j == pytest.approx(e_d, rel=1e-12)
    assert row.ratio == pytest.approx(e_d / e_s, rel=1e-12)
    assert row.f_sustained_mhz == float(s["sm_clock_mhz"]) and row.f_duty_mhz == float(d["sm_clock_mhz"])
    # one point with the duty clock at f_max: (1 / (1 - beta a_s))^2 = ratio, a_s = 1 - f_s / f_max
    assert row.f_duty_mhz == row.f_max_mhz
    fit = vf.fit_beta([(row.ratio, row.f_duty_mhz, row.f_sustained_mhz, row.f_max_mhz)])
    a_s = 1.0 - row.f_sustained_mhz / row.f_max_mhz
    assert fit.beta == pytest.approx((1.0 - 1.0 / math.sqrt(row.ratio)) / a_s, abs=1e-6)
    assert fit.residuals[0] == pytest.approx(0.0, abs=1e-9)


def test_beta_is_the_least_squares_minimum_and_residuals_are_measured_minus_modelled(rows):
    fit = vf.beta_of(rows)
    used = [r for r in rows if r.clocks_differ]
    assert len(fit.points) == len(used) and 0.0 < fit.beta < 0.95

    def sse(b):
        return sum((r.ratio - vf.v_ratio_sq(b, r.f_duty_mhz, r.f_sustained_mhz, r.f_max_mhz)) ** 2 for r in used)
    assert sse(fit.beta) < sse(fit.beta - 0.01) and sse(fit.beta) < sse(fit.beta + 0.01)
    for r, res in zip(used, fit.residuals, strict=True):
        assert res == pytest.approx(r.ratio - vf.v_ratio_sq(fit.beta, r.f_duty_mhz, r.f_sustained_mhz, r.f_max_mhz))


def test_model_energy_is_the_predictions_dynamic_parts(rows):
    from archsim.gpu.predict import predict_gemm
    cal = device_calibration("h200")
    p = predict_gemm("h200", m=4096, n=4096, k=4096, rates=cal.rates)
    want = sum(v for ln in p.launches for k, v in ln.energy_by_part.items() if k != "static")
    assert want < sum(ln.energy_j for ln in p.launches)  # the static part is left out
    got = [r.model_j for r in rows if r.m == 4096]
    assert len(got) == 2 and got == [pytest.approx(want, rel=1e-12)] * 2


def test_markdown_lists_every_row_and_the_fit(rows):
    text = vf.markdown()
    assert text.count("\n| ") == len(rows) + 1  # header + one line per row
    assert f"beta = {vf.beta_of(rows).beta:.3f}" in text


def test_missing_csv_is_a_config_error_naming_the_file(tmp_path, capsys):
    path = tmp_path / "power-h200-vf-absent.csv"
    with pytest.raises(ConfigError) as err:
        vf.vf_rows(path)
    assert str(path) in str(err.value)
    assert vf.main([str(path)]) == 2
    assert str(path) in capsys.readouterr().err


def _copy(tmp_path, edit) -> str:
    with open(CSV, newline="") as fh:
        reader = csv.DictReader(fh)
        fields, data = reader.fieldnames, list(reader)
    fields, data = edit(list(fields), data)
    path = tmp_path / "power-h200-vf-bad.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(data)
    return str(path)


def test_non_numeric_energy_names_file_line_and_key(tmp_path):
    def edit(fields, data):
        i = next(j for j, r in enumerate(data) if r["kind"] == "gemm_vf")
        data[i]["energy_per_step_j"] = "n/a"
        edit.line = i + 2
        return fields, data
    path = _copy(tmp_path, edit)
    with pytest.raises(ConfigError) as err:
        vf.vf_rows(path)
    p = err.value.problems[0]
    assert (p.file, p.line, p.key_path) == (path, edit.line, "energy_per_step_j")


def test_missing_column_or_pattern_is_a_config_error(tmp_path):
    path = _copy(tmp_path, lambda f, d: ([x for x in f if x != "step_s"], d))
    with pytest.raises(ConfigError, match="step_s") as err:
        vf.load(path)
    assert path in str(err.value)
    path = _copy(tmp_path, lambda f, d: (f, [r for r in d if not (r["pattern"] == "spin_control"
                                                                  and r["m"] == "2048")]))
    with pytest.raises(ConfigError, match="spin_control") as err:
        vf.load(path)
    assert path in str(err.value)
