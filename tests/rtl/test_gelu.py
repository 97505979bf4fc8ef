"""Edge-MoE GELU RTL under cocotb; its cycles against fixed_units.GeluUnit."""

from __future__ import annotations

import pytest
from archsim.rtl.sim import read_cycle_records, run_block

from archsim.engine.fixed_units import GeluUnit

pytestmark = pytest.mark.rtl


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_gelu_unit(sim: str, tmp_path, need_simulator):
    need_simulator(sim)
    cycles_file = tmp_path / "cycles.jsonl"
    run_block(sim=sim, sources=["gelu/gelu_unit.v"], toplevel="gelu_unit", test_module="archsim.rtl.gelu.tb_gelu",
              build_dir=tmp_path / "build", extra_env={"ARCHSIM_RTL_CYCLES_FILE": str(cycles_file)})
    records = read_cycle_records(cycles_file)
    assert len(records) == 2
    for r in records:
        assert r["cycles"] == GeluUnit().cycles(r["n_values"]), r
