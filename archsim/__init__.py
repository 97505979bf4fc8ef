"""archsim: hardware simulation and accelerator co-design for attention workloads.

Python API mirrors the CLI: ``archsim.simulate(workload, hardware) -> Result``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from archsim.result import Result


def simulate(workload: Any, hardware: Any, *, backend: str = "auto") -> Result:
    """Simulate ``workload`` (Workload or preset name/path) on ``hardware`` (device or preset name/path)."""
    from archsim.api import simulate as _simulate

    return _simulate(workload, hardware, backend=backend)
