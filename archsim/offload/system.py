"""Build a :class:`ServingConfig` from a ``system`` hardware YAML (devices with roles + links)."""

from __future__ import annotations

from archsim import presets
from archsim.collectives import DEFAULT_PROFILE
from archsim.errors import ConfigError
from archsim.offload.serving import LinkSpec, ServingConfig
from archsim.schemas.hardware import DeviceBase, SystemSpec


def _device(system: SystemSpec, name: str) -> DeviceBase:
    ref = system.devices[name]
    return ref.device if ref.device is not None else presets.load_hardware(ref.preset)  # type: ignore[arg-type]


def config_from_system(system: SystemSpec, micro_batches: int = 2) -> ServingConfig:
    """Roles: exactly one device group with role 'compute'; optionally one with role 'attention'."""
    by_role = {ref.role: name for name, ref in system.devices.items()}
    if "compute" not in by_role:
        raise ConfigError.single(f"system {system.name!r} needs a device with role: compute "
                                 f"(roles found: {', '.join(sorted(by_role)) or 'none'})", key_path="devices")
    compute_name = by_role["compute"]
    attention_name = by_role.get("attention")
    links: dict[frozenset[str], LinkSpec] = {}
    for link in system.links:
        if link.kind in ("rdma", "ethernet") and link.between[0] == link.between[1]:
            continue  # a group's own NICs (scale-out); its tensor-parallel link is the nvlink/pcie one
        links[frozenset(link.between)] = LinkSpec(link.bandwidth_bytes_per_s, link.latency_s, link.kind,
                                                  link.profile or DEFAULT_PROFILE.get(link.kind, "nvlink4-nvswitch"))
    compute_link = links.get(frozenset([compute_name]), LinkSpec(float("inf"), 0.0, "none"))
    if attention_name is None:
        return ServingConfig(system.name, "homogeneous", _device(system, compute_name),
                             system.devices[compute_name].count, compute_link, micro_batches=1)
    offload = links.get(frozenset([compute_name, attention_name]))
    if offload is None:
        raise ConfigError.single(f"system {system.name!r} has no link between {compute_name!r} and "
                                 f"{attention_name!r}", key_path="links")
    return ServingConfig(system.name, "attention_offload", _device(system, compute_name),
                         system.devices[compute_name].count, compute_link, _device(system, attention_name),
                         system.devices[attention_name].count, offload, micro_batches=micro_batches)
