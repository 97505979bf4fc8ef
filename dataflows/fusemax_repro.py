"""FuseMax vs FLAT at iso-area on the paper's workloads: ``archsim reproduce fusemax``.

Calibration (inputs, all from the public artifact, never fitted to its outputs): the
``fusemax-array`` preset; FLAT at iso-area = the same arrays with the artifact's FLAT buffer
(``src/accel/flat.py``: 32 MiB L3) and FLAT's 1-D leakage (exp units; outputs-1d-flat ERT);
per-action energies from the artifact's Accelergy tables (below); workloads from
``data/pregenerated/flat_validation.csv`` (batch 64, BERT/TrXL/T5/XLM, 1K..1M tokens).
End-to-end = one layer's attention + its linear layers (QKV, output, FFN), as the artifact's
``end2end-*.csv`` + ``attn-*.csv`` sum does.

Validation (outputs, compared, not used): ``archsim/data/papers/fusemax-artifact-reference.csv`` holds
the artifact's pregenerated latency/energy (``data/pregenerated/attn-{flat,proposal}.csv``).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from archsim.dataflows.evaluate import evaluate_attention, evaluate_gemm
from archsim.dataflows.shapes import AttentionShape
from archsim.dataflows.target import target_from_device

from archsim import presets
from archsim.data import PAPERS_DIR

#: Accelergy 45 nm action energies of the artifact (J): outputs-1d-flat/ERT.yaml (mac, add,
#: max, exp, divide), timeloop-model.ERT.yaml (DRAM 512 pJ / 8 B, L3 2286.5 / 2759.4 pJ per 512 B).
ARTIFACT_ENERGY_J = {"mac": 17.1645e-12, "add": 8.3395e-12, "max": 0.028036e-12, "exp": 94.6475e-12,
                     "divide": 36.251153e-12, "dram_read_bytes": 64e-12, "dram_write_bytes": 64e-12,
                     "sram_read_bytes": 2286.521343e-12 / 512, "sram_write_bytes": 2759.44498e-12 / 512}
# outputs-1d-flat ERT leak: 2-D as FuseMax less the max unit, 1-D with exp (0.99658 pJ) units, 32 MiB L3
FLAT_STATIC_W = 16.63
MODELS = {"BERT": "bert-base", "TrXL": "trxl", "T5": "t5-small", "XLM": "xlm"}
SEQS = {"1K": 1 << 10, "4K": 1 << 12, "16K": 1 << 14, "64K": 1 << 16, "256K": 1 << 18, "1M": 1 << 20}
BATCH = 64  # flat_validation.csv B
TRACED = ("BERT", "4K")  # the (model, seq) whose engine timeline is written
TRACE_FILE = "timeline_bert_4k.json"  # Chrome/Perfetto; open in ui.perfetto.dev
PAPER = {"attention_speedup_geomean": 6.7, "attention_energy_ratio": 0.79, "e2e_speedup_geomean": 5.3,
         "e2e_energy_ratio": 0.83, "fusemax_utilization_mean": 1.0}


def targets():
    fm = target_from_device(presets.load_hardware("fusemax-array"), "fp16")
    flat = fm.with_(name="flat-iso-area", onchip_capacity_bytes=32 * 2**20, static_power_w=FLAT_STATIC_W)
    return fm, flat


def linear_layers(model, seq: int, target) -> tuple[float, float]:
    h, f, tokens = model.hidden_size, model.ffn_hidden_size, BATCH * seq
    time_s = energy = 0.0
    for n, k in ((3 * h, h), (h, h), (f, h), (h, f)):
        r = evaluate_gemm(tokens, n, k, target, energy_j=ARTIFACT_ENERGY_J)
        time_s, energy = time_s + r.time_s, energy + r.energy_j
    return time_s, energy


def geomean(xs: list[float]) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def run(out: Path) -> dict:
    fm, flat = targets()
    with open(PAPERS_DIR / "fusemax-artifact-reference.csv") as fh:
        ref = {(r["model"], r["seq_len"]): r for r in csv.DictReader(line for line in fh if not line.startswith("#"))}
    rows = []
    out.mkdir(parents=True, exist_ok=True)
    for label, preset in MODELS.items():
        model = presets.load_model(preset)
        for seq_label, n in SEQS.items():
            shape = AttentionShape(BATCH, model.num_heads, n, n, model.dhead)
            traced = (label, seq_label) == TRACED
            a_fm = evaluate_attention("fusemax", shape, fm, ARTIFACT_ENERGY_J, trace=traced)
            a_fl = evaluate_attention("flat", shape, flat, ARTIFACT_ENERGY_J, trace=traced)
            if traced:  # engine Timeline of the simulated probe slices, one process per dataflow
                events = [dict(ev, pid=pid) for pid, ev_list in ((0, a_fm.trace), (1, a_fl.trace))
                          for ev in ev_list or []]
                events += [{"name": "process_name", "ph": "M", "pid": pid, "args": {"name": name}}
                           for pid, name in ((0, "fusemax"), (1, "flat"))]
                _write_json(out / TRACE_FILE, {"traceEvents": events, "displayTimeUnit": "ns"})
            lin_fm, lin_fm_e = linear_layers(model, n, fm)
            lin_fl, lin_fl_e = linear_layers(model, n, flat)
            r = ref.get((label, seq_label), {})
            row = {"model": label, "seq_len": seq_label,
                   "fusemax_attention_s": a_fm.time_s, "flat_attention_s": a_fl.time_s,
                   "fusemax_attention_analytical_s": a_fm.analytical_time_s,
                   "flat_attention_analytical_s": a_fl.analytical_time_s,
                   "attention_speedup": a_fl.time_s / a_fm.time_s,
                   "attention_energy_ratio": a_fm.energy_j / a_fl.energy_j,
                   "attention_dynamic_energy_ratio": a_fm.dynamic_energy_j / a_fl.dynamic_energy_j,
                   "e2e_speedup": (a_fl.time_s + lin_fl) / (a_fm.time_s + lin_fm),
                   "e2e_energy_ratio": (a_fm.energy_j + lin_fm_e) / (a_fl.energy_j + lin_fl_e),
                   "fusemax_utilization_2d": a_fm.utilisation("2d"),
                   "flat_utilization_2d": a_fl.utilisation("2d"),
                   "fusemax_p1": a_fm.params["p1"], "flat_rows": a_fl.params["rows"],
                   "flat_spill": a_fl.params["spill"]}
            if r:
                row["paper_attention_speedup"] = float(r["flat_latency_s"]) / float(r["fusemax_latency_s"])
                row["paper_attention_energy_ratio"] = float(r["fusemax_energy_pj"]) / float(r["flat_energy_pj"])
                row["paper_fusemax_utilization_2d"] = float(r["fusemax_util_2d"])
            rows.append(row)
    summary = {
        "attention_speedup_geomean": geomean([r["attention_speedup"] for r in rows]),
        "attention_energy_ratio": geomean([r["attention_energy_ratio"] for r in rows]),
        "attention_dynamic_energy_ratio": geomean([r["attention_dynamic_energy_ratio"] for r in rows]),
        "e2e_speedup_geomean": geomean([r["e2e_speedup"] for r in rows]),
        "e2e_energy_ratio": geomean([r["e2e_energy_ratio"] for r in rows]),
        "fusemax_utilization_mean": sum(r["fusemax_utilization_2d"] for r in rows) / len(rows),
        "artifact_attention_speedup_geomean": geomean([r["paper_attention_speedup"] for r in rows]),
        "artifact_attention_energy_ratio": geomean([r["paper_attention_energy_ratio"] for r in rows]),
        "paper": PAPER,
        "rows": rows,
        "command": "archsim reproduce fusemax",
        "timeline": TRACE_FILE,
    }
    _write_json(out / "summary.json", summary, indent=1)
    return summary


def _write_json(path: Path, data: dict, indent: int | None = None) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=indent))
    tmp.replace(path)
