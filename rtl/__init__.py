"""Synthesizable Verilog blocks whose cycles and numerics archsim's models assume.

Each block folder holds the Verilog and its cocotb testbench (``tb_*.py``: driver, monitor,
reference model, checker). The golden models live in :mod:`archsim.engine.fixed_units`
(softmax, GELU, PIM MAC) and in the testbench (integer GEMM). :mod:`rtl.sim` builds and runs
a block under Icarus Verilog or Verilator; :mod:`rtl.synth` counts FPGA resources with yosys.
"""

from pathlib import Path

RTL_DIR = Path(__file__).resolve().parent
