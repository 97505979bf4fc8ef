"""cocotb testbench and Verilog of the softmax block (see rtl/__init__.py)."""
