"""Report ``dram-peers``: archsim's DRAM controller against DRAMsim3 and Ramulator 2.1 on the same traces.

The peers' numbers are inputs (``archsim/data/measurements/dram-peers/peer-results.json``, with
each peer's commit, build, run and config); archsim's are computed here on the same requests
(:mod:`archsim.engine.dram_peer_cases`) with matched timings. ``reproduce(out_dir)`` writes
``dram-peers.md`` and ``dram-peers.json``. Ratios are ours / theirs; nothing is fitted to them.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from archsim.engine.dram_peer_cases import PATTERNS, SETUPS, data_dir, load_standard, make_trace
from archsim.engine.dram_trace import run_trace

EXPLAIN = {
    ("dramsim3", "ddr4", "random"): "latency only (bandwidth is ACT-bound on both): DRAMsim3 queues 32 transactions "
    "plus 8 commands per bank, up to 288 requests when they spread over banks; archsim's matched pool holds 40 "
    "(what DRAMsim3 holds for a stream, all in one bank), so its reads wait less in the queue",
    ("dramsim3", "ddr4", "mix"): "write drain: DRAMsim3 drains its 32-entry write buffer only when full (or when "
    ">8 writes wait and its command queues are empty) and then exactly the writes it held; archsim's drain_full "
    "also drains whenever no read is queued, turning the bus around more often: 5% more ACTs (rows opened for "
    "reads are closed by the writes of a drain before the read is served)",
    ("dramsim3", "hbm2", "mix"): "latency only: the same two-level queue as DDR4 random (DRAMsim3 reads wait in "
    "per-bank command queues archsim does not have)",
    ("dramsim3", "hbm2", "stream"): "both are bound by DRAMsim3's trace front end (one 64 B request per cycle = "
    "64 GB/s at 1 GHz), which archsim's trace reproduces by giving request i cycle i",
    ("ramulator2", "hbm3", "mix"): "open: with the active buffer modelled, the ACT counts agree (20000 each) and "
    "read latency is within 6%, but archsim moves 22% less: its write mode is kept per pseudo-channel over the "
    "shared queue's counts, Ramulator 2's per channel, and archsim's drain also enters whenever a PC has no read "
    "queued (Ramulator: when the channel's read buffer is empty)",
}


def _peer_row(peer: str, std, res: dict) -> dict:
    if peer == "dramsim3":
        moved = res["rd"] + res["wr"]
        return {"bandwidth_bytes_per_s": moved * std.burst_bytes / (res["last_data_cycle"] * std.timing.tck_s),
                "row_hit_rate": res["row_hits"] / moved, "avg_read_latency_cycles": res["avg_read_latency_cycles"],
                "p99_read_latency_cycles": None, "act": res["act"], "pre": res["pre"], "rd": res["rd"],
                "wr": res["wr"]}
    cycles = res["ticks"] / 2  # Ramulator 2.1 HBM3 ticks are half clocks
    served = res["read_served"] + res["write_served"]
    total = res["row_hits"] + res["row_misses"] + res["row_conflicts"]
    return {"bandwidth_bytes_per_s": served * std.burst_bytes / (cycles * std.timing.tck_s),
            "row_hit_rate": res["row_hits"] / total, "p99_read_latency_cycles": None,
            "avg_read_latency_cycles": res["read_latency_sum_ticks"] / max(1, res["read_served"]) / 2,
            "act": res["row_misses"] + res["row_conflicts"], "pre": res["row_conflicts"],
            "rd": res["read_served"], "wr": res["write_served"]}


def compare() -> list[dict]:
    """One row per (peer, standard, pattern): theirs, ours, ratios."""
    peer_data = json.loads((data_dir() / "peer-results.json").read_text())
    rows = []
    for (peer, name), setup in SETUPS.items():
        std = load_standard(setup)
        for pattern in PATTERNS:
            run = run_trace(std, make_trace(pattern, setup), mapping=setup.mapping, queue_depth=setup.queue_depth,
                            parts=dict(setup.parts), queue_per_channel=setup.queue_per_channel,
                            active_buffer=setup.active_buffer)
            ours = run.summary()
            if peer == "ramulator2":  # its window ends when the last request enters: measure ours alike
                served, cycles = run.served_until_last_entry()
                ours["bandwidth_bytes_per_s"] = served * std.burst_bytes / (cycles * std.timing.tck_s)
            theirs = _peer_row(peer, std, peer_data["results"][f"{peer}/{name}/{pattern}"])
            rows.append({"peer": peer, "standard": name, "pattern": pattern, "theirs": theirs,
                         "ours": {k: ours[k] for k in ("bandwidth_bytes_per_s", "row_hit_rate",
                                                       "avg_read_latency_cycles", "p99_read_latency_cycles",
                                                       "act", "pre", "rd", "wr", "read_forwards")},
                         "bandwidth_ratio": ours["bandwidth_bytes_per_s"] / theirs["bandwidth_bytes_per_s"],
                         "latency_ratio": ours["avg_read_latency_cycles"] / theirs["avg_read_latency_cycles"],
                         "why": EXPLAIN.get((peer, name, pattern), "")})
    return rows


def _markdown(rows: list[dict], meta: dict) -> str:
    out = ["# DRAM controller vs DRAMsim3 and Ramulator 2.1 (same traces, matched timings)", "",
           "Regenerate: `archsim reproduce dram-peers` (archsim side; the peer numbers are the recorded inputs in "
           "`archsim/data/measurements/dram-peers/peer-results.json`, produced here by building each peer from "
           "source: see that file for commits, builds, configs and commands).", "",
           "Bandwidth = bytes moved / (first arrival to last data); latency in DRAM clocks from queue entry to the "
           "last data beat; ratio = ours / theirs. Neither peer's output gives a p99 (DRAMsim3 keeps 20-cycle "
           "buckets capped at 200, Ramulator 2.1 only a sum): archsim's p99 is listed alone.", "",
           "| peer | std | pattern | GB/s theirs | ours | ratio | row hits theirs / ours | avg rd lat theirs / ours "
           "(ratio) | p99 ours | ACT theirs / ours | RD+WR theirs / ours |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        t, o = r["theirs"], r["ours"]
        out.append(f"| {r['peer']} | {r['standard']} | {r['pattern']} | {t['bandwidth_bytes_per_s'] / 1e9:.1f} | "
                   f"{o['bandwidth_bytes_per_s'] / 1e9:.1f} | {r['bandwidth_ratio']:.3f} | "
                   f"{t['row_hit_rate']:.3f} / {o['row_hit_rate']:.3f} | {t['avg_read_latency_cycles']:.0f} / "
                   f"{o['avg_read_latency_cycles']:.0f} ({r['latency_ratio']:.2f}) | "
                   f"{o['p99_read_latency_cycles']:.0f} | {t['act']} / {o['act']} | {t['rd'] + t['wr']} / "
                   f"{o['rd'] + o['wr'] + o['read_forwards']} |")
    out += ["", "## Differences and their mechanisms", ""]
    for r in rows:
        if abs(r["bandwidth_ratio"] - 1) > 0.05 or r["why"]:
            out.append(f"- **{r['peer']} {r['standard']} {r['pattern']}** (bandwidth x{r['bandwidth_ratio']:.3f}): "
                       + (r["why"] or "not explained yet (open)"))
    out += ["", "## Notes", "", *meta["notes"], ""]
    return "\n".join(out)


NOTES = [
    "- Ramulator 2.1 HBM3 (the issue's 20-33% gap): with the channel's row and column buses shared by its two "
    "pseudo-channels, archsim with per-PC queues of 16 gave 282 GB/s on the stream (0.71 of Ramulator) and 187 "
    "on random (0.78). Two mechanisms of Ramulator's controller close it: one 32-entry queue per channel shared "
    "by the PCs (per-PC queues hold the in-order front end on one PC while the other idles; stream -> 1.007) and "
    "its active buffer (a request whose row is opened leaves the read/write buffer, so more requests are "
    "visible to the scheduler; random 0.90 -> 0.99, latency 0.88 -> 1.00).",
    "- Ramulator 2.1's ACT count is its row misses + conflicts; 2-4% of its requests are still queued at its end.",
    "- Ramulator 2.1 stops when its front end has handed over the last request: archsim's bandwidth against it is "
    "measured over the same window (requests done by the cycle the last one entered the queue).",
    "- Matched queues: DRAMsim3 holds 32 transactions per channel plus 8 commands per bank; archsim's one FR-FCFS "
    "pool is 32 + 8 for DDR4 (a stream's window: all in one bank) and 32 + 8 x 16 for HBM2. DRAMsim3's HBM2 config "
    "is legacy mode (8 x 128-bit channels, no pseudo-channels).",
    "- DRAMsim3 reads the key tRTP, which its HBM2 ini does not set (it sets tRTP_L/S): it simulates the default 5.",
]


def reproduce(out_dir: Path) -> list[Path]:
    """Write ``dram-peers.md`` and ``dram-peers.json`` into ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = compare()
    meta = json.loads((data_dir() / "peer-results.json").read_text())
    files = {"dram-peers.md": _markdown(rows, {"notes": NOTES}),
             "dram-peers.json": json.dumps({"peers": meta["peers"], "rows": rows}, indent=1)}
    paths = []
    for name, text in files.items():
        fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, out_dir / name)
        paths.append(out_dir / name)
    return paths
