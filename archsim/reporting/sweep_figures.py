"""Figures of a sweep's results table: heatmaps over axis pairs, Pareto front, bounds, failures.

Dimensions are the sweep's axes (a ``zip`` counts once, by its first path; ``derive`` outputs
are not dimensions). Heatmaps show, for each pair of gridded dimensions, the best (minimum)
value over all other dimensions; random axes get scatter plots instead. The Pareto front is
computed over latency, energy and — when the table has it — capital cost, else area.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from archsim.reporting.page import Section
from archsim.reporting.pareto import pareto_mask

MAX_HEATMAP_PAIRS = 3
MAX_CATEGORIES = 60


def dimensions(meta: dict[str, Any], frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(gridded dimensions, random dimensions) that vary in ``frame``."""
    grid: list[str] = []
    rand: list[str] = []
    for axis in meta.get("sweep", {}).get("axes", []):
        if "grid" in axis:
            grid += list(axis["grid"])
        elif "zip" in axis:
            grid.append(next(iter(axis["zip"])))
        elif "list" in axis:
            grid += list(dict.fromkeys(k for p in axis["list"] for k in p))
        elif "random" in axis:
            rand += list(axis["random"]["params"])
    varied = [c for c in dict.fromkeys(grid) if c in frame.columns and frame[c].nunique(dropna=True) > 1]
    rand = [c for c in dict.fromkeys(rand) if c in frame.columns and frame[c].nunique(dropna=True) > 1]
    return [c for c in varied if frame[c].nunique() <= MAX_CATEGORIES], rand


def short(path: str) -> str:
    """``hw.memory.glb.capacity_bytes`` -> ``glb.capacity_bytes`` for axis titles."""
    parts = path.split(".")
    return ".".join(parts[-2:]) if len(parts) > 2 else path


def _cat(values: pd.Series) -> list[str]:
    from archsim.reporting.page import fmt

    return [fmt(float(v)) if isinstance(v, (int, float, np.number)) and not isinstance(v, bool) else str(v)
            for v in values]


def heatmaps(ok: pd.DataFrame, dims: list[str], metric: str, title: str) -> list[Section]:
    import plotly.graph_objects as go

    sections: list[Section] = []
    pairs = [(a, b) for i, a in enumerate(dims) for b in dims[i + 1:]][:MAX_HEATMAP_PAIRS]
    for a, b in pairs:
        table = ok.groupby([b, a], sort=True)[metric].min().unstack(a)
        values = table.to_numpy(dtype=float)
        positive = values[np.isfinite(values) & (values > 0)]
        log = len(positive) and positive.max() / positive.min() > 10
        z = np.log10(np.where(values > 0, values, np.nan)) if log else values
        fig = go.Figure(go.Heatmap(z=z, x=_cat(table.columns), y=_cat(table.index), customdata=values,
                                   colorscale="Viridis", colorbar={"title": f"log10 {metric}" if log else metric},
                                   hovertemplate=f"{short(a)}=%{{x}}<br>{short(b)}=%{{y}}<br>"
                                                 f"{metric}=%{{customdata:.4g}}<extra></extra>"))
        fig.update_layout(xaxis={"title": a, "type": "category"}, yaxis={"title": b, "type": "category"}, height=480)
        others = [d for d in dims if d not in (a, b)]
        note = f"Minimum {metric} over {', '.join(map(short, others))}." if others else ""
        sections.append(Section(f"heatmap-{metric}-{len(sections)}", f"{title}: {short(a)} x {short(b)}", fig,
                                note=note))
    return sections


def one_axis(ok: pd.DataFrame, dim: str) -> Section:
    from plotly.subplots import make_subplots

    best = ok.groupby(dim, sort=True)[["latency_s", "energy_j"]].min()
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_scatter(x=_cat(best.index), y=best["latency_s"], name="latency_s", mode="lines+markers")
    fig.add_scatter(x=_cat(best.index), y=best["energy_j"], name="energy_j", mode="lines+markers", secondary_y=True)
    fig.update_layout(xaxis={"title": dim, "type": "category"}, height=420)
    fig.update_yaxes(title_text="latency (s)", secondary_y=False)
    fig.update_yaxes(title_text="energy (J)", secondary_y=True)
    return Section(f"axis-{short(dim)}", f"Latency and energy over {short(dim)}", fig)


def random_scatter(ok: pd.DataFrame, dims: list[str]) -> Section:
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=len(dims), subplot_titles=[short(d) for d in dims])
    for i, d in enumerate(dims, start=1):
        fig.add_scatter(x=ok[d], y=ok["latency_s"], mode="markers", name=short(d), row=1, col=i,
                        marker={"size": 5, "opacity": 0.6})
    fig.update_yaxes(type="log", title_text="latency (s)", row=1, col=1)
    fig.update_layout(height=420, showlegend=False)
    return Section("random-axes", "Latency over randomly sampled parameters", fig)


def cost_column(ok: pd.DataFrame) -> str | None:
    """The cost-like objective: capital cost, else area, else serving cost per token."""
    present = [c for c in ("capex_usd", "area_m2", "usd_per_million_tokens")
               if c in ok.columns and ok[c].notna().all()]
    varied = [c for c in present if ok[c].nunique() > 1]
    return (varied or present or [None])[0]  # type: ignore[list-item]


def pareto(ok: pd.DataFrame, inputs: list[str]) -> tuple[Section, pd.DataFrame]:
    """Pareto front over latency, energy (when modelled) and cost; plotted latency vs energy (or cost)."""
    import plotly.graph_objects as go

    cost = cost_column(ok)
    has_energy = "energy_j" in ok.columns and ok["energy_j"].notna().any()
    objectives = ["latency_s"] + (["energy_j"] if has_energy else []) + ([cost] if cost else [])
    y = "energy_j" if has_energy else (cost or "latency_s")
    data = ok.dropna(subset=objectives)
    mask = pareto_mask(data[objectives].to_numpy(dtype=float)) if len(data) else np.zeros(0, dtype=bool)
    front = data[mask].sort_values("latency_s")
    rest = data[~mask]
    fig = go.Figure()
    hover = [c for c in inputs if c in data.columns][:6]

    def text(frame: pd.DataFrame) -> list[str]:
        return ["<br>".join(f"{short(c)}={r[c]:.4g}" if isinstance(r[c], (int, float)) else f"{short(c)}={r[c]}"
                            for c in hover) + f"<br>point {int(r['point'])}" for _, r in frame.iterrows()]

    fig.add_scatter(x=rest["latency_s"], y=rest[y], mode="markers", name="dominated",
                    marker={"color": "#c8c8c8", "size": 6}, hovertext=text(rest), hoverinfo="text+x+y")
    marker: dict[str, Any] = {"size": 10, "line": {"width": 1, "color": "black"}}
    if cost and y != cost:
        marker |= {"color": front[cost], "colorscale": "Plasma", "showscale": True, "colorbar": {"title": cost}}
    fig.add_scatter(x=front["latency_s"], y=front[y], mode="markers", name=f"Pareto ({', '.join(objectives)})",
                    marker=marker, hovertext=text(front), hoverinfo="text+x+y")
    front2 = data[pareto_mask(data[["latency_s", y]].to_numpy(dtype=float))].sort_values("latency_s") \
        if len(data) else data
    fig.add_scatter(x=front2["latency_s"], y=front2[y], mode="lines", name=f"latency-{y} front",
                    line={"color": "black", "shape": "hv"})
    fig.update_layout(xaxis={"type": "log", "title": "latency (s)"}, yaxis={"type": "log", "title": y},
                      height=560, legend={"orientation": "h", "y": -0.18})
    note = f"{len(front)} of {len(data)} points are Pareto-optimal in {', '.join(objectives)} (all minimised)."
    if cost and y != cost:
        note += f" Colour: {cost}."
    if not has_energy:
        note += " The backend models no energy for these points."
    title = "Pareto front: " + " vs ".join(["latency"] + (["energy"] if has_energy else []) + ([cost] if cost else []))
    return Section("pareto", title, fig, note=note), front


def bounds(ok: pd.DataFrame) -> Section | None:
    import plotly.graph_objects as go

    if "bound" not in ok.columns:
        return None
    counts = ok["bound"].value_counts()
    fig = go.Figure(go.Bar(x=list(counts.index), y=list(counts.values)))
    fig.update_layout(yaxis={"title": "points"}, height=360)
    return Section("bounds", "What bounds the points", fig,
                   note="The resource holding most of each point's time (compute, vector, memory:<level>, ...).")
