"""Glue-kernel curves and the host-dispatch model: pencil-checkable cases plus the committed H200 data."""

from __future__ import annotations

import math

import pytest

from archsim.data import measurement
from archsim.errors import ConfigError
from archsim.gpu.glue import CLASSES, GlueCurve, load_glue, template_of
from archsim.gpu.host import HostModel, eager_wall_s, graph_wall_s, load_host

GLUE_HEADER = "op,mode,dtype,size_bytes,elements,rows,cols,bytes_read,bytes_written,kernel,kernels_per_call,gpu_us\n"


def test_curve_interpolates_log_log_and_extrapolates_at_the_last_bandwidth():
    c = GlueCurve(cls="vec", mode="warm", points=((1000.0, 1e-6), (10000.0, 2e-6)))
    assert c.time_s(10.0) == 1e-6  # below the smallest size: the floor
    assert c.time_s(1000.0) == 1e-6
    assert c.time_s(math.sqrt(1e7)) == pytest.approx(math.sqrt(2) * 1e-6)  # geometric midpoint
    assert c.time_s(40000.0) == pytest.approx(8e-6)  # 4x the bytes at the last bandwidth
    assert c.bandwidth(10000.0) == pytest.approx(5e9)


def test_template_of_names():
    assert template_of("void at::native::vectorized_elementwise_kernel<8, at::native::CUDAFunctor_add<c10::"
                       "BFloat16>>") == "vec"
    assert template_of("void at::native::vectorized_elementwise_kernel<8, at::native::silu_kernel(x)") == "silu"
    assert template_of("void at::native::elementwise_kernel<128, 4, at::native::gpu_kernel_impl_nocast<at::native::"
                       "silu_kernel") == "strided"
    assert template_of("void at::native::elementwise_kernel<128, 2, foo>") == "strided2"
    assert template_of("CatArrayBatchedCopy_vectorized<x>") == "vec"
    assert template_of("nvjet_sm90_tst_128x64") is None


def test_glue_csv_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "g.csv"
    bad.write_text("op,mode\nadd,warm\n")
    with pytest.raises(ConfigError, match="missing columns"):
        load_glue(bad, "x", 1e6)
    bad.write_text(GLUE_HEADER + "add,warm,bf16,4096,1,1,1,oops,4096,vectorized_elementwise_kernel<8>,1,1.0\n")
    with pytest.raises(ConfigError, match=r"g\.csv:2"):
        load_glue(bad, "x", 1e6)
    bad.write_text(GLUE_HEADER + "add,warm,bf16,4096,1,1,1,8192,4096,vectorized_elementwise_kernel<8>,1,1.0\n")
    with pytest.raises(ConfigError, match="no glue measurements"):  # every class needs warm and cold curves
        load_glue(bad, "x", 1e6)


def test_committed_h200_glue_curves_are_plausible():
    from archsim.gpu.devices import H200_GLUE_CSVS
    g = load_glue(tuple(measurement("h200", f) for f in H200_GLUE_CSVS), "h200", 60 * 2**20)
    assert {c for c, _ in g.curves} == set(CLASSES)
    vec = g.curves[("vec", "cold")]
    assert 3.5e12 < vec.bandwidth(2**31) < 4.8e12  # within the measured 4.25 TB/s copy ceiling's reach
    assert 0.3e-6 < g.curves[("vec", "warm")].floor_s < 2e-6
    assert g.curves[("strided", "cold")].bandwidth(2**31) < 0.6 * vec.bandwidth(2**31)
    # warm below half the L2, cold above: the same bytes cost more once they stop fitting
    assert g.time_s("vec", 8e6, 8e6) < g.curves[("vec", "cold")].time_s(16e6)
    with pytest.raises(ConfigError, match="unknown glue kernel class"):
        g.time_s("nope", 1, 1)


def test_eager_wall_is_max_plus_of_host_issue_and_gpu_queue():
    # host-bound: 3 kernels of 1 s, host 6 s -> issued at 2, 4, 6 -> ends 3, 5, 7
    assert eager_wall_s([1.0, 1.0, 1.0], 6.0, 0.0) == pytest.approx(7.0)
    # GPU-bound: kernels of 5 s issued at 1 and 2 -> 6, then 11
    assert eager_wall_s([5.0, 5.0], 2.0, 0.0) == pytest.approx(11.0)
    assert eager_wall_s([5.0, 5.0], 2.0, 0.5) == pytest.approx(11.5)  # one inter-kernel gap
    assert eager_wall_s([], 3.0, 0.0) == 3.0


def test_graph_wall_and_host_costs():
    m = HostModel(source="t", per_kernel={"add": 1e-5, "linear": 2e-5, "sdpa_flash": 4e-5, "cat": 1e-5},
                  stack_layer={("plain", "decode"): (1e-3, 5e-4)}, graph_launch_s=5e-6,
                  graph_host_per_node_s=2e-7, graph_gap_s=5e-7)
    assert graph_wall_s([1e-5] * 10, m) == pytest.approx(5e-6 + 10 * 2e-7 + 1e-4 + 10 * 5e-7)
    assert m.eager_host_s("plain", "decode", 8, []) == pytest.approx(1e-3 + 8 * 5e-4)
    assert m.eager_host_s("fused", "decode", 8, ["gemm", "attention", "norm"]) == pytest.approx(7e-5)


def test_committed_h200_host_costs():
    h = load_host(measurement("h200", "h200-wm-host-2026-12-01.csv"), 0.9e-6)
    assert {("plain", "decode"), ("hf-llama", "decode"), ("hf-mixtral", "prefill")} <= set(h.stack_layer)
    fixed, per_layer = h.stack_layer[("plain", "decode")]
    assert 1e-4 < per_layer < 5e-3  # hundreds of microseconds of Python + dispatch per layer
    assert h.per_kernel["linear"] > h.per_kernel["add"] > h.graph_host_per_node_s
    assert 0 < h.graph_gap_s < 2e-6


def test_h200_own_calibration_comes_from_h200_microbenchmarks_only():
    import csv

    from archsim.gpu.devices import H200_KERNEL_CSVS, device_calibration
    own, cross = device_calibration("h200", "own"), device_calibration("h200", "cross")
    with open(measurement("h200", "h200-wm-l2reads-2026-12-01.csv"), newline="") as fh:
        best_l2 = max(float(r["value"]) for r in csv.DictReader(fh) if r["bench"] == "read_l2_resident")
    assert own.rates.l2_bw == pytest.approx(best_l2, rel=1e-9)
    assert own.rates.hbm_bw != cross.rates.hbm_bw  # H200's own copy bandwidth vs H100 efficiency x datasheet
    assert all(f in own.sources["kernels"] for f in H200_KERNEL_CSVS) and "H100" in cross.sources["kernels"]
    assert "whole" not in own.sources["glue"] + own.sources["host"] + own.sources["kernels"]
    with pytest.raises(ConfigError, match="calibration mode"):
        device_calibration("h200", "mine")


def test_repeat_kv_points_beyond_l2_reuse_are_left_out():
    from archsim.gpu.glue import _reuse_exceeds_l2
    l2 = 60 * 2**20
    # 8 heads x 4 copies: a 4 MiB source (0.5 MiB per head) stays in L2; a 256 MiB one (32 MiB per head) does not
    small = {"op": "repeat_kv", "bytes_read": str(4 * 2**20), "bytes_written": str(16 * 2**20)}
    big = {"op": "repeat_kv", "bytes_read": str(256 * 2**20), "bytes_written": str(1024 * 2**20)}
    assert not _reuse_exceeds_l2(small, l2) and _reuse_exceeds_l2(big, l2)
    assert not _reuse_exceeds_l2({**big, "op": "clone"}, l2)
    from archsim.gpu.devices import device_calibration
    pts = device_calibration("h200", "own").glue.curves[("repeat_kv", "cold")].points
    assert max(x for x, _ in pts) < 1e9  # the 1.3 and 2.7 GB rows (re-reading their 33-134 MiB blocks) are out


def test_glue_curves_move_to_a_gpu_with_less_copy_bandwidth():
    from archsim.gpu.glue import GlueCurve, GlueModel
    c = GlueCurve(cls="vec", mode="warm", points=((1e3, 1e-6), (1e9, 201e-6)))
    m = c.moved(1.5)
    assert m.points[0] == (1e3, 1e-6) and m.points[1][1] == pytest.approx(1e-6 + 200e-6 * 1.5)
    gm = GlueModel(device="x", source="s", l2_bytes=1e6, curves={("vec", "warm"): c, ("vec", "cold"): c})
    slow = gm.moved("y", 5e5, 3e12, 2e12)
    assert slow.device == "y" and slow.l2_bytes == 5e5 and "moved" in slow.source
    assert slow.curves[("vec", "warm")].points[1][1] == pytest.approx(m.points[1][1])
    with pytest.raises(ConfigError, match="positive"):
        gm.moved("y", 5e5, 0.0, 2e12)
    from archsim.gpu.devices import device_calibration
    h200, h100 = device_calibration("h200"), device_calibration("h100-sxm")
    big, tiny = 5e8, 4e3
    assert h100.glue.time_s("add", big, big / 2) > 1.2 * h200.glue.time_s("add", big, big / 2)  # 3.0 vs 4.25 TB/s
    assert h100.glue.time_s("add", tiny, tiny) == pytest.approx(h200.glue.time_s("add", tiny, tiny))  # floor kept
