"""The prefill-parts calibration rows (issue 22): the model prices the kernels the campaign ran, and glue
operations take their energy from the kernel template they launch."""

from __future__ import annotations

import pytest

from archsim.gpu import energy_prefill as ep
from archsim.gpu.devices import device_calibration
from archsim.gpu.power_validation import EnergyPricer, mini_llama_sequence
from archsim.gpu.stacks import Step


@pytest.fixture(scope="module")
def cal():
    return device_calibration("h200")


def test_glue_variant_runs_no_second_rmsnorm():
    seq = mini_llama_sequence(2, Step(phase="prefill", batch=1, seq_len=64, context=0), 1024, 8, 2816, context=64)
    glue = ep.variant_items(seq, "glue")
    assert not any(it.name.startswith("norm2_") for it in glue)
    assert len(glue) == 2 * 23
    assert len(ep.variant_items(seq, "all")) == len(seq)
    assert {it.category for it in ep.variant_items(seq, "gemm")} == {"gemm"}


def test_modelled_glue_kernels_match_the_profiled_count(cal):
    rows = ep.rows(cal)
    glue = [r for r in rows if r["variant"] == "glue"]
    assert len(glue) == 10
    for r in glue:  # the profiler counted every kernel of one replay: the model's list must be the same length
        assert r["modeled_kernels"] == r["measured_kernels"]
        assert 0.8 < r["modeled_gpu_s"] / r["measured_kernel_s"] < 1.25


def test_glue_operations_take_their_templates_energy(cal):
    t = cal.glue.templates
    assert (t["to_fp32"], t["mean_lastdim"], t["cat_transposed"], t["mul_rowscale"]) == (
        "unrolled", "reduce", "cat", "strided2")
    pricer = EnergyPricer(cal)
    big = 2 * cal.rates.l2_bytes  # HBM-resident: the template's measured J/B as it is
    assert pricer.glue_j("to_fp32", big, big) == pytest.approx(2 * big * pricer.glue["unrolled"])
    assert pricer.glue_j("cat_transposed", big, big) > pricer.glue_j("add", big, big)
    small = 1e6  # L2-resident: the same less the HBM energy per byte
    assert pricer.glue_j("to_fp32", small, small) == pytest.approx(
        2 * small * (pricer.glue["unrolled"] - pricer.power.hbm_j_per_byte))


def test_baseline_pricer_prices_glue_as_the_energy_path(cal):
    from archsim.gpu.baselines import CostPricer
    from archsim.gpu.stacks import KernelItem
    it = KernelItem(category="norm", name="to_fp32", glue=("to_fp32", 4e6, 8e6))
    t, e = CostPricer(cal)(it)
    assert e == pytest.approx(EnergyPricer(cal).glue_j("to_fp32", 4e6, 8e6))
    assert t == pytest.approx(cal.glue.time_s("to_fp32", 4e6, 8e6))
