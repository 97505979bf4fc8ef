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


def test_stack_cost_is_the_stack_model():
    from archsim import presets
    from archsim.gpu.stack_run import predict_workload
    from archsim.schemas.workload import Workload
    from archsim.serving.schedulers import Iteration
    from archsim.serving.stack_cost import StackCost

    spec = presets.load_model("llama-2-7b").model_copy(update={"num_layers": 8})
    wl = Workload.model_validate({"name": "x", "model": spec, "dtype": "bf16",
                                  "phases": [{"phase": "decode", "batch": 1, "context_len": 1}]})
    cost = StackCost(wl, "h200")
    dec = wl.model_copy(update={"phases": Workload.model_validate(
        {"name": "x", "model": spec, "phases": [{"phase": "decode", "batch": 16, "context_len": 256}]}).phases})
    expected = predict_workload(dec, "h200", software="plain", host="cuda-graph").wall_s
    assert cost.decode_s(16, 256) == expected
    pre = wl.model_copy(update={"phases": Workload.model_validate(
        {"name": "x", "model": spec, "phases": [{"phase": "prefill", "batch": 1, "seq_len": 256}]}).phases})
    assert cost.prefill_s(1, 256) == predict_workload(pre, "h200", software="plain", host="eager").wall_s
    assert cost(Iteration("engine")) == 0.0
