"""Validation residuals from the committed measurements (package data), one :class:`Point` each.

Only VALIDATION measurements feed the intervals: kernel timings of the campaigns (every CSV in
``archsim/data/measurements/<device>/`` with the validation columns, e.g.
``h100-validation-2026-11-23.csv``; never a ``*calibration*`` file) re-predicted with today's
model through :func:`archsim.gpu.compare.compare` — the same path ``archsim compare`` takes. The
calibration microbenchmarks (``*-calibration-*.csv``) set the model's rates and are never read here.

A source is a function ``(device_dir: Path, preset: str) -> (points, data records)`` in
:data:`SOURCES`: kernel campaigns here, whole-model campaigns (GPU kernel time per category) in
:mod:`archsim.intervals.whole_model`; a new campaign kind adds one without touching the fitting.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from archsim.data import DATA_DIR, MEASUREMENTS_DIR

#: Measurement folder -> the hardware preset its device is. Source: each folder's meta JSON
#: (``device_name`` "NVIDIA H100 80GB HBM3" is the SXM part: 132 SMs, 700 W; "NVIDIA H200").
PRESET_OF_FOLDER = {"h100": "h100-sxm", "h200": "h200"}

#: Modeled-time size classes (seconds): below 50 us a kernel is dominated by launch and tail
#: effects, above 1 ms by its steady state. Boundaries are a priori, not fit to the residuals.
SIZE_EDGES_S = (50e-6, 1e-3)
SIZE_NAMES = ("small", "medium", "large")

#: The kinds of validation data; each fills its own cells (category residuals only ``op=`` cells,
#: step residuals only ``step/`` cells, kernel residuals the rest), so a cell's key names its kind.
KERNELS, CATEGORIES, STEPS = "kernel campaigns", "whole-model categories", "whole-model steps (archsim stack)"
#: The ``kind`` a source writes on its data records, and the kind of data it is.
RECORD_KINDS = {"kernel validation campaign": KERNELS,
                "whole-model campaign (profiler kernel time per category)": CATEGORIES,
                "whole-model campaign (GPU-busy and wall time per step, archsim.gpu.wholemodel)": STEPS}
RECORD_KIND_OF = {v: k for k, v in RECORD_KINDS.items()}


def size_class(modeled_s: float) -> str:
    """``small`` (< 50 us), ``medium`` (50 us - 1 ms) or ``large`` (>= 1 ms) by modeled seconds."""
    for edge, name in zip(SIZE_EDGES_S, SIZE_NAMES, strict=False):
        if modeled_s < edge:
            return name
    return SIZE_NAMES[-1]


def regime(bound: str) -> str:
    """The model's own bound as a regime: ``compute``, ``memory``, ``launch`` or ``host``.

    GPU-model bounds: ``compute:<pipe>`` and ``power`` (the power cap lowers the SM clock, i.e. the
    compute rate) -> compute; ``memory:<level>`` and ``latency`` (a CTA limited by bytes in flight,
    i.e. memory latency) -> memory; ``launch``. Roofline bounds ``vector``/``sfu`` are compute pipes.
    A bound this table does not know keeps its own name as regime: no cell has it, so predictions
    fall back to the kernel's coarser cells and say so.
    """
    head = bound.split(":", 1)[0]
    if head in ("compute", "vector", "sfu", "power"):
        return "compute"
    if head in ("memory", "latency"):
        return "memory"
    return head


def cell_kind(cell: str) -> str:
    """The kind of validation data a cell key holds (see :data:`KERNELS`)."""
    return STEPS if "step/" in cell else CATEGORIES if cell.startswith("op=") else KERNELS


@dataclass(frozen=True)
class Point:
    """One validation residual. ``ratio`` = measured / modeled seconds.

    ``kernel``: ``<family>/<impl>`` (``prefill/flash2``, ``gemm/cublas``); ``groups``: the keys the
    coverage check holds out by (``shape``, ``shape_family``, ``campaign``).
    """

    device: str
    kernel: str
    family: str
    regime: str
    size: str
    ratio: float
    modeled_s: float
    source: str
    groups: dict[str, str] = field(default_factory=dict)
    spread: float = 1.0  # the measurement's p80/p20 (archsim.gpu.compare.NOISY_SPREAD marks a noisy one)
    op: str = ""  # whole-model category residuals: the operator kind they stand for (attach.op_category)

    @property
    def data_kind(self) -> str:
        """:data:`KERNELS`, :data:`CATEGORIES` or :data:`STEPS`."""
        return STEPS if self.family.startswith("step/") else CATEGORIES if self.op else KERNELS


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _shape_family(row: dict) -> str:
    """The campaign's shape families: what stays fixed while the size axis (sequence, KV length, M) is swept."""
    shape = row["shape"]
    if row["family"] == "gemm":
        _, n, k = shape.split("x")
        return f"gemm n{n} k{k}"
    tokens = shape.split()  # compare.label: "b32 h32/8 q512 kv512 d64 [causal]"
    batch, heads_tok, head_dim = tokens[0], tokens[1], tokens[4]
    heads, kv_heads = heads_tok[1:].split("/")
    gqa = "gqa" if heads != kv_heads else "mha"
    if row["family"] == "decode":
        return f"decode {batch} {gqa} kv_heads{kv_heads}"
    return f"prefill {head_dim} {gqa}" + (" causal" if "causal" in tokens else "")


#: Columns that make a CSV a kernel validation file (archsim's validation-CSV format, as written by
#: the campaigns' ``VAL_FIELDS``); calibration files have other columns and are never read here.
VALIDATION_COLUMNS = frozenset({"set", "family", "impl", "time_s", "ok"})


def _is_validation_csv(path: Path) -> bool:
    if "calibration" in path.name:
        return False
    with open(path, newline="") as fh:
        header = fh.readline().strip().split(",")
    return VALIDATION_COLUMNS <= set(header)


def _meta_for(csv_path: Path) -> dict:
    """The campaign's meta JSON beside a validation CSV, if any: ``X-validation-D.csv`` -> ``X-meta-D.json``;
    otherwise the ``P-meta-D.json`` of the same date ``D`` whose prefix ``P`` starts the CSV's name
    (``h200-wm-decode-attention-2026-12-01.csv`` -> ``h200-wm-meta-2026-12-01.json``)."""
    direct = csv_path.with_name(csv_path.name.replace("-validation-", "-meta-").replace(".csv", ".json"))
    candidates = [direct] if direct != csv_path.with_suffix(".json") and direct.exists() else []
    if not candidates:
        for meta in sorted(csv_path.parent.glob("*-meta-*.json")):
            prefix, _, date = meta.stem.partition("-meta-")
            if csv_path.stem.startswith(prefix + "-") and csv_path.stem.endswith(date):
                candidates.append(meta)
    if not candidates:
        return {}
    best = max(candidates, key=lambda m: len(m.stem.partition("-meta-")[0]))
    return {"file": best.relative_to(DATA_DIR).as_posix(), **json.loads(best.read_text())}


def _driver(meta: dict) -> str | None:
    smi = meta.get("nvidia_smi") or ""
    return meta.get("driver") or (smi.split(", ")[1] if smi.count(", ") >= 1 else None)


def kernel_campaign(device_dir: Path, preset: str) -> tuple[list[Point], list[dict]]:
    """Points from every kernel validation CSV in ``device_dir`` (kernel timings of a campaign)."""
    from archsim.gpu.compare import NOISY_SPREAD, compare

    points: list[Point] = []
    records: list[dict] = []
    for csv_path in sorted(p for p in device_dir.glob("*.csv") if _is_validation_csv(p)):
        rel = csv_path.relative_to(DATA_DIR).as_posix()
        rows, skipped = compare(csv_path, preset)
        meta = _meta_for(csv_path)
        records.append({"file": rel, "sha256": _sha256(csv_path), "kind": RECORD_KIND_OF[KERNELS],
                        "rows_used": len(rows), "rows_skipped": len(skipped),
                        "rows_noisy": sum(r["spread"] > NOISY_SPREAD for r in rows),
                        "meta": meta.get("file"), "device_name": meta.get("device_name"),
                        "date_utc": meta.get("date_utc"), "driver": _driver(meta), "torch": meta.get("torch"),
                        "triton": meta.get("triton"), "cudnn": meta.get("cudnn")})
        for r in rows:
            points.append(Point(
                device=preset, kernel=f"{r['family']}/{r['impl']}", family=r["family"], regime=regime(r["bound"]),
                size=size_class(r["modeled_s"]), ratio=r["measured_s"] / r["modeled_s"], modeled_s=r["modeled_s"],
                source=rel, groups={"shape": f"{r['family']} {r['shape']}", "shape_family": _shape_family(r),
                                    "campaign": f"{rel}:{r['set']}"}, spread=r["spread"]))
    return points, records


def whole_model(device_dir: Path, preset: str) -> tuple[list[Point], list[dict]]:
    """Points from whole-model campaigns (:mod:`archsim.intervals.whole_model`)."""
    from archsim.intervals.whole_model import whole_model_campaign
    return whole_model_campaign(device_dir, preset)


def whole_model_steps(device_dir: Path, preset: str) -> tuple[list[Point], list[dict]]:
    """Points from whole-model steps under their stack (:mod:`archsim.intervals.steps`)."""
    from archsim.intervals.steps import whole_model_steps as steps
    return steps(device_dir, preset)


#: Validation sources by name; each is asked about every measurement folder.
SOURCES: dict[str, Callable[[Path, str], tuple[list[Point], list[dict]]]] = {
    "kernel-campaign": kernel_campaign, "whole-model": whole_model, "whole-model-steps": whole_model_steps}


def device_folders(root: Path = MEASUREMENTS_DIR) -> dict[str, Path]:
    """Preset name -> its measurement folder, for folders that map to a preset."""
    out = {}
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        preset = PRESET_OF_FOLDER.get(d.name)
        if preset:
            out[preset] = d
    return out


def load_points(root: Path = MEASUREMENTS_DIR) -> tuple[list[Point], dict[str, list[dict]]]:
    """Every validation point under ``root`` and, per preset, the data records it came from."""
    points: list[Point] = []
    data: dict[str, list[dict]] = {}
    for preset, folder in device_folders(root).items():
        for source in SOURCES.values():
            pts, recs = source(folder, preset)
            points += pts
            if recs:
                data.setdefault(preset, []).extend(recs)
    return points, data
