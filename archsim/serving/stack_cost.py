"""Iteration costs with the software stack (:func:`archsim.gpu.stack_run.predict_workload`): wall time of the
kernels a given PyTorch stack launches, with its host dispatch, for servers that run decode and prefill as
separate launches (as ``campaigns/serving.py`` does: decode as a CUDA-graph replay, then an eager prefill).

An iteration costs the prefill phase's wall time (``prefill_host``, default eager) plus the decode phase's
(``decode_host``, default cuda-graph), back to back: no fusion, no overlap of the host's prefill dispatch
with the graph replay (an overestimate where the server overlaps them). The stack model covers Llama-style
decoders on the GPUs it is calibrated for (``archsim.gpu.stack_run.CALIBRATED_GPUS``). Memo keys as
:class:`archsim.serving.cost.Buckets`: decode batch exact, mean context linear between grid points, prefill
chunk rounded up.
"""

from __future__ import annotations

from typing import Any

from archsim.schemas.workload import Workload
from archsim.serving.cost import Buckets
from archsim.serving.schedulers import Iteration


class StackCost:
    """Seconds per :class:`Iteration` of ``workload``'s model on the GPU preset ``hardware`` (a name) under a stack."""

    def __init__(self, workload: Workload, hardware: str, *, software: str = "plain", prefill_host: str = "eager",
                 decode_host: str = "cuda-graph", buckets: Buckets | None = None) -> None:
        self.workload = workload
        self.hardware = hardware
        self.software = software
        self.hosts = {"prefill": prefill_host, "decode": decode_host}
        self.buckets = buckets or Buckets()
        self._memo: dict[tuple[Any, ...], float] = {}
        self.backend_calls = 0

    def _wall(self, phase: dict[str, Any]) -> float:
        key = tuple(sorted(phase.items()))
        if key not in self._memo:
            from archsim.gpu.stack_run import predict_workload

            self.backend_calls += 1
            wl = Workload.model_validate({**self.workload.model_dump(exclude={"phases"}), "phases": [phase]})
            self._memo[key] = predict_workload(wl, self.hardware, software=self.software,
                                               host=self.hosts[phase["phase"]]).wall_s
        return self._memo[key]

    def prefill_s(self, chunks: int, tokens: int) -> float:
        if chunks == 0:
            return 0.0
        batch, seq = self.buckets.prefill_key(chunks, tokens)
        return self._wall({"phase": "prefill", "batch": batch, "seq_len": seq})

    def decode_s(self, batch: int, context_mean: float) -> float:
        if batch == 0:
            return 0.0
        c0, c1 = self.buckets.context_grid(context_mean)

        def at(c: int) -> float:
            return self._wall({"phase": "decode", "batch": batch, "context_len": max(c, 1), "steps": 1})

        if c1 == c0:
            return at(c0)
        w = (context_mean - c0) / (c1 - c0)
        return (1 - w) * at(c0) + w * at(c1)

    def __call__(self, it: Iteration) -> float:
        ctx = it.decode_context
        return self.prefill_s(len(it.prefill), it.prefill_tokens) + self.decode_s(
            it.decode_batch, sum(ctx) / len(ctx) if ctx else 0.0)
