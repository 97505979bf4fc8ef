"""What a dataflow needs to know about a device: its units, their rates, and action energies.

Built from any single-device hardware preset (:class:`archsim.schemas.hardware.DeviceBase`):

- ``matrix`` (FLOP/s of the dtype), ``vector`` (FLOP/s, fp32 if listed), ``sfu`` (ops/s);
- an accelerator (``family: accelerator``) also has ``2d`` (PE-cycles/s = pe_rows x pe_cols x
  macs_per_pe_per_cycle x clock) and ``1d`` (vector_pes x clock), the FuseMax-style arrays;
- ``mem:<level>`` for every memory level, in bytes/s, with its latency (0 if not given).

Energy per action (J): ``mac`` = 2 x matrix J/FLOP, ``flop``/``add``/``max``/``exp``/``divide``
= vector J/FLOP (the schema has no per-function energies; the FuseMax reproduction passes
the artifact's own table instead), ``<level>_read_bytes``/``<level>_write_bytes`` from the
level. Static power from the preset.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from archsim.errors import ConfigError
from archsim.schemas.hardware import AcceleratorDevice, DeviceBase


@dataclass(frozen=True)
class Target:
    name: str
    family: str
    dtype: str
    clock_hz: float
    rates: dict[str, float]
    latency_s: dict[str, float]
    offchip: str
    onchip: str
    onchip_capacity_bytes: float
    energy_j: dict[str, float]
    static_power_w: float = 0.0
    pe_rows: int | None = None
    pe_cols: int | None = None
    vector_pes: int | None = None
    extra: dict[str, float] = field(default_factory=dict)

    def rate(self, unit: str) -> float:
        if unit not in self.rates:
            raise ConfigError.single(f"{self.name}: the dataflow needs unit {unit!r}; this device has "
                                     f"{', '.join(sorted(self.rates))}", key_path="compute")
        return self.rates[unit]

    @property
    def is_array(self) -> bool:
        return self.pe_rows is not None

    def with_(self, **changes: object) -> Target:
        return replace(self, **changes)  # type: ignore[arg-type]


def target_from_device(device: DeviceBase, dtype: str = "bf16") -> Target:
    c = device.compute
    if dtype not in c.matrix_flops_per_s:
        raise ConfigError.single(f"hardware {device.name!r} has no {dtype} matrix rate; it has: "
                                 f"{', '.join(c.matrix_flops_per_s)}", key_path="compute.matrix_flops_per_s")
    vectors = c.vector_flops_per_s
    vec = vectors.get("fp32") or vectors.get(dtype) or next(iter(vectors.values()))
    rates = {"matrix": c.matrix_flops_per_s[dtype], "vector": vec}
    if c.sfu_ops_per_s:
        rates["sfu"] = c.sfu_ops_per_s
    latency: dict[str, float] = {}
    e_vec = c.vector_energy_j_per_flop
    energy = {"mac": 2 * c.matrix_energy_j_per_flop.get(dtype, 0.0), "flop": e_vec, "add": e_vec, "max": e_vec,
              "exp": e_vec, "divide": e_vec}
    for name, level in device.memory.items():
        rates[f"mem:{name}"] = level.bandwidth_bytes_per_s
        latency[f"mem:{name}"] = level.latency_s or 0.0
        energy[f"{name}_read_bytes"] = level.read_energy_j_per_byte
        energy[f"{name}_write_bytes"] = level.write_energy
    names = list(device.memory)
    onchip = names[-1] if len(names) > 1 else names[0]
    level = device.memory[onchip]
    extra: dict[str, float] = {}
    if len(names) >= 3:
        mid = device.memory[names[1]]
        extra["mid_capacity_bytes"] = mid.capacity_bytes * mid.instances
    gpu = getattr(device, "gpu", None)
    extra["parallel_units"] = float(gpu.sm_count) if gpu is not None else 1.0
    kw: dict[str, int | None] = {}
    if isinstance(device, AcceleratorDevice):
        a = device.accelerator
        rates["2d"] = a.pe_rows * a.pe_cols * a.macs_per_pe_per_cycle * device.clock_hz
        rates["1d"] = a.vector_pes * device.clock_hz
        kw = {"pe_rows": a.pe_rows, "pe_cols": a.pe_cols, "vector_pes": a.vector_pes}
    return Target(device.name, device.family, dtype, device.clock_hz, rates, latency, names[0], onchip,
                  level.capacity_bytes, energy, device.static_power_w, extra=extra, **kw)  # type: ignore[arg-type]
