"""A bank-level PIM device resolved against its memory standard: the numbers the models use.

Units: bytes, seconds, joules, cycles of the memory standard's tCK. A *unit* is one MAC
processing unit; it serves ``banks_per_unit`` banks (1 for AiM, 2 for HBM2-PIM's bank pairs)
and reads one column (``column_bytes`` = one burst of the channel) per MAC command, which
holds ``column_bytes / dtype_bytes`` elements, consumed at ``lanes_per_unit`` per PIM clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from archsim import presets
from archsim.errors import ConfigError
from archsim.schemas.base import DTYPE_BYTES
from archsim.schemas.hardware import PimDevice
from archsim.schemas.memory import MemoryStandard


@dataclass(frozen=True, eq=False)  # hashed by identity: one object per loaded preset (lru caches)
class BankPim:
    device: PimDevice
    std: MemoryStandard
    dtype_bytes: int
    column_bytes: int          # bytes one MAC command reads per bank (one burst)
    elems_per_column: int
    banks_per_unit: int
    dram_row_bytes: int        # one bank's row (page)
    unit_row_bytes: int        # bytes a unit streams per ACTab (its banks' rows)
    gb_bytes: int              # global buffer bytes per channel
    mac_gap_cycles: int        # tCK between MACs the unit needs (its lanes' consumption time)
    tck_s: float

    @property
    def pim(self):  # noqa: ANN201 - the schema's PimParams
        return self.device.pim

    @property
    def units(self) -> int:
        return self.pim.channels * self.pim.units_per_channel

    @property
    def cols_per_bank_row(self) -> int:
        return self.dram_row_bytes // self.column_bytes

    @property
    def peak_flops_per_s(self) -> float:
        """2 FLOP per lane per PIM cycle over every unit (the compute peak)."""
        return 2.0 * self.units * self.pim.lanes_per_unit * self.pim.pim_clock_hz

    @property
    def mac_interval_cycles(self) -> int:
        """Smallest legal spacing of MAC commands: the unit's need or tCCD_L, whichever is longer."""
        return max(self.mac_gap_cycles, self.std.timing.nCCD_L)

    @property
    def streaming_flops_per_s(self) -> float:
        """Peak with rows always open: every unit gets a column each ``mac_interval_cycles``."""
        return 2.0 * self.units * self.elems_per_column / (self.mac_interval_cycles * self.tck_s)


def resolve(device: PimDevice) -> BankPim:
    """Check a bank-level PIM preset against its memory standard and derive the model's numbers."""
    pim = device.pim
    if pim.placement != "bank":
        raise ConfigError.single(f"{device.name}: the bank-level PIM model needs placement 'bank', "
                                 f"got {pim.placement!r}", key_path="pim.placement")
    std = presets.load_memory_standard(pim.memory_standard)
    problems = []
    if std.banks != pim.banks_per_channel:
        problems.append(f"banks_per_channel {pim.banks_per_channel} != {std.banks} banks of memory standard "
                        f"{std.name!r}")
    if pim.banks_per_channel % pim.units_per_channel:
        problems.append(f"units_per_channel {pim.units_per_channel} must divide banks_per_channel "
                        f"{pim.banks_per_channel}")
    if problems:
        raise ConfigError.single("; ".join(problems), key_path="pim")
    dtype_bytes = int(DTYPE_BYTES[pim.pim_dtype])
    column = std.burst_bytes
    elems = column // dtype_bytes
    row = int(std.organisation.row_buffer_bytes)
    bpu = pim.banks_per_channel // pim.units_per_channel
    tck = std.timing.tck_s
    unit_cycles_s = math.ceil(elems / pim.lanes_per_unit) / pim.pim_clock_hz
    gap = max(1, math.ceil(unit_cycles_s / tck - 1e-9))
    gb = int(pim.global_buffer_bytes or row)
    return BankPim(device=device, std=std, dtype_bytes=dtype_bytes, column_bytes=column, elems_per_column=elems,
                   banks_per_unit=bpu, dram_row_bytes=row, unit_row_bytes=row * bpu, gb_bytes=gb,
                   mac_gap_cycles=gap, tck_s=tck)


@lru_cache(maxsize=16)
def load(name: str) -> BankPim:
    return resolve(presets.load_hardware(name))
