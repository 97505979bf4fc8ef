"""The blind whole-model set: points fixed and predicted before they were measured (issue 16).

Issue 16's targets must hold on runs the model was not shaped on. The campaign and held-out sets are
not blind (the held-out per-kernel profiles were read while tracing worst rows), so this set was made
the other way round: :data:`MODELS` and :data:`POINTS` (new shapes, dtypes and lengths: a GPT-2-XL
width in fp16, Qwen2-7B with its biased q/k/v and GQA 7:1, a Gemma-2B-like head_dim 256 with one KV
head, Llama-3-8B in fp16, prefill to 16k tokens, decode at batch 96-128) were written first,
:func:`write_predictions` priced every point with the model as it stood and the file was committed
(``h200-blind-predictions-2026-12-01.json``, with the commit it was made at), then
``campaigns/blind_holdout.py`` measured the points listed in that file on the H200.

:func:`compare_blind` reports, per measured step, the committed (blind) prediction and the current
model's, so later model changes show as the difference between the two columns and never overwrite
the blind figure. Several rounds share this machinery (:data:`ROUNDS`: ``blind`` = round 1 below,
``blind-2`` = :mod:`archsim.gpu.wholemodel_blind2`); every function takes the round (default round 1).
Round 1's published shapes: GPT-2 XL (``n_embd`` 1600, 25 heads, 48 layers, vocab 50257,
OpenAI's ``config.json``), Qwen2-7B (3584, 28/4 heads, FFN 18944, vocab 152064, 28 layers, biased
q/k/v: ``Qwen2Attention``), Gemma-2B (2048, 8 heads x 256, 1 KV head, FFN 16384, vocab 256000, 18
layers; run through ``LlamaForCausalLM`` / the plain Llama, so GeGLU and Gemma's norm offset are not
part of it), Llama-3-8B (4096, 32/8, FFN 14336, vocab 128256). ``layers`` is what the campaign runs.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from archsim.errors import ConfigError
from archsim.gpu.stacks import ModelShape, Step

PREDICTIONS = "h200-blind-predictions-2026-12-01.json"
WHOLE = "h200-blind-whole-2026-12-01.csv"
KERNELS = "h200-blind-kernels-2026-12-01.csv"
#: campaign model configs (``cls``: gpt2 | qwen2 | llama (HF) | plain (the campaign's plain Llama))
MODELS = {
    "gpt2-xl": dict(cls="gpt2", hidden=1600, heads=25, kv_heads=25, ffn=6400, vocab=50257, layers_full=48,
                    layers=12, dtype="fp16"),
    "qwen2-7b-bias": dict(cls="qwen2", hidden=3584, heads=28, kv_heads=4, ffn=18944, vocab=152064, layers_full=28,
                          layers=6, dtype="bf16"),
    "gemma-2b-hd256": dict(cls="llama", hidden=2048, heads=8, kv_heads=1, ffn=16384, vocab=256000, layers_full=18,
                           layers=8, dtype="bf16"),
    "llama-3-8b-fp16": dict(cls="plain", hidden=4096, heads=32, kv_heads=8, ffn=14336, vocab=128256,
                            layers_full=32, layers=6, dtype="fp16"),
}
POINTS = [  # (model, impl, phase, batch, length: prompt tokens for prefill, cached tokens for decode)
    ("gpt2-xl", "hf", "prefill", 1, 1024), ("gpt2-xl", "hf", "prefill", 4, 1024), ("gpt2-xl", "hf", "prefill", 1, 8192),
    ("gpt2-xl", "hf", "decode", 1, 1024), ("gpt2-xl", "hf", "decode", 96, 1024), ("gpt2-xl", "hf", "decode", 128, 2048),
    ("qwen2-7b-bias", "hf", "prefill", 1, 8192), ("qwen2-7b-bias", "hf", "prefill", 2, 4096),
    ("qwen2-7b-bias", "hf", "prefill", 1, 2048), ("qwen2-7b-bias", "hf", "decode", 1, 8192),
    ("qwen2-7b-bias", "hf", "decode", 96, 1024), ("qwen2-7b-bias", "hf", "decode", 128, 512),
    ("gemma-2b-hd256", "hf", "prefill", 1, 8192), ("gemma-2b-hd256", "hf", "prefill", 4, 1024),
    ("gemma-2b-hd256", "hf", "decode", 128, 2048), ("gemma-2b-hd256", "hf", "decode", 96, 4096),
    ("gemma-2b-hd256", "hf", "decode", 1, 16384),
    ("gemma-2b-hd256", "plain", "prefill", 1, 16384), ("gemma-2b-hd256", "plain", "prefill", 2, 2048),
    ("gemma-2b-hd256", "plain", "decode", 128, 2048), ("gemma-2b-hd256", "plain", "decode", 1, 16384),
    ("llama-3-8b-fp16", "plain", "prefill", 1, 8192), ("llama-3-8b-fp16", "plain", "decode", 96, 2048),
    ("gemma-2b-hd256", "plain-compiled", "decode", 128, 2048),
    ("llama-3-8b-fp16", "plain-compiled", "prefill", 1, 8192),
    ("llama-3-8b-fp16", "plain-compiled", "decode", 128, 1024),
]
STACK_OF_IMPL = {"plain": "plain", "hf": "hf", "plain-compiled": "fused"}


@dataclass(frozen=True)
class Round:
    """One blind round: its label, committed prediction file, measured CSVs, model configs, point list (``(model,
    impl, phase, batch, length)``), point-id prefix and the text on what was fixed after it (empty: nothing)."""

    name: str
    predictions: str
    whole: str
    kernels: str
    models: dict
    plist: list
    prefix: str
    post_fix: str = ""


def _rounds() -> dict[str, Round]:
    from archsim.gpu import wholemodel_blind2 as r2
    return {"blind": Round("blind", PREDICTIONS, WHOLE, KERNELS, MODELS, POINTS, "b", POST_FIX),
            "blind-2": Round("blind-2", r2.PREDICTIONS, r2.WHOLE, r2.KERNELS, r2.MODELS, r2.POINTS, "c")}


def get_round(rnd: Round | str = "blind") -> Round:
    """A round by name (``blind`` | ``blind-2``) or itself."""
    if isinstance(rnd, Round):
        return rnd
    rounds = _rounds()
    if rnd not in rounds:
        raise ConfigError.single(f"unknown blind round {rnd!r}; valid: {', '.join(rounds)}", key_path="round")
    return rounds[rnd]


def round_of_csv(path: str | Path) -> Round | None:
    """The round whose measured whole-model CSV ``path`` is (by file name, else by its point ids); None: no round."""
    import csv
    path = Path(path)
    for r in _rounds().values():
        if path.name == r.whole:
            return r
    if not is_blind_csv(path):
        return None
    with open(path, newline="") as fh:
        ids = {row.get("point_id", "") for row in csv.DictReader(fh)}
    return next((r for r in _rounds().values() if any(i[:1] == r.prefix for i in ids if i)), None)


def points(rnd: Round | str = "blind") -> list[dict]:
    """A round's fixed point list; ``graph``: whether the campaign also replays it as a CUDA graph (decode, and
    prefills of at most 4096 tokens: the earlier campaigns' rule)."""
    r = get_round(rnd)
    out = []
    for i, (model, impl, phase, b, n) in enumerate(r.plist, start=1):
        out.append({"id": f"{r.prefix}{i:02d}", "model": model, "impl": impl, "phase": phase, "batch": b, "length": n,
                    "graph": phase == "decode" or b * n <= 4096})
    return out


def shape(name: str, spec: dict | None = None, impl: str = "hf", models: dict | None = None) -> ModelShape:
    """The lowering's shape of a blind-set model (``spec``: its config, default from ``models``, default round 1's
    :data:`MODELS`). Under the plain / compiled models every shape is a Llama (the plain model's structure)."""
    models = MODELS if models is None else models
    s = spec or models.get(name)
    if s is None:
        raise ConfigError.single(f"unknown blind-set model {name!r}; valid: {', '.join(models)}", key_path="model")
    hf = impl == "hf"
    family = s["cls"] if hf and s["cls"] in ("gpt2", "phi3") else "llama"
    return ModelShape(name=name, hidden=s["hidden"], heads=s["heads"], kv_heads=s["kv_heads"], ffn=s["ffn"],
                      vocab=s["vocab"], layers=s["layers"], family=family, qkv_bias=hf and s["cls"] == "qwen2",
                      experts=s.get("experts", 0), top_k=s.get("top_k", 0), dtype=s["dtype"])


def step_of(p: dict) -> Step:
    if p["phase"] == "prefill":
        return Step(phase="prefill", batch=p["batch"], seq_len=p["length"])
    return Step(phase="decode", batch=p["batch"], seq_len=1, context=p["length"])


def predict_points(cal, pts: list[dict] | None = None, rnd: Round | str = "blind") -> list[dict]:
    """Per point and host mode the model's GPU-busy, wall and host seconds and kernel count."""
    from archsim.gpu.wholemodel import KernelPricer, predict_step
    r = get_round(rnd)
    pricer = KernelPricer(cal)
    out = []
    for p in pts or points(r):
        modes = ("eager", "cuda-graph") if p["graph"] else ("eager",)
        for host in modes:
            m = shape(p["model"], impl=p["impl"], models=r.models)
            pr = predict_step(m, step_of(p), STACK_OF_IMPL[p["impl"]], host, cal, pricer)
            out.append({"id": p["id"], "host": host, "gpu_s": pr.gpu_s, "wall_s": pr.wall_s, "host_s": pr.host_s,
                        "n_kernels": pr.n_kernels, "by_category": pr.by_category})
    return out


def write_predictions(path: Path, rnd: Round | str = "blind") -> Path:
    """Write a round's point list and the model's predictions (H200-from-H200) with the commit they were made at."""
    from archsim.gpu.devices import device_calibration
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = ""
    r = get_round(rnd)
    doc = {"what": f"blind whole-model predictions ({r.name}), committed before measurement "
                   "(archsim.gpu.wholemodel_blind)",
           "date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "model_commit": commit,
           "device": "h200", "calibration": "own", "models": r.models, "points": points(r),
           "predictions": predict_points(device_calibration("h200", "own"), rnd=r)}
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return path


def committed(rnd: Round | str = "blind") -> dict:
    """A round's committed prediction file (models, points, predictions, the commit they were made at)."""
    from archsim.data import measurement
    path = measurement("h200", get_round(rnd).predictions)
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError.single(f"cannot read the committed blind predictions {path}: {e}", file=str(path)) from None


def is_blind_csv(path: str | Path) -> bool:
    """Whether a whole-model CSV is the blind set's (it has the campaign's ``point_id`` column)."""
    import csv
    try:
        with open(path, newline="") as fh:
            return "point_id" in next(csv.reader(fh), [])
    except OSError:
        return False


def compare_blind(cal, whole_csv: str | Path | None = None, kernels_csv: str | Path | None = None,
                  rnd: Round | str = "blind") -> list[dict]:
    """:func:`archsim.gpu.wholemodel.compare_whole` rows of a blind round (the current model's figures), each
    with the committed prediction of its point and host mode beside them (``blind_*`` keys)."""
    import csv

    from archsim.data import measurement
    from archsim.gpu.wholemodel import compare_whole
    r0 = get_round(rnd)
    whole = Path(whole_csv) if whole_csv else measurement("h200", r0.whole)
    kernels = Path(kernels_csv) if kernels_csv else measurement("h200", r0.kernels)
    with open(whole, newline="") as fh:
        point_of = {r["run_id"]: r.get("point_id", "") for r in csv.DictReader(fh)}
    committed_ = {(p["id"], p["host"]): p for p in committed(r0)["predictions"]}
    out = []
    for r in compare_whole(whole, kernels, cal):
        b = committed_.get((point_of.get(r["run_id"], ""), r["host"]))
        if b is None:  # a step the committed file did not predict is not part of the blind figures
            continue
        gpu, wall = r["measured_gpu_s"], r["measured_wall_s"]
        out.append({**r, "point_id": point_of[r["run_id"]], "blind_gpu_s": b["gpu_s"], "blind_wall_s": b["wall_s"],
                    "blind_gpu_error": (b["gpu_s"] - gpu) / gpu, "blind_wall_error": (b["wall_s"] - wall) / wall,
                    "blind_by_category": b["by_category"]})
    return out


def blind_summary(rows: list[dict]) -> dict:
    """:func:`archsim.gpu.wholemodel.summarise_whole` of the committed (blind) predictions."""
    from archsim.gpu.wholemodel import summarise_whole
    return summarise_whole([{**r, "gpu_error": r["blind_gpu_error"], "wall_error": r["blind_wall_error"],
                             "modeled_by_category": r["blind_by_category"],
                             "modeled_host_gap_s": max(0.0, r["blind_wall_s"] - r["blind_gpu_s"])} for r in rows])


def print_rows(rows: list[dict], echo) -> None:
    """One line per blind step: measured, committed (blind) and current GPU-busy and wall milliseconds."""
    echo(f"{'point':5} {'run':6} {'model':15} {'stack/host':16} {'phase':7} {'b':>4} {'len':>6} {'gpu_ms':>8} "
         f"{'blind':>8} {'err':>7} {'current':>8} {'err':>7} {'wall_ms':>8} {'blind':>8} {'err':>7}")
    for r in rows:
        length = r["seq_len"] if r["phase"] == "prefill" else r["context"]
        echo(f"{r['point_id']:5} {r['run_id']:6} {r['model'][:15]:15} {r['stack'] + '/' + r['host']:16} "
             f"{r['phase']:7} {r['batch']:4d} {length:6d} {r['measured_gpu_s'] * 1e3:8.2f} "
             f"{r['blind_gpu_s'] * 1e3:8.2f} {r['blind_gpu_error'] * 100:+6.1f}% {r['modeled_gpu_s'] * 1e3:8.2f} "
             f"{r['gpu_error'] * 100:+6.1f}% {r['measured_wall_s'] * 1e3:8.2f} {r['blind_wall_s'] * 1e3:8.2f} "
             f"{r['blind_wall_error'] * 100:+6.1f}%")


def section(rows: list[dict], current: dict, rnd: Round | str = "blind", intro: str = "") -> str:
    """Markdown: a blind round's committed-prediction figures beside the current model's, then every step.
    ``intro``: the round's paragraph (default: round 1's text, with its post-fix list)."""
    def pct(x: float) -> str:
        return f"{x * 100:+.1f}%"
    r0 = get_round(rnd)
    blind = blind_summary(rows)
    doc = committed(r0)
    title = "Blind set" if r0.name == "blind" else f"Blind round {r0.name.rsplit('-', 1)[-1]}"
    intro = intro or (
        f"Points and predictions were written first (on `{doc.get('model_commit', '')[:10]}` plus the GPT-2 / "
        "biased-QKV lowering, committed together with the file); `campaigns/blind_holdout.py` then measured the "
        "points that file lists on the H200. *Blind* = the committed prediction; *current* = today's model "
        "on the same steps, which includes the post-measurement fixes below (so *current* is no longer blind).")
    out = [f"## {title} (predictions committed before measurement: `{r0.predictions}`)", "", intro, "",
           *([r0.post_fix, ""] if r0.post_fix else []),
           "| group | n | GPU MAPE blind | signed | worst | GPU MAPE current | worst | wall MAPE blind | worst | "
           "wall MAPE current |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for key, g in blind["groups"].items():
        if key.count("/") == 2:
            continue
        a, w, c = g["gpu"], g["wall"], current["groups"][key]
        out.append(f"| {key} | {a['n']} | {a['mape'] * 100:.1f} % | {pct(a['signed'])} | {a['max'] * 100:.1f} % | "
                   f"{c['gpu']['mape'] * 100:.1f} % | {c['gpu']['max'] * 100:.1f} % | {w['mape'] * 100:.1f} % | "
                   f"{w['max'] * 100:.1f} % | {c['wall']['mape'] * 100:.1f} % |")
    for host in ("eager", "cuda-graph"):
        sub = [r for r in rows if r["host"] == host]
        if sub:
            def mape(k: str, sub=sub) -> float:
                return 100 * sum(abs(r[k]) for r in sub) / len(sub)
            out.append(f"\nHost mode {host} ({len(sub)} steps): wall MAPE blind {mape('blind_wall_error'):.1f} %, "
                       f"current {mape('wall_error'):.1f} %; GPU MAPE blind {mape('blind_gpu_error'):.1f} %, "
                       f"current {mape('gpu_error'):.1f} %.")
    for label, cats in (("committed (blind) predictions", blind["categories"]),
                        ("current model", current["categories"])):
        out.append(f"\nPer category, {label} (eager steps, > 2 % of the step; MAPE / signed): " + ", ".join(
            f"{c} {st['mape'] * 100:.1f} % ({pct(st['signed'])})" for c, st in cats.items() if st["n"]) + ".")
    out += ["", "| point | run | model | stack / host | phase | batch | len | GPU ms | blind | err | current | err | "
            "wall ms | blind | err |", "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        length = r["seq_len"] if r["phase"] == "prefill" else r["context"]
        out.append(f"| {r['point_id']} | {r['run_id']} | {r['model']} | {r['stack']}/{r['host']} | {r['phase']} | "
                   f"{r['batch']} | {length} | {r['measured_gpu_s'] * 1e3:.2f} | {r['blind_gpu_s'] * 1e3:.2f} | "
                   f"{pct(r['blind_gpu_error'])} | {r['modeled_gpu_s'] * 1e3:.2f} | {pct(r['gpu_error'])} | "
                   f"{r['measured_wall_s'] * 1e3:.2f} | {r['blind_wall_s'] * 1e3:.2f} | {pct(r['blind_wall_error'])} |")
    return "\n".join(out)


POST_FIX = """What the blind figures showed, and the three fixes made after them (mechanisms or a new microbenchmark,
not fits to these steps; the *current* column is post-fix, not blind):

- **GPT-2 decode at batch 96-128 was predicted 4x too fast** (-75 %): the KV-cache `torch.cat` was priced
  as the vectorised cat (`cat_append`, ~4 TB/s), but GPT-2's new K/V are strided slices of the fused
  `c_attn` output, and ATen's cat (`aten/src/ATen/native/cuda/Shape.cu`) uses the vectorised kernel only
  when every input is contiguous: the profiler shows the generic `CatArrayBatchedCopy` (0.67 TB/s, the
  microbenchmarked `cat_transposed` curve) at batch > 1 and the vectorised one at batch 1. Now priced so.
- **Gemma-like (one KV head) HF decode under CUDA graphs was predicted 3.2-3.4x too slow** (+215-241 %):
  the lowering copied K/V to every query head (`repeat_kv`), but with one KV head transformers'
  `expand(...).reshape(...)` is a stride-0 view (size-1 dimension merged), so no copy kernel runs (the
  tiny-width structure run had already shown the missing copies); cuDNN still reads the viewed K/V once
  per query head (the masked kernel ran 6.5x its eager time, ~3.6 TB/s of per-head reads), so attention
  stays priced with every head's K/V.
- **LayerNorm ran 2.5-5x its price** (it was priced as the vectorised elementwise stream, never
  microbenchmarked): `campaigns/layernorm_micro.py` measured `vectorized_layer_norm_kernel` alone
  (fp16, 1600 columns, 4 KiB-256 MiB, warm and cold: 3.8 us floor, 2.1 TB/s at 256 MiB, against 0.9 us
  and ~4 TB/s for the stream; `h200-layernorm-glue-2026-12-01.csv`), now the `layer_norm` glue curve.

Not fixed (named for the owners): GPT-2 XL at batch 1 is still 4-10 % under (not traced: small GEMMs and
cuDNN's fp16 `sm80` kernels are candidates); the measured eager host time (until the call returns) of the HF
models spread 0.5-2.1x the calibrated one (GPT-2-XL decode at batch 1: 14.7 ms for 12 blocks against 7.2 ms
from the tiny-GPT-2 `generate` slope of 0.59 ms per block; the plain model within -11..+8 %), so HF eager
walls at small batch are 27-51 % low; plain/compiled decode with one KV head and head_dim 256 is +9..+16 %
(FA2 decode on a single KV head)."""
