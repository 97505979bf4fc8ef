"""A workload under its software stack (workload ``stack:``), through the API and ``archsim stack``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from archsim.errors import ConfigError
from archsim.gpu.stack_run import predict_workload, shape_from_model
from archsim.presets import load_model, load_workload


def test_default_workload_stack_is_transformers_eager():
    wl = load_workload("llama2-7b-serving")
    assert (wl.stack.software, wl.stack.host) == ("eager", "eager")


def test_phases_expose_gpu_busy_and_wall_time():
    wl = load_workload("llama2-7b-serving")
    eager = predict_workload(wl, "h200")
    graph = predict_workload(wl, "h200", software="fused", host="cuda-graph")
    assert [p.phase for p in eager.phases] == ["prefill", "decode"]
    for p in eager.phases + graph.phases:
        assert p.wall_s >= p.gpu_busy_s > 0 and p.gpu_busy_s == pytest.approx(sum(p.by_category.values()))
    assert graph.gpu_busy_s < eager.gpu_busy_s  # fused glue and no DynamicCache copies
    assert eager.phases[1].by_category["copy"] > eager.phases[1].by_category["norm"]  # cache growth by cat
    assert "software eager" in eager.notes[0] and eager.to_dict()["phases"][0]["bound"] in ("gpu", "host")


def test_a_model_larger_than_the_gpu_is_said_not_refused():
    from archsim.gpu.stack_run import memory_bytes, shape_from_model
    wl = load_workload("llama2-7b-serving")
    assert not any("more than one" in n for n in predict_workload(wl, "h200").notes)
    big = wl.model_copy(update={"model": "llama-3-70b"})
    shape = shape_from_model(load_model("llama-3-70b"))
    assert memory_bytes(shape, big) > 2.0 * 70e9  # 70 B bf16 parameters alone
    assert any("more than one h200" in n for n in predict_workload(big, "h200").notes)


def test_unsupported_models_and_stacks_are_config_errors():
    with pytest.raises(ConfigError, match="Llama-style and GPT-2-style decoders"):
        shape_from_model(load_model("bert-base"))
    with pytest.raises(ConfigError, match="ffn_kind 'relu'"):  # OPT: LayerNorm + ReLU has no profile
        shape_from_model(load_model("opt-30b"))
    with pytest.raises(ConfigError, match="unknown software stack"):
        predict_workload(load_workload("llama2-7b-serving"), "h200", software="vllm")


def test_stack_cli(tmp_path):
    out = tmp_path / "s.json"
    r = subprocess.run([sys.executable, "-m", "archsim", "stack", "--hw", "h200", "--software", "plain", "--host",
                        "cuda-graph", "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "GPU-busy" in r.stdout and json.loads(out.read_text())["host"] == "cuda-graph"
    bad = tmp_path / "w.yaml"
    bad.write_text("kind: workload\nname: x\nmodel: llama-2-7b\nstack: {software: vllm}\nphases:\n"
                   "  - {phase: decode, batch: 1, context_len: 128}\n")
    r = subprocess.run([sys.executable, "-m", "archsim", "stack", str(bad)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 2 and "w.yaml:4: stack.software" in r.stderr and "Traceback" not in r.stderr


def test_archsim_run_reports_the_stack_and_both_times(tmp_path):
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "archsim", "run", "--hw", "h200", "--out", str(out), "--no-report"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "software stack eager, host eager" in r.stdout and "GPU-busy" in r.stdout
    s = json.loads((out / "summary.json").read_text())["stack"]
    assert s["wall_s"] >= s["gpu_busy_s"] > 0 and [p["phase"] for p in s["phases"]] == ["prefill", "decode"]
