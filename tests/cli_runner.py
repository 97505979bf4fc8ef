"""Shared by the tests that drive ``archsim`` as a user would: a real subprocess, the checkout first on
the path, a wide terminal; and the smallest workload and sweep those tests write into temp folders."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

TINY_WORKLOAD = """\
kind: workload
name: tiny-gemm
dtype: bf16
layers:
  - {op: gemm, name: proj, m: 256, n: 256, k: 256}
"""


def tiny_sweep(m_values: str, name: str = "tiny") -> str:
    """A sweep of TINY_WORKLOAD (saved beside it as wl.yaml) over ``m`` (e.g. ``"128, 256"``)."""
    return f"""\
kind: sweep
name: {name}
base:
  workload: wl.yaml
  hardware: h100-sxm
  backend: roofline
axes:
  - grid:
      workload.layers[0].m: [{m_values}]
"""


def run_archsim(*args: str | Path, cwd: Path, home: Path | None = None,
                timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m archsim ARGS`` in ``cwd`` (``home`` replaces $HOME when given)."""
    env = {**os.environ, "COLUMNS": "200", "PYTHONPATH": str(REPO)}
    if home is not None:
        env["HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "archsim", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)
