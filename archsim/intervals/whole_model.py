"""Validation residuals from whole-model campaigns: GPU kernel time per category, model vs profiler.

Each row of a ``*-wm-whole-*.csv`` / ``*-wm-holdout-whole-*.csv`` (``campaigns/whole_model.py``: a
plain-PyTorch or HuggingFace model with fewer layers than the full one, prefill or one decode step) is re-predicted with
today's ``archsim.simulate`` on the device's preset: the model preset with the row's layer count,
the row's batch and length. The profiler's kernel time per category is set against the modeled
operators of the same kind:

=============  ===================================  =========================================
category       measured (profiler)                  modeled operators (GPU backend)
=============  ===================================  =========================================
gemm           ``gemm_s``                           ``gemm`` (cuBLAS cell)
attention      ``attention_s``                      ``attention`` and unfused score/softmax/context
norm           ``norm_s``                           ``norm``
elementwise    ``elementwise_s + rotary_s``         ``elementwise`` (activations, residuals, RoPE)
=============  ===================================  =========================================

Copies (``copy_s``) are not costed by the GPU model and give no residual. A category's ratio goes
to the ``op=<category> regime size`` cells of its largest modeled operator — consistent with the
sums' rule (one shared error per cell). Only a Result's operators look these cells up (first,
before the kernel cells); ``archsim predict`` of one kernel never does. Eager and CUDA-graph runs
of one case have the same kernels; one residual per case is kept (graph when both ran). Rows whose
model has no preset are skipped and counted.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any

from archsim.data import DATA_DIR
from archsim.intervals.sources import CATEGORIES, RECORD_KIND_OF, Point, regime, size_class

CATEGORY_KINDS = {"gemm": ("gemm",), "attention": ("attention", "attention_scores", "attention_context", "softmax"),
                  "norm": ("norm",), "elementwise": ("elementwise",)}
CATEGORY_MEASURED = {"gemm": ("gemm_s",), "attention": ("attention_s",), "norm": ("norm_s",),
                     "elementwise": ("elementwise_s", "rotary_s")}


def _kernel(category: str, phase: str) -> tuple[str, str]:
    """(kernel, family) of a category, as :func:`archsim.intervals.attach.op_query` names them."""
    if category == "gemm":
        return "gemm/cublas", "gemm"
    if category == "attention":
        return f"{phase}/flash2", phase
    return category, ""


def simulate_row(row: dict[str, str], preset: str) -> Any:
    """The Result of today's model for one whole-model row (its model preset, layers, batch, length)."""
    import archsim
    from archsim.presets import load_model
    from archsim.schemas.workload import DecodePhase, PrefillPhase, Workload

    model = load_model(row["model"]).model_copy(update={"num_layers": int(row["layers"])})
    phase = (PrefillPhase(phase="prefill", batch=int(row["batch"]), seq_len=int(row["seq_len"]))
             if row["phase"] == "prefill" else
             DecodePhase(phase="decode", batch=int(row["batch"]), context_len=int(row["context"])))
    return archsim.simulate(Workload(name=f"wm-{row['run_id']}", model=model, layers=None, phases=[phase]), preset)


def case_key(row: dict[str, str]) -> tuple[str, ...]:
    return tuple(row[k] for k in ("model", "impl", "phase", "batch", "seq_len", "context", "layers"))


def read_cases(csv_path: Path) -> tuple[list[dict[str, str]], list[str]]:
    """Successful rows, one per case (graph-mode row preferred), and skip reasons of the others."""
    from archsim.presets import preset_names
    models = set(preset_names("models"))
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    cases: dict[tuple[str, ...], dict[str, str]] = {}
    skipped = []
    for row in rows:
        if row.get("ok") != "1":
            skipped.append(f"{row.get('run_id')}: failed on device")
        elif row["model"] not in models:
            skipped.append(f"{row['run_id']}: no model preset {row['model']!r}")
        elif case_key(row) not in cases or row["mode"] == "graph":
            cases[case_key(row)] = row
    return list(cases.values()), skipped


def category_residuals(row: dict[str, str], result: Any) -> list[tuple[str, float, float, Any]]:
    """(category, measured s, modeled s, largest modeled operator) per category present in both."""
    out = []
    for cat, kinds in CATEGORY_KINDS.items():
        ops = [o for o in result.ops if o.kind in kinds]
        modeled = sum(o.total_time_s for o in ops)
        measured = sum(float(row[k] or 0.0) for k in CATEGORY_MEASURED[cat])
        if ops and modeled > 0 and measured > 0:
            out.append((cat, measured, modeled, max(ops, key=lambda o: o.total_time_s)))
    return out


def whole_model_campaign(device_dir: Path, preset: str) -> tuple[list[Point], list[dict]]:
    """Points from every ``*-wm-whole-*.csv`` in ``device_dir`` (see the module docstring)."""
    points: list[Point] = []
    records: list[dict] = []
    for csv_path in sorted(device_dir.glob("*-wm*-whole-*.csv")):
        rel = csv_path.relative_to(DATA_DIR).as_posix()
        cases, skipped = read_cases(csv_path)
        meta_path = csv_path.with_name(csv_path.name.replace("-whole-", "-meta-").replace(".csv", ".json"))
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        for row in cases:
            result = simulate_row(row, preset)
            family = f"wm {row['model']} {row['impl']} {row['phase']}"
            shape = f"{family} b{row['batch']} s{row['seq_len']} c{row['context']}"
            for cat, measured, modeled, top in category_residuals(row, result):
                kernel, fam = _kernel(cat, row["phase"])
                points.append(Point(device=preset, kernel=kernel, family=fam, regime=regime(top.bound),
                                    size=size_class(top.time_s), ratio=measured / modeled, modeled_s=modeled,
                                    source=rel, groups={"shape": f"{shape} {cat}", "shape_family": family,
                                                        "campaign": f"{rel}:{row['mode']}"},
                                    op=f"attention/{row['phase']}" if cat == "attention" else cat))
        records.append({"file": rel, "sha256": hashlib.sha256(csv_path.read_bytes()).hexdigest(),
                        "kind": RECORD_KIND_OF[CATEGORIES], "cases_used": len(cases),
                        "rows_used": len(cases), "rows_skipped": len(skipped), "rows_noisy": 0,
                        "skipped": sorted({s.split(": ", 1)[1] for s in skipped}),
                        "meta": meta_path.relative_to(DATA_DIR).as_posix() if meta else None,
                        "device_name": meta.get("device_name"), "date_utc": meta.get("date_utc"),
                        "driver": meta.get("driver"), "torch": meta.get("torch"), "triton": meta.get("triton"),
                        "cudnn": meta.get("cudnn"), "transformers": meta.get("transformers")})
    return points, records


def total_checks(device_dir: Path, preset: str, tables: Any) -> list[dict[str, Any]]:
    """Each whole-model case's summed Result interval (from ``tables``) against its measured GPU time.

    ``measured_modeled_kinds_s``: profiler time of the categories the model costs (gemm, attention,
    norm, elementwise incl. rotary); ``kernel_sum_s``: all kernels of the step (copies, embedding,
    sampling included). Fit ``tables`` without whole-model residuals for a held-out check.
    """
    from archsim.intervals.attach import attach_intervals

    out = []
    for csv_path in sorted(device_dir.glob("*-wm*-whole-*.csv")):
        for row in read_cases(csv_path)[0]:
            result = simulate_row(row, preset)
            total = attach_intervals(result, tables)["total"]
            measured = sum(float(row[k] or 0.0) for keys in CATEGORY_MEASURED.values() for k in keys)
            out.append({"case": f"{row['model']} {row['impl']} {row['phase']} b{row['batch']} "
                                f"s{row['seq_len'] if row['phase'] == 'prefill' else row['context']}",
                        "family": f"{row['model']} {row['impl']} {row['phase']}", "modeled_s": result.latency_s,
                        "measured_modeled_kinds_s": measured, "kernel_sum_s": float(row["kernel_sum_s"]),
                        "p80": total["latency_s_p80"], "p95": total["latency_s_p95"], "status": total["status"]})
    return out
