"""SWAT (Bai et al., DAC 2024): sliding-window attention on an Alveo HBM FPGA, vs a baseline.

``archsim reproduce swat`` writes ``summary.json`` and ``swat.html``.

SWAT design (as the paper's abstract and section titles describe it): one fused row-wise
kernel (Q.K -> softmax -> S.V per query row, no score matrix off-chip); input-stationary: the
window's K/V rows stay in distributed BRAM, so each new query row brings one new K/V row from
HBM; ``lanes`` MAC lanes spread over the window (distributed BRAM/DSP columns).
Baseline FPGA design: the same MAC lanes running dense attention as separate kernels
(Q.K^T over all N x N pairs, scores written to HBM, softmax pass, S.V), masking after.
Both run one attention layer of ``heads`` heads of ``head_dim``; int16 operands (1 DSP per MAC).

Assumptions (inputs, none fitted): window 512 (Longformer's default), 12 heads x 64, 2,048 MAC
lanes per design (QK and SV units of 1,024 each), 300 MHz; the part is the alveo-u280 preset
(the paper's own part could not be read from the stored sources; U280 and U55C share the
XCU280-class fabric). GPU (the paper's GPU and software are unknown): the stack model of the layer as a
PyTorch user writes it, SDPA with a boolean band mask, batch 1, on the H200 (:mod:`archsim.gpu.baselines_vit`;
measured there too, ``h200-bl-swat-2026-12-01.csv``); the roofline of a fused windowed attention on
a100-sxm (the previous baseline) is kept for comparison.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archsim import presets
from archsim.backends.roofline import evaluate_op
from archsim.fpga.baselines import GPU_IDLE_POWER_W
from archsim.fpga.device import Design, FpgaPart, Resources, bram_for_array, check_fit, mac_array
from archsim.fpga.regions import AxiPort, Fifo, HlsRegion, Stage
from archsim.operators import Attention, Role

PAPER = {"latency_speedup_vs_baseline_max": 22.0, "energy_eff_vs_baseline_max": 5.7, "energy_eff_vs_gpu": 15.0}


@dataclass(frozen=True)
class SwatConfig:
    window: int = 512
    heads: int = 12
    head_dim: int = 64
    lanes_per_unit: int = 1024
    clock_hz: float = 300e6
    elem_bytes: int = 2
    hbm_ports: int = 16


def swat_design(cfg: SwatConfig, part: FpgaPart) -> Design:
    d = Design("swat")
    d.add("qk_unit", mac_array(cfg.lanes_per_unit, 16, 16, 32))
    d.add("sv_unit", mac_array(cfg.lanes_per_unit, 16, 16, 32))
    # K and V windows of one head, stationary, split over lanes/head_dim BRAM columns
    cols = max(1, cfg.lanes_per_unit // cfg.head_dim)
    d.add("kv_window_bram", Resources(bram_36k=2 * bram_for_array(cfg.head_dim * 16, cfg.window, cols)))
    d.add("softmax_rows", Resources(dsp=cols * 7, lut=cols * 2300, ff=cols * 2500))
    d.add("hbm_axi", Resources(axi_ports=cfg.hbm_ports, lut=cfg.hbm_ports * 3000, ff=cfg.hbm_ports * 4500))
    return d


def _ports(cfg: SwatConfig, part: FpgaPart) -> list[AxiPort]:
    rate = part.port_bytes_per_cycle(256, cfg.clock_hz) * cfg.hbm_ports / 2  # half the ports read, half write
    return [AxiPort("read", rate, 64), AxiPort("write", rate, 64)]


def swat_cycles(seq: int, cfg: SwatConfig, part: FpgaPart, event: bool) -> tuple[float, float, float]:
    """Cycles, MACs and HBM bytes of one layer's window attention on SWAT."""
    keys = min(cfg.window, seq)
    row = cfg.head_dim * cfg.elem_bytes
    rows = seq * cfg.heads
    tokens = min(rows, 128)
    per = rows / tokens
    per_row = math.ceil(keys * cfg.head_dim / cfg.lanes_per_unit)
    stages = [
        Stage("read_qkv", tokens, per * 3 * row / 64, 4, outputs=("in",), port="read",
              offchip_bytes_per_token=per * 3 * row),
        Stage("qk", tokens, per * per_row, 16, inputs=("in",), outputs=("s",)),
        Stage("softmax", tokens, per * math.ceil(keys / max(1, cfg.lanes_per_unit // cfg.head_dim)), 30,
              inputs=("s",), outputs=("p",)),
        Stage("sv", tokens, per * per_row, 16, inputs=("p",), outputs=("o",)),
        Stage("write_o", tokens, per * row / 64, 4, inputs=("o",), port="write", offchip_bytes_per_token=per * row),
    ]
    region = HlsRegion("swat_row", stages, [Fifo(f, 4) for f in ("in", "s", "p", "o")], _ports(cfg, part))
    cycles = region.simulate(cfg.clock_hz).cycles if event else region.analytic_cycles()
    macs = 2 * rows * keys * cfg.head_dim
    return cycles, macs, rows * 4 * row


def baseline_cycles(seq: int, cfg: SwatConfig, part: FpgaPart) -> tuple[float, float, float]:
    """Dense attention on the same MAC budget: QK^T, softmax, SV as separate kernels, scores in HBM.

    The kernels run one after another, so each gets the whole budget (2 x ``lanes_per_unit``
    MACs, as SWAT's QK + SV units together). Before 2026-11-23 each kernel used only one unit's
    lanes, leaving half the baseline's MACs idle: a 2x error in the baseline's latency.
    """
    rate = _ports(cfg, part)[0].bytes_per_cycle
    row = cfg.head_dim * cfg.elem_bytes
    pairs = seq * seq * cfg.heads
    lanes = 2 * cfg.lanes_per_unit
    qk = pairs * cfg.head_dim / lanes
    score_bytes = pairs * cfg.elem_bytes
    qk = max(qk, score_bytes / rate)                      # scores written
    softmax = 2 * score_bytes / rate                      # read scores, write probabilities
    sv = max(pairs * cfg.head_dim / lanes, score_bytes / rate)
    # K (for QK) and V (for SV) re-read per block of queries held on chip (1 query block of 512 rows)
    kv_reads = 2 * math.ceil(seq / 512) * seq * cfg.heads * row
    return qk + softmax + sv + kv_reads / rate, 2 * pairs * cfg.head_dim, 4 * score_bytes + kv_reads


GPU_STACK = "h200"


def gpu_layer_stack(seq: int, cfg: SwatConfig, gpu: str = GPU_STACK) -> dict[str, Any]:
    """One layer as SDPA with a band mask under the stack model (wall, energy, regime)."""
    from archsim.fpga.baselines import gpu_stack
    from archsim.gpu.baselines_vit import window_attention
    cost = window_attention(gpu, seq, cfg.window, cfg.heads, cfg.head_dim)
    return gpu_stack(cost, gpu, "PyTorch SDPA with a boolean band mask (dense cuDNN attention + bias), fp16")


def gpu_layer(seq: int, cfg: SwatConfig, gpu: str = "a100-sxm") -> tuple[float, float]:
    """The roofline comparison (a fused windowed kernel at peak, no host time)."""
    device = presets.load_hardware(gpu)
    op = Attention(name="window_attention", role=Role.ATTENTION, phase="prefill", dtype="fp16", batch=1,
                   heads=cfg.heads, kv_heads=cfg.heads, seq_q=seq, seq_kv=seq, head_dim=cfg.head_dim, causal=False,
                   window=cfg.window, algorithm="swat")
    r = evaluate_op(op, device)
    return r.time_s, r.energy_j + GPU_IDLE_POWER_W * r.time_s


def reproduce(out_dir: Path, seq_lens: tuple[int, ...] = (1024, 2048, 4096, 8192, 16384), event: bool = True,
              cfg: SwatConfig = SwatConfig()) -> dict[str, Any]:
    device = presets.load_hardware("alveo-u280")
    part = FpgaPart.from_device(device)
    util = check_fit(swat_design(cfg, part), part)
    e_mac, e_hbm, p_static = part.mac_energy_j, part.offchip_energy_j_per_byte, part.static_power_w
    rows = []
    for n in seq_lens:
        c_s, m_s, b_s = swat_cycles(n, cfg, part, event)
        c_b, m_b, b_b = baseline_cycles(n, cfg, part)
        t_s, t_b = c_s / cfg.clock_hz, c_b / cfg.clock_hz
        e_s = m_s * e_mac + b_s * e_hbm + p_static * t_s
        e_b = m_b * e_mac + b_b * e_hbm + p_static * t_b
        t_r, e_r = gpu_layer(n, cfg)
        g = gpu_layer_stack(n, cfg)
        rows.append({"seq_len": n, "swat_latency_s": t_s, "baseline_latency_s": t_b, "gpu_latency_s": g["latency_s"],
                     "swat_energy_j": e_s, "baseline_energy_j": e_b, "gpu_energy_j": g["energy_j"],
                     "gpu_regime": g["regime"], "gpu_busy_s": g["gpu_busy_s"], "gpu_avg_power_w": g["avg_power_w"],
                     "latency_speedup_vs_baseline": t_b / t_s, "energy_eff_vs_baseline": e_b / e_s,
                     "energy_eff_vs_gpu": g["energy_j"] / e_s, "gpu_roofline_latency_s": t_r,
                     "gpu_roofline_energy_j": e_r, "energy_eff_vs_gpu_roofline": e_r / e_s})
    summary = {
        "workload": f"one attention layer, {cfg.heads} heads x {cfg.head_dim}, window {cfg.window}, batch 1",
        "hardware": "alveo-u280", "config": cfg.__dict__, "utilisation": util,
        "latency_speedup_vs_baseline_max": max(r["latency_speedup_vs_baseline"] for r in rows),
        "energy_eff_vs_baseline_max": max(r["energy_eff_vs_baseline"] for r in rows),
        "energy_eff_vs_gpu": max(r["energy_eff_vs_gpu"] for r in rows),
        "energy_eff_vs_gpu_roofline": max(r["energy_eff_vs_gpu_roofline"] for r in rows),
        "gpu": {"device": GPU_STACK, "software": "PyTorch SDPA, boolean band mask, fp16, batch 1",
                "model": "archsim.gpu.baselines_vit (stack model; power: archsim.gpu.power)"},
        "gpu_validation": _validation(),
        "paper": PAPER, "rows": rows,
    }
    e_s_by_n = {r["seq_len"]: r["swat_energy_j"] for r in rows}
    summary["energy_eff_vs_gpu_measured"] = {v["seq_len"]: v["measured_energy_j"] / e_s_by_n[v["seq_len"]]
                                             for v in summary["gpu_validation"] if v["seq_len"] in e_s_by_n}
    summary["ratio_ours_over_paper"] = {k: summary[k] / v for k, v in PAPER.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    _plot(rows, out_dir / "swat.html")
    return summary


def _validation() -> list[dict[str, Any]]:
    from archsim.gpu.baselines_vit import validate_window_attention
    return validate_window_attention()


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    import plotly.graph_objects as go

    fig = go.Figure()
    x = [r["seq_len"] for r in rows]
    for key, name in (("latency_speedup_vs_baseline", "latency speedup vs baseline FPGA"),
                      ("energy_eff_vs_baseline", "energy efficiency vs baseline FPGA"),
                      ("energy_eff_vs_gpu", "energy efficiency vs GPU (h200, SDPA band mask, stack model)"),
                      ("energy_eff_vs_gpu_roofline", "energy efficiency vs GPU (a100-sxm roofline)")):
        fig.add_trace(go.Scatter(x=x, y=[r[key] for r in rows], mode="lines+markers", name=name))
    fig.update_layout(title="SWAT on alveo-u280 (model) vs sequence length", xaxis_title="sequence length",
                      yaxis_title="ratio (x)", xaxis_type="log")
    fig.write_html(str(path), include_plotlyjs="cdn")
