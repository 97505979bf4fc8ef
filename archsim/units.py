"""Human-unit parsing at the YAML edge.

Inside archsim every quantity is SI (bytes, seconds, hertz, joules, watts, FLOP/s). Only
here do strings such as ``"3.35 TB/s"``, ``"50 MiB"`` or ``"1.98 GHz"`` get converted. Each
quantity kind accepts only units of its own dimension: a bandwidth field given ``"80 GB"``
is an error naming the units it accepts.

Conventions: decimal prefixes (k, M, G, T, P) are powers of 1000, binary prefixes (Ki, Mi,
Gi, Ti) powers of 1024. ``B`` is a byte and ``b`` a bit (``"400 Gb/s"`` is 50e9 bytes/s).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_DEC = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}
_BIN = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50}
_SMALL = {"": 1.0, "m": 1e-3, "u": 1e-6, "µ": 1e-6, "n": 1e-9, "p": 1e-12, "f": 1e-15}


#: Longest string read as a quantity (a number, a space and a unit fit in far less).
_MAX_TEXT = 64


def _shown(value: object) -> str:
    """``repr`` of a user value, cut to 40 characters (messages never echo long input)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _prefixed(base: dict[str, float], suffixes: dict[str, float]) -> dict[str, float]:
    return {p + s: pv * sv for p, pv in base.items() for s, sv in suffixes.items()}


@dataclass(frozen=True)
class Quantity:
    """A kind of physical quantity: its name, SI unit and accepted unit spellings."""

    name: str
    si_unit: str
    units: dict[str, float]

    def parse(self, value: object) -> float:
        """Convert ``value`` (number in SI, or string with a unit) to a float in SI units."""
        if isinstance(value, bool):
            raise ValueError(f"expected a {self.name}, got a boolean")
        if isinstance(value, (int, float)):
            try:
                number = float(value)
            except OverflowError:  # an int beyond float range (a 400-digit number)
                raise ValueError(f"{self.name} {_shown(value)} is out of range") from None
        elif isinstance(value, str):
            number = self._parse_string(value)
        else:
            raise ValueError(f"expected a {self.name} (number or string with unit), got {type(value).__name__}")
        if not math.isfinite(number):
            raise ValueError(f"{self.name} must be finite, got {_shown(value)}")
        return number

    def _parse_string(self, text: str) -> float:
        if len(text) > _MAX_TEXT:
            raise ValueError(f"cannot read a {len(text)}-character string as a {self.name}; write e.g. "
                             f"{self.example()!r}")
        match = re.fullmatch(r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([^\s\d].*?)?\s*", text)
        if not match:
            raise ValueError(f"cannot read {_shown(text)} as a {self.name}; write e.g. {self.example()!r}")
        number, unit = float(match.group(1)), (match.group(2) or "")
        if unit == "":
            return number
        unit = unit.replace("/sec", "/s").replace("bytes", "B").replace("byte", "B")
        if unit not in self.units:
            raise ValueError(
                f"unit {_shown(unit)} is not a {self.name} unit; use one of {self.unit_choices()} "
                f"(e.g. {self.example()!r})"
            )
        return number * self.units[unit]

    def unit_choices(self) -> str:
        shown = [u for u in self.units if u and len(u) <= 8][:12]
        return ", ".join(shown)

    def example(self) -> str:
        return _EXAMPLES.get(self.name, f"1 {self.si_unit}")


_BYTE_UNITS = {**_prefixed(_DEC, {"B": 1.0}), **_prefixed(_BIN, {"B": 1.0}), **_prefixed(_DEC, {"b": 0.125})}
_BYTE_UNITS.pop("b", None)  # a lone bit is never a capacity anyone means

BYTES = Quantity("size in bytes", "B", _BYTE_UNITS)
BANDWIDTH = Quantity(
    "bandwidth in bytes/s",
    "B/s",
    {
        **{k + "/s": v for k, v in _BYTE_UNITS.items()},
        **_prefixed(_DEC, {"b/s": 0.125, "bps": 0.125}),
        **_prefixed(_DEC, {"Bps": 1.0}),
    },
)
FREQUENCY = Quantity("frequency in Hz", "Hz", _prefixed(_DEC, {"Hz": 1.0}))
RATE = Quantity(
    "rate in FLOP/s (or op/s)",
    "FLOP/s",
    {
        **_prefixed(_DEC, {"FLOP/s": 1.0, "FLOPS": 1.0, "flop/s": 1.0, "OP/s": 1.0, "OPS": 1.0, "op/s": 1.0,
                           "ops": 1.0}),
    },
)
TIME = Quantity("time in seconds", "s", {**_prefixed(_SMALL, {"s": 1.0}), "min": 60.0, "h": 3600.0})
POWER = Quantity("power in watts", "W", {**_prefixed(_SMALL, {"W": 1.0}), **_prefixed(_DEC, {"W": 1.0})})
ENERGY = Quantity("energy in joules", "J", {**_prefixed(_SMALL, {"J": 1.0}), **_prefixed(_DEC, {"J": 1.0})})
ENERGY_PER_BYTE = Quantity(
    "energy per byte in J/B",
    "J/B",
    {**_prefixed(_SMALL, {"J/B": 1.0, "J/byte": 1.0}), **_prefixed(_SMALL, {"J/b": 8.0, "J/bit": 8.0})},
)
ENERGY_PER_OP = Quantity(
    "energy per operation in J",
    "J",
    {**_prefixed(_SMALL, {"J": 1.0, "J/op": 1.0, "J/FLOP": 1.0, "J/flop": 1.0})},
)
AREA = Quantity("area in m^2", "m^2", {"m^2": 1.0, "mm^2": 1e-6, "mm2": 1e-6, "um^2": 1e-12})
MONEY = Quantity("amount in USD", "USD", {"USD": 1.0, "$": 1.0, "kUSD": 1e3})
MONEY_RATE = Quantity("price in USD/hour", "USD/h", {"USD/h": 1.0, "$/h": 1.0, "USD/hour": 1.0})

_EXAMPLES = {
    BYTES.name: "50 MiB",
    BANDWIDTH.name: "3.35 TB/s",
    FREQUENCY.name: "1.98 GHz",
    RATE.name: "989 TFLOP/s",
    TIME.name: "14 ns",
    POWER.name: "700 W",
    ENERGY.name: "1.2 nJ",
    ENERGY_PER_BYTE.name: "3.9 pJ/bit",
    ENERGY_PER_OP.name: "0.5 pJ",
    AREA.name: "814 mm^2",
    MONEY.name: "25000 USD",
    MONEY_RATE.name: "2.5 USD/h",
}


def format_si(value: float, unit: str, digits: int = 3) -> str:
    """Format ``value`` with a decimal SI prefix, e.g. ``format_si(3.35e12, "B/s") -> '3.35 TB/s'``."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g} {unit}"
    for prefix, scale in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3), ("", 1.0),
                          ("m", 1e-3), ("u", 1e-6), ("n", 1e-9), ("p", 1e-12)):
        if abs(value) >= scale:
            return f"{value / scale:.{digits}g} {prefix}{unit}"
    return f"{value:.{digits}g} {unit}"
