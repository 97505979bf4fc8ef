"""Stack profiles (kernel lists checked against the profiler's per-layer counts) and whole-model parity."""

from __future__ import annotations

import pytest

from archsim.data import measurement
from archsim.errors import ConfigError
from archsim.gpu.stacks import ModelShape, Step, lower, parts, rmsnorm_eager, sequence
from archsim.gpu.wholemodel import categorise, compare_whole, is_whole_model_csv, predict_step, summarise_whole

L2 = ModelShape(name="llama-2-7b", hidden=4096, heads=32, kv_heads=32, ffn=11008, vocab=32000, layers=2)
L3 = ModelShape(name="llama-3-8b", hidden=4096, heads=32, kv_heads=8, ffn=14336, vocab=128256, layers=2)
MOE = ModelShape(name="mixtral", hidden=4096, heads=32, kv_heads=8, ffn=14336, vocab=32000, layers=2, experts=8,
                 top_k=2)
PRE = Step(phase="prefill", batch=4, seq_len=512)
DEC = Step(phase="decode", batch=8, seq_len=1, context=1024)


def test_layer_kernel_counts_match_the_profiled_code_paths():
    # plain: 2 norms x 8 + 4 GEMMs + 2 x 5 rotary + 2 cache writes + attention + 2 adds + silu, mul = 37
    assert len(parts(L2, PRE, "plain")[1]) == 37
    # HF dense: 16 norm + 3 qkv + 10 rotary + 2 cache cats + attention + o + 2 adds + gate, up, silu, mul, down
    assert len(parts(L2, DEC, "hf")[1]) == 40
    # torch.compile: 4 GEMMs + attention + norm, rotary q, rotary k + cache, residual+norm, silu*mul
    assert len(parts(L2, PRE, "fused")[1]) == 10
    assert len(sequence(L2, PRE, "plain")) == 3 + 2 * 37 + 9


def test_norm_bytes_by_pencil():
    n = rmsnorm_eager(rows=2, hidden=8, tag="")
    assert [k.glue[0] for k in n] == ["to_fp32", "pow2", "mean_lastdim", "add_fp32", "rsqrt", "mul_rowscale",
                                      "to_bf16", "mul_bcast_weight"]
    assert n[0].glue[1:] == (32.0, 64.0)  # 16 bf16 values read, 16 fp32 written
    assert n[2].glue[1:] == (64.0, 8.0)  # mean: 16 fp32 read, 2 written


def test_hf_decode_cache_growth_is_an_o_context_copy_and_graph_capture_expands_gqa():
    cats = [k for k in parts(L3, DEC, "hf")[1] if k.name.startswith("cache_cat")]
    per = 8 * 8 * 1025 * 128 * 2  # batch x kv heads x (context + 1) x head dim x bf16
    assert [(k.glue[0], k.glue[1]) for k in cats] == [("cat_append", per)] * 2
    eager = {k.name for k in parts(L3, DEC, "hf", "eager")[1]}
    graph = {k.name for k in parts(L3, DEC, "hf", "cuda-graph")[1]}
    # the explicit mask built under capture, and cuDNN then runs with the bias input (archsim.gpu.kernels_masked)
    mask = {"mask_fill_0", "mask_fill_1", "mask_select", "attention_cudnn-bias"}
    assert graph - eager == {"repeat_kv_k", "repeat_kv_v", *mask}
    # MHA too gets the mask (profiler, llama-2-7b decode: 2 fills + 1 select per layer, 7 index kernels per step)
    assert {k.name for k in parts(L2, DEC, "hf", "cuda-graph")[1]} - {k.name for k in parts(L2, DEC, "hf")[1]} == mask
    assert len(sequence(L2, DEC, "hf", "cuda-graph")) - len(sequence(L2, DEC, "hf")) == 3 * L2.layers + 7


def test_bad_stack_and_phase_are_config_errors():
    with pytest.raises(ConfigError, match="unknown software stack"):
        lower(L2, PRE, "vllm")
    with pytest.raises(ConfigError, match="no MoE profile"):
        lower(MOE, PRE, "plain")
    with pytest.raises(ConfigError, match="unknown phase"):
        lower(L2, Step(phase="train", batch=1, seq_len=1), "plain")


def test_categorise_inductor_kernels():
    assert categorise("triton_red_fused__to_copy_add_mean_mul_pow_rsqrt_0", "", "") == "norm"
    assert categorise("triton_poi_fused_add_cat_copy_index_mul_neg_slice_2", "", "") == "rotary"
    assert categorise("triton_poi_fused_mul_silu_6", "", "") == "elementwise"
    assert categorise("nvjet_sm90_tst_128x64", "aten::mm", "") == "gemm"
    assert categorise("void at::native::elementwise_kernel<128, 4>", "aten::mul", "norm") == "norm"


@pytest.fixture(scope="module")
def cal():
    from archsim.gpu.devices import device_calibration
    return device_calibration("h200", "own")


def test_predict_step_sums_and_host_modes(cal):
    eager = predict_step(L2, DEC, "plain", "eager", cal)
    graph = predict_step(L2, DEC, "plain", "cuda-graph", cal)
    assert eager.gpu_s == pytest.approx(sum(eager.by_category.values()))
    assert eager.gpu_s == pytest.approx(graph.gpu_s)
    assert eager.wall_s >= max(eager.host_s, eager.gpu_s)
    assert graph.wall_s > graph.gpu_s and graph.wall_s < eager.wall_s  # decode at batch 8 is host-bound eagerly
    fused = predict_step(L2, DEC, "fused", "cuda-graph", cal)
    assert fused.n_kernels < graph.n_kernels and fused.gpu_s < graph.gpu_s
    with pytest.raises(ConfigError, match="unknown host mode"):
        predict_step(L2, DEC, "plain", "async", cal)


def test_whole_model_parity_on_committed_campaign(cal):
    whole = measurement("h200", "h200-wm-whole-2026-12-01.csv")
    assert is_whole_model_csv(whole)
    assert not is_whole_model_csv(measurement("h200", "h200-wm-glue-2026-12-01.csv"))
    rows = compare_whole(whole, measurement("h200", "h200-wm-kernels-2026-12-01.csv"), cal)
    assert len(rows) > 100 and {r["stack"] for r in rows} == {"plain", "hf", "fused"}
    assert all(r["measured_gpu_s"] <= r["measured_kernel_sum_s"] for r in rows)
    s = summarise_whole(rows)
    assert s["groups"]["all"]["gpu"]["n"] == len(rows)
    assert set(s["categories"]) == {"gemm", "attention", "norm", "rotary", "elementwise", "copy", "host_gap"}


def test_whole_model_csv_missing_columns(tmp_path, cal):
    bad = tmp_path / "w.csv"
    bad.write_text("run_id,model\nr1,x\n")
    with pytest.raises(ConfigError, match="missing columns"):
        compare_whole(bad, bad, cal)


def test_compare_cli_on_a_whole_model_csv(tmp_path):
    import subprocess
    import sys
    plot, md = tmp_path / "w.html", tmp_path / "w.md"
    whole = measurement("h200", "h200-wm-holdout-whole-2026-12-01.csv")
    r = subprocess.run([sys.executable, "-m", "archsim", "compare", str(whole), "--hw", "h200", "--rows", "none",
                        "--plot", str(plot), "--markdown", str(md)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "GPU MAPE" in r.stdout and "host_gap" in r.stdout and "plain/cuda-graph" in r.stdout
    first, tables = md.read_text().split("\n", 1)  # line 1: archsim's marker comment (archsim.outfile)
    assert "plotly" in plot.read_text()[:20000].lower() and first.startswith("<!--") and tables.startswith("| group |")
