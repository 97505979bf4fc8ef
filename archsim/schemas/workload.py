"""Workload descriptions: a model (preset name or inline) or explicit operator shapes, run in
phases (prefill / decode) with batch and sequence lengths, a dtype, and an algorithm per operator family.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Discriminator, Field, Tag, field_validator, model_validator
from pydantic_core import PydanticCustomError

from archsim.algorithms import ATTENTION_ALGORITHMS, attention_algorithm
from archsim.schemas.base import StrictModel
from archsim.schemas.bounded import Batch, Count, Dim, Heads, Tokens
from archsim.schemas.hardware import Dtype
from archsim.schemas.model import ModelSpec
from archsim.schemas.parallel import Parallel


class PrefillPhase(StrictModel):
    phase: Literal["prefill"]
    batch: Batch
    seq_len: Tokens | None = Field(None, description="tokens per sequence; ViT models take it from the image")


class DecodePhase(StrictModel):
    phase: Literal["decode"]
    batch: Batch
    context_len: Tokens = Field(description="tokens already in the KV cache at the first step")
    steps: Count = 1


Phase = Annotated[PrefillPhase | DecodePhase, Field(discriminator="phase")]


class GemmLayer(StrictModel):
    op: Literal["gemm"]
    name: str
    m: Dim
    n: Dim
    k: Dim
    count: Count = 1


class AttentionLayer(StrictModel):
    op: Literal["attention"]
    name: str
    batch: Batch
    heads: Heads
    kv_heads: Heads | None = None
    seq_q: Tokens
    seq_kv: Tokens
    head_dim: Dim
    causal: bool = False
    count: Count = 1

    @model_validator(mode="after")
    def _gqa(self) -> AttentionLayer:
        if self.kv_heads is not None and self.heads % self.kv_heads:
            raise PydanticCustomError("cross_field", "kv_heads {kv} does not divide heads {h}",
                                      {"key": "kv_heads", "kv": self.kv_heads, "h": self.heads})
        return self


Layer = Annotated[GemmLayer | AttentionLayer, Field(discriminator="op")]


class AlgorithmChoice(StrictModel):
    """Which algorithm computes each operator family (names from :mod:`archsim.algorithms`)."""

    attention: str = Field("flash", description="attention algorithm: " + ", ".join(ATTENTION_ALGORITHMS))

    @field_validator("attention")
    @classmethod
    def _known(cls, value: str) -> str:
        attention_algorithm(value)  # raises ValueError listing the valid names
        return value


class StackChoice(StrictModel):
    """The software stack a model runs under (:mod:`archsim.gpu.stacks`): which kernels it launches and how
    the host dispatches them. ``eager``: HuggingFace transformers eager PyTorch; ``plain``: hand-written
    eager PyTorch (fused QKV/gate-up); ``fused``: torch.compile. Host ``eager`` dispatch or ``cuda-graph``
    replay."""

    software: Literal["eager", "plain", "fused"] = "eager"
    host: Literal["eager", "cuda-graph"] = "eager"


class Workload(StrictModel):
    kind: Literal["workload"] = "workload"
    name: str
    description: str = ""
    model: Annotated[Annotated[str, Tag("preset")] | Annotated[ModelSpec, Tag("inline")],
                     Discriminator(lambda v: "preset" if isinstance(v, str) else "inline")] | None = Field(
        None, description="model preset name, or an inline model")
    layers: list[Layer] | None = Field(None, min_length=1, description="explicit operator shapes instead of a model")
    phases: list[Phase] = Field(default_factory=list)
    dtype: Dtype = "bf16"
    algorithm: AlgorithmChoice = Field(default_factory=AlgorithmChoice)
    parallel: Parallel = Field(default_factory=Parallel, description="tensor/pipeline/data/expert split")
    stack: StackChoice = Field(default_factory=StackChoice, description="software stack and host mode (GPU)")

    @model_validator(mode="before")
    @classmethod
    def _renamed_keys(cls, data: object) -> object:
        if isinstance(data, dict) and "dataflow" in data:
            raise PydanticCustomError("renamed", "'dataflow' was renamed to 'algorithm' (e.g. algorithm: {attention: "
                                      "flash}); see CHANGELOG.md", {"key": "dataflow"})
        return data

    @model_validator(mode="after")
    def _model_or_layers(self) -> Workload:
        if (self.model is None) == (self.layers is None):
            raise PydanticCustomError("cross_field", "give exactly one of 'model' or 'layers'", {"key": "model"})
        if self.model is not None and not self.phases:
            raise PydanticCustomError("cross_field", "a model workload needs at least one phase", {"key": "phases"})
        return self
