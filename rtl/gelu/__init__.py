"""cocotb testbench and Verilog of the gelu block (see rtl/__init__.py)."""
