"""Figures of one simulation result: roofline, per-operator time, energy, timeline.

Every number drawn comes from the Result (its operators' modelled times, bytes, energies and
the device peaks it was simulated against); nothing here models anything.
"""

from __future__ import annotations

from typing import Any

from archsim.reporting.page import Section
from archsim.reporting.trace import slices

_PALETTE = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6", "#9D755D", "#BAB0AC"]


def _labels(result: Any) -> list[str]:
    phases = {o.phase for o in result.ops}
    return [f"{o.phase}:{o.name}" if len(phases) > 1 else o.name for o in result.ops]


def roofline(result: Any) -> Section:
    """Operators as points (FLOP per off-chip byte, achieved FLOP/s) under each level's ceiling."""
    import plotly.graph_objects as go

    peaks = result.peaks
    bws: dict[str, float] = peaks.get("bandwidth_bytes_per_s", {})
    offchip = next(iter(bws), None)
    fig = go.Figure()
    pts = []
    for o, label in zip(result.ops, _labels(result), strict=True):
        nbytes = o.bytes_by_level.get(offchip, 0.0) if offchip else 0.0
        if o.flops > 0 and nbytes > 0 and o.time_s > 0:
            pts.append((o.flops / nbytes, o.flops / o.time_s, label, o))
    xs = [p[0] for p in pts] or [1.0]
    lo, hi = min(min(xs) / 4, 0.1), max(max(xs) * 4, 1e4)
    dtypes = {o.dtype for o in result.ops}
    matrix = {d: r for d, r in peaks.get("matrix_flops_per_s", {}).items() if d in dtypes}
    vector = peaks.get("vector_flops_per_s", {})
    top = max(list(matrix.values()) + list(vector.values()) or [1.0])
    for i, (level, bw) in enumerate(bws.items()):
        fig.add_scatter(x=[lo, top / bw, hi], y=[lo * bw, top, top], mode="lines",
                        name=f"{level} bandwidth",
                        line={"color": _PALETTE[i % len(_PALETTE)], "dash": "solid" if i == 0 else "dash"})
    for dtype, peak in matrix.items():
        fig.add_scatter(x=[lo, hi], y=[peak, peak], mode="lines", name=f"{dtype} matrix peak",
                        line={"color": "black"})
    for dtype, peak in vector.items():
        fig.add_scatter(x=[lo, hi], y=[peak, peak], mode="lines", name=f"{dtype} vector peak",
                        line={"color": "grey", "dash": "dot"})
    for phase in dict.fromkeys(p[3].phase for p in pts):
        sel = [p for p in pts if p[3].phase == phase]
        fig.add_scatter(x=[p[0] for p in sel], y=[p[1] for p in sel], mode="markers", name=f"ops ({phase})",
                        marker={"size": 11},
                        hovertext=[f"{p[2]}: bound {p[3].bound}" for p in sel])
    fig.update_layout(xaxis={"type": "log", "title": f"arithmetic intensity (FLOP per {offchip} byte)"},
                      yaxis={"type": "log", "title": "achieved FLOP/s"}, height=520)
    return Section("roofline", f"Roofline ({offchip}) with operators", fig,
                   note="Each operator at its modelled intensity and achieved rate; lines are the device's "
                        "peaks and each memory level's bandwidth ceiling (levels after the first use the "
                        "off-chip intensity, so they are a guide, not that level's own roofline).")


def operator_breakdown(result: Any) -> Section:
    """Per operator: time of every resource (the largest is the bound and the operator's time)."""
    import plotly.graph_objects as go

    labels = _labels(result)
    resources = list(dict.fromkeys(r for o in result.ops for r in o.time_by_resource))
    fig = go.Figure()
    for i, res in enumerate(resources):
        fig.add_bar(name=res, x=labels, y=[o.time_by_resource.get(res, 0.0) * o.count * 1e3 for o in result.ops],
                    marker_color=_PALETTE[i % len(_PALETTE)])
    fig.add_scatter(name="operator time, model (max)", x=labels, y=[o.total_time_s * 1e3 for o in result.ops],
                    mode="markers", marker={"symbol": "line-ew-open", "size": 28, "color": "black"})
    calibrated = _calibrated_with_error_bars(result)
    if calibrated:
        fig.add_scatter(name="calibrated on validation, 80% interval", x=labels, mode="markers",
                        marker={"symbol": "diamond-open", "size": 9, "color": "#444"}, **calibrated)
    fig.update_layout(barmode="group", yaxis={"title": "ms (all repetitions)"}, height=480)
    rows = [{"operator": label, "count": o.count, "bound": o.bound, "time_s": o.total_time_s,
             "share": o.total_time_s / result.latency_s if result.latency_s else 0.0,
             "GFLOP": o.flops * o.count / 1e9, "energy_j": o.total_energy_j}
            for label, o in zip(labels, result.ops, strict=True)]
    return Section("operators", "Per-operator time by resource", fig, table=rows,
                   note="Bars: the time each resource would need for the operator; the operator takes the "
                        "largest (its bound, black marker: the model's estimate). Diamonds: the calibrated time "
                        "(model x the median measured/modeled of the operator's validation cell, archsim.intervals) "
                        "with its 80% prediction interval as error bars; none where unvalidated. The model's "
                        "estimate can lie outside the interval where the model is biased in that cell.")


def _calibrated_with_error_bars(result: Any) -> dict[str, Any] | None:
    """plotly ``y`` (calibrated ms, all repetitions) and ``error_y`` (80% interval); None without intervals."""
    ops = (getattr(result, "intervals", None) or {}).get("ops")
    if not ops or not any(r.get("total_time_s_calibrated") is not None for r in ops):
        return None
    y, plus, minus = [], [], []
    for r in ops:
        c, lo_hi = r.get("total_time_s_calibrated"), r.get("total_time_s_p80")
        y.append(c * 1e3 if c is not None else None)
        plus.append((lo_hi[1] - c) * 1e3 if c is not None and lo_hi else 0.0)
        minus.append((c - lo_hi[0]) * 1e3 if c is not None and lo_hi else 0.0)
    return {"y": y, "error_y": {"type": "data", "symmetric": False, "array": plus, "arrayminus": minus,
                                "color": "#444"}}


def interval_summary(result: Any) -> list[tuple[str, str]]:
    """report.html summary rows: the latency's model / calibrated / interval and what it was calibrated on."""
    iv = getattr(result, "intervals", None)
    if not isinstance(iv, dict) or "calibrated_on" not in iv:  # none, or a summary.json from before calibration
        return []
    from archsim.intervals.display import calibration_lines, estimate_text
    total = iv["total"]
    return [("latency estimate", estimate_text(total, "latency_s")),
            ("calibration", "; ".join(calibration_lines(total, iv["calibrated_on"], "latency_s")))]


def energy_breakdown(result: Any) -> Section:
    from plotly.subplots import make_subplots

    labels = _labels(result)
    parts = list(dict.fromkeys(p for o in result.ops for p in o.energy_by_part))
    fig = make_subplots(rows=1, cols=2, column_widths=[0.65, 0.35], specs=[[{"type": "xy"}, {"type": "domain"}]],
                        subplot_titles=("per operator", "total by part"))
    totals = []
    for i, part in enumerate(parts):
        ys = [o.energy_by_part.get(part, 0.0) * o.count for o in result.ops]
        totals.append(sum(ys))
        fig.add_bar(name=part, x=labels, y=ys, marker_color=_PALETTE[i % len(_PALETTE)], legendgroup=part,
                    row=1, col=1)
    fig.add_pie(labels=parts, values=totals, marker={"colors": _PALETTE[:len(parts)]}, sort=False,
                showlegend=False, row=1, col=2)
    fig.update_layout(barmode="stack", yaxis={"title": "J"}, height=460)
    return Section("energy", "Energy breakdown", fig,
                   note=f"Total {result.energy_j:.4g} J: compute, each memory level's traffic, static power.")


def timeline(result: Any, events: list[dict[str, Any]], *, derived: bool) -> Section:
    import plotly.graph_objects as go

    sl = slices(events)
    fig = go.Figure()
    lanes = list(dict.fromkeys(str(e["lane"]) for e in sl))
    cats = list(dict.fromkeys(str(e.get("cat", e["name"])) for e in sl))
    for i, cat in enumerate(cats):
        sel = [e for e in sl if str(e.get("cat", e["name"])) == cat]
        fig.add_bar(name=cat, orientation="h", y=[str(e["lane"]) for e in sel], x=[e["dur"] for e in sel],
                    base=[e["ts"] for e in sel], text=[e["name"] for e in sel], textposition="inside",
                    marker_color=_PALETTE[i % len(_PALETTE)],
                    hovertext=[f"{e['name']}: {e['dur']:.4g} us from {e['ts']:.4g} us" for e in sel])
    fig.update_layout(barmode="overlay", xaxis={"title": "time (us)"}, yaxis={"categoryarray": lanes},
                      height=max(260, 90 * len(lanes) + 120))
    note = ("Serial schedule: operators back to back in workload order (the roofline assumes no overlap). "
            if derived else "Events from the backend's engine. ")
    return Section("timeline", "Timeline", fig,
                   note=note + "The same events are in timeline.json: open it in ui.perfetto.dev or chrome://tracing.")


def phase_rows(result: Any) -> list[dict[str, Any]]:
    return [{"phase": p, "latency_s": v["latency_s"], "energy_j": v["energy_j"], "TFLOP": v["flops"] / 1e12,
             "tokens_per_s": v.get("tokens_per_s", float("nan"))} for p, v in result.by_phase().items()]
