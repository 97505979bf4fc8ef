"""Sweep points on a ``system`` of devices (attention offloading): decode serving iterations.

``archsim.simulate`` runs one device; a system point is evaluated with the heterogeneous
serving model of :mod:`archsim.offload.serving` (issue 9): the system's devices and links
become a :class:`~archsim.offload.serving.ServingConfig`, and each decode phase of the
workload is timed as decode iterations of ``batch`` sequences at ``context_len`` tokens.
Outputs: ``latency_s`` (all decode steps), ``tokens_per_s``, ``bound`` (the busiest resource of
an iteration: compute, attention, link or critical_path), ``usd_per_hour`` of the whole
system, ``usd_per_million_tokens``, ``required_link_bytes_per_s`` per attention device and
``max_batch`` (KV capacity). What it ignores: energy (the serving model has no energy), prefill.
"""

from __future__ import annotations

import math
from typing import Any

from archsim.errors import ConfigError


def system_outputs(workload: Any, system: Any) -> dict[str, Any]:
    from archsim import presets
    from archsim.offload.serving import decode_iteration, max_batch
    from archsim.offload.system import config_from_system
    from archsim.schemas.workload import DecodePhase

    model = presets.resolve_model(workload)
    decodes = [p for p in workload.phases if isinstance(p, DecodePhase)]
    if model is None or not decodes or len(decodes) != len(workload.phases):
        raise ConfigError.single("a system (attention offloading) point needs a model workload with decode "
                                 "phases only", key_path="workload.phases")
    cfg = config_from_system(system)
    latency = 0.0
    tokens = 0
    required = 0.0
    bounds: dict[str, float] = {}
    cap = math.inf
    for phase in decodes:
        cap = min(cap, max_batch(model, cfg, phase.context_len + phase.steps, workload.dtype))
        if phase.batch > cap:
            raise ConfigError.single(f"batch {phase.batch} does not fit: the KV cache at "
                                     f"{phase.context_len + phase.steps} tokens holds at most {cap} sequences",
                                     key_path="workload.phases")
        it = decode_iteration(model, cfg, phase.batch, phase.context_len, workload.dtype)
        latency += it.time_s * phase.steps
        tokens += phase.batch * phase.steps
        required = max(required, it.required_link_bytes_per_s)
        bounds[it.bound] = bounds.get(it.bound, 0.0) + it.time_s * phase.steps
    usd_per_hour = cfg.usd_per_hour()
    bound = max(sorted(bounds), key=lambda b: bounds[b])
    return {
        "backend_used": "offload-serving", "hardware": system.name, "family": "system",
        "latency_s": latency, "energy_j": math.nan, "flops": math.nan, "utilization": math.nan,
        "bound": bound, "bound_time_share": bounds[bound] / latency if latency else math.nan,
        "tokens_per_s": tokens / latency if latency else math.nan, "energy_per_token_j": math.nan,
        "usd_per_hour": usd_per_hour,
        "usd_per_million_tokens": usd_per_hour * latency / 3600 / tokens * 1e6 if tokens else math.nan,
        "required_link_bytes_per_s": required, "max_batch": int(cap) if cap != math.inf else -1,
        "policy": cfg.policy,
    }
