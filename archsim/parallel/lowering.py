"""Parallel lowering: a workload's operators as ONE device of a tensor/pipeline/data/expert-parallel
deployment runs them, with the collectives a Megatron-style implementation issues.

Built on :mod:`archsim.lowering` (the one place a model becomes operators): the workload is
lowered for one data-parallel replica and one pipeline stage, then every operator is split the
way Megatron-LM (Shoeybi et al., 2019, Sec. 3) splits it over ``tensor`` devices:

- QKV projection column-parallel (heads / tensor; KV heads / tensor, at least one each: they are
  replicated once tensor exceeds them, as Megatron and vLLM do); attention over the local heads;
  output projection row-parallel, then an **all-reduce** of the ``tokens x hidden`` output;
- FFN up (gate+up) column-parallel, activation on the local columns, down row-parallel, then an
  **all-reduce**; norms and residual adds are replicated (no sequence parallelism);
- LM head vocab-parallel, then an **all-gather** of the logits;
- MoE layers with ``expert`` > 1: the router is replicated, each device holds
  ``num_experts / expert`` experts (each split over ``tensor``), and tokens travel by an
  **all-to-all** before the experts (dispatch) and another after them (combine); uniform routing
  is assumed (each device gets ``1 / expert`` of the (token, expert) pairs);
- ``data`` replicas split the batch (inference: no gradient all-reduce);
- ``pipeline`` stages take ``ceil(layers / pipeline)`` consecutive layers each; the stage modelled
  is the last (it also runs the LM head, so it is the slowest). One micro-batch is
  ``batch / micro_batches`` sequences; :func:`pipeline_overhead_s` adds the bubble
  ``(pipeline - 1)`` micro-batch stage times and the activation hand-offs between stages.

Overlap of communication with compute: none (eager Megatron tensor parallelism issues each
all-reduce after the GEMM that produces its input, and the next operator waits for it). A stack
that overlaps (e.g. TensorRT-LLM's fused all-reduce + norm) would be faster than this model.
"""

from __future__ import annotations

import math
from dataclasses import replace

from archsim.errors import ConfigError
from archsim.lowering import lower
from archsim.operators import (
    Attention,
    AttentionContext,
    AttentionScores,
    Collective,
    Elementwise,
    Gemm,
    MoeExperts,
    Operator,
    Role,
    Softmax,
)
from archsim.schemas.base import DTYPE_BYTES
from archsim.schemas.model import ModelSpec
from archsim.schemas.parallel import Parallel
from archsim.schemas.workload import DecodePhase, Workload

#: Operators whose output is a partial sum over the tensor-parallel group (row-parallel GEMMs).
ROW_PARALLEL = (Role.OUT_PROJ, Role.FFN_DOWN)


def replica_workload(workload: Workload, parallel: Parallel) -> Workload:
    """The workload one data-parallel replica and one pipeline micro-batch sees (batch split)."""
    div = parallel.data * (parallel.micro_batches if parallel.pipeline > 1 else 1)
    phases = []
    for phase in workload.phases:
        if phase.batch % div:
            raise ConfigError.single(f"batch {phase.batch} does not split into data x micro_batches = {div} "
                                     "equal parts", key_path="parallel")
        phases.append(phase.model_copy(update={"batch": phase.batch // div}))
    return workload.model_copy(update={"phases": phases})


def stage_model(model: ModelSpec, parallel: Parallel) -> ModelSpec:
    """The layers of one pipeline stage (the largest: ``ceil(layers / pipeline)``)."""
    if parallel.pipeline == 1:
        return model
    return model.model_copy(update={"num_layers": math.ceil(model.num_layers / parallel.pipeline)})


def _collective(op: Operator, kind: str, nbytes: float, group: int, suffix: str) -> Collective:
    return Collective(name=f"{op.name}.{suffix}", role=Role.COMMUNICATION, phase=op.phase, dtype=op.dtype,
                      count=op.count, op=kind, bytes=nbytes, group=group)


def _split(op: Operator, model: ModelSpec, p: Parallel) -> list[Operator]:
    """One operator as one tensor-parallel device runs it, followed by its collectives."""
    t, e = p.tensor, p.expert
    b = DTYPE_BYTES[op.dtype]
    h, d = model.hidden_size, model.dhead
    heads, kv = model.num_heads // t, math.ceil(model.kv_heads / t)
    if isinstance(op, (Attention, AttentionScores, AttentionContext)):
        return [replace(op, heads=heads, kv_heads=kv)]
    if isinstance(op, Softmax):
        return [replace(op, rows=op.rows // t)]
    if isinstance(op, MoeExperts):
        tokens = math.ceil(op.tokens / e)
        local = replace(op, tokens=tokens, active_experts=op.active_experts / e, num_experts=op.num_experts // e)
        local = replace(local, n=op.n // t) if op.role == Role.MOE_UP else replace(local, k=op.k // t)
        out: list[Operator] = []
        if e > 1 and op.role == Role.MOE_UP:
            out.append(_collective(op, "all_to_all", op.tokens * h * b, e, "dispatch"))
        out.append(local)
        if op.role == Role.MOE_DOWN:
            if t > 1:
                out.append(_collective(op, "all_reduce", tokens * h * b, t, "all_reduce"))
            if e > 1:
                out.append(_collective(op, "all_to_all", op.tokens * h * b, e, "combine"))
        return out
    if isinstance(op, Elementwise) and op.role in (Role.FFN_ACT, Role.MOE_ACT):
        return [replace(op, elements=op.elements // (t * (e if op.role == Role.MOE_ACT else 1)))]
    if isinstance(op, Gemm):
        if op.role == Role.QKV_PROJ:
            return [replace(op, n=d * (heads + 2 * kv))]
        if op.role == Role.FFN_UP:
            return [replace(op, n=op.n // t)]
        if op.role in ROW_PARALLEL:
            rows = replace(op, k=op.k // t)
            return [rows, _collective(op, "all_reduce", op.m * op.n * b, t, "all_reduce")] if t > 1 else [rows]
        if op.role == Role.LM_HEAD:
            vocab = replace(op, n=math.ceil(op.n / t))
            return [vocab, _collective(op, "all_gather", op.m * op.n * b, t, "all_gather")] if t > 1 else [vocab]
    return [op]  # norms, residual adds, rotary, router, patch embedding: replicated


def check_parallel(model: ModelSpec, p: Parallel) -> None:
    """Splits the lowering needs to be whole (the capacity check makes the same checks)."""
    from archsim.capacity import _check_divisible

    _check_divisible(model, p)
    if model.ffn_hidden_size % p.tensor or (model.moe and model.moe.expert_ffn_hidden_size % p.tensor):
        raise ConfigError.single(f"tensor {p.tensor} does not divide the FFN width", key_path="parallel.tensor")


def lower_parallel(workload: Workload, model: ModelSpec, parallel: Parallel | None = None) -> list[Operator]:
    """Operators of one device (last pipeline stage, one replica, one micro-batch) in execution order."""
    p = parallel if parallel is not None else workload.parallel
    check_parallel(model, p)
    base = lower(replica_workload(workload, p), stage_model(model, p))
    return [split for op in base for split in _split(op, model, p)]


def stage_activation_bytes(workload: Workload, model: ModelSpec, parallel: Parallel) -> dict[str, float]:
    """Bytes one micro-batch hands to the next pipeline stage, per phase and step (tokens x hidden)."""
    wl = replica_workload(workload, parallel)
    out: dict[str, float] = {}
    for phase in wl.phases:
        tokens = phase.batch * (1 if isinstance(phase, DecodePhase) else (phase.seq_len or 0))
        out[phase.phase] = tokens * model.hidden_size * DTYPE_BYTES[workload.dtype]
    return out
