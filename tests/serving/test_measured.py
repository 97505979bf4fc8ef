"""The measured-run comparison reads the committed H200 data and simulates every load's own arrivals."""

from __future__ import annotations

import json
import math
from importlib.resources import files

from archsim.serving import measured


def test_compare_runs_every_measured_load():
    meta = json.loads(files("archsim").joinpath("data", "measurements", "h200",
                                                f"{measured.RUN}-meta.json").read_text())
    arrivals = {load["label"]: load["n_arrivals"] for load in meta["loads"]}
    table = measured.compare()
    assert {r["load"] for r in table} == set(measured.LOADS) <= set(arrivals)
    for row in table:
        assert row["requests"] == arrivals[row["load"]]
        assert math.isfinite(row["ratio"]) and row["ratio"] > 0
    assert "| burst | 598 | ttft_s p50 |" in measured.markdown(table)
