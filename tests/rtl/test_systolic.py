"""Systolic array RTL under cocotb, and its cycles against archsim's SystolicArray model."""

from __future__ import annotations

import pytest

from rtl.sim import read_cycle_records, run_block


pytestmark = pytest.mark.rtl

SOURCES = ["systolic/systolic_pe.v", "systolic/systolic_array.v"]


@pytest.mark.parametrize(("sim", "n"), [("icarus", 4), ("icarus", 8), ("verilator", 4)])
def test_systolic_array(sim: str, n: int, tmp_path, need_simulator):
    need_simulator(sim)
    cycles_file = tmp_path / "cycles.jsonl"
    run_block(sim=sim, sources=SOURCES, toplevel="systolic_array", test_module="rtl.systolic.tb_systolic",
              build_dir=tmp_path / "build", parameters={"N": n, "DATA_W": 8, "ACC_W": 32},
              extra_env={"ARCHSIM_RTL_CYCLES_FILE": str(cycles_file)})
    records = read_cycle_records(cycles_file)
    assert {r["k"] for r in records} == {1, n, 3 * n + 5}, "every clean K case must have been measured"
    compute = pytest.importorskip("archsim.engine.compute",
                                  reason="archsim.engine.compute (engine engineer's SystolicArray) not present yet")
    model = compute.SystolicArray(rows=n, cols=n, dataflow="output_stationary")
    for r in records:
        assert r["cycles"] == model.tile_cycles(m=n, n=n, k=r["k"]), r
