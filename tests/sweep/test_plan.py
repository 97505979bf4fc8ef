"""Expanding sweeps into points: axes, derive, constraints, invalid combinations, bad paths."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sweep_data import N_DROPPED, N_INVALID, N_POINTS, SMALL_SWEEP

from archsim.cli.commands.validate import validate_file
from archsim.errors import ConfigError
from archsim.sweep.plan import load_plan

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_small_sweep_counts_and_order(small_sweep):
    plan = load_plan(small_sweep)
    assert len(plan.points) == N_POINTS
    assert plan.count("dropped") == N_DROPPED and plan.count("invalid") == N_INVALID
    # last axis varies fastest: list axis (3), then bandwidth (2), then the zip (4)
    first = [p.inputs for p in plan.points[:4]]
    assert [i["backend"] for i in first[:3]] == ["roofline", "roofline", "fpga"]
    assert [i["hw.memory.hbm.bandwidth_bytes_per_s"] for i in first] == [2e12, 2e12, 2e12, 3.35e12]
    assert all(p.inputs["workload.layers[0].seq_q"] == p.inputs["workload.layers[0].seq_kv"] for p in plan.points)
    dropped = [p for p in plan.points if p.status == "dropped"]
    assert {p.inputs["workload.layers[0].seq_q"] for p in dropped} == {4096}
    assert all("short enough" in p.reason for p in dropped)
    invalid = [p for p in plan.points if p.status == "invalid"]
    assert all(p.inputs["workload.layers[0].kv_heads"] == 3 for p in invalid)
    assert all("kv_heads 3 does not divide heads 8" in p.reason for p in invalid)
    # the resolved config really has the values, in SI
    ok = next(p for p in plan.points if p.status == "run")
    assert ok.config["hardware"]["memory"]["hbm"]["bandwidth_bytes_per_s"] == 2e12
    assert ok.config["workload"]["layers"][0]["seq_q"] == 512


def test_plan_is_deterministic_and_hash_follows_config(small_sweep):
    a, b = load_plan(small_sweep), load_plan(small_sweep)
    assert a.fingerprint == b.fingerprint
    assert [p.config_hash for p in a.points] == [p.config_hash for p in b.points]
    run = [p for p in a.points if p.status == "run"]
    assert len({p.config_hash for p in run}) == len(run)


def test_human_units_resolve_to_si_and_hash_equal(tmp_path):
    text = SMALL_SWEEP.split("axes:")[0] + """axes:
  - list:
      - {hw.memory.hbm.bandwidth_bytes_per_s: 2 TB/s}
      - {hw.memory.hbm.bandwidth_bytes_per_s: 2.0e12}
"""
    plan = load_plan(write(tmp_path, text))
    assert [p.inputs["hw.memory.hbm.bandwidth_bytes_per_s"] for p in plan.points] == [2e12, 2e12]
    assert plan.points[0].config_hash == plan.points[1].config_hash


def test_random_axis_seeded(tmp_path):
    def plan_for(seed: int):
        text = SMALL_SWEEP.split("axes:")[0] + f"""axes:
  - random:
      samples: 50
      seed: {seed}
      params:
        hw.memory.hbm.bandwidth_bytes_per_s: {{low: 1.0e12, high: 8.0e12, log: true}}
        workload.layers[0].seq_q: {{low: 128, high: 8192, integer: true}}
        algorithm.attention: {{choices: [naive, flash]}}
"""
        return load_plan(write(tmp_path, text, f"r{seed}.yaml"))

    a, b, c = plan_for(7), plan_for(7), plan_for(8)
    vals = [p.inputs for p in a.points]
    assert vals == [p.inputs for p in b.points]
    assert vals != [p.inputs for p in c.points]
    bws = [v["hw.memory.hbm.bandwidth_bytes_per_s"] for v in vals]
    assert all(1e12 <= x <= 8e12 for x in bws) and len(set(bws)) == 50
    seqs = [v["workload.layers[0].seq_q"] for v in vals]
    assert all(isinstance(s, int) and 128 <= s <= 8192 for s in seqs)
    assert {v["algorithm.attention"] for v in vals} == {"naive", "flash"}


def test_derive_sets_values(tmp_path):
    text = SMALL_SWEEP.split("axes:")[0] + """axes:
  - grid:
      hw.clock_hz: [1.0e9, 2.0e9]
derive:
  hw.compute.matrix_flops_per_s.bf16: 500 * hw.clock_hz * 1000
"""
    plan = load_plan(write(tmp_path, text))
    assert [p.config["hardware"]["compute"]["matrix_flops_per_s"]["bf16"] for p in plan.points] == [5e14, 1e15]
    assert plan.input_columns == ["hw.clock_hz", "hw.compute.matrix_flops_per_s.bf16"]


def test_bad_paths_listed_with_line_and_valid_keys(tmp_path):
    text = SMALL_SWEEP.split("axes:")[0] + """axes:
  - grid:
      hw.memory.hbmx.bandwidth_bytes_per_s: [1.0e12]
      workload.layers[5].seq_q: [1]
"""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_plan(path)
    problems = info.value.problems
    assert len(problems) == 2  # all reported at once
    line = text.splitlines().index("      hw.memory.hbmx.bandwidth_bytes_per_s: [1.0e12]") + 1
    assert problems[0].file == str(path) and problems[0].line == line
    assert "no key 'hbmx'; valid keys: hbm, l2, smem" in problems[0].message
    assert "index [5] is out of range" in problems[1].message


def test_schema_errors(tmp_path):
    bad_expr = SMALL_SWEEP.replace("expr: workload.layers[0].seq_q <= 2048", "expr: __import__('os')")
    with pytest.raises(ConfigError, match="Call is not allowed|only key paths"):
        validate_file(write(tmp_path, bad_expr, "e.yaml"))
    bad_zip = SMALL_SWEEP.replace("seq_kv: [512, 1024, 2048, 4096]", "seq_kv: [512, 1024]")
    with pytest.raises(ConfigError, match="equal lengths"):
        validate_file(write(tmp_path, bad_zip, "z.yaml"))
    bad_axis = SMALL_SWEEP.replace("  - grid:\n", "  - grdi:\n")
    with pytest.raises(ConfigError, match="exactly one of: grid, zip, list, random"):
        validate_file(write(tmp_path, bad_axis, "a.yaml"))


def test_cli_bad_sweep_exit_2_no_traceback(tmp_path):
    text = SMALL_SWEEP.replace("hw.memory.hbm.bandwidth_bytes_per_s: [2.0e12, 3.35e12]",
                               "hw.memory.hbm.bw: [2.0e12, 3.35e12]")
    path = write(tmp_path, text)
    proc = subprocess.run([sys.executable, "-m", "archsim", "sweep", str(path), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    line = text.splitlines().index("      hw.memory.hbm.bw: [2.0e12, 3.35e12]") + 1
    assert f"{path}:{line}: axes[1].grid.hw.memory.hbm.bw" in proc.stderr
    assert "valid keys: kind, capacity_bytes" in proc.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("path", sorted((REPO / "workloads" / "sweeps").glob("*.yaml")), ids=lambda p: p.stem)
def test_example_sweeps_validate(path):
    assert validate_file(path) == "sweeps"
    plan = load_plan(path)
    assert plan.count("run") > 0


def test_example_sweeps_cover_every_family():
    families = set()
    for path in (REPO / "workloads" / "sweeps").glob("*.yaml"):
        plan = load_plan(path)
        families.add(next(p for p in plan.points if p.status == "run").config["hardware"]["family"])
    assert {"gpu", "fpga", "pim", "system", "accelerator"} <= families


def test_accelerator_derive_reproduces_the_preset_at_its_own_parameters():
    """The DSE's derive rules, evaluated at the preset's array and buffer, give the preset's numbers."""
    from archsim import presets

    preset = presets.load_hardware("fusemax-array")
    plan = load_plan(REPO / "workloads" / "sweeps" / "accelerator-attention-dse.yaml")
    point = next(p for p in plan.points if p.inputs["hw.accelerator.pe_rows"] == 256
                 and p.inputs["hw.memory.sram.capacity_bytes"] == preset.memory["sram"].capacity_bytes)
    hw = point.config["hardware"]
    assert hw["compute"]["matrix_flops_per_s"]["fp16"] == pytest.approx(preset.compute.matrix_flops_per_s["fp16"],
                                                                        rel=1e-3)
    assert hw["compute"]["vector_flops_per_s"]["fp16"] == pytest.approx(preset.compute.vector_flops_per_s["fp16"],
                                                                        rel=1e-3)
    assert hw["memory"]["sram"]["bandwidth_bytes_per_s"] == pytest.approx(
        preset.memory["sram"].bandwidth_bytes_per_s, rel=1e-3)
    assert hw["area_m2"] == pytest.approx(preset.area_m2, rel=1e-3)
    assert hw["static_power_w"] == pytest.approx(preset.static_power_w, rel=1e-3)
