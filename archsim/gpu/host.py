"""Host dispatch: the CPU time to launch a step's kernels, eager or by CUDA-graph replay, and the
wall time of the step when host and GPU overlap.

Eager mode: Python and PyTorch's dispatcher spend host time per operator before each kernel
reaches the GPU queue. The GPU runs kernel ``i`` once it was issued and kernel ``i - 1`` ended:
``start_i = max(issue_i, end_{i-1} + gap)``, ``issue_i`` = the cumulative host time up to kernel
``i``. Wall time = end of the last kernel (the host's return before that is hidden; after it,
the sync). So a stretch of short kernels is host-bound and a long GEMM hides the host behind it
— wall = max(host, GPU) per stretch, with the kernel each stretch stalls on.

Graph replay: one ``cudaGraphLaunch`` (host time ~ fixed + per node), then the GPU runs the
nodes back to back with a small per-node gap: wall = launch + sum(kernel + gap).

Host time per step, from microbenchmarks only (``campaigns/wm_micro.py``, never the whole models):
- per stack with a tiny-width calibration model (hidden 256; same operators and kernels per
  layer as the validation models, GPU time negligible): host(L layers) = fixed + L x per_layer
  from the 1- and 3-layer timings (``model:<stack>:<phase>:L1|L3`` rows);
- otherwise per kernel by operator kind (``add``, ``linear``, ``sdpa_flash`` ... rows: host seconds
  per call of a loop of tiny calls).
Graph per-node gap: per-node GPU time of a 200-node graph of tiny adds minus the warm duration of
that add (the glue curve's floor). Ignored: host jitter (the machine's eager timings varied 2x
between calls), the caching allocator's occasional cudaMalloc, CPU frequency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from archsim.data import read_csv_rows
from archsim.errors import ConfigError

REQUIRED = ("op", "mode", "kernels_per_call", "host_us_per_call", "wall_us_per_call", "graph_nodes")
#: kernel category -> the microbenchmarked operator whose host cost stands for it
KIND_OF_CATEGORY = {"gemm": "linear", "attention": "sdpa_flash", "norm": "add", "rotary": "add",
                    "elementwise": "add", "copy": "cat"}


@dataclass(frozen=True)
class HostModel:
    """Host costs of one machine (seconds). ``per_kernel``: eager host s per call by operator kind;
    ``stack_layer``: (stack, phase) -> (fixed s, s per layer) eager; ``graph_*``: replay costs."""

    source: str
    per_kernel: dict[str, float]
    stack_layer: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    graph_launch_s: float = 0.0
    graph_host_per_node_s: float = 0.0
    graph_gap_s: float = 0.0

    def eager_host_s(self, stack: str, phase: str, layers: int, categories: list[str]) -> float:
        """Host time of one eager step: per-layer calibration if the stack has one, else per kernel."""
        if (stack, phase) in self.stack_layer:
            fixed, per_layer = self.stack_layer[(stack, phase)]
            return fixed + layers * per_layer
        return sum(self.per_kernel[KIND_OF_CATEGORY[c]] for c in categories)

    def graph_host_s(self, nodes: int) -> float:
        return self.graph_launch_s + nodes * self.graph_host_per_node_s


def eager_wall_s(kernel_s: list[float], host_s: float, gap_s: float) -> float:
    """Wall time of an eager step: host time spread evenly over the kernels, max-plus overlap."""
    if not kernel_s:
        return host_s
    per = host_s / len(kernel_s)
    end = 0.0
    for i, k in enumerate(kernel_s):
        issue = (i + 1) * per
        end = max(issue, end + (gap_s if i else 0.0)) + k
    return max(end, host_s)


def graph_wall_s(kernel_s: list[float], model: HostModel) -> float:
    """Wall time of one graph replay: launch, then the nodes back to back with the per-node gap."""
    return model.graph_host_s(len(kernel_s)) + sum(kernel_s) + model.graph_gap_s * len(kernel_s)


def load_host(path: str | Path, warm_floor_s: float) -> HostModel:
    """Build a :class:`HostModel` from a ``wm-host`` microbenchmark CSV; ``warm_floor_s``: the warm
    duration of a tiny elementwise kernel (glue ``vec`` curve floor) to separate the graph gap."""
    path = Path(path)
    rows = read_csv_rows(path, REQUIRED, "host microbenchmark CSV")
    per_kernel: dict[str, float] = {}
    tiny: dict[tuple[str, str, int, str], float] = {}
    graph: dict[int, tuple[float, float]] = {}
    for i, r in enumerate(rows, start=2):
        try:
            host = float(r["host_us_per_call"]) * 1e-6
            op, mode = r["op"], r["mode"]
            if op.startswith("model:"):
                _, stack, phase, lay = op.split(":")
                tiny[(stack, phase, int(lay[1:]), mode)] = host
            elif mode == "eager":
                per_kernel[op] = host / max(1.0, float(r["kernels_per_call"]))
            elif op == "add_inplace" and mode == "graph":
                graph[int(r["graph_nodes"])] = (host, float(r["wall_us_per_call"]) * 1e-6)
        except ValueError:
            raise ConfigError.single(f"{path}:{i}: malformed host microbenchmark row", file=str(path),
                                     line=i) from None
    need = sorted(set(KIND_OF_CATEGORY.values()) - set(per_kernel))
    if need or len(graph) < 2:
        raise ConfigError.single(f"{path}: host microbenchmarks missing: {', '.join(need) or 'graph replays'}",
                                 file=str(path))
    stack_layer = {}
    for (stack, phase, lay, mode), t1 in tiny.items():
        t3 = tiny.get((stack, phase, 3, mode))
        if lay == 1 and mode == "eager" and t3 is not None:
            per_layer = (t3 - t1) / 2.0
            stack_layer[(stack, phase)] = (t1 - per_layer, per_layer)
    (n0, (h0, _)), (n1, (h1, g1)) = sorted(graph.items())[0], sorted(graph.items())[-1]
    per_node_host = (h1 * n1 - h0 * n0) / (n1 - n0)
    return HostModel(source=str(path), per_kernel=per_kernel, stack_layer=stack_layer,
                     graph_launch_s=max(0.0, h0 * n0 - per_node_host * n0), graph_host_per_node_s=per_node_host,
                     graph_gap_s=max(0.0, g1 - warm_floor_s))
