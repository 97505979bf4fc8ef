"""FPGA models: part resources and AXI ports, HLS pipelines and dataflow regions, the unified
Edge-MoE-style design with its backend, and the Edge-MoE and SWAT reproductions."""
