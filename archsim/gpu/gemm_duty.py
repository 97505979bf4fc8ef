"""Which power regime a cuBLAS GEMM runs in inside a model step: the kernel model against the GEMM duty-cycle
microbenchmark, and what that regime would do to the whole-model GEMM rows (issue 16, a diagnosis).

Measurement (``campaigns/gemm_duty.py``, ``h200-gemm-duty-2026-12-01.csv``; GEMMs only): prefill-projection
GEMMs (bf16, TN as ``F.linear``, rotated operands) timed by the profiler in CUDA-graph replays, (1) right after an
idle pause (``burst``), (2) back to back for 1 s (``duty_0``) and (3) with a memory-bound copy of about 1x / 3x the
GEMM's time after every GEMM, for 1 s (``duty_1`` / ``duty_3``). Between copies the GEMMs run at their burst time
(within 2 %, SM clock 1875-1980 MHz), back to back they run 11-22 % slower (1320-1590 MHz).

The kernel model prices each launch under one board limit: the 700 W sustained one
(:attr:`archsim.gpu.power.PowerCoefficients.limit_w`, what the whole-model pricer uses) or the fast one a kernel
meets within ~70 ms of an idle pause (:func:`archsim.gpu.power.burst_rates`). Times here are in the whole-model
pricer's convention (:class:`archsim.gpu.wholemodel.KernelPricer`: the event-timed launch overhead taken off, as a
profiler's kernel duration has none), so they compare with the profiler durations directly.

Nothing here changes a prediction: :func:`duty_rows` is a calibration-side check, :func:`whole_model_gemm_regimes`
a what-if on the validation steps (labelled so), both for the report ``reports/gpu-validation.md``.
Run ``python -m archsim.gpu.gemm_duty`` for both tables as Markdown.
"""

from __future__ import annotations

import csv
import dataclasses

from archsim.data import measurement
from archsim.gpu.devices import DeviceCalibration, device_calibration
from archsim.gpu.power import burst_rates
from archsim.gpu.stacks import KernelItem, Step

DUTY_CSV = "h200-gemm-duty-2026-12-01.csv"
#: whole-model sets (archsim.gpu.wholemodel_report.SETS names) whose eager prefill steps the what-if lists
WHATIF_SETS = ("campaign", "holdout", "blind", "blind-2")


def _pricers(cal: DeviceCalibration):
    from archsim.gpu.wholemodel import KernelPricer
    burst = dataclasses.replace(cal, rates=burst_rates(cal.rates))
    return KernelPricer(cal), KernelPricer(burst)


def duty_rows(cal: DeviceCalibration | None = None) -> list[dict]:
    """One row per measured shape x pattern: measured profiler median (s), the model in the sustained and the
    burst regime (s), and their errors against the measurement."""
    cal = cal or device_calibration("h200", "own")
    sustained, burst = _pricers(cal)
    out = []
    with open(measurement("h200", DUTY_CSV), newline="") as fh:
        for r in csv.DictReader(fh):
            m, n, k = int(r["m"]), int(r["n"]), int(r["k"])
            item = KernelItem(category="gemm", name=f"{m}x{n}x{k}", gemm=(m, n, k, 1))
            meas = float(r["gemm_median_us"]) * 1e-6
            s, b = sustained(item), burst(item)
            out.append({"shape": (m, n, k), "pattern": r["pattern"], "kernel": r["gemm_kernel"],
                        "sm_clock_mhz": r["sm_clock_mhz"], "measured_s": meas, "sustained_s": s, "burst_s": b,
                        "sustained_error": (s - meas) / meas, "burst_error": (b - meas) / meas})
    return out


def whole_model_gemm_regimes(cal: DeviceCalibration | None = None) -> list[dict]:
    """What-if on the committed whole-model steps (validation data, not a fit): each eager prefill step's GEMM
    category as measured (profiler), as priced now (sustained limit per launch) and with every GEMM priced in
    the burst regime (attention and glue unchanged). Dense models only (MoE experts are grouped GEMMs)."""
    from archsim.gpu.stacks import lower
    from archsim.gpu.wholemodel import IMPL_STACK, MODE_HOST, _read, measured_categories, shape_of
    from archsim.gpu.wholemodel_report import SETS
    cal = cal or device_calibration("h200", "own")
    sustained, burst = _pricers(cal)
    out = []
    for name in WHATIF_SETS:
        whole, kernels = SETS[name]
        cats = measured_categories(measurement("h200", kernels))
        for r in _read(measurement("h200", whole), ("run_id", "impl", "mode", "phase", "ok")):
            if r["ok"] != "1" or r["impl"] not in IMPL_STACK or MODE_HOST.get(r["mode"]) != "eager" \
                    or r["phase"] != "prefill":
                continue
            model, stack = shape_of(r), IMPL_STACK[r["impl"]]
            if model.experts:  # MoE experts run as grouped GEMMs (archsim.gpu.grouped), not these cuBLAS GEMMs
                continue
            step = Step(phase="prefill", batch=int(r["batch"]), seq_len=int(r["seq_len"]), context=0)
            gemms = [it for it in lower(model, step, stack, "eager") if it.category == "gemm" and it.gemm]
            meas = cats.get(r["run_id"], {}).get("gemm", 0.0)
            if meas <= 0.0:
                continue
            s = sum(sustained(it) * it.count for it in gemms)
            b = sum(burst(it) * it.count for it in gemms)
            out.append({"set": name, "run_id": r["run_id"], "model": r["model"], "stack": stack,
                        "batch": step.batch, "seq_len": step.seq_len, "hidden": model.hidden,
                        "measured_s": meas, "sustained_s": s, "burst_s": b,
                        "sustained_error": (s - meas) / meas, "burst_error": (b - meas) / meas,
                        "sm_clock_mhz": r.get("sm_clock_mhz", "")})
    return out


def _pct(x: float) -> str:
    return f"{x * 100:+.1f} %"


def markdown(cal: DeviceCalibration | None = None) -> str:
    """Both tables as Markdown (microbenchmark first, then the labelled what-if)."""
    rows = duty_rows(cal)
    lines = ["| shape m x n x k | pattern | cuBLAS kernel | SM MHz | measured us | sustained model | err | "
             "burst model | err |", "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {'x'.join(map(str, r['shape']))} | {r['pattern']} | `{r['kernel'][15:]}` | "
                     f"{r['sm_clock_mhz']} | {r['measured_s'] * 1e6:.1f} | {r['sustained_s'] * 1e6:.1f} | "
                     f"{_pct(r['sustained_error'])} | {r['burst_s'] * 1e6:.1f} | {_pct(r['burst_error'])} |")
    wm = whole_model_gemm_regimes(cal)
    lines += ["", "What-if on the whole-model eager prefill steps (validation data; NOT a fit, NOT applied):",
              "", "| set | run | model | stack | batch | len | hidden | SM MHz | GEMM measured ms | sustained (now) | "
              "err | all-burst | err |", "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in wm:
        lines.append(f"| {r['set']} | {r['run_id']} | {r['model']} | {r['stack']} | {r['batch']} | {r['seq_len']} | "
                     f"{r['hidden']} | {r['sm_clock_mhz']} | {r['measured_s'] * 1e3:.2f} | "
                     f"{r['sustained_s'] * 1e3:.2f} | {_pct(r['sustained_error'])} | {r['burst_s'] * 1e3:.2f} | "
                     f"{_pct(r['burst_error'])} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown())
