"""Swap preemption on the disaggregated scheduler's decode worker (vLLM V0 semantics, as the continuous
scheduler's): a hand-computed three-request schedule pinned event by event, recompute on the same requests,
the full-swap-space fallback, Little's law, and the CLI / option plumbing.

Cost (seconds) = 1 + 0.01 x prefill tokens + 0.1 x decode tokens (tests/serving/test_schedules.py) plus the swap
copies; blocks of 4 tokens x 0.125e9 bytes/token = 0.5e9 bytes: 0.5 s a block over a 1 GB/s host link; a 1 GiB
swap space holds 2 blocks (tests/serving/test_swap.py). KV hand-off: bytes / 1e10 s (A's 8 tokens: 0.1 s).
Each worker has 5 blocks.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_runner import run_archsim

from archsim.errors import ConfigError
from archsim.serving.metrics import littles_law
from archsim.serving.requests import Arrivals, Lengths, Request, generate
from archsim.serving.schedulers import Deployment, Iteration, make_scheduler
from archsim.serving.simulator import Simulation

DEP = Deployment(capacity_blocks=5, block_tokens=4, kv_bytes_per_token=0.125e9, transfer_s=lambda n: n / 1e10)


def cost(it: Iteration) -> float:
    return 1.0 + 0.01 * it.prefill_tokens + 0.1 * it.decode_batch


def run(preemption: str, swap_space_gib: float = 1.0):
    reqs = [Request(0, 0.0, 8, 4), Request(1, 0.5, 8, 4), Request(2, 0.6, 4, 2)]
    sched = make_scheduler("disaggregated", DEP, preemption=preemption, host_link_gb_s=1.0,
                           swap_space_gib=swap_space_gib)
    return Simulation(reqs, sched, cost).run()


def rows(r) -> list[tuple]:
    return [(i.worker, round(i.start_s, 9), round(i.end_s, 9), i.prefill_tokens, i.decode_batch) for i in r.iterations]


PREFILL = [("prefill", 0.0, 1.08, 8, 0), ("prefill", 1.08, 2.2, 12, 0)]
# recompute: d3 [3.38, 4.48] A alone (B, preempted, cannot recompute 9 tokens in the 2 free blocks); A4 done;
# d4 [4.48, 5.57] B recomputes 8 + 1 tokens (C's KV waits behind a prefill); B2; d5 [5.57, 6.77] B, C (admitted
# with 1 block); B3, C2; d6 [6.77, 7.87] B4
RECOMPUTE = PREFILL + [("decode", 1.18, 2.28, 0, 1), ("decode", 2.28, 3.38, 0, 1), ("decode", 3.38, 4.48, 0, 1),
                       ("decode", 4.48, 5.57, 9, 0), ("decode", 5.57, 6.77, 0, 2), ("decode", 6.77, 7.87, 0, 1)]


def test_decode_worker_swaps_event_by_event():
    r = run("swap")
    # prefill worker: p1 [0, 1.08] A 8; A1; A's 1e9 bytes arrive at 1.18. p2 [1.08, 2.20] B 8 + C 4 (A's 2 blocks
    #   are held until its KV has crossed: 2 + 2 + 1 = 5); B1, C1; B's KV arrives 2.30, C's (0.5e9) 2.35
    # decode worker: d1 [1.18, 2.28] A (9 tokens, 3 blocks); A2.  d2 [2.28, 3.38] A (10 tokens); A3
    #   d3 [3.38, 5.48]: B admitted with its 8 tokens (2 blocks; C's 1 block does not fit); A grows to 11 tokens;
    #     B's 9th needs a 6th block: B (the newest) is swapped out, 2 blocks = 1.0 s of copy; 1 + 0.1 + 1.0; A4 done
    #   d4 [5.48, 7.58]: B is swapped out, so C's arrived KV is not admitted; no preemption: B swaps in (2 blocks,
    #     1.0 s) and decodes: 1 + 0.1 + 1.0; B2
    #   d5 [7.58, 8.78]: C admitted (1 block), B and C decode; B3, C2 (done).  d6 [8.78, 9.88] B4
    assert rows(r) == PREFILL + [("decode", 1.18, 2.28, 0, 1), ("decode", 2.28, 3.38, 0, 1),
                                 ("decode", 3.38, 5.48, 0, 1), ("decode", 5.48, 7.58, 0, 1),
                                 ("decode", 7.58, 8.78, 0, 2), ("decode", 8.78, 9.88, 0, 1)]
    assert [q.token_times_s for q in r.requests] == [pytest.approx([1.08, 2.28, 3.38, 5.48]),
                                                     pytest.approx([2.20, 7.58, 8.78, 9.88]),
                                                     pytest.approx([2.20, 8.78])]
    assert [q.swaps for q in r.requests] == [0, 1, 0] and [q.preemptions for q in r.requests] == [0, 1, 0]
    assert r.link_bytes == pytest.approx(2.5e9) and r.link_busy_s == pytest.approx(0.25)


def test_recompute_and_full_swap_space_on_the_same_requests():
    assert rows(run("recompute")) == RECOMPUTE
    # 0.5 GiB holds 1 block: B's 2 do not fit, B is recomputed instead
    full = run("swap", swap_space_gib=0.5)
    assert rows(full) == RECOMPUTE and [q.swaps for q in full.requests] == [0, 0, 0]
    assert run("swap").end_s - full.end_s == pytest.approx(9.88 - 7.87)


def test_options_are_checked():
    with pytest.raises(ConfigError, match="not one of recompute, swap"):
        make_scheduler("disaggregated", DEP, preemption="drop")
    with pytest.raises(ConfigError, match="holds no KV block"):
        make_scheduler("disaggregated", DEP, preemption="swap", swap_space_gib=0.25)


def test_littles_law_under_decode_swapping():
    reqs = generate(Arrivals(kind="gamma", qps=20.0, cv=2.0), Lengths(kind="uniform", low=16, high=300),
                    Lengths(kind="lognormal", median=30, sigma=0.8, max_tokens=200), 5.0, np.random.default_rng(3))
    dep = Deployment(capacity_blocks=60, block_tokens=16, kv_bytes_per_token=1e3, transfer_s=lambda n: 1e-3 + n / 1e9)
    sched = make_scheduler("disaggregated", dep, decode_budget=256, preemption="swap")
    r = Simulation(reqs, sched, lambda it: 0.02 + 2e-5 * it.prefill_tokens + 1e-4 * it.decode_batch).run()
    law = littles_law(r, window_s=5.0)
    assert law["whole_run_rel_gap"] < 1e-9 and law["window_gap"] <= law["window_bound"] + 1e-9
    assert all(len(q.token_times_s) == q.output_tokens for q in r.requests)
    assert sum(q.swaps for q in r.requests) > 0  # the small decode cache forces swaps
    assert sched.decode.blocks.used_blocks == sched.prefill.blocks.used_blocks == 0
    assert sched.decode.swapper.space.used_blocks == 0


def test_serve_cli_swaps_on_the_disaggregated_decode_worker(tmp_path):
    out = tmp_path / "o"
    p = run_archsim("serve", "hgx-h100", "llama2-7b-serving", "--scheduler", "disaggregated", "--preemption", "swap",
                    "--swap-space-gib", "8", "--load", "2", "--duration", "2", "--prompt", "fixed:256",
                    "--output-len", "fixed:8", "--out", out, "--no-report", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    options = json.loads((out / "summary.json").read_text())["scheduler_options"]
    assert options["preemption"] == "swap" and options["swap_space_gib"] == 8 and options["host_link_gb_s"] == 64
    bad = run_archsim("serve", "h100-sxm", "llama2-7b-serving", "--scheduler", "static", "--preemption", "swap",
                      "--out", tmp_path / "s", cwd=tmp_path)
    assert bad.returncode == 2 and "disaggregated" in bad.stderr and not (tmp_path / "s").exists()
