"""Device-independent lowerings: naive, FlashAttention-2, SWAT, Edge-MoE, flash-decoding, GEMM.

Work is bound to the target's units by :func:`bind`: on a spatial array MACs go to ``2d`` and
element-wise / transcendental ops to ``1d``; elsewhere MACs go to ``matrix`` (2 FLOPs each),
element-wise ops to ``vector`` and exps to ``sfu`` (``vector`` if the device has none).
The aggregate-unit view treats a GPU's SMs as one matrix unit at full rate (groups of work
run back to back across the chip): it models overlap of loads with compute but not
occupancy, waves or per-SM bandwidth limits (the GPU issue models those).

Tile sizes: ``Br`` query rows x ``Bc`` keys per tile. GPUs: FlashAttention-2's 128 x 64
(its forward kernel for head_dim <= 128); arrays: pe_cols x pe_rows; others: the largest
power of two whose Q, K, V and S tiles fit in half the on-chip level. Off-chip K/V bytes of
a head are read once per KV head when the middle level (an L2) holds them, as the roofline
assumes; the rest of the re-reads hit that level.

- naive: QK^T tiles stored off-chip (scores), a softmax pass reading them back and writing P,
  a PV pass reading P -- three passes, score traffic grows with N^2.
- flash (FlashAttention-2): one pass, online softmax, K/V tiles double-buffered.
- swat: sliding window, row-wise, input-stationary: a query block touches only the tiles of
  its window, and each K/V row is fetched from off-chip once (it stays while the window slides).
- edge_moe: Edge-MoE's reordered attention: a head's K and V are loaded on chip once and all
  query blocks stream past them, so off-chip traffic is Q + K + V + O whatever the parallelism;
  falls back to flash-style K/V streaming (stated in the plan) when a head's K/V does not fit.
- flash_decoding: split-KV (flash-decoding / Lean attention): the KV of each (batch, head) is
  split so all units have work; each split writes a partial (max, sum, output) and a reduce
  task combines them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from archsim.dataflows.shapes import AttentionShape
from archsim.dataflows.target import Target
from archsim.dataflows.taskgraph import TaskGraph

from archsim.operators import ONLINE_SOFTMAX_VECTOR_FLOPS, SOFTMAX_VECTOR_FLOPS


def bind(target: Target, macs: float, vector_ops: float = 0.0, exps: float = 0.0) -> list[tuple[str, float, dict]]:
    """(unit, amount, actions) triples for some MACs, element-wise ops and exps on ``target``."""
    out: list[tuple[str, float, dict]] = []
    if target.is_array:
        if macs:
            out.append(("2d", macs, {"mac": macs}))
        if vector_ops or exps:
            out.append(("1d", vector_ops + exps, {"add": vector_ops, "exp": exps}))
        return out
    if macs:
        out.append(("matrix", 2 * macs, {"mac": macs}))
    if vector_ops or exps:
        sfu = "sfu" if "sfu" in target.rates else "vector"
        if vector_ops:
            out.append(("vector", vector_ops, {"flop": vector_ops}))
        if exps:
            out.append((sfu, exps, {"exp": exps}))
    return out


def _compute(g: TaskGraph, target: Target, name: str, deps: list, grp: int, macs: float = 0.0,
             vector_ops: float = 0.0, exps: float = 0.0, tile: tuple[int, int, int] | None = None) -> int:
    last = None
    for unit, amount, actions in bind(target, macs, vector_ops, exps):
        last = g.add(f"{unit}:{name}", "compute", unit, amount, deps if last is None else [last], actions, grp,
                     tile if "mac" in actions else None)
    assert last is not None, f"{name}: no work"
    return last


def tile_sizes(target: Target, head_dim: int, elem_bytes: float) -> tuple[int, int]:
    if target.is_array:
        return int(target.pe_cols or 1), int(target.pe_rows or 1)
    if target.family == "gpu":
        return 128, 64
    per = 4 * head_dim * elem_bytes
    t = 1
    while 2 * t * per <= target.onchip_capacity_bytes / 2 and t < 256:
        t *= 2
    return t, t


@dataclass(frozen=True)
class GenericPlan:
    dataflow: str
    shape: AttentionShape | None
    tiles: int
    groups: int
    params: dict[str, float | int | bool | str] = field(default_factory=dict)
    gemm: tuple[int, int, int] | None = None

    def build(self, target: Target, tiles: int, groups: int) -> TaskGraph:
        if self.gemm is not None:
            return _gemm_graph(self, target, tiles, groups)
        return _attention_graph(self, target, tiles, groups)


def plan_attention(dataflow: str, shape: AttentionShape, target: Target) -> GenericPlan:
    b, d = shape.elem_bytes, shape.head_dim
    br, bc = tile_sizes(target, d, b)
    br = min(br, shape.seq_q)
    q_blocks = math.ceil(shape.seq_q / br)
    gqa = shape.heads // shape.groups_kv
    kv_head = 2 * shape.seq_kv * d * b
    levels = [u for u in target.rates if u.startswith("mem:")]
    mid = levels[1] if len(levels) >= 3 else None
    mid_holds = mid is not None and target.extra.get("mid_capacity_bytes", 0.0) >= kv_head
    keys = shape.pairs / shape.seq_q + (br / 2 if shape.causal and shape.seq_q > 1 else 0)
    if shape.window is not None:
        keys = min(shape.seq_kv, shape.window + br)
    inflight = 2 * int(target.extra.get("parallel_units", 1))
    params: dict[str, float | int | bool | str] = {"br": br, "bc": bc, "mid": mid or "", "mid_holds_kv": mid_holds,
                                                   "inflight": inflight}
    groups = shape.batch * shape.heads * q_blocks
    if dataflow == "flash_decoding":
        lanes = int(target.extra.get("parallel_units", 1))
        splits = max(1, min(math.ceil(shape.seq_kv / bc), lanes // max(1, shape.batch * shape.heads)))
        params["splits"] = splits
        keys = shape.seq_kv / splits
        groups *= splits
    if dataflow == "edge_moe":
        params["kv_resident"] = kv_head + 2 * br * d * b <= target.onchip_capacity_bytes
    tiles = max(1, math.ceil(keys / bc))
    # off-chip share of K/V tile bytes: once per KV head when resident somewhere on chip
    once = 1.0 / (q_blocks * gqa)
    if dataflow == "swat" or (dataflow == "edge_moe" and params["kv_resident"]):
        params["kv_offchip_share"] = min(1.0, shape.seq_kv / (tiles * bc) * once)
    elif mid_holds:
        params["kv_offchip_share"] = once
    else:
        params["kv_offchip_share"] = 1.0
    return GenericPlan(dataflow, shape, tiles, groups, params)


def _attention_graph(plan: GenericPlan, target: Target, tiles: int, groups: int) -> TaskGraph:
    s = plan.shape
    assert s is not None
    p = plan.params
    br, bc, b, d = int(p["br"]), int(p["bc"]), s.elem_bytes, s.head_dim
    share, mid = float(p["kv_offchip_share"]), str(p["mid"])
    off = target.offchip
    pairs = br * bc
    g = TaskGraph(f"{plan.dataflow} {s}")
    prev_end: list[int] = []
    inflight = int(p.get("inflight", 2))  # groups in flight (one per SM slot on a GPU)
    for grp in range(groups):
        q = g.load("Q", off, br * d * b, [prev_end[grp - inflight]] if grp >= inflight else [], grp)
        done: list[int] = []
        scores: list[int] = []
        for j in range(tiles):
            slot = done[j - 2] if j >= 2 else None
            kv = g.load(f"KV{j}", off, 2 * bc * d * b * share, [slot], grp)
            if share < 1.0 and mid:
                kv = g.load(f"KV{j}", mid.removeprefix("mem:"), 2 * bc * d * b * (1 - share), [kv], grp)
            qk = _compute(g, target, f"QK[{j}]", [q, kv], grp, macs=pairs * d)
            if plan.dataflow == "naive":
                scores.append(g.store(f"S{j}", off, pairs * b, [qk], grp))
                done.append(scores[-1])
                continue
            sm = _compute(g, target, f"softmax[{j}]", [qk, done[-1] if done else None], grp,
                          vector_ops=ONLINE_SOFTMAX_VECTOR_FLOPS * pairs, exps=pairs)
            done.append(_compute(g, target, f"PV[{j}]", [sm], grp, macs=pairs * d))
        if plan.dataflow == "naive":  # passes 2 and 3: softmax over stored scores, then PV
            probs = []
            for j in range(tiles):
                ld = g.load(f"S{j}", off, pairs * b, [scores[-1]], grp)
                sm = _compute(g, target, f"softmax[{j}]", [ld], grp, vector_ops=SOFTMAX_VECTOR_FLOPS * pairs,
                              exps=pairs)
                probs.append(g.store(f"P{j}", off, pairs * b, [sm], grp))
            for j in range(tiles):
                ld = g.load(f"PV{j}", off, pairs * b + bc * d * b, [probs[-1], done[-1]], grp)
                done.append(_compute(g, target, f"PV[{j}]", [ld], grp, macs=pairs * d))
        end = done[-1]
        if plan.dataflow == "flash_decoding" and int(p.get("splits", 1)) > 1:
            part = g.store("partial", off, br * (d + 2) * 4, [end], grp)
            end = _compute(g, target, "reduce", [part], grp, vector_ops=3 * br * (d + 2))
        prev_end.append(g.store("O", off, br * d * b, [end], grp))
    return g


def plan_gemm(m: int, n: int, k: int, target: Target, elem_bytes: float = 2.0, count: int = 1) -> GenericPlan:
    """Row panels of ``tm`` rows of A stay on chip while ``n``-tiles of B stream past them.

    Each ``tm x tn x k`` product is one GEMM tile task; on a spatial array the player times it
    with the engine's weight-stationary systolic contract (B tile held, the panel's rows stream).
    """
    tn = int(target.pe_rows or 128)
    tm = max(1, min(m, int(target.onchip_capacity_bytes / 2 // (k * elem_bytes))))
    if target.pe_cols:
        tm = max(1, min(tm, 16 * int(target.pe_cols)))
    return GenericPlan("gemm", None, math.ceil(n / tn), math.ceil(m / tm) * count,
                       {"tm": tm, "tn": tn, "b": elem_bytes}, gemm=(m, n, k))


def _gemm_graph(plan: GenericPlan, target: Target, tiles: int, groups: int) -> TaskGraph:
    m, n, k = plan.gemm or (0, 0, 0)
    tm, tn, b = int(plan.params["tm"]), int(plan.params["tn"]), float(plan.params["b"])
    off = target.offchip
    g = TaskGraph(f"gemm {m}x{n}x{k}")
    prev: list[int] = []
    for grp in range(groups):
        a = g.load("A", off, tm * k * b, prev[-2:-1], grp)
        done: list[int] = []
        for j in range(tiles):
            w = g.load(f"B{j}", off, k * tn * b, [done[j - 2] if j >= 2 else None], grp)
            c = _compute(g, target, f"mm[{j}]", [a, w, done[-1] if done else None], grp, macs=tm * tn * k,
                         tile=(tm, tn, k))
            done.append(g.store(f"C{j}", off, tm * tn * b, [c], grp))
        prev.append(done[-1])
    return g
