"""rtl/resources.json (yosys synth_xilinx counts for the FPGA model) is complete and current."""

from __future__ import annotations

import json
import shutil

import pytest
from archsim.rtl.synth import BLOCKS, RESOURCES_JSON, synthesise


def test_resources_json_covers_every_block():
    doc = json.loads(RESOURCES_JSON.read_text(encoding="utf-8"))
    assert set(doc["blocks"]) == {b.name for b in BLOCKS}
    for name, r in doc["blocks"].items():
        assert r["lut"] > 0 and r["ff"] >= 0 and r["dsp"] >= 0, name
    # One DSP48E1 per int8 MAC PE: the array's DSP count scales with N*N.
    assert doc["blocks"]["systolic_array_8x8_int8"]["dsp"] == 64
    assert doc["blocks"]["systolic_array_4x4_int8"]["dsp"] == 16


@pytest.mark.rtl
def test_resources_json_matches_a_fresh_synthesis():
    if shutil.which("yosys") is None:
        pytest.skip("yosys not installed")
    doc = json.loads(RESOURCES_JSON.read_text(encoding="utf-8"))
    block = next(b for b in BLOCKS if b.name == "systolic_pe_int8")
    fresh = synthesise(block)
    assert fresh["cells"] == doc["blocks"][block.name]["cells"], "stale: run archsim.rtl.synth.write_resources()"
