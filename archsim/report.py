"""The run report: one self-contained HTML page (plotly inlined, opens offline).

Plots: time per operator (stacked by phase), energy per operator by part, and a roofline of
the off-chip level with each operator as a point (arithmetic intensity vs achieved FLOP/s)
under the device's compute and bandwidth ceilings. Numbers come from the Result; nothing
here computes a model.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from archsim.result import Result


def _figures(result: Result) -> list[tuple[str, object]]:
    import plotly.graph_objects as go

    rows = result.rows()
    figs: list[tuple[str, object]] = []

    # 1. time per operator, per phase
    time_fig = go.Figure()
    for phase in dict.fromkeys(r["phase"] for r in rows):
        sel = [r for r in rows if r["phase"] == phase]
        time_fig.add_bar(name=phase, x=[r["name"] for r in sel], y=[r["total_time_s"] * 1e3 for r in sel],
                         hovertext=[f"{r['bound']}; x{r['count']}" for r in sel])
    time_fig.update_layout(title="Time per operator (all repetitions)", yaxis_title="ms", barmode="group",
                           legend_title="phase")
    figs.append(("time", time_fig))

    # 2. energy per operator by part
    parts = sorted({k for r in rows for k in r if k.startswith("energy_") and k.endswith("_j")
                    and k not in ("energy_j",)})
    energy_fig = go.Figure()
    labels = [f"{r['phase']}:{r['name']}" for r in rows]
    for part in parts:
        energy_fig.add_bar(name=part[len("energy_"):-2], x=labels, y=[r.get(part, 0.0) * r["count"] for r in rows])
    energy_fig.update_layout(title="Energy per operator by part", yaxis_title="J", barmode="stack")
    figs.append(("energy", energy_fig))

    # 3. roofline of the off-chip level
    peaks = result.peaks
    bw = next(iter(peaks["bandwidth_bytes_per_s"].values()))
    level = next(iter(peaks["bandwidth_bytes_per_s"]))
    roof = go.Figure()
    xs = [r["intensity_flops_per_byte"] for r in rows if r["flops"] > 0 and r["intensity_flops_per_byte"] < 1e12]
    lo, hi = (min(xs) / 4, max(xs) * 4) if xs else (0.1, 1e4)
    lo, hi = min(lo, 0.1), max(hi, 1e4)
    for dtype, peak in peaks["matrix_flops_per_s"].items():
        if dtype not in {r["dtype"] for r in rows}:
            continue
        knee = peak / bw
        roof.add_scatter(x=[lo, knee, hi], y=[lo * bw, peak, peak], mode="lines", name=f"{dtype} matrix peak / {level}")
    for vdtype, vpeak in peaks["vector_flops_per_s"].items():
        if vdtype == "fp32":
            roof.add_scatter(x=[lo, vpeak / bw, hi], y=[lo * bw, vpeak, vpeak], mode="lines",
                             line={"dash": "dot"}, name="fp32 vector peak")
    for phase in dict.fromkeys(r["phase"] for r in rows):
        sel = [r for r in rows if r["phase"] == phase and r["flops"] > 0 and r["intensity_flops_per_byte"] < 1e12]
        roof.add_scatter(x=[r["intensity_flops_per_byte"] for r in sel], y=[r["achieved_flops_per_s"] for r in sel],
                         mode="markers", name=f"ops ({phase})", text=[r["name"] for r in sel],
                         marker={"size": 10})
    roof.update_layout(title=f"Roofline ({level})", xaxis={"type": "log", "title": "FLOP per byte"},
                       yaxis={"type": "log", "title": "FLOP/s"})
    figs.append(("roofline", roof))
    return figs


def write_run_report(result: Result, path: str | Path) -> None:
    """Write ``report.html`` for one simulation result (plotly.js inlined once)."""
    import plotly.io as pio

    phases = result.by_phase()
    summary_rows = "".join(
        f"<tr><td>{html.escape(p)}</td><td>{v['latency_s'] * 1e3:.3f}</td><td>{v['energy_j']:.3f}</td>"
        f"<td>{v['flops'] / 1e12:.2f}</td><td>{v.get('tokens_per_s', 0):.1f}</td></tr>"
        for p, v in phases.items())
    parts = []
    for i, (name, fig) in enumerate(_figures(result)):
        parts.append(f'<section id="plot-{name}">' + pio.to_html(
            fig, full_html=False, include_plotlyjs=(i == 0), div_id=f"fig-{name}") + "</section>")
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in result.notes)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>archsim: {html.escape(result.workload)} on {html.escape(result.hardware)}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:4px 8px}}</style>
</head><body>
<h1>{html.escape(result.workload)} on {html.escape(result.hardware)}</h1>
<p>backend: <b>{html.escape(result.backend)}</b>; total latency {result.latency_s * 1e3:.3f} ms;
energy {result.energy_j:.3f} J; {result.flops / 1e12:.2f} TFLOP</p>
<table><tr><th>phase</th><th>latency (ms)</th><th>energy (J)</th><th>TFLOP</th><th>tokens/s</th></tr>{summary_rows}</table>
<ul>{notes}</ul>
{''.join(parts)}
</body></html>"""
    Path(path).write_text(page)
