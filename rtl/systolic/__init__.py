"""cocotb testbench and Verilog of the systolic block (see rtl/__init__.py)."""
