"""The controller's command stream obeys JEDEC rules, checked pairwise by an independent replay.

The rules below are written out again from the standard (not taken from the engine's distance
tables), and checked over every pair of commands of a unit, plus tFAW windows, one command
per bus cycle and the bank state (ACT to a closed bank, RD/WR to the open row, REF closed).
"""

import numpy as np
import pytest

from archsim.engine.dram import DramController
from archsim.presets import load_memory_standard

NAMES = ("ACT", "PRE", "RD", "WR", "REFab", "REFpb")


def rules(t):
    n_rc = t.nRAS + t.nRP
    wr_rd = lambda n: t.nCWL + t.nBL + n  # noqa: E731
    bank = {("ACT", "ACT"): n_rc, ("ACT", "RD"): t.nRCD, ("ACT", "WR"): t.nRCDWR or t.nRCD, ("ACT", "PRE"): t.nRAS,
            ("RD", "PRE"): t.nRTP, ("WR", "PRE"): t.nCWL + t.nBL + t.nWR, ("PRE", "ACT"): t.nRP,
            ("PRE", "REFpb"): t.nRP, ("ACT", "REFpb"): n_rc}
    if t.nRFCpb:
        bank[("REFpb", "ACT")] = t.nRFCpb
    group = {("ACT", "ACT"): t.nRRD_L, ("RD", "RD"): t.nCCD_L, ("WR", "WR"): t.nCCD_L, ("WR", "RD"): wr_rd(t.nWTR_L)}
    unit = {("ACT", "ACT"): t.nRRD_S, ("RD", "RD"): t.nCCD_S, ("WR", "WR"): t.nCCD_S, ("WR", "RD"): wr_rd(t.nWTR_S),
            ("RD", "WR"): t.nRTW or t.nCL + t.nBL + 2 - t.nCWL, ("REFab", "ACT"): t.nRFC, ("PRE", "REFab"): t.nRP,
            ("ACT", "REFab"): n_rc, ("REFab", "REFab"): t.nRFC}
    if t.nRREFD:
        unit[("REFpb", "ACT")] = t.nRREFD
        unit[("REFpb", "REFpb")] = t.nRREFD
    return bank, group, unit


def check_trace(std, log):
    t = std.timing
    bank_r, group_r, unit_r = rules(t)
    horizon = max(max(r.values()) for r in (bank_r, group_r, unit_r))
    bpg = std.organisation.banks_per_group
    for u in np.unique(log[:, 1]):
        cmds = log[log[:, 1] == u]
        cmds = cmds[np.argsort(cmds[:, 0], kind="stable")]
        on_bus = cmds[cmds[:, 5] == 1]
        # row_column buses (HBM): a row and a column command may share a cycle; each bus carries one
        classes = [np.isin(on_bus[:, 2], (2, 3)), ~np.isin(on_bus[:, 2], (2, 3))] \
            if t.command_bus == "row_column" else [np.ones(len(on_bus), bool)]
        for cls in classes:
            bus = on_bus[cls & ~((on_bus[:, 2] == 1) & (t.command_bus == "row_column")), 0]  # PREs may pair
            assert len(np.unique(bus)) == len(bus), "two commands in one bus cycle"
        acts = cmds[cmds[:, 2] == 0, 0]
        assert (acts[4:] - acts[:-4] >= t.nFAW).all(), "tFAW violated"
        open_row = {}
        for i, (cyc, _, c, b, row, _) in enumerate(cmds):
            name = NAMES[c]
            if name == "ACT":
                assert b not in open_row, f"ACT to open bank {b} at {cyc}"
                open_row[b] = row
            elif name in ("RD", "WR"):
                assert open_row.get(b) == row, f"{name} to bank {b} row {row} at {cyc}, open {open_row.get(b)}"
            elif name == "PRE":
                open_row.pop(b, None)
            elif name == "REFab":
                assert not open_row, f"REFab with open banks at {cyc}"
            else:
                assert b not in open_row, f"REFpb to open bank {b}"
            j = i - 1
            while j >= 0 and cyc - cmds[j, 0] < horizon:
                pc, pb = NAMES[cmds[j, 2]], cmds[j, 3]
                key, gap = (pc, name), cyc - cmds[j, 0]
                need = unit_r.get(key, 0)
                if pb // bpg == b // bpg:
                    need = max(need, group_r.get(key, 0))
                if pb == b:
                    need = max(need, bank_r.get(key, 0))
                assert gap >= need, f"{pc}->{name} banks {pb}->{b}: {gap} < {need} cycles at {cyc}"
                j -= 1


@pytest.mark.parametrize("standard", ["hbm3", "ddr4"])
@pytest.mark.parametrize("page_policy", ["open", "closed"])
def test_command_stream_obeys_every_rule(standard, page_policy):
    std = load_memory_standard(standard)
    ctrl = DramController(std, page_policy=page_policy, queue_depth=16, log_commands=200_000)
    rng = np.random.default_rng(11)
    for i in range(120):
        kind = rng.integers(0, 3)
        ctrl.submit(base=int(rng.integers(0, 1 << 26)) // 64 * 64, count=int(rng.integers(1, 64)),
                    write=bool(rng.integers(0, 2)), arrival_cycle=i * 150,
                    random_seed=int(rng.integers(1, 1000)) if kind == 0 else None,
                    stride=0 if kind != 2 else 4096)
    done = ctrl.advance(1 << 40, drain=True)
    log = ctrl.command_log
    assert len(done) == 120 and len(log) < 200_000
    counts = {NAMES[c]: int((log[:, 2] == c).sum()) for c in range(6)}
    assert counts["RD"] > 0 and counts["WR"] > 0 and counts["ACT"] > 0
    assert counts["REFab"] + counts["REFpb"] > 0  # long enough to refresh
    check_trace(std, log)


def test_checker_catches_a_violation():
    std = load_memory_standard("ddr4")
    t = std.timing
    bad = np.array([[0, 0, 0, 0, 3, 1], [t.nRCD - 1, 0, 2, 0, 3, 1]])
    with pytest.raises(AssertionError, match="ACT->RD"):
        check_trace(std, bad)
