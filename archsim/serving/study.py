"""The serving report's tables: Llama-3-70B TP8 on hgx-h100 under rising Poisson load, three schedulers;
and the simulator against the measured H200 serving run.

``reproduce(out_dir)`` writes ``serving-loads.json`` (every figure) and ``serving-loads.md`` (the table
reports/serving.md quotes; simulated only: iteration costs from the GPU backend and archsim.collectives), and
``serving-h200-measured[-stack].json/.md`` (:mod:`archsim.serving.measured`: measured / simulated / ratio,
kernel and stack cost models, first run), and ``serving-h200-measured-server.json/.md``
(:mod:`archsim.serving.server_report`: the server cost model against both runs, issue-19 targets).
NAME for ``archsim reproduce``: ``serving``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from archsim.serving.requests import Lengths
from archsim.serving.scenario import serve

WORKLOAD = "llama3-70b-tp8"
LOADS_QPS = (2.0, 6.0, 10.0, 14.0)
DURATION_S = 120.0
SLO = {"ttft_ms": 500.0, "tbt_ms": 100.0}  # archsim choice: a common interactive-chat objective
SCHEDULERS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("static", {"batch_size": 16, "max_wait_s": 0.5}), ("continuous", {}), ("disaggregated", {}))


def rows() -> list[dict[str, Any]]:
    from archsim.schemas.workload import Workload

    # workloads/llama3-70b-tp8.yaml's model, dtype and split (its phases are not used by serving)
    workload = Workload.model_validate({"name": WORKLOAD, "model": "llama-3-70b", "dtype": "bf16",
                                        "parallel": {"tensor": 8},
                                        "phases": [{"phase": "decode", "batch": 1, "context_len": 1}]})
    out = []
    for name, options in SCHEDULERS:
        for qps in LOADS_QPS:
            s = serve(workload, "hgx-h100", load_qps=qps, duration_s=DURATION_S, scheduler=name, seed=0,
                      options=options, slo=SLO,
                      prompt=Lengths(kind="lognormal", median=1024, sigma=0.6, max_tokens=8192),
                      output=Lengths(kind="lognormal", median=128, sigma=0.6, max_tokens=2048)).summary
            out.append({"scheduler": name, "load_qps": qps, "requests": s["requests"],
                        "ttft_p50_s": s["ttft_s"]["p50"], "ttft_p99_s": s["ttft_s"]["p99"],
                        "tbt_mean_p50_s": s["tbt_mean_s"]["p50"], "tbt_p99_p99_s": s["tbt_p99_s"]["p99"],
                        "e2e_p50_s": s["e2e_s"]["p50"], "output_tokens_per_s": s["throughput"]["output_tokens_per_s"],
                        "goodput_fraction": s["goodput"]["fraction"], "utilisation": s["utilisation"],
                        "littles_law_whole_run_rel_gap": s["littles_law"]["whole_run_rel_gap"],
                        "preemptions": s["preemptions"], "devices": 8 * (2 if name == "disaggregated" else 1)})
    return out


def markdown(table: list[dict[str, Any]]) -> str:
    head = ("| scheduler | load (req/s) | requests | TTFT p50 (ms) | TTFT p99 (ms) | TBT mean p50 (ms) | "
            "TBT p99 p99 (ms) | output tok/s | goodput (SLO 500/100 ms) | GPUs |\n" + "|---" * 10 + "|\n")
    lines = [f"| {r['scheduler']} | {r['load_qps']:g} | {r['requests']} | {r['ttft_p50_s'] * 1e3:.0f} | "
             f"{r['ttft_p99_s'] * 1e3:.0f} | {r['tbt_mean_p50_s'] * 1e3:.1f} | {r['tbt_p99_p99_s'] * 1e3:.0f} | "
             f"{r['output_tokens_per_s']:.0f} | {100 * r['goodput_fraction']:.0f}% | {r['devices']} |" for r in table]
    return head + "\n".join(lines) + "\n"


def reproduce(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    table = rows()
    paths = [out_dir / "serving-loads.json", out_dir / "serving-loads.md"]
    paths[0].write_text(json.dumps(table, indent=1) + "\n")
    paths[1].write_text(markdown(table))
    from archsim.serving import measured

    for cost_model, suffix in (("kernels", ""), ("stack", "-stack")):
        vs = measured.compare(cost_model)
        paths += [out_dir / f"serving-h200-measured{suffix}.json", out_dir / f"serving-h200-measured{suffix}.md"]
        paths[-2].write_text(json.dumps(vs, indent=1) + "\n")
        paths[-1].write_text(measured.markdown(vs))
    from archsim.serving import server_report

    res = server_report.results()
    for r in res:
        r["verdicts"] = server_report.verdicts(r)
    paths += [out_dir / "serving-h200-measured-server.json", out_dir / "serving-h200-measured-server.md"]
    paths[-2].write_text(json.dumps(res, indent=1) + "\n")
    paths[-1].write_text(server_report.markdown(res))
    return paths
