"""Physical address -> (unit, bank, row, column) mapping schemes, registered by name.

A scheme is a string of fields from the most to the least significant bits, e.g.
``RoBaCoBgPcCh``: Ro(w), Ba(nk in group), Co(lumn = burst within the row), Bg (bank group),
Pc (pseudo-channel), Ch(annel), Ra(nk or HBM3 stack ID). The burst offset sits below all fields.
Sizes come from the standard (all powers of two); addresses wrap modulo the capacity. A scheme
without ``Ra`` places it just below ``Ro``, one without ``Pc`` just above ``Ch`` (no bits when the
standard has one rank / no pseudo-channels). Bank indices
inside a unit count ranks outermost: ``(rank * bank_groups + bank_group) * banks_per_group + bank``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from archsim.schemas.memory import MemoryStandard

CH, PC, BG, BA, RO, CO, RA = range(7)
_FIELD_CODES = {"Ch": CH, "Pc": PC, "Bg": BG, "Ba": BA, "Ro": RO, "Co": CO, "Ra": RA}

#: Registered schemes: name -> what it is good for.
SCHEMES: dict[str, str] = {
    "RoBaCoBgPcCh": "default: consecutive bursts spread over (pseudo-)channels, then bank groups, then a row",
    "RoCoBaBgPcCh": "bank-interleaved: consecutive bursts rotate channels, bank groups and banks before columns",
    "RoBaBgCoPcCh": "row-major per bank group: a row's columns stay in one bank group (tCCD_L-bound streams)",
    "ChPcRoBaBgCo": "linear: each (pseudo-)channel owns a contiguous range; no interleaving",
    "RoChRaBaBgCo": "DRAMsim3 'rochrababgco' (its DDR4 configs): a row's columns in one bank, then bank groups",
    "RoRaBgBaChCo": "DRAMsim3 'rorabgbachco' (its HBM2 configs): a row's columns, then channels, then banks",
    "RoBaBgRaPcCoCh": "Ramulator 2 CacheLineInterleave + RoBaRaCoCh: channel bits lowest, then a row's columns, "
                      "then pseudo-channel, rank/SID, bank group, bank (HBM3/DDR4 level order)",
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
    if RA not in codes and RO in codes:
        codes.insert(codes.index(RO) + 1, RA)
    if PC not in codes and CH in codes:
        codes.insert(codes.index(CH), PC)
    if sorted(codes) != list(range(7)):
        raise ValueError(f"mapping {name!r} must name each of {', '.join(_FIELD_CODES)} exactly once "
                         "(Ra and Pc may be left out)")
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
                 CO: int(o.row_buffer_bytes) // std.burst_bytes, RA: o.ranks}
        for size in sizes.values():
            if size & (size - 1):
                raise ValueError(f"{std.name}: field size {size} is not a power of two; cannot bit-map")
        codes = list(reversed(_parse(name)))
        widths = [int(math.log2(sizes[c])) for c in codes]
        return cls(name, int(math.log2(std.burst_bytes)), np.array(codes, np.int64), np.array(widths, np.int64),
                   o.pseudo_channels, o.banks_per_group)

    def encode(self, unit: int, bank: int, row: int, col: int) -> int:
        """The byte address of burst (unit, bank, row, column): the inverse of :meth:`decode`."""
        bits = dict(zip([int(f) for f in self.fields], [int(w) for w in self.widths], strict=True))
        bg_per_rank = 1 << bits[BG]
        group, ba = divmod(bank, self.banks_per_group)
        ra, bg = divmod(group, bg_per_rank)
        ch, pc = divmod(unit, self.pseudo_channels)
        values = {CH: ch, PC: pc, BG: bg, BA: ba, RO: row, CO: col, RA: ra}
        addr, shift = 0, self.offset_bits
        for f in [int(x) for x in self.fields]:
            addr |= (values[f] & ((1 << bits[f]) - 1)) << shift
            shift += bits[f]
        return addr

    def decode(self, addr: int) -> tuple[int, int, int, int]:
        """(unit, bank, row, column) of byte address ``addr``."""
        return tuple(int(x) for x in decode(addr, self.offset_bits, self.fields, self.widths,
                                            self.pseudo_channels, self.banks_per_group))  # type: ignore[return-value]


@njit(cache=True, inline="always")
def decode(addr, offset_bits, fields, widths, pcs, bpg):
    v = addr >> offset_bits
    ch = pc = bg = ba = ro = co = ra = 0
    bg_bits = 0
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
            bg_bits = w
        elif f == BA:
            ba = x
        elif f == RO:
            ro = x
        elif f == RA:
            ra = x
        else:
            co = x
    return ch * pcs + pc, ((ra << bg_bits) | bg) * bpg + ba, ro, co
