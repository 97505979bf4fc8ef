"""Run a sweep into an output folder, resuming whatever a previous (killed) run finished.

Flow: plan (deterministic) -> refuse a folder holding a different sweep -> load finished rows
-> record invalid combinations as failing rows -> run the remaining points on the engine,
checkpointing ``results.parquet`` every ``checkpoint_s`` -> final checkpoint, ``sweep.json``
with the counts, optional report. Only this process writes files.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archsim.errors import ConfigError
from archsim.sweep.engines import ENGINES, default_workers, run_local, run_ray
from archsim.sweep.plan import Plan, load_plan
from archsim.sweep.store import META, ResultsStore, atomic_write_json, check_same_sweep

BASE_COLUMNS = ["point", "config_hash", "status", "error"]
#: Outputs shown first after the inputs; other output columns follow alphabetically.
KEY_OUTPUTS = ["latency_s", "energy_j", "utilization", "bound", "bound_time_share", "flops", "tokens_per_s",
               "energy_per_token_j", "area_m2", "capex_usd", "rental_usd_per_hour", "usd_per_million_tokens",
               "backend_used", "hardware", "family"]


@dataclass
class SweepSummary:
    name: str
    out_dir: Path
    points: int
    ok: int
    failed: int
    dropped: int
    resumed: int
    ran: int
    wall_s: float
    engine: dict[str, Any]
    errors: list[dict[str, Any]] = field(default_factory=list)
    dropped_points: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"points": self.points, "ok": self.ok, "failed": self.failed, "dropped": self.dropped,
                "resumed": self.resumed, "ran": self.ran, "wall_s": self.wall_s, **self.engine}


ProgressHook = Callable[[int, int], None]  # (finished now, total to run)


def run_sweep(sweep_file: str | Path, out_dir: str | Path, *, engine: str = "local", workers: int | None = None,
              address: str | None = None, checkpoint_s: float = 1.0, overwrite: bool = False,
              retry_failed: bool = False, progress: ProgressHook | None = None,
              plan: Plan | None = None) -> SweepSummary:
    """Run (or resume) the sweep in ``sweep_file`` into ``out_dir``; returns the counts."""
    if engine not in ENGINES:
        raise ConfigError.single(f"unknown engine {engine!r}; valid: {', '.join(ENGINES)}", key_path="--engine")
    if workers is not None and workers < 1:
        raise ConfigError.single(f"--workers must be >= 1, got {workers}", key_path="--workers")
    t0 = time.perf_counter()
    plan = plan or load_plan(sweep_file)
    out = Path(out_dir)
    if overwrite and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    check_same_sweep(out, plan.fingerprint, plan.sweep.name)
    dropped = [p for p in plan.points if p.status == "dropped"]
    _write_meta(out, plan, sweep_file, state="running", summary=None)

    store = ResultsStore(out, BASE_COLUMNS + plan.input_columns + KEY_OUTPUTS)
    resumed = store.load_existing({p.index: p.config_hash for p in plan.points if p.status != "dropped"})
    if retry_failed:
        failed = [i for i, r in store.rows.items() if r.get("status") == "error"]
        store.drop(failed)
        resumed -= len(failed)
    by_index = {p.index: p for p in plan.points}

    def with_inputs(row: dict[str, Any]) -> dict[str, Any]:
        point = by_index[row["point"]]
        clash = set(point.inputs) & (set(row) - {"point"})
        if clash:  # an output named like an input path would silently overwrite it
            raise ValueError(f"output columns {sorted(clash)} collide with input paths")
        return {"point": point.index, "config_hash": point.config_hash} | point.inputs | row

    for p in plan.points:
        if p.status == "invalid" and p.index not in store.rows:
            store.add(with_inputs({"point": p.index, "status": "error", "error": p.reason}))
    tasks = [(p.index, p.config) for p in plan.points if p.status == "run" and p.index not in store.rows]
    store.checkpoint()

    finished = 0
    last = time.monotonic()

    def on_rows(rows: list[dict[str, Any]]) -> None:
        nonlocal finished, last
        for row in rows:
            store.add(with_inputs(row))
        finished += len(rows)
        if progress:
            progress(finished, len(tasks))
        if time.monotonic() - last >= checkpoint_s:
            store.checkpoint()
            last = time.monotonic()

    nworkers = workers or default_workers()
    engine_info: dict[str, Any] = {"engine": engine, "workers": nworkers}
    if tasks:
        if engine == "local":
            engine_info = run_local(tasks, nworkers, on_rows)  # type: ignore[arg-type]
        else:
            engine_info = run_ray(tasks, nworkers, on_rows, address)  # type: ignore[arg-type]
    store.checkpoint()

    frame = store.frame()
    errors = frame[frame["status"] == "error"] if len(frame) else frame
    summary = SweepSummary(
        name=plan.sweep.name, out_dir=out, points=len(plan.points),
        ok=int((frame["status"] == "ok").sum()) if len(frame) else 0, failed=len(errors), dropped=len(dropped),
        resumed=resumed, ran=len(tasks), wall_s=time.perf_counter() - t0, engine=engine_info,
        errors=[{"point": int(r.point), "error": r.error} for r in errors.itertuples()][:50],
        dropped_points=[{"point": p.index, "reason": p.reason, **p.inputs} for p in dropped])
    _write_meta(out, plan, sweep_file, state="done", summary=summary)
    return summary


def _write_meta(out: Path, plan: Plan, sweep_file: str | Path, *, state: str, summary: SweepSummary | None) -> None:
    meta: dict[str, Any] = {
        "name": plan.sweep.name, "description": plan.sweep.description, "sweep_file": str(sweep_file),
        "fingerprint": plan.fingerprint, "state": state, "input_columns": plan.input_columns,
        "points": len(plan.points), "planned": {s: plan.count(s) for s in ("run", "invalid", "dropped")},
        "sweep": plan.sweep.model_dump(mode="json", by_alias=True),
    }
    if summary is not None:
        meta["summary"] = summary.as_dict()
        meta["dropped_points"] = summary.dropped_points
        meta["errors"] = summary.errors
    atomic_write_json(out / META, meta)
