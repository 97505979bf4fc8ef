import math

import pytest

from archsim import units


@pytest.mark.parametrize(
    ("quantity", "text", "expected"),
    [
        (units.BANDWIDTH, "3.35 TB/s", 3.35e12),
        (units.BANDWIDTH, "400 Gb/s", 50e9),
        (units.BANDWIDTH, "1 GiB/s", 2**30),
        (units.BYTES, "50 MiB", 50 * 2**20),
        (units.BYTES, "80 GB", 80e9),
        (units.BYTES, "2KiB", 2048),
        (units.FREQUENCY, "1.98 GHz", 1.98e9),
        (units.RATE, "989.4 TFLOP/s", 989.4e12),
        (units.TIME, "14 ns", 14e-9),
        (units.TIME, "3 us", 3e-6),
        (units.POWER, "700 W", 700.0),
        (units.ENERGY_PER_BYTE, "3.9 pJ/bit", 3.9e-12 * 8),
        (units.ENERGY_PER_BYTE, "1 pJ/B", 1e-12),
        (units.ENERGY_PER_OP, "0.5 pJ", 0.5e-12),
        (units.BYTES, 1024, 1024.0),
        (units.BYTES, "1e3", 1000.0),
    ],
)
def test_parse(quantity, text, expected):
    assert math.isclose(quantity.parse(text), expected, rel_tol=1e-12)


@pytest.mark.parametrize(
    ("quantity", "text", "fragment"),
    [
        (units.BANDWIDTH, "80 GB", "not a bandwidth"),
        (units.BYTES, "3 TB/s", "not a size"),
        (units.FREQUENCY, "fast", "cannot read"),
        (units.BYTES, True, "boolean"),
        (units.BYTES, "nan", "cannot read"),
        (units.TIME, [1], "got list"),
    ],
)
def test_rejects_wrong_units(quantity, text, fragment):
    with pytest.raises(ValueError, match=fragment):
        quantity.parse(text)


def test_format_si():
    assert units.format_si(3.35e12, "B/s") == "3.35 TB/s"
    assert units.format_si(1.5e-6, "s") == "1.5 us"
