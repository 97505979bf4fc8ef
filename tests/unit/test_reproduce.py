"""``archsim reproduce``: every study resolves to a function, --list names them, one study regenerates."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

from archsim.errors import ConfigError
from archsim.studies import STUDIES, study

ARCHSIM = [sys.executable, "-m", "archsim"]


@pytest.mark.parametrize("name", sorted(STUDIES))
def test_every_study_names_a_function_that_exists(name):
    module, func = STUDIES[name].target.split(":")
    assert callable(getattr(importlib.import_module(module), func))


def test_unknown_study_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="valid: .*fusemax"):
        study("nope")
    done = subprocess.run([*ARCHSIM, "reproduce", "nope"], capture_output=True, text=True)
    assert done.returncode == 2 and "fusemax" in done.stderr and "Traceback" not in done.stderr


def test_list_and_fusemax_regenerates_the_committed_numbers(tmp_path):
    listed = subprocess.run([*ARCHSIM, "reproduce", "--list"], capture_output=True, text=True, check=True).stdout
    assert all(name in listed for name in STUDIES)
    done = subprocess.run([*ARCHSIM, "reproduce", "fusemax", "--out", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    ours = json.loads((tmp_path / "fusemax" / "summary.json").read_text())
    assert 0.5 < ours["attention_speedup_geomean"] / ours["paper"]["attention_speedup_geomean"] < 2
    from pathlib import Path
    committed = json.loads((Path(__file__).resolve().parents[2] / "reports" / "fusemax" / "summary.json").read_text())
    assert ours["attention_speedup_geomean"] == pytest.approx(committed["attention_speedup_geomean"], rel=1e-9)
