"""Edge-MoE softmax RTL under cocotb; its cycles against fixed_units.EdgeSoftmaxUnit."""

from __future__ import annotations

import pytest
from archsim.rtl.sim import read_cycle_records, run_block

from archsim.engine.fixed_units import EdgeSoftmaxUnit

pytestmark = pytest.mark.rtl

SOURCES = ["softmax/edge_exp_neg.v", "softmax/edge_softmax.v"]


@pytest.mark.parametrize(("sim", "lmax"), [("icarus", 64), ("icarus", 16), ("verilator", 64)])
def test_edge_softmax(sim: str, lmax: int, tmp_path, need_simulator):
    need_simulator(sim)
    cycles_file = tmp_path / "cycles.jsonl"
    run_block(sim=sim, sources=SOURCES, toplevel="edge_softmax", test_module="archsim.rtl.softmax.tb_softmax",
              build_dir=tmp_path / "build", parameters={"LMAX": lmax},
              extra_env={"ARCHSIM_RTL_CYCLES_FILE": str(cycles_file)})
    records = read_cycle_records(cycles_file)
    assert {r["length"] for r in records} == {1, 2, 13, lmax}
    model = EdgeSoftmaxUnit(max_length=lmax)
    for r in records:
        assert r["cycles"] == model.cycles(r["length"]), r
