"""PIM-style GEMV ``y = W @ x``: the matrix partitioned over DRAM channels and banks.

The mapping (used identically by archsim's PIM model — call :func:`partition`, do not
re-derive it):

- ``W`` is ``m x n`` (``m`` outputs). Processing units are the ``channels * banks_per_channel``
  banks; unit ``u`` is channel ``u % channels``, bank ``u // channels`` (consecutive units go
  to different channels first, so small matrices spread over all channels).
- Matrix row ``r`` lives wholly in unit ``r % units`` (row-interleaved), as local row
  ``r // units``: every bank produces complete dot products, so no partial sums cross banks,
  as in PIM-GPT's row-wise GEMV mapping (each bank's MAC unit reads its own rows while the
  input vector is broadcast to all banks).
- A matrix row is cut into chunks of ``row_elems = dram_row_bytes // elem_bytes`` columns
  (one DRAM row per chunk; the last chunk of a row may be short). Chunk ``c`` of local row
  ``l`` is DRAM row ``base_dram_row + l * chunks_per_row + c`` of its bank, so a bank streams
  its rows in order with one activation per chunk.

The numba kernel runs each bank's share in parallel (``prange`` over banks) with fp32
accumulation, and counts per bank MACs, DRAM rows opened and bytes read; :func:`counts`
predicts the same from the mapping alone. What this ignores: the DRAM timing itself (that is
the PIM model's job), bank-level reduction trees, and the input-vector broadcast cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange


@dataclass(frozen=True, kw_only=True)
class PimPartition:
    """Where each matrix row and chunk lives. Arrays are indexed by matrix row ``r``."""

    m: int
    n: int
    channels: int
    banks_per_channel: int
    elem_bytes: int
    dram_row_bytes: int
    base_dram_row: int
    row_elems: int  # matrix columns per DRAM row (chunk width)
    chunks_per_row: int
    unit_of_row: np.ndarray  # int64[m]
    channel_of_row: np.ndarray  # int64[m]
    bank_of_row: np.ndarray  # int64[m], bank index within its channel
    local_row: np.ndarray  # int64[m], row index within its bank

    @property
    def units(self) -> int:
        return self.channels * self.banks_per_channel

    def rows_per_unit(self) -> np.ndarray:
        """int64[units]: matrix rows held by each unit (differ by at most one)."""
        return np.bincount(self.unit_of_row, minlength=self.units).astype(np.int64)

    def chunk_columns(self, chunk: int) -> tuple[int, int]:
        """Columns ``[start, end)`` of chunk ``chunk`` of every matrix row."""
        start = chunk * self.row_elems
        return start, min(start + self.row_elems, self.n)

    def dram_row(self, row: int, chunk: int) -> int:
        """DRAM row (within its bank) holding chunk ``chunk`` of matrix row ``row``."""
        return self.base_dram_row + int(self.local_row[row]) * self.chunks_per_row + chunk

    def locate(self, row: int, col: int) -> tuple[int, int, int, int]:
        """``(channel, bank, dram_row, column_in_dram_row)`` of element ``W[row, col]``."""
        chunk = col // self.row_elems
        return (int(self.channel_of_row[row]), int(self.bank_of_row[row]), self.dram_row(row, chunk),
                col - chunk * self.row_elems)


def partition(m: int, n: int, channels: int, banks_per_channel: int, *, elem_bytes: int = 2,
              dram_row_bytes: int = 1024, base_dram_row: int = 0) -> PimPartition:
    """Map an ``m x n`` matrix onto ``channels x banks_per_channel`` banks (see module doc).

    ``dram_row_bytes``: bytes per DRAM row (page) of one bank, e.g. 1024 for GDDR6/HBM
    pseudo-channels (check the memory preset); ``elem_bytes``: 2 for fp16/bf16.
    """
    for name, value in (("m", m), ("n", n), ("channels", channels), ("banks_per_channel", banks_per_channel),
                        ("elem_bytes", elem_bytes), ("dram_row_bytes", dram_row_bytes)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if dram_row_bytes % elem_bytes:
        raise ValueError(f"dram_row_bytes ({dram_row_bytes}) must be a multiple of elem_bytes ({elem_bytes})")
    units = channels * banks_per_channel
    rows = np.arange(m, dtype=np.int64)
    unit = rows % units
    row_elems = dram_row_bytes // elem_bytes
    return PimPartition(m=m, n=n, channels=channels, banks_per_channel=banks_per_channel, elem_bytes=elem_bytes,
                        dram_row_bytes=dram_row_bytes, base_dram_row=base_dram_row, row_elems=row_elems,
                        chunks_per_row=-(-n // row_elems), unit_of_row=unit, channel_of_row=unit % channels,
                        bank_of_row=unit // channels, local_row=rows // units)


@njit(parallel=True, cache=True)
def _gemv(w, x, y, unit_offsets, unit_rows, row_elems, elem_bytes, counters):  # pragma: no cover
    n = w.shape[1]
    for u in prange(unit_offsets.size - 1):
        macs = 0
        opened = 0
        for i in range(unit_offsets[u], unit_offsets[u + 1]):  # this bank's rows, in local-row order
            r = unit_rows[i]
            acc = np.float32(0.0)
            for start in range(0, n, row_elems):  # one DRAM row per chunk
                end = min(start + row_elems, n)
                opened += 1
                for c in range(start, end):
                    acc += np.float32(w[r, c]) * np.float32(x[c])
                macs += end - start
            y[r] = acc
        counters[u, 0] = macs
        counters[u, 1] = opened
        counters[u, 2] = macs * elem_bytes


def pim_gemv(w: np.ndarray, x: np.ndarray, part: PimPartition, *, out: np.ndarray | None = None
             ) -> tuple[np.ndarray, dict]:
    """``y = w @ x`` computed bank by bank as ``part`` maps it; returns ``(y, per-bank counts)``.

    Counts are int64 arrays over units (index ``u``: channel ``u % channels``, bank ``u //
    channels``): ``macs``, ``dram_rows_opened``, ``bytes_read`` (matrix bytes only).
    """
    if w.shape != (part.m, part.n) or x.shape != (part.n,):
        raise ValueError(f"w {w.shape} / x {x.shape} do not match the partition ({part.m} x {part.n})")
    y = np.empty(part.m, dtype=np.float32) if out is None else out
    counters = np.zeros((part.units, 3), dtype=np.int64)
    unit_rows = np.lexsort((part.local_row, part.unit_of_row)).astype(np.int64)  # by unit, then local row
    unit_offsets = np.concatenate(([0], np.cumsum(part.rows_per_unit()))).astype(np.int64)
    _gemv(w, x, y, unit_offsets, unit_rows, part.row_elems, part.elem_bytes, counters)
    return y, {"macs": counters[:, 0], "dram_rows_opened": counters[:, 1], "bytes_read": counters[:, 2]}


def counts(part: PimPartition) -> dict:
    """Per-unit counts predicted from the mapping: ``rows * n`` MACs, ``rows * chunks_per_row``
    DRAM rows opened, ``rows * n * elem_bytes`` bytes read."""
    rows = part.rows_per_unit()
    return {"macs": rows * part.n, "dram_rows_opened": rows * part.chunks_per_row,
            "bytes_read": rows * part.n * part.elem_bytes}
