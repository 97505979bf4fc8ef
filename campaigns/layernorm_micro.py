"""LayerNorm kernel microbenchmark (calibration of the ``layer_norm`` glue class; issue 16 blind set follow-up).

``F.layer_norm`` with weight and bias (what ``nn.LayerNorm`` runs: ATen ``vectorized_layer_norm_kernel``) on
``rows x 1600`` fp16 inputs (GPT-2 XL's width), input sizes 4 KiB .. 256 MiB, warm (back to back) and cold
(256 MiB written between calls), profiler kernel durations: ``wm_micro.run_glue`` with one case per size,
rows in the ``wm-glue`` CSV format. Bytes: input and output once each, weight and bias, fp32 mean and rstd
per row. Run on the GPU machine from the repository root::

    python3 campaigns/layernorm_micro.py --out "$OUT"

Imports only torch, numpy, pynvml (through ``whole_model``) and the campaign modules beside this file.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch
import torch.nn.functional as F
import whole_model as W
import wm_micro
from csv_sink import Sink

COLS = 1600
SIZES = [4 << 10, 64 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20, 256 << 20]


def cases(size: int):
    rows = max(1, size // (2 * COLS))
    x = torch.randn(rows, COLS, dtype=torch.float16, device="cuda")
    w = torch.randn(COLS, dtype=torch.float16, device="cuda")
    b = torch.randn(COLS, dtype=torch.float16, device="cuda")
    n = rows * COLS
    return [("layer_norm", "fp16", lambda: F.layer_norm(x, (COLS,), w, b, 1e-5), 2 * n + 4 * COLS, 2 * n + 8 * rows,
             n, rows, COLS)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.environ.get("OUT", "ln-out"))
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    nvml = W.Nvml()
    info = {**W.meta(nvml), "set": "layernorm-micro", "cols": COLS, "sizes": SIZES}
    W.write_meta(args.out, info)
    with torch.inference_mode():
        wm_micro.run_glue(Sink(os.path.join(args.out, "wm-glue.csv"), wm_micro.GLUE_FIELDS), W.Budget(600.0), print,
                          sizes=SIZES, cases_of=cases)
    info["clocks_end"] = nvml.clocks()
    W.write_meta(args.out, info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
