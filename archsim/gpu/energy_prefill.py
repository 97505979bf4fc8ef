"""A prefill step's kernel groups at boost clock (``campaigns/power_prefill.py``, calibration; issue 22).

The campaign ran ``power.MiniLlama``'s prefill as one CUDA graph with the GEMMs, the eager glue or the attention
switched off (five shapes none of the blind rounds ran). :func:`rows` pairs every measured window with the model's
prediction of the same kernels (:func:`archsim.gpu.power_validation.mini_llama_sequence` filtered by category,
priced under the board's slow controller, :func:`archsim.gpu.power_validation.at_window_limit`). Two model rules
were calibrated on these rows: the window clock (the GEMMs alone ran power-capped at 1440-1740 MHz, the same GEMMs
between the glue kernels at 1890-1980 MHz) and the L2-resident glue energy (the class's J/B less ``e_hbm``, an
operation's class being the kernel template it launches). The ``glue`` variant runs 23 kernels per layer, not the
full list's 32 (:func:`variant_items`); until this was read from the campaign's code the rows were compared with
the full list, and the glue model looked 1.3-1.7x slow and its energy right.
"""

from __future__ import annotations

from archsim.data import measurement

PARTS_CSV = "power-h200-prefill-parts-2026-12-01.csv"
#: campaign variant -> the kernel categories of ``mini_llama_sequence`` it ran
CATEGORIES = {"all": {"gemm", "norm", "rotary", "elementwise", "attention"}, "gemm": {"gemm"},
              "glue": {"norm", "rotary", "elementwise"}, "attn": {"attention"}}


def variant_items(seq: list, variant: str) -> list:
    """The kernels of ``seq`` (a ``mini_llama_sequence``) that the campaign's ``PartsLlama.forward_parts`` ran in
    ``variant``. Read from its code: with the GEMMs off, the second RMSNorm is the argument of the gate/up
    ``F.linear`` that is not called (``F.linear(self._rms(x, w["n2"]) ...) if "gemm" in on else spare``), so the
    ``glue`` variant runs the first RMSNorm, both rotaries, SiLU, mul and the two residual adds, not ``norm2_``
    (its profiled kernels: 23 per layer, the full list's 32 less RMSNorm's 9)."""
    return [it for it in seq if it.category in CATEGORIES[variant]
            and not (variant == "glue" and it.name.startswith("norm2_"))]


def rows(cal) -> list[dict]:
    """One dict per measured window (variants ``none`` left out): shape, variant, pass, measured and modelled step
    time, dynamic energy (board energy less the model's static power over the step) and the window clock."""
    from archsim.gpu.power_fit import read_power_csv
    from archsim.gpu.power_validation import EnergyPricer, mini_llama_sequence, predict_sequence
    from archsim.gpu.stacks import Step
    pricer = EnergyPricer(cal)
    static = pricer.power.static_w
    out = []
    for r in read_power_csv(measurement("h200", PARTS_CSV)):
        if r["set"] != "calibration" or r.get("variant") not in CATEGORIES:
            continue
        hid, heads, ffn, layers, batch, seq = (int(r[k]) for k in ("hidden", "heads", "ffn", "layers", "batch",
                                                                    "seq_q"))
        items = variant_items(mini_llama_sequence(layers, Step(phase="prefill", batch=batch, seq_len=seq, context=0),
                                                  hid, heads, ffn, context=seq), r["variant"])
        pred = predict_sequence(items, "cuda-graph", cal, pricer, None, "prefill", layers, back_to_back=True)
        t, e = float(r["step_s"]), float(r["energy_per_step_j"])
        out.append({"shape": r["model"], "variant": r["variant"], "pass": r["pass"], "measured_s": t,
                    "modeled_s": pred["modeled_wall_s"], "measured_dyn_j": e - static * t,
                    "modeled_dyn_j": pred["modeled_dynamic_j"], "sm_clock_mhz": float(r["sm_clock_mhz"]),
                    "window_mhz": pred["window_clock_fraction"] * cal.rates.clock_hz / 1e6,
                    "measured_power_w": float(r["avg_power_w"]), "modeled_power_w": pred["modeled_power_w"],
                    "modeled_kernels": len(items), "measured_kernels": int(float(r["kernels_per_replay"] or 0)),
                    "measured_kernel_s": float(r["kernel_us_per_replay"] or 0.0) * 1e-6,
                    "modeled_gpu_s": pred["modeled_gpu_s"]})
    return out


def markdown(cal) -> list[str]:
    """The report's table: per window, measured vs modelled dynamic energy and time, clocks."""
    got = rows(cal)
    md = ["| shape | variant | pass | kernels model / profiled | NVML MHz | model window MHz | measured W | model W | "
          "dyn energy model/meter | step time model/meter | kernel time model/profiler |",
          "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    md += [f"| {r['shape']} | {r['variant']} | {r['pass']} | {r['modeled_kernels']} / {r['measured_kernels']} | "
           f"{r['sm_clock_mhz']:.0f} | {r['window_mhz']:.0f} | "
           f"{r['measured_power_w']:.0f} | {r['modeled_power_w']:.0f} | "
           f"{r['modeled_dyn_j'] / r['measured_dyn_j']:.2f} | "
           f"{r['modeled_s'] / r['measured_s']:.2f} | {r['modeled_gpu_s'] / r['measured_kernel_s']:.2f} |" for r in got]
    by: dict[str, list[float]] = {}
    for r in got:
        by.setdefault(r["variant"], []).append(r["modeled_dyn_j"] / r["measured_dyn_j"])
    md += ["", "Dynamic energy, model over meter, by variant: " + "; ".join(
        f"{v} {min(x):.2f}-{max(x):.2f} (mean {sum(x) / len(x):.2f}, n={len(x)})" for v, x in by.items()) + "."]
    return md
