"""cocotb testbench for ``pim_bank_mac.v``: driver, monitor, reference model, checker.

The driver plays a DRAM bank streaming one row: a burst every ``interval`` cycles (1, or 4
like tCCD_L = 4 controller cycles), with optional random extra idle cycles; the monitor
applies back-pressure. Reference model: ``PimBankMacUnit.row_dot_raw`` (exact integers).
Rows: seeded random operands, all-most-negative operands (largest products, checks the
accumulator and tree widths), and alternating signs. Cycles must be ``bursts + 3`` plus
exactly the idle cycles the driver left and the stalled cycles.
"""

from __future__ import annotations

import random

import cocotb
from archsim.rtl.tb_util import StreamDriver, StreamMonitor, pack_lanes, param, record_cycles, start_and_reset
from cocotb.triggers import RisingEdge

from archsim.engine.fixed_units import PimBankMacUnit

LATENCY = 3


def rows_for(lanes: int, data_w: int, bursts: int, rng: random.Random) -> list[tuple[list, list]]:
    lo, hi = -(1 << (data_w - 1)), (1 << (data_w - 1)) - 1

    def rand_row():
        return [[rng.randint(lo, hi) for _ in range(lanes)] for _ in range(bursts)]

    most_negative = [[lo] * lanes for _ in range(bursts)]
    alternating = [[hi if (b + lane) % 2 else lo for lane in range(lanes)] for b in range(bursts)]
    return [(rand_row(), rand_row()), (most_negative, most_negative), (alternating, rand_row())]


@cocotb.test()
@cocotb.parametrize(bursts=[1, 32], interval=[1, 4], inject=["clean", "idle_stall", "back_to_back"])
async def row_mac(dut, bursts: int, interval: int, inject: str):
    lanes, data_w, out_w = param(dut, "LANES"), param(dut, "DATA_W"), param(dut, "OUT_W")
    model = PimBankMacUnit(lanes=lanes, data_bits=data_w)
    rng = random.Random(97 * bursts + 13 * interval + len(inject))
    idle_prob = 0.25 if inject == "idle_stall" else 0.0
    stall_prob = 0.5 if inject == "idle_stall" else 0.0
    dut.in_valid.value = 0
    dut.in_last.value = 0
    dut.out_ready.value = 0
    await start_and_reset(dut)
    rows = rows_for(lanes, data_w, bursts, rng)
    batches = [rows] if inject == "back_to_back" else [[row] for row in rows]
    for batch in batches:
        items = [{"in_w": pack_lanes(w[b], data_w), "in_x": pack_lanes(x[b], data_w), "in_last": int(b == bursts - 1)}
                 for w, x in batch for b in range(bursts)]
        driver = StreamDriver(dut, "in", rng, idle_prob=idle_prob, gap_cycles=interval - 1)
        monitor = StreamMonitor(dut, "out", lambda d: d.out_sum.value.to_signed(), rng, stall_prob=stall_prob)
        mon_task = cocotb.start_soon(monitor.collect(len(batch)))
        await driver.send(items)
        await mon_task
        for (w, x), (_, got) in zip(batch, monitor.items, strict=True):
            assert got == model.row_dot_raw(w, x), f"row dot product: RTL {got}, model {model.row_dot_raw(w, x)}"
        assert max(abs(v) for _, v in monitor.items) < 1 << (out_w - 1)
        cycles = monitor.items[-1][0] - driver.fire_cycles[0] + 1
        assert cycles == len(items) + LATENCY + driver.bubble_cycles + monitor.stall_cycles, (
            f"{len(items)} bursts every {interval}: {cycles} cycles, bubbles {driver.bubble_cycles}, "
            f"stall {monitor.stall_cycles}")
        if inject == "clean":
            record_cycles("pim_mac", bursts=bursts, interval=interval, lanes=lanes, cycles=cycles)
        await RisingEdge(dut.clk)
