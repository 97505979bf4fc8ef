"""DRAM memory standards: organisation, command timing and energy.

Timing parameters are in clock cycles of ``tck_s`` (as JEDEC tables and Ramulator give them),
so the engine can gate commands exactly; ``*_s`` properties give seconds. The event engine
(``archsim.engine``) consumes these; the roofline backend uses only ``peak_bandwidth_bytes_per_s``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from archsim.schemas.base import Bytes, JoulesPerByte, JoulesPerOp, PositiveInt, Seconds, StrictModel


class DramOrganisation(StrictModel):
    channels: PositiveInt = Field(description="independent channels per device/stack")
    pseudo_channels: PositiveInt = Field(1, description="pseudo-channels per channel (HBM); 1 otherwise")
    bank_groups: PositiveInt
    banks_per_group: PositiveInt
    rows: PositiveInt
    row_buffer_bytes: Bytes = Field(description="page size per (pseudo-)channel")
    bus_width_bits: PositiveInt = Field(description="data bus width per (pseudo-)channel")
    burst_length: PositiveInt
    data_rate_transfers_per_s: float = Field(gt=0, description="per pin, e.g. 6.4e9 for 6.4 Gbps")
    capacity_bytes: Bytes


class DramTiming(StrictModel):
    """JEDEC timing parameters in clock cycles (nCK) of tCK."""

    tck_s: Seconds
    nRCD: PositiveInt
    nRP: PositiveInt
    nRAS: PositiveInt
    nCL: PositiveInt
    nCWL: PositiveInt
    nCCD_S: PositiveInt
    nCCD_L: PositiveInt
    nRRD_S: PositiveInt
    nRRD_L: PositiveInt
    nFAW: PositiveInt
    nWR: PositiveInt
    nRTP: PositiveInt
    nWTR_S: PositiveInt
    nWTR_L: PositiveInt
    nREFI: PositiveInt
    nRFC: PositiveInt
    nBL: PositiveInt = Field(description="cycles a burst occupies the data bus")


class DramEnergy(StrictModel):
    activate_j: JoulesPerOp = Field(description="one ACT+PRE pair")
    read_j_per_byte: JoulesPerByte
    write_j_per_byte: JoulesPerByte
    refresh_j: JoulesPerOp = Field(description="one REF command (per channel/pseudo-channel)")


class MemoryStandard(StrictModel):
    kind: Literal["memory"]
    name: str
    description: str = ""
    organisation: DramOrganisation
    timing: DramTiming
    energy: DramEnergy

    @model_validator(mode="after")
    def _consistent(self) -> "MemoryStandard":
        t = self.timing
        if t.nRAS + t.nRP < t.nRCD:
            raise PydanticCustomError("cross_field", "nRAS + nRP must be >= nRCD", {"key": "timing"})
        if t.nCCD_L < t.nCCD_S or t.nRRD_L < t.nRRD_S:
            raise PydanticCustomError("cross_field", "_L timings must be >= their _S counterparts",
                                      {"key": "timing"})
        return self

    @property
    def banks(self) -> int:
        o = self.organisation
        return o.bank_groups * o.banks_per_group

    @property
    def peak_bandwidth_bytes_per_s(self) -> float:
        """Sum over (pseudo-)channels of bus width x data rate."""
        o = self.organisation
        return o.channels * o.pseudo_channels * o.bus_width_bits / 8 * o.data_rate_transfers_per_s
