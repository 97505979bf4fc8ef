"""Fourth-stage power fit (issue 22, split campaign): the compute share of two kernel families.

``campaigns/power_split.py`` (one H200 run, 2026-12-01) measured cuBLAS skinny GEMMs in both layouts and
FlashAttention-2 decode with and without split-KV at the same shape; :func:`fit_split` fits, on the rows named
below only, the factor by which a kernel family's compute parts (tensor-core, lane, SFU, padded work, shared-memory
bytes) cost less than the per-op energies fitted on square GEMMs and microbenchmarks
(:attr:`archsim.gpu.power.PowerCoefficients.class_compute_scale`). Units: J, s; factors dimensionless.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from archsim.errors import ConfigError
from archsim.gpu.power_fit import MIN_WINDOW_S, _f, _gemm_totals, _staged_parts, read_power_csv, row_vf_scale

SPLIT_CSV = "power-h200-2026-12-01-split.csv"
#: the split campaign's FlashAttention-2 split-KV rows (MHA, one and 64 real query rows of the 64-row tile) that fit
#: ``fa2_splitkv``; the campaign wrote every FA2 row as validation: the validation reader skips these two
SPLIT_FIT_ROWS = ("fa2_dense_b1_h32_kv32_q1_ctx65536", "fa2_dense_b1_h32_kv32_q64_ctx65536")
#: skinny non-swap GEMMs (the ``stream_wide`` class) the fit reads: m above the swap-AB tiles, up to 256
STREAM_WIDE_M = (65, 256)


def _class_split(power, launches, rates, scale: float = 1.0) -> tuple[float, float]:
    """(J of the parts a class scale multiplies, J of the rest) of ``launches`` at class scale 1 (no power limit),
    every dynamic part times ``scale`` (the row's voltage-line factor, :func:`archsim.gpu.power_fit.row_vf_scale`)."""
    from archsim.gpu.model import simulate_launch
    from archsim.gpu.power import is_sm_part
    base = dataclasses.replace(power, class_compute_scale={})
    scaled = rest = 0.0
    for ln in launches:
        tot = simulate_launch(ln, rates).totals
        parts = base.parts_j(tot, ln.mma_dtype, ln.mma_path == "wgmma", ln.mma_path == "mma_sync", ln.padded_fill,
                             ln.weight_stream, ln.energy_class)
        for k, v in parts.items():
            v *= scale  # every dynamic part follows the voltage line
            if ln.energy_class and is_sm_part(k):
                scaled += v
            else:
                rest += v
    return scaled, rest


def fit_split(split_csv: str | Path, power, device: str = "h200") -> dict:
    """Fourth-stage fit on ``campaigns/power_split.py``'s rows (every earlier coefficient in ``power`` held fixed):
    the share of the per-op charge that a kernel family's compute parts cost (``class_compute_scale``),
    ``(E - P_static t - stream parts) / compute parts`` per launch, mean over the rows:

    - ``stream_wide``: the calibration GEMMs (part ``gemm``: one weight 22016 x 4096, x @ W^T and x @ W) with
      m = 96..256, cuBLAS's non-swap tiles streaming the weight once;
    - ``fa2_splitkv``: :data:`SPLIT_FIT_ROWS` (FA2's split-KV kernel at b1 h32 ctx 65536, one and 64 real rows).

    Also returned (checks, nothing fitted): the 8-wide swap-AB rows' (m <= 8) stream energy per HBM byte on this
    board by layout, ``stream8_tn`` / ``stream8_nn`` (J/B), against :data:`archsim.gpu.power.H200_GAPS`.
    """
    from archsim.gpu import kernels as K
    from archsim.gpu.calibration import rates_for
    from archsim.gpu.predict import attention_shape
    from archsim.presets import load_hardware
    rates = dataclasses.replace(rates_for(load_hardware(device)), power=None)
    rows = [r for r in read_power_csv(split_csv) if r.get("step_s") and _f(r, "wall_s") >= MIN_WINDOW_S]

    def per_launch(r: dict[str, str]) -> float:
        n = _f(r, "launches") or 1.0
        return (_f(r, "energy_per_step_j") - power.static_w * _f(r, "step_s")) / n
    wide: list[float] = []
    stream8: dict[str, list[float]] = {"tn": [], "nn": []}
    for r in rows:
        if r["set"] != "calibration" or r.get("part") != "gemm":
            continue
        m, n, k = int(_f(r, "m")), int(_f(r, "n")), int(_f(r, "k"))
        launches = K.cublas_gemm(m, n, k, "bf16", rates)
        if STREAM_WIDE_M[0] <= m <= STREAM_WIDE_M[1]:
            scaled, rest = _class_split(power, launches, rates, row_vf_scale(r, power, rates))
            wide.append((per_launch(r) - rest) / scaled)
        elif m <= 8:
            tot = _gemm_totals(r, rates)
            real, pad, other = _staged_parts(power, tot)
            stream8[r.get("layout", "tn")].append((per_launch(r) / row_vf_scale(r, power, rates) - real
                                                   - power.padded_fraction * pad - other) / tot["hbm_bytes"])
    # the V/f campaign's boost-clock GEMMs of the family (another board, 1980 MHz): pooled with this campaign's
    from archsim.gpu.power_fit import boost_gemm_rows
    for b in boost_gemm_rows(rates):
        if STREAM_WIDE_M[0] <= b["m"] <= STREAM_WIDE_M[1]:
            scaled, rest = _class_split(power, K.cublas_gemm(b["m"], b["n"], b["k"], "bf16", rates), rates)
            wide.append(((b["e"] - power.static_w * b["dt_s"]) / b["calls"] - rest) / scaled)
    fa2: list[float] = []
    by_bench = {r["bench"]: r for r in rows}
    for b in SPLIT_FIT_ROWS:
        if b not in by_bench:
            continue
        r = by_bench[b]
        s = attention_shape(int(r["batch"]), int(r["heads"]), int(r["kv_heads"]), int(r["seq_q"]), int(r["seq_kv"]),
                            int(r["head_dim"]), False, r["dtype"])
        scaled, rest = _class_split(power, K.fa2_decode(s, "flash2", rates.sm_count), rates,
                                    row_vf_scale(r, power, rates))
        fa2.append((per_launch(r) - rest) / scaled)
    if not wide or not fa2:
        raise ConfigError.single(f"{split_csv}: needs calibration GEMMs m = 96..256 (part gemm) and the FA2 rows "
                                 f"{', '.join(SPLIT_FIT_ROWS)} (campaigns/power_split.py)", file=str(split_csv))
    return {"stream_wide": sum(wide) / len(wide), "fa2_splitkv": sum(fa2) / len(fa2), "stream_wide_rows": wide,
            "fa2_splitkv_rows": fa2, **{f"stream8_{k}": sum(v) / len(v) for k, v in stream8.items() if v}}
