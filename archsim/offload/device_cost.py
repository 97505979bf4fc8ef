"""What one device spends on its share of a serving iteration: seconds and joules, by device kind.

:mod:`archsim.offload.serving` composes an iteration from per-device steps (the compute group's dense
operators, attention on the compute group or on the memory devices) and asks :func:`device_step` for
each one. The step's work is a :class:`StepWork` (tokens through the dense operators, decode sequences
whose attention runs here, prefill chunks whose attention runs here, tensor-parallel degree, host mode);
the answer is a :class:`DeviceStep` for ONE device of the group.

Timings (``timing`` of :class:`archsim.offload.serving.ServingConfig`):

- ``gpu-stack`` (default): a GPU preset is priced with the software-stack model of :mod:`archsim.gpu`
  (:func:`archsim.gpu.stacks.parts`, stack ``fused``: what a serving engine launches — vLLM's fused
  residual-add + RMSNorm, fused rotary + KV-cache write, fused SiLU * mul custom ops, cuBLAS GEMMs,
  FlashAttention-2 decode through ``flash_attn_with_kvcache``'s split-KV path); kernel times from
  :class:`archsim.gpu.wholemodel.KernelPricer` (the calibration of :func:`archsim.gpu.baselines.calibration_for`:
  the H100's and H200's own, other GPUs transferred from the H200), host time from the host model
  (``cuda-graph`` replay for decode-only steps, as vLLM captures decode; ``eager`` dispatch, per kernel,
  for steps with prefill, which vLLM runs outside its graphs); dynamic energy per kernel from the board
  power model (:class:`archsim.gpu.power_validation.EnergyPricer`). A device that is not a GPU preset,
  or a model the stack profiles do not cover (not a Llama-style decoder), is priced with the roofline and
  the step says so (``timing`` of the result) — the iteration never mixes the two silently.
- ``roofline``: every operator of :mod:`archsim.lowering` timed by :func:`archsim.backends.roofline.evaluate_op`
  (no host, every kernel at its resource bound): the comparison column of the Lamina report.

Tensor parallelism (Megatron / vLLM layers): QKV and gate/up GEMMs column-parallel (``n / tp``; KV heads
replicated when there are fewer than ``tp``), O and down projections row-parallel (``k / tp``), the LM
head vocab-parallel, attention and rotary on ``heads / tp``, SiLU * mul on ``ffn / tp``; norms, residual
adds and the embedding gather replicated on every rank. The all-reduces are the caller's
(:func:`archsim.offload.serving.allreduce_s`).

Energy: ``dense_j`` / ``attention_j`` are dynamic joules of one device; static power over the iteration
is added by the caller (``static_power_w`` of the preset; 0 where a preset has none — the H20's).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import lru_cache, singledispatch
from typing import Any, Literal

from archsim.errors import ConfigError
from archsim.operators import Attention, Gemm, MoeExperts, Operator, Role, Softmax, _Streaming
from archsim.schemas.hardware import DeviceBase
from archsim.schemas.model import ModelSpec

#: vLLM's FlashAttention decode: ``flash_attn_varlen_func`` / ``flash_attn_with_kvcache`` with a block table;
#: FlashAttention-2's ``flash_api.cpp`` forces the split-KV kernel whenever the KV cache is paged ("Only split
#: kernel supports appending to KV cache, or indexing to the cache with cache_batch_idx, or paged KV cache"), so
#: decode runs the 64-row split-KV tile even when it does not split (:func:`archsim.gpu.kernels.fa2_decode`);
#: SDPA's ``flash2`` (no paged cache) runs the regular 128-row kernel then.
VLLM_FA2 = "vllm-flash2"
Timing = Literal["gpu-stack", "roofline"]
TIMINGS = ("gpu-stack", "roofline")
#: the software stack a serving engine's decode lowers to (:data:`archsim.gpu.stacks.STACKS`)
SERVING_STACK = "fused"
ATTENTION_ROLES = frozenset({Role.ATTENTION, Role.ATTN_SCORES, Role.ATTN_SOFTMAX, Role.ATTN_CONTEXT})


@dataclass(frozen=True)
class StepWork:
    """One device's share of one (micro-batch) iteration.

    ``rows``: tokens through the dense operators (decode tokens + prefill tokens; 0: none run here);
    ``lm_rows``: rows through the final norm and LM head; ``attention_batch``: decode sequences whose
    attention (one query over ``context`` cached tokens) runs here; ``chunks`` prefill chunks of ``chunk``
    tokens after ``prior`` cached ones run their causal attention here, ``prefill_share`` of it charged to
    this step (micro-batches share the chunks); ``tp``: tensor-parallel degree of the group;
    ``host``: ``cuda-graph`` or ``eager``.
    """

    rows: int = 0
    lm_rows: int = 0
    context: int = 1
    attention_batch: int = 0
    chunks: int = 0
    chunk: int = 0
    prior: int = 0
    prefill_share: float = 1.0
    tp: int = 1
    host: str = "cuda-graph"
    attention_kernel: str = "vllm-flash2"  # decode attention: VLLM_FA2, or an archsim.gpu.predict impl name


@dataclass(frozen=True)
class DeviceStep:
    """Seconds and dynamic joules of one device's step; ``dense_s`` includes host and launch time."""

    dense_s: float
    attention_s: float
    dense_j: float
    attention_j: float
    kernels: int
    timing: str

    @property
    def time_s(self) -> float:
        return self.dense_s + self.attention_s


def timing_for(device: DeviceBase, model: ModelSpec, timing: str) -> str:
    """The timing a device really gets: ``gpu-stack`` only for GPU presets and Llama-style decoders."""
    if timing not in TIMINGS:
        raise ConfigError.single(f"unknown timing {timing!r}; valid: {', '.join(TIMINGS)}", key_path="timing")
    if timing == "roofline" or getattr(device, "family", None) != "gpu":
        return "roofline"
    from archsim.gpu.stack_run import covers
    return "gpu-stack" if covers(model) else "roofline"


def device_step(device: DeviceBase, model: ModelSpec, work: StepWork, dtype: str = "bf16",
                timing: str = "gpu-stack") -> DeviceStep:
    """The cost of ``work`` on one ``device`` (module docstring)."""
    if timing_for(device, model, timing) == "gpu-stack":
        if dtype != "bf16":
            raise ConfigError.single(f"the GPU stack model prices bf16 serving, not {dtype!r}", key_path="dtype")
        from archsim.gpu.stack_run import shape_from_model
        return _gpu_step(device.name, shape_from_model(model), work)
    return _roofline_step(device, model, work, dtype)


# --- roofline ------------------------------------------------------------------------------------------------

@singledispatch
def split_tp(op: Operator, tp: int) -> Operator:
    """One tensor-parallel shard of ``op`` (weights and FLOPs divided by ``tp``)."""
    return op


@split_tp.register(Gemm)
@split_tp.register(MoeExperts)
def _(op: Gemm | MoeExperts, tp: int) -> Operator:
    return dataclasses.replace(op, n=max(1, math.ceil(op.n / tp)))


@split_tp.register
def _(op: _Streaming, tp: int) -> Operator:
    return dataclasses.replace(op, elements=max(1, math.ceil(op.elements / tp)))


@split_tp.register
def _(op: Attention, tp: int) -> Operator:
    return dataclasses.replace(op, heads=max(1, math.ceil(op.heads / tp)), kv_heads=max(1, math.ceil(op.kv_heads / tp)))


def decode_ops(model: ModelSpec, batch: int, context: int, dtype: str) -> list[Operator]:
    from archsim.lowering import lower
    from archsim.schemas.workload import Workload
    wl = Workload(name="decode", model=model, dtype=dtype,  # type: ignore[arg-type]
                  phases=[{"phase": "decode", "batch": batch, "context_len": context, "steps": 1}])
    return lower(wl, model)


def prefill_attention_ops(model: ModelSpec, chunks: int, chunk: int, prior: int, dtype: str) -> list[Operator]:
    """The attention operators of ``chunks`` prefill chunks of ``chunk`` tokens, each after ``prior`` cached
    tokens of its own prompt (causal, bottom-right aligned: the queries see the earlier chunks too)."""
    from archsim.lowering import lower
    from archsim.schemas.workload import Workload
    wl = Workload(name="prefill", model=model, dtype=dtype,  # type: ignore[arg-type]
                  phases=[{"phase": "prefill", "batch": chunks, "seq_len": chunk}])
    ops = [op for op in lower(wl, model) if op.role in ATTENTION_ROLES]
    if prior:
        ops = [dataclasses.replace(op, cols=op.cols + prior) if isinstance(op, Softmax)
               else dataclasses.replace(op, seq_kv=op.seq_kv + prior) for op in ops]
    return ops


def _roofline_step(device: DeviceBase, model: ModelSpec, w: StepWork, dtype: str) -> DeviceStep:
    from archsim.backends.roofline import evaluate_op

    def cost(ops: list[Operator], share: float = 1.0) -> tuple[float, float, int]:
        t = e = 0.0
        for op in ops:
            r = evaluate_op(split_tp(op, w.tp), device)
            t += r.time_s * op.count
            e += (r.energy_j - r.energy_by_part.get("static", 0.0)) * op.count
        return share * t, share * e, sum(op.count for op in ops)

    dense = attn = (0.0, 0.0, 0)
    if w.rows:
        ops = []
        for op in decode_ops(model, w.rows, max(w.context, 1), dtype):
            if op.role in ATTENTION_ROLES or (op.role == Role.LM_HEAD and not w.lm_rows):
                continue
            ops.append(dataclasses.replace(op, m=w.lm_rows) if op.role == Role.LM_HEAD else op)
        dense = cost(ops)
    parts = []
    if w.chunks:
        parts.append(cost(prefill_attention_ops(model, w.chunks, w.chunk, w.prior, dtype), w.prefill_share))
    if w.attention_batch:
        parts.append(cost([op for op in decode_ops(model, w.attention_batch, max(w.context, 1), dtype)
                           if op.role in ATTENTION_ROLES]))
    attn = tuple(sum(p[i] for p in parts) for i in range(3)) if parts else attn  # type: ignore[assignment]
    return DeviceStep(dense[0], attn[0], dense[1], attn[1], int(dense[2] + attn[2]), "roofline")


# --- GPU stack model -----------------------------------------------------------------------------------------

@lru_cache(maxsize=8)
def _pricers(hw: str) -> tuple[Any, Any, Any]:
    """(calibration, time pricer, energy pricer) of one GPU preset, built once per process."""
    from archsim.gpu.baselines import calibration_for
    from archsim.gpu.power_validation import EnergyPricer
    from archsim.gpu.wholemodel import KernelPricer
    cal = calibration_for(hw)
    return cal, KernelPricer(cal), EnergyPricer(cal)


@lru_cache(maxsize=4096)
def _gpu_step(hw: str, shape: Any, w: StepWork) -> DeviceStep:
    from archsim.gpu.host import step_wall_s
    from archsim.offload.gpu_shard import step_items
    cal, times, energy = _pricers(hw)
    pro, layer, epi = step_items(shape, w)
    layers = shape.layers

    def priced(items: list) -> list[tuple[Any, float, float]]:
        out = []
        for it, share in items:
            if it.attention and it.attention["impl"] == VLLM_FA2:
                t, e = _paged_fa2(hw, tuple(sorted(it.attention.items())))
            else:
                t, e = times(it), energy(it)[1]
            out += [(it, share * t, share * e)] * it.count
        return out

    seq = priced(pro) + priced(layer) * layers + priced(epi)
    kernel_s = [t for _, t, _ in seq]
    attn_s = sum(t for it, t, _ in seq if it.category == "attention")
    attn_j = sum(e for it, _, e in seq if it.category == "attention")
    n_attn = sum(1 for it, _, _ in seq if it.category == "attention")
    if not seq:
        return DeviceStep(0.0, 0.0, 0.0, 0.0, 0, "gpu-stack")
    wall = step_wall_s(kernel_s, [it.category for it, _, _ in seq], w.host, cal.host, SERVING_STACK,
                       "prefill" if w.chunks else "decode", layers)
    if w.host == "cuda-graph":
        attn_s += cal.host.graph_gap_s * n_attn  # each node's gap goes with its kernel
    total_j = sum(e for _, _, e in seq)
    return DeviceStep(wall - attn_s, attn_s, total_j - attn_j, attn_j, len(seq), "gpu-stack")


@lru_cache(maxsize=1024)
def _paged_fa2(hw: str, attention: tuple[tuple[str, Any], ...]) -> tuple[float, float]:
    """Seconds and dynamic joules of vLLM's paged FlashAttention-2 decode (:data:`VLLM_FA2`): the split-KV
    launches of :func:`archsim.gpu.kernels.fa2_decode` on the GPU model, each launch's event overhead taken off
    as :class:`archsim.gpu.wholemodel.KernelPricer` does for every library kernel."""
    from archsim.gpu.kernels import fa2_decode
    from archsim.gpu.model import simulate_launch
    from archsim.gpu.power import launches_dynamic_j
    from archsim.gpu.predict import attention_shape
    cal, times, _ = _pricers(hw)
    a = {k: v for k, v in attention if k != "impl"}
    if a["seq_q"] != 1:
        raise ConfigError.single(f"{VLLM_FA2} is a decode kernel (one query per sequence)", key_path="attention")
    shape = attention_shape(a["batch"], a["heads"], a["kv_heads"], 1, a["seq_kv"], a["head_dim"], False, "bf16")
    launches = [simulate_launch(dataclasses.replace(ln, mma_dtype="bf16"), cal.rates)
                for ln in fa2_decode(shape, "vllm_paged_flash2", cal.rates.sm_count)]
    return times.launches_s(launches), launches_dynamic_j(launches)
