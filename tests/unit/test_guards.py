"""Physical-limit guards: one out-of-bounds preset per hardware family, and results above peak.

Each spec case edits one shipped preset's YAML text (so the rest stays real) and expects the
loader to refuse it with the file, the line and the key path of the bad number; the result
cases hand the guard a result or prediction above its device's peak.
"""

from __future__ import annotations

import dataclasses
import glob
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from archsim import guards, physical_limits, presets
from archsim.errors import ConfigError, PhysicalLimitError

ROOT = Path(__file__).resolve().parents[2]


def _edited(tmp_path: Path, kind: str, name: str, pattern: str, value: str) -> Path:
    """The preset's YAML with the value after ``pattern`` (a regex ending at the value) set to ``value``."""
    text = presets.preset_path(kind, name).read_text()
    edited, n = re.subn(f"({pattern})[^#\\n]*", lambda m: m.group(1) + value + " ", text, count=1,
                        flags=re.MULTILINE)
    assert n == 1, f"{pattern!r} not in preset {name}"
    path = tmp_path / f"{name}-edited.yaml"
    path.write_text(edited)
    return path


def _problems(path: Path, kind: str) -> list:
    with pytest.raises(ConfigError) as info:
        presets.load(kind, str(path))
    return info.value.problems


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


# (kind, preset, where the value sits (regex), new value, key path expected, words in the message)
IN = r"(?:.*\n)*?\s+"  # any lines, then the indented key below
SPEC_CASES = [
    ("hardware", "h100-sxm", r"^\s+sm_count: ", "1000000", "gpu.sm_count", "SMs/CUs"),
    ("hardware", "h100-sxm", r"^clock_hz: ", "100 GHz", "clock_hz", "gpu clocks"),
    ("hardware", "h100-sxm", r"^clock_hz: ", "1.98", "clock_hz", "did you mean GHz"),
    ("hardware", "h100-sxm", r"^  l2:\n" + IN + "capacity_bytes: ", "120 GB", "memory.l2.capacity_bytes",
     "not less than the off-chip DRAM"),
    ("hardware", "h100-sxm", r"matrix_energy_j_per_flop:.*\n\s+bf16: ", "1 nJ",
     "compute.matrix_energy_j_per_flop.bf16", "draws 9.894e+05 W at peak"),
    ("hardware", "h100-sxm", r"matrix_energy_j_per_flop:.*\n\s+bf16: ", "0 pJ",
     "compute.matrix_energy_j_per_flop.bf16", "not a physical energy"),
    ("hardware", "h100-sxm", r"^  hbm:\n" + IN + "read_energy_j_per_byte: ", "0 pJ/bit",
     "memory.hbm.read_energy_j_per_byte", "every byte moved is free"),
    ("hardware", "h100-sxm", r"^\s+sfu_ops_per_s: ", "4180 TFLOP/s", "compute.sfu_ops_per_s", "can deliver"),
    ("hardware", "alveo-u280", r"^\s+dsp_slices: ", "1000000", "fpga.dsp_slices", "dsp_slices"),
    ("hardware", "alveo-u280", r"^clock_hz: ", "100 GHz", "clock_hz", "fpga clocks"),
    ("hardware", "aim-gddr6", r"^\s+lanes_per_unit: ", "1", "compute.matrix_flops_per_s.bf16",
     "channels x units x lanes"),
    ("hardware", "aim-gddr6", r"^\s+units_per_channel: ", "64", "pim.units_per_channel", "one unit per bank"),
    ("hardware", "fusemax-array", r"^\s+pe_rows: ", "100000", "accelerator.pe_rows", "PEs in one array"),
    ("hardware", "fusemax-array", r"^\s+pe_rows: ", "16", "compute.matrix_flops_per_s.fp16", "pe_rows x pe_cols"),
    ("hardware", "lamina-h100-h20", r"^links:\n" + IN + "bandwidth_bytes_per_s: ", "450 PB/s",
     "links[0].bandwidth_bytes_per_s", "one link's bandwidth"),
    ("hardware", "lamina-h100-h20", r"^  attention:\n" + IN + "count: ", "100000000", "devices.attention.count",
     "devices in one system entry"),
    # 16 channels x 2 pseudo-channels x 30.5 M bits / 8 x 6.4 Gb/s = 780 PB/s
    ("memory", "hbm3", r"^\s+bus_width_bits: ", "30500000", "organisation.bus_width_bits", "data bus bits"),
    ("memory", "hbm3", r"^\s+bus_width_bits: ", "30500000", "organisation.data_rate_transfers_per_s",
     "peak bandwidth of one memory device"),
    ("memory", "ddr4", r"^\s+read_j_per_byte: ", "0 pJ/B", "energy.read_j_per_byte", "not a physical energy"),
    ("memory", "ddr4", r"^\s+nRFC: ", "20000", "timing.nRFC", "never leave refresh"),
]


@pytest.mark.parametrize("kind,name,where,value,key,words", SPEC_CASES,
                         ids=[f"{c[1]}:{c[4]}={c[3]}" for c in SPEC_CASES])
def test_out_of_bounds_preset_is_refused_with_file_line_key(tmp_path, kind, name, where, value, key, words):
    path = _edited(tmp_path, kind, name, where, value)
    problems = _problems(path, kind)
    hits = [p for p in problems if p.key_path == key and words in p.message]
    assert hits, [str(p) for p in problems]
    assert hits[0].file == str(path)
    if "[" not in key:  # a key we edited sits on the line we edited; derived checks point at their own key
        assert hits[0].line is not None and hits[0].line > 0


def test_the_line_is_the_edited_line(tmp_path):
    path = _edited(tmp_path, "hardware", "h100-sxm", r"^\s+sm_count: ", "1000000")
    problem = next(p for p in _problems(path, "hardware") if p.key_path == "gpu.sm_count")
    assert problem.line == _line_of(path, "sm_count: 1000000")


def test_all_energies_zero_is_every_problem_at_once(tmp_path):
    data = yaml.safe_load(presets.preset_path("hardware", "h100-sxm").read_text())
    compute = data["compute"]
    compute["matrix_energy_j_per_flop"] = {k: 0 for k in compute["matrix_energy_j_per_flop"]}
    compute["vector_energy_j_per_flop"] = 0
    for level in data["memory"].values():
        level["read_energy_j_per_byte"] = 0
    path = tmp_path / "zero.yaml"
    path.write_text(yaml.safe_dump(data))
    keys = {p.key_path for p in _problems(path, "hardware")}
    assert {"compute.matrix_energy_j_per_flop.bf16", "compute.matrix_energy_j_per_flop.fp8", "compute",
            "memory.hbm.read_energy_j_per_byte"} <= keys


def test_validate_cli_exits_2_without_traceback(tmp_path):
    path = _edited(tmp_path, "hardware", "h100-sxm", r"^clock_hz: ", "100 GHz")
    out = subprocess.run([sys.executable, "-m", "archsim", "validate", str(path)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert f"{path}:{_line_of(path, 'clock_hz: 100 GHz')}: clock_hz: 1e+11 is beyond known silicon" in out.stderr


SHIPPED = sorted(glob.glob(str(ROOT / "archsim" / "presets" / "**" / "*.yaml"), recursive=True)
                 + glob.glob(str(ROOT / "workloads" / "**" / "*.yaml"), recursive=True))


def test_every_shipped_preset_and_workload_passes_the_guards():
    out = subprocess.run([sys.executable, "-m", "archsim", "validate", *SHIPPED], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("ok: ") == len(SHIPPED)


def test_every_shipped_device_is_inside_every_bound():
    for name in presets.preset_names("hardware"):
        hw = presets.load("hardware", name)
        problems = physical_limits.system_problems(hw) if hw.family == "system" else physical_limits.device_problems(hw)
        assert problems == [], name
    for name in presets.preset_names("memory"):
        assert physical_limits.memory_standard_problems(presets.load("memory", name)) == [], name


# --- result guards --------------------------------------------------------------------------------

def _result(hw_name: str = "h100-sxm"):
    from archsim.api import simulate

    wl = {"kind": "workload", "name": "g", "layers": [{"op": "gemm", "name": "g", "m": 4096, "n": 4096, "k": 4096}]}
    from archsim.schemas.workload import Workload

    return simulate(Workload.model_validate(wl), hw_name), presets.load_hardware(hw_name)


def test_a_real_result_passes_and_one_above_peak_is_refused():
    result, hw = _result()
    guards.check_result_within_peaks(result, hw)  # the model's own result is within peaks
    op = result.ops[0]
    fast = dataclasses.replace(op, time_s=op.matrix_flops / hw.compute.matrix_flops_per_s["bf16"] / 2)
    with pytest.raises(PhysicalLimitError, match=r"operator 'g' \(matrix\): achieved .* exceeds .* \(2x\)"):
        guards.check_result_within_peaks(dataclasses.replace(result, ops=[fast]), hw)


def test_bytes_above_a_level_bandwidth_are_refused():
    result, hw = _result()
    op = result.ops[0]
    heavy = dataclasses.replace(op, bytes_by_level={**op.bytes_by_level, "hbm": 10 * hw.offchip.bandwidth_bytes_per_s
                                                    * op.time_s})
    with pytest.raises(PhysicalLimitError, match="memory hbm"):
        guards.check_result_within_peaks(dataclasses.replace(result, ops=[heavy]), hw)


@pytest.mark.parametrize("field,value", [("time_s", math.inf), ("energy_j", math.nan), ("time_s", 0.0)])
def test_non_finite_or_zero_time_is_refused(field, value):
    result, hw = _result()
    bad = dataclasses.replace(result.ops[0], **{field: value})
    with pytest.raises(PhysicalLimitError, match="not a finite number|zero time"):
        guards.check_result_within_peaks(dataclasses.replace(result, ops=[bad]), hw)


def test_a_prediction_above_peak_is_refused():
    from archsim.gpu.predict import predict_gemm

    pred = predict_gemm("h100-sxm", m=4096, n=4096, k=4096)
    hw = presets.load_hardware("h100-sxm")
    guards.check_prediction_within_peaks(pred, hw, "bf16")
    with pytest.raises(PhysicalLimitError, match="gemm/cublas on h100-sxm: achieved"):
        guards.check_prediction_within_peaks(dataclasses.replace(pred, latency_s=pred.latency_s / 100), hw, "bf16")


def test_pim_dram_peak_counts_the_in_bank_rate():
    aim = presets.load_hardware("aim-gddr6")
    # 2 channels x 16 units x 16 lanes x 2 B x 1 GHz = 1.024 TB/s, above the 64 GB/s pins
    assert guards.level_peak(aim, "dram") == pytest.approx(1.024e12)
    h100 = presets.load_hardware("h100-sxm")
    assert guards.level_peak(h100, "hbm") == h100.offchip.bandwidth_bytes_per_s
