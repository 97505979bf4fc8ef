"""The wheel as a new user installs it: built, installed (not editable) in a fresh venv, run elsewhere.

Checks that the wheel adds exactly one top-level import name (``archsim``), ships every data file
the code reads (presets, measurements, RTL resources and includes, PIM data), and that the main
commands work from a folder outside the repository. Slow (builds a wheel and a venv with the
runtime dependencies, from pip's cache where it has them).
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    work = tmp_path_factory.mktemp("wheel")
    dist = work / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)], check=True,
                   cwd=work, capture_output=True, text=True)
    wheel = next(dist.glob("archsim-*.whl"))
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr[-3000:]
    outside = work / "elsewhere"
    outside.mkdir()
    return wheel, venv, outside


def test_wheel_has_one_top_level_package_and_the_data_files(installed):
    wheel, _, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"archsim", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}, tops
    for needed in ("archsim/presets/models/llama-2-7b.yaml", "archsim/rtl/resources.json",
                   "archsim/rtl/softmax/exp2_table.vh", "archsim/presets/hardware/nvidia-t4.yaml",
                   "archsim/data/measurements/h100/h100-validation-2026-11-23.csv",
                   "archsim/data/papers/fusemax-artifact-reference.csv", "archsim/kernels/triton/flash_attention.py",
                   "archsim/dataflows/backend.py", "archsim/campaigns/gpu_kernels.py"):
        assert needed in names, needed
    assert not any(n.startswith("archsim/reports/") for n in names)


def _archsim(venv: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(venv / "bin" / "archsim"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def test_installed_commands_work_outside_the_repository(installed):
    _, venv, outside = installed
    show = subprocess.run([str(venv / "bin" / "pip"), "show", "-f", "archsim"], capture_output=True, text=True,
                          check=True).stdout
    files = [line.strip() for line in show.split("Files:")[1].splitlines() if line.strip()]
    assert {f.split("/")[0] for f in files if not f.startswith("../")} <= {"archsim", "archsim-0.1.0.dist-info"}
    runs = [
        ("run", "--out", "default"),
        ("run", "--hw", "zcu102", str(ROOT / "workloads" / "m3vit-edge-moe.yaml"), "--out", "fpga"),
        ("run", "--hw", "aim-gddr6", str(ROOT / "workloads" / "gpt2-medium-decode-pim.yaml"), "--out", "pim"),
        ("reproduce", "fusemax", "--out", "repro"),
        ("validate", *map(str, sorted((ROOT / "workloads").rglob("*.yaml")))),
        ("presets", "hardware"),
    ]
    for args in runs:
        done = _archsim(venv, outside, *args)
        assert done.returncode == 0, (args, done.stderr[-2000:])
    assert (outside / "default" / "summary.json").exists()
    assert (outside / "repro" / "fusemax" / "summary.json").exists()
    validate = _archsim(venv, outside, "validate", *map(str, sorted((ROOT / "archsim" / "presets").rglob("*.yaml"))))
    assert validate.returncode == 0, validate.stderr[-2000:]
    # the installed archsim is the wheel's, not the checkout's
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import archsim; print(archsim.__file__)"], cwd=outside,
                           capture_output=True, text=True, check=True).stdout
    assert str(venv) in where
