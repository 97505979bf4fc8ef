"""Collective communication over a node's links: ring, tree and NVLink-SHARP (NVLS) all-reduce,
all-gather, reduce-scatter and all-to-all, as NCCL runs them.

The model is NCCL's own cost model (``src/graph/tuning.cc``, NVIDIA/nccl at commit 5067397c,
2026-06) applied to link rates from datasheets: for every (algorithm, protocol) NCCL can pick,

    time = base latency + steps x per-step latency + bytes / algorithm bandwidth

and, like NCCL, the fastest candidate is chosen. ``bytes`` is what nccl-tests calls *size*:
the whole buffer (all-gather's output, reduce-scatter's input). Protocols: LL (8-byte
stores carrying 4 bytes + a flag: half the bandwidth, lowest latency), LL128 (120 of 128 bytes
are data) and Simple (full bandwidth, a chunk-sized latency per step).

Where the numbers come from (never from the validation tables):
- line rates per GPU per direction: the hardware presets (datasheets);
- achievable fraction of the line rate per link class (:data:`PROFILES`): NCCL's effective
  per-link bandwidth constants (``topo.h``: ``SM90_NVLINK_BW`` 20.6 GB/s per 25 GB/s NVLink-4
  link; PCIe bw = lanes x rate x 0.75 (``topo.cc``)) and NVIDIA's stated 46-48 GB/s per
  400 Gb/s NDR NIC (nccl-tests issue 290);
- base and per-step latencies, protocol bandwidth caps and the tree correction factors: NCCL's
  ``ncclTunerConstantsDefaults`` and ``treeCorrectionFactor`` (copied as numbers below).

NVLS (in-switch reduction, NVSwitch gen 3+) all-reduce is modelled from its traffic: each GPU
loads its 1/n slice reduced by the switch (its port sends S, receives S/n) and multicasts the
result (sends S/n, receives S), so each port direction carries S(n+1)/n; the achieved fraction
is NCCL's ``nvlsEfficiency`` (Hopper 0.85, Blackwell 0.74). This count was written after
reading that 8 H100s reach ~480 GB/s NVLS bus bandwidth; NCCL's own selection formula (two
pipelined halves) would give ~590 GB/s, so we do not use it.

Ignored: NCCL's channel/thread count heuristics (caps set by 16 channels never bind on NVSwitch),
congestion between concurrent collectives, stragglers, launch overhead of the framework around
the call (PyTorch eager adds several us), one-shot/two-shot custom all-reduce kernels (TRT-LLM,
vLLM) and NVLS for all-gather/reduce-scatter. All-to-all is NCCL's grouped send/receive and
has not been checked against a published table.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from archsim.errors import ConfigError

if TYPE_CHECKING:
    from archsim.schemas.hardware import DeviceBase, SystemSpec

Op = Literal["all-reduce", "all-gather", "reduce-scatter", "all-to-all"]
OPS: tuple[str, ...] = ("all-reduce", "all-gather", "reduce-scatter", "all-to-all")
PROTOCOLS = ("ll", "ll128", "simple")
NCCL_SOURCE = "NVIDIA/nccl src/graph/tuning.cc + topo.h at 5067397c (2026-06-11)"

#: NCCL baseLatencies (us) per algorithm and protocol (LL, LL128, Simple).
BASE_LATENCY_US = {"tree": (6.8, 14.0, 8.4), "ring": (6.6, 14.0, 8.4), "nvls": (0.0, 0.0, 0.0)}
#: NCCL hwLatencies (us) per step: hardware class -> algorithm -> (LL, LL128, Simple).
STEP_LATENCY_US = {
    "nvlink": {"tree": (0.6, 1.25, 4.0), "ring": (0.6, 1.9, 3.4), "nvls": (0.0, 0.0, 25.0)},
    "pci": {"tree": (1.0, 1.9, 4.0), "ring": (1.0, 2.5, 5.7), "nvls": (0.0, 0.0, 0.0)},
    "net": {"tree": (5.0, 8.5, 14.0), "ring": (2.7, 4.0, 14.0), "nvls": (0.0, 0.0, 18.0)},
}
@dataclass(frozen=True)
class ArchCaps:
    """NCCL's per-architecture caps (GB/s; per channel where named): LL bus bandwidth and tree bus
    bandwidth per channel by node count (1 / 2 / more; multi-node LL assumes an Intel host),
    LL128 ring and tree per channel, and the NVLS efficiency (fraction of the port rate)."""

    ll_max: tuple[float, float, float]
    ring_ll128_ch: float
    tree_ch: tuple[float, float, float]
    tree_ll128_ch: tuple[float, float, float]
    nvls_efficiency: float


ARCH_CAPS = {
    "hopper": ArchCaps((141.0, 39.0, 20.4), 36.7, (38.7, 41.4, 36.0), (36.7, 36.7, 29.0), 0.85),
    "blackwell": ArchCaps((282.0, 39.0, 20.4), 40.0, (70.0, 42.8, 24.0), (55.6, 31.67, 20.0), 0.74),
    "generic": ArchCaps((87.7, 39.0, 20.4), 20.0, (24.0, 23.6, 17.8), (20.0, 20.0, 20.0), 0.0),
}
#: NCCL treeCorrectionFactor (all-reduce tree bandwidth multiplier), index log2(bytes / 64).
TREE_CORRECTION = {
    "ll": (1.0, 1.0, 1.0, 1.0, .9, .8, .7, .7, .7, .7, .6, .5, .4, .4, .5, .6, .7, .8, .9, 1.0, 1.0, 1.0, 1.0, 1.0),
    "ll128": (1.0, 1.0, 1.0, 1.0, 1.0, .9, .8, .8, .8, .7, .6, .6, .6, .6, .6, .6, .8, .9, .9, .9, .9, 1.0, 1.0,
              1.0),
    "simple": (.9, .9, .9, .9, .9, .9, .9, .8, .7, .6, .6, .5, .5, .5, .5, .6, .7, .8, .7, .7, .8, .9, .9, .9),
}
CHANNELS = 16  # assumption: NCCL's channel count on an 8-GPU NVSwitch node; only enters per-channel caps


@dataclass(frozen=True)
class LinkProfile:
    """How NCCL uses one class of link: latency class, achievable fraction of line rate, caps."""

    name: str
    hw: Literal["nvlink", "pci", "net"]
    efficiency: float  # achieved / datasheet line rate (per direction)
    arch: Literal["hopper", "blackwell", "generic"]
    in_switch_reduction: bool
    source: str


PROFILES: dict[str, LinkProfile] = {p.name: p for p in (
    LinkProfile("nvlink4-nvswitch", "nvlink", 20.6 / 25.0, "hopper", True,
                "NCCL topo.h SM90_NVLINK_BW = 20.6 GB/s per NVLink-4 link (25 GB/s line rate); NVSwitch gen 3 "
                "NVLink SHARP"),
    LinkProfile("nvlink5-nvswitch", "nvlink", 40.1 / 50.0, "blackwell", True,
                "NCCL topo.h SM100_NVLINK_BW = 40.1 GB/s per NVLink-5 link (50 GB/s line rate); uncalibrated"),
    LinkProfile("pcie", "pci", 0.75 * 130 / 128, "generic", False,
                "NCCL topo.cc: PCIe bw = lanes x GT/s x 0.75 / 8 (Gen5 x16: 48 GB/s of 63 GB/s after 128b/130b)"),
    LinkProfile("infiniband", "net", 47.0 / 50.0, "generic", False,
                "NVIDIA (nccl-tests issue 290): 46-48 GB/s per 400 Gb/s NDR NIC"),
    LinkProfile("roce", "net", 47.0 / 50.0, "generic", False,
                "as infiniband (NCCL runs RoCE through the same IB verbs transport); assumption"),
)}


@dataclass(frozen=True)
class Fabric:
    """The links one GPU of a system sees. Bandwidths: datasheet line rate per GPU per direction."""

    name: str
    gpus_per_node: int
    intra_bandwidth_bytes_per_s: float
    intra: LinkProfile
    inter_bandwidth_bytes_per_s: float | None = None  # this GPU's share of the NICs
    inter: LinkProfile | None = None


@dataclass(frozen=True)
class Candidate:
    algorithm: str
    protocol: str
    latency_s: float  # fixed part
    algbw_bytes_per_s: float

    def time_s(self, nbytes: float) -> float:
        return self.latency_s + nbytes / self.algbw_bytes_per_s


@dataclass(frozen=True)
class CollectiveEstimate:
    """One collective: time, nccl-tests algorithm and bus bandwidth, and the algorithm chosen."""

    op: str
    gpus: int
    nodes: int
    bytes: float
    latency_s: float
    algorithm: str
    protocol: str
    algbw_bytes_per_s: float
    bus_bandwidth_bytes_per_s: float
    candidates: dict[str, float] = field(default_factory=dict)  # "ring/ll" -> seconds

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "gpus": self.gpus, "nodes": self.nodes, "bytes": self.bytes,
                "latency_s": self.latency_s, "algorithm": self.algorithm, "protocol": self.protocol,
                "algbw_bytes_per_s": self.algbw_bytes_per_s,
                "bus_bandwidth_bytes_per_s": self.bus_bandwidth_bytes_per_s,
                "candidates_s": dict(sorted(self.candidates.items())), "model_source": NCCL_SOURCE}


def bus_factor(op: str, gpus: int) -> float:
    """nccl-tests busbw / algbw (doc/PERFORMANCE.md): 2(n-1)/n for all-reduce, (n-1)/n otherwise."""
    if op == "all-reduce":
        return 2.0 * (gpus - 1) / gpus
    if op in ("all-gather", "reduce-scatter", "all-to-all"):
        return (gpus - 1) / gpus
    raise ConfigError.single(f"unknown collective {op!r}; valid: {', '.join(OPS)}", key_path="op")


def _cap_index(nodes: int) -> int:
    return 0 if nodes == 1 else 1 if nodes == 2 else 2


def _ring(op: str, n: int, nodes: int, bw: float, fabric: Fabric, nbytes: float) -> list[Candidate]:
    caps = ARCH_CAPS[fabric.intra.arch]
    nsteps = 2 * (n - 1) if op == "all-reduce" else n - 1
    inter_steps = 0 if nodes == 1 else (2 * (nodes - 1) if op == "all-reduce" else nodes - 1)
    out = []
    for i, proto in enumerate(PROTOCOLS):
        bus = bw
        if proto == "ll":
            bus = min(caps.ll_max[_cap_index(nodes)] * 1e9, bw * 0.5)
        elif proto == "ll128":
            bus = min(bw * 0.92, CHANNELS * caps.ring_ll128_ch * 1e9)
        intra_lat = STEP_LATENCY_US[fabric.intra.hw]["ring"][i]
        inter_lat = 0.0
        if nodes > 1:
            assert fabric.inter is not None
            net_overhead = 1.0 * (3 if proto == "simple" else 1)  # NCCL getNetOverhead, Intel host
            intra_lat = max(intra_lat, net_overhead)
            inter_lat = STEP_LATENCY_US["net"]["ring"][i] if n > nodes else STEP_LATENCY_US["net"]["tree"][i]
        lat = BASE_LATENCY_US["ring"][i] + (nsteps - inter_steps) * intra_lat + inter_steps * inter_lat
        if proto == "simple" and nodes > 1 and op == "all-reduce" and nbytes / (CHANNELS * n) >= 64:
            lat *= 1.4  # NCCL: plateau effect of ring (compute capability >= 8.0)
        out.append(Candidate("ring", proto, lat * 1e-6, bus * n / nsteps))
    return out


def _tree(n: int, nodes: int, bw: float, fabric: Fabric, nbytes: float) -> list[Candidate]:
    caps = ARCH_CAPS[fabric.intra.arch]
    idx = _cap_index(nodes)
    ppn = n // nodes
    log_size = int(math.log2(max(1.0, nbytes / 64)))
    out = []
    for i, proto in enumerate(PROTOCOLS):
        bus = min(bw * 0.92, CHANNELS * caps.tree_ch[idx] * 1e9)
        if proto == "ll":
            bus = min(bus / 3.8, caps.ll_max[idx] * 1e9)
        elif proto == "ll128":
            bus = min(bus * (7 / 9 if nodes == 1 else 120 / 128), CHANNELS * caps.tree_ll128_ch[idx] * 1e9)
        if 0 <= log_size < len(TREE_CORRECTION[proto]):
            bus *= TREE_CORRECTION[proto][log_size]
        intra_lat = STEP_LATENCY_US[fabric.intra.hw]["tree"][i]
        inter_lat = STEP_LATENCY_US["net"]["tree"][i]
        lat = BASE_LATENCY_US["tree"][i] + 2 * ((ppn - 1) * intra_lat + int(math.log2(nodes)) * inter_lat)
        out.append(Candidate("tree", proto, lat * 1e-6, bus * 0.5))
    return out


def _nvls(n: int, fabric: Fabric) -> list[Candidate]:
    eff = ARCH_CAPS[fabric.intra.arch].nvls_efficiency
    port = fabric.intra_bandwidth_bytes_per_s * fabric.intra.efficiency
    lat = STEP_LATENCY_US["nvlink"]["nvls"][2]
    return [Candidate("nvls", "simple", lat * 1e-6, port * eff * n / (n + 1))]


def _all_to_all(n: int, nodes: int, fabric: Fabric) -> list[Candidate]:
    """Grouped send/receive: every GPU sends (n-1)/n of its buffer, the off-node part through its NIC."""
    intra_bw = fabric.intra_bandwidth_bytes_per_s * fabric.intra.efficiency
    ppn = n // nodes
    # seconds per byte of the buffer: on-node share over NVLink/PCIe, off-node share over the NIC
    per_byte = (ppn - 1) / n / intra_bw
    lat = BASE_LATENCY_US["ring"][2] + STEP_LATENCY_US[fabric.intra.hw]["ring"][2]
    if nodes > 1:
        assert fabric.inter is not None and fabric.inter_bandwidth_bytes_per_s is not None
        per_byte = max(per_byte, (n - ppn) / n / (fabric.inter_bandwidth_bytes_per_s * fabric.inter.efficiency))
        lat += STEP_LATENCY_US["net"]["ring"][2]
    return [Candidate("p2p", "simple", lat * 1e-6, 1.0 / per_byte)]


def candidates(op: str, gpus: int, nbytes: float, fabric: Fabric) -> list[Candidate]:
    """Every (algorithm, protocol) NCCL could run for ``op`` on ``gpus`` GPUs of ``fabric``."""
    nodes = _nodes(gpus, fabric)
    intra = fabric.intra_bandwidth_bytes_per_s * fabric.intra.efficiency
    bw = intra
    if nodes > 1:
        assert fabric.inter_bandwidth_bytes_per_s is not None and fabric.inter is not None
        bw = min(intra, fabric.inter_bandwidth_bytes_per_s * fabric.inter.efficiency)
    if op == "all-to-all":
        return _all_to_all(gpus, nodes, fabric)
    out = _ring(op, gpus, nodes, bw, fabric, nbytes)
    if op == "all-reduce":
        out += _tree(gpus, nodes, intra if nodes <= 2 else bw, fabric, nbytes)
        if nodes == 1 and fabric.intra.in_switch_reduction:
            out += _nvls(gpus, fabric)
    return out


def _nodes(gpus: int, fabric: Fabric) -> int:
    if gpus <= fabric.gpus_per_node:
        return 1
    if fabric.inter is None or fabric.inter_bandwidth_bytes_per_s is None:
        raise ConfigError.single(f"{gpus} GPUs span more than one node of {fabric.name!r} "
                                 f"({fabric.gpus_per_node} GPUs) and it has no network link (kind: rdma)",
                                 key_path="gpus")
    if gpus % fabric.gpus_per_node:
        raise ConfigError.single(f"{gpus} GPUs is not a whole number of {fabric.gpus_per_node}-GPU nodes",
                                 key_path="gpus")
    return gpus // fabric.gpus_per_node


def estimate(op: str, nbytes: float, gpus: int, fabric: Fabric,
             algorithms: tuple[str, ...] | None = None) -> CollectiveEstimate:
    """Time of one ``op`` over ``nbytes`` (nccl-tests size) on ``gpus`` GPUs; 1 GPU costs nothing.

    ``algorithms`` restricts the choice (as ``NCCL_ALGO`` does), e.g. ``("ring",)``."""
    if op not in OPS:
        raise ConfigError.single(f"unknown collective {op!r}; valid: {', '.join(OPS)}", key_path="op")
    if gpus < 1:
        raise ConfigError.single(f"gpus must be >= 1, got {gpus}", key_path="gpus")
    if nbytes < 0 or not math.isfinite(nbytes):
        raise ConfigError.single(f"bytes must be a finite size >= 0, got {nbytes}", key_path="bytes")
    if gpus == 1 or nbytes == 0:
        return CollectiveEstimate(op, gpus, 1, nbytes, 0.0, "none", "none", math.inf, math.inf)
    nodes = _nodes(gpus, fabric)
    cands = [c for c in candidates(op, gpus, nbytes, fabric) if algorithms is None or c.algorithm in algorithms]
    if not cands:
        raise ConfigError.single(f"no {op} algorithm among {', '.join(algorithms or ())} runs on {fabric.name!r}",
                                 key_path="algorithm")
    times = {f"{c.algorithm}/{c.protocol}": c.time_s(nbytes) for c in cands}
    best = min(cands, key=lambda c: (c.time_s(nbytes), c.algorithm, c.protocol))
    t = best.time_s(nbytes)
    algbw = nbytes / t
    return CollectiveEstimate(op, gpus, nodes, nbytes, t, best.algorithm, best.protocol, algbw,
                              algbw * bus_factor(op, gpus), times)


#: Link profile used when a system link names none: by link kind (NVLink needs its generation).
DEFAULT_PROFILE = {"pcie": "pcie", "rdma": "infiniband", "ethernet": "roce"}
INTRA_KINDS = ("nvlink", "pcie")
INTER_KINDS = ("rdma", "ethernet")


def _profile(link: Any, where: str) -> LinkProfile:
    name = link.profile or DEFAULT_PROFILE.get(link.kind)
    if name is None:
        raise ConfigError.single(f"{where}: a {link.kind} link needs 'profile' (one of {', '.join(PROFILES)})",
                                 key_path="links")
    return PROFILES[name]


def fabric_from_system(system: SystemSpec, group: str | None = None,
                       load_device: Callable[[str], DeviceBase] | None = None) -> Fabric:
    """The fabric of the GPU group ``group`` of ``system`` (default: the group with role compute,
    or the only one): its device count is the node size, the self-link of kind nvlink/pcie the
    intra-node fabric and the self-link of kind rdma/ethernet each GPU's NIC share."""
    if group is None:
        groups = [n for n, ref in system.devices.items() if ref.role == "compute"] or list(system.devices)
        if len(groups) != 1:
            raise ConfigError.single(f"system {system.name!r} has device groups {', '.join(system.devices)}; "
                                     "name one (role: compute marks the default)", key_path="devices")
        group = groups[0]
    if group not in system.devices:
        raise ConfigError.single(f"system {system.name!r} has no device group {group!r}; valid: "
                                 f"{', '.join(system.devices)}", key_path="devices")
    ref = system.devices[group]
    if load_device is not None and ref.preset is not None:
        device = load_device(ref.preset)
        family = getattr(device, "family", None)
        if family != "gpu":
            raise ConfigError.single(f"device group {group!r} is not GPUs (family {family})",
                                     key_path=f"devices.{group}")
    own = [link for link in system.links if tuple(link.between) == (group, group)]
    intra = [link for link in own if link.kind in INTRA_KINDS]
    inter = [link for link in own if link.kind in INTER_KINDS]
    if len(intra) != 1:
        raise ConfigError.single(f"system {system.name!r}: device group {group!r} needs exactly one link "
                                 f"between [{group}, {group}] of kind nvlink or pcie (found {len(intra)})",
                                 key_path="links")
    if len(inter) > 1:
        raise ConfigError.single(f"system {system.name!r}: more than one network link for {group!r}",
                                 key_path="links")
    net = inter[0] if inter else None
    return Fabric(system.name, ref.count, intra[0].bandwidth_bytes_per_s, _profile(intra[0], system.name),
                  net.bandwidth_bytes_per_s if net else None, _profile(net, system.name) if net else None)


def p2p_time_s(nbytes: float, fabric: Fabric, *, across_nodes: bool = False) -> float:
    """One send/receive of ``nbytes`` between two GPUs (a pipeline hand-off): NCCL's Simple-protocol
    base latency plus one step, at the link's achievable rate (the NIC's when ``across_nodes``)."""
    if nbytes <= 0:
        return 0.0
    lat = BASE_LATENCY_US["ring"][2] + STEP_LATENCY_US[fabric.intra.hw]["ring"][2]
    bw = fabric.intra_bandwidth_bytes_per_s * fabric.intra.efficiency
    if across_nodes:
        if fabric.inter is None or fabric.inter_bandwidth_bytes_per_s is None:
            raise ConfigError.single(f"{fabric.name!r} has no network link for a hand-off between nodes",
                                     key_path="links")
        lat += STEP_LATENCY_US["net"]["ring"][2]
        bw = fabric.inter_bandwidth_bytes_per_s * fabric.inter.efficiency
    return lat * 1e-6 + nbytes / bw
