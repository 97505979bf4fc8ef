"""The sweep output folder: ``results.parquet`` (one row per point) and ``sweep.json``.

Crash safety: ``results.parquet`` is rewritten in full from memory at each checkpoint into a
temporary file in the same folder, fsynced, then ``os.replace``d over the old one, so at any
instant the file on disk is a complete table of every point finished by the last checkpoint.
A ``kill -9`` loses at most the rows since the last checkpoint; a rerun reads the table, skips
the points it holds (keyed by point index, checked against the config hash) and recomputes
the rest, which are deterministic. ``sweep.json`` carries the plan's fingerprint: a rerun with
a different sweep into the same folder is refused instead of mixing two sweeps.

Damage (a truncated or foreign ``results.parquet``, a truncated ``sweep.json``) is named, never a
traceback: a damaged table is moved aside and recomputed; a damaged ``sweep.json`` is rewritten
when every row of the table still matches this sweep's config hashes, else the run is refused.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from archsim.errors import ConfigError
from archsim.outdir import MARKER, atomic_write_bytes, atomic_write_json

__all__ = ["META", "RESULTS", "ResultsStore", "atomic_write_bytes", "atomic_write_json", "check_same_sweep",
           "read_meta", "read_results"]

RESULTS = "results.parquet"
META = "sweep.json"
DAMAGED = RESULTS + ".damaged"
#: Columns every results table of an archsim sweep has.
REQUIRED_COLUMNS = ("point", "config_hash", "status")


def read_results(path: Path) -> pd.DataFrame:
    """``results.parquet`` as a frame; a truncated or foreign file is a ConfigError naming it."""
    import pyarrow as pa

    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise ConfigError.single(f"damaged: not a readable parquet table ({type(exc).__name__}: "
                                 f"{str(exc)[:160]})", file=str(path)) from None
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ConfigError.single(f"damaged: not an archsim results table (no column {', '.join(missing)})",
                                 file=str(path))
    if len(frame) and not pd.api.types.is_integer_dtype(frame["point"]):
        raise ConfigError.single("damaged: column 'point' is not integer", file=str(path))
    return frame


def read_meta(path: Path) -> dict[str, Any]:
    """``sweep.json`` as a dict; truncated or garbage JSON is a ConfigError naming the file."""
    try:
        meta = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError.single(f"damaged: not readable JSON ({exc})", file=str(path)) from None
    if not isinstance(meta, dict):
        raise ConfigError.single(f"damaged: a JSON {type(meta).__name__}, not the object archsim writes",
                                 file=str(path))
    return meta


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
        #: rows of the previous table that do not belong to this plan; a message if the table was damaged
        self.discarded = 0
        self.damaged: str | None = None
        for name in (RESULTS, META):  # temporaries of archsim before 0.2 (mkstemp names); the caller holds the lock
            for stale in out_dir.glob(f".{name}.*"):
                if ".archsim-" not in stale.name:  # pid-tagged ones: OutputFolder removes those of dead writers
                    stale.unlink(missing_ok=True)

    def load_existing(self, expected_hash: dict[int, str]) -> int:
        """Read rows of a previous run; keep those whose config hash matches this plan.

        A damaged table (truncated by a full disk, overwritten by another program) is moved aside
        to ``results.parquet.damaged``, noted in :attr:`damaged`, and every point is recomputed.
        """
        if not self.path.exists():
            return 0
        try:
            frame = read_results(self.path)
        except ConfigError as exc:
            self.damaged = f"{exc}; moved to {DAMAGED}, every point is recomputed"
            self.path.replace(self.path.with_name(DAMAGED))
            return 0
        kept = 0
        for row in frame.to_dict(orient="records"):
            index = int(row["point"])
            if expected_hash.get(index) == row.get("config_hash"):
                self.rows[index] = {k: v for k, v in row.items() if not _is_missing(v)}
                kept += 1
        self.discarded = len(frame) - kept
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


def check_same_sweep(out_dir: Path, fingerprint: str, name: str) -> str | None:
    """Refuse to resume into a folder that holds a different sweep. Returns a warning (the caller
    must then check that every row of the table belongs to this sweep) if ``sweep.json`` is damaged."""
    meta = out_dir / META
    if not meta.exists():
        if (out_dir / RESULTS).exists() and (out_dir / MARKER).exists():
            return f"{meta}: missing; it is rewritten from this sweep"
        if (out_dir / RESULTS).exists():
            raise ConfigError.single(f"{out_dir} has {RESULTS} but no {META}; not an archsim sweep folder "
                                     "(use another --out, or --overwrite)", key_path="--out")
        return None
    try:
        old = read_meta(meta)
    except ConfigError as exc:
        return f"{exc}; it is rewritten from this sweep"
    if old.get("fingerprint") != fingerprint:
        raise ConfigError.single(
            f"{out_dir} holds results of a different sweep ({old.get('name')!r}, fingerprint "
            f"{old.get('fingerprint')}; this one is {name!r}, {fingerprint}): use another --out, or --overwrite",
            key_path="--out")
    return None
