"""Continuous (iteration-level) batching with chunked prefill and a token budget, vLLM-style.

Each iteration, in this order (vLLM's V1 scheduler order; a disaggregated decode worker first admits the
requests whose KV has arrived, while blocks and ``max_seqs`` allow):
1. every running request past its prefill gets one decode token (while the token budget lasts); when its
   next token needs a KV block and none is free, the most recently admitted running request is preempted
   (it may be the request itself), by one of two modes (``preemption``):
   - ``recompute`` (default): its blocks are freed and it goes back to the front of the queue, to prefill
     its prompt and the tokens it had generated again;
   - ``swap`` (vLLM V0's PreemptionMode.SWAP): its blocks are copied to host memory over the host link and
     freed; it waits in the swapped queue with its progress kept. When the host swap space cannot hold them,
     that victim falls back to recompute (vLLM V0 aborts the engine instead: "Aborted due to the lack of
     CPU swap space").
1b. (swap) if no request was preempted in this iteration, swapped requests resume first-come first-served
   while their blocks (plus the next token's) fit, ``max_seqs`` and the budget allow: their blocks are
   copied back and they decode (or continue their chunked prefill) in this same iteration. While any
   request is swapped out, no new prompt starts (swapped requests have priority over waiting ones: vLLM
   V0's ``_schedule_default`` rule; its ``_schedule_chunked_prefill`` still starts new prompts with the
   budget left, which can keep a swapped request out while arrivals last — archsim's choice avoids that).
2. running requests in the middle of a chunked prefill get their next chunk (up to the budget);
3. queued requests start first-come first-served while the budget, ``max_seqs`` and free blocks allow;
   each takes a prefill chunk of at most the budget left.
A prefill that completes emits the request's next token in the same iteration.

Swap timing, as vLLM V0 does it (vllm/core/scheduler.py ``_schedule_chunked_prefill``: running, then
``_schedule_swapped`` only when ``len(preempted) + len(swapped_out) == 0``, then prefills;
``_schedule_default``: no new prefills while ``self.swapped``; vllm/worker/worker.py ``execute_worker``:
the step's ``blocks_to_swap_in`` then ``blocks_to_swap_out`` are copied by the cache engine, one batched
call each, on the compute stream before that step's forward pass): the iteration that swaps pays
``(blocks out + blocks in) x block bytes / host link`` seconds on top of its forward pass, in series.
Block bytes are per device (each device of a tensor-parallel group moves its shard over its own link).
Host link: ``host_link_gb_s`` (default 64 GB/s per direction, PCIe Gen5 x16: 32 GT/s x 16 lanes / 8 bits,
PCI Express Base Specification 5.0, PCI-SIG 2019; the 128b/130b line code leaves 63.0 GB/s; the hardware
presets name no host link). Swap space: ``swap_space_gib`` per device (vLLM's ``--swap-space`` default, 4 GiB).

Not modelled: prefix caching, priorities, speculative decoding, the scheduler's own CPU time (it overlaps
the GPU in vLLM V1), vLLM's free-block watermark, overlap of swaps with compute, and stopping early
(requests produce exactly ``output_tokens``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from archsim.errors import ConfigError
from archsim.serving.kv import BlockManager, SwapSpace
from archsim.serving.requests import Request
from archsim.serving.schedulers import CostFn, Deployment, Iteration, Scheduler, register_scheduler

PREEMPTION = ("recompute", "swap")
#: PCIe Gen5 x16, bytes/s per direction (32 GT/s x 16 lanes / 8; PCI Express Base Specification 5.0).
PCIE5_X16_BYTES_PER_S = 64e9
#: vLLM's default ``--swap-space`` (GiB of host memory per device).
VLLM_SWAP_SPACE_GIB = 4.0


class Swapper:
    """Swap preemption's host side: the swap space and the seconds a copy of ``blocks`` takes."""

    def __init__(self, deployment: Deployment, *, host_link_gb_s: float, swap_space_gib: float) -> None:
        block_bytes = deployment.kv_bytes_per_token * deployment.block_tokens
        if not block_bytes > 0:
            raise ConfigError.single("preemption: swap needs the KV bytes per token of the deployment (got 0)",
                                     key_path="preemption")
        if not (host_link_gb_s > 0 and swap_space_gib > 0):
            raise ConfigError.single(f"host_link_gb_s and swap_space_gib must be > 0 (got {host_link_gb_s}, "
                                     f"{swap_space_gib})", key_path="preemption")
        blocks = int(swap_space_gib * 2**30 // block_bytes)
        if blocks < 1:
            raise ConfigError.single(f"swap_space_gib {swap_space_gib} holds no KV block of {block_bytes:.4g} bytes "
                                     "per device", key_path="swap_space_gib")
        self.space = SwapSpace(capacity_blocks=blocks)
        self.block_s = block_bytes / (host_link_gb_s * 1e9)

    def seconds(self, blocks: int) -> float:
        return blocks * self.block_s


def swapper_for(deployment: Deployment, preemption: str, *, host_link_gb_s: float,
                swap_space_gib: float) -> Swapper | None:
    """The scheduler option ``preemption`` checked: a :class:`Swapper` for ``swap``, None for ``recompute``."""
    if preemption not in PREEMPTION:
        raise ConfigError.single(f"preemption {preemption!r} is not one of {', '.join(PREEMPTION)}",
                                 key_path="preemption")
    return (Swapper(deployment, host_link_gb_s=host_link_gb_s, swap_space_gib=swap_space_gib)
            if preemption == "swap" else None)


def plus_swap(cost: CostFn) -> CostFn:
    """``cost`` plus the iteration's swap copies (blocking, in series with the forward pass)."""
    def total(it: Iteration) -> float:
        return cost(it) + it.swap_s
    return total


class BatchCore:
    """The queues and one block manager of one worker; ``decode=False`` makes it a prefill-only worker whose
    completed prefills go to ``handoff(request, now_s)`` instead of decoding here."""

    def __init__(self, blocks: BlockManager, *, token_budget: int, max_seqs: int, decode: bool = True,
                 handoff: Callable[[Request, float], None] | None = None, chunked: bool = True,
                 max_prefills: int | None = None, swapper: Swapper | None = None) -> None:
        self.blocks = blocks
        self.swapper = swapper
        self.swapped: deque[Request] = deque()
        self._pending_out = 0  # blocks swapped out by a pass that ran no tokens: paid by the next iteration
        self.token_budget = token_budget
        self.max_seqs = max_seqs
        self.chunked = chunked
        self.max_prefills = max_prefills
        self.decode = decode
        self.handoff = handoff
        self.waiting: deque[Request] = deque()
        self.running: list[Request] = []

    def _preempt(self, victim: Request, it: Iteration) -> None:
        self.running.remove(victim)
        sw = self.swapper
        if sw is not None and sw.space.fits(self.blocks.held(victim)):
            blocks = self.blocks.swap_out(victim)
            sw.space.put(victim, blocks)
            it.swap_out_blocks += blocks
            victim.preemptions += 1
            victim.swaps += 1
            self.swapped.append(victim)
            return
        self.blocks.release(victim)
        victim.prefill_target = victim.prompt_tokens + victim.generated
        victim.prefilled = 0
        victim.preemptions += 1
        self.waiting.appendleft(victim)

    def form(self, worker: str) -> Iteration | None:
        it = Iteration(worker)
        budget = self.token_budget
        while self.waiting and not self.waiting[0].in_prefill and not self.swapped \
                and len(self.running) < self.max_seqs:
            r = self.waiting[0]  # arrived with its KV (disaggregated hand-off; not while one is swapped out)
            if not self.blocks.grow(r, r.prefill_target):
                break
            self.running.append(self.waiting.popleft())
        if self.decode:
            preempted: set[int] = set()
            for r in list(self.running):
                if budget < 1:
                    break
                if r.in_prefill or r.rid in preempted:
                    continue
                while not self.blocks.grow(r, 1):
                    victim = self.running[-1]
                    self._preempt(victim, it)
                    preempted.add(victim.rid)
                    if victim is r:
                        break
                if r.rid not in preempted:
                    it.add_decode(r)
                    budget -= 1
            if self.swapper is not None and not preempted:
                budget = self._swap_in(it, budget)
        for r in self.running:
            if budget < 1:
                break
            if r.in_prefill:
                chunk = min(r.prefill_target - r.prefilled, budget)
                if not self.blocks.grow(r, chunk):
                    break
                it.add_prefill(r, chunk)
                budget -= chunk
        while self.waiting and not self.swapped and len(self.running) < self.max_seqs:
            r = self.waiting[0]
            if not r.in_prefill or budget < 1:
                break
            if self.max_prefills is not None and len(it.prefill) >= self.max_prefills:
                break
            whole = r.prefill_target - r.prefilled
            if not self.chunked and whole > budget and it.prefill:
                break  # unchunked: a whole prompt, alone in the budget if it is larger than what is left
            chunk = whole if not self.chunked else min(whole, budget)
            if not self.blocks.grow(r, chunk):
                break
            self.running.append(self.waiting.popleft())
            it.add_prefill(r, chunk)
            budget -= chunk
        if self.swapper is None:
            return it if it.tokens else None
        if not it.tokens:
            self._pending_out += it.swap_out_blocks
            return None
        it.swap_out_blocks += self._pending_out
        self._pending_out = 0
        it.swap_s = self.swapper.seconds(it.swap_out_blocks + it.swap_in_blocks)
        return it

    def _swap_in(self, it: Iteration, budget: int) -> int:
        """Resume swapped requests (first come first served) while blocks, ``max_seqs`` and ``budget`` allow."""
        assert self.swapper is not None
        while self.swapped and budget >= 1 and len(self.running) < self.max_seqs:
            r = self.swapped[0]
            held = self.swapper.space.held(r)
            decoding = not r.in_prefill
            if self.blocks.blocks_for(r.cached_tokens + decoding) > self.blocks.free_blocks:
                break
            self.swapped.popleft()
            self.blocks.swap_in(r, self.swapper.space.take(r))
            it.swap_in_blocks += held
            self.running.append(r)
            if decoding:
                self.blocks.grow(r, 1)  # fits: checked with the next token above
                it.add_decode(r)
                budget -= 1
        return budget

    def finish(self, iteration: Iteration, now_s: float) -> list[Request]:
        done: list[Request] = []
        for r, chunk in iteration.prefill:
            r.prefilled += chunk
            if not r.in_prefill:
                r.emit(now_s)
                if not r.done and not self.decode:
                    self.running.remove(r)
                    assert self.handoff is not None
                    self.handoff(r, now_s)
            if r.done:
                done.append(r)
        for r in iteration.decode:
            r.emit(now_s)
            if r.done:
                done.append(r)
        for r in done:
            self.running.remove(r)
            self.blocks.release(r)
        return done


def check_limits(token_budget: int, max_seqs: int) -> None:
    if token_budget < 1 or max_seqs < 1:
        raise ConfigError.single(f"token_budget and max_seqs must be >= 1 (got {token_budget}, {max_seqs})",
                                 key_path="scheduler")


@register_scheduler
class Continuous(Scheduler):
    """One worker; ``token_budget`` tokens per iteration (vLLM's max_num_batched_tokens; 2048 is an archsim
    choice), at most ``max_seqs`` running requests (vLLM's max_num_seqs default, 256). ``chunked=False``
    takes new prompts whole (a prompt larger than the budget left waits for the next iteration, or runs alone
    over budget as the iteration's first prefill); ``max_prefills`` caps the new prompts started per iteration
    (1 with ``chunked=False`` is the policy of the measured server in ``campaigns/serving.py``).
    ``preemption``: ``recompute`` or ``swap`` (with ``host_link_gb_s`` and ``swap_space_gib``; module doc)."""

    name = "continuous"

    def __init__(self, deployment: Deployment, *, token_budget: int = 2048, max_seqs: int = 256,
                 chunked: bool = True, max_prefills: int | None = None, preemption: str = "recompute",
                 host_link_gb_s: float = PCIE5_X16_BYTES_PER_S / 1e9,
                 swap_space_gib: float = VLLM_SWAP_SPACE_GIB) -> None:
        super().__init__(deployment)
        check_limits(token_budget, max_seqs)
        swapper = swapper_for(deployment, preemption, host_link_gb_s=host_link_gb_s, swap_space_gib=swap_space_gib)
        if max_prefills is not None and max_prefills < 1:
            raise ConfigError.single(f"max_prefills must be >= 1 (got {max_prefills})", key_path="scheduler")
        self.core = BatchCore(self.new_blocks(), token_budget=token_budget, max_seqs=max_seqs, chunked=chunked,
                              max_prefills=max_prefills, swapper=swapper)

    def bind(self, sim: Any) -> None:
        super().bind(sim)
        if self.core.swapper is not None:  # the iterations that swap pay for the copies
            sim.costs = {w: plus_swap(c) for w, c in sim.costs.items()}

    def admit(self, request: Request, now_s: float) -> None:
        self.core.waiting.append(request)

    def form(self, worker: str, now_s: float) -> Iteration | None:
        return self.core.form(worker)

    def finish(self, worker: str, iteration: Iteration, now_s: float) -> list[Request]:
        return self.core.finish(iteration, now_s)

    def waiting(self) -> int:
        return len(self.core.waiting)

    def kv(self) -> dict[str, BlockManager]:
        return {"engine": self.core.blocks}
