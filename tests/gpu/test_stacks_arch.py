"""GPT-2 / biased-QKV / head_dim-256 / fp16 lowering (archsim.gpu.stacks_arch) against the profiler's kernel lists.

The H200 runs: ``h200-blind-structure-*`` (tiny widths, 2 layers: kernel structure only) and ``h200-blind-*``
(the blind set's shapes). Counts per step of ATen ops and kernel names are compared with the lowering's
kernel items; times are not looked at here.
"""

import csv
import math
from collections import Counter

import pytest

from archsim.data import measurement
from archsim.errors import ConfigError
from archsim.gpu.stacks import ModelShape, Step, lower, parts, sequence
from archsim.gpu.stacks_arch import biased_linear, gelu_new
from archsim.gpu.wholemodel import shape_of

STRUCT = ("h200-blind-structure-whole-2026-12-01.csv", "h200-blind-structure-kernels-2026-12-01.csv")
BLIND = ("h200-blind-whole-2026-12-01.csv", "h200-blind-kernels-2026-12-01.csv")
STRUCT_SHAPES = {"tiny-gpt2": dict(family="gpt2", dtype="fp16"), "tiny-qwen2": dict(qkv_bias=True),
                 "tiny-hd256": {}, "tiny-plain-fp16": dict(dtype="fp16")}


def _rows(files):
    with open(measurement("h200", files[0]), newline="") as fh:
        whole = [r for r in csv.DictReader(fh) if r["ok"] == "1"]
    kernels: dict[str, list[dict]] = {}
    with open(measurement("h200", files[1]), newline="") as fh:
        for r in csv.DictReader(fh):
            kernels.setdefault(r["run_id"], []).append(r)
    return whole, kernels


def _case(r, shape: ModelShape):
    step = Step(phase=r["phase"], batch=int(r["batch"]), seq_len=int(r["seq_len"]), context=int(r["context"]))
    host = "cuda-graph" if r["mode"] == "graph" else "eager"
    stack = {"hf": "hf", "plain": "plain", "plain-compiled": "fused"}[r["impl"]]
    return step, stack, host


def _struct_shape(r) -> ModelShape:
    return ModelShape(name=r["model"], hidden=int(r["hidden"]), heads=int(r["heads"]), kv_heads=int(r["kv_heads"]),
                      ffn=int(r["ffn"]), vocab=int(r["vocab"]), layers=int(r["layers"]), **STRUCT_SHAPES[r["model"]])


def _ops(kernels: list[dict]) -> Counter:
    """Kernel launches per step by ATen op, without cuBLASLt's workspace memsets (left out of the lowering, as
    the module docstrings say) and split-K reduce kernels (part of a GEMM item: the kernel model's launches)."""
    c: Counter = Counter()
    for k in kernels:
        if not k["kernel"].startswith("Memset") and "splitKreduce" not in k["kernel"]:
            c[k["op"]] += float(k["calls_per_step"])
    return c


def test_kernel_counts_per_step_match_the_profiler_on_tiny_models():
    whole, _ = _rows(STRUCT)
    assert len(whole) == 32
    for r in whole:
        shape = _struct_shape(r)
        step, stack, host = _case(r, shape)
        measured, modelled = float(r["n_kernels"]), len(sequence(shape, step, stack, host))
        # not modelled: cuDNN's memset per attention call and the HF prologue's cache_position arange/add
        assert abs(measured - modelled) <= 2 + 1.5 * shape.layers, (r["run_id"], measured, modelled)
        if r["impl"] == "plain":  # the plain model's lowering is exact in fp16 as in bf16
            assert measured == modelled, r["run_id"]


def test_gpt2_and_qwen2_layers_launch_the_profiled_operators():
    for files in (STRUCT, BLIND):
        whole, kernels = _rows(files)
        for r in whole:
            if r["mode"] != "eager" or r["impl"] != "hf" or r["model"].startswith("tiny-hd") or "gemma" in r["model"]:
                continue
            shape = _struct_shape(r) if files is STRUCT else shape_of(r)
            layers, ops = shape.layers, _ops(kernels[r["run_id"]])
            items = lower(shape, *_case(r, shape))
            n = Counter()
            for it in items:
                n[it.name] += it.count
            if shape.family == "gpt2":
                assert ops["aten::native_layer_norm"] == 2 * layers + 1 == n["ln_1"] + n["ln_2"] + n["ln_f"]
                assert ops["aten::addmm"] == 4 * layers  # c_attn, c_proj, c_fc, c_proj: one Lt GEMM each
                assert ops["aten::tanh"] == ops["aten::pow"] == layers == n["gelu_tanh"] == n["gelu_pow3"]
                assert ops["aten::mm"] == 1 == n["lm_head"]
                assert "aten::copy_" not in ops  # no bias broadcast copy, also at batch-1 decode
            else:  # Qwen2: biased q/k/v are addmm, o/gate/up/down and the LM head plain mm
                assert shape.qkv_bias
                assert ops["aten::addmm"] == 3 * layers == n["q_proj"] + n["k_proj"] + n["v_proj"]
                assert ops["aten::mm"] == 4 * layers + 1


def test_gpt2_decode_cache_cat_template_follows_the_new_tokens_layout():
    whole, kernels = _rows(BLIND)
    seen = set()
    for r in whole:
        if r["model"] != "gpt2-xl" or r["phase"] != "decode" or r["mode"] != "eager":
            continue
        cats = [k["kernel"] for k in kernels[r["run_id"]] if k["op"] == "aten::cat"]
        vectorised = all("CatArrayBatchedCopy_vectorized" in k for k in cats)
        shape = shape_of(r)
        layer = parts(shape, *_case(r, shape))[1]
        cls = {it.glue[0] for it in layer if it.name.startswith("cache_cat")}
        assert cls == ({"cat_append"} if vectorised else {"cat_transposed"}), (r["run_id"], cats[:1])
        assert vectorised == (int(r["batch"]) == 1)
        seen.add(vectorised)
    assert seen == {True, False}


def test_one_kv_head_under_graph_capture_has_no_repeat_kv_copy():
    whole, kernels = _rows(BLIND)
    for r in whole:
        if "gemma" not in r["model"] or r["impl"] != "hf":
            continue
        shape = shape_of(r)
        names = [it.name for it in sequence(shape, *_case(r, shape))]
        assert not any(n.startswith("repeat_kv") for n in names)
        measured = sum(_ops(kernels[r["run_id"]]).values())  # a repeat_kv pair per layer would be 16 more
        assert abs(measured - len(names)) <= 2 + 1.5 * shape.layers, (r["run_id"], measured, len(names))
    gqa = ModelShape(name="g", hidden=512, heads=8, kv_heads=2, ffn=1024, vocab=100, layers=1)
    names = [it.name for it in sequence(gqa, Step(phase="decode", batch=2, seq_len=1, context=64), "hf",
                                        "cuda-graph")]
    assert names.count("repeat_kv_k") == names.count("repeat_kv_v") == 1


def test_gelu_new_bytes_and_biased_linear():
    items = gelu_new(1000)
    # 6 unary kernels (read and write 2 kB each), 2 binary (read 4 kB, write 2 kB)
    assert len(items) == 8 and sum(it.glue[1] + it.glue[2] for it in items) == 6 * 4000 + 2 * 6000
    (g,) = biased_linear("x", 1, 300, 200)
    assert g.gemm == (1, 300, 200, 1)


def test_layernorm_is_priced_by_its_microbenchmark_not_the_stream():
    from archsim.gpu.devices import device_calibration
    from archsim.gpu.stacks_arch import layernorm
    glue = device_calibration("h200", "own").glue
    with open(measurement("h200", "h200-layernorm-glue-2026-12-01.csv"), newline="") as fh:
        rows = list(csv.DictReader(fh))
    # a kernel whose input fits in half the L2 reads warm (archsim.gpu.glue), else cold
    picked = [r for r in rows if r["mode"] == ("warm" if float(r["bytes_read"]) <= 0.5 * glue.l2_bytes else "cold")]
    assert len(picked) == 7
    for r in picked:
        it = layernorm(int(r["rows"]), int(r["cols"]), "ln")
        assert it.glue[0] == "layer_norm" and it.glue[1] == float(r["bytes_read"])
        assert math.isclose(glue.time_s(*it.glue), float(r["gpu_us"]) * 1e-6, rel_tol=1e-9)
        assert glue.time_s(*it.glue) > 1.5 * glue.time_s("vec", *it.glue[1:])


def test_other_stacks_reject_gpt2_and_biased_qkv():
    g = ModelShape(name="g", hidden=256, heads=4, kv_heads=4, ffn=1024, vocab=100, layers=1, family="gpt2")
    step = Step(phase="prefill", batch=1, seq_len=8)
    for stack in ("plain", "fused"):
        with pytest.raises(ConfigError, match="GPT-2 profile"):
            lower(g, step, stack)
    with pytest.raises(ConfigError, match="unknown model family"):
        lower(ModelShape(name="o", hidden=256, heads=4, kv_heads=4, ffn=1024, vocab=100, layers=1, family="opt"),
              step, "hf")
    # prologue 5; block: 2 LayerNorms, 4 GEMMs, 2 cache cats, attention, 2 adds, 8 GELU pieces; ln_f + LM head
    assert math.isclose(len(lower(g, step, "hf")), 5 + 19 + 2)
