"""Operator shapes the dataflows lower (hardware-independent; element width in bytes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archsim.operators import attention_pairs


@dataclass(frozen=True)
class AttentionShape:
    batch: int
    heads: int
    seq_q: int
    seq_kv: int
    head_dim: int
    kv_heads: int | None = None
    causal: bool = False
    window: int | None = None
    elem_bytes: float = 2.0

    def __post_init__(self) -> None:
        for name in ("batch", "heads", "seq_q", "seq_kv", "head_dim"):
            if getattr(self, name) <= 0:
                raise ValueError(f"attention shape: {name} must be > 0")

    @property
    def groups_kv(self) -> int:
        return self.kv_heads or self.heads

    @property
    def pairs(self) -> int:
        """Unmasked (query, key) pairs per (batch, head)."""
        return attention_pairs(self.seq_q, self.seq_kv, self.causal, self.window)

    @property
    def useful_flops(self) -> float:
        return 4.0 * self.batch * self.heads * self.pairs * self.head_dim

    def __str__(self) -> str:
        return f"B{self.batch} H{self.heads} Nq{self.seq_q} Nkv{self.seq_kv} d{self.head_dim}"

    @classmethod
    def from_op(cls, op: Any) -> AttentionShape:
        """The shape of a typed attention operator (:mod:`archsim.operators`)."""
        return cls(op.batch, op.heads, op.seq_q, op.seq_kv, op.head_dim, op.kv_heads, op.causal, op.window,
                   op.elem_bytes)
