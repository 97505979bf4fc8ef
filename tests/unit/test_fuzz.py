"""Property-based fuzzing of every shipped preset, workload and sweep through the real CLI.

Hypothesis drives a seeded ``random.Random`` that picks a shipped YAML file and mutates its text or
its parsed structure (see ``fuzz_harness``); ``archsim validate`` and ``archsim run`` then run on the
result in-process with a fresh ``--out`` and a per-command deadline. The property: every command
ends in exit 0 or in exit 2 with ``error:`` lines (naming file and line for ``validate``), never a
traceback, never past the deadline, and no output file holds a non-finite number. The default run
is a few hundred derandomized examples; ``tests/benchmarks/test_fuzz_bench.py`` runs 10,000.
"""

from __future__ import annotations

from fuzz_harness import CLEAN, CORPUS, make_case, run_case
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

#: Seconds one command may take before it counts as a hang (shipped inputs take well under 2 s).
DEADLINE_S = 20.0


def test_corpus_has_every_kind():
    kinds = {p.parent.name for p in CORPUS}
    assert {"hardware", "memory", "models", "workloads", "sweeps"} <= kinds
    assert len(CORPUS) >= 40


@settings(max_examples=200, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(rng=st.randoms(use_true_random=False))
def test_mutated_inputs_end_cleanly(rng, tmp_path_factory):
    case = make_case(rng)
    folder = tmp_path_factory.mktemp("fuzz")
    for outcome in run_case(case, folder, deadline_s=DEADLINE_S):
        assert outcome.verdict in CLEAN, (
            f"{outcome.verdict} from archsim {' '.join(outcome.command)} on a mutation of {case.source} "
            f"({case.mode}):\n--- input ---\n{case.text[:4000]}\n--- detail ---\n{outcome.detail}")
