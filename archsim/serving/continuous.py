"""Continuous (iteration-level) batching with chunked prefill and a token budget, vLLM-style.

Each iteration, in this order (vLLM's V1 scheduler order; a disaggregated decode worker first admits the
requests whose KV has arrived, while blocks and ``max_seqs`` allow):
1. every running request past its prefill gets one decode token (while the token budget lasts); when its
   next token needs a KV block and none is free, the most recently admitted running request is preempted
   by **recompute**: its blocks are freed and it goes back to the front of the queue, to prefill its prompt
   and the tokens it had generated again (it may be the request itself);
2. running requests in the middle of a chunked prefill get their next chunk (up to the budget);
3. queued requests start first-come first-served while the budget, ``max_seqs`` and free blocks allow;
   each takes a prefill chunk of at most the budget left.
A prefill that completes emits the request's next token in the same iteration.

Not modelled: swap-out preemption, prefix caching, priorities, speculative decoding, the scheduler's own
CPU time (it overlaps the GPU in vLLM V1), and stopping early (requests produce exactly ``output_tokens``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from archsim.errors import ConfigError
from archsim.serving.kv import BlockManager
from archsim.serving.requests import Request
from archsim.serving.schedulers import Deployment, Iteration, Scheduler, register_scheduler


class BatchCore:
    """The queues and one block manager of one worker; ``decode=False`` makes it a prefill-only worker whose
    completed prefills go to ``handoff(request, now_s)`` instead of decoding here."""

    def __init__(self, blocks: BlockManager, *, token_budget: int, max_seqs: int, decode: bool = True,
                 handoff: Callable[[Request, float], None] | None = None, chunked: bool = True,
                 max_prefills: int | None = None) -> None:
        self.blocks = blocks
        self.token_budget = token_budget
        self.max_seqs = max_seqs
        self.chunked = chunked
        self.max_prefills = max_prefills
        self.decode = decode
        self.handoff = handoff
        self.waiting: deque[Request] = deque()
        self.running: list[Request] = []

    def _preempt(self, victim: Request) -> None:
        self.blocks.release(victim)
        self.running.remove(victim)
        victim.prefill_target = victim.prompt_tokens + victim.generated
        victim.prefilled = 0
        victim.preemptions += 1
        self.waiting.appendleft(victim)

    def form(self, worker: str) -> Iteration | None:
        it = Iteration(worker)
        budget = self.token_budget
        while self.waiting and not self.waiting[0].in_prefill and len(self.running) < self.max_seqs:
            r = self.waiting[0]  # arrived with its KV (a disaggregated hand-off): room for it, then it decodes
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
                    self._preempt(victim)
                    preempted.add(victim.rid)
                    if victim is r:
                        break
                if r.rid not in preempted:
                    it.add_decode(r)
                    budget -= 1
        for r in self.running:
            if budget < 1:
                break
            if r.in_prefill:
                chunk = min(r.prefill_target - r.prefilled, budget)
                if not self.blocks.grow(r, chunk):
                    break
                it.add_prefill(r, chunk)
                budget -= chunk
        while self.waiting and len(self.running) < self.max_seqs:
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
        return it if it.tokens else None

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
    (1 with ``chunked=False`` is the policy of the measured server in ``campaigns/serving.py``)."""

    name = "continuous"

    def __init__(self, deployment: Deployment, *, token_budget: int = 2048, max_seqs: int = 256,
                 chunked: bool = True, max_prefills: int | None = None) -> None:
        super().__init__(deployment)
        check_limits(token_budget, max_seqs)
        if max_prefills is not None and max_prefills < 1:
            raise ConfigError.single(f"max_prefills must be >= 1 (got {max_prefills})", key_path="scheduler")
        self.core = BatchCore(self.new_blocks(), token_budget=token_budget, max_seqs=max_seqs, chunked=chunked,
                              max_prefills=max_prefills)

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
