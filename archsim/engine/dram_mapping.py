"""Physical address -> (unit, bank, row, column) mapping schemes, registered by name.

A scheme is a string of fields from the most to the least significant bits, e.g.
``RoBaCoBgPcCh``: Ro(w), Ba(nk in group), Co(lumn = burst within the row), Bg (bank group),
Pc (pseudo-channel), Ch(annel). The burst offset sits below all fields. Sizes come from the
standard (all powers of two); addresses wrap modulo the capacity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from archsim.schemas.memory import MemoryStandard

CH, PC, BG, BA, RO, CO = range(6)
_FIELD_CODES = {"Ch": CH, "Pc": PC, "Bg": BG, "Ba": BA, "Ro": RO, "Co": CO}

#: Registered schemes: name -> what it is good for.
SCHEMES: dict[str, str] = {
    "RoBaCoBgPcCh": "default: consecutive bursts spread over (pseudo-)channels, then bank groups, then a row",
    "RoCoBaBgPcCh": "bank-interleaved: consecutive bursts rotate channels, bank groups and banks before columns",
    "RoBaBgCoPcCh": "row-major per bank group: a row's columns stay in one bank group (tCCD_L-bound streams)",
    "ChPcRoBaBgCo": "linear: each (pseudo-)channel owns a contiguous range; no interleaving",
}


def register_scheme(name: str, description: str) -> None:
    """Add a scheme (its name is its field order). A duplicate name is an error."""
    if name in SCHEMES:
        raise ValueError(f"mapping scheme {name!r} is already registered")
    _parse(name)
    SCHEMES[name] = description


def _parse(name: str) -> list[int]:
    tokens = [name[i:i + 2] for i in range(0, len(name), 2)]
    codes = []
    for tok in tokens:
        if tok not in _FIELD_CODES:
            raise ValueError(f"mapping {name!r}: unknown field {tok!r}; fields: {', '.join(_FIELD_CODES)}")
        codes.append(_FIELD_CODES[tok])
    if sorted(codes) != list(range(6)):
        raise ValueError(f"mapping {name!r} must name each of {', '.join(_FIELD_CODES)} exactly once")
    return codes


@dataclass(frozen=True)
class AddressMapping:
    """Bit layout for one standard: ``fields`` and ``widths`` from least significant up."""

    name: str
    offset_bits: int
    fields: np.ndarray
    widths: np.ndarray
    pseudo_channels: int
    banks_per_group: int

    @classmethod
    def build(cls, std: MemoryStandard, name: str = "RoBaCoBgPcCh") -> AddressMapping:
        if name not in SCHEMES:
            raise ValueError(f"unknown address mapping {name!r}; valid: {', '.join(SCHEMES)}")
        o = std.organisation
        sizes = {CH: o.channels, PC: o.pseudo_channels, BG: o.bank_groups, BA: o.banks_per_group, RO: o.rows,
                 CO: int(o.row_buffer_bytes) // std.burst_bytes}
        for size in sizes.values():
            if size & (size - 1):
                raise ValueError(f"{std.name}: field size {size} is not a power of two; cannot bit-map")
        codes = list(reversed(_parse(name)))
        widths = [int(math.log2(sizes[c])) for c in codes]
        return cls(name, int(math.log2(std.burst_bytes)), np.array(codes, np.int64), np.array(widths, np.int64),
                   o.pseudo_channels, o.banks_per_group)

    def decode(self, addr: int) -> tuple[int, int, int, int]:
        """(unit, bank, row, column) of byte address ``addr``."""
        return tuple(int(x) for x in decode(addr, self.offset_bits, self.fields, self.widths,
                                            self.pseudo_channels, self.banks_per_group))  # type: ignore[return-value]


@njit(cache=True)
def decode(addr, offset_bits, fields, widths, pcs, bpg):
    v = addr >> offset_bits
    ch = pc = bg = ba = ro = co = 0
    for i in range(fields.shape[0]):
        w = widths[i]
        x = v & ((1 << w) - 1)
        v >>= w
        f = fields[i]
        if f == CH:
            ch = x
        elif f == PC:
            pc = x
        elif f == BG:
            bg = x
        elif f == BA:
            ba = x
        elif f == RO:
            ro = x
        else:
            co = x
    return ch * pcs + pc, bg * bpg + ba, ro, co
