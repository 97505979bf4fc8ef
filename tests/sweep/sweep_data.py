"""A small sweep over an H100 that has every kind of point: ok, failing at run time,
invalid at validation time, and dropped by a constraint."""

SMALL_SWEEP = """\
kind: sweep
name: small-gpu
description: test sweep
base:
  workload:
    kind: workload
    name: attn-small
    dtype: bf16
    layers:
      - op: attention
        name: attn
        batch: 2
        heads: 8
        kv_heads: 8
        seq_q: 512
        seq_kv: 512
        head_dim: 64
        causal: true
  hardware: h100-sxm
axes:
  - zip:
      workload.layers[0].seq_q: [512, 1024, 2048, 4096]
      workload.layers[0].seq_kv: [512, 1024, 2048, 4096]
  - grid:
      hw.memory.hbm.bandwidth_bytes_per_s: [2.0e12, 3.35e12]
  - list:
      - backend: roofline
        workload.layers[0].kv_heads: 8
      - backend: roofline
        workload.layers[0].kv_heads: 3
      - backend: fpga
        workload.layers[0].kv_heads: 8
constraints:
  - name: short enough
    expr: workload.layers[0].seq_q <= 2048 or hw.memory.hbm.bandwidth_bytes_per_s > 3e12
"""
# 4 x 2 x 3 = 24 points. kv_heads 3 does not divide 8 heads: invalid, recorded as failed (8,
# validation comes before constraints); seq 4096 at 2 TB/s is dropped by the constraint (the 2
# valid ones); backend fpga cannot simulate a GPU: fails at run time (7); 7 points run fine.
N_POINTS, N_DROPPED, N_INVALID, N_RUNTIME_FAIL, N_OK = 24, 2, 8, 7, 7

