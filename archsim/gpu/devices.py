"""Per-GPU calibration: which measurements set the model's constants for each GPU.

- ``h200`` (default, "own"): H200-from-H200. Kernel-model rates from the H200's own
  microbenchmarks (``h200-calibration-2026-11-23.csv``: copy bandwidth and CTA counts, latencies,
  shared memory, cuBLAS/mma.sync/ex2 peaks, launch floor; plus ``h200-wm-l2reads-2026-12-01.csv``:
  read-only L2 bandwidth, which the 11-23 campaign did not run on the H200) applied to the h200
  preset; glue curves from ``h200-wm-glue-2026-12-01.csv`` and the HF/MoE-path kernels of
  ``h200-wm-holdout-glue-2026-12-01.csv`` (microbenchmarks of the second run) and SiLU * mul at the
  models' FFN widths (``h200-wm-glue-wide-2026-12-01.csv``), LayerNorm (``h200-layernorm-glue-2026-12-01.csv``);
  grouped-GEMM experts against the cuBLAS
  model from ``h200-wm-grouped-2026-12-01.csv`` (:mod:`archsim.gpu.grouped`); host costs from
  ``h200-wm-host-2026-12-01.csv`` (measured on the H200 machine's host CPU).
- ``h200`` "cross": H200-from-H100 — the H100 calibration's efficiencies on the h200 preset
  (:func:`archsim.gpu.calibration.rates_for` default), reported separately, as before.
- ``h100-sxm``: the H100 calibration (kernel model only: no glue or host microbenchmarks were
  run on the H100; whole-model predictions for it borrow the H200's host figures as they are and
  its glue curves moved by the ratio of the two GPUs' measured copy bandwidths (streaming part
  scaled, floors kept) — said where used).

None of these reads a validation (kernel or whole-model) file.
"""

from __future__ import annotations

import csv
import tempfile
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from archsim.data import measurement
from archsim.errors import ConfigError
from archsim.gpu.calibration import Calibration, DeviceRates, analyse, rates_for
from archsim.gpu.glue import GlueModel, load_glue
from archsim.gpu.host import HostModel, load_host, mixed_order_factor

H200_KERNEL_CSVS = ("h200-calibration-2026-11-23.csv", "h200-wm-l2reads-2026-12-01.csv")
H200_GLUE_CSVS = ("h200-wm-glue-2026-12-01.csv", "h200-wm-holdout-glue-2026-12-01.csv",
                  "h200-wm-glue-wide-2026-12-01.csv", "h200-layernorm-glue-2026-12-01.csv")
H200_GROUPED_CSV = "h200-wm-grouped-2026-12-01.csv"
H200_HOST_CSV = "h200-wm-host-2026-12-01.csv"
#: tight-loop vs mixed-order dispatch (campaigns/host_dispatch.py): the factor on per-kernel host costs
H200_HOST_OPS_CSV = "h200-host-ops-2026-12-01.csv"
MODES = ("own", "cross")


@dataclass(frozen=True)
class DeviceCalibration:
    """Everything the whole-model predictor uses for one GPU, with where each part came from."""

    device: str
    mode: str
    rates: DeviceRates
    glue: GlueModel
    host: HostModel
    sources: dict[str, str]


def merged_calibration(device: str, files: tuple[str, ...], folder: str) -> Calibration:
    """:func:`analyse` over several calibration CSVs of one device (the first file's rows win)."""
    rows: list[dict[str, str]] = []
    have: set[str] = set()
    for name in files:
        path = measurement(folder, name)
        try:
            with open(path, newline="") as fh:
                part = list(csv.DictReader(fh))
        except OSError as e:
            raise ConfigError.single(f"cannot read calibration CSV {path}: {e.strerror}") from None
        rows += [r for r in part if r["bench"] not in have]
        have |= {r["bench"] for r in part}
    with tempfile.TemporaryDirectory() as tmp:
        merged = Path(tmp) / "merged.csv"
        with open(merged, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        cal = analyse(merged, device)
    return Calibration(**{**cal.__dict__, "source": " + ".join(f"archsim/data/measurements/{folder}/{f}"
                                                               for f in files)})


@lru_cache(maxsize=8)
def device_calibration(device: str = "h200", mode: str = "own") -> DeviceCalibration:
    """The calibration of ``device`` (``h200`` or ``h100-sxm``); ``mode`` own | cross (H200 only)."""
    from archsim.presets import load_hardware
    if mode not in MODES:
        raise ConfigError.single(f"unknown calibration mode {mode!r}; valid: {', '.join(MODES)}", key_path="mode")
    if device not in ("h200", "h100-sxm"):
        raise ConfigError.single(f"no whole-model calibration for {device!r}; valid: h200, h100-sxm",
                                 key_path="hw")
    preset = load_hardware(device)
    if device == "h200" and mode == "own":
        rates = rates_for(preset, merged_calibration("h200", H200_KERNEL_CSVS, "h200"), preset)  # type: ignore[arg-type]
        kernel_src = " + ".join(H200_KERNEL_CSVS)
    else:
        rates = rates_for(preset)  # type: ignore[arg-type]
        kernel_src = "H100_CALIBRATION (archsim/data/measurements/h100/h100-calibration-2026-11-23.csv + follow-ups)"
    l2 = preset.memory["l2"].capacity_bytes  # type: ignore[attr-defined]
    glue = load_glue(tuple(measurement("h200", f) for f in H200_GLUE_CSVS), device, l2)
    host = load_host(measurement("h200", H200_HOST_CSV), glue.curves[("vec", "warm")].floor_s)
    host = replace(host, mixed_factor=mixed_order_factor(measurement("h200", H200_HOST_OPS_CSV)))
    if device != "h200":  # glue measured on the H200 only: moved by the measured copy bandwidths
        glue = glue.moved(device, l2, device_calibration("h200", "own").rates.hbm_bw, rates.hbm_bw)
    return DeviceCalibration(device=device, mode=mode, rates=rates, glue=glue, host=host,
                             sources={"kernels": kernel_src, "glue": " + ".join(H200_GLUE_CSVS),
                                      "host": f"{H200_HOST_CSV} (x {H200_HOST_OPS_CSV} mixed order)",
                                      "grouped": H200_GROUPED_CSV})
