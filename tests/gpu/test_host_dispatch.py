"""Host-dispatch calibration (archsim.gpu.host): least-squares per-layer lines, the layer-sweep and ops CSVs of
campaigns/host_dispatch.py, and what the committed H200 sweep shows (width-flat, mixed order dearer)."""

from __future__ import annotations

import csv

import pytest

from archsim.data import measurement
from archsim.errors import ConfigError
from archsim.gpu.host import (
    HostModel,
    fit_per_layer,
    load_layer_sweep,
    load_state_lines,
    mixed_order_factor,
    path_lines,
    state_lines,
    state_ratio,
    with_layer_sweep,
)

LAYERS = "h200-host-layers-2026-12-01.csv"
OPS = "h200-host-ops-2026-12-01.csv"


def test_fit_per_layer_is_least_squares_and_needs_two_depths():
    assert fit_per_layer([(1, 2.0), (3, 4.0)]) == pytest.approx((1.0, 1.0))
    # (1, 1), (2, 3), (3, 3): slope 1, intercept 1/3
    assert fit_per_layer([(1, 1.0), (2, 3.0), (3, 3.0)]) == pytest.approx((1.0 / 3.0, 1.0))
    with pytest.raises(ValueError):
        fit_per_layer([(2, 1.0), (2, 1.5)])


def _write(path, fields, rows):
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow(dict(zip(fields, r, strict=True)))


def test_layer_sweep_pools_widths_per_stack_and_names_bad_rows(tmp_path):
    p = tmp_path / "layers.csv"
    _write(p, ["stack", "width", "layers", "host_s"],
           [("plain:decode", 256, 1, 2e-3), ("plain:decode", 4096, 3, 4e-3), ("plain:decode", 4096, 1, 2e-3),
            ("hf-gpt2:decode", 64, 1, 1e-3), ("hf-gpt2:decode", 64, 2, 1.5e-3)])
    sweep = load_layer_sweep(p)
    fixed, per = sweep[("plain", "decode")]
    assert per == pytest.approx(1e-3) and fixed == pytest.approx(1e-3)
    assert sweep[("hf-gpt2", "decode")] == pytest.approx((0.5e-3, 0.5e-3))
    bad = tmp_path / "bad.csv"
    _write(bad, ["stack", "width", "layers", "host_s"], [("plain", 64, 1, 1e-3)])
    with pytest.raises(ConfigError, match="bad.csv:2"):
        load_layer_sweep(bad)
    one = tmp_path / "one.csv"
    _write(one, ["stack", "width", "layers", "host_s"], [("plain:decode", 64, 1, 1e-3)])
    with pytest.raises(ConfigError, match="one layer count"):
        load_layer_sweep(one)


def test_mixed_order_factor_is_the_median_ratio_and_scales_only_per_kernel_costs(tmp_path):
    p = tmp_path / "ops.csv"
    f = ["op", "order", "width", "tokens", "host_us_per_call"]
    _write(p, f, [("add", "loop", 64, 1, 10), ("linear", "loop", 64, 1, 30), ("item_sync", "loop", 64, 1, 999),
                  ("mix", "mixed", 64, 1, 30), ("add", "loop", 256, 1, 10), ("mix", "mixed", 256, 1, 12),
                  ("add", "loop", 1024, 1, 10), ("mix", "mixed", 1024, 1, 20)])
    assert mixed_order_factor(p) == pytest.approx(1.5)  # ratios 1.5, 1.2, 2.0
    m = HostModel(source="t", per_kernel={"add": 1e-5, "linear": 2e-5, "sdpa_flash": 5e-5, "cat": 1e-5},
                  stack_layer={("plain", "decode"): (1e-3, 5e-4)})
    m2 = with_layer_sweep(m, {("hf", "decode"): (0.0, 1e-3)}, 1.5, "sweep")
    assert m2.eager_host_s("fused", "decode", 8, ["gemm", "norm"]) == pytest.approx(1.5 * 3e-5)
    assert m2.eager_host_s("plain", "decode", 8, ["gemm"]) == pytest.approx(1e-3 + 8 * 5e-4)  # per-layer: unscaled
    assert m2.eager_host_s("hf", "decode", 2, []) == pytest.approx(2e-3) and "sweep" in m2.source
    empty = tmp_path / "empty.csv"
    _write(empty, f, [("add", "loop", 64, 1, 10)])
    with pytest.raises(ConfigError, match="no mixed-order row"):
        mixed_order_factor(empty)


def test_committed_h200_sweep_is_flat_in_width_and_mixed_order_costs_more():
    rows = list(csv.DictReader(open(measurement("h200", LAYERS))))
    for stack in ("plain:decode", "plain:prefill", "hf-gpt2:decode"):
        slopes = []
        for w in sorted({r["width"] for r in rows if r["stack"] == stack}):
            pts = [(int(r["layers"]), float(r["host_s"])) for r in rows if r["stack"] == stack and r["width"] == w]
            slopes.append(fit_per_layer(pts)[1])
        assert max(slopes) < 1.35 * min(slopes), stack  # 16x-64x wider layers: per-layer host within noise
    assert 1.1 < mixed_order_factor(measurement("h200", OPS)) < 2.0


def test_state_lines_split_each_depth_at_1_3x_its_fastest_call():
    lines = state_lines({1: [1.0, 1.2, 1.9, 2.0], 2: [2.0, 2.5, 3.5], 4: [4.0, 4.1]}, "t")
    assert lines.fast == pytest.approx(fit_per_layer([(1, 1.1), (2, 2.25), (4, 4.05)]))
    assert lines.slow == pytest.approx((0.4, 1.55))  # medians 1.95 at 1 layer and 3.5 at 2
    f, s = lines.fast, lines.slow
    assert lines.line() == pytest.approx(((f[0] * s[0]) ** 0.5, (f[1] * s[1]) ** 0.5))
    assert lines.line("fast") == f and lines.line("slow") == s
    one_state = state_lines({1: [1.0, 1.1], 3: [3.0]}, "t")
    assert one_state.slow is None and one_state.line() == one_state.fast
    with pytest.raises(ConfigError, match="slow host state"):
        one_state.line("slow")
    with pytest.raises(ConfigError, match="two or more layer counts"):
        state_lines({2: [1.0, 5.0]}, "t")


def test_committed_interleaved_sweep_host_cost_is_flat_in_width_and_linear_in_depth():
    import statistics
    gen = list(csv.DictReader(open(measurement("h200", "h200-hw-gen-2026-12-01.csv"))))
    by: dict = {}
    for r in gen:
        by.setdefault((int(r["width"]), int(r["layers"]), r["attn"]), []).append(float(r["wall_s"]) / 16)
    for attn in ("eager", "sdpa"):
        lines = load_state_lines(measurement("h200", "h200-hw-gen-2026-12-01.csv"),
                                 {"part": "gen", "role": "calib", "attn": attn}, per_token=True)
        fixed, per_layer = lines.fast
        for (w, lay, a), xs in by.items():
            if a != attn:
                continue
            if w == 64:  # the width-64 calibration: linear in depth within 6 % (fast-state medians)
                fast = [x for x in xs if x <= 1.3 * min(xs)]
                assert statistics.median(fast) == pytest.approx(fixed + lay * per_layer, rel=0.06), (lay, a)
            else:  # widths 768..1600 and the GPT-2 S..XL shapes: their fastest call on the width-64 line
                assert min(xs) == pytest.approx(fixed + lay * per_layer, rel=0.08), (w, lay, a)
    paths = measurement("h200", "h200-hw-paths-2026-12-01.csv")
    engine = load_state_lines(paths, {"path": "engine-prefill", "width": "256"}).fast
    plain = load_state_lines(paths, {"path": "plain-prefill", "width": "256"}).fast
    assert engine[1] == pytest.approx(plain[1], rel=0.1)  # the serving engine's prefill costs what PlainLlama's does


def test_path_lines_take_the_fast_state_from_the_path_sweep_and_the_slow_state_ratio_from_generate(tmp_path):
    gen = tmp_path / "gen.csv"
    _write(gen, ["part", "role", "attn", "layers", "tokens", "round", "wall_s", "host_s"],
           [("gen", "calib", "eager", 1, 1, 0, 1.0, 1.0), ("gen", "calib", "eager", 1, 1, 1, 1.5, 1.5),
            ("gen", "calib", "eager", 3, 1, 0, 2.0, 2.0), ("gen", "calib", "eager", 3, 1, 1, 3.5, 3.5)])
    assert state_ratio(gen) == pytest.approx((1.0, 2.0))  # fast 0.5 + 0.5 L, slow 0.5 + 1.0 L
    paths = tmp_path / "paths.csv"
    _write(paths, ["part", "path", "width", "layers", "round", "wall_s", "host_s"],
           [("paths", "p", 256, 1, 0, 0, 1.0), ("paths", "p", 256, 2, 0, 0, 1.5), ("paths", "p", 256, 2, 1, 0, 9.0),
            ("paths", "q", 256, 2, 0, 0, 7.0)])
    lines = path_lines("p", 256, paths, gen)
    assert lines.fast == pytest.approx((0.5, 0.5))  # the 9.0 spike is not a state
    assert lines.slow == pytest.approx((0.5, 1.0))
    with pytest.raises(ConfigError, match="no rows"):
        path_lines("p", 4096, paths, gen)


def test_committed_paths_serving_prefill_and_minillama_state_bands():
    # the serving engine's 8-layer eager prefill and MiniLlama's 4-layer decode, fast .. slow host state
    for path, layers, lo, hi in (("engine-prefill", 8, 4.0e-3, 9.5e-3), ("minillama-decode", 4, 1.4e-3, 3.5e-3)):
        lines = path_lines(path)
        fast, slow = (lines.line(s)[0] + layers * lines.line(s)[1] for s in ("fast", "slow"))
        assert lo < fast < slow < hi, path
    wide = path_lines("engine-prefill", 4096).fast
    assert wide[1] == pytest.approx(path_lines("engine-prefill").fast[1], rel=0.05)  # 16x wider: same per layer
