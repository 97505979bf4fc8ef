"""Fixtures for the sweep tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from sweep_data import SMALL_SWEEP


@pytest.fixture
def small_sweep(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL_SWEEP)
    return path
