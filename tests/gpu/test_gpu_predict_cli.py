"""predict / compare / backend through their public entry points."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

import archsim
from archsim.data import MEASUREMENTS_DIR
from archsim.errors import ConfigError
from archsim.gpu.compare import compare, summarise
from archsim.gpu.predict import predict_attention, predict_gemm

DATA = MEASUREMENTS_DIR


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archsim", *args], capture_output=True, text=True, timeout=120)


def test_predict_attention_cli_prints_json():
    r = cli("predict", "attention", "--hw", "h100-sxm", "--impl", "flash2", "--batch", "2", "--heads", "16",
            "--kv-heads", "4", "--seq-q", "2048", "--seq-kv", "2048", "--head-dim", "128", "--causal",
            "--dtype", "bf16")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["latency_s"] > 0 and out["tflops"] > 0 and out["bound"].startswith(("compute", "memory", "latency"))
    # tflops is useful work: causal pairs only
    useful = 4 * 2 * 16 * 128 * (2048 * 2049 // 2)
    assert out["tflops"] == pytest.approx(useful / out["latency_s"] / 1e12)


def test_predict_bad_input_exits_2_without_traceback():
    r = cli("predict", "attention", "--impl", "flash3")
    assert r.returncode == 2 and "'--impl': 'flash3' is not one of" in r.stderr and "Traceback" not in r.stderr
    r = cli("predict", "gemm", "--m", "0")
    assert r.returncode == 2 and "'--m'" in r.stderr and "greater than or equal to 1" in r.stderr
    r = cli("predict", "gemm", "--hw", "no-such-gpu")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_decode_is_memory_bound_and_gemm_compute_bound():
    dec = predict_attention("h100-sxm", "flash2", batch=64, heads=32, kv_heads=8, seq_q=1, seq_kv=16384, head_dim=128)
    kv_bytes = 2 * 64 * 8 * 16384 * 128 * 2
    assert kv_bytes / dec.latency_s < 3.4e12  # never faster than HBM allows
    big = predict_gemm("h100-sxm", m=8192, n=8192, k=8192)
    assert big.bound == "power" and 600 < big.tflops < 800  # tensor-core work runs into the 700 W board limit


def test_h200_is_faster_than_h100_only_where_memory_bound():
    kw = dict(batch=8, heads=32, kv_heads=8, seq_q=1, seq_kv=65536, head_dim=128)
    h100 = predict_attention("h100-sxm", "flash-decoding", **kw)
    h200 = predict_attention("h200", "flash-decoding", **kw)
    # below 4.8 / 3.35 TB/s: the calibrated copy bandwidths (4.27 / 3.02 TB/s), near the H200's 700 W limit
    # (cp.async streams at the TMA energy, archsim/data/measurements/h200/power-h200-2026-12-01-padded.csv)
    assert h100.bound == "memory:hbm" and h200.bound in ("memory:hbm", "power")
    assert 1.15 < h100.latency_s / h200.latency_s < 1.5
    g100, g200 = predict_gemm("h100-sxm", m=8192, n=8192, k=8192), predict_gemm("h200", m=8192, n=8192, k=8192)
    assert g200.latency_s == pytest.approx(g100.latency_s, rel=0.02)


def test_flash_decoding_needs_one_query():
    with pytest.raises(ConfigError, match="seq-q must be 1"):
        predict_attention("h100-sxm", "flash-decoding", batch=1, heads=8, seq_q=4, seq_kv=64, head_dim=64)


def test_compare_on_committed_h100_validation(tmp_path):
    rows, skipped = compare(DATA / "h100" / "h100-validation-2026-11-23.csv", "h100-sxm")
    s = summarise(rows)
    assert len(rows) > 200 and all(math.isfinite(r["error"]) for r in rows)
    assert {r["impl"] for r in skipped} >= {"efficient"}
    # regression guard on the validation result reported in reports/gpu-validation.md
    assert s["all"]["mape"] < 0.20 and s["by_family"]["prefill/flash2"]["mape"] < 0.12


def test_compare_cli_writes_plot_and_rejects_non_csv(tmp_path):
    plot, svg = tmp_path / "p.html", tmp_path / "p.svg"
    r = cli("compare", str(DATA / "h200" / "h200-validation-2026-11-23.csv"), "--hw", "h200", "--plot", str(plot),
            "--svg", str(svg), "--rows", "worst")
    assert r.returncode == 0, r.stderr
    assert "MAPE" in r.stdout and "prefill/flash2" in r.stdout
    assert plot.read_text().count("parity") >= 1 and svg.read_text().startswith("<svg")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    r = cli("compare", str(bad))
    assert r.returncode == 2 and "not a validation CSV" in r.stderr


def test_archsim_run_uses_the_gpu_backend_on_gpu_presets():
    res = archsim.simulate("llama2-7b-serving", "h100-sxm")
    assert res.backend == "gpu"
    assert all(o.time_s > 0 and math.isfinite(o.time_s) for o in res.ops)
    roof = archsim.simulate("llama2-7b-serving", "h100-sxm", backend="roofline")
    assert res.latency_s > roof.latency_s  # the roofline is a lower bound of the wave model's time


def test_campaign_helpers_on_cpu():
    pytest.importorskip("torch")
    import torch
    from archsim.campaigns import gpu_kernels as campaign

    from archsim.operators import causal_pairs
    for sq, skv in [(1, 10), (7, 7), (5, 9), (9, 5)]:
        assert campaign.causal_pairs(sq, skv) == causal_pairs(sq, skv)
    assert len(campaign.cases("full")) > len(campaign.cases("h200")) > 20
    campaign.DEVICE = "cpu"
    try:
        q, k, v = campaign.make_qkv(1, 4, 2, 5, 9, 16)
        ref = torch.nn.functional.scaled_dot_product_attention(
            q.float(), k.float().repeat_interleave(2, 1), v.float().repeat_interleave(2, 1),
            attn_mask=torch.ones(5, 9, dtype=torch.bool).tril(9 - 5))
        assert campaign.rel_err(ref[0, :2], campaign.attn_ref(q, k, v, causal=True)) < 1e-5
    finally:
        campaign.DEVICE = "cuda"
