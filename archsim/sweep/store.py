"""The sweep output folder: ``results.parquet`` (one row per point) and ``sweep.json``.

Crash safety: ``results.parquet`` is rewritten in full from memory at each checkpoint into a
temporary file in the same folder, fsynced, then ``os.replace``d over the old one, so at any
instant the file on disk is a complete table of every point finished by the last checkpoint.
A ``kill -9`` loses at most the rows since the last checkpoint; a rerun reads the table, skips
the points it holds (keyed by point index, checked against the config hash) and recomputes
the rest, which are deterministic. ``sweep.json`` carries the plan's fingerprint: a rerun with
a different sweep into the same folder is refused instead of mixing two sweeps.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from archsim.errors import ConfigError

RESULTS = "results.parquet"
META = "sweep.json"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, default=str) + "\n").encode())


def _column_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns mixing numbers and strings become strings (parquet needs one type)."""
    for col in frame.columns:
        if frame[col].dtype == object:
            kinds = {type(v) for v in frame[col] if v is not None and not (isinstance(v, float) and math.isnan(v))}
            if len(kinds) > 1 and not kinds <= {int, float}:
                frame[col] = frame[col].map(lambda v: None if v is None else str(v))
    return frame


class ResultsStore:
    """Rows by point index; ``checkpoint()`` writes ``results.parquet`` atomically."""

    def __init__(self, out_dir: Path, column_order: list[str]):
        self.out_dir = out_dir
        self.path = out_dir / RESULTS
        self.column_order = column_order
        self.rows: dict[int, dict[str, Any]] = {}
        self.dirty = False
        for stale in out_dir.glob(f".{RESULTS}.*"):  # temporaries of a run killed mid-write
            stale.unlink(missing_ok=True)

    def load_existing(self, expected_hash: dict[int, str]) -> int:
        """Read rows of a previous run; keep those whose config hash matches this plan."""
        if not self.path.exists():
            return 0
        frame = pd.read_parquet(self.path)
        kept = 0
        for row in frame.to_dict(orient="records"):
            index = int(row["point"])
            if expected_hash.get(index) == row.get("config_hash"):
                self.rows[index] = {k: v for k, v in row.items() if not _is_missing(v)}
                kept += 1
        return kept

    def add(self, row: dict[str, Any]) -> None:
        self.rows[int(row["point"])] = row
        self.dirty = True

    def drop(self, indices: list[int]) -> None:
        for i in indices:
            self.rows.pop(i, None)
        self.dirty = True

    def frame(self) -> pd.DataFrame:
        records = [self.rows[i] for i in sorted(self.rows)]
        frame = pd.DataFrame.from_records(records)
        if frame.empty:
            return pd.DataFrame(columns=self.column_order)
        ordered = [c for c in self.column_order if c in frame.columns]
        rest = sorted(c for c in frame.columns if c not in ordered)
        return _column_safe(frame[ordered + rest].reset_index(drop=True))

    def checkpoint(self) -> None:
        if not self.dirty:
            return
        import io

        buffer = io.BytesIO()
        self.frame().to_parquet(buffer, index=False)
        atomic_write_bytes(self.path, buffer.getvalue())
        self.dirty = False


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def check_same_sweep(out_dir: Path, fingerprint: str, name: str) -> None:
    """Refuse to resume into a folder that holds a different sweep."""
    meta = out_dir / META
    if not meta.exists():
        if (out_dir / RESULTS).exists():
            raise ConfigError.single(f"{out_dir} has {RESULTS} but no {META}; not an archsim sweep folder "
                                     "(use another --out, or --overwrite)", key_path="--out")
        return
    old = json.loads(meta.read_text())
    if old.get("fingerprint") != fingerprint:
        raise ConfigError.single(
            f"{out_dir} holds results of a different sweep ({old.get('name')!r}, fingerprint "
            f"{old.get('fingerprint')}; this one is {name!r}, {fingerprint}): use another --out, or --overwrite",
            key_path="--out")
