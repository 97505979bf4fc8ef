"""Result guards: no result or prediction beats the peak of the device it ran on.

:func:`check_result_within_peaks` (every backend's result; called once, by :func:`archsim.api.simulate`)
and :func:`check_prediction_within_peaks` (the GPU model's kernel predictions, ``archsim predict``)
raise :class:`~archsim.errors.PhysicalLimitError` when a model reports a rate above the peak of
the device it ran on, a zero time for nonzero work, or a non-finite number: a model bug, or an
input the model cannot represent, is an error, never a result (DESIGN.md, "Hardware models"). The
CLI prints it as one ``error: physical limit: ...`` line, exit code 2. Presets themselves are held
to known silicon by :mod:`archsim.physical_limits`.

Units: SI throughout (FLOP/s, B/s, s, J).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from archsim.errors import PhysicalLimitError

#: Relative slack for "achieved <= peak" (float rounding of rates computed as bytes / time).
RATE_TOLERANCE = 1e-6
#: Slack for GPU-model predictions against preset peaks: presets write figures to 3 significant
#: digits (L2 7.33 TB/s) while the model runs on the unrounded calibrated rates (7.332 TB/s).
PRESET_ROUNDING = 5e-3


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _finite(what: str, values: Iterable[tuple[str, float]]) -> None:
    for key, value in values:
        if isinstance(value, (int, float)) and not math.isfinite(value):
            raise PhysicalLimitError(f"{what}: {key} is {value} (not a finite number); refusing to report it")


def check_rate(what: str, amount: float, time_s: float, peak: float, unit: str,
               tolerance: float = RATE_TOLERANCE) -> None:
    """Raise when ``amount`` done in ``time_s`` exceeds ``peak`` (``unit`` per second), or time is zero for work."""
    if amount <= 0:
        return
    if time_s <= 0:
        raise PhysicalLimitError(f"{what}: {_fmt(amount)} {unit} in zero time (an infinite rate)")
    achieved = amount / time_s
    if achieved > peak * (1 + tolerance):
        raise PhysicalLimitError(f"{what}: achieved {_fmt(achieved)} {unit}/s exceeds the device's peak "
                                 f"{_fmt(peak)} {unit}/s ({achieved / peak:.3g}x)")


def _matrix_peak(compute: Any, dtype: str) -> float | None:
    rates = compute.matrix_flops_per_s
    return rates.get(dtype, max(rates.values(), default=None))


def check_result_within_peaks(result: Any, hardware: Any) -> None:
    """Raise PhysicalLimitError when any operator of ``result`` beats a peak of ``hardware`` or is non-finite.

    Checked per operator (one execution): matrix FLOP/s against the matrix peak of its dtype (the
    fastest dtype when the table lacks it), vector FLOP/s against the fastest vector peak,
    transcendentals against the SFU rate, and bytes per second at every memory level against its
    peak (:func:`level_peak`). Every number must be finite. (The gpu backend reports the bytes its
    launch model moves at each level, so its time and its bytes come from one model.)
    """
    c = hardware.compute
    for op in result.ops:
        what = f"{result.backend} backend on {hardware.name}, operator {op.name!r}"
        _finite(what, [("time_s", op.time_s), ("energy_j", op.energy_j), ("matrix_flops", op.matrix_flops),
                       ("vector_flops", op.vector_flops), ("transcendentals", op.transcendentals),
                       ("useful_flops", op.useful_flops)]
                + [(f"bytes_{k}", v) for k, v in op.bytes_by_level.items()]
                + [(f"time_by_resource.{k}", v) for k, v in op.time_by_resource.items()]
                + [(f"energy_by_part.{k}", v) for k, v in op.energy_by_part.items()])
        if op.energy_j < 0 or op.time_s < 0:
            raise PhysicalLimitError(f"{what}: negative time or energy ({op.time_s} s, {op.energy_j} J)")
        peak = _matrix_peak(c, op.dtype)
        if peak is not None:
            check_rate(what + " (matrix)", op.matrix_flops, op.time_s, peak, "FLOP")
        vmax = max(c.vector_flops_per_s.values(), default=None)
        if vmax is not None:
            check_rate(what + " (vector)", op.vector_flops, op.time_s, vmax, "FLOP")
        if c.sfu_ops_per_s:
            check_rate(what + " (sfu)", op.transcendentals, op.time_s, c.sfu_ops_per_s, "op")
        for level, nbytes in op.bytes_by_level.items():
            if level in hardware.memory:
                check_rate(f"{what} (memory {level})", nbytes, op.time_s, level_peak(hardware, level), "B")


def level_peak(hardware: Any, level: str) -> float:
    """Peak bytes/s through memory level ``level`` of ``hardware``.

    The level's bandwidth, except the DRAM of a PIM device: its in-memory units read operands
    inside the banks, beside the external interface, at up to channels x units x lanes x element
    bytes x pim_clock_hz (one operand per lane per PIM clock) — 1.02 TB/s for AiM-GDDR6 against
    its 64 GB/s pins.
    """
    bandwidth = float(hardware.memory[level].bandwidth_bytes_per_s)
    if hardware.family == "pim" and hardware.memory[level].kind == "dram":
        from archsim.schemas.base import DTYPE_BYTES

        p = hardware.pim
        bandwidth = max(bandwidth, p.channels * p.units_per_channel * p.lanes_per_unit * DTYPE_BYTES[p.pim_dtype]
                        * p.pim_clock_hz)
    return bandwidth


def check_prediction_within_peaks(prediction: Any, hardware: Any, dtype: str) -> None:
    """Raise PhysicalLimitError when a GPU-model prediction (``archsim.gpu.predict.Prediction``) beats a peak.

    Checked per launch against the preset (not the calibrated rates): tensor-core FLOP/s against
    the matrix peak of ``dtype``, and HBM, L2 and shared-memory bytes per second against the
    bandwidth of the device's first (off-chip), ``l2`` and ``smem`` levels where it has them; the
    whole kernel's useful FLOP/s against the matrix peak too.
    """
    levels = {"hbm_bytes": hardware.offchip, "l2_bytes": hardware.memory.get("l2"),
              "smem_bytes": hardware.memory.get("smem")}
    peak = _matrix_peak(hardware.compute, dtype)
    what = f"{prediction.kernel} on {hardware.name}"
    _finite(what, [("latency_s", prediction.latency_s), ("useful_flops", prediction.useful_flops)])
    if peak is not None:
        check_rate(what, prediction.useful_flops, prediction.latency_s, peak, "FLOP", PRESET_ROUNDING)
    for launch in prediction.launches:
        lw = f"{what}, launch {launch.name}"
        _finite(lw, [("time_s", launch.time_s), *launch.totals.items()])
        if peak is not None:
            check_rate(lw + " (tensor cores)", launch.totals.get("mma_flops", 0.0), launch.time_s, peak, "FLOP",
                       PRESET_ROUNDING)
        for key, level in levels.items():
            if level is not None:
                check_rate(f"{lw} ({key[:-6]})", launch.totals.get(key, 0.0), launch.time_s,
                           level.bandwidth_bytes_per_s, "B", PRESET_ROUNDING)


