"""The CLI as a user runs it: real subprocesses, exit codes, output folders."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BAD = ROOT / "tests" / "data" / "bad"


def archsim(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "archsim", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "COLUMNS": "200"}, timeout=120)


def test_help_lists_commands():
    out = archsim("--help")
    assert out.returncode == 0
    for cmd in ("run", "validate", "presets"):
        assert cmd in out.stdout


def test_run_defaults_writes_outputs(tmp_path):
    out = archsim("run", "--out", str(tmp_path / "o"))
    assert out.returncode == 0, out.stderr
    folder = tmp_path / "o"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["workload"] == "llama2-7b-serving" and summary["hardware"] == "h100-sxm"
    for key in ("latency_s", "energy_j", "flops", "bytes", "ops", "phases"):
        assert key in summary
    assert summary["latency_s"] > 0 and summary["energy_j"] > 0
    assert set(summary["bytes"]) == {"hbm", "l2", "smem"}
    assert {"prefill", "decode"} == set(summary["phases"])
    assert summary["latency_s"] == pytest.approx(sum(o["total_time_s"] for o in summary["ops"]))
    csv = (folder / "ops.csv").read_text().splitlines()
    assert len(csv) == len(summary["ops"]) + 1
    html = (folder / "report.html").read_text()
    assert "fig-roofline" in html and "fig-time" in html and "plotly" in html
    assert "Llama" not in out.stderr
    assert "total, operator model" in out.stdout and "80% interval" in out.stdout


def test_run_with_hw_and_workload_path(tmp_path):
    out = archsim("run", str(ROOT / "workloads" / "attention-naive-vs-flash.yaml"), "--hw", "a100-sxm", "--out",
                  str(tmp_path / "o"))
    assert out.returncode == 0, out.stderr
    ops = json.loads((tmp_path / "o" / "summary.json").read_text())["ops"]
    assert [o["kind"] for o in ops][:3] == ["attention_scores", "softmax", "attention_context"]


@pytest.mark.parametrize("name", sorted(p.name for p in BAD.glob("*.yaml")))
def test_bad_workload_exit_2_no_traceback_no_output(tmp_path, name):
    target = tmp_path / "out"
    out = archsim("run", str(BAD / name), "--out", str(target))
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    assert out.stderr.startswith("error: ")
    assert name in out.stderr
    assert not target.exists()
    assert not any(tmp_path.iterdir()), "no partial output"


def test_bad_hw_flag(tmp_path):
    out = archsim("run", "--hw", "h100-typo", "--out", str(tmp_path / "o"))
    assert out.returncode == 2 and "unknown hardware preset 'h100-typo'" in out.stderr
    assert "h100-sxm" in out.stderr and not (tmp_path / "o").exists()


def test_bad_hw_file_names_line(tmp_path):
    out = archsim("run", "--hw", str(BAD / "wrong_unit.yaml"), "--out", str(tmp_path / "o"))
    assert out.returncode == 2
    assert "wrong_unit.yaml:11: memory.hbm.bandwidth_bytes_per_s" in out.stderr


def test_unknown_flag_exit_2():
    out = archsim("run", "--frobnicate")
    assert out.returncode == 2 and "Traceback" not in out.stderr


def test_validate_all_shipped_yaml():
    files = sorted(str(p) for p in (ROOT / "workloads").rglob("*.yaml"))
    out = archsim("validate", *files)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("ok: ") == len(files)


def test_validate_reports_every_bad_file_at_once():
    files = sorted(str(p) for p in BAD.glob("*.yaml"))
    out = archsim("validate", *files)
    assert out.returncode == 2
    assert out.stderr.count("error: ") == len(files)


def test_presets_list_and_show():
    out = archsim("presets", "hardware")
    assert out.returncode == 0 and "h100-sxm" in out.stdout
    show = archsim("presets", "hardware", "h100-sxm")
    assert "3.35 TB/s" in show.stdout and "#" in show.stdout
    bad = archsim("presets", "gizmos")
    assert bad.returncode == 2 and "valid: hardware" in bad.stderr
