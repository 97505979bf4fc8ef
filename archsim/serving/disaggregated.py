"""Prefill/decode disaggregation (Splitwise, DistServe): two workers, ``prefill`` and ``decode``, each a
copy of the deployment with its own KV cache; a finished prefill's KV moves over a link to the decode worker.

The prefill worker batches prompts (chunked, ``prefill_budget`` tokens per iteration) and never decodes; a
prompt whose prefill completes emits its first token there (TTFT), keeps its prefill blocks until its KV has
crossed the link, then queues at the decode worker, which admits it when blocks for its KV are free and
decodes with continuous batching (``decode_budget``, ``max_seqs``; preemption by recompute runs the
recompute prefill on the decode worker; ``preemption="swap"`` swaps the decode worker's victims to host
memory instead, as the continuous scheduler does: :mod:`archsim.serving.continuous`, vLLM V0 semantics —
newest running request out, resumed first come first served in an iteration with no preemption, the
iteration that copies pays ``blocks x block bytes / host_link_gb_s`` in series, a full swap space falls
back to recompute). While a request is swapped out, requests whose KV has arrived wait (they are the decode
worker's new prompts: vLLM V0's ``_schedule_default`` starts no prefill while ``swapped`` is not empty;
:class:`~archsim.serving.continuous.BatchCore` admits them only when none is swapped out); they are admitted
from the first iteration with no swapped request. The prefill worker never swaps (its
requests leave it when their prefill completes). The link is one FIFO channel per device pair: transfers queue
behind each other (``transfer_s`` from :func:`archsim.collectives.p2p_time_s` in the CLI: each device
of a tensor-parallel group sends its own KV shard to its peer, all pairs at once).

Not modelled: layer-wise pipelining of the transfer with the prefill (DistServe/Splitwise overlap it),
different parallelism in the two groups, more than one instance per phase.
"""

from __future__ import annotations

from typing import Any

from archsim.errors import ConfigError
from archsim.serving.continuous import (
    PCIE5_X16_BYTES_PER_S,
    VLLM_SWAP_SPACE_GIB,
    BatchCore,
    check_limits,
    plus_swap,
    swapper_for,
)
from archsim.serving.kv import BlockManager
from archsim.serving.requests import Request
from archsim.serving.schedulers import Deployment, Iteration, Scheduler, register_scheduler


class KvLink:
    """A FIFO channel: a transfer starts when the previous one has left; its time is ``transfer_s(bytes)``."""

    def __init__(self, transfer_s: object) -> None:
        self.transfer_s = transfer_s
        self.busy_until_s = 0.0
        self.busy_s = 0.0
        self.bytes = 0.0

    def send(self, nbytes: float, now_s: float) -> float:
        """Queue ``nbytes``; returns the time the last byte arrives."""
        duration = float(self.transfer_s(nbytes))  # type: ignore[operator]
        start = max(now_s, self.busy_until_s)
        self.busy_until_s = start + duration
        self.busy_s += duration
        self.bytes += nbytes
        return self.busy_until_s


@register_scheduler
class Disaggregated(Scheduler):
    """Prefill on one worker, decode on another, KV over a link (see the module doc)."""

    name = "disaggregated"
    workers = ("prefill", "decode")

    def __init__(self, deployment: Deployment, *, prefill_budget: int = 8192, decode_budget: int = 2048,
                 max_seqs: int = 256, preemption: str = "recompute",
                 host_link_gb_s: float = PCIE5_X16_BYTES_PER_S / 1e9,
                 swap_space_gib: float = VLLM_SWAP_SPACE_GIB) -> None:
        super().__init__(deployment)
        check_limits(prefill_budget, max_seqs)
        check_limits(decode_budget, max_seqs)
        if deployment.transfer_s is None:
            raise ConfigError.single("disaggregated serving needs a link between the prefill and decode devices "
                                     "(a system preset with a network link, e.g. hgx-h100)", key_path="scheduler")
        self.link = KvLink(deployment.transfer_s)
        self.prefill = BatchCore(self.new_blocks(), token_budget=prefill_budget, max_seqs=max_seqs, decode=False,
                                 handoff=self._handoff)
        swapper = swapper_for(deployment, preemption, host_link_gb_s=host_link_gb_s, swap_space_gib=swap_space_gib)
        self.decode = BatchCore(self.new_blocks(), token_budget=decode_budget, max_seqs=max_seqs, swapper=swapper)
        self.in_flight = 0

    def bind(self, sim: Any) -> None:
        super().bind(sim)
        if self.decode.swapper is not None:  # the decode iterations that swap pay for the copies
            sim.costs = {**sim.costs, "decode": plus_swap(sim.costs["decode"])}

    def _handoff(self, request: Request, now_s: float) -> None:
        arrive_s = self.link.send(self.deployment.kv_bytes_per_token * request.cached_tokens, now_s)
        self.in_flight += 1

        def arrived() -> None:
            self.prefill.blocks.release(request)  # cached_tokens -> 0; the decode side reserves them again
            self.in_flight -= 1
            self.decode.waiting.append(request)
            self.sim.wake("decode")

        self.sim.after(arrive_s - now_s, arrived)

    def admit(self, request: Request, now_s: float) -> None:
        self.prefill.waiting.append(request)

    def form(self, worker: str, now_s: float) -> Iteration | None:
        return (self.prefill if worker == "prefill" else self.decode).form(worker)

    def finish(self, worker: str, iteration: Iteration, now_s: float) -> list[Request]:
        return (self.prefill if worker == "prefill" else self.decode).finish(iteration, now_s)

    def waiting(self) -> int:
        return len(self.prefill.waiting)

    def kv(self) -> dict[str, BlockManager]:
        return {"prefill": self.prefill.blocks, "decode": self.decode.blocks}
