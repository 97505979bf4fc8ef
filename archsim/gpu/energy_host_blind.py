"""Blind host-bound power round (issue 22): points fixed and predicted before the H200 measured them.

Issue 22's target "average power within 10 % for host-bound runs" rested on 11 runs, 8 of them from one
campaign on one board. This round was made the other way round, as the blind whole-model rounds of issue 16
(:mod:`archsim.gpu.wholemodel_blind`): :data:`POINTS` (shapes none of the earlier power campaigns ran: a
3072-wide 6-layer stack, one 8192-wide layer, a 2560-wide stack at batch 2 over 4096 tokens, a 16-layer
2048-wide stack, eager prefills of 16-128 tokens, HF GPT-2 large eager and small SDPA ``generate``, GEMMs
followed by host waits) were written first, :func:`write_predictions` priced every point with the model as
it stood and the file was committed (``power-h200-host-blind-predictions-2026-12-01.json``, with the commit
it was made at), then ``campaigns/power_host.py`` measured the points listed in that file, each in two passes
(forward, then reverse order) with a host-speed probe before and after every NVML window.

:func:`compare` reports, per measured window, the committed prediction and the current model's, and the
host state the probe saw (the device machine's CPU has two speed states ~1.9x apart per layer,
``campaigns/host_width.py``): it separates the host model's time error from the power model's error.
Nothing in this module or the model is fitted to these rows.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

from archsim.errors import ConfigError

PREDICTIONS = "power-h200-host-blind-predictions-2026-12-01.json"
MEASURED = "power-h200-host-blind-2026-12-01.csv"
#: Python-loop probe (us per 100k iterations, ``campaigns/host_dispatch.speed_probe``) below which the host is
#: in its fast state and above which in its slow state: fast probes read 2540-3311 us, slow 4470-5729 us in the
#: calibration campaigns' meta files (h200-host-meta, h200-hw-meta, h200-hw-smoke-meta, 2026-12-01)
FAST_PROBE_US, SLOW_PROBE_US = 3700.0, 4200.0


def _ml(tag: str, hidden: int, heads: int, ffn: int, layers: int, phase: str, batch: int, seq_q: int, seq_kv: int,
        mode: str) -> dict:
    return {"bench": f"{tag}_l{layers}_{phase}_b{batch}_q{seq_q}_ctx{seq_kv}_{mode}", "kind": "model", "model": tag,
            "hidden": hidden, "heads": heads, "ffn": ffn, "phase": phase, "layers": layers, "batch": batch,
            "seq_q": seq_q, "seq_kv": seq_kv, "mode": mode}


def _points() -> list[dict]:
    shapes = (  # tag, hidden, heads, ffn, layers, phase, batch, seq_q, seq_kv (prefill: seq_kv = seq_q)
        ("l3b", 3072, 24, 8192, 6, "decode", 1, 1, 1024), ("l3b", 3072, 24, 8192, 6, "decode", 16, 1, 512),
        ("l8k", 8192, 64, 28672, 1, "decode", 1, 1, 2048), ("l2b", 2560, 20, 6912, 6, "decode", 2, 1, 4096),
        ("l1b", 2048, 16, 5632, 16, "decode", 1, 1, 512), ("l7b", 4096, 32, 11008, 2, "decode", 32, 1, 1024),
        ("l7b", 4096, 32, 11008, 4, "prefill", 1, 16, 16), ("l1b", 2048, 16, 5632, 8, "prefill", 1, 128, 128),
        ("l3b", 3072, 24, 8192, 6, "prefill", 2, 32, 32))
    pts = [_ml(*s, mode) for s in shapes for mode in ("eager", "graph")]
    pts += [{"bench": f"{m}_generate_b1_t{t}_{attn}", "kind": "generate", "model": m, "hidden": h, "layers": n,
             "heads": nh, "attn": attn, "batch": 1, "new_tokens": t, "mode": "eager"}
            for m, h, n, nh, attn, t in (("gpt2-large", 1280, 36, 20, "eager", 48),
                                         ("gpt2-small", 768, 12, 12, "sdpa", 96))]
    pts += [{"bench": f"gemm_bf16_m{m}_n{n}_k{k}_then_{g * 1e6:.0f}us_spin", "kind": "gemm_gap", "dtype": "bf16",
             "m": m, "n": n, "k": k, "gap_s": g, "flops": 2.0 * m * n * k}
            for m, n, k, g in ((8192, 8192, 8192, 1e-3), (8, 8192, 8192, 2e-4), (4096, 4096, 4096, 5e-4))]
    return pts


#: the round's points (campaign rows carry these columns; the campaign reads them from the committed file)
POINTS = _points()


def _as_row(p: dict) -> dict:
    """A point as a campaign CSV row (strings, as :func:`archsim.gpu.power_fit.read_power_csv` returns them)."""
    return {k: str(v) for k, v in p.items()}


def generate_pred(r: dict) -> tuple[dict, str]:
    """Prediction per token of an HF GPT-2 ``generate`` row at its attention implementation; regime from the
    row's measured kernel sum per token when it has one (the campaign profiles one call), else ``unmeasured``."""
    from archsim.gpu.baselines import gpt2_generate
    from archsim.gpu.power_validation import HOST_BOUND_RATIO
    from archsim.presets import load_model
    tokens = int(r["new_tokens"])
    c = gpt2_generate("h200", load_model(r["model"]), tokens, r.get("attn") or "eager").scaled(1.0 / tokens)
    pred = {"modeled_wall_s": c.wall_s, "modeled_gpu_s": c.gpu_s, "modeled_dynamic_j": c.dynamic_j,
            "modeled_energy_j": c.energy_j}
    if not r.get("step_s") or not r.get("kernel_sum_s_per_token"):
        return pred, "unmeasured"
    busy = float(r["kernel_sum_s_per_token"])
    return pred, "host" if float(r["step_s"]) > HOST_BOUND_RATIO * busy else "memory"


EXTRA = {"generate": generate_pred}


def predict_points(cal) -> list[dict]:
    """The model's wall, GPU time, energy and average power of every point (one step / one token)."""
    from archsim.gpu.power_validation import EnergyPricer, predict_row
    pricer = EnergyPricer(cal)
    out = []
    for p in POINTS:
        got = predict_row(_as_row(p), cal, pricer, EXTRA)
        if got is None:
            raise ConfigError.single(f"blind point {p['bench']}: kind {p['kind']!r} is not priced", key_path="kind")
        pred, _ = got
        out.append({"bench": p["bench"], **{k: pred[k] for k in ("modeled_wall_s", "modeled_gpu_s",
                                                                 "modeled_dynamic_j", "modeled_energy_j",
                                                                 "modeled_power_w")}})
    return out


def write_predictions(path: Path) -> Path:
    """Write the points and the model's predictions with the commit they were made at."""
    from archsim.gpu.devices import device_calibration
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = ""
    doc = {"what": "blind host-bound power predictions, committed before measurement (archsim.gpu.energy_host_blind)",
           "date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "model_commit": commit,
           "device": "h200", "calibration": "own", "points": POINTS,
           "predictions": predict_points(device_calibration("h200", "own"))}
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return path


def committed() -> dict:
    """The committed prediction file (points, predictions, the commit they were made at)."""
    from archsim.data import measurement
    path = measurement("h200", PREDICTIONS)
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError.single(f"cannot read the committed blind predictions {path}: {e}", file=str(path)) from None


def host_state(r: dict) -> str:
    """``fast`` / ``slow`` when both probes around the window agree, else ``changed``."""
    try:
        probes = [float(r["probe_before_us"]), float(r["probe_after_us"])]
    except (KeyError, ValueError):
        return "unknown"
    if all(p < FAST_PROBE_US for p in probes):
        return "fast"
    if all(p > SLOW_PROBE_US for p in probes):
        return "slow"
    return "changed"


if __name__ == "__main__":  # python -m archsim.gpu.energy_host_blind OUT.json: (re)write the prediction file
    import sys
    print(write_predictions(Path(sys.argv[1])))
