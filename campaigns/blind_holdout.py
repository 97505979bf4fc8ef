"""Blind whole-model validation on one GPU (issue 16): shapes, stacks and dtypes no earlier set had.

Run on the GPU machine from the repository root (imports only torch, transformers, numpy, pynvml and
the campaign modules beside this file)::

    python3 campaigns/blind_holdout.py --out "$OUT" --points POINTS.json [--budget-s 300] [--structure]

``--points`` names the committed prediction file (``archsim/data/measurements/h200/
h200-blind-predictions-*.json``): its ``models`` (configs) and ``points`` (model, impl, phase, batch,
length) are what this script measures, so the list measured is the list predicted before any of it ran.

Round 2 (``h200-blind2-predictions-*.json``) adds HF ``Phi3ForCausalLM`` (fused qkv / gate_up, no sliding
window), HF ``MixtralForCausalLM`` at a new width and tied embeddings (``tied``); ``--structure-set 2`` runs
its tiny-width classes and writes the installed transformers' Phi-3 source to ``hf-source.txt``.

``--structure`` instead runs tiny-width versions of the same model classes (2 layers, widths 256-512,
32-token prompts) for the profiler's kernel list only: which kernels each layer launches, to check the
lowering's structure (names and counts), never its times.

Model classes (random weights from configs, nothing downloaded): HF ``GPT2LMHeadModel`` (LayerNorm,
learned positions, ``Conv1D`` with biases, ``gelu_new``), HF ``Qwen2ForCausalLM`` (biased q/k/v, GQA),
HF ``LlamaForCausalLM`` with head_dim 256 and one KV head, and the campaign's plain PyTorch Llama
(``wm_models.PlainLlama``) eager or through ``torch.compile``, in bf16 or fp16. Each case is timed and
profiled as ``whole_model.Runner`` does (CUDA-event wall, profiler kernel sum and per-kernel rows, NVML
energy; eager, and CUDA-graph replay for decode and prefills of at most 4096 tokens).

Writes ``wm-whole.csv``, ``wm-kernels.csv``, ``wm-meta.json``, ``wm-log.txt`` under ``--out``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys

import torch
import whole_model as W
import wm_models

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
EXTRA = ["point_id", "family", "qkv_bias", "head_dim", "dtype"]
STRUCTURE_MODELS = {
    "tiny-gpt2": dict(cls="gpt2", hidden=256, heads=4, kv_heads=4, ffn=1024, vocab=1024, layers_full=2,
                      dtype="fp16"),
    "tiny-qwen2": dict(cls="qwen2", hidden=256, heads=8, kv_heads=2, ffn=768, vocab=1024, layers_full=2,
                       dtype="bf16"),
    "tiny-hd256": dict(cls="llama", hidden=512, heads=2, kv_heads=1, ffn=1024, vocab=1024, layers_full=2,
                       dtype="bf16"),
    "tiny-plain-fp16": dict(cls="plain", hidden=256, heads=2, kv_heads=1, ffn=512, vocab=1024, layers_full=2,
                            dtype="fp16"),
}
#: round 2's tiny-width classes (Phi-3 fused qkv / gate_up, tied Llama with head_dim 64, Mixtral at a new width,
#: GPT-2 in bf16): kernel structure only, before round 2's predictions were written
STRUCTURE_MODELS_2 = {
    "tiny-phi3": dict(cls="phi3", hidden=384, heads=4, kv_heads=4, ffn=768, vocab=1024, layers_full=2, dtype="bf16"),
    "tiny-llama-tied": dict(cls="llama", hidden=256, heads=4, kv_heads=1, ffn=512, vocab=1024, layers_full=2,
                            dtype="bf16", tied=True),
    "tiny-mixtral": dict(cls="mixtral", hidden=256, heads=4, kv_heads=2, ffn=512, vocab=1024, layers_full=2,
                         dtype="bf16", experts=8, top_k=2),
    "tiny-gpt2-bf16": dict(cls="gpt2", hidden=256, heads=4, kv_heads=4, ffn=1024, vocab=1024, layers_full=2,
                           dtype="bf16"),
}
STRUCTURE_POINTS = [("prefill", 1, 32), ("prefill", 4, 32), ("decode", 1, 32), ("decode", 4, 32)]


def _scope_norms() -> None:
    """Profiler scopes around LayerNorm / Qwen2 and Phi-3 RMSNorm / rotary (computation unchanged; idempotent)."""
    from transformers.models.phi3 import modeling_phi3 as p3
    from transformers.models.qwen2 import modeling_qwen2 as q2
    wm_models.add_hf_scopes()
    for cls, scope in ((torch.nn.LayerNorm, "norm"), (q2.Qwen2RMSNorm, "norm"), (q2.Qwen2RotaryEmbedding, "rotary"),
                       (p3.Phi3RMSNorm, "norm"), (p3.Phi3RotaryEmbedding, "rotary")):
        if not getattr(cls.forward, "_wm_scoped", False):
            cls.forward = wm_models._scoped(cls.forward, scope)
    for mod in (q2, p3):
        if not getattr(mod.apply_rotary_pos_emb, "_wm_scoped", False):
            mod.apply_rotary_pos_emb = wm_models._scoped(mod.apply_rotary_pos_emb, "rotary")


def dump_sources(path: str) -> None:
    """The installed transformers' code of the round-2 classes (what the lowering must follow), to a text file."""
    import inspect

    import transformers
    from transformers.models.phi3 import modeling_phi3 as p3
    with open(path, "w") as fh:
        fh.write(f"# transformers {transformers.__version__}\n")
        for obj in (p3.Phi3Model.forward, p3.Phi3DecoderLayer.forward, p3.Phi3Attention.forward, p3.Phi3MLP.forward,
                    p3.apply_rotary_pos_emb, p3.rotate_half, p3.Phi3RotaryEmbedding.forward):
            try:
                fh.write(f"\n# ---- {obj.__qualname__}\n{inspect.getsource(obj)}")
            except (OSError, TypeError) as e:
                fh.write(f"\n# ---- {obj!r}: {e!r}\n")


def hf_build(s: dict, layers: int, max_pos: int):
    """An HF model of class ``s['cls']`` (gpt2 | qwen2 | llama | phi3 | mixtral) with random weights, sdpa
    attention; ``s['tied']``: input and output embeddings share one matrix (GPT-2 always does)."""
    import transformers as tf
    dtype = DTYPES[s["dtype"]]
    if s["cls"] == "gpt2":
        cfg = tf.GPT2Config(n_embd=s["hidden"], n_layer=layers, n_head=s["heads"], n_inner=s["ffn"],
                            vocab_size=s["vocab"], n_positions=max_pos)
        cls = tf.GPT2LMHeadModel
    else:
        common = dict(hidden_size=s["hidden"], num_attention_heads=s["heads"], num_key_value_heads=s["kv_heads"],
                      intermediate_size=s["ffn"], vocab_size=s["vocab"], num_hidden_layers=layers,
                      max_position_embeddings=max_pos, tie_word_embeddings=bool(s.get("tied", False)))
        if s["cls"] == "qwen2":
            cfg, cls = tf.Qwen2Config(**common, use_sliding_window=False), tf.Qwen2ForCausalLM
        elif s["cls"] == "phi3":  # no sliding window, no long-rope scaling; pad id inside the vocabulary
            cfg = tf.Phi3Config(**common, sliding_window=None, pad_token_id=0, bos_token_id=1, eos_token_id=2)
            cls = tf.Phi3ForCausalLM
        elif s["cls"] == "mixtral":
            cfg = tf.MixtralConfig(**common, num_local_experts=s["experts"], num_experts_per_tok=s["top_k"])
            cls = tf.MixtralForCausalLM
        else:
            cfg, cls = tf.LlamaConfig(**common, head_dim=s["hidden"] // s["heads"]), tf.LlamaForCausalLM
    _scope_norms()
    with torch.device("cuda"):
        model = cls._from_config(cfg, attn_implementation="sdpa", dtype=dtype)
    return model.eval(), cfg


def hf_cache(s: dict, cfg, layers: int, batch: int, ctx: int):
    """A DynamicCache of ``ctx`` random tokens per layer in the model's dtype, and its reset."""
    from transformers import DynamicCache
    d = s["hidden"] // s["heads"]
    try:
        cache = DynamicCache(config=cfg)
    except TypeError:
        cache = DynamicCache()
    base = []
    for i in range(layers):
        k = torch.randn(batch, s["kv_heads"], ctx, d, dtype=DTYPES[s["dtype"]], device="cuda")
        v = torch.randn_like(k)
        cache.update(k, v, i)
        base.append((k, v))

    def reset() -> None:
        for layer, (k, v) in zip(cache.layers, base, strict=True):
            layer.keys, layer.values = k, v
    reset()
    return cache, reset


class PlainTyped(wm_models.PlainLlama):
    """The campaign's plain Llama in another dtype (weights, rotary tables and static cache)."""

    def __init__(self, shape: dict, layers: int, max_pos: int, dtype) -> None:
        super().__init__(shape, layers, max_pos)
        self.dtype_ = dtype
        self.to(dtype)

    def alloc_cache(self, batch: int, length: int) -> None:
        dev = self.nf.device
        self.k_cache = [torch.randn(batch, self.hkv, length, self.d, dtype=self.dtype_, device=dev)
                        for _ in range(self.layers)]
        self.v_cache = [torch.randn(batch, self.hkv, length, self.d, dtype=self.dtype_, device=dev)
                        for _ in range(self.layers)]


def cols(name: str, s: dict, layers: int, point_id: str) -> dict:
    return {"model": name, "layers": layers, "layers_full": s["layers_full"], "hidden": s["hidden"],
            "heads": s["heads"], "kv_heads": s["kv_heads"], "ffn": s["ffn"], "vocab": s["vocab"],
            "experts": s.get("experts", ""), "top_k": s.get("top_k", ""), "point_id": point_id,
            "family": s["cls"] if s["cls"] in ("gpt2", "phi3") else "llama",
            "qkv_bias": int(s["cls"] == "qwen2"), "head_dim": s["hidden"] // s["heads"], "dtype": s["dtype"]}


def run_hf(runner: W.Runner, name: str, s: dict, layers: int, points: list[dict], max_pos: int) -> None:
    model, cfg = hf_build(s, layers, max_pos)
    graph_ok = True
    with torch.inference_mode():
        for p in points:
            if runner.budget.left() < 20:
                runner.log(f"budget: skipping {p['id']}")
                continue
            b, n = p["batch"], p["length"]
            ids = torch.randint(0, s["vocab"], (b, 1 if p["phase"] == "decode" else n), device="cuda")
            base = {**cols(name, s, layers, p["id"]), "impl": "hf", "phase": p["phase"], "batch": b}
            if p["phase"] == "prefill":
                call = functools.partial(model, input_ids=ids, use_cache=True, logits_to_keep=1)
                runner.case({**base, "seq_len": n, "context": 0}, call, graph=p.get("graph", b * n <= 4096))
            else:
                cache, reset = hf_cache(s, cfg, layers, b, n)
                kw = dict(input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
                if s["cls"] != "gpt2":  # GPT-2 derives its positions from the cache length itself
                    cpos = torch.tensor([n], device="cuda")
                    kw.update(cache_position=cpos, position_ids=cpos.view(1, 1).expand(b, 1))
                call = functools.partial(W.hf_decode_step, model, reset, kw)
                graph_ok = runner.case({**base, "seq_len": 1, "context": n}, call, graph=graph_ok)
                del cache, reset
            torch.cuda.empty_cache()
    del model
    torch.cuda.empty_cache()


def run_plain(runner: W.Runner, name: str, s: dict, layers: int, points: list[dict], compiled: bool,
              max_pos: int) -> None:
    with torch.device("cuda"):
        model = PlainTyped({**s, "rope_theta": 10000.0, "eps": 1e-5}, layers, max_pos, DTYPES[s["dtype"]])
    fwd = torch.compile(model, dynamic=False) if compiled else model
    impl = "plain-compiled" if compiled else "plain"
    with torch.inference_mode():
        for p in points:
            if runner.budget.left() < (75 if compiled else 20):
                runner.log(f"budget: skipping {p['id']}")
                continue
            b, n = p["batch"], p["length"]
            sl, start = (n, 0) if p["phase"] == "prefill" else (1, n)
            model.alloc_cache(b, start + sl)
            ids = torch.randint(0, s["vocab"], (b, sl), device="cuda")
            pos = torch.arange(start, start + sl, device="cuda")
            base = {**cols(name, s, layers, p["id"]), "impl": impl, "phase": p["phase"], "batch": b,
                    "seq_len": sl, "context": start, "family": "llama", "qkv_bias": 0}  # the plain Llama structure
            runner.case(base, functools.partial(fwd, ids, pos, start),
                        graph=p.get("graph", p["phase"] == "decode" or b * sl <= 4096))
            model.k_cache, model.v_cache = [], []
            torch.cuda.empty_cache()
    del model, fwd
    torch.cuda.empty_cache()


def run_set(runner: W.Runner, models: dict, points: list[dict], max_pos: int) -> None:
    """Every point, grouped by (model, impl) in the order of first appearance (one model build each)."""
    order: list[tuple[str, str]] = []
    for p in points:
        if (p["model"], p["impl"]) not in order:
            order.append((p["model"], p["impl"]))
    for name, impl in order:
        s = models[name]
        pts = [p for p in points if (p["model"], p["impl"]) == (name, impl)]
        layers = s.get("layers", s["layers_full"])
        try:
            if impl == "hf":
                run_hf(runner, name, s, layers, pts, max_pos)
            else:
                run_plain(runner, name, s, layers, pts, impl == "plain-compiled", max_pos)
        except Exception as e:  # a model that fails to build is recorded in the log; the others still run
            runner.log(f"{name} {impl} FAILED {e!r}")
            torch.cuda.empty_cache()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.environ.get("OUT", "blind-out"))
    ap.add_argument("--points", help="committed prediction JSON (models and points)")
    ap.add_argument("--budget-s", type=float, default=300.0)
    ap.add_argument("--structure", action="store_true", help="tiny-width kernel-structure runs only")
    ap.add_argument("--structure-set", default="1", choices=("1", "2"), help="which round's tiny classes")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    budget = W.Budget(args.budget_s)
    logf = open(os.path.join(args.out, "wm-log.txt"), "w")

    def log(msg: str) -> None:
        line = f"[{budget.limit - budget.left():7.1f}s] {msg}"
        print(line, flush=True)
        logf.write(line + "\n")
        logf.flush()
    torch.manual_seed(0)
    nvml = W.Nvml()
    info = W.meta(nvml)
    info["set"] = "structure" if args.structure else "blind"
    if args.structure:
        models = STRUCTURE_MODELS if args.structure_set == "1" else STRUCTURE_MODELS_2
        if args.structure_set == "2":
            dump_sources(os.path.join(args.out, "hf-source.txt"))
        points = [{"id": f"{m}-{ph}-b{b}", "model": m, "impl": "plain" if s["cls"] == "plain" else "hf",
                   "phase": ph, "batch": b, "length": n} for m, s in models.items() for ph, b, n in STRUCTURE_POINTS]
    else:
        with open(args.points) as fh:
            doc = json.load(fh)
        models, points = doc["models"], doc["points"]
        info["points_file"] = args.points
        info["points_sha"] = doc.get("sha", "")
    log(json.dumps(info))
    W.write_meta(args.out, info)
    W.WHOLE_FIELDS = W.WHOLE_FIELDS + EXTRA
    runner = W.Runner(args.out, budget, nvml, log)
    max_pos = max(p["length"] + 8 for p in points)
    run_set(runner, models, points, max_pos)
    info["clocks_end"] = nvml.clocks()
    info["wall_s"] = budget.limit - budget.left()
    W.write_meta(args.out, info)
    log(f"done in {info['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
