"""Host speed as an input (archsim.gpu.host_speed): the probe calibration, the factor, its use in the power path."""

import json
import math

import pytest

from archsim.data import measurement
from archsim.errors import ConfigError
from archsim.gpu import host_speed as hs


@pytest.fixture(scope="module")
def speed():
    return hs.h200_host_speed()


def test_calibration_fits_one_exponent_and_a_reference_per_path(speed):
    calls = hs._calls(measurement("h200", hs.PROBE_CSV))
    assert {p for p, _ in calls} == set(hs.PATHS)
    alpha, resid = hs.fit_exponent(calls)
    assert alpha == speed.alpha and 0.5 < alpha < 2.0  # host cost rises with the dispatch probe
    _, resid_py = hs.fit_exponent(calls, probe=1)
    assert resid < resid_py  # the add_ probe explains host cost better than the Python loop (the report says so)
    assert set(speed.ref_add_us) == set(hs.PATHS)
    probes = [a for v in calls.values() for a, _, _ in v]
    assert min(probes) < speed.fast_add_us < speed.point_add_us < speed.slow_add_us < max(probes)
    assert speed.point_add_us == pytest.approx(math.sqrt(speed.fast_add_us * speed.slow_add_us))


def test_reference_probe_makes_the_model_match_the_calibration_calls_on_average(speed):
    from archsim.gpu.devices import device_calibration
    cal = device_calibration("h200", "own")
    calls = hs._calls(measurement("h200", hs.PROBE_CSV))
    for path in hs.PATHS:
        logs = [math.log(hs.model_host_s(cal, path, layers) * speed.factor(path, a) / s)
                for (p, layers), v in calls.items() if p == path for a, _, s in v]
        assert abs(sum(logs) / len(logs)) < 1e-9  # scaled model vs measured: zero mean log error per path


def test_factor_is_one_at_the_reference_and_grows_with_the_probe(speed):
    ref = speed.ref_add_us["minillama-decode"]
    assert speed.factor("minillama-decode", ref) == pytest.approx(1.0)
    assert speed.factor("minillama-decode", 2 * ref) == pytest.approx(2 ** speed.alpha)
    assert speed.factor("minillama-decode") == speed.factor("minillama-decode", speed.point_add_us)


@pytest.mark.parametrize("path, add", [("nope", None), ("gemm-sync", 0.0), ("gemm-sync", -3.0)])
def test_bad_host_speed_input_names_the_key(speed, path, add):
    with pytest.raises(ConfigError) as e:
        speed.factor(path, add)
    assert e.value.problems[0].key_path in ("host_path", "host_add_us")


def _row(mode: str, add: str | None) -> dict:
    r = {"kind": "model", "model": "t", "hidden": "2048", "heads": "16", "ffn": "5632", "layers": "8",
         "phase": "decode", "batch": "1", "seq_q": "1", "seq_kv": "512", "mode": mode}
    return r if add is None else {**r, "host_add_us": add}


def test_a_row_host_probe_moves_a_host_bound_step_and_not_a_graph_replay_of_gpu_work():
    from archsim.gpu.devices import device_calibration
    from archsim.gpu.power_validation import EnergyPricer, predict_row
    cal = device_calibration("h200")
    pricer = EnergyPricer(cal)
    fast, slow = (predict_row(_row("eager", a), cal, pricer)[0] for a in ("7", "14"))
    assert slow["modeled_wall_s"] > 1.5 * fast["modeled_wall_s"]  # eager batch-1 decode: host-bound
    assert slow["modeled_power_w"] < fast["modeled_power_w"]  # same work over a longer step: lower power
    assert slow["modeled_dynamic_j"] == pytest.approx(fast["modeled_dynamic_j"], rel=0.05)
    g7, g14 = (predict_row(_row("graph", a), cal, pricer)[0] for a in ("7", "14"))
    assert g14["modeled_wall_s"] == pytest.approx(g7["modeled_wall_s"], rel=0.02)  # replays back to back: GPU
    assert predict_row(_row("eager", None), cal, pricer)[0]["modeled_wall_s"] == pytest.approx(
        predict_row(_row("eager", f"{hs.h200_host_speed().point_add_us!r}"), cal, pricer)[0]["modeled_wall_s"])


def test_probe_round_committed_grid_is_read_at_the_windows_probe():
    from archsim.gpu import energy_host_blind as eb
    from archsim.gpu.devices import device_calibration
    _, predictions, _ = eb.ROUNDS["probe"]
    doc = eb.committed(predictions)
    assert sorted(float(a) for a in doc["predictions_at_probe"]) == list(eb.PROBE_GRID)
    rows = eb.compare(device_calibration("h200"), round_name="probe")
    grid = {float(a): {p["bench"]: p for p in v} for a, v in doc["predictions_at_probe"].items()}
    r = rows[0]
    at = grid[7.0][r["bench"]]
    got = eb._grid_errors(grid, r, {"add_before_us": "7.0"})  # on a grid probe: exactly that committed figure
    assert got["blind_probe_energy_error"] == pytest.approx(
        (at["modeled_energy_j"] - r["measured_energy_j"]) / r["measured_energy_j"])
    lo = eb._grid_errors(grid, r, {"add_before_us": "1.0"})  # below the grid: clamped to its first probe
    assert lo == eb._grid_errors(grid, r, {"add_before_us": "6.0"})
    assert all("blind_probe_power_error" in x and "probe_power_error" in x for x in rows)


def test_probe_calibration_meta_names_device_driver_versions_and_date():
    meta = json.loads(measurement("h200", "h200-host-probe-meta-2026-12-02.json").read_text())
    for k in ("device_name", "driver", "torch", "transformers", "date_utc", "command", "rounds"):
        assert meta[k]


POWER_CSV = "power-h200-energy-blind-probe-r2-2026-12-02.csv"


@pytest.mark.parametrize("bad", ["fast", "-3", "nan", "0", "1e9"])
def test_compare_refuses_a_bad_host_probe_with_exit_2_and_the_flag_named(tmp_path, bad):
    from tests.cli_runner import run_archsim
    r = run_archsim("compare", measurement("h200", POWER_CSV), "--hw", "h200", "--host-probe", bad, cwd=tmp_path)
    assert r.returncode == 2 and "--host-probe" in r.stderr and "Traceback" not in r.stderr
    assert not list(tmp_path.iterdir())  # nothing written


def test_compare_takes_a_host_probe_for_power_csvs_only(tmp_path):
    from tests.cli_runner import run_archsim
    csv = measurement("h200", POWER_CSV)
    outs = {}
    for probe in ("point", "row", "8"):
        r = run_archsim("compare", csv, "--hw", "h200", "--rows", "none", "--host-probe", probe, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        outs[probe] = next(ln for ln in r.stdout.splitlines() if ln.startswith("host-bound >= 1 s"))
    assert len(set(outs.values())) == 3  # the probe moves the host-bound rows' figures
    whole = measurement("h200", "h200-wm-whole-2026-12-01.csv")
    r = run_archsim("compare", whole, "--hw", "h200", "--rows", "none", "--host-probe", "9", cwd=tmp_path)
    assert r.returncode == 2 and "--host-probe" in r.stderr and "h200-wm-whole" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_run_without_probes_takes_its_own_calibration_row_as_its_host_speed():
    from archsim.gpu.power_fit import read_power_csv
    ratios = hs.own_row_ratios()
    assert set(ratios) == {*hs.OWN_ROWS.values(), hs.WM_HOST_ROW[1]} and all(0.5 < v < 3.0 for v in ratios.values())
    rows = read_power_csv(measurement("h200", "power-h200-2026-12-01-gaps.csv"))
    probe, bench = hs.run_probe_us(rows)
    step = next(float(r["step_s"]) for r in rows if r["bench"] == "gap_add4k_0us")
    assert bench == "gap_add4k_0us" and probe == pytest.approx(step * 1e6 / ratios["loop-add4k"])
    assert hs.run_probe_us([r for r in rows if r["set"] == "validation"]) is None  # never from a validation row


def test_validation_at_the_run_host_speed_prices_each_row_at_that_probe():
    from archsim.gpu.devices import device_calibration
    from archsim.gpu.power_validation import validate_power_csv
    cal = device_calibration("h200")
    path = measurement("h200", "power-h200-2026-12-01-gaps.csv")
    point = {r["bench"]: r for r in validate_power_csv(path, cal)}
    own = {r["bench"]: r for r in validate_power_csv(path, cal, host_probe=True)}
    from archsim.gpu.power_fit import read_power_csv
    probe, _ = hs.run_probe_us(read_power_csv(path))
    fixed = {r["bench"]: r for r in validate_power_csv(path, cal, host_probe=probe)}
    eager = [b for b in own if b.endswith("_eager") and "decode" in b]
    assert eager
    for b in eager:
        assert own[b]["modeled_wall_s"] == pytest.approx(fixed[b]["modeled_wall_s"])
        assert own[b]["modeled_wall_s"] < point[b]["modeled_wall_s"]  # this run's host was faster than the point


ENERGY_SET = "h200-wm-energy-r2-whole-2026-12-02.csv"


def test_whole_model_host_factor_is_one_at_the_whole_model_runs_own_probe():
    from archsim.gpu.devices import device_calibration
    cal = device_calibration("h200")
    ref = cal.host.per_kernel["add_inplace"] * 1e6 / hs.own_row_ratios()["wm-add-inplace"]
    assert hs.whole_model_host_factor(cal, ref) == pytest.approx(1.0)
    assert hs.whole_model_host_factor(cal, 2 * ref) == pytest.approx(2 ** hs.h200_host_speed().alpha)


def test_whole_model_energy_lowers_each_step_as_launched_and_takes_the_window_probe():
    from archsim.gpu.devices import device_calibration
    from archsim.gpu.power_validation import validate_whole
    from archsim.gpu.wholemodel import _read
    cal = device_calibration("h200")
    path = measurement("h200", ENERGY_SET)
    point = {r["bench"].split()[0]: r for r in validate_whole(path, cal)}
    given = {r["bench"].split()[0]: r for r in validate_whole(path, cal, host_probe=True)}
    measured = {r["run_id"]: r for r in _read(path, ("run_id", "kernel_sum_s", "add_before_us"))}
    # HF Llama-3-8B (GQA) decode under a CUDA graph: repeat_kv copies K/V per query head (most of the step)
    g = point["r023g"]
    assert g["modeled_gpu_s"] == pytest.approx(float(measured["r023g"]["kernel_sum_s"]), rel=0.3)
    eager = [k for k in given if not k.endswith("g") and "decode" in given[k]["bench"]]
    assert eager and all(measured[k]["add_before_us"] for k in eager)
    moved = [k for k in eager if given[k]["modeled_wall_s"] != pytest.approx(point[k]["modeled_wall_s"], rel=1e-6)]
    assert len(moved) == len(eager)  # every eager decode step's host follows its own window's probe
