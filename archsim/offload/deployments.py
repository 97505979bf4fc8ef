"""Deployments the Lamina studies compare: link presets, homogeneous tensor-parallel groups and attention-offloaded
systems as :class:`archsim.offload.serving.ServingConfig` (shared by :mod:`archsim.offload.lamina`, steady state,
and :mod:`archsim.offload.under_load`, on the serving simulator)."""

from __future__ import annotations

from archsim.offload.serving import LinkSpec, ServingConfig
from archsim.schemas.hardware import DeviceBase

#: Link presets: per-port bandwidth per direction and one-way latency.
LINKS = {
    # NVLink 4 on H100 SXM: 900 GB/s total bidirectional per GPU (H100 datasheet) -> 450 GB/s per direction
    "nvlink4": LinkSpec(450e9, 1e-6, "nvlink4"),
    # Ethernet/RDMA NICs: line rate per direction (IEEE 802.3 rates; ConnectX-7 offers 400 Gb/s)
    "eth100g": LinkSpec(100e9 / 8, 10e-6, "eth100g"),
    "eth200g": LinkSpec(200e9 / 8, 8e-6, "eth200g"),
    "rdma400g": LinkSpec(400e9 / 8, 5e-6, "rdma400g"),
    # PCIe 5.0 x16: 32 GT/s x 16 lanes, 128b/130b -> ~63 GB/s per direction (PCI-SIG spec)
    "pcie5x16": LinkSpec(63e9, 2e-6, "pcie5x16"),
}


def homogeneous(device: DeviceBase, n: int) -> ServingConfig:
    """``n`` copies of ``device`` in tensor parallelism over NVLink 4, attention on the same GPUs."""
    return ServingConfig(f"{device.name}x{n}", "homogeneous", device, n, LINKS["nvlink4"], micro_batches=1)


def offloaded(compute: DeviceBase, n_c: int, memory: DeviceBase, n_m: int, link: str = "rdma400g",
              micro_batches: int = 2) -> ServingConfig:
    """``n_c`` compute devices (tensor parallel over NVLink 4) and ``n_m`` attention devices joined by ``link``
    (a :data:`LINKS` name, per memory-device port), ``micro_batches`` staggered pipelines."""
    return ServingConfig(f"{compute.name}x{n_c}+{memory.name}x{n_m}@{link}", "attention_offload", compute, n_c,
                         LINKS["nvlink4"], memory, n_m, LINKS[link], micro_batches=micro_batches)
