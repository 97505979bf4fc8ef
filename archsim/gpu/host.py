"""Host dispatch: the CPU time to launch a step's kernels, eager or by CUDA-graph replay, and the
wall time of the step when host and GPU overlap.

Eager mode: Python and PyTorch's dispatcher spend host time per operator before each kernel
reaches the GPU queue. The GPU runs kernel ``i`` once it was issued and kernel ``i - 1`` ended:
``start_i = max(issue_i, end_{i-1} + gap)``, ``issue_i`` = the cumulative host time up to kernel
``i``. Wall time = end of the last kernel (the host's return before that is hidden; after it,
the sync). So a stretch of short kernels is host-bound and a long GEMM hides the host behind it
— wall = max(host, GPU) per stretch, with the kernel each stretch stalls on.

Graph replay: one ``cudaGraphLaunch`` (host time ~ fixed + per node), then the GPU runs the
nodes back to back with a small per-node gap: wall = launch + sum(kernel + gap) when every replay is
synchronised; in a loop of replays without synchronisation the launch of the next replay hides behind the
GPU's work on this one: wall = max(launch, sum(kernel + gap)) per replay (:func:`graph_wall_s`).

Host time per step, from microbenchmarks only (``campaigns/wm_micro.py``, ``campaigns/host_dispatch.py``,
never the whole models):
- per stack with a tiny-width calibration model (same operators and kernels per layer as the
  validation models, GPU time negligible): host(L layers) = fixed + L x per_layer, a least-squares
  line over the measured layer counts (``model:<stack>:<phase>:L<n>`` rows). :func:`with_layer_sweep`
  can swap in the ``h200-host-layers`` lines (1/2/3 layers x 4 widths, another device machine); the
  device calibration keeps the whole-model run's own two-point lines, which predict that run's eager
  walls better (plain eager wall MAPE 11.1 % vs 20.3 %: machine-to-machine host speed);
- otherwise per kernel by operator kind (``add``, ``linear``, ``sdpa_flash`` ... rows: host seconds
  per call of a loop of tiny calls), times the mixed-order factor (:func:`mixed_order_factor`):
  in a model consecutive operators differ, and the same operators cost more per call than in a
  tight loop of one (``h200-host-ops``: 1.2-1.7x by width, median 1.30).
Findings of ``h200-host-*-2026-12-01`` behind these choices: per-op and per-layer host cost does not
grow with width (64..4096: per-op and per-layer within run-to-run noise; the profiler's self CPU time
per GPT-2 token at width 64 and 1600 within 1 %, addmm +10 %; GPU kernel sum 0.2-0.3 ms of ~3 ms per
token, so no GPU time hides in "host"; 2.6 stream syncs and 12 small copies per generated token);
it grows with depth beyond the 1-3 layers of a two-point fit (GPT-2 generate
slope 0.47 ms/layer over 1-3 layers, 0.65 over 1-24); and the machine's host speed drifts 20-70 %
within one run (``generate-repeat`` rows, pure-Python probe) and between device machines, which no
microbenchmark removes: it is the floor of eager wall-time accuracy.
The interleaved sweeps of ``h200-hw-*-2026-12-01`` (``campaigns/host_width.py``: every configuration once per
round, shuffled; thread CPU time, run-queue wait and steal per call) refine this: the device machine's host
runs in two speed states, ~1.9x apart per layer (per configuration, calls at 1.0-1.2x or 1.5-2.1x its fastest),
with the host thread on its CPU in both (thread CPU time = wall; no steal, run-queue wait or involuntary
switches): the vCPU's instruction rate changes for stretches of seconds, as the pure-Python probe does
(2.7 vs 4.5-4.7 ms). Within a state, host cost is reproducible to ~3 % (25 rounds of the serving engine's
prefill), linear in depth (1..48 layers within 3-6 %) and flat in width (GPT-2 64 vs 768..1600, the serving
engine's prefill 256 vs 4096: -4..+5 %; MiniLlama decode 256 vs 4096: +7-9 %). The depth "non-linearity" and
width dependence seen before were fits across states. :class:`StateLines` keeps one line per state; the
per-layer lines of :class:`HostModel` (whole-model runs and their own same-run microbenchmarks) stay single lines.
Graph per-node gap: per-node GPU time of a 200-node graph of tiny adds minus the warm duration of
that add (the glue curve's floor). Ignored: host jitter, the caching allocator's occasional
cudaMalloc (none counted in the generate sweep), CPU frequency (the KVM guest reports a fixed 2.1 GHz).
"""

from __future__ import annotations

import math
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
    #: per-kernel host cost in a model's mixed operator order / in a tight loop (1.0: loop costs as measured)
    mixed_factor: float = 1.0

    def scaled(self, factor: float) -> HostModel:
        """The same machine with every host cost (per kernel, per layer, graph launch) x ``factor``; the GPU-side
        graph gap unchanged (a host-speed state, :class:`archsim.gpu.host_speed.HostSpeed`)."""
        from dataclasses import replace
        return replace(self, per_kernel={k: v * factor for k, v in self.per_kernel.items()},
                       stack_layer={k: (a * factor, b * factor) for k, (a, b) in self.stack_layer.items()},
                       graph_launch_s=self.graph_launch_s * factor,
                       graph_host_per_node_s=self.graph_host_per_node_s * factor)

    def eager_host_s(self, stack: str | None, phase: str, layers: int, categories: list[str]) -> float:
        """Host time of one eager step: per-layer calibration if the stack has one (``stack`` None: code
        without one), else per kernel."""
        if stack is not None and (stack, phase) in self.stack_layer:
            fixed, per_layer = self.stack_layer[(stack, phase)]
            return fixed + layers * per_layer
        return self.mixed_factor * sum(self.per_kernel[KIND_OF_CATEGORY[c]] for c in categories)

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


def graph_wall_s(kernel_s: list[float], model: HostModel, back_to_back: bool = False) -> float:
    """Wall time of one graph replay: the nodes back to back with the per-node gap, and the replay's host launch.

    ``back_to_back`` False (a synchronisation after every replay, as the whole-model campaign times each call):
    launch, then the nodes, in series. True (a loop of replays with no synchronisation between them, as the power
    campaigns' NVML windows run): the host issues replay ``i + 1`` while the GPU runs replay ``i``, so in steady
    state one replay costs the larger of its host launch and its GPU time, not their sum."""
    gpu = sum(kernel_s) + model.graph_gap_s * len(kernel_s)
    host = model.graph_host_s(len(kernel_s))
    return max(host, gpu) if back_to_back else host + gpu


def step_wall_s(kernel_s: list[float], categories: list[str], host_mode: str, model: HostModel,
                stack: str | None, phase: str, layers: int, back_to_back: bool = False) -> float:
    """Wall time of one step of kernels ``kernel_s`` (launch order; ``categories`` theirs): ``eager``
    dispatch (:meth:`HostModel.eager_host_s` with ``stack``/``phase``/``layers``, then :func:`eager_wall_s`) or
    one ``cuda-graph`` replay (:func:`graph_wall_s`). ``back_to_back``: steps in a loop without synchronisation
    (the power campaigns' NVML windows): the host issues step ``i + 1`` while the GPU runs step ``i``, so in
    steady state a step costs the larger of its host time and its GPU time (kernels plus the per-kernel GPU
    gap), eager or graph alike; False: one synchronised step (the host issues, the GPU follows)."""
    if host_mode == "eager":
        host = model.eager_host_s(stack, phase, layers, categories)
        if back_to_back:  # steady state of a loop without synchronisation: the host's queue runs ahead of the GPU
            return max(host, sum(kernel_s) + model.graph_gap_s * len(kernel_s))
        return eager_wall_s(kernel_s, host, model.graph_gap_s)
    if host_mode == "cuda-graph":
        return graph_wall_s(kernel_s, model, back_to_back)
    raise ConfigError.single(f"unknown host mode {host_mode!r}; valid: cuda-graph, eager", key_path="host")


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
    points: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for (stk, ph, n_layers, md), t in tiny.items():
        if md == "eager":
            points.setdefault((stk, ph), []).append((n_layers, t))
    stack_layer = {k: fit_per_layer(v) for k, v in points.items() if len({n for n, _ in v}) >= 2}
    (n0, (h0, _)), (n1, (h1, g1)) = sorted(graph.items())[0], sorted(graph.items())[-1]
    per_node_host = (h1 * n1 - h0 * n0) / (n1 - n0)
    return HostModel(source=str(path), per_kernel=per_kernel, stack_layer=stack_layer,
                     graph_launch_s=max(0.0, h0 * n0 - per_node_host * n0), graph_host_per_node_s=per_node_host,
                     graph_gap_s=max(0.0, g1 - warm_floor_s))


def fit_per_layer(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares ``(fixed s, s per layer)`` of host seconds vs layer count (>= 2 distinct counts)."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0.0:
        raise ValueError("per-layer fit needs two or more layer counts")
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx
    return my - slope * mx, slope


#: a call ran in the machine's slow host state when it took more than this x the fastest call of its configuration:
#: in ``h200-hw-gen-2026-12-01`` (144 interleaved generate calls) the per-configuration wall / fastest wall is
#: bimodal, 1.0-1.2 (51 calls) and 1.5-2.1 (89 calls), 4 calls in 1.3-1.5
STATE_SPLIT = 1.3


@dataclass(frozen=True)
class StateLines:
    """Host seconds of one code path, ``(fixed s, s per layer)``, in each of the device machine's two host-speed
    states (``campaigns/host_width.py``: the host thread stays on its CPU in both — thread CPU time = wall, no
    steal, no run-queue wait — but runs ~1.9x slower per layer in the slow state, like the pure-Python probe:
    the vCPU's instruction rate, not preemption). ``slow`` is None where no call of the sweep ran slow.
    :meth:`line` ``point``: the geometric mean of the two states' coefficients — with the state of a run
    unknown, the estimate whose worst-case ratio error (sqrt of the state ratio) is smallest."""

    fast: tuple[float, float]
    slow: tuple[float, float] | None
    source: str = ""

    def line(self, state: str = "point") -> tuple[float, float]:
        if state == "fast" or (self.slow is None and state == "point"):
            return self.fast
        if self.slow is None:
            raise ConfigError.single(f"{self.source}: no call of this sweep ran in the slow host state",
                                     key_path="state")
        if state == "slow":
            return self.slow
        if state != "point":
            raise ConfigError.single(f"unknown host state {state!r}; valid: point, fast, slow", key_path="state")
        return tuple(math.sqrt(a * b) if a > 0 and b > 0 else 0.5 * (a + b)  # type: ignore[return-value]
                     for a, b in zip(self.fast, self.slow, strict=True))


def state_lines(calls: dict[int, list[float]], source: str = "") -> StateLines:
    """:class:`StateLines` from ``layers -> per-call host seconds`` of interleaved rounds: per layer count the calls
    within :data:`STATE_SPLIT` of its fastest are the fast state, the rest the slow; each state's line is the
    least-squares fit of its per-layer-count medians (a state needs two or more layer counts)."""
    import statistics
    fast: list[tuple[int, float]] = []
    slow: list[tuple[int, float]] = []
    for layers, xs in sorted(calls.items()):
        lo = min(xs)
        f = [x for x in xs if x <= STATE_SPLIT * lo]
        s = [x for x in xs if x > STATE_SPLIT * lo]
        fast.append((layers, statistics.median(f)))
        if s:
            slow.append((layers, statistics.median(s)))
    if len({n for n, _ in fast}) < 2:
        raise ConfigError.single(f"{source}: the host-state fit needs two or more layer counts", file=source)
    return StateLines(fast=fit_per_layer(fast), slow=fit_per_layer(slow) if len(slow) >= 2 else None, source=source)


SWEEP_REQUIRED = ("part", "layers", "round", "wall_s", "host_s")


def load_state_lines(path: str | Path, select: dict[str, str], per_token: bool = False) -> StateLines:
    """:func:`state_lines` of the rows of a ``host_width`` CSV (``h200-hw-gen`` / ``h200-hw-paths``) whose columns
    equal ``select``; seconds per call = ``host_s`` (until the call returned), or with ``per_token`` the call's
    ``wall_s`` / ``tokens`` (a ``generate`` call, synchronised at its end)."""
    path = Path(path)
    calls: dict[int, list[float]] = {}
    for i, r in enumerate(read_csv_rows(path, SWEEP_REQUIRED + tuple(select), "host sweep CSV"), start=2):
        if any(r[k] != v for k, v in select.items()):
            continue
        try:
            x = float(r["wall_s"]) / int(r["tokens"]) if per_token else float(r["host_s"])
            calls.setdefault(int(r["layers"]), []).append(x)
        except (KeyError, ValueError):
            raise ConfigError.single(f"{path}:{i}: malformed host sweep row (layers, wall_s, host_s, tokens)",
                                     file=str(path), line=i) from None
    if not calls:
        raise ConfigError.single(f"{path}: no rows with {select}", file=str(path))
    return state_lines(calls, f"{path.name} {select}")


#: the interleaved sweeps of ``campaigns/host_width.py`` (package data, measurements/h200)
HW_GEN_CSV = "h200-hw-gen-2026-12-01.csv"
HW_PATHS_CSV = "h200-hw-paths-2026-12-01.csv"


def generate_line(attn: str, state: str = "point", gen_csv: str | Path | None = None) -> tuple[float, float]:
    """(fixed s, s per layer) per generated token of HF GPT-2 ``generate`` at attention ``attn``: the tiny-GPT-2
    calibration rows of the interleaved sweep (``role == calib``), at host ``state`` (:meth:`StateLines.line`)."""
    from archsim.data import measurement
    return load_state_lines(gen_csv or measurement("h200", HW_GEN_CSV),
                            {"part": "gen", "role": "calib", "attn": attn}, per_token=True).line(state)


def state_ratio(gen_csv: str | Path | None = None) -> tuple[float, float]:
    """(fixed, per-layer) slow-state / fast-state ratios of the host cost, from the tiny-GPT-2 eager ``generate``
    calibration rows of the interleaved sweep (the one sweep that caught the machine in both states)."""
    from archsim.data import measurement
    lines = load_state_lines(gen_csv or measurement("h200", HW_GEN_CSV),
                             {"part": "gen", "role": "calib", "attn": "eager"}, per_token=True)
    if lines.slow is None:
        raise ConfigError.single(f"{lines.source}: no slow-state calls, no state ratio", file=str(gen_csv))
    return lines.slow[0] / lines.fast[0], lines.slow[1] / lines.fast[1]


def path_lines(path: str, width: int = 256, paths_csv: str | Path | None = None,
               gen_csv: str | Path | None = None) -> StateLines:
    """:class:`StateLines` of one code path of the ``hw-paths`` sweep (``engine-prefill``: the serving engine's
    eager prefill, 256 tokens; ``plain-prefill``: PlainLlama, 16 tokens; ``minillama-decode``: the power
    campaign's MiniLlama, batch 1) at ``width``: the fast state from the sweep — which ran in the fast state
    throughout (Python probe 2.5-2.8 ms in all 25 rounds; its few calls above :data:`STATE_SPLIT` are isolated
    spikes) — and the slow state = fast x :func:`state_ratio` (an assumption: the slow state slows every
    Python-bound dispatch path alike, as it slows ``generate`` and the pure-Python probe)."""
    from archsim.data import measurement
    src = paths_csv or measurement("h200", HW_PATHS_CSV)
    fast = load_state_lines(src, {"part": "paths", "path": path, "width": str(width)}).fast
    rf, rl = state_ratio(gen_csv)
    return StateLines(fast=fast, slow=(fast[0] * rf, fast[1] * rl), source=f"{Path(src).name} {path} w{width}")


LAYERS_REQUIRED = ("stack", "width", "layers", "host_s")


def load_layer_sweep(path: str | Path) -> dict[tuple[str, str], tuple[float, float]]:
    """``(stack, phase) -> (fixed s, s per layer)`` from a ``host-layers`` CSV (``campaigns/host_dispatch.py``):
    one least-squares line per stack over every width and layer count (host cost per layer does not
    depend on width there, so the widths pool)."""
    path = Path(path)
    points: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for i, r in enumerate(read_csv_rows(path, LAYERS_REQUIRED, "host layer-sweep CSV"), start=2):
        try:
            stack, phase = r["stack"].split(":")
            points.setdefault((stack, phase), []).append((int(r["layers"]), float(r["host_s"])))
        except ValueError:
            raise ConfigError.single(f"{path}:{i}: malformed host layer-sweep row (stack 'name:phase', layers, "
                                     "host_s)", file=str(path), line=i) from None
    try:
        return {k: fit_per_layer(v) for k, v in points.items()}
    except ValueError:
        raise ConfigError.single(f"{path}: a stack has one layer count only; the per-layer fit needs two",
                                 file=str(path)) from None


OPS_REQUIRED = ("op", "order", "width", "tokens", "host_us_per_call")


def mixed_order_factor(path: str | Path) -> float:
    """Median over the measured (width, tokens) of the ``mix`` row's host cost per call / the mean of the
    same operators' tight-loop costs (``host-ops`` CSV; the sync op ``item_sync`` is not in the mix)."""
    path = Path(path)
    loop: dict[tuple[str, str], list[float]] = {}
    mix: dict[tuple[str, str], float] = {}
    for i, r in enumerate(read_csv_rows(path, OPS_REQUIRED, "host ops CSV"), start=2):
        try:
            key, us = (r["width"], r["tokens"]), float(r["host_us_per_call"])
        except ValueError:
            raise ConfigError.single(f"{path}:{i}: malformed host ops row", file=str(path), line=i) from None
        if r["order"] == "mixed":
            mix[key] = us
        elif r["op"] != "item_sync":
            loop.setdefault(key, []).append(us)
    ratios = sorted(mix[k] / (sum(v) / len(v)) for k, v in loop.items() if k in mix and v)
    if not ratios:
        raise ConfigError.single(f"{path}: no mixed-order row with its tight-loop rows", file=str(path))
    mid = len(ratios) // 2
    return ratios[mid] if len(ratios) % 2 else 0.5 * (ratios[mid - 1] + ratios[mid])


def with_layer_sweep(model: HostModel, sweep: dict[tuple[str, str], tuple[float, float]],
                     mixed_factor: float, source: str) -> HostModel:
    """``model`` with the sweep's per-layer lines replacing its own for the stacks the sweep covers, and the
    mixed-order factor on its per-kernel costs."""
    from dataclasses import replace
    return replace(model, source=f"{model.source} + {source}", stack_layer={**model.stack_layer, **sweep},
                   mixed_factor=mixed_factor)
