"""Files of a serving run: ``requests.parquet``, ``summary.json``, ``timeline.json`` (Perfetto), ``report.html``.

Written into a folder the caller owns (``archsim serve`` hands the staging folder of an
:class:`archsim.outdir.OutputFolder`, so the swap into ``--out`` is atomic).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from archsim.outdir import atomic_write_bytes, atomic_write_json
from archsim.serving.metrics import request_rows
from archsim.serving.simulator import Run
from archsim.trace_events import complete, process_name, thread_name

#: Iteration slices written to the trace at most (the first ones); the trace says when it stops.
MAX_TRACE_ITERATIONS = 200_000


def timeline(run: Run) -> list[dict[str, Any]]:
    """One slice per iteration on its worker's track, plus a counter track of requests in the system."""
    events: list[dict[str, Any]] = [process_name(1, f"serving ({run.scheduler})")]
    tids = {w: i + 1 for i, w in enumerate(run.workers)}
    events += [thread_name(1, tid, f"worker {w}") for w, tid in tids.items()]
    for it in run.iterations[:MAX_TRACE_ITERATIONS]:
        name = "mixed" if it.prefill_tokens and it.decode_batch else ("prefill" if it.prefill_tokens else "decode")
        events.append(complete(name, it.start_s, it.end_s - it.start_s, pid=1, tid=tids[it.worker], cat="iteration",
                               args={"prefill_tokens": it.prefill_tokens, "prefill_chunks": it.prefill_chunks,
                                     "decode_batch": it.decode_batch,
                                     "decode_context_mean": round(it.decode_context_mean, 1)}))
    events += [{"name": "requests in system", "ph": "C", "ts": t * 1e6, "pid": 1, "args": {"requests": v}}
               for t, v in run.in_system]
    return events


def write_parquet(path: Path, run: Run) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = request_rows(run)
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table(rows), sink)
    atomic_write_bytes(path, sink.getvalue().to_pybytes())


def _cdf(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    v = np.sort(values[~np.isnan(values)])
    return v, np.arange(1, len(v) + 1) / max(len(v), 1)


def report_page(run: Run, summary: dict[str, Any], title: str) -> str:
    """A self-contained page: latency CDFs and the KV-occupancy / queue timeline (plotly inlined once).

    Built here rather than with :mod:`archsim.reporting.page`: the reporting layer imports the sweep, which
    runs serving points, so serving may not import reporting (no import circles)."""
    import html

    import plotly.graph_objects as go
    import plotly.io as pio

    rows = request_rows(run)
    cdf = go.Figure()
    for col in ("ttft_s", "tbt_mean_s", "tbt_p99_s", "e2e_s"):
        x, y = _cdf(rows[col])
        step = max(1, len(x) // 2000)
        cdf.add_trace(go.Scatter(x=x[::step], y=y[::step], mode="lines", name=col))
    cdf.update_layout(title="Latency CDFs (per request)", xaxis_title="seconds", yaxis_title="fraction of requests",
                      xaxis_type="log")
    kv = go.Figure()
    for w, series in run.kv_used.items():
        t, v = zip(*series, strict=True)
        step = max(1, len(t) // 5000)
        kv.add_trace(go.Scatter(x=t[::step], y=v[::step], mode="lines", line_shape="hv", name=f"KV used ({w})"))
    t, q = zip(*run.queued, strict=True)
    step = max(1, len(t) // 5000)
    kv.add_trace(go.Scatter(x=t[::step], y=q[::step], mode="lines", line_shape="hv", name="queued", yaxis="y2"))
    kv.update_layout(title="KV-cache occupancy and queue length over time", xaxis_title="time (s)",
                     yaxis_title="fraction of KV blocks used",
                     yaxis2={"title": "queued requests", "overlaying": "y", "side": "right"})
    facts = [("scheduler", run.scheduler), ("requests", str(len(run.requests))),
             ("TTFT p50 / p99 (s)", f"{summary['ttft_s']['p50']:.4g} / {summary['ttft_s']['p99']:.4g}"),
             ("output tokens/s", f"{summary['throughput']['output_tokens_per_s']:.4g}")]
    table = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts)
    figures = [f'<section id="plot-{name}">' + pio.to_html(fig, full_html=False, include_plotlyjs=i == 0,
                                                            div_id=f"fig-{name}") + "</section>"
               for i, (name, fig) in enumerate((("latency-cdf", cdf), ("kv-occupancy", kv)))]
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
            f"<body><h1>{html.escape(title)}</h1><p>Every number is the simulator's (iteration costs from the "
            f"backends).</p><table>{table}</table>{''.join(figures)}</body></html>\n")


def write_folder(folder: Path, run: Run, summary: dict[str, Any], *, title: str, report: bool = True) -> list[Path]:
    """Write the run's files into ``folder``; returns them."""
    paths = [folder / "requests.parquet", folder / "summary.json", folder / "timeline.json"]
    write_parquet(paths[0], run)
    atomic_write_json(paths[1], summary)
    atomic_write_json(paths[2], {"traceEvents": timeline(run), "displayTimeUnit": "ms"}, indent=None)
    if report:
        paths.append(folder / "report.html")
        atomic_write_bytes(paths[3], report_page(run, summary, title).encode())
    return paths
