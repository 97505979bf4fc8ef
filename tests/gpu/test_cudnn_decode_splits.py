"""cuDNN decode kernel: the split-KV rule and the reduction grid against the profiler's grids
(h200-decode-micro-cudnn-2026-12-01.csv: grid = splits x heads x batch)."""

from __future__ import annotations

import csv
import math

from archsim.data import measurement
from archsim.gpu.kernels_decode import cudnn_decode, cudnn_splits


def _rows() -> list[dict]:
    with open(measurement("h200", "h200-decode-micro-cudnn-2026-12-01.csv"), newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["kernel_idx"] in ("0", "1")]


def test_split_rule_matches_every_measured_grid():
    rows = [r for r in _rows() if r["kernel_idx"] == "0"]
    assert len(rows) > 100
    for r in rows:
        b, hkv, kv = int(r["batch"]), int(r["kv_heads"]), int(r["seq_kv"])
        gx, gy, gz = (int(x) for x in r["grid"].split("x"))
        assert (gy, gz) == (hkv, b)
        assert cudnn_splits(b * hkv, math.ceil(kv / 128), kv) == gx, r


def test_reduction_runs_one_cta_per_output_row_where_measured():
    for r in (r for r in _rows() if r["kernel_idx"] == "1"):
        b, h, hkv, kv = (int(r[k]) for k in ("batch", "heads", "kv_heads", "seq_kv"))
        s = dict(batch=b, heads=h, kv_heads=hkv, seq_q=1, seq_kv=kv, head_dim=128, dtype="bf16")
        launches = cudnn_decode(s, 132)
        assert [x.name for x in launches] == ["cudnn_decode_16x128", "cudnn_lean_reduction"]
        gx, gy, gz = (int(x) for x in r["grid"].split("x"))
        assert launches[1].grid == gx * gy * gz == b * h


def test_no_split_at_short_kv_or_large_grid():
    assert cudnn_splits(32, 3, 320) == 1  # batch 1 MHA at the serving slot: one kernel, no reduction
    assert cudnn_splits(128, 32, 4096) == 1
    assert cudnn_splits(32, 6, 768) == 4  # largest power of two <= 6 tiles
