"""Shared cocotb pieces: clock/reset, a valid/ready stream driver and monitor, cycle stamps.

Timing convention (all testbenches): the clock has a 10 ns period and rises at t = 10c ns;
signals are driven right after a rising edge and sampled at the following falling edge, when
they are settled. A handshake sampled at the falling edge at ``10c + 5`` ns happens in cycle
``c`` (the DUT registers it at the next rising edge). Unit cycle counts are inclusive:
``last output cycle - first input cycle + 1``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge
from cocotb.utils import get_sim_time

CLOCK_PERIOD_NS = 10


def cycle_now() -> int:
    """Index of the current clock cycle (valid when called at a falling edge)."""
    return int(get_sim_time("ns")) // CLOCK_PERIOD_NS


async def start_and_reset(dut, cycles: int = 3) -> None:
    """Start the clock, hold ``rst`` high for ``cycles`` rising edges, release it."""
    Clock(dut.clk, CLOCK_PERIOD_NS, unit="ns").start()
    dut.rst.value = 1
    for _ in range(cycles):
        await RisingEdge(dut.clk)
    dut.rst.value = 0


def param(dut, name: str) -> int:
    """A Verilog parameter read back from the design (not from the testbench's own config)."""
    return int(getattr(dut, name).value)


@dataclass
class StreamDriver:
    """Drives ``<prefix>_valid`` plus payload signals; waits for ``<prefix>_ready``.

    ``idle_prob``: chance of an idle (valid low) cycle before each item, from ``rng``.
    ``fire_cycles`` collects the cycle of each accepted item; ``bubble_cycles`` counts idle
    cycles after the first accepted item in which the DUT was ready, i.e. the cycles the
    driver (not the DUT's back-pressure) left empty.
    """

    dut: object
    prefix: str
    rng: random.Random
    idle_prob: float = 0.0
    gap_cycles: int = 0  # fixed idle cycles before every item but the first (a DRAM burst interval)
    fire_cycles: list[int] = field(default_factory=list)
    bubble_cycles: int = 0

    async def send(self, items: Sequence[Mapping[str, int]]) -> None:
        valid = getattr(self.dut, f"{self.prefix}_valid")
        ready = getattr(self.dut, f"{self.prefix}_ready")
        for index, item in enumerate(items):
            gaps = self.gap_cycles if index else 0
            while gaps or (self.idle_prob and self.rng.random() < self.idle_prob):
                gaps = max(0, gaps - 1)
                valid.value = 0
                await FallingEdge(self.dut.clk)
                if self.fire_cycles and bool(ready.value):
                    self.bubble_cycles += 1
                await RisingEdge(self.dut.clk)
            for name, value in item.items():
                getattr(self.dut, name).value = value
            valid.value = 1
            while True:
                await FallingEdge(self.dut.clk)
                fired = bool(ready.value)
                if fired:
                    self.fire_cycles.append(cycle_now())
                await RisingEdge(self.dut.clk)
                if fired:
                    break
        valid.value = 0


@dataclass
class StreamMonitor:
    """Drives ``<prefix>_ready`` (low with ``stall_prob``) and records accepted outputs.

    ``read`` turns the DUT's signals into one transaction; ``items`` holds ``(cycle, txn)``.
    """

    dut: object
    prefix: str
    read: Callable[[object], object]
    rng: random.Random
    stall_prob: float = 0.0
    items: list[tuple[int, object]] = field(default_factory=list)
    stall_cycles: int = 0

    async def collect(self, count: int) -> None:
        valid = getattr(self.dut, f"{self.prefix}_valid")
        ready = getattr(self.dut, f"{self.prefix}_ready")
        while len(self.items) < count:
            stall = bool(self.stall_prob) and self.rng.random() < self.stall_prob
            ready.value = 0 if stall else 1
            await FallingEdge(self.dut.clk)
            if bool(valid.value):
                if stall:
                    self.stall_cycles += 1
                else:
                    self.items.append((cycle_now(), self.read(self.dut)))
            await RisingEdge(self.dut.clk)
        ready.value = 0


def split_lanes(word: int, lanes: int, width: int, signed: bool = True) -> list[int]:
    """Lane ``i`` of a packed bus is bits ``[i*width +: width]``."""
    out = []
    for i in range(lanes):
        v = (word >> (i * width)) & ((1 << width) - 1)
        if signed and v >> (width - 1):
            v -= 1 << width
        out.append(v)
    return out


def pack_lanes(values: Sequence[int], width: int) -> int:
    word = 0
    for i, v in enumerate(values):
        word |= (v & ((1 << width) - 1)) << (i * width)
    return word


def record_cycles(block: str, **fields: int) -> None:
    """Append one measured-cycles record (JSON line) to ``$ARCHSIM_RTL_CYCLES_FILE`` if set.

    pytest reads these back and compares them with archsim's cycle models.
    """
    import json
    import os

    path = os.environ.get("ARCHSIM_RTL_CYCLES_FILE")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"block": block, **fields}) + "\n")
