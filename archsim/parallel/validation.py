"""The collective model against published tables (``archsim/data/papers/collectives-published.csv``).

Each row is one published figure: an nccl-tests bus bandwidth or a timed call (nccl-tests,
vLLM's pynccl benchmark, torch.distributed). We predict it with :func:`archsim.collectives.estimate`
on the named hardware preset, restricted to the algorithm the source forced (``NCCL_ALGO``) or
free (``auto``), and report theirs / ours / ratio. Nothing here feeds back into the model.
Rows marked ``outlier`` are shown but left out of the error, with the reason in ``note``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources

from archsim import presets
from archsim.collectives import Fabric, estimate, fabric_from_system

DATA = "data/papers/collectives-published.csv"
SOURCES = {
    "nccl-1455": "NVIDIA/nccl issue 1455 (2024-09): 8x H100 SXM, NCCL_ALGO=RING/NVLS, 2-4 GB "
                 "https://github.com/NVIDIA/nccl/issues/1455",
    "nccl-tests-290": "NVIDIA/nccl-tests issue 290 (2025-03), NVIDIA comment "
                      "https://github.com/NVIDIA/nccl-tests/issues/290",
    "voltage-park": "Voltage Park / AI@Georgia Tech H100 cluster benchmark suite (NCCL 2.24.3) "
                    "https://git.onestrm.cn/aigatech/vpbenchmarking",
    "nccl-tests-212": "NVIDIA/nccl-tests issue 212 (2024-05), NVIDIA comment "
                      "https://github.com/NVIDIA/nccl-tests/issues/212",
    "triton-distributed-57": "ByteDance-Seed/Triton-distributed issue 57 (2025-07), NCCL column "
                             "https://github.com/ByteDance-Seed/Triton-distributed/issues/57",
    "vllm-24111": "vllm-project/vllm PR 24111 (2025-09), H100 pynccl column "
                  "https://github.com/vllm-project/vllm/pull/24111",
    "vllm-24532": "vllm-project/vllm PR 24532 (2025-09), H100 pynccl column "
                  "https://github.com/vllm-project/vllm/pull/24532",
    "deepep-303": "deepseek-ai/DeepEP issue 303 (2025), nccl-tests all_reduce_perf on 8x H20 "
                  "https://github.com/deepseek-ai/DeepEP/issues/303",
}


@dataclass(frozen=True)
class Comparison:
    source: str
    hardware: str
    op: str
    gpus: int
    bytes: float
    algorithm: str  # forced by the source, or auto
    metric: str  # busbw_GBps | time_us
    theirs: float
    ours: float
    ours_algorithm: str
    use: str  # default | forced | outlier
    timing: str
    note: str

    @property
    def ratio(self) -> float:
        """ours / theirs."""
        return self.ours / self.theirs

    @property
    def abs_pct_error(self) -> float:
        return abs(self.ours - self.theirs) / self.theirs * 100.0


def load_rows() -> list[dict[str, str]]:
    with resources.files("archsim").joinpath(DATA).open() as fh:
        return list(csv.DictReader(fh))


def _fabric(name: str, cache: dict[str, Fabric]) -> Fabric:
    if name not in cache:
        cache[name] = fabric_from_system(presets.load_hardware(name), load_device=presets.load_hardware)
    return cache[name]


def compare() -> list[Comparison]:
    """Every published row next to the model's prediction."""
    fabrics: dict[str, Fabric] = {}
    out = []
    for row in load_rows():
        fabric = _fabric(row["hardware"], fabrics)
        forced = None if row["algorithm"] == "auto" else (row["algorithm"],)
        est = estimate(row["op"], float(row["bytes"]), int(row["gpus"]), fabric, algorithms=forced)
        ours = est.bus_bandwidth_bytes_per_s / 1e9 if row["metric"] == "busbw_GBps" else est.latency_s * 1e6
        out.append(Comparison(row["source"], row["hardware"], row["op"], int(row["gpus"]), float(row["bytes"]),
                              row["algorithm"], row["metric"], float(row["value"]), ours,
                              f"{est.algorithm}/{est.protocol}", row["use"], row["timing"], row["note"]))
    return out


def mape(rows: list[Comparison], *, lo_bytes: float = 0.0, hi_bytes: float = float("inf"),
         uses: tuple[str, ...] = ("default", "forced")) -> float:
    """Mean absolute percentage error over rows in a size range, outliers excluded."""
    sel = [r for r in rows if r.use in uses and lo_bytes <= r.bytes <= hi_bytes]
    return sum(r.abs_pct_error for r in sel) / len(sel) if sel else float("nan")
