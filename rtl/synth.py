"""FPGA resource counts of the RTL blocks with yosys ``synth_xilinx -family xcup`` (UltraScale+).

:func:`write_resources` (``archsim reproduce rtl``) synthesises every block in :data:`BLOCKS`
(flattened, Debian yosys) and writes a resource table (``rtl/resources.json`` is the committed one):
per block, LUTs (LUT1..LUT6), flip-flops (FD*), DSP48E1
slices (DSP48E2), LUTRAM and BRAM cells, CARRY chains, plus the yosys version and the command. IO
buffers (IBUF/OBUF/BUFG) are left out: the blocks are parts of a design, not top levels.
Counts are yosys's mapping before place-and-route (no Vivado optimisation): expect them to
differ from vendor-tool numbers by tens of percent, mostly in LUTs.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from archsim.rtl import RTL_DIR

RESOURCES_JSON = RTL_DIR / "resources.json"


@dataclass(frozen=True)
class Block:
    name: str
    top: str
    sources: tuple[str, ...]
    parameters: dict[str, int] = field(default_factory=dict)


BLOCKS = (
    Block("systolic_pe_int8", "systolic_pe", ("systolic/systolic_pe.v",), {"DATA_W": 8, "ACC_W": 32}),
    Block("systolic_array_4x4_int8", "systolic_array", ("systolic/systolic_pe.v", "systolic/systolic_array.v"),
          {"N": 4, "DATA_W": 8, "ACC_W": 32}),
    Block("systolic_array_8x8_int8", "systolic_array", ("systolic/systolic_pe.v", "systolic/systolic_array.v"),
          {"N": 8, "DATA_W": 8, "ACC_W": 32}),
    Block("edge_softmax_l64", "edge_softmax", ("softmax/edge_exp_neg.v", "softmax/edge_softmax.v"), {"LMAX": 64}),
    Block("edge_exp_neg", "edge_exp_neg", ("softmax/edge_exp_neg.v",)),
    Block("gelu_unit", "gelu_unit", ("gelu/gelu_unit.v",)),
    Block("pim_bank_mac_16x16b", "pim_bank_mac", ("pim/pim_bank_mac.v",),
          {"LANES": 16, "DATA_W": 16, "ACC_W": 40, "OUT_W": 48}),
)

_CELL = re.compile(r"^\s+(\w+)\s+(\d+)\s*$")


def yosys_script(block: Block) -> str:
    reads = " ".join(str(RTL_DIR / s) for s in block.sources)
    chparams = "".join(f"chparam -set {k} {v} {block.top}; " for k, v in block.parameters.items())
    return (f"read_verilog -I {RTL_DIR} {reads}; {chparams}"
            f"synth_xilinx -family xcup -top {block.top} -flatten; stat")


def count_cells(stat_text: str) -> dict[str, int]:
    """Cell counts of the last ``stat`` report in yosys output."""
    cells: dict[str, int] = {}
    section = stat_text[stat_text.rfind("Number of cells"):]
    for line in section.splitlines()[1:]:
        m = _CELL.match(line)
        if not m:
            break
        cells[m.group(1)] = int(m.group(2))
    return cells


def summarise(cells: dict[str, int]) -> dict[str, int]:
    def total(pred) -> int:
        return sum(n for name, n in cells.items() if pred(name))

    return {
        "lut": total(lambda c: re.fullmatch(r"LUT[1-6]", c) is not None),
        "ff": total(lambda c: c.startswith("FD")),
        "dsp": total(lambda c: c.startswith("DSP48")),
        "lutram": total(lambda c: c.startswith("RAM") and not c.startswith("RAMB")),
        "bram": total(lambda c: c.startswith("RAMB")),
        "carry": cells.get("CARRY4", 0) + cells.get("CARRY8", 0),
        "muxf7_f8": cells.get("MUXF7", 0) + cells.get("MUXF8", 0),
    }


def synthesise(block: Block) -> dict:
    yosys = shutil.which("yosys")
    if yosys is None:
        raise RuntimeError("yosys not on PATH (Debian package yosys)")
    script = yosys_script(block)
    out = subprocess.run([yosys, "-p", script], capture_output=True, text=True, check=True).stdout
    cells = count_cells(out)
    return {"top": block.top, "parameters": block.parameters, **summarise(cells), "cells": cells}


def yosys_version() -> str:
    return subprocess.run(["yosys", "-V"], capture_output=True, text=True, check=True).stdout.strip()


def write_resources(path: Path = RESOURCES_JSON) -> dict:
    """Synthesise every block with yosys and write the resource table to ``path`` (atomically)."""
    blocks = {b.name: synthesise(b) for b in BLOCKS}
    doc = {"tool": yosys_version(),
           "flow": "synth_xilinx -family xcup -flatten (UltraScale+ cells, as on the ZCU102), IO buffers excluded",
           "command": "archsim reproduce rtl (archsim.rtl.synth.write_resources)", "blocks": blocks}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)
    return doc
