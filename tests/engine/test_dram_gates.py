"""Every DRAM timing gate is tight: a command is refused one cycle early and accepted on time.

Banks: 0 and 1 share bank group 0; bank 4 is in bank group 1 (4 banks per group in both
standards). Each scenario issues legal commands, then probes one command whose binding
constraint is the parameter named.
"""

import pytest

from archsim.engine.dram_timing import CommandChannel, TimingViolation
from archsim.presets import load_memory_standard

T0 = 200  # a cycle late enough that ACT-side gates (tRAS, tRCD, tRRD) no longer bind


def _open(ch, *banks, row=7):
    t = 0
    for b in banks:
        t = ch.earliest("ACT", b, cycle=t)
        ch.issue("ACT", t, bank=b, row=row)
    return t


def scenarios(std):
    t = std.timing
    wtr = lambda n: T0 + t.nCWL + t.nBL + n  # noqa: E731
    return {
        "tRCD": (lambda ch: ch.issue("ACT", 0, bank=0, row=7), ("RD", 0, 7), t.nRCD),
        "tRAS": (lambda ch: ch.issue("ACT", 0, bank=0, row=7), ("PRE", 0, None), t.nRAS),
        "tRC": (lambda ch: (ch.issue("ACT", 0, bank=0, row=7), ch.issue("PRE", t.nRAS, bank=0)), ("ACT", 0, 8),
                t.nRAS + t.nRP),
        "tRP": (lambda ch: (ch.issue("ACT", 0, bank=0, row=7), ch.issue("PRE", T0, bank=0)), ("ACT", 0, 8),
                T0 + t.nRP),
        "tRRD_S": (lambda ch: ch.issue("ACT", 0, bank=0, row=7), ("ACT", 4, 7), t.nRRD_S),
        "tRRD_L": (lambda ch: ch.issue("ACT", 0, bank=0, row=7), ("ACT", 1, 7), t.nRRD_L),
        "tFAW": (lambda ch: _open(ch, 0, 4, 8, 12), ("ACT", 1, 7), t.nFAW),
        "tCCD_S": (lambda ch: (_open(ch, 0, 4), ch.issue("RD", T0, bank=0, row=7)), ("RD", 4, 7), T0 + t.nCCD_S),
        "tCCD_L": (lambda ch: (_open(ch, 0, 1), ch.issue("RD", T0, bank=0, row=7)), ("RD", 1, 7), T0 + t.nCCD_L),
        "tWTR_S": (lambda ch: (_open(ch, 0, 4), ch.issue("WR", T0, bank=0, row=7)), ("RD", 4, 7), wtr(t.nWTR_S)),
        "tWTR_L": (lambda ch: (_open(ch, 0, 1), ch.issue("WR", T0, bank=0, row=7)), ("RD", 1, 7), wtr(t.nWTR_L)),
        "tCL/tCWL read-to-write": (lambda ch: (_open(ch, 0, 4), ch.issue("RD", T0, bank=0, row=7)), ("WR", 4, 7),
                                   T0 + (t.nRTW or t.nCL + t.nBL + 2 - t.nCWL)),
        "tWR": (lambda ch: (_open(ch, 0), ch.issue("WR", T0, bank=0, row=7)), ("PRE", 0, None),
                T0 + t.nCWL + t.nBL + t.nWR),
        "tRTP": (lambda ch: (_open(ch, 0), ch.issue("RD", T0, bank=0, row=7)), ("PRE", 0, None), T0 + t.nRTP),
        "tRFC": (lambda ch: ch.issue("REFab", 0), ("ACT", 0, 7), t.nRFC),
        "tRP before REFab": (lambda ch: (_open(ch, 0), ch.issue("PRE", T0, bank=0)), ("REFab", 0, None), T0 + t.nRP),
    }


CASES = [(name, key) for name in ("hbm3", "ddr4") for key in scenarios(load_memory_standard(name))]


@pytest.mark.parametrize(("standard", "gate"), CASES, ids=[f"{s}-{g}" for s, g in CASES])
def test_gate_is_tight(standard, gate):
    std = load_memory_standard(standard)
    setup, (cmd, bank, row), expected = scenarios(std)[gate]
    ch = CommandChannel(std)
    setup(ch)
    assert ch.earliest(cmd, bank) == expected
    assert not ch.can_issue(cmd, expected - 1, bank=bank, row=row)
    replay = CommandChannel(std)
    setup(replay)
    with pytest.raises(TimingViolation):
        replay.issue(cmd, expected - 1, bank=bank, row=row)
    assert ch.can_issue(cmd, expected, bank=bank, row=row)
    ch.issue(cmd, expected, bank=bank, row=row)


@pytest.mark.parametrize("standard", ["hbm3", "ddr4"])
def test_burst_length_sets_data_return(standard):
    std = load_memory_standard(standard)
    ch = CommandChannel(std)
    ch.issue("ACT", 0, bank=0, row=3)
    assert ch.issue("RD", std.timing.nRCD, bank=0, row=3) == std.timing.nRCD + std.timing.nCL + std.timing.nBL
    assert std.timing.nBL * std.timing.tck_s == pytest.approx(std.organisation.burst_length
                                                              / std.organisation.data_rate_transfers_per_s)


def test_per_bank_refresh_gates_hbm3():
    std = load_memory_standard("hbm3")
    t = std.timing
    ch = CommandChannel(std)
    ch.issue("REFpb", 0, bank=0)
    assert ch.earliest("ACT", 0) == t.nRFCpb
    assert ch.earliest("ACT", 4) == t.nRREFD
    assert not ch.can_issue("ACT", t.nRREFD - 1, bank=4, row=1)


def test_bank_state_is_enforced():
    ch = CommandChannel(load_memory_standard("ddr4"))
    with pytest.raises(TimingViolation, match="row"):
        ch.issue("RD", 100, bank=0, row=1)
    ch.issue("ACT", 0, bank=0, row=1)
    with pytest.raises(TimingViolation, match="precharged"):
        ch.issue("REFab", 1000)


def test_all_bank_activate_for_pim():
    std = load_memory_standard("hbm3")
    t = std.timing
    ch = CommandChannel(std)
    ch.issue("ACT", 0, bank=5, row=1)
    ch.issue("PRE", t.nRAS, bank=5)
    start = ch.earliest("ACTab")
    assert start == max(t.nRAS + t.nRP, t.nFAW)  # bank 5 tRC/tRP, and tFAW from the lone ACT (ACTab = 4 ACTs)
    assert not ch.can_issue("ACTab", start - 1, row=9)
    ch.issue("ACTab", start, row=9)
    assert all(ch.open_row(b) == 9 for b in range(std.banks))
    assert ch.earliest("RD", 11) == start + t.nRCD
    assert ch.earliest("PREab") == start + t.nRAS
    ch.issue("PREab", start + t.nRAS)
    assert ch.earliest("ACT", 0) == max(start + t.nRAS + t.nRP, start + t.nFAW)
