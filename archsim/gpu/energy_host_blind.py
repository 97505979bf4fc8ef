"""Blind host-bound power round (issue 22): points fixed and predicted before the H200 measured them.

Issue 22's target "average power within 10 % for host-bound runs" rested on 11 runs, 8 of them from one
campaign on one board. This round was made the other way round, as the blind whole-model rounds of issue 16
(:mod:`archsim.gpu.wholemodel_blind`): :data:`POINTS` (shapes none of the earlier power campaigns ran: a
3072-wide 6-layer stack, one 8192-wide layer, a 2560-wide stack at batch 2 over 4096 tokens, a 16-layer
2048-wide stack, eager prefills of 16-128 tokens, HF GPT-2 large eager and small SDPA ``generate``, GEMMs
followed by host waits) were written first, :func:`write_predictions` priced every point with the model as
it stood and the file was committed (``power-h200-host-blind-predictions-2026-12-01.json``, with the commit
it was made at), then ``campaigns/power_host.py`` measured the points listed in that file (twice:
:data:`RUNS`), each in two passes (forward, then reverse order) with a host-speed probe before and after
every NVML window.

:func:`compare` reports, per measured window, the committed prediction and the current model's, and the
host state the probe saw (the device machine's CPU has two speed states ~1.9x apart per layer,
``campaigns/host_width.py``): it separates the host model's time error from the power model's error.
Nothing in this module or the model is fitted to these rows.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
from pathlib import Path

from archsim.errors import ConfigError

PREDICTIONS = "power-h200-host-blind-predictions-2026-12-01.json"
#: the measured runs of the round: name -> (CSV, meta JSON). ``r1`` ran right after the predictions were committed;
#: ``r2`` (the same campaign on a fresh device machine) ran after the two post-fix model changes that ``r1`` showed
#: (named in :func:`section`), so both its columns, the committed prediction and the model now, are blind
RUNS = {"r1": ("power-h200-host-blind-2026-12-01.csv", "power-h200-host-blind-meta-2026-12-01.json"),
        "r2": ("power-h200-host-blind-r2-2026-12-01.csv", "power-h200-host-blind-r2-meta-2026-12-01.json")}
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


def _round_points(shapes: tuple, generate: tuple, gemms: tuple) -> list[dict]:
    """A later round's points: MiniLlama ``shapes`` (``_ml`` arguments but the mode; each eager and graph), one HF
    GPT-2 ``generate`` (model, hidden, layers, heads, attention, new tokens) and ``gemms`` (m, n, k, host gap s)."""
    pts = [_ml(*sh, mode) for sh in shapes for mode in ("eager", "graph")]
    m, h, n, nh, attn, t = generate
    pts.append({"bench": f"{m}_generate_b1_t{t}_{attn}", "kind": "generate", "model": m, "hidden": h, "layers": n,
                "heads": nh, "attn": attn, "batch": 1, "new_tokens": t, "mode": "eager"})
    pts += [{"bench": f"gemm_bf16_m{m}_n{n}_k{k}_then_{g * 1e6:.0f}us_spin", "kind": "gemm_gap", "dtype": "bf16",
             "m": m, "n": n, "k": k, "gap_s": g, "flops": 2.0 * m * n * k} for m, n, k, g in gemms]
    return pts


def _later_round(tag: str, run_prefix: str, points: list[dict]) -> tuple[list[dict], str, dict]:
    """A later round's (points, committed prediction file, measured runs): ``power-h200-energy-blind-<tag>-*`` files,
    two runs on one device machine named ``<run_prefix>1`` and ``<run_prefix>2`` (the second's files ``-r2-``)."""
    stem, date = f"power-h200-energy-blind-{tag}", ROUND_DATES.get(tag, "2026-12-01")
    return points, f"{stem}-predictions-{date}.json", {
        f"{run_prefix}1": (f"{stem}-{date}.csv", f"{stem}-meta-{date}.json"),
        f"{run_prefix}2": (f"{stem}-r2-{date}.csv", f"{stem}-r2-meta-{date}.json")}


#: the date in a later round's file names where it is not 2026-12-01
ROUND_DATES = {"probe": "2026-12-02"}
#: the later rounds: name -> (run-name prefix, MiniLlama shapes (``_ml`` arguments but the mode; each eager and
#: graph), one HF GPT-2 ``generate`` (model, hidden, layers, heads, attention, new tokens), GEMMs (m, n, k, host gap
#: s), report text: the model change it came after and its points). Each round's widths, token counts and batches
#: are ones no earlier round or calibration campaign ran; each round was priced and committed before
#: ``campaigns/power_host.py --points`` measured it twice.
LATER_ROUNDS: dict[str, tuple] = {
    "vf": ("v",
        (("l2b", 2560, 20, 6912, 6, "prefill", 1, 96, 96), ("l13b", 5120, 40, 13824, 2, "prefill", 1, 48, 48),
         ("l7b", 4096, 32, 11008, 2, "prefill", 1, 256, 256), ("l15b", 1536, 12, 4096, 8, "prefill", 4, 64, 64),
         ("l8k", 8192, 64, 28672, 1, "prefill", 1, 24, 24), ("l1b", 2048, 16, 5632, 4, "prefill", 1, 512, 512),
         ("l13b", 5120, 40, 13824, 2, "decode", 8, 1, 1024), ("l2b", 2560, 20, 6912, 4, "decode", 48, 1, 512)),
        ("gpt2-medium", 1024, 24, 16, "sdpa", 64),
        ((2048, 8192, 8192, 5e-4), (64, 16384, 4096, 1e-4), (1024, 1024, 1024, 5e-5)),
        "after the voltage line: MiniLlama prefills 2560-wide x 96 tokens, 5120 x 48, 4096 x 256, 1536 at batch 4"
        " x 64, one 8192-wide layer x 24, 2048 x 512; decode 5120-wide at batch 8 over 1024 and 2560-wide at "
        "batch 48 over 512; each eager and graph; GPT-2 medium SDPA `generate`; GEMMs 2048x8192x8192, "
        "64x16384x4096 and 1024^3 followed by host spins"),
    "window": ("w",
        (("w2816", 2816, 22, 7552, 5, "prefill", 1, 128, 128), ("w4608", 4608, 36, 12288, 2, "prefill", 2, 96, 96),
         ("w1792", 1792, 14, 4864, 10, "prefill", 1, 224, 224), ("w7168", 7168, 56, 19200, 1, "prefill", 1, 40, 40),
         ("w4608", 4608, 36, 12288, 2, "decode", 16, 1, 768), ("w1792", 1792, 14, 4864, 10, "decode", 4, 1, 2048)),
        ("gpt2-xl", 1600, 48, 25, "sdpa", 32),
        ((3072, 6144, 6144, 3e-4), (32, 28672, 8192, 1.5e-4), (512, 2048, 2048, 3e-5)),
        "after the window clock and the L2-resident glue rule: prefills 2816-wide x 128, 4608 at batch 2 x 96, "
        "1792 x 224, one 7168-wide layer x 40; decode 4608-wide at batch 16 over 768 and 1792-wide at batch 4 "
        "over 2048; eager and graph; GPT-2 XL SDPA `generate`; GEMMs 3072x6144x6144, 32x28672x8192, 512x2048x2048"
        " + spins"),
    "stream": ("s",
        (("x3328", 3328, 26, 8960, 3, "prefill", 1, 176, 176), ("x2176", 2176, 17, 5888, 6, "prefill", 2, 80, 80),
         ("x5632", 5632, 44, 15104, 1, "prefill", 1, 112, 112), ("x1280", 1280, 10, 3456, 12, "prefill", 4, 48, 48),
         ("x6656", 6656, 52, 17920, 1, "decode", 24, 1, 1536), ("x2176", 2176, 17, 5888, 6, "decode", 2, 1, 3072)),
        ("gpt2-large", 1280, 36, 20, "sdpa", 40),
        ((6144, 4096, 4096, 2e-4), (48, 12288, 12288, 1e-4), (256, 4096, 1024, 2e-5)),
        "after the staged-GEMM stream rules and the boost-clock GEMM rows: prefills 3328-wide x 176, 2176 at "
        "batch 2 x 80, one 5632-wide layer x 112, 1280 at batch 4 x 48; decode one 6656-wide layer at batch 24 "
        "over 1536 and 2176-wide at batch 2 over 3072; eager and graph; GPT-2 large SDPA `generate`; GEMMs "
        "6144x4096x4096, 48x12288x12288, 256x4096x1024 + spins"),
    "glue": ("g",
        (("y3840", 3840, 30, 10240, 3, "prefill", 1, 144, 144), ("y2432", 2432, 19, 6528, 5, "prefill", 2, 112, 112),
         ("y5888", 5888, 46, 15872, 1, "prefill", 1, 160, 160), ("y1664", 1664, 13, 4480, 8, "prefill", 4, 72, 72),
         ("y3840", 3840, 30, 10240, 3, "decode", 12, 1, 2560), ("y1664", 1664, 13, 4480, 8, "decode", 6, 1, 1024)),
        ("gpt2-xl", 1600, 48, 25, "eager", 24),
        ((5120, 5120, 5120, 2.5e-4), (24, 20480, 6144, 8e-5), (128, 3072, 3072, 2.5e-5)),
        "after the glue operations' template energies, the GEMM + spin rows' host dispatch and the fast limit at "
        "the held voltage: prefills 3840-wide x 144, 2432 at batch 2 x 112, one 5888-wide layer x 160, 1664 at "
        "batch 4 x 72; decode 3840-wide at batch 12 over 2560 and 1664-wide at batch 6 over 1024; eager and "
        "graph; GPT-2 XL eager `generate`; GEMMs 5120^3, 24x20480x6144, 128x3072x3072 + spins. This session's "
        "starting model (5636620) on the same windows: energy 12.5 %, compute 10.6 %, memory 4.5 %, host 15.6 %"),
    "spike": ("p",
        (("z4352", 4352, 34, 11648, 2, "prefill", 1, 208, 208), ("z2944", 2944, 23, 7936, 4, "prefill", 2, 96, 96),
         ("z1408", 1408, 11, 3840, 10, "prefill", 4, 56, 56), ("z6400", 6400, 50, 17152, 1, "prefill", 1, 136, 136),
         ("z5376", 5376, 42, 14336, 1, "decode", 20, 1, 1792), ("z2688", 2688, 21, 7168, 6, "decode", 3, 1, 2816)),
        ("gpt2-medium", 1024, 24, 16, "eager", 40),
        ((7168, 3584, 3584, 3.5e-4), (40, 14336, 5120, 6e-5), (192, 6144, 2048, 1.5e-5)),
        "after the burst rule went back to the voltage following the clock for `do_bench` and a launch inside a "
        "window got the spike limit at the window's voltage, and the baselines' glue rule became the energy "
        "path's: prefills 4352-wide x 208, 2944 at batch 2 x 96, 1408 at batch 4 x 56, one 6400-wide layer x 136;"
        " decode one 5376-wide layer at batch 20 over 1792 and 2688-wide at batch 3 over 2816; eager and graph; "
        "GPT-2 medium eager `generate`; GEMMs 7168x3584x3584, 40x14336x5120, 192x6144x2048 + spins"),
    "probe": ("q",
        (("q3584", 3584, 28, 9728, 3, "prefill", 1, 120, 120), ("q2304", 2304, 18, 6144, 6, "prefill", 2, 88, 88),
         ("q1152", 1152, 9, 3072, 12, "prefill", 4, 40, 40), ("q6144", 6144, 48, 16384, 1, "prefill", 1, 184, 184),
         ("q4864", 4864, 38, 13056, 2, "decode", 10, 1, 2304), ("q2304", 2304, 18, 6144, 6, "decode", 5, 1, 1280)),
        ("gpt2-small", 768, 12, 12, "eager", 64),
        ((4608, 4608, 4608, 3e-4), (56, 10240, 10240, 7e-5), (320, 5120, 2560, 2e-5)),
        "after the host-speed input (`archsim.gpu.host_speed`: host cost x (add_ probe / the model's reference)"
        "^1.09 from the interleaved `campaigns/host_probe.py` calibration; with no probe, the geometric mean of its"
        " two states): prefills 3584-wide x 120, 2304 at batch 2 x 88, 1152 at batch 4 x 40, one 6144-wide layer "
        "x 184; decode 4864-wide at batch 10 over 2304 and 2304-wide at batch 5 over 1280; eager and graph; GPT-2 "
        "small eager `generate`; GEMMs 4608^3, 56x10240x10240, 320x5120x2560 + spins. Committed twice: at the "
        "point probe, and on a grid of probes (6-16 us) that the window's probe-before picks from"),
}
#: probes (us per eager ``add_``) at which a round's committed file also prices every point (``predictions_at_probe``)
PROBE_GRID = tuple(float(a) for a in range(6, 17))
#: round name -> (points, committed prediction file, measured runs)
ROUNDS = {"host": (POINTS, PREDICTIONS, RUNS),
          **{name: _later_round(name, prefix, _round_points(shapes, generate, gemms))
             for name, (prefix, shapes, generate, gemms, _) in LATER_ROUNDS.items()}}


def _as_row(p: dict) -> dict:
    """A point as a campaign CSV row (strings, as :func:`archsim.gpu.power_fit.read_power_csv` returns them)."""
    return {k: str(v) for k, v in p.items()}


def generate_pred(r: dict) -> tuple[dict, str]:
    """Prediction per token of an HF GPT-2 ``generate`` row at its attention implementation; regime from the
    row's measured kernel sum per token when it has one (the campaign profiles one call), else ``unmeasured``."""
    from archsim.gpu.energy_host import generate_pred as price
    from archsim.gpu.energy_host import generate_regime
    pred = price(r, r.get("attn") or "eager")
    if not r.get("step_s") or not r.get("kernel_sum_s_per_token"):
        return pred, "unmeasured"
    return pred, generate_regime(r, float(r["kernel_sum_s_per_token"]))


EXTRA = {"generate": generate_pred}


def predict_points(cal, points: list[dict] = POINTS, host_add_us: float | None = None) -> list[dict]:
    """The model's wall, GPU time, energy and average power of every point (one step / one token); ``host_add_us``:
    the host-speed probe given as an input (:mod:`archsim.gpu.host_speed`), None for the point estimate."""
    from archsim.gpu.power_validation import EnergyPricer, predict_row
    pricer = EnergyPricer(cal)
    out = []
    for p in points:
        row = _as_row(p) if host_add_us is None else {**_as_row(p), "host_add_us": str(host_add_us)}
        got = predict_row(row, cal, pricer, EXTRA)
        if got is None:
            raise ConfigError.single(f"blind point {p['bench']}: kind {p['kind']!r} is not priced", key_path="kind")
        pred, _ = got
        out.append({"bench": p["bench"], **{k: pred[k] for k in ("modeled_wall_s", "modeled_gpu_s",
                                                                 "modeled_dynamic_j", "modeled_energy_j",
                                                                 "modeled_power_w")}})
    return out


def write_predictions(path: Path, round_name: str = "host") -> Path:
    """Write the points of a round (:data:`ROUNDS`) and the model's predictions with the commit they were made at."""
    from archsim.gpu.devices import device_calibration
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = ""
    doc = {"what": "blind host-bound power predictions, committed before measurement (archsim.gpu.energy_host_blind)",
           "date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "model_commit": commit,
           "device": "h200", "calibration": "own", "round": round_name, "points": ROUNDS[round_name][0],
           "predictions": predict_points(device_calibration("h200", "own"), ROUNDS[round_name][0])}
    if round_name == "probe":  # the rounds since the host-speed input: the same points at a grid of host probes
        doc["predictions_at_probe"] = {f"{a:g}": predict_points(device_calibration("h200", "own"),
                                                                 ROUNDS[round_name][0], a) for a in PROBE_GRID}
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return path


def committed(name: str = PREDICTIONS) -> dict:
    """A committed prediction file (points, predictions, the commit they were made at)."""
    from archsim.data import measurement
    path = measurement("h200", name)
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


def compare(cal, runs: tuple[str, ...] | None = None, round_name: str = "host") -> list[dict]:
    """Energy parity rows of a round's measured runs (:func:`archsim.gpu.power_validation.validate_power_csv`
    format, the current model) with the committed prediction (``blind_power_w``, ``blind_power_error``,
    ``blind_energy_error``), the run, the pass and the host state beside each."""
    from archsim.data import measurement
    from archsim.gpu.power_fit import read_power_csv
    from archsim.gpu.power_validation import validate_power_csv
    _, predictions, run_files = ROUNDS[round_name]
    doc = committed(predictions)
    blind = {p["bench"]: p for p in doc["predictions"]}
    grid = {float(a): {p["bench"]: p for p in preds} for a, preds in doc.get("predictions_at_probe", {}).items()}
    out = []
    for run in runs if runs is not None else tuple(run_files):
        path = measurement("h200", run_files[run][0])
        raw = [r for r in read_power_csv(path) if r["set"] == "validation"]
        rows = validate_power_csv(path, cal, extra=EXTRA)
        given = validate_power_csv(path, cal, extra=EXTRA, host_probe=True)  # the host probe before the window
        for m, r, g in zip(raw, rows, given, strict=True):
            if r["bench"] not in blind:
                raise ConfigError.single(f"{path}: row {r['bench']!r} is not a committed blind point", file=str(path))
            b = blind[r["bench"]]
            bp = b["modeled_energy_j"] / b["modeled_wall_s"]
            out.append({**r, "run": run, "pass": m.get("pass", ""), "host_state": host_state(m), "blind_power_w": bp,
                        "blind_power_error": (bp - r["measured_power_w"]) / r["measured_power_w"],
                        "blind_energy_error": (b["modeled_energy_j"] - r["measured_energy_j"])
                        / r["measured_energy_j"],
                        **{f"probe_{k}": g[k] for k in ("power_error", "energy_error", "time_error")},
                        **(_grid_errors(grid, r, m) if grid else {})})
    return out


def _grid_errors(grid: dict[float, dict], r: dict, m: dict) -> dict:
    """Committed prediction at the window's probe-before (``add_before_us``), interpolated in log probe between the
    committed grid's two nearest probes (clamped at its ends): ``blind_probe_power_error`` / ``_energy_error``."""
    probes = sorted(grid)
    a = min(max(float(m["add_before_us"]), probes[0]), probes[-1])
    hi = next(p for p in probes if p >= a)
    lo = max(p for p in probes if p <= a)
    w = 0.0 if hi == lo else math.log(a / lo) / math.log(hi / lo)

    def at(key: str) -> float:
        return math.exp((1 - w) * math.log(grid[lo][r["bench"]][key]) + w * math.log(grid[hi][r["bench"]][key]))
    energy, wall = at("modeled_energy_j"), at("modeled_wall_s")
    power = energy / wall
    return {"blind_probe_power_error": (power - r["measured_power_w"]) / r["measured_power_w"],
            "blind_probe_energy_error": (energy - r["measured_energy_j"]) / r["measured_energy_j"],
            "blind_probe_time_error": (wall - r["measured_s"]) / r["measured_s"]}


def _board(cal, run: str, run_files: dict | None = None) -> dict:
    """A run's board controls: idle power with a context, and the 8-wide GEMV chain's weight-stream pJ per byte
    (:func:`archsim.gpu.power_fit.gemv_stream_j_per_byte`, as the other boards' figures were derived)."""
    import dataclasses

    from archsim.data import measurement
    from archsim.gpu.power_fit import gemv_stream_j_per_byte, read_power_csv
    rows = {r["bench"]: r for r in read_power_csv(measurement("h200", (run_files or RUNS)[run][0]))
            if r["set"] == "calibration"}
    idle = [float(rows[k]["avg_power_w"]) for k in ("idle_context", "idle_context_after") if k in rows]
    stream = gemv_stream_j_per_byte(rows["chain_gemv22k"], cal.rates.power, dataclasses.replace(cal.rates, power=None))
    return {"idle_w": idle, "gemv_pj_per_byte": stream * 1e12}


def burst_gemm_energy(cal, rows: list[dict]) -> list[tuple[str, float, float]]:
    """(bench, dynamic J per call in the GEMM + host-spin rows, dynamic J per call of the same GEMM back to back
    in the main fit's calibration rows) for the square GEMMs of this round: the same kernel at boost clock
    (board below its limit) and power-capped. A diagnosis of the clock-independent energy assumption."""
    from archsim.data import measurement
    from archsim.gpu.power_fit import MAIN_CSVS, read_power_csv
    static = cal.rates.power.static_w
    capped: dict[int, list[float]] = {}
    for name in MAIN_CSVS:
        for r in read_power_csv(measurement("h200", name)):
            if r["set"] == "calibration" and r["bench"] in ("gemm_bf16_8192", "gemm_bf16_4096"):
                n = float(r.get("launches") or 1.0)
                capped.setdefault(int(r["bench"].rsplit("_", 1)[1]), []).append(
                    (float(r["energy_per_step_j"]) - static * float(r["step_s"])) / n)
    out = []
    for r in rows:
        if r["bench"].startswith("gemm_bf16_m") and r["regime"] == "host":
            size = int(r["bench"].split("_m", 1)[1].split("_", 1)[0])
            if size in capped:
                out.append((f"{r['bench']} ({r['run']}{r['pass']})", r["measured_energy_j"] - static * r["measured_s"],
                            sum(capped[size]) / len(capped[size])))
    return out


def _mape_of(rows: list[dict], key: str) -> str:
    from archsim.gpu.power_validation import mean_abs
    return f"{mean_abs(rows, key) * 100:.1f}%"


def _pct(x: float) -> str:
    return f"{x * 100:+.1f}%"


def _class_table(now: dict, then: dict) -> list[str]:
    head = ["| class | n | avg power MAPE, blind | now | energy MAPE, blind | now | power MAPE at measured time | "
            "time MAPE |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    body = [f"| {g} | {v['n']} | {then['by_regime'][g]['power_mape'] * 100:.1f}% | {v['power_mape'] * 100:.1f}% | "
            f"{then['by_regime'][g]['energy_mape'] * 100:.1f}% | {v['energy_mape'] * 100:.1f}% | "
            f"{v['power_at_measured_time_mape'] * 100:.1f}% | {v['time_mape'] * 100:.1f}% |"
            for g, v in now["by_regime"].items() if v["n"]]
    lw, tw = now["long_windows"], then["long_windows"]
    return head + body + [f"| all | {lw['n']} | {tw['power_mape'] * 100:.1f}% | {lw['power_mape'] * 100:.1f}% | "
                          f"{tw['energy_mape'] * 100:.1f}% | {lw['energy_mape'] * 100:.1f}% | "
                          f"{lw['power_at_measured_time_mape'] * 100:.1f}% | {lw['time_mape'] * 100:.1f}% |"]


def swapped(rows: list[dict], prefix: str, keys: tuple[str, ...] = ("power_error", "energy_error")) -> list[dict]:
    """Compare rows with the ``<prefix>_<key>`` columns as their ``key`` columns (``blind``: the committed
    predictions, ``probe``: the model given the window's probe, ``blind_probe``: the committed probe grid), for
    ``power_validation.summarise``."""
    return [{**r, **{k: r[f"{prefix}_{k}"] for k in keys}} for r in rows]


def summaries(rows: list[dict], summary_fn) -> tuple[dict, dict]:
    """(model now, committed predictions) summaries of compare rows (``summary_fn``: power_validation.summarise)."""
    return summary_fn(rows), summary_fn(swapped(rows, "blind"))


def section(cal, summary_fn) -> tuple[list[str], dict]:
    """Markdown lines and data of the blind host-bound round's section of ``reports/gpu-energy.md``."""
    from archsim.data import measurement
    rows = compare(cal)
    doc = committed()
    metas = {run: json.loads(Path(measurement("h200", RUNS[run][1])).read_text()) for run in RUNS}
    per_run = {run: summaries([r for r in rows if r["run"] == run], summary_fn) for run in RUNS}
    now, then = summaries(rows, summary_fn)
    boards = {run: _board(cal, run) for run in RUNS}
    host = [r for r in rows if r["regime"] == "host"]
    states: dict[str, list[float]] = {}
    for r in host:
        states.setdefault(r["host_state"], []).append(r["time_error"])
    burst = burst_gemm_energy(cal, rows)
    m1 = metas["r1"]
    md = [
        "## Blind host-bound round (`campaigns/power_host.py`)",
        "",
        f"Points fixed and priced before they were measured (`{PREDICTIONS}`, model commit "
        f"`{doc['model_commit'][:7]}`, {doc['date_utc']}): shapes no earlier power campaign ran (MiniLlama "
        "3072-wide x 6 layers, one 8192-wide layer, 2560-wide at batch 2 over 4096 tokens, 16 layers of 2048, eager "
        "prefills of 16-128 tokens; GPT-2 large eager and small SDPA `generate`; GEMMs followed by a host spin), "
        "each in two passes (forward, then reverse order), a host-speed probe before and after every window "
        f"(`host_dispatch.speed_probe`: fast below {FAST_PROBE_US:.0f} us per 100k Python iterations, slow above "
        f"{SLOW_PROBE_US:.0f}). Measured twice, each run on a freshly started device machine ({m1['device_name']}, "
        f"driver {m1['driver']}, torch {m1['torch']}, transformers {m1['transformers']}, `{m1['command']}`): "
        + "; ".join(f"{run} at {metas[run]['date_utc'][11:16]} UTC ({metas[run]['wall_s']:.0f} s; board idle "
                    f"{', '.join(f'{w:.1f}' for w in boards[run]['idle_w'])} W with a context, 8-wide decode GEMV "
                    f"chain {boards[run]['gemv_pj_per_byte']:.1f} pJ per weight byte)" for run in RUNS)
        + " (other boards 98-124 pJ/B; the model charges the pooled "
        f"{cal.rates.power.gemm_stream_j_per_byte * 1e12:.1f})."
        " r1 ran first; two model changes were made on seeing it (below, `now` = post-fix for r1); r2 ran after "
        "them, so its committed column is blind to the model as it stood then. `now` is the model today: it also "
        "has the voltage line, added after both runs (so `now` is not blind for either).",
        "",
    ]
    for run in RUNS:
        md += [f"**{run}**" + (" (committed column blind)" if run == "r2" else " (`now` is post-fix)") + ":", "",
               *_class_table(*per_run[run]), ""]
    md += [
        f"**Both runs** ({now['long_windows']['n']} windows):", "", *_class_table(now, then), "",
        "The two changes made on seeing r1: (1) kernels inside a step are priced in the whole-model pricer's time "
        "convention (the event-timed launch overhead overlaps the previous kernel), which the power validation had "
        "added per launch on top of the graph node gap (graph twins came out 7-28 % slow); (2) an eager step in a "
        "loop without synchronisation costs the larger of its host and GPU time (`host.step_wall_s(back_to_back="
        "True)`, as graph replays already did): the one-layer 8192-wide eager decode, GPU-bound, came out "
        "+43..+70 % with the host spread over a single step. Host-bound time error by host state (eager rows, both "
        "runs): " + "; ".join(f"{k} {len(v)} rows {_pct(min(v))}..{_pct(max(v))}" for k, v in sorted(states.items()))
        + ". The host model predicts the point between the two states, so a window run wholly in one state is off "
        "by about +-20-40 %, and the energy of a host-bound step follows its time (static power over the step). "
        "Given each window's probe before it instead (`archsim.gpu.host_speed`): host-bound average power "
        f"{_mape_of(host, 'probe_power_error')}, time {_mape_of(host, 'probe_time_error')} (at the point: "
        f"{_mape_of(host, 'power_error')}, {_mape_of(host, 'time_error')}).",
        "",
        "Same GEMM at boost clock vs power-capped (dynamic J per call; the GEMM + host-spin rows against the "
        "back-to-back calibration rows of the main fit): " + "; ".join(
            f"{b}: {d:.3f} J vs {c:.3f} J ({d / c:.2f}x)" for b, d, c in burst) + ". The model charges the same "
        "energy per operation at every clock (the fit is dominated by power-capped GEMMs at 1410-1740 MHz), so "
        "a GEMM that runs at boost clock below the limit is charged too little. The calibration microbenchmark "
        "that isolates it (`campaigns/power_vf.py`, section below) measured the same bf16 GEMMs back to back "
        "(capped) and between one-warp spins (boost): 1.23-1.38x; a voltage line fits it (beta ~0.5); the "
        "model has had that line since (`archsim.gpu.power.H200_VF`; the second blind round below was priced with "
        "it). The small-token prefills' GEMMs (m = 16-128) run at boost clock in both patterns there and still "
        "draw 1.2-1.3x the model: a per-kernel energy miss of cuBLAS's narrow tiles, not the clock.",
        "",
        "| run | pass | host state | regime | measured W | blind W | now W | blind power err | now power err | "
        "time err | power err at measured time |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
        *[f"| {r['run']} {r['bench']} | {r['pass']} | {r['host_state']} | {r['regime']} | "
          f"{r['measured_power_w']:.0f} | {r['blind_power_w']:.0f} | {r['modeled_power_w']:.0f} | "
          f"{_pct(r['blind_power_error'])} | {_pct(r['power_error'])} | {_pct(r['time_error'])} | "
          f"{_pct(r['power_at_measured_time_error'])} |" for r in rows],
        "",
    ]
    return md, {"rows": rows, "summary_now": now, "summary_blind": then,
                "per_run": {run: {"now": a, "blind": b} for run, (a, b) in per_run.items()}, "boards": boards,
                "burst_gemm_j": burst}


#: what each later round's points are (report text)
ROUND_TEXT = {name: spec[-1] for name, spec in LATER_ROUNDS.items()}
#: the model at the start of the session that added rounds vf, window and stream (commit 87aff79) on their windows
BASELINE_JSON = "energy-blind-rounds-baseline-87aff79-2026-12-01.json"  # package data, measurements/h200


def section_rounds(cal, summary_fn, baseline: dict | None = None) -> tuple[list[str], dict]:
    """Markdown lines and data of the later blind rounds (:data:`ROUND_TEXT`): each priced and committed with the
    model as it stood, then measured twice on one device machine; nothing changed after a round's runs was tested
    on that round as blind. ``baseline``: the session-start model's figures on the same windows (report file)."""
    from archsim.data import measurement
    md = ["## Later blind rounds: each model change, then new points (`campaigns/power_host.py --points`)", "",
          f"{len(ROUND_TEXT)} rounds, each priced and committed before the H200 measured it, each on points none of"
          " the earlier rounds or calibration campaigns ran, each measured twice on one freshly started device "
          "machine (two passes per run, a host-speed probe around every window). The committed column of a round is"
          " blind to that round; the model changed after every round but the last, so `now` on those is not blind. "
          "`host, now given the probe`: the model today with each window's host-speed probe before it as an input "
          "(`archsim.gpu.host_speed`; the committed grid of the last round: `host, committed grid`).", "",
          "| round | model commit | windows | board energy MAPE | avg power compute | memory | host | host, now at "
          "the point probe | host, now given the probe | the model at session start (87aff79): energy / compute / "
          "memory / host |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    data: dict = {}
    detail: list[str] = []
    for name in ROUND_TEXT:
        _, predictions, run_files = ROUNDS[name]
        rows = compare(cal, round_name=name)
        doc = committed(predictions)
        now, then = summaries(rows, summary_fn)
        given = summary_fn(swapped(rows, "probe", ("power_error", "energy_error", "time_error")))
        grid = summary_fn(swapped(rows, "blind_probe")) if rows and "blind_probe_power_error" in rows[0] else None
        metas = {run: json.loads(Path(measurement("h200", run_files[run][1])).read_text()) for run in run_files}
        boards = {run: _board(cal, run, run_files) for run in run_files}
        b = (baseline or {}).get(name)
        base = (f"{b['energy_mape'] * 100:.1f}% / {b['compute'] * 100:.1f}% / {b['memory'] * 100:.1f}% / "
                f"{b['host'] * 100:.1f}%") if b else "-"
        br = then["by_regime"]
        md.append(f"| {name} | `{doc['model_commit'][:7]}` | {then['long_windows']['n']} | "
                  f"**{then['long_windows']['energy_mape'] * 100:.1f}%** | {br['compute']['power_mape'] * 100:.1f}% | "
                  f"{br['memory']['power_mape'] * 100:.1f}% | {br['host']['power_mape'] * 100:.1f}% | "
                  f"{now['by_regime']['host']['power_mape'] * 100:.1f}% | "
                  f"{given['by_regime']['host']['power_mape'] * 100:.1f}%"
                  + (f" (committed grid {grid['by_regime']['host']['power_mape'] * 100:.1f}%)" if grid else "")
                  + f" | {base} |")
        m1 = next(iter(metas.values()))
        detail += [f"### Round {name}", "",
                   f"{len(doc['points'])} points ({ROUND_TEXT[name]}); predictions `{predictions}` "
                   f"({doc['date_utc']}); "
                   f"measured on {m1['device_name']}, driver {m1['driver']}, torch {m1['torch']}: " + "; ".join(
                       f"{run} ({metas[run]['wall_s']:.0f} s; idle "
                       f"{', '.join(f'{w:.1f}' for w in boards[run]['idle_w'])}"
                       f" W, 8-wide GEMV chain {boards[run]['gemv_pj_per_byte']:.1f} pJ/B)" for run in run_files) + ".",
                   "", *_class_table(now, then), "", "<details><summary>every window</summary>", "",
                   "| run | pass | host state | regime | measured W | committed W | power err | energy err | "
                   "time err | power err at measured time (now) |", "|---|---|---|---|---:|---:|---:|---:|---:|---:|",
                   *[f"| {r['run']} {r['bench']} | {r['pass']} | {r['host_state']} | {r['regime']} | "
                     f"{r['measured_power_w']:.0f} | {r['blind_power_w']:.0f} | {_pct(r['blind_power_error'])} | "
                     f"{_pct(r['blind_energy_error'])} | {_pct(r['time_error'])} | "
                     f"{_pct(r['power_at_measured_time_error'])} |" for r in rows], "", "</details>", ""]
        data[name] = {"rows": rows, "summary_blind": then, "summary_now": now, "summary_given_probe": given,
                      "summary_committed_grid": grid, "boards": boards}
    return md + [""] + detail, data


if __name__ == "__main__":  # python -m archsim.gpu.energy_host_blind OUT.json [host|vf]: (re)write a prediction file
    import sys
    print(write_predictions(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "host"))
