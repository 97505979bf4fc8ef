"""Whole models with random weights, built from configs on the GPU (nothing is downloaded).

- :class:`PlainLlama`: a hand-written PyTorch Llama as a careful user writes it: fused QKV and
  gate/up projections (one GEMM each), rotary embedding with a precomputed cos/sin table and
  ``rotate_half`` (as in transformers), RMSNorm computed in fp32 (``x.float()``, ``pow``, ``mean``,
  ``rsqrt``, multiply, cast back, weight multiply: HF's ``LlamaRMSNorm`` pieces), SDPA under
  ``sdpa_kernel(FLASH_ATTENTION)`` (FlashAttention-2) with ``enable_gqa``, a static KV cache written
  in place (no growth), logits for the last position only.
- HuggingFace ``LlamaForCausalLM`` / ``MixtralForCausalLM`` with ``attn_implementation="sdpa"``,
  ``DynamicCache`` (grows by ``torch.cat`` every step), ``logits_to_keep=1``.

Every model records the layer count it ran with (``layers``) next to the full model's
(``layers_full``): time per layer scales, so the campaign runs fewer layers to fit its budget.
RMSNorm and rotary code run inside ``record_function("norm")`` / ``("rotary")`` scopes so that
the profiler parse (``wm_trace``) can name their kernels; for HuggingFace classes the scopes are
added by wrapping the classes' ``forward`` and the modules' ``apply_rotary_pos_emb`` (no change
to what they compute).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn
from torch.profiler import record_function

BF16 = torch.bfloat16

#: Model shapes (published configs): Llama-2-7B (MHA), Llama-3-8B (GQA), Mixtral-8x7B (MoE, 8
#: experts, top-2). ``layers`` is what the campaign runs.
SHAPES = {
    "llama-2-7b": dict(hidden=4096, heads=32, kv_heads=32, ffn=11008, vocab=32000, layers_full=32,
                       rope_theta=10000.0, eps=1e-5),
    "llama-3-8b": dict(hidden=4096, heads=32, kv_heads=8, ffn=14336, vocab=128256, layers_full=32,
                       rope_theta=500000.0, eps=1e-5),
    # held-out shapes (second run): a wider MHA model and a GQA model with head_dim 128, 28 heads
    "llama-2-13b": dict(hidden=5120, heads=40, kv_heads=40, ffn=13824, vocab=32000, layers_full=40,
                        rope_theta=10000.0, eps=1e-5),
    "qwen2-7b": dict(hidden=3584, heads=28, kv_heads=4, ffn=18944, vocab=152064, layers_full=28,
                     rope_theta=1e6, eps=1e-6),
    "mixtral-8x7b": dict(hidden=4096, heads=32, kv_heads=8, ffn=14336, vocab=32000, layers_full=32,
                         rope_theta=1e6, eps=1e-5, experts=8, top_k=2),
}


def rmsnorm(x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
    with record_function("norm"):
        xf = x.to(torch.float32)
        var = xf.pow(2).mean(-1, keepdim=True)
        xf = xf * torch.rsqrt(var + eps)
        return w * xf.to(x.dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class PlainLlama(nn.Module):
    """Decoder-only Llama in plain PyTorch (see module docstring). Shapes: x [B, S, hidden]."""

    def __init__(self, shape: dict, layers: int, max_pos: int) -> None:
        super().__init__()
        s = shape
        self.h, self.hkv, self.d = s["heads"], s["kv_heads"], s["hidden"] // s["heads"]
        self.eps = s["eps"]
        hd = s["hidden"]
        std = 0.02
        self.embed = nn.Parameter(torch.randn(s["vocab"], hd, dtype=BF16) * std)
        self.wqkv = nn.ParameterList([nn.Parameter(torch.randn((self.h + 2 * self.hkv) * self.d, hd, dtype=BF16)
                                                   * std) for _ in range(layers)])
        self.wo = nn.ParameterList([nn.Parameter(torch.randn(hd, self.h * self.d, dtype=BF16) * std)
                                    for _ in range(layers)])
        self.w13 = nn.ParameterList([nn.Parameter(torch.randn(2 * s["ffn"], hd, dtype=BF16) * std)
                                     for _ in range(layers)])
        self.w2 = nn.ParameterList([nn.Parameter(torch.randn(hd, s["ffn"], dtype=BF16) * std) for _ in range(layers)])
        self.n1 = nn.ParameterList([nn.Parameter(torch.ones(hd, dtype=BF16)) for _ in range(layers)])
        self.n2 = nn.ParameterList([nn.Parameter(torch.ones(hd, dtype=BF16)) for _ in range(layers)])
        self.nf = nn.Parameter(torch.ones(hd, dtype=BF16))
        self.head = nn.Parameter(torch.randn(s["vocab"], hd, dtype=BF16) * std)
        inv = 1.0 / (s["rope_theta"] ** (torch.arange(0, self.d, 2, dtype=torch.float32) / self.d))
        freqs = torch.outer(torch.arange(max_pos, dtype=torch.float32), inv)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer("cos", emb.cos().to(BF16), persistent=False)
        self.register_buffer("sin", emb.sin().to(BF16), persistent=False)
        self.layers = layers
        self.k_cache: list[torch.Tensor] = []
        self.v_cache: list[torch.Tensor] = []

    def alloc_cache(self, batch: int, length: int) -> None:
        """Static KV cache [B, HKV, length, D] per layer, random contents (never zeros)."""
        dev = self.nf.device
        self.k_cache = [torch.randn(batch, self.hkv, length, self.d, dtype=BF16, device=dev)
                        for _ in range(self.layers)]
        self.v_cache = [torch.randn(batch, self.hkv, length, self.d, dtype=BF16, device=dev)
                        for _ in range(self.layers)]

    def forward(self, ids: torch.Tensor, pos: torch.Tensor, start: int) -> torch.Tensor:
        """``ids`` [B, S] tokens at positions ``start .. start+S-1`` (``pos`` holds them, int64 on GPU)."""
        from torch.nn.attention import SDPBackend, sdpa_kernel
        b, s = ids.shape
        x = F.embedding(ids, self.embed)
        with record_function("rotary"):
            cos, sin = self.cos[pos][None, None], self.sin[pos][None, None]
        for i in range(self.layers):
            r = x
            y = rmsnorm(x, self.n1[i], self.eps)
            qkv = F.linear(y, self.wqkv[i]).view(b, s, self.h + 2 * self.hkv, self.d)
            q, k, v = qkv.split([self.h, self.hkv, self.hkv], dim=2)
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
            with record_function("rotary"):
                q = q * cos + rotate_half(q) * sin
                k = k * cos + rotate_half(k) * sin
            self.k_cache[i][:, :, start:start + s] = k
            self.v_cache[i][:, :, start:start + s] = v
            kk, vv = self.k_cache[i][:, :, :start + s], self.v_cache[i][:, :, :start + s]
            with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                o = F.scaled_dot_product_attention(q, kk, vv, is_causal=s > 1, enable_gqa=self.hkv != self.h)
            x = r + F.linear(o.transpose(1, 2).reshape(b, s, self.h * self.d), self.wo[i])
            r = x
            y = rmsnorm(x, self.n2[i], self.eps)
            g, u = F.linear(y, self.w13[i]).chunk(2, dim=-1)
            x = r + F.linear(F.silu(g) * u, self.w2[i])
        x = rmsnorm(x[:, -1:], self.nf, self.eps)
        return F.linear(x, self.head)


def _scoped(fn, name: str):
    @functools.wraps(fn)
    def inner(*a, **kw):
        with record_function(name):
            return fn(*a, **kw)
    inner._wm_scoped = True  # type: ignore[attr-defined]
    return inner


def add_hf_scopes() -> None:
    """Wrap HF RMSNorm / rotary code in profiler scopes (idempotent; computation unchanged)."""
    from transformers.models.llama import modeling_llama as ml
    from transformers.models.mixtral import modeling_mixtral as mx
    for mod, norm, rot in ((ml, "LlamaRMSNorm", "LlamaRotaryEmbedding"), (mx, "MixtralRMSNorm",
                                                                          "MixtralRotaryEmbedding")):
        for cls_name, scope in ((norm, "norm"), (rot, "rotary")):
            cls = getattr(mod, cls_name)
            if not getattr(cls.forward, "_wm_scoped", False):
                cls.forward = _scoped(cls.forward, scope)
        if not getattr(mod.apply_rotary_pos_emb, "_wm_scoped", False):
            mod.apply_rotary_pos_emb = _scoped(mod.apply_rotary_pos_emb, "rotary")


def hf_model(name: str, layers: int):
    """HF model with random weights from a config (bf16, sdpa), on the current CUDA device."""
    import transformers as tf
    s = SHAPES[name]
    common = dict(hidden_size=s["hidden"], num_attention_heads=s["heads"], num_key_value_heads=s["kv_heads"],
                  intermediate_size=s["ffn"], vocab_size=s["vocab"], num_hidden_layers=layers,
                  rms_norm_eps=s["eps"], max_position_embeddings=131072, tie_word_embeddings=False)
    if "experts" in s:
        cfg = tf.MixtralConfig(**common, num_local_experts=s["experts"], num_experts_per_tok=s["top_k"],
                               rope_theta=s["rope_theta"])
        cls = tf.MixtralForCausalLM
    else:
        cfg = tf.LlamaConfig(**common, rope_theta=s["rope_theta"])
        cls = tf.LlamaForCausalLM
    add_hf_scopes()
    with torch.device("cuda"):
        model = cls._from_config(cfg, attn_implementation="sdpa", dtype=BF16)
    model.eval()
    return model, cfg


def hf_cache(model, cfg, batch: int, ctx: int):
    """A DynamicCache filled with ``ctx`` random tokens per layer, and a function resetting it to that."""
    from transformers import DynamicCache
    d = cfg.hidden_size // cfg.num_attention_heads
    try:
        cache = DynamicCache(config=cfg)
    except TypeError:
        cache = DynamicCache()
    base = []
    for i in range(cfg.num_hidden_layers):
        k = torch.randn(batch, cfg.num_key_value_heads, ctx, d, dtype=BF16, device="cuda")
        v = torch.randn_like(k)
        cache.update(k, v, i)
        base.append((k, v))

    def reset() -> None:
        for layer, (k, v) in zip(cache.layers, base, strict=True):
            layer.keys, layer.values = k, v
    reset()
    return cache, reset


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

