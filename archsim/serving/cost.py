"""Iteration cost from the backends, memoised on a bucketed batch composition; KV capacity from the device.

An iteration with prefill chunks and decode tokens runs as ONE fused batch (vLLM and SGLang put all its
tokens through the same GEMMs): its cost is the sum of
- the per-token operators (QKV/out projections, FFN, norms, residuals, their tensor-parallel all-reduces)
  for all ``prefill tokens + decode tokens`` rows: weights are read once for the whole batch;
- the LM head (and its vocab-parallel gather) for one row per sequence (each chunk, each decode);
- the prefill chunks' attention (``chunks`` sequences of the mean chunk) and the decode tokens' attention
  (the decode batch at its mean context),
each part costed by the pipeline's own lowering, backend, driver and collectives on one-phase workloads
(:func:`archsim.api.simulate` does the same; ``tests/serving/test_validation.py`` checks that a pure prefill
or pure decode iteration costs exactly what ``simulate`` says).

A later chunk of a chunked prefill attends to its prompt's earlier chunks too (causal, bottom-right
aligned), at the iteration's mean prior length. Stated errors of this composition (not bucketing): chunk
and decode attention at their mean lengths are exact for costs linear in the context (as
:mod:`archsim.lowering` says of its decode steps); the attention kernels of the chunks and of the decodes
run one after the other (no fused varlen kernel).

Bucketing (what makes 10,000 requests fast; one backend call per new key, and each operator is costed
once): the per-token rows are exact up to 256 and rounded up to ``prefill_bucket`` (32) above; the LM-head
rows and the decode batch are exact (``batch_bucket`` 1: the GPU model's kernel choices make decode
attention far from linear in the batch — interpolating on steps of 8 gave 15%, rounding up to 8 gave 6.4% on
Llama-2-7B/H100); decode attention is linear between grid points of the mean context (steps of
``context_bucket``, 128 tokens; exact below one step: the GPU model's decode attention is a step function of
64-token KV tiles, a large share of a short context); the mean prefill chunk of the chunks' attention is
rounded up to ``prefill_bucket`` tokens, the chunk count is exact. The gap to the exact cost is measured by
:func:`bucketing_error`: at most 2.8% (Llama-2-7B/H100) and 1.7% (Llama-3-70B TP8/hgx-h100) over 40 random
compositions (seed 5); ``tests/serving/test_validation.py`` bounds it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from pydantic import TypeAdapter

from archsim import presets
from archsim.backends import Backend, choose
from archsim.backends.driver import run_operators
from archsim.capacity import memory_report
from archsim.errors import ConfigError
from archsim.lowering import lower, tokens_by_phase
from archsim.operators import Collective, Role, Softmax
from archsim.schemas.hardware import SystemSpec
from archsim.schemas.workload import Phase, Workload
from archsim.serving.schedulers import Iteration

_PHASE: TypeAdapter[Any] = TypeAdapter(Phase)


def _phase(mapping: dict[str, Any]) -> Any:
    return _PHASE.validate_python(mapping)


def round_up(value: float, step: int) -> int:
    return int(math.ceil(value / step - 1e-12)) * step if value > 0 else 0


@dataclass(frozen=True, kw_only=True)
class Buckets:
    """Grid steps of the memo keys (sequences or tokens); 1 everywhere means no bucketing.

    Decode: the backends are asked at grid points of the batch (exact up to 8, then steps of
    ``batch_bucket``) and of the mean context (steps of ``context_bucket`` tokens), and the cost in
    between is bilinear (decode attention is linear in batch and context; the weight-bound GEMMs barely
    change with the batch). Prefill: the mean chunk is rounded up to ``prefill_bucket`` tokens.
    """

    batch_bucket: int = 1
    context_bucket: int = 128
    prefill_bucket: int = 32

    def batch_grid(self, batch: int) -> tuple[int, int]:
        if batch <= 8 or self.batch_bucket == 1:
            return batch, batch
        lo = max(8, batch // self.batch_bucket * self.batch_bucket)
        return lo, lo if lo == batch else lo + self.batch_bucket

    def context_grid(self, context: float) -> tuple[int, int]:
        step = self.context_bucket
        if context < step:  # exact below one step: a KV tile (64 tokens in the GPU model) is a large share there
            v = max(1, math.ceil(context))
            return v, v
        lo = int(context // step) * step
        return lo, lo if lo == context else lo + step

    def prefill_key(self, chunks: int, tokens: int) -> tuple[int, int]:
        return chunks, max(1, round_up(tokens / chunks, self.prefill_bucket))


class _Prepared(Backend):
    """A backend whose device view is prepared once and whose answers are memoised per operator."""

    name = "serving-memo"  # the wrapper's own name; ``inner.name`` is the backend that answers

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self._view: Any = None
        self._memo: dict[Any, Any] = {}

    def prepare(self, hardware: Any) -> Any:
        if self._view is None:
            self._view = self.inner.prepare(hardware)
        return self._view

    def evaluate(self, op: Any, view: Any) -> Any:
        if op not in self._memo:
            self._memo[op] = self.inner.evaluate(op, view)
        return self._memo[op]

    def notes(self, view: Any) -> list[str]:
        return self.inner.notes(view)

    def peaks(self, hardware: Any, view: Any) -> Any:
        return self.inner.peaks(hardware, view)

    def trace(self, view: Any) -> list[Any]:
        return []


class BackendCost:
    """Seconds per :class:`Iteration` of ``workload``'s model on ``hardware`` (one deployment: a device, or a
    tensor-parallel group of a system's GPUs), from the backend ``backend`` (auto: the best)."""

    def __init__(self, workload: Workload, hardware: Any, *, backend: str = "auto",
                 buckets: Buckets | None = None) -> None:
        self.workload = workload
        self.hardware = hardware
        model = presets.resolve_model(workload)
        if model is None:
            raise ConfigError.single("serving needs a model workload (explicit layers have no requests)",
                                     key_path="model")
        self.model = model
        p = workload.parallel
        if p.pipeline > 1 or p.data > 1:
            raise ConfigError.single("serving simulates one tensor-parallel deployment: pipeline and data "
                                     f"parallelism are not modelled (got {p.model_dump()})", key_path="parallel")
        from archsim.capacity import _device

        self.device: Any
        self.device, _ = _device(hardware)
        self.fabric = None
        if p.devices > 1:
            from archsim.collectives import fabric_from_system

            if not isinstance(hardware, SystemSpec):
                raise ConfigError.single(f"parallel {p.devices} needs a system preset", key_path="parallel")
            self.fabric = fabric_from_system(hardware, load_device=presets.load_hardware)
        self.backend = _Prepared(choose(backend, self.device.family))
        self.buckets = buckets or Buckets()
        self._phase_memo: dict[tuple[Any, ...], float] = {}
        self.backend_calls = 0

    def _lowered(self, phase: dict[str, Any]) -> tuple[Workload, list[Any]]:
        wl = self.workload.model_copy(update={"phases": [_phase(phase)], "name": "serving-iteration"})
        if self.fabric is not None:
            from archsim.parallel.lowering import lower_parallel

            return wl, lower_parallel(wl, self.model, wl.parallel)
        return wl, lower(wl, self.model)

    def phase_seconds(self, phase: dict[str, Any], part: str | None = None) -> float:
        """Seconds of one phase (a prefill or decode phase mapping) as the pipeline costs it; ``part`` keeps only
        the ``attention`` operators, the LM ``head`` (and its gather) or the per-``tokens`` rest."""
        key = (tuple(sorted(phase.items())), part)
        if key in self._phase_memo:
            return self._phase_memo[key]
        self.backend_calls += 1
        wl, ops = self._lowered(phase)
        if part is not None:
            ops = [op for op in ops if _part(op) == part]
        compute = [op for op in ops if not isinstance(op, Collective)]
        seconds = 0.0
        if compute:
            seconds += run_operators(self.backend, wl.name, self.device, compute,
                                     tokens_by_phase(wl, self.model)).latency_s
        if self.fabric is not None:
            from archsim.parallel.simulate import collective_result

            seconds += sum(collective_result(op, self.fabric).total_time_s for op in ops if isinstance(op, Collective))
        self._phase_memo[key] = seconds
        return seconds

    def tokens_s(self, tokens: int) -> float:
        """Every operator that runs once per token of the batch (projections, FFN, norms, residuals, their
        all-reduces) for ``tokens`` rows: decode-phase lowering of ``tokens`` sequences, attention and head left out."""
        t = tokens if tokens <= 256 else round_up(tokens, self.buckets.prefill_bucket)
        return self.phase_seconds({"phase": "decode", "batch": t, "context_len": 1, "steps": 1}, "tokens")

    def head_s(self, rows: int) -> float:
        """The LM head (and its vocab-parallel gather) for ``rows`` sequences: one logit row per sequence."""
        return self.phase_seconds({"phase": "decode", "batch": rows, "context_len": 1, "steps": 1}, "head")

    def prefill_attention_s(self, chunks: int, tokens: int, prior_mean: float = 0.0) -> float:
        """Attention of ``chunks`` prefill chunks of the mean length, each after ``prior_mean`` tokens of its prompt
        already in the cache (causal, bottom-right aligned: a chunk's queries see the earlier chunks and
        themselves); linear between context grid points of the prior length, as decode attention is."""
        batch, seq = self.buckets.prefill_key(chunks, tokens)
        phase = {"phase": "prefill", "batch": batch, "seq_len": seq}
        if prior_mean <= 0:
            return self.phase_seconds(phase, "attention")
        p0, p1 = self.buckets.context_grid(prior_mean)
        if p1 == p0:
            return self._chunk_attention(phase, p0)
        w = (prior_mean - p0) / (p1 - p0)
        return (1 - w) * self._chunk_attention(phase, p0) + w * self._chunk_attention(phase, p1)

    def _chunk_attention(self, phase: dict[str, Any], prior: int) -> float:
        key = (tuple(sorted(phase.items())), "attention", prior)
        if key not in self._phase_memo:
            self.backend_calls += 1
            wl, ops = self._lowered(phase)
            ops = [_with_prior(op, prior) for op in ops if _part(op) == "attention"]
            self._phase_memo[key] = run_operators(self.backend, wl.name, self.device, ops,
                                                  tokens_by_phase(wl, self.model)).latency_s
        return self._phase_memo[key]

    def decode_attention_s(self, batch: int, context_mean: float) -> float:
        """Decode attention of ``batch`` sequences at mean context ``context_mean`` (linear between grid points)."""
        c0, c1 = self.buckets.context_grid(context_mean)

        def at(c: int) -> float:
            return self.phase_seconds({"phase": "decode", "batch": batch, "context_len": max(c, 1), "steps": 1},
                                      "attention")

        if c1 == c0:
            return at(c0)
        w = (context_mean - c0) / (c1 - c0)
        return (1 - w) * at(c0) + w * at(c1)

    def composition_s(self, chunks: int, prefill_tokens: int, decode_batch: int, context_mean: float,
                      prior_mean: float = 0.0) -> float:
        """One fused iteration: per-token operators over all ``prefill_tokens + decode_batch`` rows, one LM-head
        row per sequence, the prefill chunks' attention (after ``prior_mean`` cached tokens of their prompts)
        and the decode tokens' attention."""
        seconds = self.tokens_s(prefill_tokens + decode_batch) + self.head_s(chunks + decode_batch)
        if chunks:
            seconds += self.prefill_attention_s(chunks, prefill_tokens, prior_mean)
        if decode_batch:
            seconds += self.decode_attention_s(decode_batch, context_mean)
        return seconds

    def __call__(self, it: Iteration) -> float:
        ctx = it.decode_context
        prior = it.prefill_context
        return self.composition_s(len(it.prefill), it.prefill_tokens, it.decode_batch,
                                  sum(ctx) / len(ctx) if ctx else 0.0, sum(prior) / len(prior) if prior else 0.0)


_ATTENTION_ROLES = frozenset({Role.ATTENTION, Role.ATTN_SCORES, Role.ATTN_SOFTMAX, Role.ATTN_CONTEXT})


def _with_prior(op: Any, prior: int) -> Any:
    """``op`` with ``prior`` more key/value tokens before its queries (a later chunk of a chunked prefill)."""
    if isinstance(op, Softmax):
        return replace(op, cols=op.cols + prior)
    return replace(op, seq_kv=op.seq_kv + prior)


def _part(op: Any) -> str:
    if op.role in _ATTENTION_ROLES:
        return "attention"
    if op.role == Role.LM_HEAD or op.name.startswith("lm_head"):
        return "head"
    return "tokens"


def bucketing_error(workload: Workload, hardware: Any, samples: list[tuple[int, int, int, float]],
                    buckets: Buckets | None = None) -> float:
    """Largest relative gap |bucketed - exact| / exact over ``samples`` of (chunks, prefill tokens, decode batch,
    mean context): the exact cost uses steps of 1 everywhere."""
    coarse = BackendCost(workload, hardware, buckets=buckets)
    exact = BackendCost(workload, hardware, buckets=Buckets(batch_bucket=1, context_bucket=1, prefill_bucket=1))
    worst = 0.0
    for chunks, tokens, batch, ctx in samples:
        a = exact.composition_s(chunks, tokens, batch, ctx)
        b = coarse.composition_s(chunks, tokens, batch, ctx)
        worst = max(worst, abs(b - a) / a)
    return worst


@dataclass(frozen=True)
class KvCapacity:
    """KV-cache room on one device of a deployment (bytes SI)."""

    capacity_bytes: float
    weights_bytes: float
    activation_bytes: float
    kv_bytes_per_token: float  # per device (its share of the KV heads)
    block_tokens: int

    @property
    def kv_bytes(self) -> float:
        return self.capacity_bytes - self.weights_bytes - self.activation_bytes

    @property
    def blocks(self) -> int:
        return int(self.kv_bytes // (self.kv_bytes_per_token * self.block_tokens))


def kv_capacity(workload: Workload, hardware: Any, *, block_tokens: int = 16, max_batched_tokens: int = 2048,
                reserve_fraction: float = 0.0) -> KvCapacity:
    """Device memory minus weights and the activations of a ``max_batched_tokens`` prefill iteration
    (:func:`archsim.capacity.memory_report`), minus ``reserve_fraction`` of the memory (a framework's
    reserve; vLLM's gpu_memory_utilization 0.9 is a reserve of 0.1). Bytes per token from the same report."""
    wl = workload.model_copy(update={"phases": [_phase({"phase": "prefill", "batch": 1,
                                                          "seq_len": max_batched_tokens})]})
    report = memory_report(wl, hardware)
    per_token = report.kv_cache_bytes / max_batched_tokens
    usable = report.capacity_bytes * (1.0 - reserve_fraction)
    cap = KvCapacity(usable, report.weights_bytes, report.activation_bytes, per_token, block_tokens)
    if cap.blocks < 1:
        raise ConfigError.single(
            f"{workload.name}: no room for a KV cache on {report.device}: weights {report.weights_bytes / 1e9:.1f} GB "
            f"+ activations {report.activation_bytes / 1e9:.2f} GB of {usable / 1e9:.1f} GB", key_path="parallel")
    return cap
