"""Edge-MoE (Sarkar et al., ICCAD 2023) on the ZCU102 running M3ViT: reproduction.

``archsim reproduce edge-moe`` writes ``summary.json`` and
``attention_bandwidth.html`` (off-chip bandwidth vs attention parallelism, naive vs reordered).

GPU baseline: the stack model of the batch-1 eager PyTorch M3ViT (:mod:`archsim.gpu.baselines_vit`) on
the H200 and H100 (the paper's GPU is unknown), validated against the measured runs of the same code;
the roofline of the same operators is kept for comparison.

Calibration vs validation: nothing here is fitted. The design parameters come from Edge-MoE's
public HLS (see :mod:`archsim.fpga.design`), the part from the zcu102 preset (datasheets),
the model from the m3vit preset (HLS); the paper's numbers are only compared against.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from archsim import presets
from archsim.api import simulate
from archsim.data import measurement
from archsim.fpga.backend import op_cycles, run_design
from archsim.fpga.baselines import cpu_comparison, gpu_comparison, gpu_stack
from archsim.fpga.design import UnifiedDesign, UnifiedDesignConfig
from archsim.fpga.device import FpgaPart
from archsim.lowering import lower
from archsim.schemas.workload import Workload

#: The paper's headline claims (abstract, arXiv 2305.18691): energy efficiency over GPU and CPU.
PAPER = {"energy_eff_vs_gpu": 2.24, "energy_eff_vs_cpu": 4.90}

#: Measured batch-1 PyTorch eager M3ViT on an H100 (``python -m archsim.campaigns.m3vit_gpu``,
#: 2026-11-23; see that file for the method). Not the paper's GPU (its model could not be read).
GPU_MEASUREMENT = measurement("h100", "edge-moe-m3vit-eager.json")
#: GPU of the stack-model baseline: the paper's GPU is unknown; the H200 is the GPU measured and calibrated
#: here (glue, host, power), the H100 the one with a committed M3ViT run
GPU_STACK = ("h200", "h100-sxm")


def measured_gpu(path: Path = GPU_MEASUREMENT) -> dict[str, Any] | None:
    """The fp32 row of the stored GPU measurement, or None when the file is absent."""
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    row = next(r for r in data["rows"] if r["dtype"] == "float32")
    return {"device": data["nvidia_smi"].split(",")[0], "date_utc": data["date_utc"], "torch": data["torch"],
            "latency_s": row["latency_s_median"], "power_w": row["power_w_mean_during_run"],
            "energy_j": row["energy_j_per_image"], "source": str(path.name)}


def workload() -> Workload:
    return Workload(name="m3vit-edge-moe", model="m3vit", phases=[{"phase": "prefill", "batch": 1}],
                    dtype="int16")


def attention_bandwidth_sweep(parallelisms: list[int], part_name: str = "zcu102") -> list[dict[str, Any]]:
    """Off-chip bandwidth the attention needs to run at full compute rate, and the latency the
    part's ports allow, for each parallelism P, naive vs reordered (one M3ViT attention layer)."""
    device = presets.load_hardware(part_name)
    part = FpgaPart.from_device(device)
    model = presets.load_model("m3vit")
    seq = model.vision.num_tokens  # type: ignore[union-attr]
    rows = []
    for p in parallelisms:
        for reordered in (False, True):
            cfg = UnifiedDesignConfig(attn_parallel=p, attention_reordering=reordered)
            design = UnifiedDesign(cfg, part)
            steps = design.attention("attention", seq, model.num_heads, model.dhead)
            # bandwidth need: bytes moved per compute cycle at full rate (no port limit)
            compute = sum(max(s.tokens * s.cycles_per_token for s in st.region.stages
                              if s.port is None) for st in steps)
            need = sum(st.offchip_bytes for st in steps) / compute * cfg.clock_hz
            cycles, _ = op_cycles(steps, cfg.clock_hz, event=False)
            rows.append({"parallelism": p, "scheme": "reordered" if reordered else "naive",
                         "required_bandwidth_bytes_per_s": need, "offchip_bytes": sum(s.offchip_bytes for s in steps),
                         "latency_s_on_part": cycles / cfg.clock_hz, "compute_bound_latency_s": compute / cfg.clock_hz})
    return rows


def patch_reordering(part_name: str = "zcu102") -> dict[str, float]:
    """One MoE layer's experts with and without Edge-MoE's patch reordering."""
    part = FpgaPart.from_device(presets.load_hardware(part_name))
    model = presets.load_model("m3vit")
    moe = model.moe
    assert moe is not None and model.vision is not None
    pairs = model.vision.num_tokens * moe.top_k
    out = {}
    for flag in (True, False):
        design = UnifiedDesign(UnifiedDesignConfig(patch_reordering=flag), part)
        steps = design.experts("moe", pairs, moe.num_experts, model.hidden_size, moe.expert_ffn_hidden_size)
        cycles, _ = op_cycles(steps, design.config.clock_hz, event=False)
        key = "reordered" if flag else "per_patch"
        out[f"{key}_latency_s"] = cycles / design.config.clock_hz
        out[f"{key}_weight_bytes"] = sum(s.offchip_bytes for s in steps if s.name.endswith("load_weights"))
    return out


def reproduce(out_dir: Path, event: bool = True) -> dict[str, Any]:
    wl = workload()
    device = presets.load_hardware("zcu102")
    model = presets.resolve_model(wl)
    ops = lower(wl, model)
    fpga = run_design(wl.name, device, ops, {"prefill": 1}, event=event)
    analytic = run_design(wl.name, device, ops, {"prefill": 1}, event=False)
    wl_gpu = wl.model_copy(update={"dtype": "fp16"})  # the GPU/CPU runs are floating point
    roof = gpu_comparison(wl_gpu)
    from archsim.gpu.baselines_vit import m3vit_forward, validate_m3vit
    soft = "PyTorch eager fp32 (campaigns/m3vit_gpu.py), batch 1"
    stack = {hw: gpu_stack(m3vit_forward(hw, model, 4), hw, soft) for hw in GPU_STACK}
    gpu = stack[GPU_STACK[0]]
    cpu = cpu_comparison(simulate(wl_gpu, "a100-sxm", backend="roofline"))
    e_fpga = fpga.energy_j
    summary: dict[str, Any] = {
        "workload": "M3ViT (Edge-MoE HLS configuration), 1 image 128x256, batch 1",
        "hardware": "zcu102", "backend": fpga.backend,
        "latency_s": fpga.latency_s, "fps": 1.0 / fpga.latency_s,
        "latency_s_analytic": analytic.latency_s,
        "event_vs_analytic_gap": fpga.latency_s / analytic.latency_s - 1.0,
        "energy_j_per_image": e_fpga, "average_power_w": e_fpga / fpga.latency_s,
        "energy_eff_vs_gpu": gpu["energy_j"] / e_fpga, "energy_eff_vs_cpu": cpu.energy_j / e_fpga,
        "gpu": gpu, "gpu_stack": stack,
        "energy_eff_vs_gpu_stack": {hw: c["energy_j"] / e_fpga for hw, c in stack.items()},
        "gpu_roofline": {"device": roof.device, "latency_s": roof.latency_s, "energy_j": roof.energy_j},
        "energy_eff_vs_gpu_roofline": roof.energy_j / e_fpga,
        "gpu_validation": validate_m3vit(model),
        "cpu": {"device": cpu.device, "latency_s": cpu.latency_s, "energy_j": cpu.energy_j},
        "gpu_measured_eager": measured_gpu(),
        "paper": PAPER,
        "ratio_ours_over_paper": {k: (gpu["energy_j"] / e_fpga if k.endswith("gpu") else cpu.energy_j / e_fpga) / v
                                  for k, v in PAPER.items()},
        "utilisation": fpga.peaks["utilisation"], "resources_used": fpga.peaks["resources_used"],
        "time_by_op_s": {o.name: o.total_time_s for o in fpga.ops},
        "patch_reordering": patch_reordering(),
        "attention_sweep": attention_bandwidth_sweep([1, 2, 4, 8, 16, 32]),
    }
    if summary["gpu_measured_eager"] is not None:
        summary["energy_eff_vs_gpu_measured_eager"] = summary["gpu_measured_eager"]["energy_j"] / e_fpga
    summary["energy_eff_vs_gpu_measured"] = {r["run_id"]: r["measured_energy_j"] / e_fpga
                                             for r in summary["gpu_validation"]}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    write_plot(summary["attention_sweep"], out_dir / "attention_bandwidth.html", device)
    return summary


def write_plot(rows: list[dict[str, Any]], path: Path, device: Any) -> None:
    import plotly.graph_objects as go

    fig = go.Figure()
    for scheme in ("naive", "reordered"):
        pts = [r for r in rows if r["scheme"] == scheme]
        fig.add_trace(go.Scatter(x=[r["parallelism"] for r in pts],
                                 y=[r["required_bandwidth_bytes_per_s"] / 1e9 for r in pts],
                                 mode="lines+markers", name=f"{scheme}: off-chip bandwidth needed"))
    part = FpgaPart.from_device(device)
    port = part.port_bytes_per_cycle(256) * device.clock_hz / 1e9
    fig.add_hline(y=port, line_dash="dot", annotation_text=f"one 128-bit HP port at 300 MHz ({port:.1f} GB/s)")
    fig.add_hline(y=device.offchip.bandwidth_bytes_per_s / 1e9, line_dash="dash",
                  annotation_text="PS DDR4 peak (17.1 GB/s)")
    fig.update_layout(title="Edge-MoE attention on ZCU102: off-chip bandwidth vs attention parallelism (M3ViT layer)",
                      xaxis_title="attention parallelism P (query rows in flight)", yaxis_title="GB/s",
                      xaxis_type="log", yaxis_type="log")
    fig.write_html(str(path), include_plotlyjs="cdn")
