"""The KV-cache block manager (paged attention, vLLM-style): fixed-size blocks, allocated per request.

A request holding ``t`` tokens owns ``ceil(t / block_tokens)`` blocks. ``grow(request, tokens)``
allocates what its new tokens need (all or nothing: False and nothing changed when blocks run out);
``release`` frees all of a request's blocks. Prefix sharing, copy-on-write and fragmentation inside
the allocator are not modelled: the only waste is the unfilled tail of each request's last block.

``capacity_blocks`` comes from the device: off-chip capacity minus weights and activations, divided
by the bytes one block holds on one device (:func:`archsim.serving.cost.kv_capacity`).

Swap preemption (:mod:`archsim.serving.continuous`): ``swap_out`` frees a request's device blocks but keeps
its token count (its K/V now sit in host memory, a :class:`SwapSpace`); ``swap_in`` takes the same number
of device blocks back (all or nothing).
"""

from __future__ import annotations

from archsim.serving.requests import Request


class BlockManager:
    """``capacity_blocks`` blocks of ``block_tokens`` tokens; counts per request, no addresses."""

    def __init__(self, *, capacity_blocks: int, block_tokens: int) -> None:
        if capacity_blocks < 1 or block_tokens < 1:
            raise ValueError(f"a KV cache needs >= 1 block of >= 1 token (got {capacity_blocks}, {block_tokens})")
        self.capacity_blocks = capacity_blocks
        self.block_tokens = block_tokens
        self.used_blocks = 0
        self._held: dict[int, int] = {}  # rid -> blocks

    def blocks_for(self, tokens: int) -> int:
        return -(-tokens // self.block_tokens)

    @property
    def free_blocks(self) -> int:
        return self.capacity_blocks - self.used_blocks

    @property
    def occupancy(self) -> float:
        """Fraction of blocks in use (0..1)."""
        return self.used_blocks / self.capacity_blocks

    def need(self, request: Request, new_tokens: int) -> int:
        """Extra blocks ``request`` needs to hold ``new_tokens`` more tokens."""
        return self.blocks_for(request.cached_tokens + new_tokens) - self._held.get(request.rid, 0)

    def can_grow(self, request: Request, new_tokens: int) -> bool:
        return self.need(request, new_tokens) <= self.free_blocks

    def grow(self, request: Request, new_tokens: int) -> bool:
        """Reserve room for ``new_tokens`` more tokens of ``request`` (all or nothing)."""
        tokens = request.cached_tokens + new_tokens
        held = self._held.get(request.rid, 0)
        if tokens > held * self.block_tokens:  # the common decode case (room left in the last block) skips this
            extra = -(-tokens // self.block_tokens) - held
            if extra > self.capacity_blocks - self.used_blocks:
                return False
            self._held[request.rid] = held + extra
            self.used_blocks += extra
        request.cached_tokens = tokens
        return True

    def swap_out(self, request: Request) -> int:
        """Free ``request``'s device blocks, keeping ``cached_tokens`` (its K/V go to host memory); returns them."""
        blocks = self._held.pop(request.rid, 0)
        self.used_blocks -= blocks
        return blocks

    def swap_in(self, request: Request, blocks: int) -> bool:
        """Take ``blocks`` device blocks back for a swapped-out ``request`` (all or nothing)."""
        if blocks > self.free_blocks:
            return False
        self._held[request.rid] = self._held.get(request.rid, 0) + blocks
        self.used_blocks += blocks
        return True

    def release(self, request: Request) -> None:
        self.used_blocks -= self._held.pop(request.rid, 0)
        request.cached_tokens = 0

    def held(self, request: Request) -> int:
        return self._held.get(request.rid, 0)


class SwapSpace:
    """Host memory for swapped-out KV blocks: ``capacity_blocks`` blocks (vLLM's ``swap_space`` GiB per device
    over one block's bytes per device); counts per request, no addresses."""

    def __init__(self, *, capacity_blocks: int) -> None:
        if capacity_blocks < 1:
            raise ValueError(f"a swap space needs >= 1 block (got {capacity_blocks})")
        self.capacity_blocks = capacity_blocks
        self.used_blocks = 0
        self._held: dict[int, int] = {}

    def fits(self, blocks: int) -> bool:
        return blocks <= self.capacity_blocks - self.used_blocks

    def put(self, request: Request, blocks: int) -> None:
        if not self.fits(blocks):
            raise ValueError(f"swap space full: {blocks} blocks do not fit {self.capacity_blocks - self.used_blocks}")
        self._held[request.rid] = self._held.get(request.rid, 0) + blocks
        self.used_blocks += blocks

    def take(self, request: Request) -> int:
        blocks = self._held.pop(request.rid, 0)
        self.used_blocks -= blocks
        return blocks

    def held(self, request: Request) -> int:
        return self._held.get(request.rid, 0)
