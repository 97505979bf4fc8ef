"""Phi-3 lowering (archsim.gpu.stacks_arch.phi3_parts) against the profiler's kernel names, and blind round 2.

Kernel lists: ``h200-blind2-structure-*`` (tiny widths, 2 layers) and ``h200-blind2-*`` (round 2's shapes),
recorded on the H200 with transformers 5.17. Only names and counts are compared here, never times.
"""

import csv
import subprocess
import sys
from collections import Counter

import pytest

from archsim.data import measurement
from archsim.errors import ConfigError
from archsim.gpu.devices import device_calibration
from archsim.gpu.stacks import ModelShape, Step, lower, parts, sequence
from archsim.gpu.wholemodel import shape_of
from archsim.gpu.wholemodel_blind import (
    blind_summary,
    committed,
    compare_blind,
    get_round,
    points,
    round_of_csv,
    section,
)

STRUCT = ("h200-blind2-structure-whole-2026-12-01.csv", "h200-blind2-structure-kernels-2026-12-01.csv")
BLIND2 = ("h200-blind2-whole-2026-12-01.csv", "h200-blind2-kernels-2026-12-01.csv")


def _rows(files):
    with open(measurement("h200", files[0]), newline="") as fh:
        whole = [r for r in csv.DictReader(fh) if r["ok"] == "1"]
    kernels: dict[str, list[dict]] = {}
    with open(measurement("h200", files[1]), newline="") as fh:
        for r in csv.DictReader(fh):
            kernels.setdefault(r["run_id"], []).append(r)
    return whole, kernels


def _step(r):
    return (Step(phase=r["phase"], batch=int(r["batch"]), seq_len=int(r["seq_len"]), context=int(r["context"])),
            "hf", "cuda-graph" if r["mode"] == "graph" else "eager")


def _calls(kernels: list[dict], pred) -> float:
    return sum(float(k["calls_per_step"]) for k in kernels if pred(k))


def _phi3_runs(files, eager_only: bool = False):
    """HF Phi-3 steps and their kernels (``eager_only``: graph replays carry no ATen op names)."""
    whole, kernels = _rows(files)
    out = [(r, kernels[r["run_id"]]) for r in whole if r.get("family") == "phi3" and r["impl"] == "hf"
           and (r["mode"] == "eager" or not eager_only)]
    assert out
    return out


@pytest.mark.parametrize("files", [STRUCT, BLIND2])
def test_phi3_cats_copies_and_gemms_match_the_profiler(files):
    for r, ks in _phi3_runs(files, eager_only=True):
        shape = shape_of(r)
        assert shape.family == "phi3"
        step, stack, host = _step(r)
        n = Counter()
        for it in lower(shape, step, stack, host):
            n[it.glue[0] if it.glue and it.name.startswith(("rotary_q_cat", "rotary_k_cat", "cache_cat"))
              else it.name] += it.count
        layers = shape.layers
        # one fused qkv GEMM, o, gate_up, down per layer, the LM head: no q/k/v or gate/up pairs
        # (without cuBLASLt's workspace memsets and split-K reduce kernels: parts of one GEMM item)
        gemm_calls = _calls(ks, lambda k: k["op"] == "aten::mm" and not k["kernel"].startswith("Memset")
                            and "splitKreduce" not in k["kernel"])
        assert gemm_calls == 4 * layers + 1 == (
            n["qkv_proj"] + n["o_proj"] + n["gate_up_proj"] + n["down_proj"] + n["lm_head"])
        generic = _calls(ks, lambda k: k["op"] == "aten::cat" and "CatArrayBatchedCopy<" in k["kernel"])
        vector = _calls(ks, lambda k: k["op"] == "aten::cat" and "CatArrayBatchedCopy_vectorized" in k["kernel"])
        # rotate_half's cat, the pass-part cat and the KV-cache cat, by template (the rotary table's fp32 cat
        # is one per step: generic in prefill, vectorised at one token)
        table = 1
        assert generic + vector == n["cat_transposed"] + n["cat_append"] + table, r["run_id"]
        one_token = int(r["seq_len"]) == 1
        assert generic - (0 if one_token else table) == n["cat_transposed"], (r["run_id"], generic)
        # prefill: cuDNN's output in q's (b, h, s, d) layout is made contiguous once per layer; decode: none
        copies = _calls(ks, lambda k: k["op"] == "aten::copy_" and k["category"] == "copy")
        assert copies == n["attn_out_contiguous"] == (0 if one_token else layers), (r["run_id"], copies)


def test_phi3_kernel_count_within_the_structure_tolerance():
    for files in (STRUCT, BLIND2):
        for r, ks in _phi3_runs(files):
            shape = shape_of(r)
            # without memsets and split-K reduce kernels (parts of GEMM / attention items)
            measured = _calls(ks, lambda k: not k["kernel"].startswith("Memset") and "splitKreduce" not in k["kernel"])
            modelled = len(sequence(shape, *_step(r)))
            # not separate items (as for Llama, round 1's tolerance): the prologue's position arange/add or
            # position-id copy, and cuDNN's split-KV reduction kernel at decode (one per attention item)
            assert 0 <= measured - modelled <= 2 + 1.5 * shape.layers, (r["run_id"], measured, modelled)


def test_phi3_decode_cache_cat_is_vectorised_for_k_and_generic_for_v_above_batch_1():
    shape = ModelShape(name="p", hidden=384, heads=4, kv_heads=4, ffn=768, vocab=100, layers=1, family="phi3")
    for batch, classes in ((1, ["cat_append", "cat_append"]), (4, ["cat_append", "cat_transposed"])):
        layer = parts(shape, Step(phase="decode", batch=batch, seq_len=1, context=32), "hf")[1]
        assert [it.glue[0] for it in layer if it.name.startswith("cache_cat")] == classes
    for stack in ("plain", "fused"):
        with pytest.raises(ConfigError, match="Phi-3 profile"):
            lower(shape, Step(phase="prefill", batch=1, seq_len=8), stack)


def test_round_2_points_are_the_committed_points_and_its_blind_errors_use_the_committed_file():
    doc = committed("blind-2")
    assert doc["points"] == points("blind-2") and doc["model_commit"]
    pred = {(p["id"], p["host"]): p["gpu_s"] for p in doc["predictions"]}
    rows = compare_blind(device_calibration("h200", "own"), rnd="blind-2")
    assert len(rows) == len(pred) == 68 and {r["point_id"][0] for r in rows} == {"c"}
    for r in rows:
        assert r["blind_gpu_s"] == pred[(r["point_id"], r["host"])]
    groups = blind_summary(rows)["groups"]
    assert {"hf/eager", "hf/cuda-graph", "plain/eager", "fused/cuda-graph"} <= set(groups)
    text = section(rows, blind_summary(rows), "blind-2", "round two")
    assert "## Blind round 2" in text and get_round("blind-2").predictions in text and text.count("\n| c") == 68


def test_rounds_are_told_apart_by_file_and_point_ids(tmp_path):
    assert round_of_csv(measurement("h200", BLIND2[0])).name == "blind-2"
    assert round_of_csv(measurement("h200", "h200-blind-whole-2026-12-01.csv")).name == "blind"
    assert round_of_csv(measurement("h200", "h200-wm-whole-2026-12-01.csv")) is None
    copy = tmp_path / "renamed-whole.csv"
    copy.write_text(measurement("h200", BLIND2[0]).read_text())
    assert round_of_csv(copy).name == "blind-2"
    with pytest.raises(ConfigError, match="unknown blind round"):
        get_round("blind-9")


def test_compare_prints_round_2_with_its_committed_file(tmp_path):
    r = subprocess.run([sys.executable, "-m", "archsim", "compare", str(measurement("h200", BLIND2[0])), "--hw",
                        "h200", "--rows", "worst", "--plot", str(tmp_path / "p.html")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "blind set (blind-2)" in r.stdout and "h200-blind2-predictions-2026-12-01.json" in r.stdout
    assert r.stdout.count("\nc") >= 68  # one line per round-2 step (point ids c01..c36)
