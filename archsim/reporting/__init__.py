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
    rerun = "; rerun the `archsim run` that wrote this folder to rewrite it"
    try:
        summary = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError.single(f"damaged: cannot read the run summary ({exc}){rerun}", file=str(path)) from None
    op_fields = {f.name: f for f in dataclasses.fields(OpResult)}
    try:
        ops = [OpResult(**{k: v for k, v in op.items() if k in op_fields}) for op in summary.get("ops", [])]
        for i, op in enumerate(ops):
            for name, f in op_fields.items():
                if f.type == "float" and not isinstance(getattr(op, name), int | float):
                    raise ValueError(f"ops[{i}].{name} is not a number")
        res_fields = {f.name for f in dataclasses.fields(Result)}
        kwargs = {k: summary[k] for k in ("workload", "hardware", "family", "backend", "peaks", "notes", "intervals")
                  if k in summary}
        phases = summary.get("phases", {})
        kwargs["tokens_by_phase"] = {p: int(v["tokens"]) for p, v in phases.items() if "tokens" in v}
        return Result(ops=ops, **{k: v for k, v in kwargs.items() if k in res_fields})
    except (TypeError, ValueError, KeyError, AttributeError) as exc:  # valid JSON, wrong shape
        raise ConfigError.single(f"damaged: not an archsim run summary ({type(exc).__name__}: {exc}){rerun}",
                                 file=str(path)) from None


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
    page.summary += run_figures.interval_summary(result)  # latency: model, calibrated, interval; calibrated on
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
    """Write ``report.html`` for one Result (used by :func:`archsim.reporting.run_folder.write_run`).

    A result without its own timeline gets the serial schedule, also written beside the report
    as ``timeline.json`` (Chrome/Perfetto) unless that file exists.
    """
    from archsim.reporting.trace import write_trace
    from archsim.sweep.store import atomic_write_bytes
    from archsim.trace_events import serial_schedule

    path = Path(path)
    events = result.timeline if result.timeline else serial_schedule(result)
    trace = path.with_name("timeline.json")
    if not result.timeline and not trace.exists():
        write_trace(events, trace, note="serial schedule derived from per-operator times (no overlap)")
    page = run_page(result, events, derived_timeline=not result.timeline)
    atomic_write_bytes(path, page.render().encode())


def _run_report(folder: Path, measured: list[Path]) -> Path:
    from archsim.reporting.trace import read_trace, write_trace
    from archsim.sweep.store import atomic_write_bytes
    from archsim.trace_events import serial_schedule

    result = load_result(folder)
    trace_path = folder / "timeline.json"
    derived = not trace_path.exists()
    if derived:
        events = serial_schedule(result)
        write_trace(events, trace_path, note="serial schedule derived from per-operator times (no overlap)")
    else:
        try:
            events = read_trace(trace_path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError.single(f"damaged: not a Chrome trace ({type(exc).__name__}: {exc}); rerun the "
                                     "`archsim run` that wrote this folder, or delete the file to get the serial "
                                     "schedule", file=str(trace_path)) from None
    sections = _measured_sections(folder, result.to_frame(), measured)
    page = run_page(result, events, derived_timeline=derived, measured=sections)
    out = folder / "report.html"
    atomic_write_bytes(out, page.render().encode())
    return out


def _sweep_report(folder: Path, measured: list[Path]) -> Path:
    from archsim.reporting import sweep_figures as sf
    from archsim.reporting.page import Page, Section
    from archsim.sweep.store import META, RESULTS, atomic_write_bytes, read_meta, read_results

    meta: dict[str, Any] = {}
    rerun = f"rerun the `archsim sweep SWEEP.yaml --out {folder}` that wrote this folder"
    try:
        if (folder / META).exists():
            meta = read_meta(folder / META)
            rerun = f"rerun `archsim sweep {meta.get('sweep_file', 'SWEEP.yaml')} --out {folder}`"
    except ConfigError as exc:
        raise ConfigError.single(f"{exc.problems[0].message}; {rerun}: it keeps the rows of this sweep and "
                                 f"rewrites {META}", file=exc.problems[0].file) from None
    if not (folder / RESULTS).exists():
        raise ConfigError.single(f"missing; {rerun}: it recomputes the table", file=str(folder / RESULTS))
    try:
        frame = read_results(folder / RESULTS)
    except ConfigError as exc:
        raise ConfigError.single(f"{exc.problems[0].message}; {rerun}: it sets the damaged table aside and "
                                 "recomputes it", file=exc.problems[0].file) from None
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
    """Write ``folder/report.html`` for a run or sweep output folder; returns its path.

    Only into a folder archsim wrote (its ``.archsim-output`` marker, or the summary.json /
    sweep.json of an older archsim); a damaged file is named with the command that rewrites it.
    """
    from archsim.outdir import MARKER, clean_stale, folder_kind

    path = Path(folder)
    extra = [Path(m) for m in measured or []]
    for m in extra:
        if not m.is_file():
            raise ConfigError.single("measurement file not found", file=str(m), key_path="--measured")
    if not path.is_dir():
        raise ConfigError.single("not a folder", file=str(path))
    kind = folder_kind(path, exact=False)
    if kind is None:
        raise ConfigError.single(f"not an archsim output folder (no {MARKER}, no summary.json of `archsim run`, "
                                 f"no sweep.json of `archsim sweep`); archsim report writes only into folders archsim "
                                 "wrote", file=str(path))
    clean_stale(path)  # temporaries of a report killed mid-write
    return _sweep_report(path, extra) if kind == "sweep" else _run_report(path, extra)
