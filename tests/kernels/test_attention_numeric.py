"""FlashAttention-2 forward, sliding-window attention and flash-decoding against float64 torch.

Fresh random inputs every run (no fixed seed), outputs poisoned with NaN before the kernel
runs, tolerance per dtype from conftest.REL_TOL. Edge cases: sequence lengths that are not
multiples of the blocks, causal with seq_q < seq_kv and seq_q > seq_kv (bottom-right aligned;
rows that see no key give 0), GQA/MQA, head dims 64 and 128.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("triton")

from archsim.kernels.triton.flash_attention import DTYPES, attention_reference, flash_attention  # noqa: E402
from archsim.kernels.triton.flash_decoding import decoding_reference, flash_decoding  # noqa: E402
from archsim.kernels.triton.sliding_window import sliding_window_attention, sliding_window_reference  # noqa: E402

from tests.kernels.conftest import assert_close  # noqa: E402


def _qkv(batch, heads, kv_heads, seq_q, seq_kv, head_dim, dtype, device):
    dt = DTYPES[dtype]
    q = torch.randn(batch, heads, seq_q, head_dim, dtype=dt, device=device)
    k = torch.randn(batch, kv_heads, seq_kv, head_dim, dtype=dt, device=device)
    return q, k, torch.randn_like(k)


ATTN_CASES = [
    # batch, heads, kv_heads, seq_q, seq_kv, head_dim, causal
    (2, 4, 2, 100, 100, 64, False),   # GQA, seq not a block multiple
    (1, 2, 1, 70, 130, 128, True),    # MQA, causal, seq_q < seq_kv
    (1, 2, 2, 130, 70, 64, True),     # causal, seq_q > seq_kv: first 60 rows see no key
]


@pytest.mark.parametrize("dtype", ["fp32", "fp16", "bf16"])
@pytest.mark.parametrize("case", ATTN_CASES,
                         ids=lambda c: f"b{c[0]}h{c[1]}kv{c[2]}q{c[3]}k{c[4]}d{c[5]}{'c' if c[6] else ''}")
def test_flash_attention_matches_reference(case, dtype, device):
    batch, heads, kv_heads, seq_q, seq_kv, head_dim, causal = case
    q, k, v = _qkv(batch, heads, kv_heads, seq_q, seq_kv, head_dim, dtype, device)
    out = torch.full_like(q, float("nan"))
    flash_attention(q, k, v, causal=causal, out=out, block_m=32, block_n=32)
    ref = attention_reference(q, k, v, window_right=0 if causal else None)
    assert_close(out, ref, dtype)
    if causal and seq_q > seq_kv:
        assert torch.all(out[:, :, : seq_q - seq_kv] == 0), "rows that see no key must be 0 (FlashAttention-2)"


def test_causal_alignment_is_bottom_right(device):
    """The last query row sees every key; a top-left mask would give it only seq_q keys."""
    q, k, v = _qkv(1, 1, 1, 16, 48, 64, "fp32", device)
    out = flash_attention(q, k, v, causal=True, block_m=16, block_n=16)
    full = attention_reference(q[:, :, -1:], k, v)  # last row, no mask at all
    assert_close(out[:, :, -1:], full, "fp32")


@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
@pytest.mark.parametrize("window", [(40, 20), (0, 0), (33, 0)], ids=lambda w: f"L{w[0]}R{w[1]}")
def test_sliding_window_matches_reference(window, dtype, device):
    q, k, v = _qkv(1, 2, 2, 150, 170, 64, dtype, device)
    out = torch.full_like(q, float("nan"))
    sliding_window_attention(q, k, v, window_left=window[0], window_right=window[1], out=out, block_m=32,
                             block_n=32)
    assert_close(out, sliding_window_reference(q, k, v, window_left=window[0], window_right=window[1]), dtype)


DECODE_CASES = [
    # batch, heads, kv_heads, seq_kv, head_dim, num_splits
    (2, 8, 2, 300, 64, 3),    # GQA group 4, seq not a block multiple
    (1, 4, 4, 77, 64, 1),     # MHA, one split
    (1, 8, 1, 200, 128, 5),   # MQA, head dim 128
]


@pytest.mark.parametrize("dtype", ["fp32", "fp16", "bf16"])
@pytest.mark.parametrize("case", DECODE_CASES, ids=lambda c: f"b{c[0]}h{c[1]}kv{c[2]}k{c[3]}d{c[4]}s{c[5]}")
def test_flash_decoding_matches_reference(case, dtype, device):
    batch, heads, kv_heads, seq_kv, head_dim, num_splits = case
    q, k, v = _qkv(batch, heads, kv_heads, 1, seq_kv, head_dim, dtype, device)
    out = torch.full_like(q, float("nan"))
    flash_decoding(q, k, v, num_splits=num_splits, out=out, block_n=32)
    assert_close(out, decoding_reference(q, k, v), dtype)
