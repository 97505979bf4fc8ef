"""PIM backend, microbench CLI, PIM-GPT system and the Duplex Op/B policy."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

import archsim
from archsim import presets
from archsim.cli import app
from archsim.lowering import lower
from archsim.pim import logic_die, pimgpt
from archsim.pim.reproduce import DATA
from archsim.schemas.workload import Workload


def _layers_workload() -> Workload:
    return Workload(name="gemv-attn", layers=[
        {"op": "gemm", "name": "proj", "m": 1, "n": 2048, "k": 2048},
        {"op": "attention", "name": "dec", "batch": 1, "heads": 8, "seq_q": 1, "seq_kv": 512, "head_dim": 64}])


def test_pim_backend_is_chosen_for_pim_family():
    res = archsim.simulate(_layers_workload(), "aim-gddr6")
    assert res.backend == "pim"
    by = {o.name: o for o in res.ops}
    assert by["proj"].bound == "pim:gemv" and by["proj"].time_s > 0
    roof = archsim.simulate(_layers_workload(), "aim-gddr6", backend="roofline")
    # in-bank GEMV: slower than the compute peak allows, faster than the external pins allow
    roof_proj = {o.name: o for o in roof.ops}["proj"]
    assert roof_proj.time_by_resource["compute"] <= by["proj"].time_s < roof_proj.time_by_resource["memory:dram"]


def test_microbench_cli_prints_share_and_rejects_bad_op():
    runner = CliRunner()
    ok = runner.invoke(app, ["microbench", "pim", "--preset", "aim-gddr6", "--op", "gemv", "--m", "512",
                             "--n", "1024"])
    assert ok.exit_code == 0, ok.output
    assert "row activation" in ok.output and "% of peak" in ok.output and "max rel. error" in ok.output
    bad = subprocess.run([sys.executable, "-m", "archsim", "microbench", "pim", "--op", "gemm"],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "is not one of gemv" in bad.stderr and "Traceback" not in bad.stderr


def test_pimgpt_step_grows_with_context_and_beats_t4():
    sys = pimgpt.load_system()
    model = presets.load_model("gpt2-small")
    short, long = pimgpt.decode_step(sys, model, 16), pimgpt.decode_step(sys, model, 1024)
    assert long.time_s > short.time_s and long.energy_j > short.energy_j
    gen = pimgpt.generate(sys, model, 8)
    gpu = pimgpt.gpu_generate("gpt2-small", 8)
    assert gpu.wall_s / gen.time_s > 1.0 and gpu.energy_j / gen.energy_j > 1.0
    # the paper's baseline (HF generate, eager, batch 1) is host-bound on the T4: slower than its roofline
    roof_t, roof_e = pimgpt.gpu_generate_roofline("gpt2-small", 8)
    assert gpu.bound == "host" and gpu.wall_s > 2 * roof_t and gpu.wall_s >= max(gpu.gpu_s, gpu.host_s)


@pytest.mark.parametrize("model_ref,group", [(str(DATA / "mixtral-8x7b.yaml"), 4), ("llama-2-70b", 8)])
def test_duplex_op_per_byte(model_ref, group):
    model = presets.load("models", model_ref)
    xpu, lpim = presets.load_hardware("h100-sxm"), presets.load_hardware("duplex-logic-pim")
    for batch in (1, 8, 64):
        wl = Workload(name="w", model=model, dtype="bf16",
                      phases=[{"phase": "decode", "batch": batch, "context_len": 2048, "steps": 1}])
        placed = logic_die.co_process(lower(wl, model), xpu, lpim, policy="duplex")
        for p in placed:
            if p.op.kind == "attention":  # GQA decode attention: Op/B = query heads per KV head
                assert p.op_per_byte == pytest.approx(group, rel=0.02)
                assert p.device == "logic_pim"
            if p.op.kind == "moe_experts":  # >= 1 token per active expert; activations shave < 0.1%
                assert p.op_per_byte >= 0.999
    assert logic_die.crossover_op_per_byte(xpu, lpim) > 8
