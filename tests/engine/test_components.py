"""SRAM, links, cache, compute units, observers, conservation across a hierarchy, and the CLI."""

import json
import math

import pytest

from archsim.engine import (
    Cache,
    CacheSpec,
    CapacityError,
    Dram,
    Engine,
    Link,
    LinkSpec,
    SfuFunction,
    SpecialFunctionUnit,
    Sram,
    SramSpec,
    SystolicArray,
    Timeline,
    VectorUnit,
)
from archsim.presets import load_memory_standard

KiB = 1024


def test_sram_refuses_to_exceed_capacity_naming_the_buffer():
    sram = Sram(Engine(), SramSpec(capacity_bytes=64 * KiB, clock_hz=1e9, bytes_per_cycle_per_port=64), name="smem")
    sram.allocate("Q", 16 * KiB, double_buffered=True)  # 32 KiB reserved
    sram.allocate("K", 24 * KiB)
    with pytest.raises(CapacityError, match=r"smem: allocating 'V' \(16384 B\) exceeds capacity 65536 B") as info:
        sram.allocate("V", 16 * KiB)
    assert "Q=32768 B" in str(info.value) and "K=24576 B" in str(info.value)
    sram.free("K")
    sram.allocate("V", 16 * KiB)
    assert sram.used_bytes == 48 * KiB and sram.peak_used_bytes == 56 * KiB


def test_sram_ports_limit_concurrency_and_bandwidth():
    eng = Engine()
    spec = SramSpec(capacity_bytes=64 * KiB, clock_hz=1e9, bytes_per_cycle_per_port=64, ports=2, latency_cycles=2)
    sram = Sram(eng, spec)
    for _ in range(4):
        eng.process(sram.read(6400))
    eng.run()
    assert sram.access_cycles(6400) == 102
    assert eng.now == pytest.approx(2 * 102e-9)  # 4 reads, 2 ports: two rounds
    assert sram.bytes_read / eng.now <= spec.peak_bytes_per_s


def test_link_never_exceeds_bandwidth_and_is_full_duplex():
    eng = Engine()
    spec = LinkSpec(bandwidth_bytes_per_s=100e9, latency_s=1e-6, flit_bytes=16)
    link = Link(eng, spec)
    arrivals = []

    def send(n, d):
        arrivals.append((d, (yield eng.process(link.send(n, d)))))

    for i in range(10):
        eng.process(send(1000 + i, 0))
        eng.process(send(1000 + i, 1))
    eng.run()
    wire = sum(math.ceil((1000 + i) / 16) * 16 for i in range(10))
    last = max(t for d, t in arrivals if d == 0)
    assert last == pytest.approx(wire / 100e9 + 1e-6)  # back to back at exactly the bandwidth
    assert max(t for d, t in arrivals if d == 1) == pytest.approx(last)  # the other direction in parallel
    for d in (0, 1):
        assert link.wire_bytes[d] / link.busy_s[d] <= spec.bandwidth_bytes_per_s * (1 + 1e-12)
    half = Link(Engine(), LinkSpec(bandwidth_bytes_per_s=100e9, latency_s=0, full_duplex=False))
    e2 = half.engine
    e2.process(half.send(1000, 0))
    e2.process(half.send(1000, 1))
    e2.run()
    assert e2.now == pytest.approx(2000 / 100e9)


def test_conservation_dram_link_sram():
    """Bytes read from DRAM = bytes carried by the link = bytes written to SRAM."""
    eng = Engine(seed=0)
    dram = Dram(eng, load_memory_standard("hbm3"))
    link = Link(eng, LinkSpec(bandwidth_bytes_per_s=400e9, latency_s=50e-9, flit_bytes=32))
    sram = Sram(eng, SramSpec(capacity_bytes=256 * KiB, clock_hz=1.5e9, bytes_per_cycle_per_port=128, ports=2))
    sizes = [4096 + 512 * i for i in range(24)]

    def mover(i, n):
        sram.allocate(f"tile{i}", n)
        yield eng.process(dram.read(i << 20, n))
        yield eng.process(link.send(n))
        yield eng.process(sram.write(n))

    for i, n in enumerate(sizes):
        eng.process(mover(i, n))
    eng.run()
    assert dram.bytes_requested == link.payload_bytes[0] == sram.bytes_written == sum(sizes)
    assert dram.stats().bytes_read >= sum(sizes)  # whole bursts


def test_cache_hits_sectors_and_write_back():
    eng = Engine()
    dram = Dram(eng, load_memory_standard("ddr4"))
    l2 = Cache(eng, CacheSpec(capacity_bytes=8 * KiB, line_bytes=128, sector_bytes=32, ways=2), backing=dram)

    def run():
        yield eng.process(l2.read(0, 100))  # sectors 0..3 of line 0
        yield eng.process(l2.read(0, 128))
        yield eng.process(l2.write(4096, 64))
        for k in range(1, 4):  # three more lines into the same set (32 sets): evict the dirty one
            yield eng.process(l2.read(4096 * (1 + k), 32))

    eng.process(run())
    eng.run()
    s = l2.stats
    assert s["sector_hits"] == 4 and s["bytes_fetched"] == 4 * 32 + 3 * 32
    assert s["writebacks"] == 2 and s["bytes_written_back"] == 64
    assert dram.stats().counters["wr"] == 1  # 64 B = one DDR4 burst


def test_systolic_contract_output_stationary():
    n, k = 16, 40
    sa = SystolicArray(rows=n, cols=n, stationarity="output_stationary")
    assert sa.tile_cycles(n, n, k) == k + 3 * n - 2
    b = sa.tile_cycle_breakdown(n, n, k)
    assert (b.fill_cycles, b.compute_cycles, b.drain_cycles) == (2 * n - 2, k, n)
    assert sa.tile_cycles(2 * n, 3 * n, k) == 6 * (k + 3 * n - 2)
    sa_ov = SystolicArray(rows=n, cols=n, overlap_drain=True)
    assert sa_ov.tile_cycles(2 * n, 3 * n, k) == 6 * (k + 2 * n - 2) + n
    assert sa.tile_cycles(1, 1, k) == sa.tile_cycles(n, n, k)  # a partial tile costs a full pass


def test_systolic_weight_stationary_and_timing():
    sa = SystolicArray(rows=8, cols=8, stationarity="weight_stationary", clock_hz=1e9)
    assert sa.tile_cycles(100, 8, 8) == 8 + 100 + 8 + 8 - 2
    assert sa.tile_cycles(100, 16, 16) == 4 * (8 + 100 + 14)
    eng = Engine()
    sa = SystolicArray(eng, rows=8, cols=8, clock_hz=1e9, energy_j_per_mac=1e-12)
    eng.process(sa.run_tile(8, 8, 32))
    eng.process(sa.run_tile(8, 8, 32))
    eng.run()
    assert eng.now == pytest.approx(2 * sa.tile_cycles(8, 8, 32) * 1e-9)
    assert sa.energy_j == pytest.approx(2 * 8 * 8 * 32 * 1e-12)
    with pytest.raises(ValueError, match="valid: output_stationary"):
        SystolicArray(rows=2, cols=2, stationarity="row_stationary")


def test_vector_and_sfu_pipelining():
    eng = Engine()
    vec = VectorUnit(eng, lanes=16, clock_hz=1e9, latency_cycles=5)
    sfu = SpecialFunctionUnit(eng, functions={"exp": SfuFunction(ops_per_cycle=4, latency_cycles=20)}, clock_hz=1e9)
    ends = []

    def go():
        ends.append((yield eng.process(vec.run(160))))

    eng.process(go())
    eng.process(go())
    eng.process(sfu.run("exp", 400))
    eng.run()
    assert ends == [pytest.approx(15e-9), pytest.approx(25e-9)]  # second issues behind the first, latency overlaps
    assert eng.now == pytest.approx(120e-9)
    with pytest.raises(ValueError, match="valid: exp"):
        sfu.cycles("log", 1)


def test_timeline_exports_chrome_trace_and_utilisation():
    tl = Timeline()
    eng = Engine(observer=tl)
    link = Link(eng, LinkSpec(bandwidth_bytes_per_s=1e9, latency_s=0))
    eng.process(link.send(1000))
    eng.run()
    trace = json.loads(json.dumps(tl.to_chrome_trace()))
    spans = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert spans[0]["dur"] == pytest.approx(1.0) and spans[0]["args"]["bytes"] == 1000
    assert tl.utilisation("link", 2e-6) == pytest.approx(0.5)


def test_microbench_cli_json_and_bad_input():
    import subprocess
    import sys

    cmd = [sys.executable, "-c", "from archsim.cli import main; main()", "microbench", "dram"]
    run = subprocess.run(cmd + ["--preset", "ddr4", "--pattern", "stream", "--bytes", "512KiB"], capture_output=True,
                         text=True, check=True)
    out = json.loads(run.stdout)
    for key in ("achieved_bytes_per_s", "peak_bytes_per_s", "row_hit_rate", "energy_j", "bounds_bytes_per_s"):
        assert key in out
    assert out["peak_bytes_per_s"] == 25.6e9 and 0.9 < out["fraction_of_peak"] <= 1
    bad = subprocess.run(cmd + ["--preset", "ddr9"], capture_output=True, text=True)
    assert bad.returncode == 2 and "valid: ddr4" in bad.stderr and "Traceback" not in bad.stderr


def test_mapping_registry_names_valid_choices():
    from archsim.engine.dram_mapping import SCHEMES, AddressMapping, register_scheme

    std = load_memory_standard("hbm3")
    with pytest.raises(ValueError, match="valid: RoBaCoBgPcCh"):
        AddressMapping.build(std, "RoRoRo")
    with pytest.raises(ValueError, match="already registered"):
        register_scheme("RoBaCoBgPcCh", "dup")
    for name in SCHEMES:  # every scheme is a bijection on the first bursts it maps
        m = AddressMapping.build(std, name)
        seen = {m.decode(i * std.burst_bytes) for i in range(4096)}
        assert len(seen) == 4096
    m = AddressMapping.build(std)
    assert [m.decode(i * 32)[0] for i in range(4)] == [0, 2, 4, 6]  # Ch lowest: consecutive bursts change channel
