"""PIM bank MAC RTL under cocotb; its cycles against fixed_units.PimBankMacUnit."""

from __future__ import annotations

import pytest
from archsim.rtl.sim import read_cycle_records, run_block

from archsim.engine.fixed_units import PimBankMacUnit

pytestmark = pytest.mark.rtl


@pytest.mark.parametrize(("sim", "lanes"), [("icarus", 16), ("icarus", 4), ("verilator", 16)])
def test_pim_bank_mac(sim: str, lanes: int, tmp_path, need_simulator):
    need_simulator(sim)
    cycles_file = tmp_path / "cycles.jsonl"
    run_block(sim=sim, sources=["pim/pim_bank_mac.v"], toplevel="pim_bank_mac",
              test_module="archsim.rtl.pim.tb_pim_mac",
              build_dir=tmp_path / "build", parameters={"LANES": lanes, "DATA_W": 16, "ACC_W": 40, "OUT_W": 48},
              extra_env={"ARCHSIM_RTL_CYCLES_FILE": str(cycles_file)})
    records = read_cycle_records(cycles_file)
    assert {(r["bursts"], r["interval"]) for r in records} == {(1, 1), (1, 4), (32, 1), (32, 4)}
    model = PimBankMacUnit(lanes=lanes, data_bits=16)
    for r in records:
        assert r["lanes"] == lanes
        assert r["cycles"] == model.cycles(r["bursts"], r["interval"]), r
