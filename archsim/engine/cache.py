"""Set-associative, sectored, write-back cache (usable as a GPU L2 in front of a Dram).

Lines of ``line_bytes`` split into sectors of ``sector_bytes`` (NVIDIA L2: 128 B lines, 32 B
sectors); a miss fetches only the missing sectors. Replacement is LRU per set; an evicted
line writes back its dirty sectors. Writes allocate without fetching (whole-sector writes
assumed). Hits cost ``hit_latency_s``; misses additionally wait for the backing store
(anything with ``read(addr, nbytes)`` / ``write(addr, nbytes)`` processes), one request per
contiguous run of missing sectors. Ignored: MSHR merging across concurrent requests, slice
hashing and bank conflicts, the tag-lookup bandwidth limit.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from archsim.engine.core import Engine


@dataclass(frozen=True, kw_only=True)
class CacheSpec:
    capacity_bytes: int
    line_bytes: int = 128
    sector_bytes: int = 32
    ways: int = 16
    hit_latency_s: float = 0.0

    @property
    def sets(self) -> int:
        return self.capacity_bytes // (self.line_bytes * self.ways)

    def __post_init__(self) -> None:
        if self.line_bytes % self.sector_bytes or self.capacity_bytes % (self.line_bytes * self.ways):
            raise ValueError(f"inconsistent cache geometry {self}")


class Cache:
    def __init__(self, engine: Engine, spec: CacheSpec, backing: Any, *, name: str = "cache") -> None:
        self.engine, self.spec, self.backing, self.name = engine, spec, backing, name
        self._sets: list[OrderedDict[int, list[int]]] = [OrderedDict() for _ in range(spec.sets)]
        self.stats = {"sector_hits": 0, "sector_misses": 0, "writebacks": 0, "bytes_fetched": 0,
                      "bytes_written_back": 0}

    def _line(self, tag_line: int) -> tuple[OrderedDict[int, list[int]], int]:
        return self._sets[tag_line % self.spec.sets], tag_line

    def access(self, addr: int, nbytes: int, *, write: bool = False):
        """Process: read or write ``nbytes`` at ``addr``; value = finish time in s."""
        s = self.spec
        nsec = s.line_bytes // s.sector_bytes
        first, last = addr // s.sector_bytes, (addr + nbytes - 1) // s.sector_bytes
        missing: list[int] = []
        writebacks: list[int] = []
        for sector in range(first, last + 1):
            line, idx = divmod(sector, nsec)
            cset, tag = self._line(line)
            state = cset.get(tag)
            if state is None:
                if len(cset) >= s.ways:
                    victim, vstate = cset.popitem(last=False)
                    writebacks.extend(victim * nsec + i for i, v in enumerate(vstate) if v == 2)
                state = [0] * nsec  # 0 invalid, 1 valid clean, 2 valid dirty
                cset[tag] = state
            cset.move_to_end(tag)
            if state[idx]:
                self.stats["sector_hits"] += 1
            else:
                self.stats["sector_misses"] += 1
                if not write:
                    missing.append(sector)
            state[idx] = 2 if write else max(state[idx], 1)
        yield self.engine.timeout_s(s.hit_latency_s)
        procs = []
        for run_start, run_len in _runs(writebacks):
            self.stats["writebacks"] += run_len
            self.stats["bytes_written_back"] += run_len * s.sector_bytes
            procs.append(self.engine.process(self.backing.write(run_start * s.sector_bytes, run_len * s.sector_bytes)))
        for run_start, run_len in _runs(missing):
            self.stats["bytes_fetched"] += run_len * s.sector_bytes
            procs.append(self.engine.process(self.backing.read(run_start * s.sector_bytes, run_len * s.sector_bytes)))
        if procs:
            yield self.engine.all_of(procs)
        return self.engine.now

    def read(self, addr: int, nbytes: int):
        return self.access(addr, nbytes, write=False)

    def write(self, addr: int, nbytes: int):
        return self.access(addr, nbytes, write=True)

    def flush(self):
        """Process: write back every dirty sector."""
        nsec = self.spec.line_bytes // self.spec.sector_bytes
        dirty = []
        for cset in self._sets:
            for tag, state in cset.items():
                dirty.extend(tag * nsec + i for i, v in enumerate(state) if v == 2)
                state[:] = [1 if v else 0 for v in state]
        procs = []
        for run_start, run_len in _runs(sorted(dirty)):
            self.stats["writebacks"] += run_len
            self.stats["bytes_written_back"] += run_len * self.spec.sector_bytes
            procs.append(self.engine.process(self.backing.write(run_start * self.spec.sector_bytes,
                                                                run_len * self.spec.sector_bytes)))
        if procs:
            yield self.engine.all_of(procs)


def _runs(sectors: list[int]) -> list[tuple[int, int]]:
    """Contiguous runs (start, length) of sorted unique sector numbers."""
    runs: list[tuple[int, int]] = []
    for sec in sorted(set(sectors)):
        if runs and runs[-1][0] + runs[-1][1] == sec:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((sec, 1))
    return runs
