"""Attention as a cascade of (extended) Einsums, and FuseMax's pass analysis.

A cascade is a list of :class:`Einsum` s in dependency order. Each Einsum names its output
tensor, its inputs, the ranks of its iteration space, the ranks it reduces (a full reduction:
consumers see only the final value) and the ranks it *scans* (an iterative reduction whose
running value consumers may read inside the same iteration, like FlashAttention's running
max). Input references are tensor names, optionally suffixed:

- ``T`` -- the value of ``T`` at the consumer's iteration point (for a scan: the running value);
- ``T:final`` -- the fully scanned value (after the last iteration of the scan rank);
- ``T:prev`` -- the previous iterate of a scan (a loop-carried value, no dependency edge).

Ranks whose extent grows with the sequence length (``M`` = keys; ``M1`` = key tiles) are
*growing*; ``M0`` (keys inside a tile), ``E``/``F`` (head dims) and ``P`` (query rows, counted
per row block) are not. Following Nayak et al. (FuseMax, MICRO'24, Sec. 4), a *pass* is one
traversal of the growing key rank: an Einsum that iterates a growing rank and consumes a value
that needed a complete traversal of that rank (a full reduction, or a scan's final value) must
start a new pass. ``analyse`` gives the number of passes and the on-chip buffer a kernel needs
to avoid re-reading inputs: the tensors that cross a pass boundary, held at full sequence
length for one row block, plus the tile working set.

What this ignores: recomputation (re-reading K from DRAM to rebuild QK instead of buffering
it trades the buffer for traffic -- the report states both); data types other than one element
width; the B/H ranks (one (batch, head) pair at a time).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

#: Ranks whose extent grows with sequence length.
GROWING_RANKS = frozenset({"M", "M1"})
#: Ranks counted per row block (the buffer is given per block of ``rows`` query rows).
ROW_RANKS = frozenset({"P"})

Unit = Literal["2d", "1d"]


@dataclass(frozen=True)
class Einsum:
    """One Einsum: ``output[ranks - reduce] = op(inputs)`` over ``ranks``.

    ``cost`` counts primitive actions per iteration point (e.g. ``{"mac": 1}``; FuseMax builds
    ``exp`` from 6 MACs and an add); ``unit`` binds it to the 2-D array or the 1-D vector array.
    """

    output: str
    inputs: tuple[str, ...]
    ranks: tuple[str, ...]
    reduce: tuple[str, ...] = ()
    scan: tuple[str, ...] = ()
    cost: dict[str, float] = field(default_factory=lambda: {"mac": 1.0})
    unit: Unit = "2d"
    cycles: float | None = None  # cycles per point when actions overlap (pipelined units); default: sum of cost

    def __post_init__(self) -> None:
        for r in (*self.reduce, *self.scan):
            if r not in self.ranks:
                raise ValueError(f"einsum {self.output}: reduced/scanned rank {r} is not in its ranks {self.ranks}")

    @property
    def touches_growing(self) -> bool:
        return any(r in GROWING_RANKS for r in self.ranks)

    @property
    def reduces_growing(self) -> bool:
        return any(r in GROWING_RANKS for r in self.reduce)

    @property
    def output_ranks(self) -> tuple[str, ...]:
        return tuple(r for r in self.ranks if r not in self.reduce)

    def cycles_per_point(self) -> float:
        """Cycles one PE spends per iteration point (each action one cycle unless ``cycles`` says)."""
        return float(self.cycles) if self.cycles is not None else float(sum(self.cost.values()))


@dataclass(frozen=True)
class Cascade:
    name: str
    inputs: dict[str, tuple[str, ...]]  # input tensor -> its ranks
    einsums: tuple[Einsum, ...]
    description: str = ""

    def producer(self, tensor: str) -> Einsum | None:
        for e in self.einsums:
            if e.output == tensor:
                return e
        if tensor in self.inputs:
            return None
        raise KeyError(f"cascade {self.name}: tensor {tensor!r} has no producer and is not an input")

    def tensor_ranks(self, tensor: str) -> tuple[str, ...]:
        if tensor in self.inputs:
            return self.inputs[tensor]
        e = self.producer(tensor)
        assert e is not None
        return e.output_ranks

    def einsum(self, output: str) -> Einsum:
        e = self.producer(output)
        if e is None:
            raise KeyError(f"{output} is an input of cascade {self.name}")
        return e


def _split(ref: str) -> tuple[str, str]:
    name, _, mode = ref.partition(":")
    if mode not in ("", "final", "prev"):
        raise ValueError(f"bad input reference {ref!r}: suffix must be :final or :prev")
    return name, mode


@dataclass(frozen=True)
class PassReport:
    """Result of :func:`analyse`. Buffer sizes are in elements for one block of ``rows`` rows."""

    cascade: str
    passes: int
    pass_of: dict[str, int]
    cross_pass_tensors: tuple[str, ...]
    seq_len: int
    rows: int
    tile: int
    cross_pass_elements: float
    working_set_elements: float

    @property
    def buffer_elements(self) -> float:
        return self.cross_pass_elements + self.working_set_elements

    def buffer_bytes(self, elem_bytes: float) -> float:
        return self.buffer_elements * elem_bytes


def _extent(rank: str, *, seq_len: int, rows: int, tile: int, head_dim: int, full: bool) -> float:
    if rank in ROW_RANKS:
        return rows
    if rank == "M":
        return seq_len if full else tile
    if rank == "M1":
        return max(1, seq_len // tile) if full else 1
    if rank == "M0":
        return tile
    if rank in ("E", "F"):
        return head_dim
    return 1  # B, H: one (batch, head) pair


def _size(ranks: tuple[str, ...], **kw: object) -> float:
    n = 1.0
    for r in ranks:
        n *= _extent(r, **kw)  # type: ignore[arg-type]
    return n


def analyse(cascade: Cascade, *, seq_len: int, rows: int = 1, tile: int = 256, head_dim: int = 64) -> PassReport:
    """Passes over the inputs and the buffer needed to make them without re-reading inputs."""
    pass_of: dict[str, int] = {t: 0 for t in cascade.inputs}
    consumers: dict[str, list[tuple[Einsum, str]]] = {}
    for e in cascade.einsums:
        need = 1 if e.touches_growing else 0
        for ref in e.inputs:
            name, mode = _split(ref)
            if mode == "prev":
                continue
            consumers.setdefault(name, []).append((e, mode))
            prod = cascade.producer(name)
            if prod is None:
                continue
            p = pass_of[name]
            complete = prod.reduces_growing or (mode == "final" and any(r in GROWING_RANKS for r in prod.scan))
            need = max(need, p + 1 if (e.touches_growing and complete) else p)
        pass_of[e.output] = need
    passes = max((pass_of[e.output] for e in cascade.einsums if e.touches_growing), default=0)

    kw = {"seq_len": seq_len, "rows": rows, "tile": tile, "head_dim": head_dim}
    crossing: list[str] = []
    cross = 0.0
    for tensor, uses in consumers.items():
        if tensor in cascade.inputs:
            continue
        later = [mode for c, mode in uses if pass_of[c.output] > pass_of[tensor] and c.touches_growing]
        if not later:
            continue
        crossing.append(tensor)
        ranks = cascade.tensor_ranks(tensor)
        prod = cascade.producer(tensor)
        if prod is not None and all(mode == "final" for mode in later):
            ranks = tuple(r for r in ranks if r not in prod.scan)  # only the final value is kept
        cross += _size(ranks, full=True, **kw)
    working = sum(_size(cascade.tensor_ranks(t), full=False, **kw)
                  for t in list(cascade.inputs) + [e.output for e in cascade.einsums] if t not in crossing)
    return PassReport(cascade.name, passes, pass_of, tuple(crossing), seq_len, rows, tile, cross, working)


def unit_cycles(cascade: Cascade, outputs: tuple[str, ...], *, rows: int, tile: int, head_dim: int,
                width: int) -> float:
    """Cycles a ``width``-PE unit needs for ``outputs`` over one (row block x key tile) step."""
    kw = {"seq_len": tile, "rows": rows, "tile": tile, "head_dim": head_dim, "full": False}
    total = 0.0
    for name in outputs:
        e = cascade.einsum(name)
        total += e.cycles_per_point() * _size(e.ranks, **kw) / width  # type: ignore[arg-type]
    return total


def action_counts(cascade: Cascade, outputs: tuple[str, ...], *, rows: int, tile: int,
                  head_dim: int) -> dict[str, float]:
    """Primitive actions (mac, add, max, exp, divide ...) of ``outputs`` per (row block x key tile) step."""
    kw = {"seq_len": tile, "rows": rows, "tile": tile, "head_dim": head_dim, "full": False}
    counts: dict[str, float] = {}
    for name in outputs:
        e = cascade.einsum(name)
        points = _size(e.ranks, **kw)  # type: ignore[arg-type]
        for action, n in e.cost.items():
            counts[action] = counts.get(action, 0.0) + n * points
    return counts
