"""Modeled vs measured: predict every row of a campaign validation CSV and summarise the error.

Error of a row = (modeled - measured) / measured. Summary: MAPE (mean |error|), max |error|,
per kernel family (``prefill``/``decode``/``gemm`` x implementation), per set (``grid`` vs
``holdout``), and overall without noisy measurements (p80/p20 > 1.5; they stay in every other
line). Rows that failed on the device (``ok != 1``) and implementations the model does not cover
(``efficient``: the CUTLASS memory-efficient kernel) are listed as skipped. Each row is predicted in the power
regime it was measured in (``burst`` for ``do_bench`` timings after a pause, ``sustained`` for long back-to-back
runs: :data:`DEFAULT_KERNEL_REGIME`, a row's ``regime`` column).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from archsim.data import read_csv_rows
from archsim.errors import ConfigError
from archsim.gpu.predict import Prediction, device_rates, predict_attention, predict_gemm

#: A measurement whose 80th/20th percentile ratio exceeds this is "noisy" (the device was disturbed
#: while it ran); summaries report MAPE with and without such rows, never drop them silently.
NOISY_SPREAD = 1.5
NOT_MODELLED = {"efficient": "PyTorch's memory-efficient (CUTLASS) attention is not modelled"}
REQUIRED = ("family", "impl", "time_s", "ok")


def _int(v: str | None) -> int | None:
    return int(float(v)) if v not in ("", None) else None


def _req(row: dict[str, str], key: str) -> int:
    value = _int(row.get(key))
    if value is None:
        raise ConfigError.single(f"validation row ({row.get('family')}/{row.get('impl')}) has no {key!r}",
                                 key_path=key)
    return value


def read_rows(path: str | Path) -> list[dict[str, str]]:
    return read_csv_rows(path, REQUIRED, "validation CSV")


def predict_row(row: dict[str, str], hw: str, rates=None) -> float:
    """Modeled seconds for one validation row."""
    return prediction_for_row(row, hw, rates).latency_s


def prediction_for_row(row: dict[str, str], hw: str, rates=None) -> Prediction:
    """The model's whole prediction (latency, bound, launches) for one validation row."""
    impl = row["impl"]
    cfg = {k: _int(row.get(k, "")) for k in ("block_m", "block_n", "block_k", "num_warps", "num_stages", "num_splits")}
    if row["family"] == "gemm":
        return predict_gemm(hw, m=_req(row, "m"), n=_req(row, "n"), k=_req(row, "k"), dtype=row["dtype"],
                            impl=impl, config=cfg if impl == "triton-gemm" else None, rates=rates)
    if impl == "flash-decoding":
        cfg = {k: cfg[k] for k in ("block_n", "num_warps", "num_stages", "num_splits")}
    elif impl == "triton-flash":
        cfg = {k: cfg[k] for k in ("block_m", "block_n", "num_warps", "num_stages")}
    else:
        cfg = {}
    return predict_attention(hw, impl, batch=_req(row, "batch"), heads=_req(row, "heads"),
                             kv_heads=_req(row, "kv_heads"), seq_q=_req(row, "seq_q"), seq_kv=_req(row, "seq_kv"),
                             head_dim=_req(row, "head_dim"), causal=bool(_int(row["causal"])), dtype=row["dtype"],
                             config=cfg, rates=rates)


def label(row: dict[str, str]) -> str:
    if row["family"] == "gemm":
        return f"{row['m']}x{row['n']}x{row['k']}"
    return (f"b{row['batch']} h{row['heads']}/{row['kv_heads']} q{row['seq_q']} kv{row['seq_kv']} d{row['head_dim']}"
            + (" causal" if row["causal"] == "1" else ""))


#: The regime of a kernel timing when its row does not name one (column ``regime``): every committed kernel-timing
#: CSV (``campaigns/gpu_kernels.py``, the whole-model campaign's decode-attention grids) is ``triton.testing.do_bench``
#: after a pause, inside the ~70 ms before the 700 W controller acts: the burst regime (measured:
#: ``regime-h200-2026-12-01.csv``; compute-bound kernels run up to 19 % slower after 1 s back to back).
DEFAULT_KERNEL_REGIME = "burst"
REGIMES = ("sustained", "burst")


def compare(path: str | Path, hw: str, rates=None, regime: str | None = None) -> tuple[list[dict], list[dict]]:
    """(compared rows, skipped rows). Each compared row: family, impl, set, shape, measured_s, modeled_s, error,
    regime.

    ``regime``: ``sustained`` (the 700 W board limit), ``burst`` (the fast limit that holds within ~0.07 s of an
    idle pause: :func:`archsim.gpu.power.burst_rates`), or None: each row in the regime it was measured in (its
    ``regime`` column, else :data:`DEFAULT_KERNEL_REGIME`, the regime of ``do_bench`` timings)."""
    if rates is None:
        from archsim.presets import load_hardware
        rates = device_rates(load_hardware(hw))
    if regime is not None and regime not in REGIMES:
        raise ConfigError.single(f"regime must be 'sustained' or 'burst', got {regime!r}", key_path="regime")
    from archsim.gpu.power import burst_rates
    by_regime = {"sustained": rates, "burst": burst_rates(rates)}
    done, skipped = [], []
    for line, row in enumerate(read_rows(path), start=2):
        base = {"family": row["family"], "impl": row["impl"], "set": row.get("set", ""), "shape": label(row)}
        if row["ok"] != "1":
            skipped.append({**base, "reason": "failed on device: " + row.get("error", "")[:80]})
            continue
        if row["impl"] in NOT_MODELLED:
            skipped.append({**base, "reason": NOT_MODELLED[row["impl"]]})
            continue
        row_regime = regime or row.get("regime") or DEFAULT_KERNEL_REGIME
        if row_regime not in REGIMES:
            raise ConfigError.single(f"{path}, line {line}: regime must be 'sustained' or 'burst', got "
                                     f"{row_regime!r}", key_path="regime")
        measured = float(row["time_s"])
        pred = prediction_for_row(row, hw, by_regime[row_regime])
        modeled = pred.latency_s
        lo, hi = row.get("time_s_p20", ""), row.get("time_s_p80", "")
        spread = float(hi) / float(lo) if lo and hi else 1.0
        done.append({**base, "measured_s": measured, "modeled_s": modeled, "error": (modeled - measured) / measured,
                     "spread": spread, "bound": pred.bound, "regime": row_regime})
    return done, skipped


def summarise(rows: list[dict]) -> dict:
    """MAPE and max |error| overall, by family/impl and by set."""
    def stats(sub: list[dict]) -> dict:
        errs = [abs(r["error"]) for r in sub]
        return {"n": len(errs), "mape": sum(errs) / len(errs) if errs else math.nan, "max": max(errs, default=math.nan),
                "within_25pct": sum(e <= 0.25 for e in errs) / len(errs) if errs else math.nan}
    groups: dict[str, list[dict]] = {}
    sets: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(f"{r['family']}/{r['impl']}", []).append(r)
        sets.setdefault(r["set"], []).append(r)
    quiet = [r for r in rows if r.get("spread", 1.0) <= NOISY_SPREAD]
    return {"all": stats(rows), "quiet": stats(quiet), "by_family": {k: stats(v) for k, v in sorted(groups.items())},
            "by_set": {k: stats(v) for k, v in sorted(sets.items())}}


def parity_figure(rows: list[dict], title: str):
    """Plotly log-log scatter of modeled vs measured with the parity line and +-25% bands."""
    import plotly.graph_objects as go
    fig = go.Figure()
    for key in sorted({f"{r['family']}/{r['impl']}" for r in rows}):
        sub = [r for r in rows if f"{r['family']}/{r['impl']}" == key]
        fig.add_trace(go.Scatter(
            x=[r["measured_s"] * 1e6 for r in sub], y=[r["modeled_s"] * 1e6 for r in sub], mode="markers", name=key,
            marker={"symbol": ["diamond" if r["set"] == "holdout" else "circle" for r in sub], "size": 7},
            text=[f"{r['shape']} ({r['set']}) err {r['error']:+.1%}" for r in sub]))
    lo = min(min(r["measured_s"], r["modeled_s"]) for r in rows) * 1e6 / 1.5
    hi = max(max(r["measured_s"], r["modeled_s"]) for r in rows) * 1e6 * 1.5
    for f, dash, name in ((1.0, "solid", "parity"), (1.25, "dot", "+25%"), (0.75, "dot", "-25%")):
        fig.add_trace(go.Scatter(x=[lo, hi], y=[lo * f, hi * f], mode="lines", name=name,
                                 line={"color": "gray", "dash": dash, "width": 1}))
    fig.update_layout(title=title, xaxis={"type": "log", "title": "measured (us)"},
                      yaxis={"type": "log", "title": "modeled (us)"}, width=900, height=700)
    return fig


def parity_svg(rows: list[dict], title: str, size: int = 560) -> str:
    """The same parity plot as a small self-contained SVG (for Markdown reports; no browser needed)."""
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
              "#17becf"]
    keys = sorted({f"{r['family']}/{r['impl']}" for r in rows})
    lo = math.log10(min(min(r["measured_s"], r["modeled_s"]) for r in rows) * 1e6 / 1.3)
    hi = math.log10(max(max(r["measured_s"], r["modeled_s"]) for r in rows) * 1e6 * 1.3)
    pad, plot = 60, size - 80

    def xy(us_x: float, us_y: float) -> tuple[float, float]:
        fx = (math.log10(us_x) - lo) / (hi - lo)
        fy = (math.log10(us_y) - lo) / (hi - lo)
        return pad + fx * plot, 20 + (1 - fy) * plot
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size + 230}" height="{size}" font-family="sans-serif" '
             f'font-size="11"><rect width="100%" height="100%" fill="white"/>',
             f'<text x="{pad}" y="14" font-size="13">{title}</text>',
             f'<rect x="{pad}" y="20" width="{plot}" height="{plot}" fill="none" stroke="black"/>']
    for dec in range(math.ceil(lo), math.floor(hi) + 1):
        x, y = xy(10 ** dec, 10 ** dec)
        parts.append(f'<line x1="{x:.1f}" y1="20" x2="{x:.1f}" y2="{20 + plot}" stroke="#eee"/>')
        parts.append(f'<line x1="{pad}" y1="{y:.1f}" x2="{pad + plot}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{x:.1f}" y="{36 + plot}" text-anchor="middle">{10 ** dec:g}</text>')
        parts.append(f'<text x="{pad - 4}" y="{y + 4:.1f}" text-anchor="end">{10 ** dec:g}</text>')
    for f, dash in ((1.0, ""), (1.25, ' stroke-dasharray="4,3"'), (0.75, ' stroke-dasharray="4,3"')):
        (x1, y1), (x2, y2) = xy(10 ** lo, 10 ** lo * f), xy(10 ** hi, 10 ** hi * f)
        parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="gray"{dash}/>')
    for i, key in enumerate(keys):
        c = colors[i % len(colors)]
        for r in rows:
            if f"{r['family']}/{r['impl']}" != key:
                continue
            x, y = xy(r["measured_s"] * 1e6, r["modeled_s"] * 1e6)
            shape = (f'<rect x="{x - 3:.1f}" y="{y - 3:.1f}" width="6" height="6" fill="{c}"/>' if r["set"] == "holdout"
                     else f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{c}" fill-opacity="0.8"/>')
            parts.append(shape)
        parts.append(f'<circle cx="{size + 10}" cy="{40 + 16 * i}" r="4" fill="{c}"/>'
                     f'<text x="{size + 18}" y="{44 + 16 * i}">{key}</text>')
    parts.append(f'<text x="{size + 10}" y="{60 + 16 * len(keys)}">square = holdout shape</text>')
    parts.append(f'<text x="{size + 10}" y="{76 + 16 * len(keys)}">dashed = +-25%</text>')
    parts.append(f'<text x="{pad + plot / 2}" y="{52 + plot}" text-anchor="middle">measured (us)</text>')
    parts.append(f'<text x="14" y="{20 + plot / 2}" transform="rotate(-90 14 {20 + plot / 2})" '
                 f'text-anchor="middle">modeled (us)</text></svg>')
    return "\n".join(parts)


def markdown_tables(rows: list[dict], skipped: list[dict], summary: dict) -> str:
    """Summary table, then every compared row, as Markdown (for reports/gpu-validation.md)."""
    out = ["| group | n | MAPE | max abs error | rows within 25% |", "|---|---:|---:|---:|---:|"]
    groups = [("**all**", summary["all"]), (f"all with p80/p20 <= {NOISY_SPREAD}", summary["quiet"])] + \
        list(summary["by_family"].items()) + \
        [(f"set = {k}", v) for k, v in summary["by_set"].items()]
    for name, st in groups:
        out.append(f"| {name} | {st['n']} | {st['mape'] * 100:.1f}% | {st['max'] * 100:.1f}% | "
                   f"{st['within_25pct'] * 100:.0f}% |")
    out += ["", "<details><summary>every row</summary>", "",
            "| family | impl | set | shape | measured (us) | p80/p20 | modeled (us) | error |",
            "|---|---|---|---|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['family']} | {r['impl']} | {r['set']} | {r['shape']} | {r['measured_s'] * 1e6:.1f} | "
                   f"{r['spread']:.2f} | {r['modeled_s'] * 1e6:.1f} | {r['error'] * 100:+.1f}% |")
    out += ["", f"Skipped ({len(skipped)}): " + "; ".join(sorted({f"{s['impl']}: {s['reason']}" for s in skipped})),
            "", "</details>"]
    return "\n".join(out)


# ---- energy parity (issue 22): NVML board energy vs the power model (archsim.gpu.power_validation)

def is_energy_csv(path: str | Path) -> bool:
    """Whether ``path`` is a power campaign CSV (``campaigns/power.py``) or a whole-model CSV with energy."""
    try:
        with open(path, newline="") as fh:
            fields = next(csv.reader(fh), [])
    except OSError as e:
        raise ConfigError.single(f"cannot read {path}: {e.strerror}") from None
    return "energy_per_step_j" in fields or ("energy_j" in fields and "energy_window_s" in fields)


def energy_parity(path: str | Path, hw: str, host_probe: str = "point") -> tuple[list[dict], dict]:
    """(rows, summary) of modeled vs measured board energy, average power and time for one CSV; ``host_probe``
    (power campaign CSVs): ``point``, ``row`` or a probe in us (:func:`validate_power_csv`)."""
    from archsim.gpu.devices import device_calibration
    from archsim.gpu.power_validation import summarise, validate_power_csv, validate_whole
    cal = device_calibration(hw)
    with open(path, newline="") as fh:
        fields = next(csv.reader(fh), [])
    probe: bool | float = host_probe == "row" if host_probe in ("point", "row") else float(host_probe)
    rows = (validate_power_csv(path, cal, host_probe=probe) if "energy_per_step_j" in fields
            else validate_whole(path, cal, host_probe=host_probe == "row"))
    return rows, summarise(rows)


def energy_markdown(rows: list[dict], summary: dict) -> str:
    """Energy parity beside time parity, as Markdown: summary by regime, then every row."""
    out = ["| group | n | energy MAPE | avg power MAPE | power MAPE at measured time | time MAPE | max energy error |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    groups = [("all, windows >= 1 s", summary["long_windows"]), ("all, windows < 1 s", summary["short_windows"])] + \
        [(f"{k}-bound, >= 1 s", v) for k, v in summary["by_regime"].items()] + \
        [(f"{k}-bound, < 1 s", v) for k, v in summary["short_by_regime"].items()]
    for name, st in groups:
        if st["n"]:
            out.append(f"| {name} | {st['n']} | {st['energy_mape'] * 100:.1f}% | {st['power_mape'] * 100:.1f}% | "
                       f"{st['power_at_measured_time_mape'] * 100:.1f}% | {st['time_mape'] * 100:.1f}% | "
                       f"{st['max_energy_error'] * 100:.1f}% |")
    out += ["", "| run | regime | window (s) | measured J | modeled J | energy err | measured W | modeled W | "
            "power err | measured s | modeled s | time err |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['bench']} ({r['source']}) | {r['regime']} | {r['window_s']:.2f} | "
                   f"{r['measured_energy_j']:.4g} | {r['modeled_energy_j']:.4g} | {r['energy_error'] * 100:+.1f}% | "
                   f"{r['measured_power_w']:.0f} | "
                   f"{r['modeled_power_w']:.0f} | {r['power_error'] * 100:+.1f}% | {r['measured_s'] * 1e3:.3f} ms | "
                   f"{r['modeled_wall_s'] * 1e3:.3f} ms | {r['time_error'] * 100:+.1f}% |")
    return "\n".join(out)
