"""``reports/prediction-intervals.md``: data, method, held-out coverage per device and per cell.

:func:`reproduce` (``archsim reproduce intervals``) re-predicts every validation measurement with
today's model, rewrites the package-data tables (``archsim/data/intervals.json``) and the report.
Every number in the report is computed here from the committed measurements.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

from archsim.intervals.attach import CORRELATION
from archsim.intervals.conformal import LEVELS, CellFit
from archsim.intervals.coverage import SCHEMES, Outcome, by, run_scheme, within_target
from archsim.intervals.sources import KERNELS, SIZE_EDGES_S, Point, load_points
from archsim.intervals.tables import (
    MIN_POINTS,
    TABLES_PATH,
    build_tables,
    fit_cells,
    lookup,
    point_query,
    write_json_atomic,
)

REPORT_NAME = "prediction-intervals.md"
SCHEME_TEXT = {"shape_family": "leave one shape family out", "shape": "leave one shape out",
               "campaign": "fit on grid, test on holdout set",
               "cross_device": "fit on the other device (not a target)"}


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x * 100:.1f}%"


def _iv(fit: CellFit, level: str) -> str:
    iv = fit.ratio_interval(level)
    return "–" if iv is None else f"[{iv[0]:.2f}, {iv[1]:.2f}]"


def _half(fit: CellFit, level: str) -> float | None:
    iv = fit.ratio_interval(level)
    return None if iv is None else (iv[1] - iv[0]) / 2


def _gpu_presets() -> list[str]:
    from archsim.presets import load_hardware, preset_names
    return [n for n in preset_names("hardware") if getattr(load_hardware(n), "family", None) == "gpu"]


def _data_section(tables: dict) -> list[str]:
    out = ["## Data", "", "Validation measurements only; the calibration microbenchmarks that set the model's rates "
           "are never read here.", "",
           "| preset | file (archsim/data/) | rows used | of them noisy | skipped | device | date (UTC) | driver, "
           "torch, triton, cuDNN | sha256 |", "|---|---|---:|---:|---:|---|---|---|---|"]
    for dev, d in tables["devices"].items():
        for r in d["data"]:
            out.append(f"| {dev} | `{r['file']}` | {r['rows_used']} | {r.get('rows_noisy', 0)} | {r['rows_skipped']} | "
                       f"{r.get('device_name')} | "
                       f"{(r.get('date_utc') or '')[:10]} | {r.get('driver')}, {r.get('torch')}, "
                       f"{r.get('triton')}, {r.get('cudnn')} | `{r['sha256'][:12]}` |")
    unvalidated = [n for n in _gpu_presets() if n not in tables["devices"]]
    out += ["", "Skipped: rows that failed on the device and implementations the model does not cover (PyTorch's "
            "memory-efficient attention). Noisy rows (p80/p20 of the repeats > 1.5: the device was disturbed) are "
            "kept — a user's run can be disturbed too — and widen the cells they fall in.", "",
            "GPU presets without validation data — predictions say `unvalidated`, no interval: "
            f"{', '.join(unvalidated) or 'none'}. So do every FPGA, PIM and spatial-array preset, and any Result "
            "from a backend other than the GPU model.", ""]
    return out


def _method_section() -> list[str]:
    return ["## Method", "",
            "- Residual of a measurement: `r = measured / modeled` seconds, modeled by today's `archsim.gpu` "
            "(the same re-prediction as `archsim compare`).",
            "- Cells per device, finest first: kernel family x the model's bound regime (compute / memory / "
            f"launch / host) x size class (modeled time < {SIZE_EDGES_S[0] * 1e6:.0f} us, < "
            f"{SIZE_EDGES_S[1] * 1e3:.0f} ms, larger); then kernel x regime; kernel; family (prefill / decode / "
            "gemm); regime; all residuals of the device. A prediction takes the first cell with at least "
            f"{MIN_POINTS} scored residuals (the fewest with a finite 95% conformal interval) and names it; any "
            "step past the finest cell is reported as a fallback.",
            "- Conformal on `x = ln r`: centre `m` = cell median; score of a residual = its distance from the median "
            "of the cell without its own shape family (jackknife+-style, left out per family, because the question "
            "is a shape nobody measured); half-width `q` = the `ceil((N+1)(1-alpha))`-th smallest of the `N` "
            "scores; interval of a prediction `p`: `[p e^(m-q), p e^(m+q)]`.",
            f"- Sums of operators: {CORRELATION}.", ""]


def _coverage_section(results: dict[str, list[Outcome]]) -> list[str]:
    out = ["## Coverage on held-out measurements", "",
           "Target: observed coverage within 5 points of nominal per device (80% intervals cover 75-85%, 95% "
           "intervals 90-100%). Each held-out residual is checked against intervals refit without it (and "
           "without its whole group).", "",
           "| device | scheme | held out | no interval | 80% covered | 95% covered | median 80% half-width | "
           "within 5 points |", "|---|---|---:|---:|---:|---:|---:|---|"]
    for scheme, outcomes in results.items():
        for dev, cov in by(outcomes, lambda o: o.point.device).items():
            out.append(f"| {dev} | {SCHEME_TEXT[scheme]} | {cov['n']} | {cov['no_interval']} | {_pct(cov['p80'])} "
                       f"| {_pct(cov['p95'])} | {_pct(cov['median_half_width_p80'])} | "
                       f"{'yes' if within_target(cov) else 'no'} |")
    out += ["", "Half-widths are fractions of the modeled time: `(hi - lo) / 2 / modeled`.", "",
            "By kind of validation data (leave one shape family out):", "",
            "| device | data | held out | 80% covered | 95% covered | median 80% half-width |",
            "|---|---|---:|---:|---:|---:|"]
    for key, cov in by(results["shape_family"], lambda o: f"{o.point.device}|{o.point.data_kind}").items():
        dev, kind = key.split("|")
        out.append(f"| {dev} | {kind} | {cov['n']} | {_pct(cov['p80'])} | {_pct(cov['p95'])} | "
                   f"{_pct(cov['median_half_width_p80'])} |")
    return out + [""]


def _cell_section(points: list[Point], held: list[Outcome]) -> list[str]:
    out = ["## Per cell", "",
           f"Cells that predictions land in (n >= {MIN_POINTS}), fit on all data; held-out columns: leave one shape "
           "family out, over the residuals whose full-data cell this is.", "",
           "| device | cell | n | median measured/modeled | 80% interval (x modeled) | 80% half-width | 95% "
           "interval | held-out n | held-out 80% | held-out 95% | held-out median 80% half-width |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    fallbacks: dict[tuple[str, str, int, str], int] = {}
    home: dict[int, str] = {}
    for dev in sorted({p.device for p in points}):
        pts = [p for p in points if p.device == dev]
        cells = fit_cells(pts)
        used: dict[str, list[Point]] = {}
        for p in pts:
            lk = lookup(cells, dev, point_query(p))
            used.setdefault(lk.cell or "", []).append(p)
            home[id(p)] = f"{dev} {lk.cell}"
            if lk.status == "fallback":
                key = (dev, lk.finest, lk.finest_n, lk.cell or "")
                fallbacks[key] = fallbacks.get(key, 0) + 1
        held_by_cell = by([o for o in held if o.point.device == dev], lambda o: home[id(o.point)])
        for cell in sorted(used):
            fit = cells[cell]
            cov = held_by_cell.get(f"{dev} {cell}", {})
            out.append(f"| {dev} | `{cell}` | {fit.n} | {math.exp(fit.center_log):.3f} | "
                       f"{_iv(fit, 'p80')} | {_pct(_half(fit, 'p80'))} | {_iv(fit, 'p95')} | {cov.get('n', 0)} | "
                       f"{_pct(cov.get('p80'))} | {_pct(cov.get('p95'))} | {_pct(cov.get('median_half_width_p80'))} |")
    out += ["", "<details><summary>Fallbacks: validation residuals whose finest cell was too small "
            f"({sum(fallbacks.values())} of {len(points)})</summary>", "",
            "| device | finest cell | its n | cell used | residuals |", "|---|---|---:|---|---:|"]
    for (dev, finest, n, cell), count in sorted(fallbacks.items()):
        out.append(f"| {dev} | `{finest}` | {n} | `{cell}` | {count} |")
    return out + ["", "</details>", ""]


def _misses(held: list[Outcome]) -> list[str]:
    per_kernel = by(held, lambda o: f"{o.point.device} {o.point.kernel}")
    low = [(k, c) for k, c in per_kernel.items() if c["p80"] is not None and c["p80"] < LEVELS["p80"] - 0.05]
    out = ["## Where the intervals miss (leave one shape family out, per kernel, 80% coverage below 75%)", ""]
    if not low:
        return out + ["None.", ""]
    out += ["| device kernel | held out | 80% covered | 95% covered |", "|---|---:|---:|---:|"]
    out += [f"| {k} | {c['n']} | {_pct(c['p80'])} | {_pct(c['p95'])} |" for k, c in low]
    out += ["", "A kernel with fewer residuals than a cell needs borrows a coarser cell whose other kernels have a "
            "different bias, and a kernel whose error grows with size is extrapolated when a whole shape family "
            "is held out; both show here. More measurements of that kernel (or a better model of it) fix it.", ""]
    return out


def _example_section(tables: dict, tables_path: Path) -> list[str]:
    """The default workload on every validated device, with its intervals (what `archsim run` would carry)."""
    import archsim
    from archsim.api import DEFAULT_WORKLOAD
    from archsim.intervals.attach import attach_intervals
    from archsim.intervals.tables import Tables

    fitted = Tables(tables, tables_path)
    out = [f"## Example: `{DEFAULT_WORKLOAD}` (the default `archsim run`) with intervals", "",
           "| device | part | modeled (s) | calibrated (s) | 80% interval (s) | 95% interval (s) | cells | time in "
           "fallback cells | status |", "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for dev in tables["devices"]:
        res = archsim.simulate(DEFAULT_WORKLOAD, dev)
        iv = attach_intervals(res, fitted)
        for part, t in [("total", iv["total"]), *iv["phases"].items()]:
            lo80, hi80 = t["latency_s_p80"] or (math.nan, math.nan)
            lo95, hi95 = t["latency_s_p95"] or (math.nan, math.nan)
            calibrated = math.nan if t["latency_s_calibrated"] is None else t["latency_s_calibrated"]
            out.append(f"| {dev} | {part} | {t['latency_s']:.4g} | {calibrated:.4g} | [{lo80:.4g}, {hi80:.4g}] | "
                       f"[{lo95:.4g}, {hi95:.4g}] | {t['cells']} | {_pct(t['fallback_s'] / t['latency_s'])} | "
                       f"{t['status']} |")
    statuses: dict[str, int] = {}
    for row in iv["ops"]:
        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
    out += ["", f"Operators of the last device by status: {statuses}. Calibrated = the modeled time times each "
            "cell's median measured/modeled ratio, summed over cells: the centre the intervals are built around, so "
            "it always lies inside them; the modeled time need not (a cell whose residuals are all above 1 puts the "
            "interval above the model). `archsim run` prints all three.", ""]
    return out


def _inside(iv: list[float] | None, t: float) -> bool:
    return iv is not None and iv[0] <= t <= iv[1]


def _whole_model_section(points: list[Point], data: dict[str, list[dict]]) -> list[str]:
    """Held-out check of the sum rule: kernel-campaign tables, summed over a whole model, vs the profiler."""
    from archsim.intervals.sources import device_folders
    from archsim.intervals.tables import Tables
    from archsim.intervals.whole_model import total_checks

    kernel_points = [p for p in points if p.data_kind == KERNELS]
    fitted = Tables(build_tables(kernel_points, data), None)
    out = ["## Whole models: do summed kernel intervals cover the measured GPU time?", "",
           "Tables fit on the kernel campaigns only (no whole-model residual), summed over each whole-model case "
           "with the correlation rule above, against the profiler's kernel time of the categories the model costs "
           "(GEMM, attention, norm, elementwise incl. RoPE) and against all kernels of the step. A held-out test "
           "of the sum rule and of kernel cells standing in for glue kernels.", "",
           "| device | family | cases | 80% covers modeled kinds | 95% covers modeled kinds | 95% covers all "
           "kernels | median measured / modeled |", "|---|---|---:|---:|---:|---:|---:|"]
    for preset, folder in device_folders().items():
        checks = total_checks(folder, preset, fitted)
        families = sorted({c["family"] for c in checks})
        for fam in families + (["**all**"] if checks else []):
            sub = [c for c in checks if fam == "**all**" or c["family"] == fam]
            ratios = sorted(c["measured_modeled_kinds_s"] / c["modeled_s"] for c in sub)
            n = len(sub)
            out.append(f"| {preset} | {fam} | {n} | "
                       f"{_pct(sum(_inside(c['p80'], c['measured_modeled_kinds_s']) for c in sub) / n)} | "
                       f"{_pct(sum(_inside(c['p95'], c['measured_modeled_kinds_s']) for c in sub) / n)} | "
                       f"{_pct(sum(_inside(c['p95'], c['kernel_sum_s']) for c in sub) / n)} | "
                       f"{ratios[n // 2]:.2f} |")
    return out + [""]


def _limits_section() -> list[str]:
    return ["## What the intervals do not capture", "",
            "- Intervals are symmetric in ln(ratio) around the cell median: where a cell's residuals are skewed "
            "(one GEMM shape 3x slower than modeled), the low side is wider than any residual seen.",
            "- Cells are treated as independent in sums; a shared miscalibration (one HBM bandwidth, one clock) "
            "moves many cells together, so totals over many cells are if anything too narrow.",
            "- A Result's norms, activations, residual adds and softmax have cells only where a whole-model "
            "campaign timed them by category (the H200 today); elsewhere they borrow the device's kernel cell of "
            "the same bound and say so (`fallback`). Copies, MoE expert groups and collectives are not costed "
            "by the GPU model and stay `unvalidated`.",
            "- Whole-model category cells hold what today's operator model misses in real stacks (fp32 norms, "
            "HuggingFace's growing KV cache): wide, biased intervals that shrink as the lowering models them.",
            "- Host time has residuals only for `archsim stack` steps (wall time, regime `host` when the model "
            "calls the step host-bound); a Result from `archsim run` is GPU time only.",
            "- Only the GPU model (`archsim.gpu`, backend `gpu`) is validated; every other backend and every device "
            "without validation data is `unvalidated`.", ""]


def write_report(points: list[Point], tables: dict, path: Path, tables_path: Path = TABLES_PATH,
                 data: dict[str, list[dict]] | None = None) -> Path:
    """Write the Markdown report for ``points`` (and their fitted ``tables``) to ``path`` atomically."""
    results = {scheme: run_scheme(points, scheme) for scheme in SCHEMES}
    lines = ["# Prediction intervals: how sure the GPU model is", "",
             "Regenerate (re-predicts every validation measurement, refits `archsim/data/intervals.json`, "
             "rewrites this file): `archsim reproduce intervals` — in Python "
             "`archsim.intervals.report.reproduce(Path('reports'))`.", "",
             "`archsim predict` prints `latency_s` (the model), `latency_s_calibrated` (model x the cell's median "
             "measured/modeled), `latency_s_p80` / `latency_s_p95` (`[lo, hi]`), `validated_on: {device, n, cell, "
             "status, data}` and `calibrated_on` (data kinds, files, held-out coverage) from these tables; "
             "`archsim.intervals.attach_intervals(result)` puts the same on every operator, phase and total of a "
             "Result, and `archsim run` prints them.", ""]
    head = by(results["shape_family"], lambda o: o.point.device)
    lines += ["**Headline** (leave one shape family out, the question \"a shape nobody measured\"): " + "; ".join(
        f"{dev}: 80% intervals cover {_pct(c['p80'])}, 95% cover {_pct(c['p95'])} of {c['n']} held-out residuals "
        f"({'within' if within_target(c) else 'outside'} 5 points of nominal), median 80% half-width "
        f"{_pct(c['median_half_width_p80'])}" for dev, c in head.items()) + ".", ""]
    lines += _data_section(tables) + _method_section() + _coverage_section(results)
    lines += _cell_section(points, results["shape_family"]) + _misses(results["shape_family"])
    lines += _whole_model_section(points, data or {}) + _example_section(tables, tables_path) + _limits_section()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write("\n".join(lines))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def reproduce(out_dir: Path, tables_path: Path = TABLES_PATH) -> list[Path]:
    """Refit the interval tables from the validation data and write the report; returns both paths."""
    points, data = load_points()
    tables = build_tables(points, data)
    report = write_report(points, tables, Path(out_dir) / REPORT_NAME, tables_path, data)
    return [write_json_atomic(tables_path, tables), report]
