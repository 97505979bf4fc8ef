"""Controller parts, HBM3 shared command buses and stack IDs, write drain/forwarding, peer trace formats."""

import numpy as np
import pytest

from archsim.engine.dram import DramController
from archsim.engine.dram_parts import register_part, resolve
from archsim.engine.dram_trace import Trace, read_trace, run_trace
from archsim.errors import ConfigError
from archsim.presets import load_memory_standard


def test_part_registry_rejects_duplicates_and_lists_valid_names():
    with pytest.raises(ValueError, match="already registered"):
        register_part("scheduler", "frfcfs", core="frfcfs")
    with pytest.raises(ValueError, match="valid: frfcfs, fcfs"):
        resolve({"scheduler": "nope"})
    assert resolve({"write_policy": "drain_full"})["write_policy"].params == {"high": 1.0, "low": 0.0}


def _random_log(std, n=3000, write_share=0.0, parts=None):
    ctrl = DramController(std, queue_depth=16, log_commands=200_000, parts=parts)
    rng = np.random.default_rng(5)
    bases = rng.integers(0, int(std.organisation.capacity_bytes) // std.burst_bytes, n) * std.burst_bytes
    ctrl.submit_many(bases, rng.random(n) < write_share, np.zeros(n, np.int64))
    ctrl.advance(1 << 40, drain=True)
    return ctrl.command_log


def test_hbm3_pseudo_channels_share_the_row_and_column_buses():
    std = load_memory_standard("hbm3")
    log = _random_log(std, write_share=0.3)
    pcs = std.organisation.pseudo_channels
    for ch in range(std.organisation.channels):
        cmds = log[(log[:, 1] // pcs == ch) & (log[:, 5] == 1)]
        col = cmds[np.isin(cmds[:, 2], (2, 3)), 0]
        assert len(np.unique(col)) == len(col), "two column commands of one channel in one cycle"
        acts = np.sort(cmds[cmds[:, 2] == 0, 0])
        assert (np.diff(acts) >= 2).all(), "ACT holds the row bus 1.5 CK: the next ACT is 2 CK later"
        rising = np.sort(cmds[np.isin(cmds[:, 2], (0, 4, 5)), 0])  # ACT/REF start on rising edges only
        assert len(np.unique(rising)) == len(rising)


def test_hbm3_stack_ids_double_the_banks_and_gate_tccdr():
    std = load_memory_standard("hbm3")
    assert std.organisation.ranks == 2
    log = _random_log(std)
    banks = std.banks
    for u in range(4):
        rd = log[(log[:, 1] == u) & (log[:, 2] == 2)]
        assert rd[:, 3].max() >= banks  # banks of the second SID are used
        gaps = np.diff(rd[:, 0])
        other_sid = (rd[1:, 3] // banks) != (rd[:-1, 3] // banks)
        assert (gaps[other_sid] >= std.timing.nCCDR).all()


def test_write_drain_raises_read_latency_and_forwards_reads():
    std = load_memory_standard("ddr4")
    n = 4000
    rng = np.random.default_rng(2)
    addrs = rng.integers(0, 1 << 27, n) * 64
    writes = rng.random(n) < 0.5
    mixed = run_trace(std, Trace("dramsim3", addrs, writes, np.zeros(n, np.int64)))
    drain = run_trace(std, Trace("dramsim3", addrs, writes, np.zeros(n, np.int64)), parts={"write_policy": "drain"})
    assert drain.read_latency_cycles.mean() > 1.2 * mixed.read_latency_cycles.mean()
    same = np.array([4096, 4096, 8192]), np.array([True, False, False]), np.array([0, 1, 200])
    fwd = run_trace(std, Trace("dramsim3", *same), parts={"write_policy": "drain"})
    assert fwd.stats.counters["read_forwards"] == 1 and fwd.stats.counters["rd"] == 1
    assert fwd.read_latency_cycles[0] == 1  # forwarded one cycle after it entered


def test_trace_formats_and_bad_lines(tmp_path):
    ds3 = tmp_path / "a.trace"
    ds3.write_text("0x40 READ 0\n0x80 WRITE 5\n")
    t = read_trace(ds3)
    assert t.fmt == "dramsim3" and t.writes.tolist() == [False, True] and t.cycles.tolist() == [0, 5]
    ls = tmp_path / "b.trace"
    ls.write_text("LD 0x40\nST 128\n")
    assert read_trace(ls).addresses.tolist() == [64, 128]
    rw = tmp_path / "c.trace"
    rw.write_text("R 1,0,0,2,3,7\nW 0,0,1,0,5,2\n")
    std = load_memory_standard("ddr4")
    res = run_trace(std, read_trace(rw))
    assert res.stats.counters["rd"] == 1 and res.stats.counters["wr"] == 1
    bad = tmp_path / "d.trace"
    bad.write_text("0x40 READ 0\n0x80 FETCHX 1\n0x80 READ\n")
    with pytest.raises(ConfigError) as err:
        read_trace(bad)
    assert [p.line for p in err.value.problems] == [2, 3]


def test_ramulator2_write_mode_is_one_per_channel():
    """Ramulator 2.1's set_write_mode: 10 writes to PC 0 (under the 0.8 x 32 watermark), arriving after 12 reads to
    PC 1, wait while reads are buffered; the per-unit ``drain`` lets PC 0 serve its writes at once (its part of
    the queue holds no read)."""
    std = load_memory_standard("hbm3")
    enc = DramController(std).mapping.encode
    addrs = [enc(1, b, 9, 0) for b in range(12)] + [enc(0, b, 7, 0) for b in range(10)]  # reads first
    writes = np.array([False] * 12 + [True] * 10)

    def first_wr_and_last_read_act(policy):
        ctrl = DramController(std, queue_depth=32, log_commands=1000, queue_per_channel=True, active_buffer=True,
                              parts={"write_policy": policy, "refresh": "none"})
        ctrl.submit_many(np.array(addrs), writes, np.zeros(len(addrs), np.int64))
        ctrl.advance(1 << 40, drain=True)
        log = ctrl.command_log
        first_wr = log[log[:, 2] == 3, 0].min()
        read_acts = log[(log[:, 2] == 0) & (log[:, 1] == 1), 0]
        assert len(read_acts) == 12 and ctrl.stats().counters["wr"] == 10
        return first_wr, read_acts.max()

    wr, last_act = first_wr_and_last_read_act("ramulator2")
    assert wr > last_act  # write mode only once the channel's read buffer is empty (the reads are activated)
    wr, last_act = first_wr_and_last_read_act("drain")
    assert wr < last_act


def test_dramsim3_writes_wait_for_a_full_buffer_or_idle_command_queues():
    """DRAMsim3's ScheduleTransaction: 20 writes after 300 reads (write buffer 32) wait until its command queues are
    empty; 40 fill the buffer and start a drain while reads are still queued; 5 (<= 8) are flushed at the end."""
    std = load_memory_standard("ddr4")
    rng = np.random.default_rng(3)

    def first_wr_last_rd(n_writes):
        n = n_writes + 300
        addrs = rng.integers(0, 1 << 26, n) * 64
        trace = Trace("dramsim3", addrs, np.arange(n) >= 300, np.arange(n, dtype=np.int64))  # reads first
        res = run_trace(std, trace, queue_depth=32, parts={"write_policy": "dramsim3", "refresh": "none"},
                        log_commands=10_000)
        log = res.stats.controller.command_log
        assert res.stats.counters["wr"] == n_writes and res.stats.counters["rd"] == 300
        return log[log[:, 2] == 3, 0].min(), log[log[:, 2] == 2, 0].max()

    for n_writes in (20, 5):
        wr, rd = first_wr_last_rd(n_writes)
        assert wr > rd
    wr, rd = first_wr_last_rd(40)
    assert wr < rd


def test_peer_report_rows_and_files(tmp_path):
    from archsim.engine.dram_peers import compare, reproduce

    rows = compare()
    assert {(r["peer"], r["standard"]) for r in rows} == {("dramsim3", "ddr4"), ("dramsim3", "hbm2"),
                                                           ("ramulator2", "hbm3")}
    for r in rows:
        if r["pattern"] == "stream":  # same trace, same mapping: the row-hit rates are the address pattern's
            assert abs(r["ours"]["row_hit_rate"] - r["theirs"]["row_hit_rate"]) < 0.01
        assert r["ours"]["rd"] + r["ours"]["wr"] + r["ours"]["read_forwards"] == 20_000
    paths = reproduce(tmp_path)
    assert [p.name for p in paths] == ["dram-peers.md", "dram-peers.json"]
    assert "| ramulator2 | hbm3 | stream |" in paths[0].read_text()


def test_microbench_trace_cli(tmp_path):
    import json
    import subprocess
    import sys

    good = tmp_path / "ok.trace"
    good.write_text("0x0 READ 0\n0x10000 WRITE 2\n0x10000 READ 3\n")
    cmd = [sys.executable, "-m", "archsim", "microbench", "dram", "--preset", "ddr4", "--trace"]
    out = subprocess.run([*cmd, str(good), "--write-policy", "drain"], capture_output=True, text=True, check=True)
    res = json.loads(out.stdout)
    assert res["format"] == "dramsim3" and res["read_forwards"] == 1 and res["rd"] == 1 and res["wr"] == 1
    bad = tmp_path / "bad.trace"
    bad.write_text("0x0 READ 0\n0x40 READ\n")
    out = subprocess.run([*cmd, str(bad)], capture_output=True, text=True)
    assert out.returncode == 2 and f"{bad}:2:" in out.stderr and "Traceback" not in out.stderr


def test_dramsim3_cycle_order_and_one_entry_per_cycle():
    """DRAMsim3's front end hands over one transaction per cycle (TraceBasedCPU), so 50 requests all due at cycle 0
    enter at 0..49 with its queues, together without them; a read entering at t moves at t and is activated at
    t + 1 (its clk t + 2: added after tick t, moved in tick t + 1)."""
    std = load_memory_standard("ddr4")
    addrs = np.random.default_rng(4).integers(0, 1 << 26, 50) * 64
    trace = Trace("dramsim3", addrs, np.zeros(50, bool), np.zeros(50, np.int64))
    parts = {"write_policy": "dramsim3", "refresh": "none"}
    entered = run_trace(std, trace, queue_depth=64, parts=parts).enter_cycles
    assert (np.sort(entered) == np.arange(50)).all()
    assert (run_trace(std, trace, queue_depth=64, parts={"refresh": "none"}).enter_cycles == 0).all()
    one = Trace("dramsim3", addrs[:1], np.zeros(1, bool), np.array([5]))
    log = run_trace(std, one, queue_depth=32, parts=parts, log_commands=10).stats.controller.command_log
    assert log[0, 2] == 0 and log[0, 0] == 6


def test_dramsim3_ddr4_twin_turnarounds():
    """The DDR4 twin's RD->WR (DRAMsim3 read_to_write = RL + burst - WL + tRTRS) and rank-to-rank WR->WR (burst)."""
    from archsim.engine.dram_gates import core_tables
    from archsim.engine.dram_peer_cases import SETUPS, load_standard
    from archsim.engine.dram_timing import RD, WR

    std = load_standard(SETUPS[("dramsim3", "ddr4")])
    _bank, _bg, unit, _rank, xrank = core_tables(std)
    assert unit[RD, WR] == 11 and xrank[WR, WR] == 4 and xrank[RD, RD] == 5
    plain = core_tables(load_memory_standard("ddr4"))[4]
    assert plain[WR, WR] == plain[RD, RD]  # nCCDR_WR unset: nCCDR for both
