"""Whole-model parity as text, a plotly page and Markdown, and ``reproduce`` for reports/whole-model.md.

Reads only committed measurements (``archsim/data/measurements/h200``); formats what
:mod:`archsim.gpu.wholemodel` computes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from archsim.data import measurement
from archsim.gpu.stacks import CATEGORIES

SETS = {"campaign": ("h200-wm-whole-2026-12-01.csv", "h200-wm-kernels-2026-12-01.csv"),
        "holdout": ("h200-wm-holdout-whole-2026-12-01.csv", "h200-wm-holdout-kernels-2026-12-01.csv")}


def kernels_csv_for(whole_csv: Path) -> Path:
    """The per-kernel CSV written beside a whole-model CSV (``...-whole-...`` -> ``...-kernels-...``)."""
    name = whole_csv.name.replace("-whole", "-kernels").replace("wm-whole", "wm-kernels")
    return whole_csv.with_name(name)


def _pct(x: float) -> str:
    return f"{x * 100:+.1f}%"


def print_rows(rows: list[dict], summary: dict, echo: Callable[[str], None], shown: str = "all") -> None:
    """Per-step table (``shown`` all | worst | none), then the group and category summaries."""
    pick = rows if shown == "all" else sorted(rows, key=lambda r: -abs(r["gpu_error"]))[:25] if shown == "worst" else []
    if pick:
        echo(f"{'run':6} {'model':13} {'stack/host':16} {'phase':7} {'b':>4} {'len':>6} {'L':>2} "
             f"{'gpu_ms':>8} {'model':>8} {'err':>7} {'wall_ms':>8} {'model':>8} {'err':>7}")
    for r in pick:
        length = r["seq_len"] if r["phase"] == "prefill" else r["context"]
        echo(f"{r['run_id']:6} {r['model'][:13]:13} {r['stack'] + '/' + r['host']:16} {r['phase']:7} "
             f"{r['batch']:4d} {length:6d} {r['layers']:2d} {r['measured_gpu_s'] * 1e3:8.2f} "
             f"{r['modeled_gpu_s'] * 1e3:8.2f} {_pct(r['gpu_error']):>7} {r['measured_wall_s'] * 1e3:8.2f} "
             f"{r['modeled_wall_s'] * 1e3:8.2f} {_pct(r['wall_error']):>7}")
    echo(f"\n{'group':30} {'n':>4} {'GPU MAPE':>9} {'signed':>7} {'max':>7} {'wall MAPE':>10} {'signed':>7} {'max':>7}")
    for name, g in summary["groups"].items():
        a, w = g["gpu"], g["wall"]
        echo(f"{name:30} {a['n']:4d} {a['mape'] * 100:8.1f}% {_pct(a['signed']):>7} {a['max'] * 100:6.1f}% "
             f"{w['mape'] * 100:9.1f}% {_pct(w['signed']):>7} {w['max'] * 100:6.1f}%")
    echo(f"\n{'category (eager steps)':30} {'n':>4} {'MAPE':>9} {'signed':>7} {'max':>7}")
    for c, st in summary["categories"].items():
        echo(f"{c:30} {st['n']:4d} {st['mape'] * 100:8.1f}% {_pct(st['signed']):>7} {st['max'] * 100:6.1f}%")


def parity_figure(rows: list[dict], title: str):
    """Plotly page: GPU time and wall time parity (log-log), per-category parity, +-10 / 20 % bands."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots
    fig = make_subplots(rows=1, cols=3, subplot_titles=("GPU-busy time (ms)", "wall time (ms)",
                                                        "per category, eager (ms)"))
    for col, (mk, pk) in enumerate((("measured_gpu_s", "modeled_gpu_s"), ("measured_wall_s", "modeled_wall_s")),
                                   start=1):
        for key in sorted({f"{r['stack']}/{r['host']}" for r in rows}):
            sub = [r for r in rows if f"{r['stack']}/{r['host']}" == key]
            fig.add_trace(go.Scatter(
                x=[r[mk] * 1e3 for r in sub], y=[r[pk] * 1e3 for r in sub], mode="markers", name=key,
                legendgroup=key, showlegend=col == 1,
                marker={"symbol": ["circle" if r["phase"] == "prefill" else "diamond" for r in sub], "size": 7},
                text=[f"{r['run_id']} {r['model']} {r['phase']} b{r['batch']} s{r['seq_len']} c{r['context']}"
                      for r in sub]), row=1, col=col)
    for c in CATEGORIES:
        sub = [r for r in rows if r["host"] == "eager" and r["measured_by_category"].get(c, 0) > 0]
        fig.add_trace(go.Scatter(x=[r["measured_by_category"][c] * 1e3 for r in sub],
                                 y=[r["modeled_by_category"][c] * 1e3 for r in sub], mode="markers", name=c,
                                 text=[r["run_id"] for r in sub]), row=1, col=3)
    vals = [v for r in rows for v in (r["measured_gpu_s"], r["modeled_gpu_s"], r["measured_wall_s"])]
    lo, hi = min(vals) * 1e3 / 1.5, max(vals) * 1e3 * 1.5
    for col in (1, 2, 3):
        for f, dash in ((1.0, "solid"), (1.2, "dot"), (1 / 1.2, "dot"), (1.1, "dash"), (1 / 1.1, "dash")):
            fig.add_trace(go.Scatter(x=[lo / 100, hi], y=[lo / 100 * f, hi * f], mode="lines", showlegend=False,
                                     line={"color": "gray", "dash": dash, "width": 1}), row=1, col=col)
        fig.update_xaxes(type="log", title_text="measured", row=1, col=col)
        fig.update_yaxes(type="log", title_text="modeled", row=1, col=col)
    fig.update_layout(title=title, width=1500, height=560)
    return fig


def markdown(rows: list[dict], summary: dict) -> str:
    """Group and category summaries, then every step, as Markdown tables."""
    out = ["| group | n | GPU MAPE | GPU signed | GPU max | wall MAPE | wall signed | wall max |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, g in summary["groups"].items():
        a, w = g["gpu"], g["wall"]
        out.append(f"| {name} | {a['n']} | {a['mape'] * 100:.1f}% | {_pct(a['signed'])} | {a['max'] * 100:.1f}% | "
                   f"{w['mape'] * 100:.1f}% | {_pct(w['signed'])} | {w['max'] * 100:.1f}% |")
    out += ["", "| category (eager steps, > 2 % of the step) | n | MAPE | signed | max |", "|---|---:|---:|---:|---:|"]
    for c, st in summary["categories"].items():
        out.append(f"| {c} | {st['n']} | {st['mape'] * 100:.1f}% | {_pct(st['signed'])} | {st['max'] * 100:.1f}% |")
    out += ["", "<details><summary>every step</summary>", "",
            "| run | model | stack/host | phase | batch | len | layers | GPU ms | model | err | wall ms | model "
            "| err |",
            "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        length = r["seq_len"] if r["phase"] == "prefill" else r["context"]
        out.append(f"| {r['run_id']} | {r['model']} | {r['stack']}/{r['host']} | {r['phase']} | {r['batch']} | "
                   f"{length} | {r['layers']} | {r['measured_gpu_s'] * 1e3:.2f} | {r['modeled_gpu_s'] * 1e3:.2f} | "
                   f"{_pct(r['gpu_error'])} | {r['measured_wall_s'] * 1e3:.2f} | {r['modeled_wall_s'] * 1e3:.2f} | "
                   f"{_pct(r['wall_error'])} |")
    out += ["", "</details>"]
    return "\n".join(out)


def reproduce(out_dir: Path) -> list[Path]:
    """Regenerate the whole-model evidence (``archsim reproduce whole-model``): per set and calibration,
    a Markdown table file, a JSON dump and a plotly parity page under ``out_dir``."""
    from archsim.gpu.devices import device_calibration
    from archsim.gpu.wholemodel import compare_whole, summarise_whole
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for mode in ("own", "cross"):
        cal = device_calibration("h200", mode)
        for name, (whole, kernels) in SETS.items():
            rows = compare_whole(measurement("h200", whole), measurement("h200", kernels), cal)
            summary = summarise_whole(rows)
            stem = f"{name}-h200-{mode}"
            md = out_dir / f"tables-{stem}.md"
            md.write_text(markdown(rows, summary) + "\n")
            js = out_dir / f"parity-{stem}.json"
            js.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1, default=str))
            html = out_dir / f"parity-{stem}.html"
            title = (f"whole-model parity, {name} set, H200 ({mode} calibration): GPU MAPE "
                     f"{summary['groups']['all']['gpu']['mape'] * 100:.1f}%, wall MAPE "
                     f"{summary['groups']['all']['wall']['mape'] * 100:.1f}%")
            parity_figure(rows, title).write_html(str(html), include_plotlyjs="cdn")
            written += [md, js, html]
    return written
