"""Paper GPU baselines under the stack model (archsim.gpu.baselines): structure, host calibration,
transfer to an uncalibrated GPU, energy, and the committed H200 validation."""

from __future__ import annotations

import csv

import pytest

from archsim.errors import ConfigError
from archsim.gpu import baselines as B
from archsim.presets import load_model


def test_gpt2_step_kernel_structure_follows_the_hf_code():
    m = load_model("gpt2-small")
    sdpa, eager = B.gpt2_step(m, 10, "sdpa"), B.gpt2_step(m, 10, "eager")
    fixed = 3 + B.GENERATE_MISC_KERNELS + 4  # embeddings + generate bookkeeping + ln_f, lm_head, fp32 copy, argmax
    assert len(sdpa) == fixed + 12 * 19  # per layer: 2 norms, 4 GEMMs, 2 cache cats, 1 SDPA, 8 gelu_new, 2 adds
    assert len(eager) == fixed + 12 * 23  # eager attention: matmul, scale, mask add, softmax, matmul
    cats = [it for it in sdpa if it.name == "cache_cat_k"]
    assert cats[0].glue[1] == 12 * 11 * 64 * 2  # the whole K cache is copied at every step
    with pytest.raises(ConfigError, match="attention implementation"):
        B.gpt2_step(m, 10, "flash")
    with pytest.raises(ConfigError, match="GPT-2-style"):
        B.gpt2_step(load_model("llama-2-7b"), 10)


def test_modelled_kernel_counts_match_the_profiled_runs_within_10_percent():
    for r in B.validate_gpt2():
        assert r["modeled_kernels"] == pytest.approx(r["measured_kernels"], rel=0.1), r["run_id"]


def test_host_calibration_is_fixed_plus_per_layer_from_the_tiny_models(tmp_path):
    path = tmp_path / "host.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["run_id", "layers", "attn_impl", "wall_s_per_token", "ok"])
        w.writeheader()
        w.writerow({"run_id": "a", "layers": 1, "attn_impl": "eager", "wall_s_per_token": 0.003, "ok": 1})
        w.writerow({"run_id": "b", "layers": 3, "attn_impl": "eager", "wall_s_per_token": 0.004, "ok": 1})
    h = B.gpt2_host("eager", str(path))
    assert h.per_layer_s == pytest.approx(0.0005) and h.fixed_s == pytest.approx(0.0025)
    assert h.host_s(48) == pytest.approx(0.0025 + 48 * 0.0005)
    with pytest.raises(ConfigError, match="two or more layer counts"):
        B.gpt2_host("sdpa", str(path))
    bad = tmp_path / "bad.csv"
    bad.write_text("run_id,layers\nx,1\n")
    with pytest.raises(ConfigError, match="bad.csv"):
        B.gpt2_host("eager", str(bad))


def test_host_calibration_fits_a_line_over_every_depth_of_the_sweep(tmp_path):
    # host-dispatch sweep format (attn, part): rows of other parts and implementations are not fitted
    path = tmp_path / "gen.csv"
    rows = [("generate", "eager", 1, 0.003), ("generate", "eager", 3, 0.004), ("generate", "eager", 12, 0.011),
            ("generate", "sdpa", 12, 0.5), ("generate-repeat", "eager", 3, 0.9)]
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["part", "width", "layers", "attn", "wall_s_per_token"])
        w.writeheader()
        for part, attn, lay, t in rows:
            w.writerow({"part": part, "width": 64, "layers": lay, "attn": attn, "wall_s_per_token": t})
    h = B.gpt2_host("eager", str(path))
    # least squares through (1, 3), (3, 4), (12, 11) ms: Sxy = 147 - 96 = 51, Sxx = 154 - 256 / 3 = 206 / 3
    slope = 153 / 206 * 1e-3
    assert h.per_layer_s == pytest.approx(slope) and h.fixed_s == pytest.approx(6e-3 - 16 / 3 * slope)


def _hw_gen(path, rows):
    fields = ["part", "role", "attn", "layers", "tokens", "round", "wall_s", "host_s"]
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        for i, (role, attn, lay, ms) in enumerate(rows):
            w.writerow({"part": "gen", "role": role, "attn": attn, "layers": lay, "tokens": 10, "round": i,
                        "wall_s": 10 * ms * 1e-3, "host_s": 10 * ms * 1e-3})


def test_interleaved_sweep_gives_one_line_per_host_state_and_their_geometric_mean(tmp_path):
    # per layer count: fast calls (within 1.3x of the fastest) and slow ones; width rows are not fitted
    path = tmp_path / "hw-gen.csv"
    _hw_gen(path, [("calib", "eager", 1, 2.0), ("calib", "eager", 1, 2.1), ("calib", "eager", 1, 4.0),
                   ("calib", "eager", 3, 3.0), ("calib", "eager", 3, 8.0), ("calib", "eager", 3, 8.0),
                   ("width", "eager", 3, 99.0), ("calib", "sdpa", 1, 1.0)])
    fast, slow = B.gpt2_host("eager", str(path), "fast"), B.gpt2_host("eager", str(path), "slow")
    assert (fast.fixed_s, fast.per_layer_s) == pytest.approx((1.575e-3, 0.475e-3))  # medians 2.05 and 3.0 ms
    assert (slow.fixed_s, slow.per_layer_s) == pytest.approx((2.0e-3, 2.0e-3))  # 4.0 and 8.0 ms
    point = B.gpt2_host("eager", str(path))
    assert point.fixed_s == pytest.approx((1.575e-3 * 2.0e-3) ** 0.5)
    assert point.per_layer_s == pytest.approx((0.475e-3 * 2.0e-3) ** 0.5) and "point" in point.source
    with pytest.raises(ConfigError, match="two or more layer counts"):
        B.gpt2_host("sdpa", str(path))
    with pytest.raises(ConfigError, match="host state"):
        B.gpt2_host("eager", str(path), "medium")


def test_committed_sweep_states_bracket_the_earlier_calibrations_and_every_eager_validation_run():
    from archsim.data import measurement
    fast, slow, point = (B.gpt2_host("eager", state=s) for s in ("fast", "slow", "point"))
    assert 1.5 < slow.per_layer_s / fast.per_layer_s < 2.5  # the slow state: ~1.9x per layer
    assert fast.per_layer_s < point.per_layer_s < slow.per_layer_s
    # the 1..24-layer sweep (host_dispatch, one median per depth) sits near the slow state's slope
    old = B.gpt2_host("eager", str(measurement("h200", B.HOST_CSV_SWEEP)))
    assert abs(old.per_layer_s / slow.per_layer_s - 1) < 0.2
    rows = B.validate_gpt2()
    assert all(r["in_state_band"] for r in rows if r["attn"] == "eager")
    for r in rows:
        assert r["modeled_wall_fast_s"] < r["modeled_wall_s"] < r["modeled_wall_slow_s"]


def test_new_shape_host_cost_is_a_cudnn_plan_per_kv_length_for_sdpa(tmp_path):
    path = tmp_path / "shape.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["op", "heads", "shape", "host_us_per_call"])
        w.writeheader()
        for op, heads, shape, us in (("sdpa", 12, "new", 30020), ("sdpa", 12, "repeated", 20),
                                     ("sdpa", 25, "new", 40020), ("sdpa", 25, "repeated", 20),
                                     ("matmul_qk", 12, "new", 55), ("matmul_qk", 12, "repeated", 15)):
            w.writerow({"op": op, "heads": heads, "shape": shape, "host_us_per_call": us})
    assert B.new_shape_s("sdpa", str(path)) == pytest.approx(35e-3)
    assert B.new_shape_s("eager", str(path)) == pytest.approx(2 * 40e-6)  # QK^T and AV: two new shapes a token
    assert 20e-3 < B.new_shape_s("sdpa") < 60e-3  # committed: ~36 ms a cuDNN plan


def test_transfer_to_the_t4_scales_bandwidth_keeps_floors_and_carries_the_host_over():
    t4, h200 = B.calibration_for("nvidia-t4"), B.calibration_for("h200")
    assert t4.mode == "transfer" and t4.host is h200.host and "carried over" in t4.sources["host"]
    ratio = 4.8e12 / 320e9
    for key in (("vec", "warm"), ("add", "cold")):
        a, b = h200.glue.curves[key], t4.glue.curves[key]
        assert b.floor_s == a.floor_s
        big_a, big_b = a.points[-1][1], b.points[-1][1]
        assert big_b == pytest.approx(a.floor_s + (big_a - a.floor_s) * ratio)
    gemv = B.gemv_stream(B.gemm("w", 1, 4096, 1024))
    assert gemv.glue == ("vec", 2.0 * (1024 + 4096 * 1024), 2.0 * 4096)
    with pytest.raises(ConfigError, match="GEMV-shaped"):
        B.gemv_stream(B.gemm("w", 512, 4096, 1024))
    with pytest.raises(ConfigError, match="not a GPU preset"):
        B.calibration_for("zcu102")


def test_energy_is_static_power_over_the_wall_plus_kernel_energy():
    m = load_model("gpt2-small")
    for hw in ("h200", "nvidia-t4"):
        c = B.gpt2_generate(hw, m, 16)
        static = B.calibration_for(hw).rates.power.static_w
        assert c.energy_j == pytest.approx(static * c.wall_s + c.dynamic_j)
        assert c.wall_s >= max(c.gpu_s, c.host_s) and c.dynamic_j > 0
    # the T4 streams the weights 15x slower: its GPU-busy time grows, the host time does not
    t4, h = B.gpt2_generate("nvidia-t4", m, 16), B.gpt2_generate("h200", m, 16)
    assert t4.gpu_s > 2 * h.gpu_s and t4.host_s == pytest.approx(h.host_s)


def test_h200_validation_gpu_busy_within_15_percent_and_regime_host_bound():
    rows = B.validate_gpt2()
    assert len(rows) == 8
    for r in rows:
        assert abs(r["gpu_error"]) < 0.15, r["run_id"]  # kernel sums: the calibrated kernel models
        assert r["bound"] == "host" and r["measured_wall_s"] > 4 * r["measured_gpu_s"]  # framework-bound, measured
    s = B.error_summary(rows, "gpu_error")
    assert s["n"] == 8 and s["mape"] < 0.1


def test_m3vit_eager_has_a_host_sync_per_active_expert_and_matches_the_profiled_structure():
    from archsim.gpu import baselines_vit as V
    model = load_model("m3vit")
    host = B.calibration_for("h200").host.per_kernel
    segs = V.m3vit_segments(model, host)
    moe_layers = sum(1 for i in range(model.num_layers) if i % model.moe.every_n_layers == 1)
    assert len(segs) == moe_layers * (1 + 16) + 1  # unique().tolist() + one nonzero per expert, final sync
    rows = {r["run_id"]: r for r in V.validate_m3vit(model)}
    for run in ("h200-float32", "h200-float16"):
        r = rows[run]
        assert r["modeled_kernels"] == pytest.approx(r["measured_kernels"], rel=0.1)
        assert r["bound"] == "host" and r["measured_wall_s"] > 4 * r["measured_gpu_s"]
        assert r["modeled_power_w"] == pytest.approx(r["measured_energy_j"] / r["measured_wall_s"], rel=0.1)


def test_window_attention_turns_from_host_to_gpu_bound_and_grows_quadratically():
    from archsim.gpu import baselines_vit as V
    small, big = V.window_attention("h200", 1024), V.window_attention("h200", 16384)
    assert small.bound == "host" and big.bound == "gpu"
    assert big.gpu_s / V.window_attention("h200", 8192).gpu_s == pytest.approx(4.0, rel=0.25)
    assert big.avg_power_w <= B.calibration_for("h200").rates.power.limit_w * 1.01
    assert len(V.window_attention_items(2048, 512, 12, 64)) == 4  # where, 2 fills, cuDNN attention with the bias input
