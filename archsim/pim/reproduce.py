"""Regenerate reports/pim-gpt/ (summary.json, table.md) and reports/duplex.md + summary.json.

Run: ``archsim reproduce pim-gpt`` and ``archsim reproduce duplex``. Every number in the reports comes
from the models named there; the paper's numbers are quoted as published (abstracts), and no
parameter was fitted to them (calibration, if any, lives in the presets' sources, not here).
"""

from __future__ import annotations

import json
from pathlib import Path

from archsim import presets
from archsim.lowering import lower
from archsim.pim import logic_die, pimgpt
from archsim.schemas.workload import Workload

PIMGPT_MODELS = ["gpt2-small", "gpt2-medium", "gpt2-large", "gpt2-xl",
                 "gpt3-small", "gpt3-medium", "gpt3-large", "gpt3-xl"]
PIMGPT_TOKENS = 1024  # assumption: tokens generated per model (one-token prompt); the paper's count was not available
PAPER_PIMGPT = {"speedup_vs_gpu": (41, 137), "energy_eff_vs_gpu_v1": (339, 1085), "energy_eff_vs_gpu_v2": (123, 383),
                "speedup_vs_cpu": (631, 1074), "energy_eff_vs_cpu_v1": (890, 1632)}
DATA = Path(__file__).parent / "data"


def pimgpt_rows(tokens: int = PIMGPT_TOKENS, models: list[str] | None = None) -> list[dict]:
    """PIM-GPT vs its GPU baseline per model: HF ``generate`` on a T4 under the stack model (the baseline),
    and the T4 roofline of the same decode steps (the previous baseline, for comparison)."""
    from archsim.gpu.baselines import validate_gpt2
    sys = pimgpt.load_system()
    measured = {r["model"]: r["measured_wall_s"] for r in validate_gpt2() if r["attn"] == pimgpt.GPU_ATTENTION}
    rows = []
    for name in models or PIMGPT_MODELS:
        model = presets.load_model(name)
        pim = pimgpt.generate(sys, model, tokens)
        gpu = pimgpt.gpu_generate(name, tokens)
        roof_t, roof_e = pimgpt.gpu_generate_roofline(name, tokens)
        rows.append({"model": name, "tokens": tokens, "pim_time_s": pim.time_s, "pim_energy_j": pim.energy_j,
                     "pim_row_switch_share": pim.row_switch_s / pim.time_s, "asic_share": pim.asic_time_s / pim.time_s,
                     "gpu_time_s": gpu.wall_s, "gpu_energy_j": gpu.energy_j, "gpu_busy_s": gpu.gpu_s,
                     "gpu_host_s": gpu.host_s, "gpu_bound": gpu.bound, "gpu_avg_power_w": gpu.avg_power_w,
                     "gpu_kernels_per_token": gpu.n_kernels / tokens,
                     "speedup_vs_gpu": gpu.wall_s / pim.time_s, "energy_eff_vs_gpu": gpu.energy_j / pim.energy_j,
                     "roofline_time_s": roof_t, "roofline_energy_j": roof_e,
                     "speedup_vs_roofline": roof_t / pim.time_s, "energy_eff_vs_roofline": roof_e / pim.energy_j})
        if name in measured:  # same software on the H200 was host-bound: its measured wall bounds the T4's host time
            floor = max(measured[name] * tokens, gpu.gpu_s)
            rows[-1].update({"gpu_time_floor_from_h200_s": floor, "speedup_floor_from_h200": floor / pim.time_s})
    return rows


def pimgpt_validation() -> dict:
    """The stack model of HF GPT-2 ``generate`` against the H200 measurements (validation, nothing fitted)."""
    from archsim.gpu.baselines import HOST_CSV, VALIDATION_CSV, error_summary, gpt2_host, validate_gpt2
    rows = validate_gpt2()
    by = {a: [r for r in rows if r["attn"] == a] for a in ("eager", "sdpa")}
    return {"measurements": f"archsim/data/measurements/h200/{VALIDATION_CSV}",
            "host_calibration": f"archsim/data/measurements/h200/{HOST_CSV}",
            "host_per_token": {a: {st: {"fixed_s": gpt2_host(a, state=st).fixed_s,
                                        "per_layer_s": gpt2_host(a, state=st).per_layer_s}
                                   for st in ("point", "fast", "slow")} for a in ("eager", "sdpa")},
            "in_state_band": sum(r["in_state_band"] for r in rows), "first_rep": error_summary(rows, "first_rep_error"),
            "rows": rows, **{f"{a}_{k}": error_summary(by[a], f"{k}_error") for a in by for k in ("wall", "gpu")},
            "eager_energy": error_summary(by["eager"], "energy_error"),
            "power": error_summary(rows, "power_error")}


def pimgpt_summary(rows: list[dict]) -> dict:
    sp = [r["speedup_vs_gpu"] for r in rows]
    ee = [r["energy_eff_vs_gpu"] for r in rows]
    p = PAPER_PIMGPT
    return {"speedup_vs_gpu_min": min(sp), "speedup_vs_gpu_max": max(sp),
            "energy_eff_vs_gpu_min": min(ee), "energy_eff_vs_gpu_max": max(ee),
            "speedup_vs_roofline_min": min(r["speedup_vs_roofline"] for r in rows),
            "speedup_vs_roofline_max": max(r["speedup_vs_roofline"] for r in rows),
            "paper": p, "tokens_generated": rows[0]["tokens"],
            "gpu_model": f"{pimgpt.GPU_BASELINE}: HF GPT-2 generate, {pimgpt.GPU_ATTENTION} attention, fp16, batch 1 "
                         "(archsim.gpu.baselines stack model; host figures of the H200 machine's CPU carried over)",
            "gpu_regimes": sorted({r["gpu_bound"] for r in rows}), "models": rows,
            "validation_h200": pimgpt_validation(),
            "ratio_ours_over_paper": {"speedup_min": min(sp) / p["speedup_vs_gpu"][0],
                                      "speedup_max": max(sp) / p["speedup_vs_gpu"][1],
                                      "energy_eff_min_v1": min(ee) / p["energy_eff_vs_gpu_v1"][0],
                                      "energy_eff_max_v1": max(ee) / p["energy_eff_vs_gpu_v1"][1],
                                      "energy_eff_min_v2": min(ee) / p["energy_eff_vs_gpu_v2"][0],
                                      "energy_eff_max_v2": max(ee) / p["energy_eff_vs_gpu_v2"][1]}}


DUPLEX_CASES = [("mixtral-8x7b", DATA / "mixtral-8x7b.yaml"), ("llama-2-70b", "llama-2-70b")]
DUPLEX_BATCHES = [8, 32, 128]
DUPLEX_CONTEXT = 2048  # assumption: mean KV length of the requests in the continuous batch


def duplex_rows(batches: list[int] | None = None, context: int = DUPLEX_CONTEXT) -> list[dict]:
    xpu = presets.load_hardware("h100-sxm")
    lpim = presets.load_hardware("duplex-logic-pim")
    rows = []
    for label, ref in DUPLEX_CASES:
        model = presets.load("models", str(ref)) if isinstance(ref, Path) else presets.load_model(ref)
        for batch in batches or DUPLEX_BATCHES:
            wl = Workload(name=f"{label}-b{batch}", model=model, dtype="bf16",
                          phases=[{"phase": "decode", "batch": batch, "context_len": context, "steps": 1}])
            ops = lower(wl, model)
            res = {}
            for policy in ("gpu_only", "duplex"):
                placed = logic_die.co_process(ops, xpu, lpim, policy=policy)
                res[policy] = (sum(p.result.total_time_s for p in placed), sum(p.result.total_energy_j for p in placed),
                               placed)
            opb = {p.op.name: p.op_per_byte for p in res["gpu_only"][2]}
            where = {p.op.name: p.device for p in res["duplex"][2]}
            moe = [k for k in opb if "moe_experts" in k]
            rows.append({
                "model": label, "batch": batch, "context": context,
                "gpu_step_s": res["gpu_only"][0], "duplex_step_s": res["duplex"][0],
                "throughput_gain": res["gpu_only"][0] / res["duplex"][0],
                "energy_ratio_duplex_over_gpu": res["duplex"][1] / res["gpu_only"][1],
                "op_per_byte": {k: opb[k] for k in ("attention", "moe.attention", *moe, "ffn_up", "qkv_proj")
                                if k in opb},
                "placement": {k: where[k] for k in ("attention", "moe.attention", *moe, "ffn_up", "qkv_proj")
                              if k in where},
            })
    return rows


def duplex_summary(rows: list[dict]) -> dict:
    xpu = presets.load_hardware("h100-sxm")
    lpim = presets.load_hardware("duplex-logic-pim")
    gains = [r["throughput_gain"] for r in rows]
    return {"throughput_gain_min": min(gains), "throughput_gain_max": max(gains),
            "energy_ratio_min": min(r["energy_ratio_duplex_over_gpu"] for r in rows),
            "energy_ratio_max": max(r["energy_ratio_duplex_over_gpu"] for r in rows),
            "paper": {"throughput_gain_max": 2.67, "op_per_byte_moe_min": 1, "op_per_byte_gqa_attention": [4, 8]},
            "crossover_op_per_byte": logic_die.crossover_op_per_byte(xpu, lpim), "rows": rows}


def _fmt(x: float, nd: int = 3) -> str:
    return f"{x:.{nd}g}"


def write_pimgpt(out: Path, summary: dict) -> None:
    (out / "pim-gpt").mkdir(parents=True, exist_ok=True)
    (out / "pim-gpt" / "summary.json").write_text(json.dumps(summary, indent=2))
    lines = ["| model | PIM-GPT (ms) | T4 HF eager (ms) | T4 busy / host (ms) | regime | speedup | energy (J) PIM / T4 "
             "| T4 power (W) | energy eff. | T4 roofline (ms) | speedup vs roofline |", "|---" * 11 + "|"]
    for r in summary["models"]:
        lines.append(f"| {r['model']} | {_fmt(r['pim_time_s']*1e3)} | {_fmt(r['gpu_time_s']*1e3)} | "
                     f"{_fmt(r['gpu_busy_s']*1e3)} / {_fmt(r['gpu_host_s']*1e3)} | {r['gpu_bound']}-bound | "
                     f"{_fmt(r['speedup_vs_gpu'])}x | {_fmt(r['pim_energy_j'])} / {_fmt(r['gpu_energy_j'])} | "
                     f"{r['gpu_avg_power_w']:.0f} | {_fmt(r['energy_eff_vs_gpu'])}x | "
                     f"{_fmt(r['roofline_time_s']*1e3)} | "
                     f"{_fmt(r['speedup_vs_roofline'])}x |")
    v = summary["validation_h200"]
    lines += ["", "H200 validation of the stack model (HF GPT-2 generate, fp16, batch 1; per token):", "",
              "| run | measured wall (ms) | ours (ms) | error | ours fast / slow host state (ms) | "
              "measured GPU-busy (ms) | ours | error | "
              "measured J | ours J | error | measured W | ours W | regime |", "|---" * 14 + "|"]
    for r in v["rows"]:
        e = r["energy_error"]
        me = "-" if e is None else f"{r['measured_energy_j']:.2f}"
        lines.append(f"| {r['run_id']} | {r['measured_wall_s']*1e3:.2f} | {r['modeled_wall_s']*1e3:.2f} | "
                     f"{r['wall_error']:+.0%} | "
                     f"{r['modeled_wall_fast_s']*1e3:.1f} / {r['modeled_wall_slow_s']*1e3:.1f} | "
                     f"{r['measured_gpu_s']*1e3:.2f} | {r['modeled_gpu_s']*1e3:.2f} | "
                     f"{r['gpu_error']:+.0%} | {me} | "
                     f"{r['modeled_energy_j']:.2f} | {'-' if e is None else f'{e:+.0%}'} | "
                     f"{r['measured_power_w']:.0f} | {r['modeled_power_w']:.0f} | {r['bound']}-bound |")
    (out / "pim-gpt" / "table.md").write_text("\n".join(lines) + "\n")


def write_duplex(out: Path, summary: dict) -> None:
    (out / "duplex").mkdir(parents=True, exist_ok=True)
    (out / "duplex" / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    lines = ["| model | batch | GPU step (ms) | Duplex step (ms) | throughput gain | energy Duplex/GPU | "
             "Op/B attention | Op/B MoE experts (up) | attention on | experts on |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in summary["rows"]:
        opb, pl = r["op_per_byte"], r["placement"]
        att = next((k for k in ("moe.attention", "attention") if k in opb), None)
        moe = next((k for k in opb if k.endswith("moe_experts_up")), None)
        lines.append(f"| {r['model']} | {r['batch']} | {_fmt(r['gpu_step_s']*1e3)} | {_fmt(r['duplex_step_s']*1e3)} | "
                     f"{_fmt(r['throughput_gain'])}x | {_fmt(r['energy_ratio_duplex_over_gpu'])} | "
                     f"{_fmt(opb[att]) if att else '-'} | {_fmt(opb[moe]) if moe else '-'} | "
                     f"{pl.get(att, '-') if att else '-'} | {pl.get(moe, '-') if moe else '-'} |")
    (out / "duplex" / "table.md").write_text("\n".join(lines) + "\n")
    from archsim.pim import duplex_serving  # under load on the serving simulator: under-load.json/.md

    duplex_serving.reproduce(out / "duplex")
