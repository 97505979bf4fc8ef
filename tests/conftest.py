"""Project-wide pytest configuration.

Tiers (markers, see pyproject.toml): default run = no GPU, no benchmarks; ``rtl`` and
``browser`` run when their tools exist (CI installs them and sets ARCHSIM_REQUIRE_TOOLS=1 so
a missing tool fails instead of skipping).
"""

from __future__ import annotations

import os
import shutil

import pytest

REQUIRE_TOOLS = os.environ.get("ARCHSIM_REQUIRE_TOOLS") == "1"

# Without a CUDA GPU, Triton kernels run in its interpreter. Set before any test module imports
# triton (the interpreter flag is read at import). Compiling for sm_90 happens in subprocesses
# that drop the flag (kernels.compile_info).
if "TRITON_INTERPRET" not in os.environ and shutil.which("nvidia-smi") is None:
    os.environ["TRITON_INTERPRET"] = "1"


def require_tool(name: str) -> str:
    """Path of executable ``name``; skip (locally) or fail (CI) when it is missing."""
    path = shutil.which(name)
    if path is None:
        if REQUIRE_TOOLS:
            pytest.fail(f"{name} is required (ARCHSIM_REQUIRE_TOOLS=1) but not on PATH")
        pytest.skip(f"{name} not installed")
    return path
