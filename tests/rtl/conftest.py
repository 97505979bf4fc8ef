"""Shared fixture for the RTL tests: skip (locally) or fail (CI) when a simulator is missing."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from archsim.rtl.sim import simulator_available

REQUIRE_TOOLS = os.environ.get("ARCHSIM_REQUIRE_TOOLS") == "1"  # same switch as tests/conftest.py


@pytest.fixture
def need_simulator() -> Callable[[str], None]:
    def check(sim: str) -> None:
        reason = simulator_available(sim)
        if reason is not None:
            if REQUIRE_TOOLS:
                pytest.fail(f"{sim} is required (ARCHSIM_REQUIRE_TOOLS=1): {reason}")
            pytest.skip(reason)

    return check
