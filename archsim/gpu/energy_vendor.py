"""FPGA/PIM presets against vendor-published power, and the paper studies that divide by a GPU energy.

Sections of ``reports/gpu-energy.md`` (:mod:`archsim.gpu.energy_report`): every vendor figure is a named
constant with its source; every model figure is computed from today's presets.
"""

from __future__ import annotations

#: vendor-published figures (quoted, not fitted): (value, unit, source)
VENDOR = {
    "hbm_pim_same_power_as_hbm2": (1.0, "x HBM2 power per chip at 2.4 Gb/s",
                                   "Samsung HBM-PIM, ISSCC 2021 (Tom's Hardware, 2021-02-17: 1.2 TFLOPS at 300 MHz, "
                                   "same power per chip, -71% system energy)"),
    "aim_system_power_reduction": (0.80, "system power reduction", "SK hynix GDDR6-AiM press release, 2022-02-16 "
                                   "(1.25 V; no absolute chip power published there)"),
    "k26_dpu_b3136_w": (7.9, "W overall at 300 MHz, 0.92 TOPS peak (estimated)",
                        "AMD Kria KV260 NLP-SmartVision docs, DPU B3136 (ZU5EV-class K26, not the ZCU102's ZU9EG)"),
}
K26_DPU = {"ops_per_s": 0.92e12, "ddr_read_b_per_s": 2.6e9, "ddr_write_b_per_s": 0.44e9}


def _fpga_studies() -> tuple[dict, dict]:
    """Edge-MoE's and SWAT's summaries as their reproductions compute them today (outputs to a scratch folder)."""
    import tempfile
    from pathlib import Path

    from archsim.fpga import edge_moe, swat
    with tempfile.TemporaryDirectory() as tmp:
        return edge_moe.reproduce(Path(tmp), event=False), swat.reproduce(Path(tmp), event=False)


def reproductions() -> list[str]:
    """Paper studies that divide by a GPU energy: paper / ours / ratio with today's presets and GPU baselines
    (PIM-GPT: :mod:`archsim.gpu.baselines`; Edge-MoE, SWAT: :mod:`archsim.gpu.baselines_vit`; stack model + board
    power model)."""
    from archsim.pim import reproduce as R
    pg = R.pimgpt_summary(R.pimgpt_rows())
    dx = R.duplex_summary(R.duplex_rows())
    em, sw = _fpga_studies()
    p1 = R.PAPER_PIMGPT["energy_eff_vs_gpu_v1"]
    g = em["gpu"]
    em_paper, sw_paper = em["paper"]["energy_eff_vs_gpu"], sw["paper"]["energy_eff_vs_gpu"]
    return ["| study | GPU side | paper | ours | ours / paper |", "|---|---|---|---|---|",
            f"| PIM-GPT energy efficiency vs GPU | {pg['gpu_model']}; energy: the board power model of the preset "
            f"(archsim.gpu.power) | {p1[0]}x..{p1[1]}x (v1) | {pg['energy_eff_vs_gpu_min']:.1f}x.."
            f"{pg['energy_eff_vs_gpu_max']:.1f}x | {pg['energy_eff_vs_gpu_min'] / p1[0]:.2f}.."
            f"{pg['energy_eff_vs_gpu_max'] / p1[1]:.2f} |",
            f"| Duplex energy per iteration, Duplex / GPU-only | h100-sxm preset: the power model (H200 fit carried "
            f"over) | lower (no value published) | {dx['energy_ratio_min']:.2f}..{dx['energy_ratio_max']:.2f} | – |",
            f"| Edge-MoE energy efficiency vs GPU | stack model of batch-1 eager M3ViT on the {g['device']} "
            f"({g['software']}): {g['latency_s'] * 1e3:.1f} ms, {g['energy_j']:.2f} J, {g['avg_power_w']:.0f} W, "
            f"{g['regime']} | {em_paper}x | {em['energy_eff_vs_gpu']:.1f}x | "
            f"{em['energy_eff_vs_gpu'] / em_paper:.1f} |",
            f"| SWAT energy efficiency vs GPU | stack model on the {sw['gpu']['device']} ({sw['gpu']['software']}), "
            f"best over N = 1K..16K | {sw_paper}x | {sw['energy_eff_vs_gpu']:.2f}x | "
            f"{sw['energy_eff_vs_gpu'] / sw_paper:.2f} |"]


def vendor_section() -> tuple[list[str], dict]:
    """FPGA/PIM presets against vendor-published board/chip power (where one exists)."""
    from archsim.pim import device, gemv
    from archsim.presets import load_hardware
    out, data = [], {}
    pim = load_hardware("hbm2-pim")
    dram = pim.memory["dram"]
    normal_w = pim.static_power_w + dram.bandwidth_bytes_per_s * dram.read_energy_j_per_byte
    timing = gemv.timed(device.resolve(pim), 4096, 4096)  # what `archsim microbench pim` prints
    pim_w = timing.energy_j / timing.time_s
    data["hbm2_pim"] = {"pim_mode_w": pim_w, "normal_mode_w": normal_w, "ratio": pim_w / normal_w}
    zcu = load_hardware("zcu102")
    ddr = zcu.memory["ddr"]
    zcu_w = zcu.static_power_w + K26_DPU["ops_per_s"] * zcu.compute.matrix_energy_j_per_flop["int8"] + \
        (K26_DPU["ddr_read_b_per_s"] + K26_DPU["ddr_write_b_per_s"]) * ddr.read_energy_j_per_byte
    data["zcu102_at_k26_dpu_rate_w"] = zcu_w
    v = VENDOR
    out += ["| preset | what the model gives | vendor figure | ours / vendor | note |", "|---|---|---|---:|---|",
            f"| hbm2-pim | PIM-mode GEMV 4096x4096 (`archsim microbench pim`): {pim_w:.1f} W; normal mode at full "
            f"external bandwidth (static + 307 GB/s x {dram.read_energy_j_per_byte * 1e12:.1f} pJ/B): {normal_w:.1f} W "
            f"| {v['hbm_pim_same_power_as_hbm2'][0]:.1f} {v['hbm_pim_same_power_as_hbm2'][1]} | "
            f"{pim_w / normal_w:.2f} | {v['hbm_pim_same_power_as_hbm2'][2]} |",
            f"| zcu102 | static {zcu.static_power_w:.1f} W + 0.92 TOP/s x "
            f"{zcu.compute.matrix_energy_j_per_flop['int8'] * 1e12:.2f} pJ + DPU DDR traffic (3.0 GB/s x "
            f"{ddr.read_energy_j_per_byte * 1e12:.0f} pJ/B) = {zcu_w:.1f} W | {v['k26_dpu_b3136_w'][0]} "
            f"{v['k26_dpu_b3136_w'][1]} | {zcu_w / v['k26_dpu_b3136_w'][0]:.2f} | {v['k26_dpu_b3136_w'][2]} |",
            f"| aim-gddr6 | preset energies (assumptions, see the preset) | -{v['aim_system_power_reduction'][0]:.0%} "
            f"{v['aim_system_power_reduction'][1]} | – | {v['aim_system_power_reduction'][2]}: nothing absolute to "
            "compare |"]
    return out, data
