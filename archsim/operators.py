"""Typed operators: what a workload becomes before any hardware model sees it.

Every operator is a frozen, keyword-only dataclass with a :class:`Role` (what it is in the
model: the QKV projection, the FFN's down projection, a norm ...), its dtype, phase and
``count`` (identical repetitions, e.g. once per layer). Derived quantities — FLOPs by unit,
compulsory bytes, attention pairs under causal/window masks — are computed here and nowhere
else; backends dispatch on the operator's type (``functools.singledispatch``), never on a name.

Counting conventions (one number per meaning):

- A multiply-add is 2 FLOPs. GEMM ``(m x k) @ (k x n)``, ``batch`` times: ``2 m n k batch``.
- Softmax over scores: :data:`SOFTMAX_VECTOR_FLOPS` = 4 vector FLOPs per element (max, subtract,
  sum, divide) plus one transcendental (exp).
- Fused (online-softmax) attention adds one rescale of the running output per (query, key)
  pair: :data:`ONLINE_SOFTMAX_VECTOR_FLOPS` = 5 (FlashAttention-2, Algorithm 1, line 8-10).
- Norms and elementwise functions: :data:`VECTOR_FLOPS_PER_ELEMENT` (textbook formulas).
- Causal masks are bottom-right aligned (query i sees keys j <= i + seq_kv - seq_q), as
  FlashAttention-2 and PyTorch SDPA do; ``window`` keeps the last ``window`` keys per query.
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from archsim.schemas.base import DTYPE_BYTES

SOFTMAX_VECTOR_FLOPS = 4
ONLINE_SOFTMAX_VECTOR_FLOPS = SOFTMAX_VECTOR_FLOPS + 1

#: Vector FLOPs and transcendentals per element of the elementwise and norm functions.
#: layernorm: mean, subtract, square, mean, add eps, (rsqrt), scale, shift ~ 8; rmsnorm: square, mean,
#: add eps, (rsqrt), scale ~ 5; gelu (tanh form) ~ 8 + tanh; silu_mul: x * sigmoid(x) * up ~ 5 + exp;
#: rotary (RoPE, rotate-half form: x*cos + rotate_half(x)*sin) ~ 3 per element.
VECTOR_FLOPS_PER_ELEMENT = {"layernorm": 8, "rmsnorm": 5, "gelu": 8, "silu_mul": 5, "relu": 1,
                            "residual_add": 1, "rotary": 3, "softmax": SOFTMAX_VECTOR_FLOPS}
TRANSCENDENTALS_PER_ELEMENT = {"layernorm": 1, "rmsnorm": 1, "gelu": 1, "silu_mul": 1, "relu": 0,
                               "residual_add": 0, "rotary": 0, "softmax": 1}


class Role(enum.Enum):
    """What an operator is in the model; cost models that treat a role specially read this."""

    QKV_PROJ = "qkv_proj"
    OUT_PROJ = "out_proj"
    FFN_UP = "ffn_up"            # the FFN's first linear (gate and up fused for gated FFNs)
    FFN_DOWN = "ffn_down"
    FFN_ACT = "ffn_act"
    MOE_ROUTER = "moe_router"
    MOE_UP = "moe_up"
    MOE_DOWN = "moe_down"
    MOE_ACT = "moe_act"
    LM_HEAD = "lm_head"
    PATCH_EMBED = "patch_embed"
    ATTN_NORM = "attn_norm"
    FFN_NORM = "ffn_norm"
    ATTN_RESIDUAL = "attn_residual"
    FFN_RESIDUAL = "ffn_residual"
    ROTARY = "rotary"
    ATTENTION = "attention"
    ATTN_SCORES = "attn_scores"
    ATTN_SOFTMAX = "attn_softmax"
    ATTN_CONTEXT = "attn_context"
    KV_CACHE = "kv_cache"        # copies into / growth of the KV cache
    GLUE = "glue"                # framework copies: transposes, .contiguous(), cat
    COMMUNICATION = "communication"
    LAYER = "layer"              # an explicit layer of a ``layers:`` workload


@dataclass(frozen=True)
class Work:
    """Operations of one execution: FLOPs on the matrix unit, on the vector unit, SFU ops, useful FLOPs."""

    matrix_flops: float
    vector_flops: float
    transcendentals: float
    useful_flops: float


@dataclass(frozen=True, kw_only=True)
class Operator(abc.ABC):
    """Base of every operator. ``count`` identical executions; ``dtype`` of its tensors."""

    name: str
    role: Role
    phase: str
    dtype: str
    count: int = 1
    kind: ClassVar[str] = "operator"
    fused: ClassVar[bool] = True

    @property
    def elem_bytes(self) -> float:
        return DTYPE_BYTES[self.dtype]

    @abc.abstractmethod
    def work(self) -> Work:
        """Operations of one execution."""

    @abc.abstractmethod
    def compulsory_bytes(self) -> tuple[float, float]:
        """(read, write) bytes every implementation must move off-chip at least once."""

    def shape(self) -> dict[str, Any]:
        """The shape fields (everything but identity, role, phase, dtype and count), for output."""
        skip = {"name", "role", "phase", "dtype", "count"}
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}


@dataclass(frozen=True, kw_only=True)
class Gemm(Operator):
    """``batch`` GEMMs ``(m x k) @ (k x n)``; weights are the ``k x n`` operand."""

    m: int
    n: int
    k: int
    batch: int = 1
    kind: ClassVar[str] = "gemm"

    def work(self) -> Work:
        f = 2.0 * self.m * self.n * self.k * self.batch
        return Work(f, 0.0, 0.0, f)

    def compulsory_bytes(self) -> tuple[float, float]:
        b = self.elem_bytes
        return (b * self.batch * (self.m * self.k + self.k * self.n), b * self.batch * self.m * self.n)


@dataclass(frozen=True, kw_only=True)
class MoeExperts(Operator):
    """``tokens`` (token, expert) pairs through experts of shape ``k -> n``; ``active_experts`` read."""

    tokens: int
    n: int
    k: int
    active_experts: float
    num_experts: int
    kind: ClassVar[str] = "moe_experts"

    def work(self) -> Work:
        f = 2.0 * self.tokens * self.n * self.k
        return Work(f, 0.0, 0.0, f)

    def compulsory_bytes(self) -> tuple[float, float]:
        b = self.elem_bytes
        return (b * (self.active_experts * self.n * self.k + self.tokens * self.k), b * self.tokens * self.n)


def causal_pairs(seq_q: int, seq_kv: int) -> int:
    """Unmasked (query, key) pairs of a causal mask, bottom-right aligned (closed form)."""
    offset = seq_kv - seq_q
    lo = max(0, -offset)  # first query row that sees any key
    full_from = min(max(lo, seq_kv - offset - 1), seq_q)  # rows from here on see all keys
    total = 0
    if full_from > lo:
        a, b = lo + offset + 1, full_from + offset
        total += (a + b) * (full_from - lo) // 2
    return total + (seq_q - full_from) * seq_kv


def window_pairs(seq_q: int, seq_kv: int, window: int) -> int:
    """Unmasked pairs when query i sees at most the last ``window`` of its causal keys (closed form)."""
    offset = seq_kv - seq_q
    lo = max(0, -offset)  # rows before this see no key
    # row i sees min(window, i + offset + 1) keys; rows with i + offset + 1 <= window see i + offset + 1
    ramp_end = min(seq_q, max(lo, window - offset))
    total = 0
    if ramp_end > lo:
        a, b = lo + offset + 1, ramp_end + offset
        total += (a + b) * (ramp_end - lo) // 2
    return total + (seq_q - max(ramp_end, lo)) * window


def attention_pairs(seq_q: int, seq_kv: int, causal: bool, window: int | None = None) -> int:
    """(query, key) pairs an exact kernel must compute under the mask."""
    if window is not None:
        return window_pairs(seq_q, seq_kv, window)
    return causal_pairs(seq_q, seq_kv) if causal else seq_q * seq_kv


@dataclass(frozen=True, kw_only=True)
class _AttentionShape(Operator):
    batch: int
    heads: int
    kv_heads: int
    seq_q: int
    seq_kv: int
    head_dim: int
    causal: bool = False
    window: int | None = None
    algorithm: str = "flash"

    @property
    def pairs(self) -> int:
        """Unmasked (query, key) pairs per head."""
        return attention_pairs(self.seq_q, self.seq_kv, self.causal, self.window)

    @property
    def bh(self) -> int:
        return self.batch * self.heads

    @property
    def useful_flops(self) -> float:
        """QK^T and PV over the unmasked pairs."""
        return 4.0 * self.bh * self.pairs * self.head_dim

    def compulsory_bytes(self) -> tuple[float, float]:
        b, d = self.elem_bytes, self.head_dim
        q = self.bh * self.seq_q * d * b
        kv = 2 * self.batch * self.kv_heads * self.seq_kv * d * b
        return (q + kv, q)


@dataclass(frozen=True, kw_only=True)
class Attention(_AttentionShape):
    """One fused attention (the scores stay on chip): ``algorithm`` names how (archsim.algorithms)."""

    kind: ClassVar[str] = "attention"

    def work(self) -> Work:
        # fused kernels skip fully masked tiles: executed ~ useful (tile-edge waste is the backend's)
        mm = self.useful_flops
        return Work(mm, ONLINE_SOFTMAX_VECTOR_FLOPS * self.bh * self.pairs, self.bh * self.pairs, mm)


@dataclass(frozen=True, kw_only=True)
class AttentionScores(_AttentionShape):
    """Unfused ``S = Q K^T`` per (batch, head), the full rectangle, scores written off-chip."""

    kind: ClassVar[str] = "attention_scores"
    fused: ClassVar[bool] = False

    def gemm_shape(self) -> tuple[int, int, int]:
        return (self.seq_q, self.seq_kv, self.head_dim)

    def work(self) -> Work:
        return Work(2.0 * self.bh * self.seq_q * self.seq_kv * self.head_dim, 0.0, 0.0, self.useful_flops / 2)


@dataclass(frozen=True, kw_only=True)
class AttentionContext(_AttentionShape):
    """Unfused ``O = P V`` per (batch, head), probabilities read back from off-chip."""

    kind: ClassVar[str] = "attention_context"
    fused: ClassVar[bool] = False

    def gemm_shape(self) -> tuple[int, int, int]:
        return (self.seq_q, self.head_dim, self.seq_kv)

    def work(self) -> Work:
        return Work(2.0 * self.bh * self.seq_q * self.seq_kv * self.head_dim, 0.0, 0.0, self.useful_flops / 2)


@dataclass(frozen=True, kw_only=True)
class Softmax(Operator):
    """Row softmax over ``rows x cols`` elements (the unfused attention's middle pass)."""

    rows: int
    cols: int
    kind: ClassVar[str] = "softmax"
    fused: ClassVar[bool] = False

    @property
    def elements(self) -> int:
        return self.rows * self.cols

    def work(self) -> Work:
        e = self.elements
        return Work(0.0, VECTOR_FLOPS_PER_ELEMENT["softmax"] * e, TRANSCENDENTALS_PER_ELEMENT["softmax"] * e, 0.0)

    def compulsory_bytes(self) -> tuple[float, float]:
        return (self.elements * self.elem_bytes, self.elements * self.elem_bytes)


@dataclass(frozen=True, kw_only=True)
class _Streaming(Operator):
    """A streaming operator: ``inputs`` tensors of ``elements`` read, one written."""

    fn: str
    elements: int
    inputs: int = 1

    def work(self) -> Work:
        e = self.elements
        return Work(0.0, VECTOR_FLOPS_PER_ELEMENT[self.fn] * e, TRANSCENDENTALS_PER_ELEMENT[self.fn] * e, 0.0)

    def compulsory_bytes(self) -> tuple[float, float]:
        b = self.elem_bytes
        return (self.elements * self.inputs * b, self.elements * b)


@dataclass(frozen=True, kw_only=True)
class Norm(_Streaming):
    """LayerNorm or RMSNorm over ``elements`` (rows x hidden)."""

    kind: ClassVar[str] = "norm"


@dataclass(frozen=True, kw_only=True)
class Elementwise(_Streaming):
    """An elementwise function: activation (gelu, silu_mul, relu), residual_add, rotary."""

    kind: ClassVar[str] = "elementwise"


@dataclass(frozen=True, kw_only=True)
class Copy(Operator):
    """A memory copy of ``bytes`` (read once, written once): transposes, cat, KV-cache writes."""

    bytes: float
    kind: ClassVar[str] = "copy"

    def work(self) -> Work:
        return Work(0.0, 0.0, 0.0, 0.0)

    def compulsory_bytes(self) -> tuple[float, float]:
        return (self.bytes, self.bytes)


COLLECTIVES = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all")


@dataclass(frozen=True, kw_only=True)
class Collective(Operator):
    """A collective over ``group`` devices on a buffer of ``bytes`` (nccl-tests' 'size')."""

    op: str
    bytes: float
    group: int
    kind: ClassVar[str] = "collective"

    def __post_init__(self) -> None:
        if self.op not in COLLECTIVES:
            raise ValueError(f"unknown collective {self.op!r}; valid: {', '.join(COLLECTIVES)}")

    def work(self) -> Work:
        reduce_flops = self.bytes / self.elem_bytes if self.op in ("all_reduce", "reduce_scatter") else 0.0
        return Work(0.0, reduce_flops, 0.0, 0.0)

    def compulsory_bytes(self) -> tuple[float, float]:
        return (self.bytes, self.bytes)


OPERATOR_TYPES: tuple[type[Operator], ...] = (Gemm, MoeExperts, Attention, AttentionScores, AttentionContext,
                                              Softmax, Norm, Elementwise, Copy, Collective)


def expected_active_experts(num_experts: int, top_k: int, tokens: int) -> float:
    """Distinct experts hit by ``tokens`` tokens routed uniformly to ``top_k`` of ``num_experts``."""
    return num_experts * (1.0 - (1.0 - top_k / num_experts) ** tokens)
