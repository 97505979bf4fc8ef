"""Workload descriptions: a model (preset name or inline) or explicit operator shapes, run in
phases (prefill / decode) with batch and sequence lengths, a dtype, and a dataflow per operator.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Discriminator, Field, Tag, field_validator, model_validator
from pydantic_core import PydanticCustomError

from archsim.schemas.base import StrictModel
from archsim.schemas.bounded import Batch, Count, Dim, Heads, Tokens
from archsim.schemas.hardware import Dtype
from archsim.schemas.model import ModelSpec

#: Attention dataflows the analytical backend understands; ``fused`` ones never write the
#: N x N score matrix off-chip. Dataflow modules (``dataflows/``) register more.
ATTENTION_DATAFLOWS: dict[str, bool] = {"naive": False, "flash": True}


def register_attention_dataflow(name: str, *, fused: bool) -> None:
    """Make ``name`` a valid ``dataflow.attention`` choice. Duplicates are an error."""
    if name in ATTENTION_DATAFLOWS:
        raise ValueError(f"attention dataflow {name!r} is already registered")
    ATTENTION_DATAFLOWS[name] = fused


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


class DataflowChoice(StrictModel):
    attention: str = "flash"

    @field_validator("attention")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in ATTENTION_DATAFLOWS:
            from archsim.backends import load_plugins  # dataflow packages register more names

            load_plugins()
        if value not in ATTENTION_DATAFLOWS:
            raise ValueError(f"unknown attention dataflow {value!r}; valid: {', '.join(sorted(ATTENTION_DATAFLOWS))}")
        return value


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
    dataflow: DataflowChoice = Field(default_factory=DataflowChoice)

    @model_validator(mode="after")
    def _model_or_layers(self) -> Workload:
        if (self.model is None) == (self.layers is None):
            raise PydanticCustomError("cross_field", "give exactly one of 'model' or 'layers'", {"key": "model"})
        if self.model is not None and not self.phases:
            raise PydanticCustomError("cross_field", "a model workload needs at least one phase", {"key": "phases"})
        return self
