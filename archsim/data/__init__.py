"""Package data read by archsim's models: measurements and papers' published tables.

``measurements/<device>/`` holds committed GPU (and peer-simulator) measurements, each file with
device, driver, library versions and date; ``papers/`` holds published artifact tables. Library
code reads data only from here (never from the ``reports/`` evidence folder).
"""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
MEASUREMENTS_DIR = DATA_DIR / "measurements"
PAPERS_DIR = DATA_DIR / "papers"


def measurement(device: str, name: str) -> Path:
    """Path of one committed measurement file, e.g. ``measurement("h100", "h100-validation-2026-11-23.csv")``."""
    return MEASUREMENTS_DIR / device / name
