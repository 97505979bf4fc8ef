"""numba kernels by name, run on fresh random inputs: what ``archsim trace`` prints for them.

``run(name, **params) -> dict`` runs kernel ``name`` and returns its self-measured counts, the
analytic formula's, whether they match, and the measured error against exact float64 math.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PARAMETERS: dict[str, dict[str, Any]] = {
    "numba_attention": {"batch": 1, "heads": 8, "kv_heads": None, "seq_q": 256, "seq_kv": None, "head_dim": 64,
                        "causal": False, "window_left": None, "window_right": None, "block_m": 32, "block_n": 64,
                        "dtype": "fp32"},
    "edge_moe": {"rows": 64, "row_len": 197},
    "pim_gemv": {"m": 4096, "n": 4096, "channels": 16, "banks_per_channel": 16, "elem_bytes": 2,
                 "dram_row_bytes": 1024},
}
NUMBA_KERNELS = tuple(PARAMETERS)


def resolve(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults and check values; raises ValueError naming the bad parameter."""
    if name not in PARAMETERS:
        raise ValueError(f"unknown numba kernel {name!r}; choose one of {sorted(PARAMETERS)}")
    unknown = sorted(set(params) - set(PARAMETERS[name]))
    if unknown:
        raise ValueError(f"{name} takes no parameter(s) {unknown}; it takes {sorted(PARAMETERS[name])}")
    p = {**PARAMETERS[name], **{k: v for k, v in params.items() if v is not None}}
    if p.get("kv_heads", 0) is None:
        p["kv_heads"] = p["heads"]
    if "seq_kv" in p and p["seq_kv"] is None:
        p["seq_kv"] = p["seq_q"]
    for key, value in p.items():
        if isinstance(value, int) and not isinstance(value, bool) and key not in ("window_left", "window_right") \
                and value < 1:
            raise ValueError(f"{key} must be a positive integer, got {value}")
        if key in ("window_left", "window_right") and value is not None and value < 0:
            raise ValueError(f"{key} must be >= 0, got {value}")
    if "kv_heads" in p and p["heads"] % p["kv_heads"]:
        raise ValueError(f"heads ({p['heads']}) must be a multiple of kv_heads ({p['kv_heads']})")
    if name == "numba_attention" and p["dtype"] not in ("fp32", "fp64"):
        raise ValueError(f"numba_attention dtype must be fp32 or fp64, got {p['dtype']!r}")
    return p


def _run_attention(p: dict) -> dict:
    from archsim.kernels.numba import attention

    rng = np.random.default_rng()
    dt = np.float32 if p["dtype"] == "fp32" else np.float64
    q = rng.standard_normal((p["batch"], p["heads"], p["seq_q"], p["head_dim"])).astype(dt)
    k = rng.standard_normal((p["batch"], p["kv_heads"], p["seq_kv"], p["head_dim"])).astype(dt)
    v = rng.standard_normal(k.shape).astype(dt)
    window = {"causal": p["causal"], "window_left": p["window_left"], "window_right": p["window_right"]}
    out, measured = attention.tiled_attention(q, k, v, block_m=p["block_m"], block_n=p["block_n"], **window)
    formula = attention.counts(batch=p["batch"], heads=p["heads"], seq_q=p["seq_q"], seq_kv=p["seq_kv"],
                               head_dim=p["head_dim"], block_m=p["block_m"], block_n=p["block_n"],
                               itemsize=q.itemsize, **window)
    ref = attention.reference(q, k, v, **window)
    err = float(np.abs(out - ref).max() / max(np.abs(ref).max(), 1e-300))
    return {"kernel": "numba_attention", "params": p, "measured": measured, "formula": formula,
            "formula_matches_measured": measured == formula, "max_rel_error_vs_float64": err}


def _run_pim(p: dict) -> dict:
    from archsim.kernels.numba import pim_gemv

    part = pim_gemv.partition(p["m"], p["n"], p["channels"], p["banks_per_channel"], elem_bytes=p["elem_bytes"],
                              dram_row_bytes=p["dram_row_bytes"])
    rng = np.random.default_rng()
    w = rng.standard_normal((p["m"], p["n"])).astype(np.float32)
    x = rng.standard_normal(p["n"]).astype(np.float32)
    y, measured = pim_gemv.pim_gemv(w, x, part)
    predicted = pim_gemv.counts(part)
    ref = w.astype(np.float64) @ x.astype(np.float64)
    rows = part.rows_per_unit()
    return {"kernel": "pim_gemv", "params": p, "units": part.units, "row_elems_per_dram_row": part.row_elems,
            "chunks_per_row": part.chunks_per_row, "rows_per_unit_min": int(rows.min()),
            "rows_per_unit_max": int(rows.max()), "macs_per_unit_max": int(measured["macs"].max()),
            "dram_rows_opened_per_unit_max": int(measured["dram_rows_opened"].max()),
            "bytes_read_total": int(measured["bytes_read"].sum()),
            "formula_matches_measured": all(np.array_equal(measured[k], predicted[k]) for k in predicted),
            "max_rel_error_vs_float64": float(np.abs(y - ref).max() / np.abs(ref).max())}


def run(name: str, **params: Any) -> dict:
    """Run numba kernel ``name`` on fresh random inputs (see module doc)."""
    p = resolve(name, params)
    if name == "numba_attention":
        return _run_attention(p)
    if name == "pim_gemv":
        return _run_pim(p)
    from archsim.kernels.numba import edge_moe

    return {"kernel": "edge_moe", "params": p,
            "error_bounds": edge_moe.measured_error_bounds(rows=p["rows"], row_len=p["row_len"])}
