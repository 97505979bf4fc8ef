"""Decode-iteration model of LLM serving on homogeneous and attention-offloaded systems.

A decode iteration runs every layer once for a batch of B sequences with context L.

- Non-attention operators (QKV/out projections, FFN, norms, LM head) run on the compute
  group: ``n_compute`` devices in tensor parallelism (each holds 1/n of every weight and does
  1/n of the FLOPs; two all-reduces of B x hidden per layer over the compute links, timed by
  the collective model of :mod:`archsim.collectives`).
- Attention reads the KV cache. Homogeneous: on the compute group, heads split over the
  tensor-parallel devices. Offloaded: on the memory group (``n_memory`` devices), requests
  split evenly across them; Q and the new K/V go out and O comes back over the link between
  the groups for every layer (bytes below).
- Micro-batch pipelining (Lamina's staggered pipelines): with m micro-batches the iteration
  takes the larger of (a) the busiest resource's total work — compute, attention or either
  link direction — and (b) one micro-batch's critical path through all layers
  (compute + transfer + attention + transfer per layer). m = 1 is fully serial.
- KV-cache capacity sets the largest batch: usable memory (``memory_utilisation`` of
  capacity, minus weights where weights live) over the KV bytes of one sequence.

Each device's share of an iteration is priced by :func:`archsim.offload.device_cost.device_step`
(``ServingConfig.timing``): by default the GPU stack model for GPU presets (stack ``fused``, decode from
CUDA graphs, iterations with prefill dispatched eagerly, board power model for energy), the roofline for
other devices and models the stack profiles do not cover; ``timing="roofline"`` prices everything with
the roofline backend. Energy per iteration: every device's static power over the iteration plus the
dynamic energy of its kernels (links and hosts not counted). Ignored: prefill interference
(decode-only iterations), scheduling gaps, network congestion, stragglers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from archsim.collectives import PROFILES, Fabric, estimate
from archsim.offload.device_cost import DeviceStep, StepWork, device_step, timing_for
from archsim.schemas.base import DTYPE_BYTES
from archsim.schemas.hardware import DeviceBase
from archsim.schemas.model import ModelSpec

Policy = Literal["homogeneous", "attention_offload", "headinfer"]


@dataclass(frozen=True)
class LinkSpec:
    """One device's network port: bytes/s per direction and one-way latency in seconds."""

    bandwidth_bytes_per_s: float
    latency_s: float = 0.0
    name: str = ""
    profile: str = "nvlink4-nvswitch"  # collective-model link profile (archsim.collectives.PROFILES)


def allreduce_s(link: LinkSpec, devices: int, nbytes: float) -> float:
    """One tensor-parallel all-reduce of ``nbytes`` over ``devices`` GPUs joined by ``link``."""
    fabric = Fabric(link.name or "compute", devices, link.bandwidth_bytes_per_s, PROFILES[link.profile])
    return estimate("all-reduce", nbytes, devices, fabric).latency_s


@dataclass(frozen=True)
class ServingConfig:
    """A serving deployment. ``memory`` is the attention device (offload), or None."""

    name: str
    policy: Policy
    compute: DeviceBase
    n_compute: int
    compute_link: LinkSpec  # between tensor-parallel compute devices (NVLink)
    memory: DeviceBase | None = None
    n_memory: int = 0
    offload_link: LinkSpec | None = None  # per memory-device port between the groups
    micro_batches: int = 2
    memory_utilisation: float = 0.9
    host_memory_bytes: float = 0.0  # headinfer: KV capacity in host DRAM
    extra_usd_per_hour: float = 0.0
    notes: str = ""
    timing: str = "gpu-stack"  # archsim.offload.device_cost.TIMINGS: GPU stack model, or the roofline everywhere
    attention_kernel: str = "vllm-flash2"  # decode attention kernel on whichever devices run it (GPU stack model)

    def usd_per_hour(self) -> float:
        cost = self.n_compute * _price(self.compute)
        if self.memory is not None:
            cost += self.n_memory * _price(self.memory)
        return cost + self.extra_usd_per_hour


def _price(device: DeviceBase) -> float:
    if device.cost is None or device.cost.rental_usd_per_hour is None:
        raise ValueError(f"device {device.name!r} has no cost.rental_usd_per_hour; throughput per dollar needs it")
    return device.cost.rental_usd_per_hour


@dataclass(frozen=True)
class Iteration:
    """One decode iteration: seconds per part, bytes on links, and throughput."""

    batch: int
    context: int
    time_s: float
    compute_s: float
    attention_s: float
    transfer_s: float
    allreduce_s: float
    offload_bytes: float  # between compute and attention groups, both directions, per iteration
    bound: str
    tokens_per_s: float
    required_link_bytes_per_s: float  # offload traffic per second of iteration, per memory device
    parts: dict[str, float] = field(default_factory=dict)
    energy_j: float = 0.0  # every device of the deployment: static power over the iteration + dynamic energy
    energy_parts: dict[str, float] = field(default_factory=dict)  # by group and kind (see _energy)
    timing: dict[str, str] = field(default_factory=dict)  # device group -> timing used (gpu-stack | roofline)

    @property
    def joules_per_token(self) -> float:
        return self.energy_j / self.batch if self.batch else 0.0


def kv_bytes_per_sequence(model: ModelSpec, context: int, dtype: str) -> float:
    return 2.0 * model.num_layers * model.kv_heads * model.dhead * context * DTYPE_BYTES[dtype]


def weight_bytes(model: ModelSpec, dtype: str) -> float:
    return model.parameter_count() * DTYPE_BYTES[dtype]


def max_batch(model: ModelSpec, cfg: ServingConfig, context: int, dtype: str) -> int:
    """Largest batch whose KV cache fits (0 when even the weights do not fit)."""
    kv = kv_bytes_per_sequence(model, context, dtype)
    weights = weight_bytes(model, dtype)
    compute_free = cfg.n_compute * cfg.compute.offchip.capacity_bytes * cfg.memory_utilisation - weights
    if compute_free < 0:
        return 0
    if cfg.policy == "attention_offload":
        assert cfg.memory is not None
        kv_space = cfg.n_memory * cfg.memory.offchip.capacity_bytes * cfg.memory_utilisation
    elif cfg.policy == "headinfer":
        kv_space = cfg.host_memory_bytes * cfg.memory_utilisation
    else:
        kv_space = compute_free
    return int(kv_space // kv)


def _static_w(device: DeviceBase) -> float:
    return device.static_power_w or 0.0


def _compute(model: ModelSpec, cfg: ServingConfig, work: StepWork, dtype: str) -> DeviceStep:
    return device_step(cfg.compute, model, work, dtype, cfg.timing)


def _memory(model: ModelSpec, cfg: ServingConfig, batch: int, context: int, dtype: str) -> DeviceStep:
    """One memory device's decode attention for its ``ceil(batch / n_memory)`` of a micro-batch's requests."""
    assert cfg.memory is not None
    work = StepWork(context=context, attention_batch=max(1, math.ceil(batch / cfg.n_memory)),
                    attention_kernel=cfg.attention_kernel)
    return device_step(cfg.memory, model, work, dtype, cfg.timing)


def _energy(cfg: ServingConfig, time_s: float, m: int, comp: DeviceStep, mem: DeviceStep | None) -> dict[str, float]:
    """Joules of the iteration by group and kind: every device's static power over the iteration, ``m``
    micro-batches' dynamic energy; ``memory_device_s`` = memory devices x seconds (for a static-power what-if)."""
    parts = {"compute_static_j": cfg.n_compute * _static_w(cfg.compute) * time_s,
             "compute_dynamic_j": cfg.n_compute * m * (comp.dense_j + comp.attention_j)}
    if mem is not None and cfg.memory is not None:
        parts.update(memory_static_j=cfg.n_memory * _static_w(cfg.memory) * time_s,
                     memory_dynamic_j=cfg.n_memory * m * (mem.dense_j + mem.attention_j),
                     memory_device_s=cfg.n_memory * time_s)
    return parts


def _energy_j(parts: dict[str, float]) -> float:
    return sum(v for k, v in parts.items() if k.endswith("_j"))


def _timings(model: ModelSpec, cfg: ServingConfig) -> dict[str, str]:
    out = {"compute": timing_for(cfg.compute, model, cfg.timing)}
    if cfg.memory is not None and cfg.policy == "attention_offload":
        out["attention"] = timing_for(cfg.memory, model, cfg.timing)
    return out


def decode_iteration(model: ModelSpec, cfg: ServingConfig, batch: int, context: int,
                     dtype: str = "bf16") -> Iteration:
    """Time one decode iteration of ``batch`` sequences at ``context`` tokens on ``cfg``."""
    m = max(1, min(cfg.micro_batches, batch))
    mb = math.ceil(batch / m)
    b = DTYPE_BYTES[dtype]
    layers = model.num_layers
    offload = cfg.policy == "attention_offload"
    comp = _compute(model, cfg, StepWork(rows=mb, lm_rows=mb, context=context, attention_batch=0 if offload else mb,
                                         tp=cfg.n_compute, attention_kernel=cfg.attention_kernel), dtype)
    mem = _memory(model, cfg, mb, context, dtype) if offload else None
    compute_t = comp.dense_s
    attention_t = mem.time_s if mem is not None else comp.attention_s
    # tensor-parallel all-reduces: two per layer of mb x hidden, ring algorithm
    allreduce_t = 0.0
    if cfg.n_compute > 1:
        size = mb * model.hidden_size * b
        allreduce_t = 2 * layers * allreduce_s(cfg.compute_link, cfg.n_compute, size)
    # per micro-batch traffic between the groups, per layer
    q_o = mb * model.num_heads * model.dhead * b
    new_kv = mb * 2 * model.kv_heads * model.dhead * b
    out_bytes = in_bytes = 0.0
    transfer_t = 0.0
    lat = 0.0
    if offload:
        assert cfg.offload_link is not None
        out_bytes, in_bytes = q_o + new_kv, q_o
        bw = cfg.offload_link.bandwidth_bytes_per_s * cfg.n_memory
        transfer_t = layers * max(out_bytes, in_bytes) / bw
        lat = layers * 2 * cfg.offload_link.latency_s
    elif cfg.policy == "headinfer":
        # KV of every layer streams from host memory over PCIe (offload_link) and overlaps with compute
        assert cfg.offload_link is not None
        kv_stream = mb * kv_bytes_per_sequence(model, context, dtype) / cfg.n_compute
        attention_t = max(attention_t, kv_stream / cfg.offload_link.bandwidth_bytes_per_s)
    comp_total = m * (compute_t + allreduce_t)
    attn_total = m * attention_t
    link_total = m * transfer_t
    critical = compute_t + allreduce_t + attention_t + 2 * transfer_t + lat
    if not offload:
        # the same devices do compute and attention: no overlap between them
        busy = {"compute": comp_total + attn_total}
        critical = busy["compute"]
    else:
        busy = {"compute": comp_total, "attention": attn_total, "link": link_total}
    resources = {**busy, "critical_path": critical}
    bound = max(resources, key=lambda k: resources[k])
    time_s = resources[bound]
    offload_bytes = m * layers * (out_bytes + in_bytes)
    per_device = offload_bytes / max(1, cfg.n_memory) / time_s if offload else 0.0
    energy = _energy(cfg, time_s, m, comp, mem)
    return Iteration(batch=batch, context=context, time_s=time_s, compute_s=comp_total, attention_s=attn_total,
                     transfer_s=link_total, allreduce_s=m * allreduce_t, offload_bytes=offload_bytes, bound=bound,
                     tokens_per_s=batch / time_s, required_link_bytes_per_s=per_device, parts=resources,
                     energy_j=_energy_j(energy), energy_parts=energy,
                     timing=_timings(model, cfg))


@dataclass(frozen=True)
class Operating:
    """The best operating point of a configuration for one model and context."""

    config: str
    policy: str
    batch: int
    max_batch: int
    iteration: Iteration | None
    usd_per_hour: float
    tokens_per_dollar: float
    limited_by: str


def best_batch(model: ModelSpec, cfg: ServingConfig, context: int, dtype: str = "bf16",
               tbt_limit_s: float | None = None, batch_cap: int = 4096) -> Operating:
    """Throughput-maximising batch under KV capacity and a time-between-tokens limit."""
    cap = min(max_batch(model, cfg, context, dtype), batch_cap)
    cost = cfg.usd_per_hour()
    if cap <= 0:
        return Operating(cfg.name, cfg.policy, 0, 0, None, cost, 0.0, "weights or one sequence do not fit")
    candidates = sorted({cap, *[1 << i for i in range(0, 13) if (1 << i) < cap]})
    best: Iteration | None = None
    limited = "kv_capacity"
    for batch in candidates:
        it = decode_iteration(model, cfg, batch, context, dtype)
        if tbt_limit_s is not None and it.time_s > tbt_limit_s:
            limited = "latency_limit"
            break
        if best is None or it.tokens_per_s > best.tokens_per_s:
            best = it
    if best is None:
        return Operating(cfg.name, cfg.policy, 0, cap, None, cost, 0.0, "latency limit even at batch 1")
    tokens_per_dollar = best.tokens_per_s * 3600.0 / cost
    return Operating(cfg.name, cfg.policy, best.batch, cap, best, cost, tokens_per_dollar, limited)


@dataclass(frozen=True)
class Prefill:
    """Prefill of ``batch`` prompts of ``prompt_len`` tokens on the compute group."""

    batch: int
    prompt_len: int
    compute_s: float
    kv_handoff_s: float  # KV of the prompts sent to the attention devices (offload), else 0
    ttft_s: float
    energy_j: float = 0.0  # the compute group's (static over the compute time + dynamic)


def prefill(model: ModelSpec, cfg: ServingConfig, prompt_len: int, batch: int = 1, dtype: str = "bf16") -> Prefill:
    """Prefill runs every operator (attention included) on the compute group, as Lamina does, with eager
    dispatch (vLLM captures only decode in CUDA graphs); with offloading, the prompt's K/V then move to the
    attention devices (overlapping the next layer's compute, so only the last layer's share adds to the time
    to first token)."""
    work = StepWork(rows=batch * prompt_len, lm_rows=batch, chunks=batch, chunk=prompt_len, tp=cfg.n_compute,
                    host="eager")
    step = _compute(model, cfg, work, dtype)
    compute_t = step.time_s
    if cfg.n_compute > 1:
        size = batch * prompt_len * model.hidden_size * DTYPE_BYTES[dtype]
        compute_t += 2 * model.num_layers * allreduce_s(cfg.compute_link, cfg.n_compute, size)
    handoff = 0.0
    exposed = 0.0
    if cfg.policy == "attention_offload" and cfg.offload_link is not None:
        kv = batch * kv_bytes_per_sequence(model, prompt_len, dtype)
        handoff = kv / (cfg.offload_link.bandwidth_bytes_per_s * max(1, cfg.n_memory))
        per_layer_compute = compute_t / model.num_layers
        per_layer_handoff = handoff / model.num_layers
        # layer i's K/V go out while layer i+1 computes: exposed = whatever the link cannot hide
        exposed = max(0.0, handoff - (model.num_layers - 1) * per_layer_compute) \
            if per_layer_handoff > per_layer_compute else per_layer_handoff
    energy = cfg.n_compute * (_static_w(cfg.compute) * compute_t + step.dense_j + step.attention_j)
    return Prefill(batch, prompt_len, compute_t, handoff, compute_t + exposed, energy)


def mixed_iteration(model: ModelSpec, cfg: ServingConfig, batch: int, context: int, prefill_tokens: int,
                    chunks: int, prior: int = 0, dtype: str = "bf16") -> Iteration:
    """One continuous-batching iteration: ``batch`` decode tokens at ``context`` and ``prefill_tokens`` prompt
    tokens in ``chunks`` chunks (each after ``prior`` cached tokens of its prompt), fused as vLLM fuses them.

    Every non-attention operator runs once for all rows of a micro-batch (its decode tokens and its share
    of the prefill tokens: the weights are read once per micro-batch); the LM head for one row per sequence;
    the chunks' attention on the compute group (as :func:`prefill`), shared evenly by the micro-batches; the
    decode attention where :func:`decode_iteration` puts it. With offloading the chunks' new K/V rows go to
    the memory devices over the link with the decode traffic. The compute group dispatches eagerly (vLLM runs
    iterations with prefill outside its CUDA graphs). ``prefill_tokens = 0`` is exactly
    :func:`decode_iteration` (tested); ``batch = 0`` is a prefill-only iteration (one micro-batch)."""
    if prefill_tokens <= 0:
        return decode_iteration(model, cfg, batch, context, dtype)
    m = max(1, min(cfg.micro_batches, batch)) if batch else 1
    mb = math.ceil(batch / m)
    rows = mb + math.ceil(prefill_tokens / m)
    b = DTYPE_BYTES[dtype]
    layers = model.num_layers
    offload = cfg.policy == "attention_offload"
    work = StepWork(rows=rows, lm_rows=max(1, mb + math.ceil(chunks / m)), context=max(context, 1),
                    attention_batch=mb if batch and not offload else 0, chunks=chunks,
                    chunk=max(1, math.ceil(prefill_tokens / chunks)), prior=prior, prefill_share=1.0 / m,
                    tp=cfg.n_compute, host="eager", attention_kernel=cfg.attention_kernel)
    comp = _compute(model, cfg, work, dtype)
    mem = _memory(model, cfg, mb, max(context, 1), dtype) if batch and offload else None
    compute_t = comp.time_s
    attention_t = mem.time_s if mem is not None else 0.0
    allreduce_t = 2 * layers * allreduce_s(cfg.compute_link, cfg.n_compute, rows * model.hidden_size * b) \
        if cfg.n_compute > 1 else 0.0
    transfer_t = lat = 0.0
    out_bytes = in_bytes = 0.0
    if offload:
        assert cfg.offload_link is not None
        q_o = mb * model.num_heads * model.dhead * b
        out_bytes = q_o + (mb + math.ceil(prefill_tokens / m)) * 2 * model.kv_heads * model.dhead * b
        in_bytes = q_o
        transfer_t = layers * max(out_bytes, in_bytes) / (cfg.offload_link.bandwidth_bytes_per_s * cfg.n_memory)
        lat = layers * 2 * cfg.offload_link.latency_s if batch else 0.0
        busy = {"compute": m * (compute_t + allreduce_t), "attention": m * attention_t, "link": m * transfer_t}
        critical = compute_t + allreduce_t + attention_t + 2 * transfer_t + lat
    else:
        busy = {"compute": m * (compute_t + allreduce_t)}
        critical = busy["compute"]
    resources = {**busy, "critical_path": critical}
    bound = max(resources, key=lambda k: resources[k])
    time_s = resources[bound]
    offload_bytes = m * layers * (out_bytes + in_bytes)
    per_device = offload_bytes / max(1, cfg.n_memory) / time_s if offload else 0.0
    energy = _energy(cfg, time_s, m, comp, mem)
    return Iteration(batch=batch, context=context, time_s=time_s, compute_s=busy["compute"],
                     attention_s=m * attention_t, transfer_s=m * transfer_t, allreduce_s=m * allreduce_t,
                     offload_bytes=offload_bytes, bound=bound, tokens_per_s=(batch + prefill_tokens) / time_s,
                     required_link_bytes_per_s=per_device, parts=resources,
                     energy_j=_energy_j(energy), energy_parts=energy,
                     timing=_timings(model, cfg))
