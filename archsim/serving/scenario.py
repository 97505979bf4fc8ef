"""One serving scenario end to end: requests, KV capacity, iteration costs, scheduler, simulation, figures.

``serve(workload, hardware, load_qps=..., duration_s=...)`` is what ``archsim serve`` runs; tests and
sweeps call it too. A deployment is the workload's ``parallel`` group (one device, or a tensor-parallel
group of a system's GPUs); the ``disaggregated`` scheduler uses two such deployments, the KV of a request
moving between them over the system's network link (each device to its peer, :func:`archsim.collectives.p2p_time_s`).

Cost models (summary.json's ``cost_model`` names the one that ran): ``placement`` (a name registered in
:mod:`archsim.serving.placement`: ``gpu``, ``gpu-roofline``, ``duplex``, ``duplex-coprocess``) builds it for a
deployment of GPUs (or one device); a system preset with ``attention`` devices runs attention offloading
(Lamina, :class:`archsim.serving.offload_cost.OffloadCost`) and takes only placement ``gpu``. Summary's
``placement``: its name and ``off_gpu_time_share`` (the share of the iterations' time in operators placed on
a device other than the deployment's own: 0 for ``gpu`` and ``gpu-roofline``; None with attention offloading
or a caller's cost function), plus what the placement reports (:meth:`~archsim.serving.duplex_placement.
DuplexCost.placement_summary`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from archsim import presets
from archsim.errors import ConfigError
from archsim.schemas.hardware import SystemSpec
from archsim.schemas.workload import Workload
from archsim.serving.cost import BackendCost, Buckets, KvCapacity, kv_capacity
from archsim.serving.metrics import summarise
from archsim.serving.placement import check_placement, get_placement
from archsim.serving.requests import Arrivals, Lengths, Request, generate, read_trace
from archsim.serving.schedulers import CostFn, Deployment, make_scheduler
from archsim.serving.simulator import Run, Simulation


def parse_lengths(text: str, *, max_tokens: int, flag: str) -> Lengths:
    """``fixed:N``, ``uniform:LOW:HIGH`` or ``lognormal:MEDIAN:SIGMA`` -> :class:`Lengths`."""
    parts = text.split(":")
    try:
        if parts[0] == "fixed" and len(parts) == 2:
            return Lengths(kind="fixed", value=int(parts[1]), max_tokens=max_tokens)
        if parts[0] == "uniform" and len(parts) == 3:
            return Lengths(kind="uniform", low=int(parts[1]), high=int(parts[2]), max_tokens=max_tokens)
        if parts[0] == "lognormal" and len(parts) == 3:
            return Lengths(kind="lognormal", median=float(parts[1]), sigma=float(parts[2]), max_tokens=max_tokens)
    except ValueError:
        pass
    except ConfigError as exc:
        raise ConfigError.single(f"{text!r}: {exc.problems[0].message}", key_path=flag) from None
    raise ConfigError.single(f"{text!r} is not fixed:N, uniform:LOW:HIGH or lognormal:MEDIAN:SIGMA", key_path=flag)


@dataclass
class Scenario:
    run: Run
    summary: dict[str, Any]
    cost: Any


def serve(workload: Workload | str, hardware: Any, *, load_qps: float, duration_s: float,
          scheduler: str = "continuous", seed: int = 0, arrivals: str = "poisson", cv: float = 1.0,
          prompt: Lengths | None = None, output: Lengths | None = None, trace: str | None = None,
          block_tokens: int = 16, options: dict[str, Any] | None = None, slo: dict[str, float] | None = None,
          usd_per_hour: float | None = None, buckets: Buckets | None = None, cost: CostFn | None = None,
          progress: Callable[[int, int], None] | None = None, placement: str = "gpu",
          placement_options: dict[str, Any] | None = None) -> Scenario:
    """Simulate serving ``workload``'s model on ``hardware`` (see the module doc); returns the run and its summary.
    ``placement_options`` go to the placement's builder (tests give the Duplex placement a known ``timer``)."""
    import numpy as np

    wl = presets.load_workload(workload) if isinstance(workload, str) else workload
    hw = presets.load_hardware(hardware) if isinstance(hardware, str) else hardware
    check_placement(placement, hw)
    options = dict(options or {})
    budget = int(options.get("token_budget", options.get("prefill_budget", 2048)))
    offload = None
    if isinstance(hw, SystemSpec) and any(ref.role == "attention" for ref in hw.devices.values()):
        from archsim.serving.offload_cost import OffloadCost  # attention offloading (Lamina)

        model = presets.resolve_model(wl)
        if model is None or wl.parallel.devices > 1:
            raise ConfigError.single("attention offloading takes a model workload without a parallel section "
                                     "(the system's compute group is the tensor-parallel split)", key_path="parallel")
        offload = OffloadCost(model, hw, wl.dtype, buckets=buckets)
        cap = KvCapacity(math.nan, math.nan, math.nan, offload.kv_bytes_per_token(), block_tokens)
        blocks = offload.kv_blocks(block_tokens)
    else:
        cap = kv_capacity(wl, hw, block_tokens=block_tokens, max_batched_tokens=budget)
        blocks = cap.blocks
    transfer = None
    if scheduler == "disaggregated" and isinstance(hw, SystemSpec):
        from archsim.collectives import fabric_from_system, p2p_time_s

        fabric = fabric_from_system(hw, load_device=presets.load_hardware)
        if fabric.inter is not None:
            def transfer(nbytes: float) -> float:
                return p2p_time_s(nbytes, fabric, across_nodes=True)
    deployment = Deployment(capacity_blocks=blocks, block_tokens=block_tokens,
                            kv_bytes_per_token=cap.kv_bytes_per_token, transfer_s=transfer)
    sched = make_scheduler(scheduler, deployment, **options)
    rng = np.random.default_rng(seed)
    requests: list[Request]
    if trace is not None:
        requests = read_trace(trace)
        window = max(r.arrival_s for r in requests) or 1.0
    else:
        requests = generate(Arrivals(kind=arrivals, qps=load_qps, cv=cv),
                            prompt or Lengths(kind="lognormal", median=1024, sigma=0.6, max_tokens=8192),
                            output or Lengths(kind="lognormal", median=128, sigma=0.6, max_tokens=2048),
                            duration_s, rng)
        window = duration_s
    cost_fn: Any = cost if cost is not None else (
        offload or get_placement(placement).build(wl, hw, buckets, **(placement_options or {})))
    run = Simulation(requests, sched, cost_fn, seed=seed, progress=progress).run()
    # with attention offloading the deployment is the whole mixed system: --usd-per-hour prices one system-hour
    summary = summarise(run, window_s=window, slo=slo, usd_per_hour=usd_per_hour,
                        devices=1 if offload is not None else wl.parallel.devices)
    summary["cost_model"] = cost_model(cost_fn)
    summary["placement"] = {"name": placement, "off_gpu_time_share": 0.0 if offload is None and cost is None else None}
    if hasattr(cost_fn, "placement_summary"):
        summary["placement"].update(cost_fn.placement_summary())
    summary.update({"workload": wl.name, "hardware": hw.name, "seed": seed, "load_qps": load_qps if trace is None
                    else None, "kv_cache": {"blocks_per_worker": blocks, "block_tokens": block_tokens,
                                            "bytes_per_token_per_device": cap.kv_bytes_per_token,
                                            "weights_bytes_per_device": None if offload else cap.weights_bytes},
                    "scheduler_options": options})
    if hasattr(cost_fn, "backend_calls"):
        summary["backend_calls"] = cost_fn.backend_calls
        summary["buckets"] = vars(cost_fn.buckets)
    return Scenario(run, summary, cost_fn)


def cost_model(cost: Any) -> str:
    """summary.json's ``cost_model``: which model priced the iterations."""
    from archsim.serving.duplex_placement import DuplexCost
    from archsim.serving.offload_cost import OffloadCost

    if isinstance(cost, OffloadCost):
        return ("attention offloading (Lamina): archsim.serving.offload_cost.OffloadCost on archsim.offload.serving "
                "(attention on the system's attention devices); usd_per_hour is per system-hour")
    if isinstance(cost, DuplexCost):
        pl = cost.placement
        how = "; attention and MoE experts co-processed (split across both)" if pl.co_process else ""
        return (f"Duplex per-operator placement: archsim.serving.duplex_placement.DuplexCost, each operator on the "
                f"faster of {cost.device.name} and {pl.logic_pim.name} (roofline both){how}; usd_per_hour is per "
                f"Duplex device (a GPU and its Logic-PIM)")
    if isinstance(cost, BackendCost):
        inner = getattr(cost.backend, "inner", cost.backend)
        return f"archsim.serving.cost.BackendCost: every operator on {cost.device.name} ({inner.name} backend)"
    return f"the caller's cost function ({type(cost).__name__})"
