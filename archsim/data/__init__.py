"""Package data read by archsim's models: measurements and papers' published tables.

``measurements/<device>/`` holds committed GPU (and peer-simulator) measurements, each file with
device, driver, library versions and date; ``papers/`` holds published artifact tables. Library
code reads data only from here (never from the ``reports/`` evidence folder).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
MEASUREMENTS_DIR = DATA_DIR / "measurements"
PAPERS_DIR = DATA_DIR / "papers"


def measurement(device: str, name: str) -> Path:
    """Path of one committed measurement file, e.g. ``measurement("h100", "h100-validation-2026-11-23.csv")``."""
    return MEASUREMENTS_DIR / device / name


def read_csv_rows(path: str | Path, required: Iterable[str], what: str) -> list[dict[str, str]]:
    """Rows of a measurement CSV (``what`` names its kind in messages); a file that cannot be read or
    lacks a required column is one ConfigError naming the file (line 1 for the header)."""
    from archsim.errors import ConfigError

    try:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            fields = reader.fieldnames or []
    except OSError as e:
        raise ConfigError.single(f"cannot read {what} {path}: {e.strerror}", file=str(path)) from None
    missing = [k for k in required if k not in fields]
    if missing:
        raise ConfigError.single(f"{path}: not a {what} (missing columns: {', '.join(missing)})",
                                 file=str(path), line=1)
    return rows
