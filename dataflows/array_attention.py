"""FuseMax and FLAT attention on a 2-D + 1-D spatial array (``family: accelerator``).

Both lower one attention operator to groups of identical work; a group is a task graph
over key tiles that :func:`dataflows.player.play_extrapolated` plays.

FuseMax (Nayak et al., MICRO'24; artifact ``src/accel/proposal.py``): the one-pass cascade
(:data:`dataflows.algorithms.ONE_PASS`) with QK, LM, SLN, SLD, SLNV on the 2-D array and the
running-max/denominator/numerator updates on the 1-D array. A row block has ``pe_cols`` query
rows, a key tile ``pe_rows`` keys. ``P1`` row blocks stay in the on-chip buffer (sized as the
artifact sizes it: buffer minus a K and a V tile, over (E + F + 2) elements per row, rounded
down to a divisor of the row-block count), so each K/V tile is fetched once per P1 blocks.
The P1 blocks are split into ``chunks`` interleaved on the two arrays so one array works while
the other finishes its dependent stage -- the event model decides how well that hides the
2-D <-> 1-D dependencies that the artifact's waterfall formula assumes away.

FLAT (Kao et al., ASPLOS'23) on the same array: the three-pass cascade fused row-granularly.
Per group of ``rows`` query rows: QK tiles on the 2-D array into an on-chip score row, then the
max / exp+sum / divide passes on the 1-D array, then PV on the 2-D array. The score buffer
(rows x seq_kv elements) grows with N; when two of them do not fit the next group cannot
overlap, and when one does not fit the scores spill to DRAM (written after QK, read back for
the softmax, probabilities written and read for PV). ``rows`` and spilling are chosen by a
small mapping search minimising the analytical bound (as FLAT's own mapper does).

Energy counts: 2-D/1-D actions from the cascade, DRAM bytes, and on-chip buffer reads of
K/V tiles per row block and writes of fetched tiles. Ignored: PE register-file energy,
NoC energy, the Q load at group boundaries overlapping the previous group.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from archsim.dataflows.algorithms import (
    FLAT_1D_SOFTMAX,
    FUSEMAX_EPILOGUE,
    FUSEMAX_STAGES,
    ONE_PASS,
    THREE_PASS,
)
from archsim.dataflows.cascade import action_counts, unit_cycles
from archsim.dataflows.shapes import AttentionShape
from archsim.dataflows.target import Target
from archsim.dataflows.taskgraph import TaskGraph


@dataclass(frozen=True)
class ArrayPlan:
    dataflow: str
    shape: AttentionShape
    tiles: int
    groups: int
    params: dict[str, float | int | bool] = field(default_factory=dict)

    def build(self, target: Target, tiles: int, groups: int) -> TaskGraph:
        if self.dataflow == "fusemax":
            return _fusemax_graph(self, target, tiles, groups)
        return _flat_graph(self, target, tiles, groups)


def _need_array(target: Target, dataflow: str) -> None:
    if not target.is_array:
        from archsim.errors import ConfigError

        raise ConfigError.single(f"dataflow {dataflow!r} maps onto a 2-D + 1-D spatial array; hardware "
                                 f"{target.name!r} is family {target.family!r} (use an accelerator preset)",
                                 key_path="dataflow.attention")


def _divisor_at_most(n: int, limit: int) -> int:
    for f in range(min(n, max(1, limit)), 0, -1):
        if n % f == 0:
            return f
    return 1


def plan_fusemax(shape: AttentionShape, target: Target, *, chunks: int = 4) -> ArrayPlan:
    _need_array(target, "fusemax")
    rows, tile, b = target.pe_cols or 1, target.pe_rows or 1, shape.elem_bytes
    e = f = shape.head_dim
    q_blocks = math.ceil(shape.seq_q / rows)
    avail = target.onchip_capacity_bytes - tile * (e + f) * b
    p1 = _divisor_at_most(q_blocks, int(avail // ((e + f + 2) * b * rows)))
    return ArrayPlan("fusemax", shape, math.ceil(shape.seq_kv / tile), shape.batch * shape.heads * q_blocks // p1,
                     {"rows": rows, "tile": tile, "p1": p1, "chunks": min(chunks, p1)})


def _fusemax_graph(plan: ArrayPlan, target: Target, tiles: int, groups: int) -> TaskGraph:
    s, p = plan.shape, plan.params
    rows, tile, p1, chunks = int(p["rows"]), int(p["tile"]), int(p["p1"]), int(p["chunks"])
    b, e = s.elem_bytes, s.head_dim
    per_chunk = [p1 // chunks + (1 if c < p1 % chunks else 0) for c in range(chunks)]
    stage_pe_cycles = [unit_cycles(ONE_PASS, outs, rows=rows, tile=tile, head_dim=e, width=1)
                       for _, outs in FUSEMAX_STAGES]
    stage_actions = [action_counts(ONE_PASS, outs, rows=rows, tile=tile, head_dim=e) for _, outs in FUSEMAX_STAGES]
    epi = unit_cycles(ONE_PASS, FUSEMAX_EPILOGUE, rows=rows, tile=tile, head_dim=e, width=1)
    epi_actions = action_counts(ONE_PASS, FUSEMAX_EPILOGUE, rows=rows, tile=tile, head_dim=e)
    kv_bytes = tile * 2 * e * b
    g = TaskGraph(f"fusemax {s}")
    group_end: list[int] = []
    off, on = target.offchip, target.onchip
    # the Q/state buffer of a group is double-buffered when two fit beside the K/V tiles
    q_slots = 2 if 2 * p1 * rows * (2 * e + 2) * b + kv_bytes <= target.onchip_capacity_bytes else 1
    # P1 row blocks of Q and running state (max, denominator, numerator); K/V tiles double-buffered
    g.buffers = [("Q+state", p1 * rows * (2 * e + 2) * b, q_slots == 2), ("KV", kv_bytes, True)]
    for grp in range(groups):
        q = g.load("Q", off, p1 * rows * e * b, [group_end[grp - q_slots]] if grp >= q_slots else [], grp)
        last_stage: list[int | None] = [None] * chunks
        prev_sln: list[int | None] = [None] * chunks
        consumers: list[int] = []
        for j in range(tiles):
            slot_free = consumers[j - 2] if j >= 2 else None  # K/V tiles are double-buffered
            kv = g.load(f"KV{j}", off, kv_bytes, [slot_free], grp)
            done_tile: list[int] = []
            for c, blocks in enumerate(per_chunk):
                prev = last_stage[c]
                deps: list[int | None] = [kv, q]
                for k, (unit, _) in enumerate(FUSEMAX_STAGES):
                    acts = {a: n * blocks for a, n in stage_actions[k].items()}
                    if k == 0:
                        acts[f"{on}_read_bytes"] = kv_bytes * blocks
                    # stage 0 reuses the PE registers the previous tile's SLN/SLNV (stage 2) consumed
                    carried = [prev_sln[c]] if k == 0 else [prev] if k in (1, 3) else []
                    tid = g.add(f"{unit}:{'+'.join(FUSEMAX_STAGES[k][1])}[{j},{c}]", "compute", unit,
                                stage_pe_cycles[k] * blocks, deps + carried, acts, grp)
                    if k == 2:
                        prev_sln[c] = tid
                    deps = [tid]
                last_stage[c] = deps[0]
                done_tile.append(deps[0])
            consumers.append(max(done_tile))
            g.tasks[kv].actions[f"{on}_write_bytes"] = kv_bytes
        ends = [g.add(f"1d:AV[{c}]", "compute", "1d", epi * blocks, [last_stage[c]],
                      {a: n * blocks for a, n in epi_actions.items()}, grp) for c, blocks in enumerate(per_chunk)]
        group_end.append(g.store("O", off, p1 * rows * e * b, ends, grp))
    return g


def plan_flat(shape: AttentionShape, target: Target) -> ArrayPlan:
    _need_array(target, "flat")
    tile, b, e, n = target.pe_rows or 1, shape.elem_bytes, shape.head_dim, shape.seq_kv
    cap = target.onchip_capacity_bytes - 2 * tile * 2 * e * b
    width2, width1 = target.rate("2d"), target.rate("1d")
    bw = target.rate(f"mem:{target.offchip}")
    best: tuple[float, int, bool, int] | None = None
    r = 1
    while r <= min(shape.seq_q, 4096):
        score = r * n * b
        spill = score > cap
        slots = 1 if spill else min(2, int(cap // score))
        groups = shape.batch * shape.heads * math.ceil(shape.seq_q / r)
        pairs = r * n
        t2 = 2 * pairs * e / width2
        t1 = unit_cycles(THREE_PASS, FLAT_1D_SOFTMAX, rows=r, tile=n, head_dim=e, width=1) / width1
        traffic = n * 2 * e * b + 2 * r * e * b + (4 * score if spill else 0)
        bound = groups * max(t2, t1, traffic / bw)
        if slots < 2:
            bound = groups * (max(t2, traffic / bw) + t1)  # no overlap of the next group's QK with this softmax
        key = (bound, -r, spill, slots)
        if best is None or key < (best[0], -best[1], best[2], best[3]):
            best = (bound, r, spill, slots)
        r *= 2
    assert best is not None
    _, rows, spill, slots = best
    return ArrayPlan("flat", shape, math.ceil(n / tile), shape.batch * shape.heads * math.ceil(shape.seq_q / rows),
                     {"rows": rows, "tile": tile, "spill": spill, "slots": slots})


def _flat_graph(plan: ArrayPlan, target: Target, tiles: int, groups: int) -> TaskGraph:
    s, p = plan.shape, plan.params
    rows, tile, spill, slots = int(p["rows"]), int(p["tile"]), bool(p["spill"]), int(p["slots"])
    b, e = s.elem_bytes, s.head_dim
    off, on = target.offchip, target.onchip
    qk_pe = unit_cycles(THREE_PASS, ("QK",), rows=rows, tile=tile, head_dim=e, width=1)
    av_pe = unit_cycles(THREE_PASS, ("AV",), rows=rows, tile=tile, head_dim=e, width=1)
    sm = {k: unit_cycles(THREE_PASS, (k,), rows=rows, tile=tile, head_dim=e, width=1) for k in FLAT_1D_SOFTMAX}
    acts = {k: action_counts(THREE_PASS, (k,), rows=rows, tile=tile, head_dim=e)
            for k in ("QK", "AV", *FLAT_1D_SOFTMAX)}
    score = rows * tile * b
    g = TaskGraph(f"flat {s}")
    # K/V tiles double-buffered; a score row block of rows x N per slot unless it spills
    g.buffers = [("KV", 2 * tile * e * b, True), ("Q", rows * e * b, slots == 2)]
    if not spill:
        g.buffers.append(("S", rows * s.seq_kv * b, slots == 2))
    group_end: list[int] = []
    for grp in range(groups):
        buffer_free = group_end[grp - slots] if grp >= slots else None
        q = g.load("Q", off, rows * e * b, [buffer_free], grp)
        gm: list[int] = []
        for j in range(tiles):
            k = g.load(f"K{j}", off, tile * e * b, [buffer_free, gm[j - 2] if j >= 2 else None], grp)
            qk = g.add(f"2d:QK[{j}]", "compute", "2d", qk_pe, [q, k],
                       {**acts["QK"], f"{on}_write_bytes": score + tile * e * b, f"{on}_read_bytes": tile * e * b}, grp)
            src = qk
            if spill:
                st = g.store(f"QK{j}", off, score, [qk], grp)
                src = g.load(f"QK{j}", off, score, [st], grp)
            gm.append(g.add(f"1d:GM[{j}]", "compute", "1d", sm["GM"], [src, gm[-1] if gm else None],
                            {**acts["GM"], f"{on}_read_bytes": score}, grp))
        sd: list[int] = []
        for j in range(tiles):
            sd.append(g.add(f"1d:SN+SD[{j}]", "compute", "1d", sm["SN"] + sm["SD"], [gm[-1], sd[-1] if sd else None],
                            {**acts["SN"], **{a: acts["SN"].get(a, 0) + n for a, n in acts["SD"].items()},
                             f"{on}_read_bytes": score, f"{on}_write_bytes": score}, grp))
        av: list[int] = []
        for j in range(tiles):
            a = g.add(f"1d:A[{j}]", "compute", "1d", sm["A"], [sd[-1]],
                      {**acts["A"], f"{on}_read_bytes": score, f"{on}_write_bytes": score}, grp)
            if spill:
                a = g.load(f"A{j}", off, score, [g.store(f"A{j}", off, score, [a], grp)], grp)
            v = g.load(f"V{j}", off, tile * e * b, [a, av[j - 2] if j >= 2 else None], grp)
            av.append(g.add(f"2d:AV[{j}]", "compute", "2d", av_pe, [a, v, av[-1] if av else None],
                            {**acts["AV"], f"{on}_read_bytes": score + tile * e * b,
                             f"{on}_write_bytes": tile * e * b}, grp))
        group_end.append(g.store("O", off, rows * e * b, [av[-1]], grp))
    return g
