"""Iteration costs on an attention-offloading system (Lamina): decode iterations from
:mod:`archsim.offload.serving`, prefills on the compute group, KV capacity on the memory devices.

A system whose device groups have roles ``compute`` and ``attention`` (e.g. ``lamina-h100-h20``) runs
every non-attention operator on the compute GPUs and decode attention on the memory devices, with
micro-batch pipelining (:func:`archsim.offload.serving.decode_iteration`); prefill runs wholly on the
compute group and then ships the prompt's K/V to the memory devices (:func:`archsim.offload.serving.prefill`).
An iteration with decode tokens and prefill chunks is one fused pass
(:func:`archsim.offload.serving.mixed_iteration`, as vLLM fuses them: the chunks' tokens join the
micro-batches' GEMMs, their attention runs on the compute group, their new K/V rows cross the link with the
decode traffic); it costs more than the decode batch alone and at most the two run one after the other
(tested). A prefill-only iteration is the prefill model (:func:`archsim.offload.serving.prefill`: the K/V
hand-off overlapped layer by layer), a decode-only one the decode model; ``mixed_iteration`` with no decode
tokens would instead put the K/V rows' link time twice on the critical path (0.2-1.7 % more for Llama-3-70B
on lamina-h100-h20 at 64-2048 tokens). Per-device costs there come from
:func:`archsim.offload.device_cost.device_step` (the system's ``timing``, by default the GPU stack model for GPU
presets: stack ``fused``, decode from CUDA graphs, iterations with prefill dispatched eagerly). KV blocks: the
memory devices' usable capacity (its ``memory_utilisation``, 0.9) over one block's bytes for the whole model
(:func:`archsim.offload.serving.max_batch` at one block's context).
Prices: none from the presets (their rental prices are labelled assumptions, not cited); ``usd_per_hour``
given to :func:`archsim.serving.scenario.serve` (``--usd-per-hour``) is the price of one system-hour.

Memo keys: decode batch exact, mean context linear between 128-token grid points (exact below 128), prefill
chunk rounded up to 32 tokens (as :class:`archsim.serving.cost.Buckets`); fused iterations: the prefill tokens
rounded up to ``prefill_bucket``, the decode context and the chunks' prior length rounded up to
``context_bucket`` (never cheaper than the exact composition; as
:meth:`archsim.offload.under_load.ConfigCost.mixed_s`).
"""

from __future__ import annotations

import math
from typing import Any

from archsim.errors import ConfigError
from archsim.serving.cost import Buckets, round_up
from archsim.serving.schedulers import Iteration


class OffloadCost:
    """Seconds per :class:`Iteration` on an attention-offloading ``system`` for ``model`` in ``dtype``."""

    def __init__(self, model: Any, system: Any, dtype: str, *, buckets: Buckets | None = None) -> None:
        from archsim.offload.system import config_from_system

        self.model = model
        self.cfg = config_from_system(system)
        if self.cfg.policy != "attention_offload":
            raise ConfigError.single(f"{system.name!r} has no device group with role: attention", key_path="devices")
        self.dtype = dtype
        self.buckets = buckets or Buckets()
        self._memo: dict[tuple[Any, ...], float] = {}
        self.backend_calls = 0

    def kv_blocks(self, block_tokens: int) -> int:
        from archsim.offload.serving import max_batch

        blocks = max_batch(self.model, self.cfg, block_tokens, self.dtype)
        if blocks < 1:
            raise ConfigError.single(f"{self.cfg.name}: no room for a KV cache (the weights do not fit the compute "
                                     "group, or the memory devices hold no block)", key_path="devices")
        return blocks

    def kv_bytes_per_token(self) -> float:
        from archsim.offload.serving import kv_bytes_per_sequence

        return kv_bytes_per_sequence(self.model, 1024, self.dtype) / 1024

    def _decode_at(self, batch: int, context: int) -> float:
        key = ("decode", batch, context)
        if key not in self._memo:
            from archsim.offload.serving import decode_iteration

            self.backend_calls += 1
            self._memo[key] = decode_iteration(self.model, self.cfg, batch, max(context, 1), self.dtype).time_s
        return self._memo[key]

    def decode_s(self, batch: int, context_mean: float) -> float:
        if batch == 0:
            return 0.0
        c0, c1 = self.buckets.context_grid(context_mean)
        if c1 == c0:
            return self._decode_at(batch, c0)
        w = (context_mean - c0) / (c1 - c0)
        return (1 - w) * self._decode_at(batch, c0) + w * self._decode_at(batch, c1)

    def prefill_s(self, chunks: int, tokens: int) -> float:
        if chunks == 0:
            return 0.0
        batch, seq = self.buckets.prefill_key(chunks, tokens)
        key = ("prefill", batch, seq)
        if key not in self._memo:
            from archsim.offload.serving import prefill

            self.backend_calls += 1
            self._memo[key] = prefill(self.model, self.cfg, seq, batch, self.dtype).ttft_s
        return self._memo[key]

    def mixed_s(self, batch: int, context_mean: float, prefill_tokens: int, chunks: int, prior_mean: float) -> float:
        """One fused iteration of ``batch`` decode tokens and ``prefill_tokens`` in ``chunks`` chunks (module doc)."""
        step = self.buckets.context_bucket
        key = ("mixed", batch, round_up(context_mean, step), round_up(prefill_tokens, self.buckets.prefill_bucket),
               chunks, round_up(prior_mean, step))
        if key not in self._memo:
            from archsim.offload.serving import mixed_iteration

            self.backend_calls += 1
            self._memo[key] = mixed_iteration(self.model, self.cfg, batch, key[2], key[3], chunks, key[5],
                                              self.dtype).time_s
        return self._memo[key]

    def __call__(self, it: Iteration) -> float:
        ctx, prior = it.decode_context, it.prefill_context
        if it.prefill and it.decode:
            seconds = self.mixed_s(it.decode_batch, sum(ctx) / len(ctx), it.prefill_tokens, len(it.prefill),
                                   sum(prior) / len(prior))
        else:
            seconds = self.prefill_s(len(it.prefill), it.prefill_tokens) + self.decode_s(
                it.decode_batch, sum(ctx) / len(ctx) if ctx else 0.0)
        if not math.isfinite(seconds) or seconds <= 0:
            raise ConfigError.single(f"{self.cfg.name}: iteration cost {seconds} s is not a positive number",
                                     key_path="devices")
        return seconds
