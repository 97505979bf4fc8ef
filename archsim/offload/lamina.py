"""Reproduction of Lamina's throughput-per-dollar comparison, the interconnect it needs, and
the offload-target sweep for Llama-3-70B. ``archsim reproduce lamina``.

What is compared (per model and context length): the best tokens per dollar any homogeneous
H100 deployment reaches (2, 4 or 8 GPUs, tensor parallel, batch limited by KV capacity) versus
the best offloaded deployment (H100s for the non-attention work + H20s holding the KV cache and
running attention, joined by 400 Gb/s RDMA). Prices are the presets' rental prices (cited
there as assumptions); the gain is a ratio of throughputs per dollar, so a common price scale
cancels but the H100:H20 price ratio does not — it is the most important input, and the
report shows the gain's sensitivity to it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from archsim import presets
from archsim.offload.deployments import LINKS, homogeneous, offloaded
from archsim.offload.serving import Operating, ServingConfig, best_batch, decode_iteration
from archsim.schemas.hardware import DeviceBase

__all__ = ["LINKS", "PAPER", "homogeneous", "offloaded", "reproduce", "write_outputs"]

PAPER = {"throughput_per_dollar_gain_min": 1.48, "throughput_per_dollar_gain_max": 12.1,
         "source": "Chen et al., 'Efficient and Economic LLM Inference with Attention Offloading' (Lamina), "
                   "arXiv:2405.01814, abstract"}

MODELS = ["llama-2-13b", "opt-30b", "llama-2-70b", "llama-3-70b"]
CONTEXTS = [1024, 4096, 16384, 32768]
#: Memory devices per deployment considered (Lamina scales the attention pool independently).
MEMORY_COUNTS = (1, 2, 4, 8, 16, 32)


def _device(name: str) -> DeviceBase:
    return presets.load_hardware(name)


def _best(model: Any, configs: list[ServingConfig], context: int, tbt: float | None) -> Operating | None:
    points = [best_batch(model, c, context, tbt_limit_s=tbt) for c in configs]
    points = [p for p in points if p.tokens_per_dollar > 0]
    return max(points, key=lambda p: p.tokens_per_dollar) if points else None


def _row(op: Operating) -> dict[str, Any]:
    it = op.iteration
    return {"config": op.config, "policy": op.policy, "batch": op.batch, "max_batch": op.max_batch,
            "tokens_per_s": it.tokens_per_s if it else 0.0, "tbt_s": it.time_s if it else None,
            "bound": it.bound if it else None, "usd_per_hour": op.usd_per_hour,
            "tokens_per_dollar": op.tokens_per_dollar, "limited_by": op.limited_by,
            "link_bytes_per_s_per_memory_device": it.required_link_bytes_per_s if it else 0.0}


def reproduce(tbt_limit_s: float | None = None) -> dict[str, Any]:
    h100, h20 = _device("h100-sxm"), _device("h20")
    rows = []
    gains = []
    for model_name in MODELS:
        model = presets.load_model(model_name)
        for context in CONTEXTS:
            homo = _best(model, [homogeneous(h100, n) for n in (1, 2, 4, 8)], context, tbt_limit_s)
            homo_h20 = _best(model, [homogeneous(h20, n) for n in (1, 2, 4, 8)], context, tbt_limit_s)
            off = _best(model, [offloaded(h100, nc, h20, nm) for nc in (1, 2, 4, 8) for nm in MEMORY_COUNTS],
                        context, tbt_limit_s)
            row: dict[str, Any] = {"model": model_name, "context": context}
            for key, op in (("homogeneous_h100", homo), ("homogeneous_h20", homo_h20), ("offload", off)):
                row[key] = _row(op) if op else None
            if homo and off:
                row["gain_vs_h100"] = off.tokens_per_dollar / homo.tokens_per_dollar
                gains.append(row["gain_vs_h100"])
            if homo_h20 and off:
                row["gain_vs_h20"] = off.tokens_per_dollar / homo_h20.tokens_per_dollar
            rows.append(row)
    return {"rows": rows, "gain_min": min(gains), "gain_max": max(gains)}


def price_sensitivity(model_name: str = "llama-3-70b", context: int = 16384) -> list[dict[str, float]]:
    """Gain vs the H20:H100 rental-price ratio (everything else fixed)."""
    h100, h20 = _device("h100-sxm"), _device("h20")
    model = presets.load_model(model_name)
    out = []
    base = h20.cost.rental_usd_per_hour  # type: ignore[union-attr]
    homo = _best(model, [homogeneous(h100, n) for n in (1, 2, 4, 8)], context, None)
    for scale in (0.5, 1.0, 1.5, 2.0, 3.0):
        cheap = h20.model_copy(update={"cost": h20.cost.model_copy(update={"rental_usd_per_hour": base * scale})})
        off = _best(model, [offloaded(h100, nc, cheap, nm) for nc in (1, 2, 4, 8) for nm in MEMORY_COUNTS], context,
                    None)
        if homo and off:
            out.append({"h20_usd_per_hour": base * scale,
                        "price_ratio_h20_to_h100": base * scale / h100.cost.rental_usd_per_hour,  # type: ignore
                        "gain_vs_h100": off.tokens_per_dollar / homo.tokens_per_dollar})
    return out


def bandwidth_needed(model_name: str = "llama-3-70b") -> list[dict[str, float]]:
    """Per-memory-device link traffic (bytes/s) at full speed, against batch and context."""
    h100, h20 = _device("h100-sxm"), _device("h20")
    model = presets.load_model(model_name)
    cfg = offloaded(h100, 4, h20, 4)
    rows = []
    for context in (1024, 4096, 16384, 32768):
        for batch in (8, 16, 32, 64, 128, 256):
            it = decode_iteration(model, cfg, batch, context)
            rows.append({"context": context, "batch": batch, "tbt_s": it.time_s,
                         "link_bytes_per_s": it.required_link_bytes_per_s,
                         "link_utilisation_400g":
                             it.required_link_bytes_per_s / LINKS["rdma400g"].bandwidth_bytes_per_s})
    return rows


def target_sweep(tbt_limit_s: float = 0.1) -> list[dict[str, Any]]:
    """Llama-3-70B at 4k and 32k: which offload target and interconnect minimise $ per M tokens."""
    h100 = _device("h100-sxm")
    model = presets.load_model("llama-3-70b")
    targets = [n for n in ("h20", "a100-sxm", "h100-sxm") if n in presets.preset_names("hardware")]
    rows = []
    for context in (4096, 32768):
        homo = _best(model, [homogeneous(h100, n) for n in (2, 4, 8)], context, tbt_limit_s)
        if homo:
            rows.append({"context": context, "target": "none (homogeneous h100)", "link": "nvlink4",
                         **_row(homo), "usd_per_million_tokens": 1e6 / homo.tokens_per_dollar})
        for target in targets:
            mem = _device(target)
            for link in ("eth100g", "eth200g", "rdma400g", "pcie5x16"):
                off = _best(model, [offloaded(h100, nc, mem, nm, link) for nc in (2, 4) for nm in MEMORY_COUNTS],
                            context, tbt_limit_s)
                if off:
                    rows.append({"context": context, "target": target, "link": link, **_row(off),
                                 "usd_per_million_tokens": 1e6 / off.tokens_per_dollar})
    return rows


def headinfer_check() -> dict[str, Any]:
    """HeadInfer's Llama-3-8B at 1M tokens: KV size, and what head-wise offload keeps on the GPU."""
    from archsim.offload.serving import kv_bytes_per_sequence

    model = presets.load_model("llama-3-8b")
    total = kv_bytes_per_sequence(model, 1_048_576, "bf16")
    per_head_layer = total / (model.num_layers * model.kv_heads)
    return {"kv_total_bytes": total, "gpu_resident_bytes_double_buffered": 2 * per_head_layer,
            "paper_kv_total_gb": 128, "paper_gpu_kv_gb": 1,
            "source": "HeadInfer (arXiv:2502.12574) abstract: Llama-3-8B, 1M tokens, KV 128 GB -> 1 GB on GPU"}


def write_outputs(out: Path) -> dict[str, Any]:
    import plotly.graph_objects as go

    out.mkdir(parents=True, exist_ok=True)
    rep = reproduce()
    sweep = target_sweep()
    bw = bandwidth_needed()
    sens = price_sensitivity()
    from archsim.offload import under_load

    under = under_load.study()
    (out / "under-load.json").write_text(json.dumps(under, indent=1, default=str) + "\n")
    summary = {
        "paper": PAPER,
        "throughput_per_dollar_gain_min": rep["gain_min"],
        "throughput_per_dollar_gain_max": rep["gain_max"],
        "ratio_min_ours_over_paper": rep["gain_min"] / PAPER["throughput_per_dollar_gain_min"],
        "ratio_max_ours_over_paper": rep["gain_max"] / PAPER["throughput_per_dollar_gain_max"],
        "rows": rep["rows"],
        "price_sensitivity": sens,
        "bandwidth_needed": bw,
        "target_sweep": sweep,
        "headinfer": headinfer_check(),
        "under_load": under_load.headline(under, PAPER),
        "command": "archsim reproduce lamina",
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    write_markdown(summary, out.parent / f"{out.name}.md", under_load.markdown(under, PAPER))
    fig = go.Figure()
    for context in sorted({r["context"] for r in bw}):
        sel = [r for r in bw if r["context"] == context]
        fig.add_scatter(x=[r["batch"] for r in sel], y=[r["link_bytes_per_s"] / 1e9 for r in sel],
                        mode="lines+markers", name=f"context {context}")
    fig.add_hline(y=LINKS["rdma400g"].bandwidth_bytes_per_s / 1e9, line_dash="dash", annotation_text="400 Gb/s")
    fig.add_hline(y=LINKS["eth100g"].bandwidth_bytes_per_s / 1e9, line_dash="dot", annotation_text="100 Gb/s")
    fig.update_layout(title="Llama-3-70B, 4x H100 + 4x H20: link traffic per H20 at full speed",
                      xaxis={"title": "batch", "type": "log"}, yaxis={"title": "GB/s per direction"})
    fig.write_html(out / "bandwidth.html", include_plotlyjs="cdn")
    fig2 = go.Figure()
    for context in (4096, 32768):
        sel = [r for r in sweep if r["context"] == context]
        fig2.add_bar(name=f"context {context}", x=[f"{r['target']} / {r['link']}" for r in sel],
                     y=[r["usd_per_million_tokens"] for r in sel])
    fig2.update_layout(title="Llama-3-70B decode: USD per million tokens (TBT <= 100 ms)", barmode="group",
                       yaxis_title="USD / M tokens")
    fig2.write_html(out / "target_sweep.html", include_plotlyjs="cdn")
    return summary


def write_markdown(summary: dict[str, Any], path: Path, under_load: list[str] | None = None) -> None:
    """reports/attention-offload.md from a summary (regenerable, numbers only from the model); ``under_load``
    is the serving-simulator section (:func:`archsim.offload.under_load.markdown`), placed last."""
    lines = [
        "# Attention offloading (Lamina) and head-wise KV offload (HeadInfer)",
        "",
        f"Regenerate: `{summary['command']}` (writes summary.json, bandwidth.html, target_sweep.html, "
        "under-load.json and this file).",
        "",
        "## Headline (steady-state decode): throughput per dollar, offloaded vs homogeneous H100",
        "",
        "| | paper | ours | ours / paper |",
        "|---|---|---|---|",
        f"| gain, min | {PAPER['throughput_per_dollar_gain_min']} | {summary['throughput_per_dollar_gain_min']:.2f} | "
        f"{summary['ratio_min_ours_over_paper']:.2f} |",
        f"| gain, max | {PAPER['throughput_per_dollar_gain_max']} | {summary['throughput_per_dollar_gain_max']:.2f} | "
        f"{summary['ratio_max_ours_over_paper']:.2f} |",
        "",
        f"Paper: {PAPER['source']}. Each row below picks, for one model and context, the best homogeneous H100 "
        "deployment (1-8 GPUs, tensor parallel) and the best offloaded one (1-8 H100 + 1-32 H20 over 400 Gb/s "
        "RDMA), each at the batch that maximises tokens per dollar within its KV-cache capacity.",
        "",
        "| model | context | homogeneous H100 (batch) | offloaded (batch, bound) | gain vs H100 | gain vs all-H20 |",
        "|---|---|---|---|---|---|",
    ]
    for r in summary["rows"]:
        h, o = r["homogeneous_h100"], r["offload"]
        lines.append(f"| {r['model']} | {r['context']} | {h['config']} ({h['batch']}) | {o['config']} "
                     f"({o['batch']}, {o['bound']}) | {r.get('gain_vs_h100', float('nan')):.2f} | "
                     f"{r.get('gain_vs_h20', float('nan')):.2f} |")
    lines += [
        "",
        "### Why ours differs from the paper",
        "",
        "- The low end agrees (short contexts, where the homogeneous H100 deployment already batches well).",
        "- Our high end is well below 12.1x. The gain is capped by the KV capacity the homogeneous side gets: "
        "we let it use up to 8 H100s (640 GB), so even at 32k context it batches 20-80 sequences. A baseline "
        "held to fewer GPUs, or to vLLM's measured (not roofline) decode speed, is far more capacity- and "
        "efficiency-starved and yields larger ratios. We could not read the paper's exact baseline sizes, "
        "prices and measured throughputs from the material available here, so we do not claim to match them "
        "and we did not tune anything toward 12.1x.",
        "- Prices dominate the ratio. The gain's sensitivity to the H20:H100 price ratio (Llama-3-70B, 16k):",
        "",
        "| H20 USD/h | H20 : H100 price | gain vs H100 |",
        "|---|---|---|",
    ]
    for p in summary["price_sensitivity"]:
        lines.append(f"| {p['h20_usd_per_hour']:.2f} | {p['price_ratio_h20_to_h100']:.2f} | {p['gain_vs_h100']:.2f} |")
    lines += [
        "",
        "- The model times operators with the roofline backend: no kernel inefficiency on either side, "
        "no prefill interference, perfect micro-batch overlap up to the resource and critical-path bounds.",
        "",
        "## Interconnect needed (bandwidth.html)",
        "",
        "Llama-3-70B on 4x H100 + 4x H20: traffic per H20 port (Q and new K/V out, O back, per layer) at the "
        "iteration rate the model predicts:",
        "",
        "| context | batch | TBT (ms) | GB/s per H20 | share of 400 Gb/s |",
        "|---|---|---|---|---|",
    ]
    for r in summary["bandwidth_needed"]:
        lines.append(f"| {r['context']} | {r['batch']} | {r['tbt_s'] * 1e3:.1f} | {r['link_bytes_per_s'] / 1e9:.2f} | "
                     f"{100 * r['link_utilisation_400g']:.1f}% |")
    lines += [
        "",
        "The traffic per token is independent of context (Q, O and one new K/V row per layer), so longer "
        "contexts need *less* bandwidth per second; it stays a small share of a 400 Gb/s NIC — the paper's "
        "'manageable with prevalent networking' holds in our model.",
        "",
        "## Which offload target and interconnect for Llama-3-70B (target_sweep.html)",
        "",
        "Time between tokens <= 100 ms; 2-4 H100 for the non-attention work; 1-32 attention devices.",
        "",
        "| context | target | link | deployment | batch | USD per M tokens |",
        "|---|---|---|---|---|---|",
    ]
    for r in summary["target_sweep"]:
        lines.append(f"| {r['context']} | {r['target']} | {r['link']} | {r['config']} | {r['batch']} | "
                     f"{r['usd_per_million_tokens']:.3f} |")
    best = {}
    for r in summary["target_sweep"]:
        if r["context"] not in best or r["usd_per_million_tokens"] < best[r["context"]]["usd_per_million_tokens"]:
            best[r["context"]] = r
    lines += ["", "Cheapest: " + "; ".join(f"{c} tokens: {r['target']} over {r['link']} ({r['config']}, "
                                           f"{r['usd_per_million_tokens']:.3f} USD/M tokens)" for c, r in best.items()),
              "", "## HeadInfer check", ""]
    hi = summary["headinfer"]
    lines += [f"Llama-3-8B at 1M tokens: KV cache {hi['kv_total_bytes'] / 2**30:.0f} GiB (paper: "
              f"{hi['paper_kv_total_gb']} GB); head-wise offload keeps one (layer, KV head) double-buffered on the "
              f"GPU: {hi['gpu_resident_bytes_double_buffered'] / 2**30:.1f} GiB (paper: {hi['paper_gpu_kv_gb']} GB). "
              f"Source: {hi['source']}.", ""]
    path.write_text("\n".join(lines + (under_load or [])))
