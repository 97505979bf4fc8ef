"""Interactive reports: one self-contained ``report.html`` (plotly) per run or sweep folder.

``build_report(DIR)`` recognises the folder — a run (``summary.json``, from ``archsim run``) or
a sweep (``results.parquet`` + ``sweep.json``, from ``archsim sweep``) — and writes
``DIR/report.html`` atomically. Run pages: roofline with operators, per-operator time by
resource, energy breakdown, timeline (and ``timeline.json`` in Chrome/Perfetto format when the
folder has none). Sweep pages: counts and failures, heatmaps over axis pairs, the Pareto front
(latency vs energy vs cost or area), bounds, the best points. Both add modeled-vs-measured
parity plots when ``measured*.csv`` files are present (see :mod:`archsim.reporting.parity`).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from archsim.errors import ConfigError

__all__ = ["build_report", "load_result", "write_run_report"]


def load_result(folder: Path) -> Any:
    """Rebuild a :class:`~archsim.result.Result` from a run folder's ``summary.json``."""
    from archsim.result import OpResult, Result

    path = folder / "summary.json"
    try:
        summary = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError.single(f"cannot read run summary: {exc}", file=str(path)) from None
    op_fields = {f.name for f in dataclasses.fields(OpResult)}
    ops = [OpResult(**{k: v for k, v in op.items() if k in op_fields}) for op in summary.get("ops", [])]
    res_fields = {f.name for f in dataclasses.fields(Result)}
    kwargs = {k: summary[k] for k in ("workload", "hardware", "family", "backend", "peaks", "notes") if k in summary}
    phases = summary.get("phases", {})
    kwargs["tokens_by_phase"] = {p: int(v["tokens"]) for p, v in phases.items() if "tokens" in v}
    return Result(ops=ops, **{k: v for k, v in kwargs.items() if k in res_fields})


def _measured_sections(folder: Path, model: Any, extra: list[Path]) -> list[Any]:
    from archsim.reporting.parity import find_measurements, pairs, parity_section, read_measurements

    sections: list[Any] = []
    for path in list(dict.fromkeys(find_measurements(folder) + extra)):
        for qty, frame in pairs(model, read_measurements(path), str(path)):
            sections.append(parity_section(qty, frame, str(path), len(sections)))
    return sections


def run_page(result: Any, events: list[dict[str, Any]] | None, *, derived_timeline: bool,
             measured: list[Any] | None = None) -> Any:
    from archsim.reporting import run_figures
    from archsim.reporting.page import Page, Section

    page = Page(f"{result.workload} on {result.hardware}",
                intro="Modelled by archsim; every number below comes from the backend named here. "
                      + " ".join(result.notes))
    page.summary = [("backend", result.backend), ("family", result.family),
                    ("latency", f"{result.latency_s:.6g} s"), ("energy", f"{result.energy_j:.6g} J"),
                    ("work", f"{result.flops / 1e12:.4g} TFLOP")]
    page.add(Section("phases", "Phases", table=run_figures.phase_rows(result)))
    page.add(run_figures.roofline(result))
    page.add(run_figures.operator_breakdown(result))
    page.add(run_figures.energy_breakdown(result))
    if events:
        page.add(run_figures.timeline(result, events, derived=derived_timeline))
    for section in measured or []:
        page.add(section)
    return page


def write_run_report(result: Any, path: str | Path) -> None:
    """Write ``report.html`` for one Result (used by ``Result.write`` and ``archsim run``).

    A result without its own timeline gets the serial schedule, also written beside the report
    as ``timeline.json`` (Chrome/Perfetto) unless that file exists.
    """
    from archsim.reporting.trace import serial_schedule, write_trace
    from archsim.sweep.store import atomic_write_bytes

    path = Path(path)
    events = result.timeline if result.timeline else serial_schedule(result)
    trace = path.with_name("timeline.json")
    if not result.timeline and not trace.exists():
        write_trace(events, trace, note="serial schedule derived from per-operator times (no overlap)")
    page = run_page(result, events, derived_timeline=not result.timeline)
    atomic_write_bytes(path, page.render().encode())


def _run_report(folder: Path, measured: list[Path]) -> Path:
    from archsim.reporting.trace import read_trace, serial_schedule, write_trace
    from archsim.sweep.store import atomic_write_bytes

    result = load_result(folder)
    trace_path = folder / "timeline.json"
    derived = not trace_path.exists()
    if derived:
        events = serial_schedule(result)
        write_trace(events, trace_path, note="serial schedule derived from per-operator times (no overlap)")
    else:
        events = read_trace(trace_path)
    sections = _measured_sections(folder, result.to_frame(), measured)
    page = run_page(result, events, derived_timeline=derived, measured=sections)
    out = folder / "report.html"
    atomic_write_bytes(out, page.render().encode())
    return out


def _sweep_report(folder: Path, measured: list[Path]) -> Path:
    import pandas as pd

    from archsim.reporting import sweep_figures as sf
    from archsim.reporting.page import Page, Section
    from archsim.sweep.store import META, RESULTS, atomic_write_bytes

    meta = json.loads((folder / META).read_text()) if (folder / META).exists() else {}
    frame = pd.read_parquet(folder / RESULTS)
    ok = frame[frame["status"] == "ok"] if len(frame) else frame
    inputs = meta.get("input_columns", [])
    summary = meta.get("summary", {})
    page = Page(f"Sweep {meta.get('name', folder.name)}", intro=meta.get("description", ""))
    page.summary = [("points", str(meta.get("points", len(frame)))), ("ok", str(len(ok))),
                    ("failed", str(int((frame["status"] == "error").sum()) if len(frame) else 0)),
                    ("dropped by constraints", str(len(meta.get("dropped_points", [])))),
                    ("state", str(meta.get("state", "?"))), ("sweep file", str(meta.get("sweep_file", "")))]
    if summary:
        page.summary.append(("last run", f"{summary.get('wall_s', 0):.2f} s on {summary.get('engine')} "
                                         f"({summary.get('workers')} workers)"))
    if len(ok):
        grid, rand = sf.dimensions(meta, ok)
        metrics = [(m, title) for m, title in (("latency_s", "Latency (s)"), ("energy_j", "Energy (J)"),
                                               ("usd_per_million_tokens", "USD per million tokens"))
                   if m in ok.columns and ok[m].notna().any()][:2]
        if len(grid) >= 2:
            for metric, title in metrics:
                for section in sf.heatmaps(ok, grid, metric, title):
                    page.add(section)
        elif len(grid) == 1:
            page.add(sf.one_axis(ok, grid[0]))
        if rand:
            page.add(sf.random_scatter(ok, rand))
        section, front = sf.pareto(ok, inputs)
        page.add(section)
        cols = ["point"] + [c for c in inputs if c in front.columns] + \
            [c for c in ("latency_s", "energy_j", "utilization", "bound", "area_m2", "capex_usd") if c in front.columns]
        page.add(Section("pareto-table", "Pareto-optimal points (fastest first, up to 25)",
                         table=front[cols].head(25).to_dict(orient="records")))
        bound = sf.bounds(ok)
        if bound:
            page.add(bound)
    failed = frame[frame["status"] == "error"] if len(frame) else frame
    if len(failed):
        by_error = failed.groupby("error")["point"].agg(["count", "min"]).reset_index().sort_values("count",
                                                                                                  ascending=False)
        page.add(Section("failures", f"Failed points ({len(failed)})", table=[
            {"points": int(r["count"]), "first point": int(r["min"]), "error": r["error"]}
            for _, r in by_error.head(20).iterrows()]))
    dropped = meta.get("dropped_points", [])
    if dropped:
        reasons: dict[str, int] = {}
        for d in dropped:
            reasons[d["reason"]] = reasons.get(d["reason"], 0) + 1
        page.add(Section("dropped", f"Points dropped by constraints ({len(dropped)})",
                         table=[{"points": n, "reason": r} for r, n in reasons.items()]))
    for section in _measured_sections(folder, ok, measured):
        page.add(section)
    out = folder / "report.html"
    atomic_write_bytes(out, page.render().encode())
    return out


def build_report(folder: str | Path, *, measured: list[str | Path] | None = None) -> Path:
    """Write ``folder/report.html`` for a run or sweep output folder; returns its path."""
    from archsim.sweep.store import RESULTS

    path = Path(folder)
    extra = [Path(m) for m in measured or []]
    for m in extra:
        if not m.is_file():
            raise ConfigError.single("measurement file not found", file=str(m), key_path="--measured")
    if not path.is_dir():
        raise ConfigError.single("not a folder", file=str(path))
    if (path / RESULTS).exists():
        return _sweep_report(path, extra)
    if (path / "summary.json").exists():
        return _run_report(path, extra)
    raise ConfigError.single("not an archsim output folder: expected summary.json (archsim run) or "
                             f"{RESULTS} (archsim sweep)", file=str(path))
