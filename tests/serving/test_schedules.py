"""Hand-computed three-request schedules, one per scheduler, pinned token by token and iteration by iteration.

Cost (seconds) = 1 + 0.01 x prefill tokens + 0.1 x decode tokens, a plain function; every expected time
below is worked out in the comments with that formula.
"""

from __future__ import annotations

import pytest

from archsim.errors import ConfigError
from archsim.serving.requests import Request
from archsim.serving.schedulers import Deployment, Iteration, Scheduler, make_scheduler, register_scheduler
from archsim.serving.simulator import Simulation


def cost(it: Iteration) -> float:
    return 1.0 + 0.01 * it.prefill_tokens + 0.1 * it.decode_batch


def three() -> list[Request]:
    return [Request(0, 0.0, 100, 3), Request(1, 0.5, 50, 2), Request(2, 0.6, 20, 1)]


def run(name: str, requests: list[Request], deployment: Deployment | None = None, **options):
    dep = deployment or Deployment(capacity_blocks=1000, block_tokens=16)
    sim = Simulation(requests, make_scheduler(name, dep, **options), cost)
    return sim.run()


def times(r) -> list[list[float]]:
    return [req.token_times_s for req in r.requests]


def rows(r) -> list[tuple]:
    return [(i.worker, round(i.start_s, 9), round(i.end_s, 9), i.prefill_tokens, i.prefill_chunks, i.decode_batch)
            for i in r.iterations]


def test_continuous_three_requests():
    r = run("continuous", three())
    # it1 [0, 2.0]: prefill A 100 -> 1 + 1.0; A token 1 at 2.0
    # it2 [2.0, 3.8]: decode A + prefill B 50 + C 20 -> 1 + 0.7 + 0.1; A2, B1, C1 (C done)
    # it3 [3.8, 5.0]: decode A, B -> 1 + 0.2; A3, B2 (done)
    assert rows(r) == [("engine", 0.0, 2.0, 100, 1, 0), ("engine", 2.0, 3.8, 70, 2, 1), ("engine", 3.8, 5.0, 0, 0, 2)]
    assert times(r) == [pytest.approx([2.0, 3.8, 5.0]), pytest.approx([3.8, 5.0]), pytest.approx([3.8])]
    assert r.end_s == pytest.approx(5.0)


def test_continuous_chunked_prefill_token_budget():
    r = run("continuous", three(), token_budget=64)
    # it1 [0, 1.64]: A chunk 64
    # it2 [1.64, 3.28]: A's last 36 + B's first 28 (budget 64); A token 1
    # it3 [3.28, 4.80]: decode A (1) + B's last 22 + C 20 -> 1 + 0.42 + 0.1; A2, B1, C1
    # it4 [4.80, 6.00]: decode A, B; A3, B2
    assert rows(r) == [("engine", 0.0, 1.64, 64, 1, 0), ("engine", 1.64, 3.28, 64, 2, 0),
                       ("engine", 3.28, 4.8, 42, 2, 1), ("engine", 4.8, 6.0, 0, 0, 2)]
    assert times(r) == [pytest.approx([3.28, 4.80, 6.0]), pytest.approx([4.80, 6.0]), pytest.approx([4.80])]


def test_continuous_preemption_by_recompute():
    reqs = [Request(0, 0.0, 8, 4), Request(1, 0.5, 8, 4)]
    r = run("continuous", reqs, Deployment(capacity_blocks=5, block_tokens=4))
    # it1 [0, 1.08]: prefill A 8 (2 blocks); A1
    # it2 [1.08, 2.26]: decode A (9 tokens: 3 blocks) + prefill B 8 (2 blocks: all 5 used); A2, B1
    # it3 [2.26, 3.36]: A's 10th token fits its 3rd block; B's 9th needs a 6th block: B (the newest) is
    #   preempted, its 2 blocks freed; its recompute (8 + 1 tokens, 3 blocks) does not fit the 2 free: A alone; A3
    # it4 [3.36, 4.46]: decode A (11 tokens, 3 blocks); A4, A done, blocks freed
    # it5 [4.46, 5.55]: B recomputes 9 tokens -> 1 + 0.09; B2
    # it6, it7: decode B -> 6.65, 7.75
    assert rows(r) == [("engine", 0.0, 1.08, 8, 1, 0), ("engine", 1.08, 2.26, 8, 1, 1), ("engine", 2.26, 3.36, 0, 0, 1),
                       ("engine", 3.36, 4.46, 0, 0, 1), ("engine", 4.46, 5.55, 9, 1, 0),
                       ("engine", 5.55, 6.65, 0, 0, 1), ("engine", 6.65, 7.75, 0, 0, 1)]
    assert times(r) == [pytest.approx([1.08, 2.26, 3.36, 4.46]), pytest.approx([2.26, 5.55, 6.65, 7.75])]
    assert [q.preemptions for q in r.requests] == [0, 1]
    assert max(v for _, v in r.kv_used["engine"]) == 1.0


def test_static_three_requests():
    r = run("static", three(), batch_size=2)
    # A waits for a second request; B at 0.5 completes the batch:
    # it1 [0.5, 3.0]: prefill A 100 + B 50 -> 1 + 1.5; A1, B1
    # it2 [3.0, 4.2]: decode A, B; A2, B2 (B done)
    # it3 [4.2, 5.3]: decode A; A3 (batch done). C (arrived 0.6) waited for the whole batch:
    # it4 [5.3, 6.5]: arrivals are over, C alone: prefill 20 -> 1.2; C1
    assert rows(r) == [("engine", 0.5, 3.0, 150, 2, 0), ("engine", 3.0, 4.2, 0, 0, 2), ("engine", 4.2, 5.3, 0, 0, 1),
                       ("engine", 5.3, 6.5, 20, 1, 0)]
    assert times(r) == [pytest.approx([3.0, 4.2, 5.3]), pytest.approx([3.0, 4.2]), pytest.approx([6.5])]


def test_disaggregated_three_requests():
    dep = Deployment(capacity_blocks=1000, block_tokens=16, kv_bytes_per_token=1.0,
                     transfer_s=lambda nbytes: 0.5 + nbytes / 1000)
    r = run("disaggregated", three(), dep)
    # prefill worker: it1 [0, 2.0] A 100; A1; A's 100 bytes cross the link in 0.6 s -> decode side at 2.6
    #                 it2 [2.0, 3.7] B 50 + C 20; B1, C1 (C done); B's 50 bytes: 0.55 s -> 4.25
    # decode worker:  [2.6, 3.7] decode A; A2. [3.7, 4.8] decode A; A3.  [4.8, 5.9] B (arrived 4.25); B2
    # both end at 3.7: the prefill's timeout was scheduled first (at 2.0), so it is recorded first (the tie rule)
    assert rows(r) == [("prefill", 0.0, 2.0, 100, 1, 0), ("prefill", 2.0, 3.7, 70, 2, 0), ("decode", 2.6, 3.7, 0, 0, 1),
                       ("decode", 3.7, 4.8, 0, 0, 1), ("decode", 4.8, 5.9, 0, 0, 1)]
    assert times(r) == [pytest.approx([2.0, 3.7, 4.8]), pytest.approx([3.7, 5.9]), pytest.approx([3.7])]
    assert r.link_bytes == 150 and r.link_busy_s == pytest.approx(1.15)


def test_registry_duplicate_and_miss():
    class Another(Scheduler):
        name = "static"

    with pytest.raises(ValueError, match="already registered"):
        register_scheduler(Another)
    with pytest.raises(ConfigError, match="valid: continuous, disaggregated, static"):
        make_scheduler("fifo", Deployment(capacity_blocks=1))
    with pytest.raises(ConfigError, match="batch_sise"):
        make_scheduler("static", Deployment(capacity_blocks=1), batch_sise=2)


def test_request_that_never_fits_is_refused():
    with pytest.raises(ConfigError, match="can never fit"):
        run("continuous", [Request(0, 0.0, 100, 10)], Deployment(capacity_blocks=2, block_tokens=16))


def test_static_max_wait_starts_a_partial_batch():
    r = run("static", three(), batch_size=3, max_wait_s=0.3)
    # A waits alone; B (0.5) arrives after A's wait ran out at 0.3:
    # it1 [0.3, 2.3]: prefill A 100 -> 1 + 1.0; A1. B and C queue; the wait of B (oldest) ends at 0.8 while busy
    # it2 [2.3, 3.4], it3 [3.4, 4.5]: decode A; A2, A3 (batch done)
    # it4 [4.5, 6.2]: B + C (arrivals over) prefill 70 -> 1.7; B1, C1;  it5 [6.2, 7.3]: decode B; B2
    assert rows(r) == [("engine", 0.3, 2.3, 100, 1, 0), ("engine", 2.3, 3.4, 0, 0, 1), ("engine", 3.4, 4.5, 0, 0, 1),
                       ("engine", 4.5, 6.2, 70, 2, 0), ("engine", 6.2, 7.3, 0, 0, 1)]


def test_continuous_unchunked_one_prefill_per_iteration():
    r = run("continuous", three(), token_budget=64, chunked=False, max_prefills=1)
    # it1 [0, 2.0]: A's whole prompt (100 > budget 64, but alone); A1
    # it2 [2.0, 3.6]: decode A + B's whole 50 (one prefill per iteration: C waits) -> 1 + 0.5 + 0.1; A2, B1
    # it3 [3.6, 5.0]: decode A, B + C 20 -> 1 + 0.2 + 0.2; A3 (done), B2 (done), C1 (done)
    assert rows(r) == [("engine", 0.0, 2.0, 100, 1, 0), ("engine", 2.0, 3.6, 50, 1, 1), ("engine", 3.6, 5.0, 20, 1, 2)]
    assert times(r) == [pytest.approx([2.0, 3.6, 5.0]), pytest.approx([3.6, 5.0]), pytest.approx([5.0])]
