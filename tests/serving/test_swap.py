"""Preemption by swap (vLLM V0 PreemptionMode.SWAP) on the continuous scheduler: a hand-computed three-request
schedule pinned event by event, against recompute on the same requests; the host swap space's fallback and
errors; Little's law under swapping.

Cost (seconds) = 1 + 0.01 x prefill tokens + 0.1 x decode tokens (tests/serving/test_schedules.py), plus the
swap copies: blocks of 4 tokens x 0.125e9 bytes/token = 0.5e9 bytes over a 1 GB/s host link = 0.5 s a block.
A 1 GiB swap space holds 2 such blocks (2^30 / 0.5e9 = 2.1).
"""

from __future__ import annotations

import numpy as np
import pytest

from archsim.errors import ConfigError
from archsim.serving.metrics import littles_law
from archsim.serving.requests import Arrivals, Lengths, Request, generate
from archsim.serving.schedulers import Deployment, Iteration, make_scheduler
from archsim.serving.simulator import Simulation


def cost(it: Iteration) -> float:
    return 1.0 + 0.01 * it.prefill_tokens + 0.1 * it.decode_batch


def times(r) -> list[list[float]]:
    return [req.token_times_s for req in r.requests]


def rows(r) -> list[tuple]:
    return [(i.worker, round(i.start_s, 9), round(i.end_s, 9), i.prefill_tokens, i.prefill_chunks, i.decode_batch)
            for i in r.iterations]


DEP = Deployment(capacity_blocks=5, block_tokens=4, kv_bytes_per_token=0.125e9)


def three() -> list[Request]:
    return [Request(0, 0.0, 8, 4), Request(1, 0.5, 8, 4), Request(2, 0.6, 4, 2)]


def run(preemption: str, swap_space_gib: float = 1.0):
    sched = make_scheduler("continuous", DEP, preemption=preemption, host_link_gb_s=1.0, swap_space_gib=swap_space_gib)
    return Simulation(three(), sched, cost).run()


# recompute, same requests (as test_continuous_preemption_by_recompute up to it4, then C joins B's recompute)
RECOMPUTE_ROWS = [("engine", 0.0, 1.08, 8, 1, 0), ("engine", 1.08, 2.26, 8, 1, 1), ("engine", 2.26, 3.36, 0, 0, 1),
                  ("engine", 3.36, 4.46, 0, 0, 1), ("engine", 4.46, 5.59, 13, 2, 0),
                  ("engine", 5.59, 6.79, 0, 0, 2), ("engine", 6.79, 7.89, 0, 0, 1)]


def test_swap_three_requests_event_by_event():
    r = run("swap")
    # it1 [0, 1.08]: prefill A 8 (2 blocks); A1
    # it2 [1.08, 2.26]: decode A (9 tokens, 3 blocks) + prefill B 8 (2 blocks: all 5 used); C (0.6) finds no
    #   block; A2, B1
    # it3 [2.26, 4.36]: A's 10th token fits; B's 9th needs a 6th block: B (the newest) is swapped out, 2 blocks
    #   -> 1.0 s of copy paid here; a preemption happened, so no swap-in; C may not start while B is swapped;
    #   1 + 0.1 + 1.0 = 2.1; A3
    # it4 [4.36, 5.46]: decode A (11 tokens); B needs 3 blocks (9 tokens) back, 2 free: stays out; A4, A done
    # it5 [5.46, 7.60]: B swaps in (2 blocks, 1.0 s), grows to 3 blocks and decodes; then C prefills 4 (1 block):
    #   1 + 0.04 + 0.1 + 1.0 = 2.14; B2, C1
    # it6 [7.60, 8.80]: decode B, C; B3, C2 (done).  it7 [8.80, 9.90]: decode B; B4
    assert rows(r) == [("engine", 0.0, 1.08, 8, 1, 0), ("engine", 1.08, 2.26, 8, 1, 1), ("engine", 2.26, 4.36, 0, 0, 1),
                       ("engine", 4.36, 5.46, 0, 0, 1), ("engine", 5.46, 7.6, 4, 1, 1),
                       ("engine", 7.6, 8.8, 0, 0, 2), ("engine", 8.8, 9.9, 0, 0, 1)]
    assert times(r) == [pytest.approx([1.08, 2.26, 4.36, 5.46]), pytest.approx([2.26, 7.60, 8.80, 9.90]),
                        pytest.approx([7.60, 8.80])]
    assert [q.preemptions for q in r.requests] == [0, 1, 0] and [q.swaps for q in r.requests] == [0, 1, 0]


def test_recompute_on_the_same_requests_differs_as_computed():
    r = run("recompute")
    # it5 [4.46, 5.59]: B recomputes 8 + 1 tokens and C prefills 4: 1 + 0.13 (no copies); B2, C1
    assert rows(r) == RECOMPUTE_ROWS
    assert times(r) == [pytest.approx([1.08, 2.26, 3.36, 4.46]), pytest.approx([2.26, 5.59, 6.79, 7.89]),
                        pytest.approx([5.59, 6.79])]
    assert [q.swaps for q in r.requests] == [0, 0, 0]
    # at 0.5 s a block the copies (2 out + 2 in = 2.0 s) cost more than recomputing 9 tokens (0.09 s): 9.90 vs 7.89
    assert run("swap").end_s - r.end_s == pytest.approx(9.90 - 7.89)


def test_full_swap_space_falls_back_to_recompute():
    # 0.5 GiB holds 1 block (2^29 / 0.5e9 = 1.07): B's 2 blocks do not fit, so B is recomputed
    r = run("swap", swap_space_gib=0.5)
    assert rows(r) == RECOMPUTE_ROWS
    assert [q.preemptions for q in r.requests] == [0, 1, 0] and [q.swaps for q in r.requests] == [0, 0, 0]


def test_swap_options_are_checked():
    with pytest.raises(ConfigError, match="holds no KV block"):
        make_scheduler("continuous", DEP, preemption="swap", swap_space_gib=0.25)
    with pytest.raises(ConfigError, match="KV bytes per token"):
        make_scheduler("continuous", Deployment(capacity_blocks=5, block_tokens=4), preemption="swap")
    with pytest.raises(ConfigError, match="not one of recompute, swap"):
        make_scheduler("continuous", DEP, preemption="drop")
    with pytest.raises(ConfigError, match="must be > 0"):
        make_scheduler("continuous", DEP, preemption="swap", host_link_gb_s=0.0)


def test_littles_law_and_token_counts_under_swapping():
    reqs = generate(Arrivals(kind="gamma", qps=20.0, cv=2.0), Lengths(kind="uniform", low=16, high=400),
                    Lengths(kind="lognormal", median=20, sigma=0.8, max_tokens=200), 5.0, np.random.default_rng(7))
    dep = Deployment(capacity_blocks=60, block_tokens=16, kv_bytes_per_token=1e3)
    sched = make_scheduler("continuous", dep, token_budget=256, preemption="swap")
    run_ = Simulation(reqs, sched, lambda it: 0.02 + 2e-5 * it.prefill_tokens + 1e-4 * it.decode_batch).run()
    law = littles_law(run_, window_s=5.0)
    assert law["whole_run_rel_gap"] < 1e-9 and law["window_gap"] <= law["window_bound"] + 1e-9
    assert all(len(r.token_times_s) == r.output_tokens for r in run_.requests)
    assert sum(r.swaps for r in run_.requests) > 0  # the small cache forces swaps here
    assert sched.core.blocks.used_blocks == 0 and sched.core.swapper.space.used_blocks == 0


def test_serve_cli_takes_swap_preemption(tmp_path):
    import json
    import subprocess
    import sys

    trace = tmp_path / "t.csv"
    trace.write_text("arrival_s,prompt_tokens,output_tokens\n0.0,128,4\n0.01,64,3\n")

    def serve(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "archsim", "serve", "h100-sxm", "llama2-7b-serving", "--trace",
                               str(trace), "--out", str(tmp_path / "o"), "--no-report", *extra],
                              capture_output=True, text=True, cwd=tmp_path)

    p = serve("--preemption", "swap", "--swap-space-gib", "8", "--host-link-gb-s", "450")
    assert p.returncode == 0, p.stderr
    options = json.loads((tmp_path / "o" / "summary.json").read_text())["scheduler_options"]
    assert options["preemption"] == "swap" and options["swap_space_gib"] == 8 and options["host_link_gb_s"] == 450
    bad = serve("--preemption", "drop")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    static = serve("--preemption", "swap", "--scheduler", "static")
    assert static.returncode == 2 and "continuous scheduler" in static.stderr


def test_sweep_serving_section_sweeps_the_preemption_mode(tmp_path):
    from archsim.sweep.plan import load_plan
    from archsim.sweep.point import run_point

    path = tmp_path / "s.yaml"
    path.write_text("""kind: sweep
name: s
base:
  workload: llama2-7b-serving
  hardware: h100-sxm
  serving: {load_qps: 2, duration_s: 2, prompt: "fixed:256", output: "fixed:8",
            options: {preemption: recompute, swap_space_gib: 8}}
axes:
  - grid:
      serving.options.preemption: [recompute, swap]
""")
    plan = load_plan(path)
    assert [p.config["serving"]["options"]["preemption"] for p in plan.points] == ["recompute", "swap"]
    rows = [run_point((p.index, p.config)) for p in plan.points]
    assert [r["status"] for r in rows] == ["ok", "ok"], rows  # swap_space_gib is read only with swap
    assert rows[0]["requests"] == rows[1]["requests"] > 0
