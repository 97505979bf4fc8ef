"""Run a sweep into an output folder, resuming whatever a previous (killed) run finished.

Flow: plan (deterministic) -> check and lock the folder (:class:`archsim.outdir.OutputFolder`:
never a folder archsim did not write, unless ``force``) -> refuse a folder holding a different
sweep -> load finished rows (a damaged table is named and recomputed) -> record invalid
combinations as failing rows -> run the remaining points on the engine, checkpointing
``results.parquet`` every ``checkpoint_s`` -> final checkpoint, ``sweep.json`` with the counts.
Only this process writes files, and it holds the folder's lock until it returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archsim.errors import ConfigError
from archsim.outdir import OutputFolder
from archsim.sweep.engines import ENGINES, default_workers, run_local, run_ray
from archsim.sweep.plan import Plan, load_plan
from archsim.sweep.store import META, RESULTS, ResultsStore, atomic_write_json, check_same_sweep

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
    #: damaged files found in the folder and what was done about them
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"points": self.points, "ok": self.ok, "failed": self.failed, "dropped": self.dropped,
                "resumed": self.resumed, "ran": self.ran, "wall_s": self.wall_s, **self.engine}


ProgressHook = Callable[[int, int], None]  # (finished now, total to run)


def sweep_inputs(plan: Plan, sweep_file: str | Path) -> list[Path]:
    """The files a sweep reads: the sweep file and the base hardware / workload files it names."""
    files = [Path(sweep_file)]
    for ref in (plan.sweep.base.hardware, plan.sweep.base.workload):
        if isinstance(ref, str):
            files += [c for c in (Path(ref), Path(sweep_file).parent / ref) if c.is_file()]
    return files


def run_sweep(sweep_file: str | Path, out_dir: str | Path, *, engine: str = "local", workers: int | None = None,
              address: str | None = None, checkpoint_s: float = 1.0, overwrite: bool = False, force: bool = False,
              retry_failed: bool = False, progress: ProgressHook | None = None,
              plan: Plan | None = None) -> SweepSummary:
    """Run (or resume) the sweep in ``sweep_file`` into ``out_dir``; returns the counts.

    ``overwrite`` discards the results in ``out_dir``; ``force`` (with ``overwrite``) lets it
    replace a folder archsim did not write. The folder is locked for the whole run.
    """
    if engine not in ENGINES:
        raise ConfigError.single(f"unknown engine {engine!r}; valid: {', '.join(ENGINES)}", key_path="--engine")
    if workers is not None and workers < 1:
        raise ConfigError.single(f"--workers must be >= 1, got {workers}", key_path="--workers")
    t0 = time.perf_counter()
    plan = plan or load_plan(sweep_file)
    folder = OutputFolder(out_dir, kind="sweep", force=force, replace=overwrite, inputs=sweep_inputs(plan, sweep_file))
    with folder:
        return _run_in(folder.update(), plan, sweep_file, t0, engine=engine, workers=workers, address=address,
                       checkpoint_s=checkpoint_s, retry_failed=retry_failed, progress=progress)


def _run_in(out: Path, plan: Plan, sweep_file: str | Path, t0: float, *, engine: str, workers: int | None,
            address: str | None, checkpoint_s: float, retry_failed: bool,
            progress: ProgressHook | None) -> SweepSummary:
    meta_damaged = check_same_sweep(out, plan.fingerprint, plan.sweep.name)
    dropped = [p for p in plan.points if p.status == "dropped"]
    store = ResultsStore(out, BASE_COLUMNS + plan.input_columns + KEY_OUTPUTS)
    resumed = store.load_existing({p.index: p.config_hash for p in plan.points if p.status != "dropped"})
    if meta_damaged and store.discarded:
        raise ConfigError.single(
            f"{meta_damaged.split(';')[0]}, and {out / RESULTS} holds {store.discarded} rows that are not of this "
            "sweep: choose another --out, or pass --overwrite to discard them", key_path="--out")
    warnings = [w for w in (meta_damaged, store.damaged) if w]
    _write_meta(out, plan, sweep_file, state="running", summary=None)
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
        dropped_points=[{"point": p.index, "reason": p.reason, **p.inputs} for p in dropped], warnings=warnings)
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
        if summary.warnings:
            meta["warnings"] = summary.warnings
    atomic_write_json(out / META, meta)
