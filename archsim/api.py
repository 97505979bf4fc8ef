"""``simulate(workload, hardware)``: resolve inputs, lower to operators, run a backend."""

from __future__ import annotations

from typing import Any

from archsim import presets
from archsim.backends import choose
from archsim.errors import ConfigError
from archsim.guards import check_result_within_peaks
from archsim.ops import lower
from archsim.result import Result
from archsim.schemas.hardware import SystemSpec
from archsim.schemas.workload import DecodePhase, Workload

DEFAULT_WORKLOAD = "llama2-7b-serving"
DEFAULT_HARDWARE = "h100-sxm"


def _tokens(workload: Workload, model: Any) -> dict[str, int]:
    tokens: dict[str, int] = {}
    for phase in workload.phases:
        if isinstance(phase, DecodePhase):
            n = phase.batch * phase.steps
        else:
            n = phase.batch * (phase.seq_len or (model.vision.num_tokens if model and model.vision else 0))
        tokens[phase.phase] = tokens.get(phase.phase, 0) + n
    return tokens


def simulate(workload: Workload | str, hardware: Any, *, backend: str = "auto") -> Result:
    wl = presets.load_workload(workload) if isinstance(workload, str) else workload
    hw = presets.load_hardware(hardware) if isinstance(hardware, str) else hardware
    if isinstance(hw, SystemSpec):
        raise ConfigError.single(
            f"hardware {hw.name!r} is a system of devices; `archsim run` simulates one device — serve a "
            f"model on the system with `archsim offload {hw.name}`, or run one of its devices' presets",
            key_path="family")
    model = presets.resolve_model(wl)
    ops = lower(wl, model)
    chosen = choose(backend, hw.family)
    result = chosen.run(wl.name, hw, ops, _tokens(wl, model))
    check_result_within_peaks(result, hw)  # no backend's result beats the device's peaks or is non-finite
    return result
