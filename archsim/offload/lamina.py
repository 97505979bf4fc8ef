"""Reproduction of Lamina's throughput-per-dollar comparison, the interconnect it needs, and
the offload-target sweep for Llama-3-70B. ``archsim reproduce lamina``.

What is compared (per model and context length): the best tokens per dollar any homogeneous
H100 deployment reaches (2, 4 or 8 GPUs, tensor parallel, batch limited by KV capacity) versus
the best offloaded deployment (H100s for the non-attention work + H20s holding the KV cache and
running attention, joined by 400 Gb/s RDMA). Prices are the presets' rental prices (cited
there as assumptions); the gain is a ratio of throughputs per dollar, so a common price scale
cancels but the H100:H20 price ratio does not — it is the most important input, and the
report shows the gain's sensitivity to it.

The baseline's regime: the paper's homogeneous baseline is vLLM on H100s (tensor parallel). Both sides
are priced with the GPU stack model (:mod:`archsim.offload.device_cost`, ``timing="gpu-stack"``): the
``fused`` stack (vLLM's fused norm / rotary / SiLU * mul custom ops, cuBLAS GEMMs, FlashAttention-2 decode),
decode replayed from CUDA graphs, energy from the board power model. OPT-30B (LayerNorm, ReLU FFN) has no
stack profile and stays on the roofline, labelled so. Every table is also computed with
``timing="roofline"`` (the earlier model) as the comparison column.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from archsim import presets
from archsim.offload.deployments import LINKS, homogeneous, offloaded
from archsim.offload.serving import Operating, ServingConfig, best_batch, decode_iteration, kv_bytes_per_sequence
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
            "link_bytes_per_s_per_memory_device": it.required_link_bytes_per_s if it else 0.0,
            "joules_per_token": it.joules_per_token if it else None, "timing": it.timing if it else {},
            "energy_parts_j": it.energy_parts if it else {},
            # what-if: the memory devices drawing the H100 preset's static power (the H20 preset has none)
            "joules_per_token_memory_static_as_h100": (
                (it.energy_j + _device("h100-sxm").static_power_w * it.energy_parts.get("memory_device_s", 0.0))
                / it.batch) if it and it.batch else None}


def _timed(cfgs: list[ServingConfig], timing: str) -> list[ServingConfig]:
    return [replace(c, timing=timing) for c in cfgs]


def reproduce(tbt_limit_s: float | None = None, timing: str = "gpu-stack") -> dict[str, Any]:
    """Best homogeneous and offloaded deployment per model and context; the gain range over the rows whose
    compute side got ``timing`` (all rows when it is ``roofline``) and over all rows."""
    h100, h20 = _device("h100-sxm"), _device("h20")
    rows = []
    gains = []
    for model_name in MODELS:
        model = presets.load_model(model_name)
        for context in CONTEXTS:
            homo = _best(model, _timed([homogeneous(h100, n) for n in (1, 2, 4, 8)], timing), context, tbt_limit_s)
            homo_h20 = _best(model, _timed([homogeneous(h20, n) for n in (1, 2, 4, 8)], timing), context,
                             tbt_limit_s)
            off = _best(model, _timed([offloaded(h100, nc, h20, nm) for nc in (1, 2, 4, 8) for nm in MEMORY_COUNTS],
                                      timing), context, tbt_limit_s)
            row: dict[str, Any] = {"model": model_name, "context": context}
            for key, op in (("homogeneous_h100", homo), ("homogeneous_h20", homo_h20), ("offload", off)):
                row[key] = _row(op) if op else None
            if homo and off:
                row["gain_vs_h100"] = off.tokens_per_dollar / homo.tokens_per_dollar
                row["timing"] = (homo.iteration.timing["compute"] if homo.iteration else timing)
                gains.append((row["gain_vs_h100"], row["timing"] == timing))
            if homo_h20 and off:
                row["gain_vs_h20"] = off.tokens_per_dollar / homo_h20.tokens_per_dollar
            rows.append(row)
    own = [g for g, same in gains if same]
    return {"timing": timing, "rows": rows, "gain_min": min(own), "gain_max": max(own),
            "gain_min_all_rows": min(g for g, _ in gains), "gain_max_all_rows": max(g for g, _ in gains)}


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


def memory_kernel_sensitivity(model_name: str = "llama-3-70b") -> list[dict[str, Any]]:
    """The gain when the memory devices run a small-tile decode kernel (archsim's cuDNN decode model: 16 query
    rows per tile, GQA heads packed) instead of vLLM's paged FlashAttention-2 (64-row tiles); the homogeneous
    H100 baseline keeps vLLM's kernel."""
    h100, h20 = _device("h100-sxm"), _device("h20")
    model = presets.load_model(model_name)
    offs = [offloaded(h100, nc, h20, nm) for nc in (1, 2, 4, 8) for nm in MEMORY_COUNTS]
    rows = []
    for context in CONTEXTS:
        homo = _best(model, [homogeneous(h100, n) for n in (1, 2, 4, 8)], context, None)
        row: dict[str, Any] = {"model": model_name, "context": context}
        for kernel in ("vllm-flash2", "cudnn"):
            off = _best(model, [replace(c, attention_kernel=kernel) for c in offs], context, None)
            row[kernel] = {"config": off.config, "batch": off.batch,
                           "gain_vs_h100": off.tokens_per_dollar / homo.tokens_per_dollar} if off and homo else None
        rows.append(row)
    return rows


def attention_regime(model_name: str = "llama-3-70b", batch: int = 64, context: int = 16384) -> dict[str, Any]:
    """Per-layer decode attention of ``batch`` sequences at ``context`` on the two devices, both timings, beside
    the time to stream their KV bytes at the preset's HBM bandwidth: homogeneous 8x H100 (heads / 8 on each) and
    one of 8 H20s (an eighth of the requests, all heads)."""
    from archsim.offload.device_cost import StepWork, device_step

    h100, h20 = _device("h100-sxm"), _device("h20")
    model = presets.load_model(model_name)
    out: dict[str, Any] = {"model": model_name, "batch": batch, "context": context}
    kv_seq = kv_bytes_per_sequence(model, context, "bf16") / model.num_layers
    for key, dev, work, kv in (
            ("h100_tp8", h100, StepWork(context=context, attention_batch=batch, tp=8), batch * kv_seq / 8),
            ("h20_of_8", h20, StepWork(context=context, attention_batch=batch // 8), batch // 8 * kv_seq)):
        row = {t: device_step(dev, model, work, timing=t).attention_s / model.num_layers
               for t in ("gpu-stack", "roofline")}
        row["hbm_stream_s"] = kv / dev.offchip.bandwidth_bytes_per_s
        out[key] = row
    return out


def _merge(rep: dict[str, Any], roof: dict[str, Any]) -> list[dict[str, Any]]:
    """The GPU-stack rows with the roofline row of the same model and context beside them."""
    by = {(r["model"], r["context"]): r for r in roof["rows"]}
    return [{**r, "roofline": by[(r["model"], r["context"])]} for r in rep["rows"]]


def write_outputs(out: Path) -> dict[str, Any]:
    import plotly.graph_objects as go

    from archsim.offload import lamina_report, under_load

    out.mkdir(parents=True, exist_ok=True)
    rep = reproduce()
    roof = reproduce(timing="roofline")
    sweep = target_sweep()
    bw = bandwidth_needed()
    sens = price_sensitivity()
    under = {**under_load.study(), "iteration_probe": under_load.iteration_probe()}
    under_roof = under_load.study(timing="roofline")
    (out / "under-load.json").write_text(json.dumps({"gpu-stack": under, "roofline": under_roof}, indent=1,
                                                    default=str) + "\n")
    summary = {
        "paper": PAPER,
        "timing": "gpu-stack",
        "throughput_per_dollar_gain_min": rep["gain_min"],
        "throughput_per_dollar_gain_max": rep["gain_max"],
        "ratio_min_ours_over_paper": rep["gain_min"] / PAPER["throughput_per_dollar_gain_min"],
        "ratio_max_ours_over_paper": rep["gain_max"] / PAPER["throughput_per_dollar_gain_max"],
        "gain_min_all_rows": rep["gain_min_all_rows"], "gain_max_all_rows": rep["gain_max_all_rows"],
        "roofline": {k: roof[k] for k in ("gain_min", "gain_max")},
        "rows": _merge(rep, roof),
        "attention_regime": attention_regime(),
        "memory_kernel_sensitivity": memory_kernel_sensitivity(),
        "what_if_memory_static_w": _device("h100-sxm").static_power_w,
        "price_sensitivity": sens,
        "bandwidth_needed": bw,
        "target_sweep": sweep,
        "headinfer": headinfer_check(),
        "under_load": under_load.headline(under, PAPER),
        "under_load_roofline": under_load.headline(under_roof, PAPER),
        "command": "archsim reproduce lamina",
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    lamina_report.write_markdown(summary, out.parent / f"{out.name}.md", under_load.markdown(under, PAPER, under_roof))
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
