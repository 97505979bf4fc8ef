"""cocotb testbench for ``gelu_unit.v``: driver, monitor, reference model, checker.

Reference model: :func:`archsim.engine.fixed_units.gelu_raw` (bit-exact; equal to
``kernels/numba/edge_moe.py``). Stimulus: seeded random values in [-8, 8] and over the whole
32-bit range, plus corners (0, +-1 LSB, every table knot and its neighbours, the ReLU
threshold 199/32 and one LSB below, the most negative and most positive words). Idle input
cycles and output back-pressure are injected; measured cycles must be ``n + 2`` plus exactly
the injected idle and stall cycles.
"""

from __future__ import annotations

import random

import cocotb
from archsim.rtl.tb_util import StreamDriver, StreamMonitor, record_cycles, start_and_reset
from cocotb.triggers import RisingEdge

from archsim.engine.fixed_units import GELU_TABLE_MAX_RAW, GELU_TABLE_SIZE, gelu_raw

LATENCY = 2
FM_MIN, FM_MAX = -(1 << 31), (1 << 31) - 1


def corner_values() -> list[int]:
    knots = [i << 17 for i in range(GELU_TABLE_SIZE)]
    near = [v + d for v in knots for d in (-1, 1)]
    edge = [0, 1, -1, GELU_TABLE_MAX_RAW, GELU_TABLE_MAX_RAW - 1, FM_MIN, FM_MAX, FM_MIN + 1]
    vals = knots + near + edge
    return vals + [-v for v in vals if v != FM_MIN]


def random_values(rng: random.Random, count: int) -> list[int]:
    dense = [rng.randint(-8 << 22, 8 << 22) for _ in range(count // 2)]
    full = [rng.randint(FM_MIN, FM_MAX) for _ in range(count - count // 2)]
    return dense + full


@cocotb.test()
@cocotb.parametrize(stimulus=["random", "corners"], inject=["clean", "idle", "stall", "both"])
async def gelu_stream(dut, stimulus: str, inject: str):
    rng = random.Random(31 * len(stimulus) + len(inject))
    values = random_values(rng, 400) if stimulus == "random" else corner_values()
    if inject != "clean":
        values = values[:200]
    idle_prob = 0.3 if inject in ("idle", "both") else 0.0
    stall_prob = 0.4 if inject in ("stall", "both") else 0.0
    dut.in_valid.value = 0
    dut.out_ready.value = 0
    await start_and_reset(dut)
    driver = StreamDriver(dut, "in", rng, idle_prob=idle_prob)
    monitor = StreamMonitor(dut, "out", lambda d: d.out_y.value.to_signed(), rng, stall_prob=stall_prob)
    mon_task = cocotb.start_soon(monitor.collect(len(values)))
    await driver.send([{"in_x": v & 0xFFFF_FFFF} for v in values])
    await mon_task
    got = [y for _, y in monitor.items]
    for x, y in zip(values, got, strict=True):
        assert y == gelu_raw(x), f"gelu({x}) raw: RTL {y}, golden {gelu_raw(x)}"
    cycles = monitor.items[-1][0] - driver.fire_cycles[0] + 1
    idle = driver.bubble_cycles  # each bubble and each stalled cycle delays the last output by one
    assert cycles == len(values) + LATENCY + idle + monitor.stall_cycles, (
        f"{len(values)} values: {cycles} cycles, idle {idle}, stall {monitor.stall_cycles}")
    if inject == "clean":
        record_cycles("gelu", n_values=len(values), cycles=cycles)
    await RisingEdge(dut.clk)
