"""Markdown tables of a measured serving run from its CSVs (``serving.py --summarise PREFIX``): per load,
TTFT and TBT (every token gap pooled) p50/p90/p99, e2e, throughput. Needs only numpy (no GPU, no torch).
"""

from __future__ import annotations

import csv
import json

import numpy as np


def _pct(xs, qs=(50, 90, 99)) -> list[float]:
    return [float(np.percentile(xs, q)) for q in qs] if len(xs) else [float("nan")] * len(qs)


def summarise(prefix: str) -> str:
    """Markdown table per load: TTFT and TBT (all token gaps pooled) p50/p90/p99, e2e, throughput."""
    def rows(kind: str) -> list[dict]:
        with open(f"{prefix}{kind}.csv") as fh:
            return list(csv.DictReader(fh))
    its, reqs = rows("iterations"), rows("requests")
    with open(f"{prefix}meta.json") as fh:
        meta = json.load(fh)
    lines = ["| load | QPS | arrivals | done | TTFT p50/p90/p99 ms | TBT p50/p90/p99 ms | e2e p50/p99 ms | "
             "out tok/s | req/s | mean decode batch |", "|" + "---|" * 10]
    for ld in meta["loads"]:
        lab = ld["label"]
        end = {int(r["iter"]): float(r["end_s"]) for r in its if r["load"] == lab}
        rq = [r for r in reqs if r["load"] == lab and r["done"] == "1"]
        ttft = [float(r["ttft_s"]) for r in rq]
        gaps = []
        for r in rq:
            t = [end[int(r["iter_admit"]) + k] for k in range(int(r["output_tokens"]))]
            gaps.extend(np.diff(t).tolist())
        e2e = [float(r["e2e_s"]) for r in rq]
        win = ld.get("duration_s") or ld["wall_s"]
        itl = [r for r in its if r["load"] == lab and float(r["end_s"]) <= win]
        toks = sum(int(r["decode_batch"]) + (1 if int(r["prefill_tokens"]) else 0) for r in itl)
        done_in = sum(1 for r in rq if float(r["arrival_s"]) + float(r["e2e_s"]) <= win)
        batch = np.mean([int(r["decode_batch"]) for r in itl]) if itl else float("nan")
        f = "/".join(f"{x * 1e3:.1f}" for x in _pct(ttft))
        g = "/".join(f"{x * 1e3:.2f}" for x in _pct(gaps))
        e = "/".join(f"{x * 1e3:.0f}" for x in _pct(e2e, (50, 99)))
        qps = f"{ld['qps']:.1f}" if ld.get("qps") else "burst"
        lines.append(f"| {lab} | {qps} | {ld['n_arrivals']} | {ld['n_done']} | {f} | {g} | {e} | {toks / win:.0f} | "
                     f"{done_in / win:.1f} | {batch:.1f} |")
    return "\n".join(lines)
