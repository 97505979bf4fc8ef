"""Duplex under load: one small capacity search per policy on Mixtral (real models), its figures and report."""

from __future__ import annotations

import pytest

from archsim.pim import duplex_serving as ds


@pytest.fixture(scope="module")
def small_rows():
    label, path, tp = ds.MODELS[0]
    return [ds.row(label, path, tp, "chat", policy, duration_s=4.0, min_requests=25) for policy in ds.POLICIES]


def test_rows_have_a_bracketed_capacity_and_littles_law(small_rows):
    for r in small_rows:
        assert 0 < r["capacity_qps"] < r["fail_qps"]
        assert r["attainment"] >= 0.9 and all(p["little_gap"] < 1e-9 for p in r["probes"])
    gpu, duplex, co = small_rows
    assert "placement" not in gpu
    assert duplex["placement"]["attention_decode_shapes_off_gpu"] == 1.0  # GQA decode attention: Logic-PIM
    assert 0.0 <= duplex["placement"]["experts_off_gpu_time_share"] <= 1.0
    assert co["placement"]["attention_decode_shapes_off_gpu"] == 1.0


def test_markdown_states_paper_ours_ratio(small_rows):
    gpu, duplex, co = small_rows
    gains = [{"model": "mixtral-8x7b", "mix": "chat", "policy": r["policy"],
              "capacity_gain": r["capacity_qps"] / gpu["capacity_qps"],
              "goodput_gain": r["goodput_tokens_per_s"] / gpu["goodput_tokens_per_s"]} for r in (duplex, co)]
    s = {"system": ds.SYSTEM, "slo": {"ttft_ms": 2000.0, "tbt_ms": 100.0}, "target_attainment": 0.9,
         "scheduler_options": {}, "paper": ds.PAPER, "rows": small_rows, "gains": gains,
         "goodput_gain_max": gains[1]["goodput_gain"], "ratio_ours_over_paper": gains[1]["goodput_gain"] / 2.67,
         "price": "iso-price ASSUMPTION"}
    text = ds.markdown(s)
    assert f"| {gains[1]['goodput_gain']:.2f} (goodput at SLO capacity, co-processing) | " \
           f"{gains[1]['goodput_gain'] / 2.67:.2f} |" in text
    assert "Little's law on every probe" in text and text.count("| mixtral-8x7b | 2 | chat |") == 3
