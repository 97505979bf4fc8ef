"""Prediction intervals: how sure each GPU-model prediction is, from validation residuals.

Map of the package (each line runs as written):

    from archsim.intervals import for_prediction, attach_intervals, regenerate
    from archsim.intervals.report import reproduce
    from archsim.gpu.predict import predict_gemm
    for_prediction(predict_gemm("h100-sxm", m=4096, n=4096, k=4096))   # {"latency_s_calibrated": s,
                                                                       #  "latency_s_p80": [lo, hi], ...}
    regenerate()                       # refit archsim/data/intervals.json from the validation campaigns
    reproduce(Path("reports"))         # ... and write reports/prediction-intervals.md (coverage per cell)

- :mod:`.conformal`: split-conformal arithmetic on ln(measured / modeled);
- :mod:`.sources`: validation residuals from ``archsim/data/measurements/<device>/`` (never calibration data):
  kernel campaigns here, whole-model category times in :mod:`.whole_model`, whole-model steps in :mod:`.steps`;
- :mod:`.tables`: cells (device x kernel family x bound regime x size class), fallback chain, the JSON file;
- :mod:`.estimate`: one interval as data — the modeled time, the calibrated time (modeled x the cell's median
  measured/modeled, always inside the interval) and the conformal bounds; sums of cells;
- :mod:`.display`: the one way they are printed (``archsim run``, ``archsim stack``, report.html);
- :mod:`.attach`: intervals on a prediction, on every operator of a Result and on their sums;
  :func:`.steps.for_stack` on an ``archsim stack`` prediction (GPU-busy and wall time per phase);
- :mod:`.coverage` / :mod:`.report`: held-out coverage and ``reports/prediction-intervals.md``.

What the intervals are not: they describe how the GPU model (archsim.gpu) has erred on kernels and
whole models timed on that device; a device without validation data (A100, H20, FPGAs, PIM) is "unvalidated", and a
Result from any other backend too.
"""

from __future__ import annotations

from archsim.intervals.attach import (
    CORRELATION,
    attach_intervals,
    for_prediction,
    op_columns,
    sweep_columns,
)
from archsim.intervals.estimate import Estimate, from_lookup, from_sum
from archsim.intervals.tables import TABLES_PATH, Tables, default_tables, regenerate

__all__ = ["CORRELATION", "TABLES_PATH", "Estimate", "Tables", "attach_intervals", "default_tables",
           "for_prediction", "from_lookup", "from_sum", "op_columns", "regenerate", "sweep_columns"]
