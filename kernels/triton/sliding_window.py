"""Sliding-window attention (SWAT-style) in Triton: FlashAttention-2 with a band mask.

SWAT (Bai et al., FPGA) accelerates window attention in which each token sees a fixed
window of neighbours (Longformer-style), so work grows linearly with sequence length. Here the
same band is run on a GPU with the FlashAttention-2 kernel of
:mod:`kernels.triton.flash_attention`: query ``i`` (key position ``pos = i + seq_kv - seq_q``)
sees keys ``pos - window_left .. pos + window_right``; KV blocks wholly outside the band are
skipped, blocks that straddle its edges are computed in full and masked. Symmetric windows
(``window_left == window_right``) are SWAT's/Longformer's; ``window_right = 0`` is the causal
(Mistral-style) sliding window.

Counts: :func:`counts` is exact for what the kernel executes; ``useful`` counts the allowed
(query, key) pairs only. Their ratio is the edge-block waste, which grows as the window
shrinks towards the block size.
"""

from __future__ import annotations

import torch
from archsim.kernels.trace import Launch
from archsim.kernels.triton.flash_attention import attention_launch, attention_reference, band_counts


def _check_window(window_left: int, window_right: int) -> None:
    if window_left < 0 or window_right < 0:
        raise ValueError(f"window sizes must be >= 0, got left={window_left}, right={window_right}")


def sliding_window_launch(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, out: torch.Tensor, *,
                          window_left: int, window_right: int, sm_scale: float | None = None, block_m: int = 64,
                          block_n: int = 64, num_warps: int = 4, num_stages: int = 2) -> Launch:
    """Describe one launch of sliding-window attention writing into ``out``."""
    _check_window(window_left, window_right)
    return attention_launch(q, k, v, out, window_left=window_left, window_right=window_right, sm_scale=sm_scale,
                            block_m=block_m, block_n=block_n, num_warps=num_warps, num_stages=num_stages,
                            name="sliding_window_attention")


def sliding_window_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, window_left: int,
                             window_right: int, sm_scale: float | None = None, out: torch.Tensor | None = None,
                             block_m: int = 64, block_n: int = 64, num_warps: int = 4,
                             num_stages: int = 2) -> torch.Tensor:
    """Band attention forward; returns ``out`` ([B, H, Sq, D], q's dtype)."""
    out = torch.empty_like(q) if out is None else out
    sliding_window_launch(q, k, v, out, window_left=window_left, window_right=window_right, sm_scale=sm_scale,
                          block_m=block_m, block_n=block_n, num_warps=num_warps, num_stages=num_stages).run()
    return out


def sliding_window_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, window_left: int,
                             window_right: int, sm_scale: float | None = None) -> torch.Tensor:
    """Exact band attention in float64."""
    _check_window(window_left, window_right)
    return attention_reference(q, k, v, window_left=window_left, window_right=window_right, sm_scale=sm_scale)


def counts(*, batch: int, heads: int, kv_heads: int, seq_q: int, seq_kv: int, head_dim: int, window_left: int,
           window_right: int, dtype: str = "fp16", block_m: int = 64, block_n: int = 64) -> dict:
    """Analytic executed and useful counts (see :func:`kernels.triton.flash_attention.band_counts`)."""
    _check_window(window_left, window_right)
    return band_counts(batch=batch, heads=heads, kv_heads=kv_heads, seq_q=seq_q, seq_kv=seq_kv, head_dim=head_dim,
                       dtype=dtype, window_left=window_left, window_right=window_right,
                       block_m=block_m, block_n=block_n)
