"""Whole-number field types with the upper bounds of :mod:`archsim.limits`.

Shapes and counts in workloads and models are whole numbers in ``1 .. limit``. A boolean
(``batch: true``) or a string (``batch: "16"``) is refused rather than coerced; an integral float
(``2048.0``, what a sweep's derive expression may produce) is accepted as the integer it is. A
value past its limit is refused with the limit in the message, so an absurd size never reaches a
model (a 10^12-token sequence, a 10^18-layer model).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from archsim import limits


def _whole(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"expected a whole number, got the boolean {value}")
    if isinstance(value, str):
        raise ValueError("expected a whole number, got a string (write it without quotes)")
    return value


def _bounded(limit: int, what: str) -> Any:
    return Field(gt=0, le=limit, description=f"{what}, 1 .. {limit}")


#: Tokens of one sequence (seq_len, context_len, seq_q, seq_kv, max_seq_len).
Tokens = Annotated[int, BeforeValidator(_whole), _bounded(limits.MAX_SEQ_LEN, "tokens")]
#: Sequences in a batch.
Batch = Annotated[int, BeforeValidator(_whole), _bounded(limits.MAX_BATCH, "sequences")]
#: Attention heads, experts.
Heads = Annotated[int, BeforeValidator(_whole), _bounded(limits.MAX_HEADS, "heads")]
#: A tensor dimension: hidden, FFN, head_dim, vocabulary, GEMM m/n/k, image pixels.
Dim = Annotated[int, BeforeValidator(_whole), _bounded(limits.MAX_DIM, "elements")]
#: A repeat count: layers, decode steps, operator count.
Count = Annotated[int, BeforeValidator(_whole), _bounded(limits.MAX_COUNT, "repeats")]
