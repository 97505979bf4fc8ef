"""Fit the GPU power model (:mod:`archsim.gpu.power`) to NVML microbenchmarks, and nothing else.

Input: ``power-<dev>-<date>.csv`` files written by ``campaigns/power.py``; only rows with
``set == calibration`` are read (the validation rows of the same files are never fitted). Each
calibration row gives the board energy of one step ``E`` (NVML energy counter over a window of
thousands of steps), its wall time ``T`` and what the step did. Its counts come from the same kernel
builders the GPU model predicts with (cuBLAS tiles for GEMMs) or from the benchmark's definition
(copies, read streams, FMA/ex2 loops). The fit solves, by least squares on relative residuals
(every benchmark weighs the same), with all coefficients kept non-negative:

    E = P_static * T + sum_dtype e_mma[dtype] * tensor FLOPs + e_vec * FP32 lane ops + e_sfu * ex2 ops
        + e_smem * L1/shared bytes + e_l2 * L2 bytes + e_hbm * HBM bytes

Which rows identify what: idle with a context and the empty-launch loop pin ``P_static``; HBM copies
and reads ``e_hbm`` (+ ``e_l2``), L2-resident copies and ``.cg`` reads ``e_l2``; reads that repeat over
a buffer of < 190 KB per SM hit the L1 (the same SRAM as shared memory on Hopper) and give ``e_smem``;
the FMA loop ``e_vec``; the ex2 loop ``e_sfu``; GEMMs per dtype ``e_mma`` (their operand staging included,
their HBM bytes charged apart: :func:`archsim.gpu.power.charged_counts`).
``fp32`` is cuBLAS's FFMA GEMM (TF32 off), ``tf32`` its tensor-core GEMM with TF32 on.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from archsim.data import read_csv_rows
from archsim.errors import ConfigError
from archsim.gpu.power import charged_counts, launches_dynamic_j

COLUMNS = ("static_w", "mma_bf16", "mma_fp16", "mma_tf32", "mma_fp32", "vec", "sfu", "smem", "l2", "hbm")
#: Rows measured over less than this window are not fitted (too few steps for the mJ counter).
MIN_WINDOW_S = 0.5
REQUIRED = ("set", "bench", "wall_s", "step_s", "energy_per_step_j")
#: the main fit's two campaign runs (``campaigns/power.py`` on the H200, 2026-12-01; package data, measurements/h200)
MAIN_CSVS = ("power-h200-2026-12-01.csv", "power-h200-2026-12-01-r2.csv")


@dataclass(frozen=True)
class PowerFit:
    """Fitted coefficients (SI) and the residual of every calibration row."""

    coefficients: dict[str, float]
    rows: list[dict]
    sources: tuple[str, ...]

    @property
    def rms_rel_residual(self) -> float:
        return math.sqrt(sum(r["rel_residual"] ** 2 for r in self.rows) / len(self.rows))

    @property
    def max_abs_rel_residual(self) -> float:
        return max(abs(r["rel_residual"]) for r in self.rows)


def read_power_csv(path: str | Path) -> list[dict[str, str]]:
    """Rows of a power campaign CSV; a file that is not one raises a clear error."""
    return read_csv_rows(path, REQUIRED, "power campaign CSV")


def _f(row: dict[str, str], key: str) -> float:
    v = row.get(key, "")
    return float(v) if v not in ("", None) else 0.0


def _gemm_seconds(m: int, n: int, k: int, rates) -> float:
    """The GPU model's time of a bf16 cuBLAS GEMM at ``rates`` (without a power limit: at the full clock)."""
    from archsim.gpu import kernels as K
    from archsim.gpu.model import simulate_launch
    return sum(simulate_launch(ln, rates).time_s for ln in K.cublas_gemm(m, n, k, "bf16", rates))


def _gemm_totals(row: dict[str, str], rates) -> dict[str, float]:
    from archsim.gpu import kernels as K
    from archsim.gpu.model import simulate_launch
    dtype = row["dtype"]
    size = int(_f(row, "m"))
    launches = K.cublas_gemm(size, int(_f(row, "n")), int(_f(row, "k")), "bf16" if dtype in ("bf16", "fp16")
                             else "fp32", rates)
    tot: dict[str, float] = {}
    for ln in launches:
        for k, v in simulate_launch(ln, rates).totals.items():
            tot[k] = tot.get(k, 0.0) + v
    return tot


def counts(row: dict[str, str], rates) -> dict[str, float] | None:
    """Design-matrix counts of one calibration row (None: not a calibration benchmark the fit uses)."""
    bench, kind = row["bench"], row.get("kind", "")
    x = dict.fromkeys(COLUMNS, 0.0)
    x["static_w"] = _f(row, "step_s")
    if bench in ("idle_context", "idle_context_after"):
        return x
    if kind == "launch":
        return x
    if kind == "gemm":  # a tensor-core kernel: charged as archsim.gpu.power.charged_counts says
        tot = charged_counts(_gemm_totals(row, rates), staged=True)
        x[f"mma_{row['dtype']}"] = tot["mma_flops"]
        x.update(vec=tot["vec_ops"], smem=tot["smem_bytes"], l2=tot["l2_bytes"], hbm=tot["hbm_bytes"])
        return x
    size = _f(row, "size_bytes")
    moved = _f(row, "bytes_moved")
    if kind == "copy":
        x["l2"] = moved
        x["hbm"] = moved if row["resident"] == "hbm" else 0.0
        return x
    if kind == "read":
        x["vec"] = moved / 4.0  # one fp32 add per element read
        # residency from what the kernel did (the first run's CSV labelled the L1-resident reads "l2"):
        # one pass streams HBM; repeated passes hit L1 with default caching, L2 with .cg loads
        level = "hbm" if moved <= size else "l2" if bench.endswith("_cg") else "l1"
        if level == "hbm":
            x.update(l2=moved, hbm=moved)
        elif level == "l2":
            x["l2"] = moved
        else:  # L1-resident after the first pass, which reads L2
            x.update(smem=moved - size, l2=size)
        return x
    if kind == "fma":
        x["vec"] = _f(row, "fma_ops")
        return x
    if kind == "sfu":
        x.update(sfu=_f(row, "sfu_ops"), vec=_f(row, "fmul_ops"))
        return x
    return None


def _nnls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Least squares with x >= 0 (drop the most negative coefficient and refit until none is)."""
    free = list(range(a.shape[1]))
    x = np.zeros(a.shape[1])
    while free:
        sol, *_ = np.linalg.lstsq(a[:, free], b, rcond=None)
        if (sol >= 0).all():
            x[free] = sol
            return x
        free.pop(int(np.argmin(sol)))
    return x


#: design-matrix columns the voltage line scales: every dynamic energy (not the static power)
VF_COLUMNS = tuple(c for c in COLUMNS if c != "static_w")


#: the V/f campaign (``campaigns/power_vf.py``): its ``duty`` windows (each bf16 GEMM between one-warp spins, the board
#: far below its limit, 1980 MHz) are boost-clock GEMM calibration rows of the main fit
BOOST_CSV = "power-h200-vf-2026-12-01.csv"


def boost_gemm_rows(rates, path: str | Path | None = None) -> list[dict]:
    """The V/f campaign's GEMMs at boost clock (``label``, ``m``/``n``/``k``, ``calls``, design-matrix counts ``x``,
    joules ``e`` and seconds ``step_s`` of the step's GEMM part, ``dt_s`` its time): a ``duty`` window less its
    ``spin_control`` window (the spin kernels alone, same count), ``E_duty - E_ctrl = P_static (T_duty - T_ctrl) +
    calls x GEMM energy``, per step. Rows whose GEMM share of the duty window's energy is under a third (the short
    GEMMs, where the control's counter noise dominates) are left out."""
    from archsim.data import measurement
    path = Path(path) if path is not None else measurement("h200", BOOST_CSV)
    groups: dict[tuple[str, str, str, str], dict[str, dict[str, str]]] = {}
    for r in read_csv_rows(path, ("bench", "kind", "pattern", "m", "n", "k", "pass", "step_s", "energy_per_step_j",
                                  "gemm_calls"), "power_vf campaign CSV"):
        if r["kind"] == "gemm_vf" and not r.get("error"):
            groups.setdefault((r["m"], r["n"], r["k"], r["pass"]), {})[r["pattern"]] = r
    out = []
    for (m, n, k, pass_), g in sorted(groups.items()):
        if "duty" not in g or "spin_control" not in g:
            continue
        d, c = g["duty"], g["spin_control"]
        e = _f(d, "energy_per_step_j") - _f(c, "energy_per_step_j")
        if e < _f(d, "energy_per_step_j") / 3.0:
            continue
        calls = _f(d, "gemm_calls")
        tot = charged_counts(_gemm_totals({"dtype": "bf16", "m": m, "n": n, "k": k}, rates), staged=True)
        x = dict.fromkeys(COLUMNS, 0.0)
        x["static_w"] = _f(d, "step_s") - _f(c, "step_s")
        x.update(mma_bf16=calls * tot["mma_flops"], vec=calls * tot["vec_ops"], l2=calls * tot["l2_bytes"],
                 hbm=calls * tot["hbm_bytes"])
        out.append({"label": f"gemm_bf16_{m}x{n}x{k}_boost_{pass_}", "m": int(m), "n": int(n), "k": int(k),
                    "calls": calls, "x": x, "e": e, "step_s": _f(d, "step_s"), "dt_s": x["static_w"]})
    return out


def fit_spike(power, path: str | Path | None = None, device: str = "h200") -> float:
    """The limit a single launch meets inside a window the slow controller holds below the board limit
    (``PowerCoefficients.spike_limit_w``), from the V/f campaign's duty windows (:func:`boost_gemm_rows`: GEMMs
    between one-warp spins, the window below 700 W, NVML reading the boost clock). A GEMM that short runs at the
    window's voltage (the regulator does not follow the fast limiter within it), so its energy is its boost-clock
    energy whatever its clock, and the limit is static power plus that energy over its measured time per call;
    mean over the rows whose boost-clock model power exceeds the ``do_bench`` burst limit (the launches a
    limit holds). ``power``: the coefficients of the earlier stages (``burst_limit_w`` set)."""
    from archsim.gpu.calibration import rates_for
    from archsim.gpu.predict import predict_gemm
    from archsim.presets import load_hardware
    rates = dataclasses.replace(rates_for(load_hardware(device)), power=dataclasses.replace(power, limit_w=None))
    limits = []
    for r in boost_gemm_rows(rates, path):
        p = predict_gemm(device, m=r["m"], n=r["n"], k=r["k"], rates=rates)
        boost_j = launches_dynamic_j(p.launches)
        if power.static_w + boost_j / p.latency_s <= power.burst_limit_w:
            continue
        limits.append(power.static_w + boost_j / (r["dt_s"] / r["calls"]))
    if not limits:
        raise ConfigError.single("the V/f campaign has no duty window whose GEMM the burst limit holds",
                                 file=str(path or BOOST_CSV))
    return sum(limits) / len(limits)


def fit(paths: list[str | Path], device: str = "h200", vf_beta: float | None = None, boost: bool = True) -> PowerFit:
    """Fit :data:`COLUMNS` to the calibration rows of ``paths`` (see module docstring). Each row's dynamic counts
    (:data:`VF_COLUMNS`) are weighted by ``v(f)^2``, ``v(f) = 1 - vf_beta (1 - f / f_max)`` at the row's NVML median
    SM clock, so the coefficients come out as boost-clock energies (the model's voltage line,
    :data:`archsim.gpu.power.H200_VF`, fitted before this stage on ``campaigns/power_vf.py``'s rows); ``vf_beta``
    None: that line; 0: energies taken as clock-independent (the fit before the line, kept as a diagnosis).
    ``boost``: add the V/f campaign's boost-clock GEMM rows (:func:`boost_gemm_rows`); without them every GEMM row
    ran power-capped, where the limit, not the per-FLOP energy, sets the power."""
    from archsim.gpu.calibration import rates_for
    from archsim.gpu.power import H200_VF
    from archsim.presets import load_hardware
    beta = H200_VF["vf_beta"] if vf_beta is None else vf_beta
    rates = dataclasses.replace(rates_for(load_hardware(device)), power=None)  # counts without the power limit
    used: list[dict] = []
    xs: list[list[float]] = []
    ys: list[float] = []
    for path in paths:
        for row in read_power_csv(path):
            if row["set"] != "calibration" or _f(row, "wall_s") < MIN_WINDOW_S:
                continue
            x = counts(row, rates)
            if x is None:
                continue
            if beta and _f(row, "sm_clock_mhz") > 0.0:
                v = 1.0 - beta * (1.0 - min(1.0, _f(row, "sm_clock_mhz") * 1e6 / rates.clock_hz))
                x = {c: val * v * v if c in VF_COLUMNS else val for c, val in x.items()}
            e = _f(row, "energy_per_step_j")
            used.append({"file": Path(path).name, "bench": row["bench"], "measured_j": e, "step_s": _f(row, "step_s"),
                         "avg_power_w": _f(row, "avg_power_w"), "sm_clock_mhz": _f(row, "sm_clock_mhz"), "x": x})
            xs.append([x[c] / e for c in COLUMNS])
            ys.append(1.0)
    if boost:
        for b in boost_gemm_rows(rates):
            x, e = b["x"], b["e"]
            used.append({"file": BOOST_CSV, "bench": b["label"], "measured_j": e, "step_s": b["step_s"],
                         "avg_power_w": 0.0, "sm_clock_mhz": rates.clock_hz / 1e6, "x": x})
            xs.append([x[c] / e for c in COLUMNS])
            ys.append(1.0)
    if len(used) < len(COLUMNS):
        raise ConfigError.single(f"power fit needs at least {len(COLUMNS)} calibration rows, found {len(used)} in "
                                 + ", ".join(str(p) for p in paths))
    a = np.array(xs)
    scale = a.max(axis=0)
    scale[scale == 0] = 1.0
    sol = _nnls(a / scale, np.array(ys)) / scale
    coef = dict(zip(COLUMNS, (float(v) for v in sol), strict=True))
    rows = []
    for u in used:
        model = sum(coef[c] * u["x"][c] for c in COLUMNS)
        rows.append({k: v for k, v in u.items() if k != "x"} | {
            "modeled_j": model, "rel_residual": (model - u["measured_j"]) / u["measured_j"],
            "modeled_power_w": model / u["step_s"]})
    return PowerFit(coefficients=coef, rows=rows, sources=tuple(str(Path(p).name) for p in paths))


#: the power campaign's glue-kernel run (eager PyTorch glue classes of archsim.gpu.stacks)
GLUE_CSV = "power-h200-2026-12-01-glue.csv"


def fit_glue(path: str | Path, static_w: float) -> dict[str, float]:
    """Board dynamic energy per byte moved (J/B) of each eager glue-kernel class, HBM-resident.

    From the ``kind == glue`` calibration rows: ``(E_step - static_w * T_step) / (read + write bytes)``,
    averaged over the rows of a class. These kernels run PyTorch's non-vectorised strided and
    dtype-converting paths; their index arithmetic and partial-sector traffic is in the figure
    (a contiguous add lands on ``e_l2 + e_hbm`` of the main fit; a rotate-half ``cat`` costs 3x that).
    """
    per: dict[str, list[float]] = {}
    for row in read_power_csv(path):
        if row["set"] != "calibration" or row.get("kind") != "glue" or _f(row, "wall_s") < MIN_WINDOW_S:
            continue
        moved = _f(row, "read_bytes") + _f(row, "write_bytes")
        dyn = _f(row, "energy_per_step_j") - static_w * _f(row, "step_s")
        per.setdefault(row["glue_class"], []).append(dyn / moved)
    if not per:
        raise ConfigError.single(f"{path}: no glue calibration rows (campaigns/power.py POWER_PARTS=glue)",
                                 file=str(path))
    return {k: sum(v) / len(v) for k, v in per.items()}


#: the padded-tile and clock-response campaign (campaigns/power_padded.py), 2026-12-01
PADDED_CSV = "power-h200-2026-12-01-padded.csv"
RESPONSE_CSV = "power-h200-response-2026-12-01-padded.csv"
#: GEMMs whose ``do_bench`` time after an idle pause sets the burst limit (both power-bound when sustained)
BURST_GEMMS = {"gemm_bf16_8192": (8192, 8192, 8192), "gemm_bf16_2048x14336x4096": (2048, 14336, 4096)}


def row_vf_scale(row: dict[str, str], power, rates) -> float:
    """The voltage-line factor ``v(f)^2`` (:meth:`archsim.gpu.power.PowerCoefficients.vf_scale`) at a measured row's
    NVML median SM clock; 1 (boost) where the row has no clock column."""
    mhz = _f(row, "sm_clock_mhz")
    return power.vf_scale(mhz * 1e6 / rates.clock_hz) if mhz > 0.0 else 1.0


def _staged_parts(power, tot: dict[str, float]) -> tuple[float, float, float]:
    """(real tensor-core J, padded tensor-core J at full energy, other J but HBM) of a staged launch's totals at
    boost clock."""
    mat = power.matrix_j_per_flop["bf16"]
    pad = mat * tot.get("padded_mma_flops", 0.0)
    real = mat * tot["mma_flops"] - pad
    other = power.vec_j_per_lane_op * tot["vec_ops"]
    return real, pad, other


def fit_padded(padded_csv: str | Path, response_csv: str | Path, power, device: str = "h200") -> dict[str, float]:
    """Second-stage fit (the main coefficients ``power`` held fixed) on ``campaigns/power_padded.py``'s
    calibration rows only:

    - ``padded_fraction``: bf16 GEMM 8192^3 with 1 or 8 of every 64 rows of A random (rest zero) against the
      all-random GEMM: ``r = (E_dyn - E_hbm) / (E_dyn,random - E_hbm)`` and ``r = f + phi (1 - f)`` with ``f`` the
      live share of rows; mean over the two rows;
    - ``tma_stream_j_per_byte``: cuBLAS GEMMs m = 1..8 x 16384 x 8192 (a 256 MiB weight streamed once per call):
      ``(E_dyn - tensor-core and lane-op energy) / HBM bytes``, mean (``phi`` and this one iterated together);
    - ``burst_limit_w``: the GEMMs of :data:`BURST_GEMMS` timed by ``do_bench`` after 1.5 s idle: static power plus
      their modelled dynamic energy over that time (the board's draw before the slow controller acts), mean;
    - ``limit_delay_s``: the back-to-back burst of the 8192^3 GEMM after idle: first time from the burst start
      at which the launch time (median of 3 chunks) exceeds its first 30 ms by more than 5 %.
    """
    from archsim.gpu.calibration import rates_for
    from archsim.presets import load_hardware
    rates = dataclasses.replace(rates_for(load_hardware(device)), power=None)
    rows = {r["bench"]: r for r in read_power_csv(padded_csv)
            if r["set"] == "calibration" and r.get("step_s") and _f(r, "wall_s") >= MIN_WINDOW_S}

    def dyn(r: dict[str, str]) -> float:
        return _f(r, "energy_per_step_j") - power.static_w * _f(r, "step_s")
    data = {int(_f(r, "live_rows_of_64")): r for r in rows.values() if r.get("kind") == "gemm_data"}
    skinny = [r for r in rows.values() if r.get("kind") == "gemm" and _f(r, "m") <= 8]
    if 64 not in data or not [k for k in data if 0 < k < 64] or not skinny:
        raise ConfigError.single(f"{padded_csv}: needs the gemm_data rows (random and partly zero) and skinny GEMMs "
                                 "m <= 8 (campaigns/power_padded.py parts data, skinny)", file=str(padded_csv))
    tot_big = _gemm_totals(data[64], rates)
    skinny_tot = [(r, _gemm_totals(r, rates)) for r in skinny]
    stream = power.l2_j_per_byte + power.hbm_j_per_byte  # a staged GEMM's HBM byte, as the main fit charges it
    phi, tma = 1.0, stream
    for _ in range(5):
        tmas = []
        for r, tot in skinny_tot:
            real, pad, other = _staged_parts(power, tot)
            tmas.append((dyn(r) / row_vf_scale(r, power, rates) - real - phi * pad - other) / tot["hbm_bytes"])
        tma = sum(tmas) / len(tmas)

        def sm_boost(r: dict[str, str]) -> float:  # a data row's energy at boost clock but its weight stream
            return dyn(r) / row_vf_scale(r, power, rates) - stream * tot_big["hbm_bytes"]
        ref = sm_boost(data[64]) - power.vec_j_per_lane_op * tot_big["vec_ops"]
        phis = []
        for live, r in data.items():
            if 0 < live < 64:
                f = live / 64.0
                phis.append(((sm_boost(r) - power.vec_j_per_lane_op * tot_big["vec_ops"]) / ref - f) / (1.0 - f))
        phi = sum(phis) / len(phis)
    resp = read_csv_rows(response_csv, ("set", "bench", "mode", "time_s"), "clock-response CSV")
    coeffs = dataclasses.replace(power, padded_fraction=phi, tma_stream_j_per_byte=tma)
    limits = []
    for r in resp:
        if r["mode"] == "do_bench" and r["bench"] in BURST_GEMMS:
            # the clock the fast limit held: the model's full-clock time over the measured one (compute-bound GEMMs)
            m, n, k = BURST_GEMMS[r["bench"]]
            tot = _gemm_totals({"dtype": "bf16", "m": str(m), "n": str(n), "k": str(k)}, rates)
            full_s = _gemm_seconds(m, n, k, rates)
            scale = power.vf_scale(min(1.0, full_s / _f(r, "time_s")))
            real, pad, other = _staged_parts(coeffs, tot)
            hbm_j = stream * tot["hbm_bytes"]  # as the main fit charges a staged GEMM's HBM bytes
            limits.append(power.static_w + scale * (real + phi * pad + other + hbm_j) / _f(r, "time_s"))
    series = sorted((_f(r, "since_start_s"), _f(r, "time_s")) for r in resp
                    if r["mode"] == "burst" and r["bench"] == "gemm_bf16_8192")
    if not limits or len(series) < 10:
        raise ConfigError.single(f"{response_csv}: needs the do_bench rows of {', '.join(BURST_GEMMS)} and the burst "
                                 "of gemm_bf16_8192 (campaigns/power_padded.py part response)", file=str(response_csv))
    base = float(np.median([t for s, t in series if s < 0.03]))
    delay = next((series[i][0] for i in range(len(series) - 2)
                  if float(np.median([t for _, t in series[i:i + 3]])) > 1.05 * base), math.nan)
    return {"padded_fraction": phi, "tma_stream_j_per_byte": tma, "burst_limit_w": sum(limits) / len(limits),
            "limit_delay_s": delay}


GAPS_CSV = "power-h200-2026-12-01-gaps.csv"


def gemv_stream_j_per_byte(chain_row: dict[str, str], power, rates) -> float:
    """Weight-stream J per HBM byte of a ``chain_gemv22k`` row (a CUDA-graph chain of cuBLAS GEMV 1 x 4096 -> 22016,
    ``F.linear``'s TN kernel): ``(E - P_static t - tensor-core energy, padded rows at phi) / HBM bytes`` per launch
    (``rates`` without a power limit: the launch's counts)."""
    n = _f(chain_row, "launches")
    t, e = _f(chain_row, "step_s") / n, _f(chain_row, "energy_per_step_j") / n
    tot = _gemm_totals({"dtype": "bf16", "m": "1", "n": "22016", "k": "4096"}, rates)
    real, pad, other = _staged_parts(power, tot)
    return ((e - power.static_w * t) / row_vf_scale(chain_row, power, rates) - real - power.padded_fraction * pad
            - other) / tot["hbm_bytes"]


def fit_gaps(gaps_csv: str | Path, power, device: str = "h200") -> dict:
    """Third-stage fit and checks on ``campaigns/power_gaps.py``'s calibration rows only (the main and
    second-stage coefficients ``power`` held fixed; its validation rows are never read):

    - ``gemm_stream_j_per_byte`` (fitted): the CUDA-graph chain of cuBLAS GEMV 1 x 4096 -> 22016 (``F.linear``'s
      TN kernel, a 180 MB weight streamed per launch): ``(E_dyn - tensor-core energy, padded rows at phi) / HBM
      bytes`` per launch, with ``E_dyn = E - P_static x t`` at the model's static power;
    - ``gaps`` (a check, nothing fitted): per kernel, the energy of a period above the board's idle (mean of its two
      ``idle_context`` windows) and above the kernel's dynamic energy in its graph chain,
      ``excess = E_period - P_idle x period - E_dyn,chain``, against the GPU's idle gap (period - chain time per
      launch; rows under 5 us, where the GPU never idles, left out), and its least-squares line
      ``excess = tail_j + excess_w x gap``: ``excess_w`` is power in the gaps above idle, ``tail_j`` a fixed energy
      per gap (a power-state or clock tail after the kernel; it also holds the kernel's own energy change after idle);
    - ``tiny_kernel_j``: dynamic energy per launch of the tiny kernels' graph chains (above the idle power).
    """
    from archsim.gpu.calibration import rates_for
    from archsim.presets import load_hardware
    rates = dataclasses.replace(rates_for(load_hardware(device)), power=None)
    rows = {r["bench"]: r for r in read_power_csv(gaps_csv)
            if r["set"] == "calibration" and _f(r, "wall_s") >= MIN_WINDOW_S}
    idle = [_f(rows[b], "avg_power_w") for b in ("idle_context", "idle_context_after") if b in rows]
    chain = {r.get("kernel"): r for r in rows.values() if r.get("kind") == "chain"}
    if not idle or "gemv22k" not in chain:
        raise ConfigError.single(f"{gaps_csv}: needs the idle_context rows and the chain_gemv22k row "
                                 "(campaigns/power_gaps.py part calibration)", file=str(gaps_csv))
    p_idle = sum(idle) / len(idle)

    def per_launch(r: dict[str, str]) -> tuple[float, float]:
        n = _f(r, "launches")
        return _f(r, "step_s") / n, _f(r, "energy_per_step_j") / n
    stream = gemv_stream_j_per_byte(chain["gemv22k"], power, rates)
    chain_dyn = {k: per_launch(r)[1] - p_idle * per_launch(r)[0] for k, r in chain.items()}
    chain_t = {k: per_launch(r)[0] for k, r in chain.items()}
    gaps = []
    for r in rows.values():
        k = r.get("kernel")
        if r.get("kind") != "gap" or k not in chain_t:
            continue
        period = _f(r, "step_s")
        gap = period - chain_t[k]
        if gap < 5e-6:
            continue
        excess = _f(r, "energy_per_step_j") - p_idle * period - chain_dyn[k]
        gaps.append({"bench": r["bench"], "kernel": k, "host_gap_s": _f(r, "host_gap_s"), "gap_s": gap,
                     "period_s": period, "excess_j": excess, "avg_power_w": _f(r, "avg_power_w"),
                     "kernel_event_s": _f(r, "kernel_event_median_s")})
    lines = {}
    for k in sorted({g["kernel"] for g in gaps}):
        pts = [(g["gap_s"], g["excess_j"]) for g in gaps if g["kernel"] == k]
        if len(pts) >= 3:
            slope, icpt = np.polyfit([x for x, _ in pts], [y for _, y in pts], 1)
            lines[k] = {"excess_w": float(slope), "tail_j": float(icpt), "n": len(pts)}
    if not lines:
        raise ConfigError.single(f"{gaps_csv}: needs >= 3 gap_* rows with a host gap for one kernel",
                                 file=str(gaps_csv))
    return {"gemm_stream_j_per_byte": stream, "idle_w": p_idle, "gaps": gaps, "gap_lines": lines,
            "chain_dyn_j": chain_dyn, "chain_s": chain_t}

