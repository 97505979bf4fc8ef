"""The run report: one self-contained HTML page (plotly inlined, opens offline).

Kept as the entry point ``Result.write`` calls; the page itself is built by
:mod:`archsim.reporting` (roofline with operators, per-operator time by resource, energy
breakdown, timeline + ``timeline.json``), the same code ``archsim report DIR`` uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from archsim.result import Result


def write_run_report(result: Result, path: str | Path) -> None:
    """Write ``report.html`` (and ``timeline.json`` when the result has none) for one result."""
    from archsim.reporting import write_run_report as _write

    _write(result, path)
