"""archsim.engine: a tiny deterministic discrete-event core and the components devices are built from.

Time is in seconds (SI) on :class:`Engine` (a :class:`simpy.Environment` with a seeded RNG
and an optional observer). Every component method named below that "is a process" is a
generator: run it with ``yield engine.process(...)`` from your own process, or
``engine.process(...)`` then ``engine.run()``. Models resolve their insides analytically or
in numba and emit one simpy event per transaction, never one per clock.

Quick map (one concept per module)::

    from archsim.engine import Engine, Dram, Link, LinkSpec, Sram, SramSpec, Cache, CacheSpec
    from archsim.engine import SystolicArray, VectorUnit, SpecialFunctionUnit, SfuFunction
    from archsim.presets import load_memory_standard

    eng = Engine(seed=0, observer=Timeline())
    hbm = Dram(eng, load_memory_standard("hbm3"))          # dram.py
    yield eng.process(hbm.read(addr, nbytes))               # one transaction, cycle-exact commands
    yield eng.process(hbm.write(addr, nbytes))
    Dram.run_pattern(std, pattern="stream", nbytes=1 << 30) # trace-driven fast path -> DramStats
    st = Dram.run_pattern(std, pattern="random", nbytes=1 << 20, log_commands=10_000)
    st.controller.command_trace()                           # every ACT/PRE/RD/WR/REF as Chrome trace JSON

    link = Link(eng, LinkSpec(bandwidth_bytes_per_s=900e9, latency_s=1e-6, flit_bytes=16))  # link.py
    yield eng.process(link.send(nbytes, direction=0))

    smem = Sram(eng, SramSpec(capacity_bytes=228 << 10, clock_hz=1.98e9, bytes_per_cycle_per_port=128))
    smem.allocate("Q", 32 << 10, double_buffered=True)     # CapacityError past capacity
    yield eng.process(smem.read(nbytes))

    l2 = Cache(eng, CacheSpec(capacity_bytes=50 << 20), backing=hbm)   # cache.py, sectored write-back
    yield eng.process(l2.read(addr, nbytes))

    sa = SystolicArray(eng, rows=128, cols=128, stationarity="output_stationary", clock_hz=1e9)
    sa.tile_cycles(m, n, k); sa.tile_cycle_breakdown(m, n, k)          # closed form
    yield eng.process(sa.run_tile(m, n, k))
    vec = VectorUnit(eng, lanes=64, clock_hz=1e9); yield eng.process(vec.run(ops))
    sfu = SpecialFunctionUnit(eng, functions={"exp": SfuFunction(ops_per_cycle=16, latency_cycles=20)},
                              clock_hz=1e9); yield eng.process(sfu.run("exp", count))

DRAM command level (PIM command streams, timing tests): :class:`CommandChannel` with
``earliest(cmd, bank, unit)``, ``can_issue(cmd, cycle, bank, row, unit)`` and
``issue(cmd, cycle, bank, row, unit)`` for ACT, PRE, RD, WR, REFab, REFpb, ACTab, PREab;
cycles are integers of the standard's tCK. Address mappings: :data:`dram_mapping.SCHEMES`
(register more with ``register_scheme``). Energy: :mod:`archsim.engine.energy`.
Observers: :mod:`archsim.engine.observers` (Counters, Timeline -> Chrome/Perfetto JSON).
DRAM controller parts (scheduler, row policy, refresh, write policy) are registered by name in
:mod:`archsim.engine.dram_parts`; peer traces (DRAMsim3, Ramulator 2) run through
:func:`archsim.engine.dram_trace.run_trace`; the peer comparison is ``archsim reproduce dram-peers``.

Comparing systolic-array cycles with SCALE-Sim: weight-stationary tiles agree with SCALE-Sim v3
to a cycle. Output-stationary tiles here charge ``rows`` cycles of drain per pass (the results
shift out of the array; the RTL block confirms K + 3N - 2 for an N x N array), which SCALE-Sim
v3 does not count. To compare, subtract ``tile_cycle_breakdown(m, n, k).drain_cycles`` (the
drain of all passes together, ``passes * rows``) from ``total_cycles`` before setting our cycles
beside SCALE-Sim's, or build the array with ``overlap_drain=True`` (every drain but the last
hidden); report both numbers, not only the adjusted one.
"""

from archsim.engine.cache import Cache, CacheSpec
from archsim.engine.compute import SfuFunction, SpecialFunctionUnit, SystolicArray, VectorUnit
from archsim.engine.core import Engine
from archsim.engine.dram import Dram, DramController, DramStats
from archsim.engine.dram_mapping import SCHEMES as DRAM_MAPPINGS
from archsim.engine.dram_timing import CommandChannel, TimingViolation
from archsim.engine.link import Link, LinkSpec
from archsim.engine.observers import Counters, Fanout, Timeline
from archsim.engine.sram import CapacityError, Sram, SramSpec

__all__ = [
    "Cache", "CacheSpec", "CapacityError", "CommandChannel", "Counters", "DRAM_MAPPINGS", "Dram", "DramController",
    "DramStats", "Engine", "Fanout", "Link", "LinkSpec", "SfuFunction", "SpecialFunctionUnit", "Sram", "SramSpec",
    "SystolicArray", "Timeline", "TimingViolation", "VectorUnit",
]
