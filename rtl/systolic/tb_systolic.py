"""cocotb testbench for ``systolic_array.v``: driver, monitor, reference model, checker.

Stimulus: per test, a few tiles with seeded random int operands plus corner tiles (all
most-negative operands, zeros, K = 1). Idle input cycles and output back-pressure are
injected with the probabilities the parametrisation gives. The checker compares every result
row with the integer reference (wrapped to ACC_W bits) and the measured cycles with
``K + 3N - 2`` plus exactly the injected idle and stall cycles. Clean runs (no idle, no stall)
are recorded for pytest to compare with archsim's SystolicArray model.
"""

from __future__ import annotations

import random

import cocotb
from archsim.rtl.tb_util import (
    StreamDriver,
    StreamMonitor,
    pack_lanes,
    param,
    record_cycles,
    split_lanes,
    start_and_reset,
)
from cocotb.triggers import RisingEdge


def reference_tile(a: list[list[int]], b: list[list[int]], acc_w: int) -> list[list[int]]:
    """C = A @ B in exact integers, wrapped to acc_w-bit two's complement like the RTL."""
    n, k = len(a), len(b)
    out = []
    for i in range(n):
        row = []
        for j in range(len(b[0])):
            v = sum(a[i][t] * b[t][j] for t in range(k)) & ((1 << acc_w) - 1)
            row.append(v - (1 << acc_w) if v >> (acc_w - 1) else v)
        out.append(row)
    return out


def tiles_for(n: int, k: int, data_w: int, rng: random.Random) -> list[tuple[list, list]]:
    lo, hi = -(1 << (data_w - 1)), (1 << (data_w - 1)) - 1
    rand = [([[rng.randint(lo, hi) for _ in range(k)] for _ in range(n)],
             [[rng.randint(lo, hi) for _ in range(n)] for _ in range(k)]) for _ in range(2)]
    corner_min = ([[lo] * k for _ in range(n)], [[lo] * n for _ in range(k)])  # largest products
    corner_mixed = ([[hi] * k for _ in range(n)], [[lo] * n for _ in range(k)])
    zeros = ([[0] * k for _ in range(n)], [[rng.randint(lo, hi) for _ in range(n)] for _ in range(k)])
    return [*rand, corner_min, corner_mixed, zeros]


async def run_tile(dut, a, b, *, rng, idle_prob, stall_prob) -> tuple[int, int, int]:
    """Drive one tile and check its rows; return (measured cycles, idle cycles, stall cycles).

    Idle cycles are the bubbles the driver left between the first and the last slice;
    stall cycles are those with a valid result row held by out_ready low.
    """
    n, data_w, acc_w = param(dut, "N"), param(dut, "DATA_W"), param(dut, "ACC_W")
    k = len(b)
    slices = [{"in_a": pack_lanes([a[i][t] for i in range(n)], data_w),
               "in_b": pack_lanes(b[t], data_w), "in_last": int(t == k - 1)} for t in range(k)]
    driver = StreamDriver(dut, "in", rng, idle_prob=idle_prob)
    monitor = StreamMonitor(dut, "out", lambda d: (int(d.out_row.value), split_lanes(int(d.out_c.value), n, acc_w)),
                            rng, stall_prob=stall_prob)
    mon_task = cocotb.start_soon(monitor.collect(n))
    await driver.send(slices)
    await mon_task
    expected = reference_tile(a, b, acc_w)
    rows_seen = [row for _, (row, _) in monitor.items]
    assert rows_seen == list(range(n - 1, -1, -1)), f"drain order {rows_seen}"
    for _, (row, values) in monitor.items:
        assert values == expected[row], f"row {row}: got {values}, expected {expected[row]}"
    cycles = monitor.items[-1][0] - driver.fire_cycles[0] + 1
    idle = driver.bubble_cycles
    return cycles, idle, monitor.stall_cycles


@cocotb.test()
@cocotb.parametrize(k_case=["one", "n", "long"], inject=["clean", "idle", "stall", "both"])
async def tile_gemm(dut, k_case: str, inject: str):
    n, data_w = param(dut, "N"), param(dut, "DATA_W")
    k = {"one": 1, "n": n, "long": 3 * n + 5}[k_case]
    idle_prob = 0.3 if inject in ("idle", "both") else 0.0
    stall_prob = 0.4 if inject in ("stall", "both") else 0.0
    rng = random.Random(1000 * n + 10 * k + len(inject))
    dut.in_valid.value = 0
    dut.out_ready.value = 0
    dut.in_last.value = 0
    await start_and_reset(dut)
    for a, b in tiles_for(n, k, data_w, rng):
        cycles, idle, stall = await run_tile(dut, a, b, rng=rng, idle_prob=idle_prob, stall_prob=stall_prob)
        cycles_clean = k + 3 * n - 2
        assert cycles == cycles_clean + idle + stall, (
            f"N={n} K={k}: measured {cycles} cycles, expected {cycles_clean} + idle {idle} + stall {stall}")
        if inject == "clean":
            record_cycles("systolic", n=n, k=k, cycles=cycles)
        for _ in range(rng.randint(0, 2)):  # gap between tiles
            await RisingEdge(dut.clk)


