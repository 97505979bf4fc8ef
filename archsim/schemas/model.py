"""Neural-network model descriptions (transformer families) used by workloads.

One schema covers decoder LLMs (GPT, Llama, OPT), encoders (BERT) and vision transformers
(ViT, M3ViT). Shapes are validated: ``head_dim * num_heads`` need not equal ``hidden_size``
only when ``head_dim`` is given explicitly; ``num_kv_heads`` must divide ``num_heads`` (GQA/MQA).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from archsim import limits
from archsim.schemas.base import StrictModel
from archsim.schemas.bounded import Count, Dim, Heads, Tokens


class MoeSpec(StrictModel):
    num_experts: Heads
    top_k: Heads
    expert_ffn_hidden_size: Dim
    every_n_layers: Count = Field(1, description="MoE replaces the FFN in every n-th layer")

    @model_validator(mode="after")
    def _k_le_e(self) -> MoeSpec:
        if self.top_k > self.num_experts:
            raise PydanticCustomError("cross_field", "top_k ({k}) exceeds num_experts ({e})",
                                      {"key": "top_k", "k": self.top_k, "e": self.num_experts})
        return self


class VisionSpec(StrictModel):
    image_size: Dim = Field(description="image height (and width unless image_width is given), pixels")
    image_width: Dim | None = None
    patch_size: Dim
    channels: Dim = 3
    class_token: bool = True

    @model_validator(mode="after")
    def _tokens_bounded(self) -> VisionSpec:
        if self.patch_size > min(self.image_size, self.image_width or self.image_size):
            raise PydanticCustomError("cross_field", "patch_size {p} is larger than the image: no patches",
                                      {"key": "patch_size", "p": self.patch_size})
        if self.num_tokens > limits.MAX_SEQ_LEN:
            raise PydanticCustomError("cross_field", "{n} image tokens exceed the limit of {limit} tokens",
                                      {"key": "image_size", "n": self.num_tokens, "limit": limits.MAX_SEQ_LEN})
        return self

    @property
    def num_tokens(self) -> int:
        width = self.image_width or self.image_size
        patches = (self.image_size // self.patch_size) * (width // self.patch_size)
        return patches + (1 if self.class_token else 0)

    @property
    def num_patches(self) -> int:
        return self.num_tokens - (1 if self.class_token else 0)


class ModelSpec(StrictModel):
    kind: Literal["model"] = "model"
    name: str
    description: str = ""
    arch: Literal["decoder", "encoder", "vit"]
    num_layers: Count
    hidden_size: Dim
    num_heads: Heads
    num_kv_heads: Heads | None = None
    head_dim: Dim | None = None
    ffn_hidden_size: Dim
    ffn_kind: Literal["gelu", "relu", "gated_silu"]
    norm: Literal["layernorm", "rmsnorm"]
    vocab_size: Dim | None = None
    max_seq_len: Tokens | None = None
    moe: MoeSpec | None = None
    vision: VisionSpec | None = None

    @model_validator(mode="after")
    def _shapes(self) -> ModelSpec:
        if self.head_dim is None and self.hidden_size % self.num_heads:
            raise PydanticCustomError(
                "cross_field", "hidden_size {h} is not divisible by num_heads {n}; head_dim would not be whole",
                {"key": "num_heads", "h": self.hidden_size, "n": self.num_heads})
        if self.num_kv_heads is not None and self.num_heads % self.num_kv_heads:
            raise PydanticCustomError(
                "cross_field", "num_kv_heads {kv} does not divide num_heads {n} (GQA groups must be whole)",
                {"key": "num_kv_heads", "kv": self.num_kv_heads, "n": self.num_heads})
        if self.arch == "vit" and self.vision is None:
            raise PydanticCustomError("cross_field", "arch 'vit' needs a 'vision' section", {"key": "vision"})
        if self.arch == "decoder" and self.vocab_size is None:
            raise PydanticCustomError("cross_field", "a decoder model needs vocab_size", {"key": "vocab_size"})
        return self

    @property
    def kv_heads(self) -> int:
        return self.num_kv_heads or self.num_heads

    @property
    def dhead(self) -> int:
        return self.head_dim or self.hidden_size // self.num_heads

    def parameter_count(self) -> int:
        """Weights (embeddings included once, norms ignored): used for reports and sanity tests."""
        h, d = self.hidden_size, self.dhead
        attn = h * d * (self.num_heads + 2 * self.kv_heads) + self.num_heads * d * h
        ffn_mult = 3 if self.ffn_kind == "gated_silu" else 2
        dense_ffn = ffn_mult * h * self.ffn_hidden_size
        total = 0
        for layer in range(self.num_layers):
            total += attn
            if self.moe and (layer % self.moe.every_n_layers == self.moe.every_n_layers - 1):
                experts = self.moe.num_experts * ffn_mult * h * self.moe.expert_ffn_hidden_size
                total += experts + h * self.moe.num_experts  # experts + router
            else:
                total += dense_ffn
        if self.vocab_size:
            total += self.vocab_size * h
        return total
