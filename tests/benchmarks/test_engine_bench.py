"""Engine speed: DRAM bursts per wall second (1 GiB through HBM3 and DDR4), simpy events per second.

Prints figures; asserts only correctness (never wall-clock time). Run:
``pytest tests/benchmarks/test_engine_bench.py -m benchmark -s``.
"""

import resource
import time
import tracemalloc

import pytest

from archsim.engine import Dram, Engine, Link, LinkSpec
from archsim.presets import load_memory_standard

GiB = 1 << 30
MiB = 1 << 20

pytestmark = pytest.mark.benchmark


@pytest.mark.parametrize("standard", ["hbm3", "ddr4"])
def test_one_gib_stream(standard):
    std = load_memory_standard(standard)
    Dram.run_pattern(std, pattern="stream", nbytes=MiB)  # compile / load the numba cache first
    tracemalloc.start()
    wall, cpu = time.perf_counter(), time.process_time()
    st = Dram.run_pattern(std, pattern="stream", nbytes=GiB, queue_depth=64)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    bursts = st.counters["rd"]
    commands = sum(st.counters[k] for k in ("act", "pre", "rd", "wr", "refab", "refpb"))
    sim_s = st.elapsed_cycles * std.timing.tck_s
    print(f"\n{standard}: 1 GiB stream, {bursts} bursts, {commands} commands in {wall:.2f} s wall ({cpu:.2f} s CPU) "
          f"-> {bursts / wall / 1e6:.2f} M bursts per wall s ({bursts / cpu / 1e6:.2f} per CPU s), "
          f"{commands / wall / 1e6:.2f} M commands/s; "
          f"simulated {sim_s * 1e3:.3f} ms at {st.bytes_read / sim_s / 1e9:.1f} GB/s "
          f"({100 * st.bytes_read / sim_s / std.peak_bandwidth_bytes_per_s:.1f}% of peak); "
          f"peak traced (numpy + Python) memory {peak / MiB:.1f} MiB, process max RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB (includes numba/LLVM)")
    assert st.bytes_read == GiB


@pytest.mark.parametrize("standard", ["hbm3", "ddr4"])
def test_stream_bursts_per_cpu_second(standard):
    """Issue 17's speed figure: a 64 MiB stream, best of three runs, in simulated bursts per CPU second."""
    std = load_memory_standard(standard)
    Dram.run_pattern(std, pattern="stream", nbytes=MiB)  # compile / load the numba cache first
    rates = []
    for _ in range(3):
        cpu = time.process_time()
        st = Dram.run_pattern(std, pattern="stream", nbytes=64 * MiB, queue_depth=64)
        rates.append(st.counters["rd"] / (time.process_time() - cpu))
    print(f"\n{standard}: 64 MiB stream, {st.counters['rd']} bursts: "
          f"{', '.join(f'{r / 1e6:.2f}' for r in rates)} M bursts per CPU s (best {max(rates) / 1e6:.2f})")
    assert st.bytes_read == 64 * MiB


def test_engine_events_per_second():
    """The bare simpy core with links: one timeout per transfer, FIFO tie order."""
    eng = Engine()
    links = [Link(eng, LinkSpec(bandwidth_bytes_per_s=100e9, latency_s=1e-6, flit_bytes=16)) for _ in range(8)]

    def sender(link):
        for _ in range(25_000):
            yield eng.process(link.send(4096))

    for link in links:
        eng.process(sender(link))
    wall = time.perf_counter()
    eng.run()
    wall = time.perf_counter() - wall
    events = next(eng._eid)  # simpy's event counter: events scheduled so far
    print(f"\nengine: {events} simpy events (200k link transfers) in {wall:.2f} s wall -> {events / wall / 1e6:.3f} M "
          f"events/s")
    assert sum(link.payload_bytes[0] for link in links) == 200_000 * 4096


def test_dram_through_simpy_path():
    std = load_memory_standard("hbm3")
    eng = Engine()
    dram = Dram(eng, std)
    link = Link(eng, LinkSpec(bandwidth_bytes_per_s=400e9, latency_s=100e-9, flit_bytes=32))

    def tile(i):
        yield eng.process(dram.read(i * 64 * 1024, 64 * 1024))
        yield eng.process(link.send(64 * 1024))

    for i in range(2048):  # 128 MiB in 64 KiB tiles
        eng.process(tile(i))
    wall = time.perf_counter()
    eng.run()
    wall = time.perf_counter() - wall
    events = next(eng._eid)  # simpy's event counter: events scheduled so far
    print(f"\nsimpy path: 128 MiB in 2048 tiles through HBM3 + link: {events} simpy events, "
          f"{dram.stats().counters['rd']} DRAM bursts in {wall:.2f} s wall -> "
          f"{dram.stats().counters['rd'] / wall / 1e6:.2f} M DRAM bursts/s; simulated {eng.now * 1e6:.1f} us "
          f"({128 * MiB / eng.now / 1e9:.0f} GB/s end to end)")
    assert link.payload_bytes[0] == 128 * MiB


@pytest.mark.parametrize("standard", ["hbm3", "ddr4"])
def test_random_reads_speed(standard):
    std = load_memory_standard(standard)
    Dram.run_pattern(std, pattern="random", nbytes=MiB)
    wall, cpu = time.perf_counter(), time.process_time()
    st = Dram.run_pattern(std, pattern="random", nbytes=256 * MiB, seed=1)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    bursts = st.counters["rd"]
    sim_s = st.elapsed_cycles * std.timing.tck_s
    print(f"\n{standard}: 256 MiB random, {bursts} bursts (+{st.counters['act']} ACT, {st.counters['pre']} PRE) in "
          f"{wall:.2f} s wall ({cpu:.2f} s CPU) -> {bursts / wall / 1e6:.2f} M bursts per wall s "
          f"({bursts / cpu / 1e6:.2f} per CPU s); {st.bytes_read / sim_s / 1e9:.1f} GB/s simulated "
          f"({100 * st.bytes_read / sim_s / std.peak_bandwidth_bytes_per_s:.1f}% of peak)")
    assert st.bytes_read == 256 * MiB


def test_peer_trace_replay_speed():
    """A peer-format trace (the dram-peers HBM3 random case, 20k requests) through ``run_trace``."""
    from archsim.engine.dram_peer_cases import SETUPS, load_standard, make_trace
    from archsim.engine.dram_trace import run_trace

    setup = SETUPS[("ramulator2", "hbm3")]
    std = load_standard(setup)
    trace = make_trace("random", setup)
    run_trace(std, trace, mapping=setup.mapping, queue_depth=32, queue_per_channel=True)  # compile first
    wall, cpu = time.perf_counter(), time.process_time()
    res = run_trace(std, trace, mapping=setup.mapping, queue_depth=32, parts=dict(setup.parts), queue_per_channel=True)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"\ntrace replay: {len(trace)} HBM3 random requests in {wall:.3f} s wall ({cpu:.3f} s CPU) -> "
          f"{len(trace) / cpu / 1e6:.2f} M requests per CPU s; {res.bandwidth_bytes_per_s / 1e9:.1f} GB/s simulated")
    assert res.stats.counters["rd"] == len(trace)
