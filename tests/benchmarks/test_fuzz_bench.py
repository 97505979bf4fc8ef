"""10,000 fuzzed inputs through ``archsim validate`` / ``archsim run`` (marker ``benchmark``).

Prints the counts of verdicts (ok, refused, refused-run, traceback, hang, bad-exit, no-line,
non-finite) and of exit codes, and the first failures; then asserts none of the failure verdicts.
Cases are ``random.Random(seed)`` for seeds F .. F+N-1 (``ARCHSIM_FUZZ_FIRST``, default 0;
``ARCHSIM_FUZZ_CASES``, default 10,000), so a failure is reproduced from its seed alone and the run
can be split into shards. Run:
``python -m pytest -m benchmark tests/benchmarks/test_fuzz_bench.py -s`` (about 30 min on one core).
"""

from __future__ import annotations

import importlib.util
import os
import random
import shutil
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.benchmark

_SPEC = importlib.util.spec_from_file_location("fuzz_harness", Path(__file__).parents[1] / "unit" / "fuzz_harness.py")
assert _SPEC is not None and _SPEC.loader is not None
fuzz = importlib.util.module_from_spec(_SPEC)
sys.modules.setdefault("fuzz_harness", fuzz)  # its dataclasses look their module up by name
_SPEC.loader.exec_module(fuzz)


def test_ten_thousand_fuzzed_inputs(tmp_path):
    n = int(os.environ.get("ARCHSIM_FUZZ_CASES", "10000"))
    first = int(os.environ.get("ARCHSIM_FUZZ_FIRST", "0"))  # shard: seeds first .. first + n - 1
    tally = fuzz.Tally()
    slowest: list[tuple[float, int, str]] = []
    t0 = time.perf_counter()
    for seed in range(first, first + n):
        case = fuzz.make_case(random.Random(seed))
        folder = tmp_path / f"case{seed}"
        t = time.perf_counter()
        outcomes = fuzz.run_case(case, folder, deadline_s=20.0)
        slowest = sorted([*slowest, (time.perf_counter() - t, seed, case.source)])[-5:]
        tally.add(case, outcomes)
        for o in outcomes:
            if o.verdict not in fuzz.CLEAN:
                print(f"seed {seed}: {o.verdict} {case.source} ({case.mode}) archsim {' '.join(o.command[:1])}: "
                      f"{o.detail.strip()[-600:]}")
        shutil.rmtree(folder, ignore_errors=True)
        if (seed - first + 1) % 250 == 0:  # a running tally, so that a stopped run still reports its counts
            print(f"after {seed - first + 1} inputs ({time.perf_counter() - t0:.0f} s): "
                  + ", ".join(f"{k} {v}" for k, v in sorted(tally.verdicts.items())), flush=True)
    wall = time.perf_counter() - t0
    print()
    print(fuzz.describe(tally, n))
    print(f"wall {wall:.0f} s, {n / wall:.1f} inputs/s; slowest cases (s, seed, source): "
          + "; ".join(f"{dt:.2f} {seed} {src}" for dt, seed, src in reversed(slowest)))
    failures = {k: v for k, v in tally.verdicts.items() if k not in fuzz.CLEAN}
    assert not failures, failures
