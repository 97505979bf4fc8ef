"""Task graphs of tile operations: what a dataflow hands to the player.

A :class:`Task` is one tile operation -- ``load`` a tile from a memory level, ``compute`` on a
unit, ``store`` a tile, ``reduce`` partial results -- with the amount of work it does on one
named *unit* (a resource of the target: ``2d``/``1d`` arrays, ``matrix``/``vector``/``sfu``
units, or a memory level's channel) and the ids of the tasks it waits for. Amounts are in
the unit's own measure: bytes for memory channels, PE-cycles for arrays, operations for
matrix/vector/sfu units; a :class:`~dataflows.target.Target` gives each unit's rate.

``actions`` counts primitive actions for energy (``mac``, ``add``, ``exp``, ``divide``,
``max``, ``flop``, ``<level>_read_bytes``, ``<level>_write_bytes``). A graph stands for
``copies`` identical executions of itself one after another (a representative slice of an
operator); the player extrapolates.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["load", "store", "compute", "reduce"]


@dataclass(frozen=True)
class Task:
    id: int
    name: str
    kind: Kind
    unit: str
    amount: float
    deps: tuple[int, ...] = ()
    actions: dict[str, float] = field(default_factory=dict)
    group: int = 0
    #: a matrix tile ``(m, n, k)`` when the task is one GEMM tile (C[m x n] += A[m x k] @ B[k x n]):
    #: the player then times it with the engine's systolic-array contract instead of amount / rate
    tile: tuple[int, int, int] | None = None


@dataclass
class TaskGraph:
    """Tasks in creation order; a dependency always points to an earlier task (acyclic by construction)."""

    name: str
    tasks: list[Task] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: on-chip buffers the schedule holds: (name, bytes, double_buffered); the player allocates
    #: them in the engine's :class:`~archsim.engine.Sram` of the target (CapacityError past capacity)
    buffers: list[tuple[str, float, bool]] = field(default_factory=list)

    def add(self, name: str, kind: Kind, unit: str, amount: float, deps: Iterable[int | None] = (),
            actions: dict[str, float] | None = None, group: int = 0,
            tile: tuple[int, int, int] | None = None) -> int:
        tid = len(self.tasks)
        clean = tuple(sorted({d for d in deps if d is not None}))
        for d in clean:
            if not 0 <= d < tid:
                raise ValueError(f"task {name}: dependency {d} is not an earlier task")
        if amount < 0:
            raise ValueError(f"task {name}: negative amount {amount}")
        self.tasks.append(Task(tid, name, kind, unit, float(amount), clean, dict(actions or {}), group, tile))
        return tid

    def load(self, name: str, level: str, nbytes: float, deps: Iterable[int | None] = (), group: int = 0) -> int:
        return self.add(name, "load", f"mem:{level}", nbytes, deps, {f"{level}_read_bytes": nbytes}, group)

    def store(self, name: str, level: str, nbytes: float, deps: Iterable[int | None] = (), group: int = 0) -> int:
        return self.add(name, "store", f"mem:{level}", nbytes, deps, {f"{level}_write_bytes": nbytes}, group)

    def work_by_unit(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for t in self.tasks:
            out[t.unit] = out.get(t.unit, 0.0) + t.amount
        return out

    def actions(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for t in self.tasks:
            for k, v in t.actions.items():
                out[k] = out.get(k, 0.0) + v
        return out

    def __len__(self) -> int:
        return len(self.tasks)
