"""archsim's pipeline on one screen: ``simulate(workload, hardware) -> Result``.

1. resolve the inputs (preset names or YAML paths -> validated schema objects);
2. check that it fits the device's memory (:mod:`archsim.capacity`), then lower it to typed operators
   (:mod:`archsim.lowering`, the one place that does it);
3. choose a backend for the hardware family (:mod:`archsim.backends`, registered by entry point);
4. the shared driver costs every operator (:mod:`archsim.backends.driver`: roofline fallback,
   notes, timeline) and returns a :class:`~archsim.result.Result`;
5. the physical-limit guard (:mod:`archsim.guards`) refuses any result above the device's peaks;
6. prediction intervals from validation residuals (:mod:`archsim.intervals`) go on every operator and total.

Writing files is the reporting layer's job (:mod:`archsim.reporting`), not this one's.
"""

from __future__ import annotations

from typing import Any

from archsim import presets
from archsim.backends import choose
from archsim.backends.driver import run_operators
from archsim.capacity import check_capacity
from archsim.guards import check_result_within_peaks
from archsim.intervals.attach import attach_intervals
from archsim.lowering import lower, tokens_by_phase
from archsim.result import Result
from archsim.schemas.workload import Workload

DEFAULT_WORKLOAD = "llama2-7b-serving"
DEFAULT_HARDWARE = "h100-sxm"


def simulate(workload: Workload | str, hardware: Any, *, backend: str = "auto") -> Result:
    """Run ``workload`` on ``hardware`` (names, paths or schema objects) with ``backend`` (or the best)."""
    wl = presets.load_workload(workload) if isinstance(workload, str) else workload
    hw = presets.load_hardware(hardware) if isinstance(hardware, str) else hardware
    if hw.family == "system" or wl.parallel.devices > 1:  # one device of a parallel deployment
        from archsim.parallel.simulate import simulate_parallel

        result = simulate_parallel(wl, hw, backend=backend)
        attach_intervals(result)
        return result
    model = presets.resolve_model(wl)
    memory = check_capacity(wl, hw, model=model)  # over the device's memory: a clear error, not a number
    ops = lower(wl, model)
    chosen = choose(backend, hw.family)
    result = run_operators(chosen, wl.name, hw, ops, tokens_by_phase(wl, model))
    result.memory = memory.to_dict()
    check_result_within_peaks(result, hw)  # no backend's result beats the device's peaks or is non-finite
    attach_intervals(result)  # how sure: intervals from validation residuals, or "unvalidated"
    return result
