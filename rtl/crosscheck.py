"""Measure every block's cycles under Icarus and print them beside archsim's cycle models.

``archsim reproduce rtl`` runs the cocotb testbenches (clean runs are recorded by
:func:`archsim.rtl.tb_util.record_cycles`) and writes a markdown table: block, parameters, cycles
measured in RTL simulation, cycles from the model, and whether they match. The systolic row
uses ``archsim.engine.compute.SystolicArray`` when that module exists, else says so.
"""

from __future__ import annotations

import importlib
import tempfile
from pathlib import Path

from archsim.rtl.sim import read_cycle_records, run_block

from archsim.engine.fixed_units import EdgeSoftmaxUnit, GeluUnit, PimBankMacUnit

RUNS = (
    ("systolic", ["systolic/systolic_pe.v", "systolic/systolic_array.v"], "systolic_array",
     "archsim.rtl.systolic.tb_systolic", {"N": 4}),
    ("systolic", ["systolic/systolic_pe.v", "systolic/systolic_array.v"], "systolic_array",
     "archsim.rtl.systolic.tb_systolic", {"N": 8}),
    ("softmax", ["softmax/edge_exp_neg.v", "softmax/edge_softmax.v"], "edge_softmax",
     "archsim.rtl.softmax.tb_softmax", {"LMAX": 64}),
    ("gelu", ["gelu/gelu_unit.v"], "gelu_unit", "archsim.rtl.gelu.tb_gelu", {}),
    ("pim_mac", ["pim/pim_bank_mac.v"], "pim_bank_mac", "archsim.rtl.pim.tb_pim_mac", {"LANES": 16}),
)


def model_cycles(r: dict) -> tuple[str, int | None]:
    """(model name, model cycles) for one measured record."""
    if r["block"] == "systolic":
        try:
            compute = importlib.import_module("archsim.engine.compute")
        except ImportError:
            return "archsim.engine.compute missing; contract K+3N-2", r["k"] + 3 * r["n"] - 2
        arr = compute.SystolicArray(rows=r["n"], cols=r["n"], stationarity="output_stationary")
        return "SystolicArray.tile_cycles", arr.tile_cycles(m=r["n"], n=r["n"], k=r["k"])
    if r["block"] == "softmax":
        return "EdgeSoftmaxUnit.cycles", EdgeSoftmaxUnit(max_length=r["lmax"]).cycles(r["length"])
    if r["block"] == "gelu":
        return "GeluUnit.cycles", GeluUnit().cycles(r["n_values"])
    return "PimBankMacUnit.cycles", PimBankMacUnit(lanes=r["lanes"]).cycles(r["bursts"], r["interval"])


def describe(r: dict) -> str:
    keys = {"systolic": ("n", "k"), "softmax": ("length",), "gelu": ("n_values",),
            "pim_mac": ("lanes", "bursts", "interval")}
    return ", ".join(f"{k}={r[k]}" for k in keys[r["block"]])


def crosscheck_rows() -> list[dict]:
    """Run every testbench of RUNS under Icarus and return the distinct measured cycle records."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (_, sources, top, module, params) in enumerate(RUNS):
            out = Path(tmp) / f"run{i}"
            cycles_file = out / "cycles.jsonl"
            run_block(sim="icarus", sources=sources, toplevel=top, test_module=module, build_dir=out / "build",
                      parameters=params, extra_env={"ARCHSIM_RTL_CYCLES_FILE": str(cycles_file)})
            seen = set()
            for r in read_cycle_records(cycles_file):
                key = (r["block"], describe(r), r["cycles"])
                if key not in seen:
                    seen.add(key)
                    rows.append(r)
    return rows


def crosscheck_markdown() -> str:
    """The cycle table (``archsim reproduce rtl``): RTL cycles beside the models' cycles."""
    lines = ["| block | parameters | RTL cycles (Icarus) | model | model cycles | match |", "|---|---|---|---|---|---|"]
    for r in crosscheck_rows():
        name, cycles = model_cycles(r)
        lines.append(f"| {r['block']} | {describe(r)} | {r['cycles']} | {name} | {cycles} | "
                     f"{'yes' if cycles == r['cycles'] else 'NO'} |")
    return "\n".join(lines) + "\n"
