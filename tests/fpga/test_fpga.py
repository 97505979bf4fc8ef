"""FPGA model: pipelines, FIFO back-pressure, resource fit, Edge-MoE and SWAT properties."""

from __future__ import annotations

import dataclasses

import pytest

from archsim import presets
from archsim.api import simulate
from archsim.fpga.design import UnifiedDesign, UnifiedDesignConfig
from archsim.fpga.device import FpgaPart, ResourceOveruseError, bram_for_array, check_fit, dsps_per_multiplier
from archsim.fpga.edge_moe import attention_bandwidth_sweep, patch_reordering, workload
from archsim.fpga.regions import AxiPort, Fifo, HlsRegion, Pipeline, Stage
from archsim.fpga.swat import SwatConfig, baseline_cycles, swat_cycles, swat_design


@pytest.fixture(scope="module")
def zcu102() -> FpgaPart:
    return FpgaPart.from_device(presets.load_hardware("zcu102"))


def test_pipeline_cycles_formula():
    assert Pipeline(trip_count=100, ii=1, depth=10).cycles == 109
    assert Pipeline(trip_count=100, ii=3, depth=10).cycles == 307
    assert Pipeline(trip_count=0).cycles == 0
    with pytest.raises(ValueError):
        Pipeline(trip_count=5, ii=0)


def _chain(fifo_depth: int, burst: int) -> HlsRegion:
    return HlsRegion("chain", [
        Stage("src", 200, 1, 4, outputs=("a",)),
        Stage("mid", 200, 1, 4, inputs=("a",), outputs=("b",), burst=burst),
        Stage("sink", 200, 1, 4, inputs=("b",)),
    ], [Fifo("a", fifo_depth), Fifo("b", fifo_depth)])


def test_region_matches_analytic_when_fifos_are_deep():
    r = _chain(fifo_depth=64, burst=1).simulate(300e6)
    assert r.cycles == pytest.approx(r.analytic_cycles, rel=0.02)


def test_back_pressure_from_shallow_fifo_slows_a_bursty_producer():
    shallow = _chain(fifo_depth=1, burst=16).simulate(300e6)
    deep = _chain(fifo_depth=32, burst=16).simulate(300e6)
    assert shallow.cycles > deep.cycles * 1.3          # producer blocked on a full FIFO
    assert shallow.stall_cycles["mid"] > 0
    assert deep.cycles < deep.analytic_cycles + 40     # a deep FIFO absorbs the burst


def test_shared_port_serialises_its_users():
    port = AxiPort("p", bytes_per_cycle=16)
    region = HlsRegion("two_readers", [
        Stage("r0", 100, 1, 1, port="p", offchip_bytes_per_token=32),
        Stage("r1", 100, 1, 1, port="p", offchip_bytes_per_token=32),
    ], [], [port])
    r = region.simulate(300e6)
    assert r.cycles >= 400  # 2 x 100 x 32 B through 16 B/cycle
    assert r.port_bytes["p"] == 6400


def test_unbalanced_fifo_is_rejected():
    with pytest.raises(ValueError, match="deadlock"):
        HlsRegion("bad", [Stage("a", 10, 1, outputs=("f",)), Stage("b", 9, 1, inputs=("f",))], [Fifo("f")])


def test_primitive_costs():
    assert dsps_per_multiplier(16, 16) == 1
    assert dsps_per_multiplier(32, 16) == 2
    assert dsps_per_multiplier(32, 32) == 4
    assert bram_for_array(72, 512) == 1
    assert bram_for_array(4096, 576) == 57 * 2
    assert bram_for_array(8, 64) == 0  # 512 bits: LUTRAM


def test_edge_moe_fits_zcu102_and_oversized_design_names_the_resource(zcu102):
    util = check_fit(UnifiedDesign(UnifiedDesignConfig(), zcu102).design, zcu102)
    assert 0 < util["dsp"] < 1 and util["axi_ports"] == 5 / 6
    big = UnifiedDesign(UnifiedDesignConfig(linear_in=64, linear_out=64), zcu102)
    with pytest.raises(ResourceOveruseError, match="DSP slices") as err:
        check_fit(big.design, zcu102)
    assert "linear_unit" in str(err.value)


def test_too_many_axi_ports_is_an_error(zcu102):
    cfg = UnifiedDesignConfig(ports=("inout1", "inout2", "inout3", "inout4", "weights", "extra1", "extra2"))
    with pytest.raises(ResourceOveruseError, match="AXI ports"):
        check_fit(UnifiedDesign(cfg, zcu102).design, zcu102)


def test_reordered_attention_needs_flat_bandwidth_naive_grows():
    rows = attention_bandwidth_sweep([1, 2, 4, 8, 16, 32])
    need = {(r["scheme"], r["parallelism"]): r["required_bandwidth_bytes_per_s"] for r in rows}
    assert need[("naive", 1)] == pytest.approx(need[("reordered", 1)])
    assert need[("naive", 32)] / need[("naive", 1)] > 16
    assert need[("reordered", 32)] / need[("reordered", 1)] < 2
    lat = {(r["scheme"], r["parallelism"]): r["latency_s_on_part"] for r in rows}
    assert lat[("reordered", 8)] < lat[("reordered", 4)] < lat[("naive", 4)]


def test_patch_reordering_loads_each_expert_once():
    out = patch_reordering()
    assert out["per_patch_weight_bytes"] > 10 * out["reordered_weight_bytes"]
    assert out["per_patch_latency_s"] > out["reordered_latency_s"]


def test_simulate_on_zcu102_uses_fpga_backend_and_event_agrees_with_analytic():
    event = simulate(workload(), "zcu102")
    analytic = simulate(workload(), "zcu102", backend="fpga-analytic")
    assert event.backend == "fpga"
    assert 0.005 < event.latency_s < 0.2
    assert event.latency_s == pytest.approx(analytic.latency_s, rel=0.05)
    attention = sum(o.total_time_s for o in event.ops if o.kind == "attention")
    assert 0.2 < attention / event.latency_s < 0.8  # port-bound attention is the largest part


def test_swat_scales_linearly_and_beats_dense_baseline_more_at_long_sequences():
    part = FpgaPart.from_device(presets.load_hardware("alveo-u280"))
    cfg = SwatConfig()
    check_fit(swat_design(cfg, part), part)
    s1, _, _ = swat_cycles(2048, cfg, part, event=False)
    s2, _, _ = swat_cycles(4096, cfg, part, event=False)
    b1, _, _ = baseline_cycles(2048, cfg, part)
    b2, _, _ = baseline_cycles(4096, cfg, part)
    assert s2 / s1 == pytest.approx(2.0, rel=0.05)
    assert b2 / b1 == pytest.approx(4.0, rel=0.1)
    ev, _, _ = swat_cycles(2048, cfg, part, event=True)
    assert ev == pytest.approx(s1, rel=0.05)


def test_swat_too_many_lanes_overflows_dsps():
    part = FpgaPart.from_device(presets.load_hardware("alveo-u280"))
    cfg = dataclasses.replace(SwatConfig(), lanes_per_unit=8192)
    with pytest.raises(ResourceOveruseError, match="DSP slices"):
        check_fit(swat_design(cfg, part), part)


def test_softmax_and_gelu_cycles_come_from_the_rtl_unit_models(zcu102):
    """The design's softmax/GELU stage cycles equal archsim.engine.fixed_units' for the same sizes."""
    from archsim.engine.fixed_units import EdgeSoftmaxUnit, GeluUnit

    design = UnifiedDesign(UnifiedDesignConfig(), zcu102)
    p = design.config.attn_parallel
    for seq, keys in ((129, None), (64, 24)):
        qk = design.attention("attn", seq, 3, 64, window=keys)[0]
        stage = next(s for s in qk.region.stages if s.name == "online_softmax")
        n_keys = keys or seq
        blocks = -(-seq // p)
        # one unit per (query lane, padded head): a query block costs one RTL row of n_keys scores
        assert stage.work_cycles == pytest.approx(blocks * EdgeSoftmaxUnit(max_length=n_keys).cycles(n_keys))
        assert stage.work_cycles == pytest.approx(blocks * (2 * n_keys + 23))
    rows, out_dim = 129, 768
    fc1 = design.linear("fc1", rows, out_dim, 192, gelu=True)[-1]
    gelu = next(s for s in fc1.region.stages if s.name == "gelu")
    per_unit = rows * (-(-out_dim // design.config.linear_out))
    assert gelu.work_cycles + gelu.depth_cycles == GeluUnit().cycles(per_unit)
    assert not any(s.name == "gelu" for s in design.linear("proj", rows, 192, 192)[-1].region.stages)
    # resources: one softmax unit per (lane, padded head), linear_out GELU units, per-unit bill
    from archsim.fpga.design import unit_resources

    one_softmax, _ = unit_resources("edge_softmax")
    one_gelu, _ = unit_resources("gelu_unit")
    assert design.design.blocks["softmax_units"] == one_softmax.scaled(p * 4)
    assert design.design.blocks["gelu_units"] == one_gelu.scaled(design.config.linear_out)


def test_unit_resources_read_rtl_resources_json(tmp_path):
    from archsim.fpga.design import unit_resources

    path = tmp_path / "resources.json"
    path.write_text('{"edge_softmax": {"lut": 812, "ff": 640, "dsp": 1}}')
    res, source = unit_resources("edge_softmax", path)
    assert (res.lut, res.ff, res.dsp) == (812, 640, 1) and "yosys" in source
    res, source = unit_resources("gelu_unit", path)  # block not in the file: the stated fallback
    assert "assumption" in source and res.dsp == 2
