"""Modeled-vs-measured parity plots, drawn when measurement data sits beside the results.

Measurement files are CSVs named ``measured*.csv`` in the output folder (or given with
``archsim report --measured FILE``). Two layouts are understood:

- paired: the CSV itself has ``modeled_<x>`` and ``measured_<x>`` columns (e.g. what a
  compare step writes);
- joined: the CSV has ``measured_<x>`` columns plus key columns shared with the modelled table
  (``name``/``phase`` for a run's ops, the input columns for a sweep); rows are joined on all
  shared key columns and ``<x>`` of the model is compared with ``measured_<x>``.

Error is (modeled - measured) / measured; the section reports MAPE and the largest error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from archsim.errors import ConfigError
from archsim.reporting.page import Section


def find_measurements(folder: Path) -> list[Path]:
    return sorted(folder.glob("measured*.csv"))


def read_measurements(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ConfigError.single(f"cannot read measurement CSV: {exc}", file=str(path)) from None
    if not any(c.startswith("measured_") for c in frame.columns):
        raise ConfigError.single("a measurement CSV needs at least one 'measured_<quantity>' column; it has: "
                                 + ", ".join(map(str, frame.columns)), file=str(path), line=1)
    return frame


def pairs(model: pd.DataFrame, measured: pd.DataFrame, source: str) -> list[tuple[str, pd.DataFrame]]:
    """(quantity, frame with columns modeled, measured, label) for every comparable quantity."""
    out = []
    meas_cols = [c for c in measured.columns if c.startswith("measured_")]
    keys = [c for c in measured.columns if not c.startswith(("measured_", "modeled_")) and c in model.columns]
    label_cols = keys or [c for c in measured.columns if not c.startswith(("measured_", "modeled_"))][:2]
    for mc in meas_cols:
        qty = mc[len("measured_"):]
        if f"modeled_{qty}" in measured.columns:
            frame = measured.rename(columns={f"modeled_{qty}": "modeled", mc: "measured"})
        elif qty in model.columns and keys:
            frame = measured[keys + [mc]].merge(model[keys + [qty]], on=keys, how="inner")
            frame = frame.rename(columns={qty: "modeled", mc: "measured"})
        else:
            continue
        frame = frame.assign(label=frame[label_cols].astype(str).agg(" ".join, axis=1) if label_cols else "")
        frame = frame[(frame["measured"] > 0) & (frame["modeled"] > 0)]
        if len(frame):
            out.append((qty, frame[["modeled", "measured", "label"]].reset_index(drop=True)))
    if meas_cols and not out:
        raise ConfigError.single(
            f"no measured_<x> column matches a modelled quantity (keys shared with the model: {keys or 'none'}; "
            f"modelled columns: {', '.join(map(str, model.columns[:30]))})", file=source)
    return out


def parity_section(qty: str, frame: pd.DataFrame, source: str, index: int) -> Section:
    import plotly.graph_objects as go

    err = (frame["modeled"] - frame["measured"]) / frame["measured"]
    mape, worst = float(np.mean(np.abs(err)) * 100), float(np.max(np.abs(err)) * 100)
    lo = float(min(frame["modeled"].min(), frame["measured"].min())) / 1.5
    hi = float(max(frame["modeled"].max(), frame["measured"].max())) * 1.5
    fig = go.Figure()
    fig.add_scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="parity", line={"color": "black"})
    fig.add_scatter(x=[lo, hi], y=[lo * 1.25, hi * 1.25], mode="lines", name="+25%",
                    line={"color": "grey", "dash": "dot"})
    fig.add_scatter(x=[lo, hi], y=[lo / 1.25, hi / 1.25], mode="lines", name="-25%",
                    line={"color": "grey", "dash": "dot"}, showlegend=False)
    fig.add_scatter(x=frame["measured"], y=frame["modeled"], mode="markers", name="points",
                    text=frame["label"],
                    hovertext=[f"{t}: error {100 * e:+.1f}%" for t, e in zip(frame["label"], err, strict=True)],
                    marker={"size": 9})
    fig.update_layout(xaxis={"type": "log", "title": f"measured {qty}"},
                      yaxis={"type": "log", "title": f"modeled {qty}"}, height=480)
    return Section(f"parity-{index}", f"Modeled vs measured: {qty} ({Path(source).name})", fig,
                   note=f"{len(frame)} points; MAPE {mape:.1f}%, max |error| {worst:.1f}%.")
