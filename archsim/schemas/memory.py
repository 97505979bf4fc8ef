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
    ranks: PositiveInt = Field(1, description="ranks per channel (DDR), or stack IDs per pseudo-channel (HBM3 SIDs)")


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
    refresh: Literal["all_bank", "per_bank"] = Field(
        "all_bank", description="refresh mode the controller uses: REFab every nREFI, or REFpb round-robin")
    nRFCpb: PositiveInt | None = Field(None, description="per-bank refresh cycle time (per_bank mode)")
    nRREFD: PositiveInt | None = Field(None, description="REFpb to REFpb/ACT of another bank (per_bank mode)")
    nCCDR: PositiveInt | None = Field(None, description="RD->RD / WR->WR to another rank or stack ID (default nBL)")
    nCCDR_WR: PositiveInt | None = Field(None, description="WR->WR to another rank or stack ID (default nCCDR)")
    nPPD: PositiveInt | None = Field(None, description="PRE to PRE in one (pseudo-)channel (HBM3 tPPD)")
    nRCDWR: PositiveInt | None = Field(None, description="ACT to WR when it differs from nRCD (HBM, GDDR)")
    nRTW: PositiveInt | None = Field(None, description="RD to WR (default nCL + nBL + 2 - nCWL)")
    activate_scope: Literal["rank", "unit"] = Field("rank", description="tRRD/tFAW per rank, or per (pseudo-)channel")
    command_bus: Literal["unit", "row_column"] = Field(
        "unit", description="one command per cycle per unit, or per-channel row + column buses shared by its PCs")
    act_bus_half_cycles: PositiveInt = Field(2, description="row_column: half-cycles an ACT holds the row bus")
    row_bus_half_cycles: PositiveInt = Field(2, description="row_column: half-cycles a PRE/REF holds the row bus")

    @model_validator(mode="after")
    def _per_bank_fields(self) -> DramTiming:
        if self.refresh == "per_bank" and (self.nRFCpb is None or self.nRREFD is None):
            raise PydanticCustomError("cross_field", "refresh: per_bank needs nRFCpb and nRREFD", {"key": "refresh"})
        if self.nCCD_S < self.nBL:
            raise PydanticCustomError("cross_field", "nCCD_S must be >= nBL (one burst at a time on the data bus)",
                                      {"key": "nCCD_S"})
        return self


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
    def _consistent(self) -> MemoryStandard:
        t = self.timing
        if t.nRAS + t.nRP < t.nRCD:
            raise PydanticCustomError("cross_field", "nRAS + nRP must be >= nRCD", {"key": "timing"})
        if t.nCCD_L < t.nCCD_S or t.nRRD_L < t.nRRD_S:
            raise PydanticCustomError("cross_field", "_L timings must be >= their _S counterparts",
                                      {"key": "timing"})
        o = self.organisation
        burst_s = o.burst_length / o.data_rate_transfers_per_s
        if abs(t.nBL * t.tck_s - burst_s) > 0.01 * burst_s:
            raise PydanticCustomError(
                "cross_field", "nBL x tck_s ({a:.4g} s) must equal burst_length / data rate ({b:.4g} s)",
                {"key": "timing.nBL", "a": t.nBL * t.tck_s, "b": burst_s})
        units = o.channels * o.pseudo_channels
        size = units * o.ranks * o.bank_groups * o.banks_per_group * o.rows * o.row_buffer_bytes
        if abs(size - o.capacity_bytes) > 0.5:
            raise PydanticCustomError(
                "cross_field",
                "capacity_bytes {c:.0f} != (pseudo-)channels x ranks x banks x rows x row_buffer_bytes = {s:.0f}",
                {"key": "organisation.capacity_bytes", "c": o.capacity_bytes, "s": size})
        from archsim.physical_limits import memory_standard_problems, raise_problems  # bounds from known DRAM

        raise_problems(type(self).__name__, memory_standard_problems(self))
        return self

    @property
    def burst_bytes(self) -> int:
        """Bytes one burst moves on one (pseudo-)channel."""
        o = self.organisation
        return o.bus_width_bits * o.burst_length // 8

    @property
    def units(self) -> int:
        """Independently scheduled (pseudo-)channels."""
        return self.organisation.channels * self.organisation.pseudo_channels

    @property
    def banks(self) -> int:
        o = self.organisation
        return o.bank_groups * o.banks_per_group

    @property
    def peak_bandwidth_bytes_per_s(self) -> float:
        """Sum over (pseudo-)channels of bus width x data rate."""
        o = self.organisation
        return o.channels * o.pseudo_channels * o.bus_width_bits / 8 * o.data_rate_transfers_per_s
