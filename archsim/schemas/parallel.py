"""How a workload is split over devices: tensor, pipeline, data and expert parallelism.

Degrees multiply to the devices one model replica set needs: ``tensor x pipeline x data``
(expert parallelism reuses those devices: the experts of an MoE layer are spread over
``expert`` of the ``tensor x data`` devices, as in Megatron-Core). All default to 1 (one device);
communication does not overlap compute unless ``overlap_communication`` says the stack does.
Checks that need the model (heads divisible by ``tensor``, layers by ``pipeline``, experts by
``expert``) are made where the model is known: :mod:`archsim.capacity` and the parallel lowering.
"""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from archsim.schemas.base import StrictModel

MAX_DEGREE = 4096  # far above any deployment archsim's presets describe (an HGX node is 8 GPUs)


class Parallel(StrictModel):
    """Parallelism degrees (each >= 1)."""

    tensor: int = Field(1, ge=1, le=MAX_DEGREE, description="Megatron tensor parallel: heads, GEMM columns/rows")
    pipeline: int = Field(1, ge=1, le=MAX_DEGREE, description="pipeline stages: layers split into consecutive stages")
    data: int = Field(1, ge=1, le=MAX_DEGREE, description="data parallel replicas: the batch is split")
    expert: int = Field(1, ge=1, le=MAX_DEGREE, description="expert parallel: MoE experts spread over devices")
    micro_batches: int = Field(1, ge=1, le=MAX_DEGREE,
                               description="micro-batches per pipeline iteration (pipeline > 1)")
    overlap_communication: bool = Field(
        False, description="the stack overlaps each collective with the GEMM producing it (chunked, as async "
                           "tensor parallelism / fused GEMM+all-reduce kernels do); eager Megatron does not")

    @model_validator(mode="after")
    def _expert_fits(self) -> Parallel:
        group = self.tensor * self.data
        if self.expert > 1 and group % self.expert:
            raise PydanticCustomError(
                "cross_field", "expert ({e}) must divide tensor x data ({g}): experts are spread over those devices",
                {"key": "expert", "e": self.expert, "g": group})
        return self

    @property
    def devices(self) -> int:
        """Devices the workload occupies: tensor x pipeline x data."""
        return self.tensor * self.pipeline * self.data
