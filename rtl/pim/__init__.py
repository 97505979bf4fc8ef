"""cocotb testbench and Verilog of the pim block (see rtl/__init__.py)."""
