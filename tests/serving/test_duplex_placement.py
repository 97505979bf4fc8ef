"""Duplex-style per-operator placement on the serving simulator: a hand-computed three-request schedule with
known per-operator costs (event by event), and the roofline placement against the steady-state model."""

from __future__ import annotations

import dataclasses

import pytest

from archsim import presets
from archsim.backends.roofline import evaluate_op
from archsim.lowering import lower
from archsim.operators import Attention, MoeExperts
from archsim.pim.logic_die import co_process
from archsim.schemas.workload import Workload
from archsim.serving.duplex_placement import DuplexCost, gpu_only_cost
from archsim.serving.requests import Request
from archsim.serving.schedulers import Deployment, make_scheduler
from archsim.serving.simulator import Simulation

TINY = {"kind": "model", "name": "tiny-moe", "arch": "decoder", "num_layers": 1, "hidden_size": 64, "num_heads": 2,
        "num_kv_heads": 1, "head_dim": 32, "ffn_hidden_size": 128, "ffn_kind": "gated_silu", "norm": "rmsnorm",
        "vocab_size": 128, "max_seq_len": 4096,
        "moe": {"num_experts": 4, "top_k": 1, "expert_ffn_hidden_size": 128, "every_n_layers": 1}}


def tiny_workload() -> Workload:
    return Workload.model_validate({"name": "tiny", "model": TINY, "dtype": "bf16",
                                    "phases": [{"phase": "decode", "batch": 1, "context_len": 1}]})


def known_timer(op, device):
    """Known costs (seconds per execution). MoE experts: xPU 1 ms, Logic-PIM 0.1 ms per routed token (PIM wins
    below 10 tokens). Attention: xPU 2 ms; Logic-PIM 0.5 ms for decode (one query), 4 ms for a prefill chunk.
    Every other operator: xPU 0.1 ms, Logic-PIM 1 s (never chosen)."""
    on_pim = device.name == "duplex-logic-pim"
    if isinstance(op, MoeExperts):
        t = 1e-4 * op.tokens if on_pim else 1e-3
    elif isinstance(op, Attention):
        t = (5e-4 if op.seq_q == 1 else 4e-3) if on_pim else 2e-3
    else:
        t = 1.0 if on_pim else 1e-4
    return dataclasses.replace(evaluate_op(op, device), time_s=t)


def test_three_requests_event_by_event():
    cost = DuplexCost(tiny_workload(), "h100-sxm", timer=known_timer)
    # one layer: 8 per-token operators besides the two MoE expert GEMMs (norm, qkv, out, residual, norm, router,
    # act, residual) = 0.8 ms on the xPU, the LM head 0.1 ms; iteration = 0.9 ms + 2 x min(1, 0.1 x rows) ms
    # + 2 ms with prefill chunks (their attention on the xPU) + 0.5 ms with decodes (on the Logic-PIM).
    reqs = [Request(0, 0.0, 8, 3), Request(1, 0.001, 16, 2), Request(2, 0.002, 4, 1)]
    run = Simulation(reqs, make_scheduler("continuous", Deployment(capacity_blocks=100)), cost).run()
    # it1 [0, 4.5 ms]: prefill A 8 -> rows 8, experts on PIM 2 x 0.8: 0.9 + 1.6 + 2 = 4.5; A1
    # it2 [4.5, 9.9 ms]: decode A + prefill B 16 + C 4 -> rows 21, experts on the xPU 2 x 1: 0.9 + 2 + 2 + 0.5; A2 B1 C1
    # it3 [9.9, 11.7 ms]: decode A, B -> rows 2, experts on PIM 2 x 0.2: 0.9 + 0.4 + 0.5; A3 B2
    got = [(round(i.start_s * 1e3, 9), round(i.end_s * 1e3, 9), i.prefill_tokens, i.prefill_chunks, i.decode_batch)
           for i in run.iterations]
    assert got == [(0.0, 4.5, 8, 1, 0), (4.5, 9.9, 20, 2, 1), (9.9, 11.7, 0, 0, 2)]
    assert [r.token_times_s for r in run.requests] == [pytest.approx([4.5e-3, 9.9e-3, 11.7e-3]),
                                                       pytest.approx([9.9e-3, 11.7e-3]), pytest.approx([9.9e-3])]
    assert [cost.experts_on(n) for n in (8, 21, 2)] == ["logic_pim", "xpu", "logic_pim"]
    shares = cost.placement.shares()
    assert shares["attention:decode"] == {"logic_pim": 2}  # batch 1 and batch 2 decode attention
    assert shares["attention:prefill"] == {"xpu": 2}  # one chunk of 8; two chunks of mean 10


@pytest.fixture(scope="module")
def mixtral():
    model = presets.load("models", "archsim/pim/data/mixtral-8x7b.yaml")
    return model, Workload.model_validate({"name": "mixtral", "model": model.model_dump(), "dtype": "bf16",
                                           "phases": [{"phase": "decode", "batch": 1, "context_len": 1}]})


def test_decode_iteration_places_as_the_steady_state_model(mixtral):
    """A decode-only iteration costs what archsim.pim.logic_die.co_process gives for the same operators."""
    model, wl = mixtral
    xpu, pim = presets.load_hardware("h100-sxm"), presets.load_hardware("duplex-logic-pim")
    cost = DuplexCost(wl, xpu)
    for batch in (1, 8, 64):
        phase = Workload.model_validate({"name": "d", "model": model.model_dump(), "dtype": "bf16", "phases": [
            {"phase": "decode", "batch": batch, "context_len": 100, "steps": 1}]})
        ops = lower(phase, model)
        placed = co_process(ops, xpu, pim, policy="duplex")
        expected = sum(p.result.time_s * p.op.count for p in placed)
        assert cost.composition_s(0, 0, batch, 100) == pytest.approx(expected, rel=1e-12)


def test_duplex_never_slower_and_faster_when_memory_bound(mixtral):
    _, wl = mixtral
    duplex, gpu = DuplexCost(wl, "h100-sxm"), gpu_only_cost(wl, "h100-sxm")
    for comp in ((0, 0, 8, 2048.0), (1, 512, 32, 1000.0), (2, 2048, 0, 0.0), (0, 0, 256, 4096.0)):
        assert duplex.composition_s(*comp) <= gpu.composition_s(*comp) * (1 + 1e-12)
    assert duplex.composition_s(0, 0, 8, 2048.0) < 0.5 * gpu.composition_s(0, 0, 8, 2048.0)
    assert duplex.experts_on(1) == "logic_pim" and duplex.experts_on(4096) == "xpu"


def test_co_processing_splits_attention_and_experts_event_by_event():
    """With co-processing an attention or experts operator runs on both devices, finishing together:
    t = t_x t_p / (t_x + t_p) (the shared-DRAM bound of this tiny model is nanoseconds, never binding)."""
    cost = DuplexCost(tiny_workload(), "h100-sxm", timer=known_timer, co_process=True)
    reqs = [Request(0, 0.0, 8, 3), Request(1, 0.001, 16, 2), Request(2, 0.002, 4, 1)]
    run = Simulation(reqs, make_scheduler("continuous", Deployment(capacity_blocks=100)), cost).run()
    # it1: rows 8, experts 2 x (1 x 0.8 / 1.8) = 0.888889, chunk attention 2 x 4 / 6 = 1.333333: 0.9 + ... = 3.122222
    # it2: rows 21, experts 2 x (2.1 / 3.1) = 1.354839, chunk attention 1.333333, decode attention 2 x 0.5 / 2.5 = 0.4:
    #      3.988172 -> ends 7.110394
    # it3: rows 2, experts 2 x (0.2 / 1.2) = 0.333333, decode attention 0.4: 1.633333 -> ends 8.743728
    ends = [i.end_s * 1e3 for i in run.iterations]
    assert ends == pytest.approx([3.122222, 7.110394, 8.743728], rel=1e-6)
    assert [(i.prefill_tokens, i.decode_batch) for i in run.iterations] == [(8, 0), (20, 1), (0, 2)]
    assert run.requests[2].token_times_s == pytest.approx([7.110394e-3], rel=1e-6)
    assert cost.experts_on(8) == "both"
    assert set(cost.placement.shares()["attention:decode"]) == {"both"}
