"""cocotb testbench for ``edge_softmax.v``: driver, monitor, reference model, checker.

Reference model: :func:`archsim.engine.fixed_units.edge_softmax_raw` (bit-exact). Rows:
seeded random ViT-like scores (N(0, 2^2)), and corner rows (all equal, strictly increasing so
every score rescales the sum, strictly decreasing, one dominant score, the extreme words
-512 and +512 - 2^-22). Idle input cycles and output back-pressure are injected; the measured
cycles must be ``2L + 23`` plus exactly the injected idle and stall cycles.
"""

from __future__ import annotations

import random

import cocotb
from archsim.rtl.tb_util import StreamDriver, StreamMonitor, param, record_cycles, start_and_reset
from cocotb.triggers import RisingEdge

from archsim.engine.fixed_units import FRAC_BITS, edge_softmax_raw

RECIP_BITS = 23
FM_MIN, FM_MAX = -(1 << 31), (1 << 31) - 1


def rows_for(length: int, rng: random.Random) -> list[list[int]]:
    one = 1 << FRAC_BITS
    rand = [[int(rng.gauss(0.0, 2.0) * one) for _ in range(length)] for _ in range(2)]
    equal = [3 * one + 12345] * length
    rising = [(-length + 2 * i) * one // 4 for i in range(length)]
    falling = list(reversed(rising))
    dominant = [-(40 * one)] * length
    dominant[length // 2] = 20 * one
    extremes = [FM_MAX if i % 2 else FM_MIN for i in range(length)]
    return [*rand, equal, rising, falling, dominant, extremes]


def to_word(v: int) -> int:
    return v & 0xFFFF_FFFF


@cocotb.test()
@cocotb.parametrize(length_case=["one", "two", "odd", "max"], inject=["clean", "idle", "stall", "both"])
async def softmax_rows(dut, length_case: str, inject: str):
    lmax = param(dut, "LMAX")
    length = {"one": 1, "two": 2, "odd": min(13, lmax), "max": lmax}[length_case]
    idle_prob = 0.3 if inject in ("idle", "both") else 0.0
    stall_prob = 0.4 if inject in ("stall", "both") else 0.0
    rng = random.Random(7919 * length + len(inject))
    dut.in_valid.value = 0
    dut.in_last.value = 0
    dut.out_ready.value = 0
    await start_and_reset(dut)
    for row in rows_for(length, rng):
        items = [{"in_score": to_word(x), "in_last": int(i == length - 1)} for i, x in enumerate(row)]
        driver = StreamDriver(dut, "in", rng, idle_prob=idle_prob)
        monitor = StreamMonitor(dut, "out", lambda d: (int(d.out_prob.value), int(d.out_last.value)),
                                rng, stall_prob=stall_prob)
        mon_task = cocotb.start_soon(monitor.collect(length))
        await driver.send(items)
        await mon_task
        got = [p for _, (p, _) in monitor.items]
        lasts = [last for _, (_, last) in monitor.items]
        expected = edge_softmax_raw(row)
        bad = [i for i, (g, x) in enumerate(zip(got, expected, strict=True)) if g != x]
        assert not bad, f"L={length}: score[{bad[0]}]={row[bad[0]]}: p raw {got[bad[0]]}, expected {expected[bad[0]]}"
        assert lasts == [0] * (length - 1) + [1], f"out_last pattern {lasts}"
        cycles = monitor.items[-1][0] - driver.fire_cycles[0] + 1
        idle = driver.bubble_cycles
        assert cycles == 2 * length + RECIP_BITS + idle + monitor.stall_cycles, (
            f"L={length}: {cycles} cycles, idle {idle}, stall {monitor.stall_cycles}")
        if inject == "clean":
            record_cycles("softmax", length=length, lmax=lmax, cycles=cycles)
        await RisingEdge(dut.clk)
