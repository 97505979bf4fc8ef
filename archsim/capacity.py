"""Memory per device: weights + KV cache + peak activations of a workload, split by its
parallelism, against the device's off-chip memory. Over capacity is bad input (exit 2).

``check_capacity(workload, hardware, parallel)`` returns a :class:`MemoryReport` or raises
:class:`~archsim.errors.ConfigError` naming the sizes and the ways out (more devices, a smaller
dtype, a shorter context). Bytes are SI; "GB" in messages is 1e9 bytes.

Counted (inference; every number from the model's shapes and the workload's dtype):
- **weights**: attention (Q/O split over ``tensor``; K/V over ``tensor`` but replicated once
  ``tensor`` exceeds the KV heads, as Megatron and vLLM do), FFN (split over ``tensor``), MoE
  experts (over ``expert x tensor``: Megatron-Core's default expert tensor parallelism equals
  ``tensor``), the embedding (vocab-parallel, counted once as
  :meth:`~archsim.schemas.model.ModelSpec.parameter_count` does: ~1% low for untied
  embeddings). Layers split over ``pipeline``; the worst stage (first: it also holds the
  embedding) is reported. Norm weights are ignored (< 0.01%).
- **KV cache**: 2 x layers x KV heads x head_dim x tokens x batch per data-parallel replica,
  tokens = ``context_len + steps`` (decode) or ``seq_len`` (prefill); the largest phase counts.
  Encoders and ViTs keep none.
- **activations**: one layer's live tensors for one micro-batch (the residual stream plus the
  widest operator's input and output), the logits, and — for an unfused attention algorithm —
  the N x N scores. Training state (gradients, optimizer moments) is not modelled: workloads
  are inference.

Not counted: the framework's own reserve (CUDA context, allocator fragmentation, a few GB),
so a workload reported as fitting with little to spare may still not fit in practice.
Explicit-``layers`` workloads: GEMM B operands are weights (``k x n x count``), attention
layers' K and V are the KV cache, the largest operator's operands are the activations.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from archsim.algorithms import attention_algorithm
from archsim.errors import ConfigError
from archsim.schemas.base import DTYPE_BYTES
from archsim.schemas.hardware import DeviceBase, SystemSpec
from archsim.schemas.model import ModelSpec
from archsim.schemas.parallel import Parallel
from archsim.schemas.workload import AttentionLayer, DecodePhase, GemmLayer, Workload


@dataclass(frozen=True)
class MemoryReport:
    """Bytes per device (the worst device) and the device's capacity."""

    device: str
    devices: int
    capacity_bytes: float
    weights_bytes: float
    kv_cache_bytes: float
    activation_bytes: float
    parallel: dict[str, int]

    @property
    def total_bytes(self) -> float:
        return self.weights_bytes + self.kv_cache_bytes + self.activation_bytes

    @property
    def fits(self) -> bool:
        return self.total_bytes <= self.capacity_bytes

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_bytes": self.total_bytes, "fits": self.fits}


def _gb(nbytes: float) -> str:
    return f"{nbytes / 1e9:.1f} GB"


def _device(hardware: Any) -> tuple[DeviceBase, int]:
    """The device whose memory holds the workload, and how many of them the hardware has."""
    if isinstance(hardware, SystemSpec):
        from archsim import presets

        groups = [ref for ref in hardware.devices.values() if ref.role == "compute"] or list(hardware.devices.values())
        if len(groups) != 1:
            raise ConfigError.single(f"system {hardware.name!r} has several device groups; capacity needs one "
                                     "(mark it role: compute)", key_path="devices")
        ref = groups[0]
        dev = ref.device if ref.device is not None else presets.load_hardware(ref.preset)  # type: ignore[arg-type]
        return dev, ref.count
    return hardware, 1


def _tokens(phase: Any, model: ModelSpec | None) -> tuple[int, int, int]:
    """(batch, query tokens per sequence, cached tokens per sequence) of one phase."""
    if isinstance(phase, DecodePhase):
        return phase.batch, 1, phase.context_len + phase.steps
    seq = phase.seq_len if phase.seq_len is not None else model.vision.num_tokens  # type: ignore[union-attr]
    return phase.batch, seq, seq


def _model_weights(model: ModelSpec, p: Parallel) -> float:
    """Parameters on the worst device (first pipeline stage)."""
    h, d, heads, kv = model.hidden_size, model.dhead, model.num_heads, model.kv_heads
    attn = 2 * h * d * heads / p.tensor + 2 * h * d * math.ceil(kv / p.tensor)
    mult = 3 if model.ffn_kind == "gated_silu" else 2
    moe_layers = model.num_layers // model.moe.every_n_layers if model.moe else 0
    dense_layers = model.num_layers - moe_layers
    stage_layers = math.ceil(model.num_layers / p.pipeline)
    moe_share = moe_layers / model.num_layers
    per_dense = attn + mult * h * model.ffn_hidden_size / p.tensor
    total = stage_layers * (1 - moe_share) * per_dense if dense_layers else 0.0
    if model.moe is not None:
        m = model.moe
        experts = m.num_experts * mult * h * m.expert_ffn_hidden_size / (p.expert * p.tensor)
        total += stage_layers * moe_share * (attn + experts + h * m.num_experts)
    if model.vocab_size:
        total += model.vocab_size * h / p.tensor
    if model.vision is not None:
        total += model.vision.channels * model.vision.patch_size ** 2 * h
    return total


def _model_kv_and_activations(model: ModelSpec, workload: Workload, p: Parallel) -> tuple[float, float]:
    """(KV-cache elements, activation elements) per device, the largest phase."""
    h, d, heads, kv = model.hidden_size, model.dhead, model.num_heads, model.kv_heads
    stage_layers = math.ceil(model.num_layers / p.pipeline)
    kv_heads_dev = math.ceil(kv / p.tensor)
    f = model.moe.expert_ffn_hidden_size if model.moe and model.moe.every_n_layers == 1 else model.ffn_hidden_size
    up = (2 if model.ffn_kind == "gated_silu" else 1) * f
    widest = max(h + d * (heads + 2 * kv) / p.tensor, h + (up + f) / p.tensor)
    fused = attention_algorithm(workload.algorithm.attention).fused
    kv_elems = act_elems = 0.0
    for phase in workload.phases:
        batch, seq_q, cached = _tokens(phase, model)
        replica_batch = math.ceil(batch / p.data)
        micro = math.ceil(replica_batch / p.micro_batches) if p.pipeline > 1 else replica_batch
        if model.arch == "decoder":
            kv_elems = max(kv_elems, 2.0 * stage_layers * kv_heads_dev * d * cached * replica_batch)
        act = micro * seq_q * (h + widest)
        if model.vocab_size:
            act += micro * model.vocab_size / p.tensor  # logits of the last token per sequence (serving)
        if not fused:
            act += micro * heads / p.tensor * seq_q * cached
        act_elems = max(act_elems, act)
    return kv_elems, act_elems


def _layer_footprint(workload: Workload) -> tuple[float, float, float]:
    """(weights, KV, activations) elements of an explicit-layers workload (no parallel split)."""
    weights = kv = act = 0.0
    for layer in workload.layers or []:
        if isinstance(layer, GemmLayer):
            weights += layer.k * layer.n * layer.count
            act = max(act, layer.m * layer.k + layer.m * layer.n)
        elif isinstance(layer, AttentionLayer):
            kvh = layer.kv_heads or layer.heads
            kv += 2.0 * layer.batch * kvh * layer.seq_kv * layer.head_dim * layer.count
            act = max(act, 2.0 * layer.batch * layer.heads * layer.seq_q * layer.head_dim)
    return weights, kv, act


def _check_divisible(model: ModelSpec, p: Parallel) -> None:
    problems = []
    if model.num_heads % p.tensor:
        problems.append(("parallel.tensor", f"tensor {p.tensor} does not divide the model's {model.num_heads} "
                                            "attention heads"))
    if p.pipeline > model.num_layers:
        problems.append(("parallel.pipeline", f"pipeline {p.pipeline} exceeds the model's {model.num_layers} layers"))
    if p.expert > 1 and (model.moe is None or model.moe.num_experts % p.expert):
        have = f"{model.moe.num_experts} experts" if model.moe else "no MoE layers"
        problems.append(("parallel.expert", f"expert {p.expert} does not divide the model's experts ({have})"))
    if problems:
        from archsim.errors import Problem

        raise ConfigError([Problem(msg, key_path=key) for key, msg in problems])


def _parallel(workload: Workload, parallel: Parallel | None) -> Parallel:
    return parallel if parallel is not None else getattr(workload, "parallel", None) or Parallel.model_validate({})


def _footprint(workload: Workload, model: ModelSpec | None, p: Parallel) -> tuple[float, float, float]:
    """(weights, KV cache, activations) in bytes on the worst device."""
    b = DTYPE_BYTES[workload.dtype]
    if model is None:
        w, kv, act = _layer_footprint(workload)
    else:
        w = _model_weights(model, p)
        kv, act = _model_kv_and_activations(model, workload, p)
    return w * b, kv * b, act * b


def memory_report(workload: Workload, hardware: Any, parallel: Parallel | None = None,
                  model: ModelSpec | None = None) -> MemoryReport:
    """Bytes per device of ``workload`` on ``hardware`` split by ``parallel`` (default: the workload's)."""
    from archsim import presets

    p = _parallel(workload, parallel)
    device, count = _device(hardware)
    if p.devices > count:
        where = f"system {hardware.name!r} has {count}" if count > 1 else f"{device.name!r} is one device"
        raise ConfigError.single(f"parallel tensor x pipeline x data = {p.devices} devices, but {where}; use a "
                                 f"system preset with at least {p.devices} devices (e.g. hgx-h100)",
                                 key_path="parallel")
    model = model if model is not None else presets.resolve_model(workload)
    if model is not None:
        _check_divisible(model, p)
    w, kv, act = _footprint(workload, model, p)
    return MemoryReport(device.name, p.devices, device.offchip.capacity_bytes, w, kv, act,
                        p.model_dump(exclude={"micro_batches", "overlap_communication"}))


def check_capacity(workload: Workload, hardware: Any, parallel: Parallel | None = None,
                   model: ModelSpec | None = None) -> MemoryReport:
    """:func:`memory_report`, raising :class:`ConfigError` when the worst device is over capacity."""
    report = memory_report(workload, hardware, parallel, model)
    if report.fits:
        return report
    raise ConfigError.single(_over_message(workload, hardware, report, parallel, model), key_path="parallel")


def _over_message(workload: Workload, hardware: Any, r: MemoryReport, parallel: Parallel | None,
                  model: ModelSpec | None) -> str:
    from archsim import presets

    p = _parallel(workload, parallel)
    model = model if model is not None else presets.resolve_model(workload)
    split = ", ".join(f"{k}={v}" for k, v in r.parallel.items() if v > 1) or "one device"
    head = (f"{workload.name} ({workload.dtype}) needs {_gb(r.total_bytes)} per device (weights {_gb(r.weights_bytes)}"
            f" + KV cache {_gb(r.kv_cache_bytes)} + activations {_gb(r.activation_bytes)}; {split}) but {r.device} "
            f"has {_gb(r.capacity_bytes)}.")
    ways = []
    if model is not None:
        tensor = p.tensor * 2
        while tensor <= model.num_heads and model.num_heads % tensor == 0:
            trial = p.model_copy(update={"tensor": tensor})
            if sum(_footprint(workload, model, trial)) <= r.capacity_bytes:
                ways.append(f"more devices (parallel: {{tensor: {tensor}}} needs "
                            f"{_gb(sum(_footprint(workload, model, trial)))} per device; a system preset such as "
                            "hgx-h100 has 8 GPUs)")
                break
            tensor *= 2
        else:
            ways.append("more devices (tensor parallelism alone is not enough: add pipeline stages)")
    device, _ = _device(hardware)
    for dt in ("fp8", "int8"):
        if dt in device.compute.matrix_flops_per_s and DTYPE_BYTES[dt] < DTYPE_BYTES[workload.dtype]:
            smaller = sum(_footprint(workload.model_copy(update={"dtype": dt}), model, p))
            enough = "fits" if smaller <= r.capacity_bytes else "not enough alone"
            ways.append(f"a smaller dtype (dtype: {dt} needs {_gb(smaller)} per device: {enough})")
            break
    free = r.capacity_bytes - r.weights_bytes - r.activation_bytes
    if r.kv_cache_bytes > 0 and free > 0:
        ways.append(f"a shorter context or smaller batch (the KV cache may take {_gb(free)}, "
                    f"{100 * free / r.kv_cache_bytes:.0f}% of today's)")
    elif r.kv_cache_bytes > 0:
        ways.append("a shorter context does not help alone: the weights do not fit")
    return head + " Ways out: " + "; ".join(ways) + "."
