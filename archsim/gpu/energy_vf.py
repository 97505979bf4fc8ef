"""Dynamic energy per call of one cuBLAS GEMM at boost clock and power-capped: a diagnosis of the power model's
clock-independent energy per operation (issue 22; report-side, nothing here changes a prediction).

Measurement (``campaigns/power_vf.py``, ``power-h200-vf-2026-12-01.csv``; calibration microbenchmarks only): bf16
TN GEMMs (``torch.matmul(x, w.t())``, random operands; the prefill-like shapes' weights rotated through >= 3x the
L2, so streamed from HBM) in CUDA graphs,
NVML energy counter over >= 2 s windows, in three patterns per shape and pass:

- ``sustained``: GEMMs back to back (the 700 W limit lowers the SM clock for the compute-heavy shapes);
- ``duty``: each GEMM followed by a one-warp spin kernel of 3-21x its time (board 142-343 W, 1980 MHz);
- ``spin_control``: the spin kernel alone, same iteration count.

Dynamic energy per GEMM call, joules (``P_s`` = the calibration's static power,
:attr:`archsim.gpu.power.PowerCoefficients.static_w`, W; ``E``/``T`` a window's energy and time per step)::

    E_sustained = (E_step - P_s * T_step) / calls
    E_duty      = (E_step - P_s * T_step) / calls - (E_ctrl - P_s * T_ctrl) / ctrl_calls

beside the current model's dynamic energy of the same GEMM (:func:`archsim.gpu.predict.predict_gemm` with the
calibrated rates: every launch's ``energy_by_part`` without ``static``; the model is clock-independent, so one
figure for both patterns). Clocks are NVML's SM clock medians over the windows.

Voltage line (a what-if for the next fit, not a model): ``v(f) = 1 - beta * (1 - f / f_max)`` with dynamic energy
per operation ~ v^2, so ``E_duty / E_sustained = (v(f_duty) / v(f_sustained))^2``; ``beta`` by least squares on the
rows whose two clocks differ by >= :data:`MIN_DF_MHZ` (:func:`fit_beta`, bounded 1-D search on [0, 0.95]).
Assumed and ignored: static power is the calibration's constant (temperature-dependent leakage, higher in the hot
sustained windows, is counted as dynamic energy there, which lowers the ratio); the spin kernel's energy per call is
the same in ``duty`` as alone.
"""

from __future__ import annotations

import math
import pathlib
import statistics
import sys
from dataclasses import dataclass

from archsim.data import measurement, read_csv_rows
from archsim.errors import ConfigError

VF_CSV = "power-h200-vf-2026-12-01.csv"
VF_TRACES = "power-h200-vf-traces-2026-12-01.csv"
#: clocks closer than this (MHz) are "the same clock": such rows are shown but not fitted
MIN_DF_MHZ = 50.0
PATTERNS = ("sustained", "duty", "spin_control")
NUMERIC = ("m", "n", "k", "wall_s", "step_s", "energy_per_step_j", "gemm_calls", "launches", "sm_clock_mhz",
           "sm_clock_min_mhz", "gemm_median_us", "max_sm_clock_mhz", "temp_c_end", "avg_power_w")
REQUIRED = ("bench", "kind", "pattern", "pass", *NUMERIC)


@dataclass(frozen=True)
class VfRow:
    """One GEMM shape in one pass: dynamic energy per call (J) in both patterns, clocks (MHz), GEMM kernel
    durations (us, profiler), the model's dynamic energy (J) and the ratios."""

    m: int
    n: int
    k: int
    pass_: str
    e_sustained_j: float
    e_duty_j: float
    e_spin_j: float
    f_sustained_mhz: float
    f_duty_mhz: float
    f_max_mhz: float
    us_sustained: float
    us_duty: float
    p_sustained_w: float
    p_duty_w: float
    model_j: float
    e_duty_pooled_j: float
    f_sustained_mean_mhz: float
    f_duty_mean_mhz: float

    @property
    def ratio(self) -> float:
        """E_duty / E_sustained."""
        return self.e_duty_j / self.e_sustained_j

    @property
    def ratio_pooled(self) -> float:
        """E_duty / E_sustained with the spin's energy from the pooled controls (:func:`vf_rows`)."""
        return self.e_duty_pooled_j / self.e_sustained_j

    @property
    def clocks_differ(self) -> bool:
        return abs(self.f_duty_mhz - self.f_sustained_mhz) >= MIN_DF_MHZ


def _num(row: dict, key: str, path, line: int) -> float:
    try:
        v = float(row[key])
    except (TypeError, ValueError):
        raise ConfigError.single(f"{key} = {row.get(key)!r} is not a number", file=str(path), line=line,
                                 key_path=key) from None
    if not math.isfinite(v):
        raise ConfigError.single(f"{key} = {row[key]!r} is not finite", file=str(path), line=line, key_path=key)
    return v


def load(path: str | pathlib.Path | None = None) -> dict[tuple[int, int, int, str], dict[str, dict]]:
    """The campaign's GEMM rows grouped by (m, n, k, pass) -> pattern -> numeric row (``line`` added: 1-based
    line in the file). A row that is unreadable, or a group that lacks a pattern, is a ConfigError naming the file."""
    path = pathlib.Path(path) if path is not None else measurement("h200", VF_CSV)
    rows = read_csv_rows(path, REQUIRED, "power_vf campaign CSV")
    groups: dict[tuple[int, int, int, str], dict[str, dict]] = {}
    for i, r in enumerate(rows, start=2):
        if r["kind"] != "gemm_vf" or r.get("error"):
            continue
        if r["pattern"] not in PATTERNS:
            raise ConfigError.single(f"unknown pattern {r['pattern']!r}; valid: {', '.join(PATTERNS)}",
                                     file=str(path), line=i, key_path="pattern")
        keys = [k for k in NUMERIC if not (r["pattern"] == "spin_control" and k == "gemm_median_us")]
        num = {k: _num(r, k, path, i) for k in keys}
        num["line"] = i
        num["bench"] = r["bench"]
        key = (int(num["m"]), int(num["n"]), int(num["k"]), r["pass"])
        groups.setdefault(key, {})[r["pattern"]] = num
    if not groups:
        raise ConfigError.single("no gemm_vf rows", file=str(path))
    for key, g in groups.items():
        lack = [p for p in PATTERNS if p not in g]
        if lack:
            raise ConfigError.single(f"m={key[0]} n={key[1]} k={key[2]} pass {key[3]}: no {', '.join(lack)} row",
                                     file=str(path))
    return groups


def dyn_per_call(e_step_j: float, t_step_s: float, calls: float, static_w: float) -> float:
    """Dynamic energy per call (J) of a window step of ``calls`` calls: (E - P_static * T) / calls."""
    return (e_step_j - static_w * t_step_s) / calls


def model_dyn_j(m: int, n: int, k: int, rates) -> float:
    """The current model's dynamic energy (J) of one bf16 cuBLAS GEMM: launches' parts without ``static``."""
    from archsim.gpu.predict import predict_gemm
    p = predict_gemm("h200", m=m, n=n, k=k, rates=rates)
    return sum(v for ln in p.launches for part, v in ln.energy_by_part.items() if part != "static")


def trace_mean_clocks(path: str | pathlib.Path, windows: dict[str, float]) -> dict[str, float]:
    """Time-mean SM clock (MHz) of each bench's NVML samples over its last ``windows[bench]`` seconds (the
    measured window: ``power.measure`` labels warm-up and window alike), from the campaign's traces CSV."""
    rows = read_csv_rows(path, ("bench", "t_s", "sm_clock_mhz"), "power_vf traces CSV")
    samples: dict[str, list[tuple[float, float]]] = {}
    for i, r in enumerate(rows, start=2):
        if r["bench"] in windows:
            samples.setdefault(r["bench"], []).append((_num(r, "t_s", path, i), _num(r, "sm_clock_mhz", path, i)))
    out = {}
    for bench, ts in samples.items():
        t_end = ts[-1][0]
        inside = [f for t, f in ts if t >= t_end - windows[bench]]
        out[bench] = statistics.fmean(inside)
    return out


def _traces_of(path: pathlib.Path) -> pathlib.Path:
    return path.with_name(path.name.replace("-vf-", "-vf-traces-", 1))


def vf_rows(path: str | pathlib.Path | None = None, static_w: float | None = None) -> list[VfRow]:
    """One :class:`VfRow` per shape and pass of the campaign CSV (``static_w`` default: the H200 calibration's).
    ``e_duty_pooled_j`` subtracts the spin's median dynamic power over all the file's controls (W) times this
    row's spin time per call instead of this row's control window (one 2 s window at ~124 W carries a few W of
    counter noise); the mean clocks come from the traces CSV beside the file (NaN where there is none)."""
    from archsim.gpu.devices import device_calibration
    cal = device_calibration("h200")
    ps = cal.rates.power.static_w if static_w is None else static_w
    path = pathlib.Path(path) if path is not None else measurement("h200", VF_CSV)
    groups = load(path)
    ctrl = [g["spin_control"] for g in groups.values()]
    p_spin = statistics.median((c["energy_per_step_j"] - ps * c["step_s"]) / c["step_s"] for c in ctrl)
    traces = _traces_of(path)
    means = trace_mean_clocks(traces, {g[p]["bench"]: g[p]["wall_s"] for g in groups.values()
                                       for p in ("sustained", "duty")}) if traces.is_file() else {}
    out = []
    for (m, n, k, pass_), g in sorted(groups.items(), key=lambda kv: (-kv[0][0] * kv[0][1] * kv[0][2], kv[0][3])):
        s, d, c = g["sustained"], g["duty"], g["spin_control"]
        e_spin = dyn_per_call(c["energy_per_step_j"], c["step_s"], c["launches"], ps)
        e_duty_all = dyn_per_call(d["energy_per_step_j"], d["step_s"], d["gemm_calls"], ps)
        out.append(VfRow(
            m, n, k, pass_,
            e_sustained_j=dyn_per_call(s["energy_per_step_j"], s["step_s"], s["gemm_calls"], ps),
            e_duty_j=e_duty_all - e_spin, e_spin_j=e_spin, f_sustained_mhz=s["sm_clock_mhz"],
            f_duty_mhz=d["sm_clock_mhz"], f_max_mhz=s["max_sm_clock_mhz"], us_sustained=s["gemm_median_us"],
            us_duty=d["gemm_median_us"], p_sustained_w=s["avg_power_w"], p_duty_w=d["avg_power_w"],
            model_j=model_dyn_j(m, n, k, cal.rates),
            e_duty_pooled_j=e_duty_all - p_spin * c["step_s"] / c["launches"],
            f_sustained_mean_mhz=means.get(s["bench"], math.nan), f_duty_mean_mhz=means.get(d["bench"], math.nan)))
    return out


def v_ratio_sq(beta: float, f_duty: float, f_sustained: float, f_max: float) -> float:
    """(v(f_duty) / v(f_sustained))^2 with v(f) = 1 - beta * (1 - f / f_max)."""
    return ((1.0 - beta * (1.0 - f_duty / f_max)) / (1.0 - beta * (1.0 - f_sustained / f_max))) ** 2


@dataclass(frozen=True)
class BetaFit:
    """Least-squares ``beta`` of the voltage line, the points used (ratio, f_duty, f_sustained, f_max) and
    their residuals (measured - modelled ratio)."""

    beta: float
    points: tuple[tuple[float, float, float, float], ...]
    residuals: tuple[float, ...]

    @property
    def rms(self) -> float:
        return math.sqrt(sum(r * r for r in self.residuals) / len(self.residuals)) if self.residuals else math.nan


def fit_beta(points: list[tuple[float, float, float, float]], lo: float = 0.0, hi: float = 0.95) -> BetaFit:
    """``beta`` in [lo, hi] minimising sum (ratio - v_ratio_sq)^2 over ``points`` (ratio, f_duty, f_sus, f_max):
    a 200-point grid, then golden-section search around its best point."""
    if not points:
        raise ValueError("fit_beta needs at least one point with differing clocks")

    def sse(b: float) -> float:
        return sum((r - v_ratio_sq(b, fd, fs, fm)) ** 2 for r, fd, fs, fm in points)
    grid = [lo + (hi - lo) * i / 200 for i in range(201)]
    i = min(range(len(grid)), key=lambda j: sse(grid[j]))
    a, b = grid[max(0, i - 1)], grid[min(len(grid) - 1, i + 1)]
    g = (math.sqrt(5.0) - 1.0) / 2.0
    for _ in range(80):
        c, d = b - g * (b - a), a + g * (b - a)
        if sse(c) <= sse(d):
            b = d
        else:
            a = c
    beta = (a + b) / 2.0
    res = tuple(r - v_ratio_sq(beta, fd, fs, fm) for r, fd, fs, fm in points)
    return BetaFit(beta, tuple(points), res)


def beta_of(rows: list[VfRow], *, pooled: bool = False, mean_clock: bool = False) -> BetaFit:
    """:func:`fit_beta` over the rows whose (median) clocks differ: per-row spin control and NVML median clocks,
    or the pooled spin subtraction and/or the traces' time-mean clocks."""
    pts = []
    for r in rows:
        if r.clocks_differ:
            fd, fs = (r.f_duty_mean_mhz, r.f_sustained_mean_mhz) if mean_clock else (r.f_duty_mhz, r.f_sustained_mhz)
            pts.append((r.ratio_pooled if pooled else r.ratio, fd, fs, r.f_max_mhz))
    return fit_beta(pts)


def board_idle_w(path: str | pathlib.Path | None = None) -> float:
    """This board's idle power with a context (W): the mean of the campaign's ``idle_context*`` windows."""
    path = pathlib.Path(path) if path is not None else measurement("h200", VF_CSV)
    rows = read_csv_rows(path, ("bench", "avg_power_w"), "power_vf campaign CSV")
    idle = [_num(r, "avg_power_w", path, i) for i, r in enumerate(rows, start=2) if r["bench"].startswith("idle")]
    if not idle:
        raise ConfigError.single("no idle_context row", file=str(path))
    return statistics.fmean(idle)


def _fit_line(label: str, fit: BetaFit) -> str:
    return (f"- {label}: beta = {fit.beta:.3f}, rms residual {fit.rms:.3f}, max |residual| "
            f"{max(abs(x) for x in fit.residuals):.3f} ({len(fit.points)} rows)")


def markdown(path: str | pathlib.Path | None = None) -> str:
    """The per-shape table and the beta fits as Markdown."""
    rows = vf_rows(path)
    fit = beta_of(rows)
    idle = board_idle_w(path)
    res = iter(fit.residuals)
    lines = [f"Dynamic energy per GEMM call at boost clock (duty) and back to back (sustained), {VF_CSV} "
             "(calibration microbenchmarks; bf16 TN cuBLAS). Clocks: NVML SM clock median "
             "(time-mean of the trace in brackets).",
             "",
             "| m | n | k | pass | sustained MHz | duty MHz | sustained us | duty us | sustained W | duty W "
             "| E sustained mJ | E duty mJ | spin mJ | duty/sustained | (pooled spin) | model mJ | sustained/model "
             "| duty/model | fit residual |",
             "|" + "---|" * 19]
    for r in rows:
        resid = f"{next(res):+.3f}" if r.clocks_differ else "(same clock)"
        lines.append(f"| {r.m} | {r.n} | {r.k} | {r.pass_} | {r.f_sustained_mhz:.0f} ({r.f_sustained_mean_mhz:.0f}) "
                     f"| {r.f_duty_mhz:.0f} ({r.f_duty_mean_mhz:.0f}) | {r.us_sustained:.1f} | {r.us_duty:.1f} "
                     f"| {r.p_sustained_w:.0f} | {r.p_duty_w:.0f} | {r.e_sustained_j * 1e3:.2f} "
                     f"| {r.e_duty_j * 1e3:.2f} | {r.e_spin_j * 1e3:.3f} | {r.ratio:.3f} | {r.ratio_pooled:.3f} "
                     f"| {r.model_j * 1e3:.2f} | {r.e_sustained_j / r.model_j:.2f} | {r.e_duty_j / r.model_j:.2f} "
                     f"| {resid} |")
    same = [r.ratio for r in rows if not r.clocks_differ]
    lines += ["",
              "Voltage line v(f) = 1 - beta (1 - f/f_max), E_duty/E_sustained = (v(f_duty)/v(f_sustained))^2, "
              f"least squares over the rows whose NVML median clocks differ by >= {MIN_DF_MHZ:.0f} MHz "
              "(residual = measured - modelled ratio):",
              "",
              _fit_line("per-row spin control, NVML median clocks (the table's residuals)", fit),
              _fit_line("pooled spin control, NVML median clocks", beta_of(rows, pooled=True))]
    if all(math.isfinite(r.f_sustained_mean_mhz) and math.isfinite(r.f_duty_mean_mhz) for r in rows):
        lines.append(_fit_line("pooled spin control, trace time-mean clocks", beta_of(rows, pooled=True,
                                                                                        mean_clock=True)))
    lines += [_fit_line(f"per-row spin control, this board's idle ({idle:.1f} W, its idle_context windows) as "
                        "static power", beta_of(vf_rows(path, static_w=idle))),
              "",
              (f"Rows at the same clock (memory-bound small m, 1980 MHz in both patterns): duty/sustained "
               f"{min(same):.3f}..{max(same):.3f}." if same else "No rows at the same clock."),
              "The model's dynamic energy is clock-independent (one figure per GEMM); the fit is a diagnosis for a "
              "V/f-aware power fit, not part of the model."]
    return "\n".join(lines)


def reproduce(out_dir: pathlib.Path) -> list[pathlib.Path]:
    """Write ``energy-vf.md`` (the table and the beta fit) into ``out_dir``; returns the path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "energy-vf.md"
    path.write_text("# GEMM energy per call against the SM clock (issue 22)\n\n" + markdown() + "\n")
    return [path]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        print(markdown(args[0] if args else None))
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
