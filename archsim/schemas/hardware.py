"""Hardware descriptions: devices of five families and systems of devices joined by links.

All fields are SI (see the unit in each name); YAML may use human units. A device lists its
memory levels from off-chip (largest, slowest) to on-chip (smallest, fastest). Family-specific
parameters live in a section named after the family (``gpu:``, ``fpga:``, ``pim:``,
``accelerator:``) so generic code (roofline, reports) reads only the common part.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from archsim.schemas.base import (
    Bytes,
    BytesPerSecond,
    FlopsPerSecond,
    Hertz,
    JoulesPerByte,
    JoulesPerOp,
    NonNegativeInt,
    PositiveInt,
    Seconds,
    SquareMeters,
    StrictModel,
    Usd,
    UsdPerHour,
    Watts,
)

Dtype = Literal["fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8", "int4", "int16", "int32"]

# Guard rails against presets far beyond known silicon (DESIGN.md: physical-limit guards).
MAX_PLAUSIBLE_BANDWIDTH_BYTES_PER_S = 1e15  # 1 PB/s: no shipping memory level of one device is above this
MAX_PLAUSIBLE_FLOPS_PER_S = 1e17  # 100 PFLOP/s dense on one device is beyond any shipping part


def _key_error(key: str, message: str) -> PydanticCustomError:
    return PydanticCustomError("cross_field", message, {"key": key})


class MemoryLevel(StrictModel):
    """One level of a device's memory hierarchy (bytes and bytes/s, energy in J per byte moved)."""

    kind: Literal["dram", "sram", "cache", "register"]
    capacity_bytes: Bytes = Field(description="per instance")
    instances: PositiveInt = Field(1, description="independent copies (e.g. one shared memory per SM)")
    bandwidth_bytes_per_s: BytesPerSecond = Field(description="aggregate over all instances")
    read_energy_j_per_byte: JoulesPerByte = 0.0
    write_energy_j_per_byte: JoulesPerByte | None = None
    latency_s: Seconds | None = None
    standard: str | None = Field(None, description="memory-standard preset (dram levels), e.g. hbm3")

    @model_validator(mode="after")
    def _plausible(self) -> MemoryLevel:
        if self.bandwidth_bytes_per_s > MAX_PLAUSIBLE_BANDWIDTH_BYTES_PER_S:
            raise _key_error("bandwidth_bytes_per_s",
                             f"{self.bandwidth_bytes_per_s:.3g} B/s is beyond known silicon (limit 1 PB/s)")
        return self

    @property
    def write_energy(self) -> float:
        return self.read_energy_j_per_byte if self.write_energy_j_per_byte is None else self.write_energy_j_per_byte


class Compute(StrictModel):
    """Peak dense rates per data type and energy per operation."""

    matrix_flops_per_s: dict[Dtype, FlopsPerSecond] = Field(
        description="dense matrix-unit peak (tensor cores, systolic array, MAC arrays) per dtype")
    vector_flops_per_s: dict[Dtype, FlopsPerSecond] = Field(
        description="elementwise/vector peak per dtype (CUDA cores, vector units)")
    sfu_ops_per_s: FlopsPerSecond | None = Field(None, description="transcendental ops (exp, rcp) per second")
    matrix_energy_j_per_flop: dict[Dtype, JoulesPerOp] = Field(default_factory=dict)
    vector_energy_j_per_flop: JoulesPerOp = 0.0
    sfu_energy_j_per_op: JoulesPerOp = Field(0.0, description="energy of one special-function op (exp2, rcp)")

    @model_validator(mode="after")
    def _plausible(self) -> Compute:
        for dtype, rate in {**self.matrix_flops_per_s, **self.vector_flops_per_s}.items():
            if rate > MAX_PLAUSIBLE_FLOPS_PER_S:
                raise _key_error("matrix_flops_per_s",
                                 f"{dtype}: {rate:.3g} FLOP/s is beyond known silicon (limit 100 PFLOP/s)")
        return self


class Cost(StrictModel):
    """Price of a device: capital cost and/or rental per hour (cite the source)."""

    capex_usd: Usd | None = None
    rental_usd_per_hour: UsdPerHour | None = None


class DeviceBase(StrictModel):
    name: str
    description: str = ""
    clock_hz: Hertz
    compute: Compute
    memory: dict[str, MemoryLevel] = Field(description="levels from off-chip to on-chip, keyed by name")
    static_power_w: Watts = 0.0
    tdp_w: Watts | None = None
    area_m2: SquareMeters | None = None
    cost: Cost | None = None

    @model_validator(mode="after")
    def _has_memory(self) -> DeviceBase:
        if not self.memory:
            raise _key_error("memory", "a device needs at least one memory level")
        return self

    @model_validator(mode="after")
    def _physical_limits(self) -> DeviceBase:
        from archsim.physical_limits import device_problems, raise_problems  # bounds from known silicon, cited there

        if getattr(self, "family", None) is not None:
            raise_problems(type(self).__name__, device_problems(self))
        return self

    @property
    def offchip(self) -> MemoryLevel:
        """The outermost memory level (the first listed)."""
        return next(iter(self.memory.values()))

    @property
    def offchip_name(self) -> str:
        return next(iter(self.memory))


class GpuParams(StrictModel):
    sm_count: PositiveInt
    max_threads_per_sm: PositiveInt
    max_ctas_per_sm: PositiveInt
    registers_per_sm: PositiveInt
    shared_memory_per_sm_bytes: Bytes
    max_shared_memory_per_cta_bytes: Bytes
    warp_size: PositiveInt = 32
    launch_overhead_s: Seconds = 0.0


class GpuDevice(DeviceBase):
    family: Literal["gpu"]
    gpu: GpuParams


class FpgaParams(StrictModel):
    part: str
    dsp_slices: PositiveInt
    luts: PositiveInt
    flip_flops: PositiveInt
    bram_36k_blocks: NonNegativeInt
    uram_blocks: NonNegativeInt = 0
    axi_ports: PositiveInt
    axi_width_bits: PositiveInt


class FpgaDevice(DeviceBase):
    family: Literal["fpga"]
    fpga: FpgaParams


class PimParams(StrictModel):
    """Bank-level (in-DRAM) or logic-die PIM."""

    placement: Literal["bank", "logic_die"]
    channels: PositiveInt
    banks_per_channel: PositiveInt
    units_per_channel: PositiveInt = Field(description="PIM processing units per channel")
    lanes_per_unit: PositiveInt = Field(description="MAC lanes per unit per cycle")
    pim_dtype: Dtype
    pim_clock_hz: Hertz
    memory_standard: str
    global_buffer_bytes: Bytes | None = Field(
        None, description="per-channel input-vector buffer (AiM's global buffer); default: one DRAM row")


class PimDevice(DeviceBase):
    family: Literal["pim"]
    pim: PimParams


class ArrayParams(StrictModel):
    """A 2-D PE array plus a 1-D vector array (FuseMax-style)."""

    pe_rows: PositiveInt
    pe_cols: PositiveInt
    vector_pes: PositiveInt
    macs_per_pe_per_cycle: PositiveInt = 1


class AcceleratorDevice(DeviceBase):
    family: Literal["accelerator"]
    accelerator: ArrayParams


Device = Annotated[GpuDevice | FpgaDevice | PimDevice | AcceleratorDevice, Field(discriminator="family")]


class DeviceRef(StrictModel):
    """A device in a system: a hardware preset name (or inline device) and how many."""

    preset: str | None = None
    device: Device | None = None
    count: PositiveInt = 1
    role: str = ""

    @model_validator(mode="after")
    def _one_source(self) -> DeviceRef:
        if (self.preset is None) == (self.device is None):
            raise _key_error("preset", "give exactly one of 'preset' (a hardware preset name) or 'device' (inline)")
        return self


class Link(StrictModel):
    """A link between two devices of a system (full duplex unless said otherwise)."""

    between: tuple[str, str]
    kind: Literal["nvlink", "pcie", "ethernet", "rdma", "cxl", "noc", "custom"]
    bandwidth_bytes_per_s: BytesPerSecond = Field(description="per direction")
    latency_s: Seconds = 0.0
    full_duplex: bool = True
    energy_j_per_byte: JoulesPerByte = 0.0
    profile: str | None = Field(None, description="collective-model link profile (archsim.collectives.PROFILES)")

    @model_validator(mode="after")
    def _known_profile(self) -> Link:
        from archsim.collectives import PROFILES  # the collective model owns the profile names

        if self.profile is not None and self.profile not in PROFILES:
            raise _key_error("profile", f"unknown link profile {self.profile!r}; valid: {', '.join(PROFILES)}")
        return self


class SystemSpec(StrictModel):
    """Devices joined by links."""

    family: Literal["system"]
    name: str
    description: str = ""
    devices: dict[str, DeviceRef]
    links: list[Link] = Field(default_factory=list)

    @model_validator(mode="after")
    def _links_name_devices(self) -> SystemSpec:
        for i, link in enumerate(self.links):
            for end in link.between:
                if end not in self.devices:
                    raise PydanticCustomError(
                        "cross_field", "link {i} names device '{end}'; devices are: {names}",
                        {"key": "links", "i": i, "end": end, "names": ", ".join(self.devices)})
        return self

    @model_validator(mode="after")
    def _physical_limits(self) -> SystemSpec:
        from archsim.physical_limits import raise_problems, system_problems

        raise_problems(type(self).__name__, system_problems(self))
        return self


Hardware = Annotated[GpuDevice | FpgaDevice | PimDevice | AcceleratorDevice | SystemSpec,
                     Field(discriminator="family")]
HARDWARE_FAMILIES = ("gpu", "fpga", "pim", "accelerator", "system")
