"""Host cost vs width, depth and code path, interleaved (issue 16 items 3/6, issue 19 item 4b; helper host-width).

Question: the host-bound regimes (HF GPT-2 ``generate`` at batch 1, the serving engine's eager prefill, the
power campaign's eager MiniLlama decode) were predicted from tiny-width models measured in short windows of
1-3 layer counts. Is there a host cost that grows with width (caching allocator, tensor metadata, kernel
arguments, cuBLAS/cuDNN per-shape lookups, Python per module) — or are the gaps depth non-linearity, a
different code path, or the machine's host speed drifting between the windows? Every part here measures
its configurations *interleaved* (each round visits every configuration once, in a shuffled order; median
over rounds), so slow drift of the machine falls on every configuration alike, and records per call the
host thread's CPU time, its run-queue wait (``/proc/thread-self/schedstat``) and the guest's steal time.

Run on the GPU machine from the repository root (imports torch, transformers, numpy, pynvml and the sibling
campaign modules ``host_dispatch``, ``baselines_gpu``, ``wm_models``, ``serving_engine``, ``power``,
``csv_sink``; nothing is downloaded: random weights from configs)::

    PYTHONPATH=campaigns python3 campaigns/host_width.py --out "$OUT" [--budget-s 190] [--smoke]

Parts (rows flushed as measured; a part past the budget is skipped and named in the meta):

1. ``gen``: ``GPT2LMHeadModel.generate`` greedy, batch 1, 1-token prompt, 16 new tokens, wall per token.
   Calibration: width 64 (1 head) x 1/3/6/12/24/48 layers, eager and sdpa attention. Diagnosis (width at
   equal depth; not fitted): widths 768/1600 at 1 and 12 layers and the GPT-2 S/M/L/XL shapes (validation
   shapes re-measured on this machine; the validation figures stay ``h200-bl-gpt2``).
2. ``split``: width 64, 1/12/48 layers, eager: per token, ``generate`` vs a hand-written greedy loop
   (forward on the DynamicCache + argmax, no sync) vs the same loop with one ``.item()`` sync per token:
   ``generate``'s own bookkeeping (logits processors, stopping criteria, input preparation, kwargs update).
3. ``paths``: one synchronised call, host seconds until it returns: the serving engine's eager prefill
   (``serving_engine.Engine.prefill``, 256 tokens) at width 256 x 1/2/4/8 layers and at its real width
   (Llama-2-7B) x 2/8 layers; ``wm_models.PlainLlama`` prefill (16 tokens, the tiny model the serving host
   calibration used) width 256 x 1/2/4/8; ``power.MiniLlama`` decode (b1) width 256 x 1/2/4/8 (ctx 64)
   and real width x 1/4 (ctx 2048).
4. ``shape``: per-call host time of an op whose shape is new on every call (eager attention's QK^T matmul,
   SDPA at a growing KV length) vs the same op at a repeated shape, 12 and 25 heads.

Files: hw-gen.csv, hw-split.csv, hw-paths.csv, hw-shape.csv, hw-meta.json, hw-log.txt.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import resource
import sys
import time

import host_dispatch as hd
import torch
from csv_sink import Sink

T0 = time.perf_counter()
LOG: list[str] = []
BF16 = torch.bfloat16
CALL_FIELDS = ["round", "t_s", "wall_s", "host_s", "thread_cpu_s", "runq_wait_s", "steal_s", "nivcsw", "probe_us"]


def log(msg: str) -> None:
    line = f"[{time.perf_counter() - T0:7.1f}s] {msg}"
    print(line, flush=True)
    LOG.append(line)


def _steal_s() -> float:
    """Guest steal time summed over CPUs (seconds; /proc/stat jiffies at USER_HZ 100)."""
    try:
        with open("/proc/stat") as fh:
            f = fh.readline().split()
        return int(f[8]) / 100.0
    except (OSError, IndexError, ValueError):
        return float("nan")


def _runq_wait_s() -> float:
    """This thread's time runnable but waiting for a CPU (schedstat field 2, ns)."""
    try:
        with open("/proc/thread-self/schedstat") as fh:
            return int(fh.read().split()[1]) * 1e-9
    except (OSError, IndexError, ValueError):
        return float("nan")


def probe_us() -> float:
    """Pure-Python loop, us per 100k iterations (best of 3 x 20k): the host's speed at this moment."""
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        s = 0
        for i in range(20_000):
            s += i
        best = min(best, time.perf_counter() - t)
    return best * 5e6


def timed_call(fn) -> dict:
    """One synchronised call: wall (to the sync's return), host (to the call's return) and what the OS saw."""
    torch.cuda.synchronize()
    st, rq, cs = _steal_s(), _runq_wait_s(), resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw
    c0 = time.thread_time()
    t0 = time.perf_counter()
    fn()
    t1 = time.perf_counter()
    torch.cuda.synchronize()
    t2 = time.perf_counter()
    c1 = time.thread_time()
    return {"t_s": t0 - T0, "wall_s": t2 - t0, "host_s": t1 - t0, "thread_cpu_s": c1 - c0,
            "runq_wait_s": _runq_wait_s() - rq, "steal_s": _steal_s() - st,
            "nivcsw": resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw - cs}


def interleaved(sink: Sink, calls: dict, rounds: int, over, extra: dict, seed: int) -> None:
    """``rounds`` rounds over ``calls`` (key tuple -> fn), shuffled per round; one row per call, a probe per round."""
    rng = random.Random(seed)
    keys = list(calls)
    for r in range(rounds):
        if over():
            log(f"round {r} skipped (budget)")
            return
        p = probe_us()
        rng.shuffle(keys)
        for k in keys:
            row = timed_call(calls[k])
            sink.row(**extra[k], round=r, probe_us=p, **row)


def gen_configs(smoke: bool) -> list[tuple[str, int, int, int, str]]:
    """(role, width, layers, heads, attn)."""
    if smoke:
        return [("calib", 64, 1, 1, "eager"), ("calib", 64, 6, 1, "eager"), ("calib", 64, 1, 1, "sdpa"),
                ("width", 1600, 1, 25, "eager"), ("gpt2-small", 768, 12, 12, "eager")]
    out = [("calib", 64, L, 1, a) for a in ("eager", "sdpa") for L in (1, 3, 6, 12, 24, 48)]
    out += [("width", w, L, w // 64, "eager") for w in (768, 1600) for L in (1, 12)]
    shapes = {"gpt2-small": (768, 12, 12), "gpt2-medium": (1024, 24, 16), "gpt2-large": (1280, 36, 20),
              "gpt2-xl": (1600, 48, 25)}
    out += [(n, w, L, h, a) for n, (w, L, h) in shapes.items() for a in ("eager", "sdpa")]
    return out


def run_gen(out: str, smoke: bool, over) -> None:
    tokens = 4 if smoke else 16
    sink = Sink(os.path.join(out, "hw-gen.csv"), ["part", "role", "width", "layers", "heads", "attn", "tokens",
                                                  *CALL_FIELDS])
    calls, extra = {}, {}
    with torch.inference_mode():
        for role, w, L, h, a in gen_configs(smoke):
            if over():
                log(f"gen {role} w{w} L{L} {a} not built (budget)")
                continue
            m = hd.gpt2_model(w, L, h, a)
            hd._generate(m, tokens)  # warm-up: allocator, cuBLAS handles, cuDNN plans for these KV lengths
            hd._generate(m, tokens)
            key = (role, w, L, a)
            calls[key] = (lambda m=m: hd._generate(m, tokens))
            extra[key] = dict(part="gen", role=role, width=w, layers=L, heads=h, attn=a, tokens=tokens)
        log(f"gen: {len(calls)} models built")
        interleaved(sink, calls, 2 if smoke else 6, over, extra, seed=16)
    del calls
    torch.cuda.empty_cache()
    log("gen done")


def _greedy(model, tokens: int, sync: bool) -> None:
    """Greedy loop as users write it without ``generate``: forward on a DynamicCache + argmax (+ one sync)."""
    from transformers import DynamicCache
    ids = torch.randint(0, 50257, (1, 1), device="cuda")
    cache = DynamicCache()
    for _ in range(tokens):
        logits = model(input_ids=ids, past_key_values=cache, use_cache=True).logits
        ids = logits[:, -1].argmax(-1, keepdim=True)
        if sync:
            ids[0, 0].item()


def run_split(out: str, smoke: bool, over) -> None:
    tokens = 4 if smoke else 16
    sink = Sink(os.path.join(out, "hw-split.csv"), ["part", "variant", "width", "layers", "tokens", *CALL_FIELDS])
    calls, extra = {}, {}
    with torch.inference_mode():
        for L in ((1, 6) if smoke else (1, 12, 48)):
            m = hd.gpt2_model(64, L, 1, "eager")
            for variant, fn in (("generate", lambda m=m: hd._generate(m, tokens)),
                                ("loop", lambda m=m: _greedy(m, tokens, False)),
                                ("loop_sync", lambda m=m: _greedy(m, tokens, True))):
                fn()
                calls[(variant, L)] = fn
                extra[(variant, L)] = dict(part="split", variant=variant, width=64, layers=L, tokens=tokens)
        interleaved(sink, calls, 2 if smoke else 5, over, extra, seed=17)
    del calls
    torch.cuda.empty_cache()
    log("split done")


TINY = dict(hidden=256, heads=4, kv_heads=4, ffn=512, vocab=1024, layers_full=0, rope_theta=1e4, eps=1e-5)


def _engine(layers: int, tiny: bool):
    import serving_engine
    import wm_models
    saved = dict(wm_models.SHAPES["llama-2-7b"])
    if tiny:
        wm_models.SHAPES["llama-2-7b"].update(TINY)
    try:
        eng = serving_engine.Engine(layers, 1, 256, 64, False, log)
    finally:
        wm_models.SHAPES["llama-2-7b"].clear()
        wm_models.SHAPES["llama-2-7b"].update(saved)
    return lambda: eng.prefill(0)


def _plain_prefill(layers: int):
    import wm_models
    ids = torch.randint(0, 1024, (1, 16), device="cuda")
    with torch.device("cuda"):
        m = wm_models.PlainLlama(TINY, layers, max_pos=64)
    m.requires_grad_(False)
    m.alloc_cache(1, 16)
    pos = torch.arange(0, 16, device="cuda")
    return lambda: m(ids, pos, 0)


def _minillama(layers: int, tiny: bool):
    import power
    h, heads, inter, ctx = (256, 2, 512, 64) if tiny else (4096, 32, 11008, 2048)
    m = power.MiniLlama(layers, hidden=h, heads=heads, inter=inter)
    d = h // heads
    x = torch.randn(1, 1, h, device="cuda", dtype=BF16)
    cos, sin = (torch.randn(1, 1, 1, d, device="cuda", dtype=BF16) for _ in range(2))
    kv = [(torch.randn(1, heads, ctx, d, device="cuda", dtype=BF16),
           torch.randn(1, heads, ctx, d, device="cuda", dtype=BF16)) for _ in range(layers)]
    return lambda: m.forward(x, cos, sin, kv)


def run_paths(out: str, smoke: bool, over) -> None:
    sink = Sink(os.path.join(out, "hw-paths.csv"), ["part", "path", "width", "layers", *CALL_FIELDS])
    depths = (1, 4) if smoke else (1, 2, 4, 8)
    plan = [("engine-prefill", 256, L, lambda L=L: _engine(L, True)) for L in depths]
    plan += [("engine-prefill", 4096, L, lambda L=L: _engine(L, False)) for L in ((2,) if smoke else (2, 8))]
    plan += [("plain-prefill", 256, L, lambda L=L: _plain_prefill(L)) for L in depths]
    plan += [("minillama-decode", 256, L, lambda L=L: _minillama(L, True)) for L in depths]
    plan += [("minillama-decode", 4096, L, lambda L=L: _minillama(L, False)) for L in ((1,) if smoke else (1, 4))]
    calls, extra = {}, {}
    with torch.inference_mode():
        for path, w, L, build in plan:
            if over():
                log(f"paths {path} w{w} L{L} not built (budget)")
                continue
            try:
                fn = build()
                for _ in range(3):
                    fn()
                calls[(path, w, L)] = fn
                extra[(path, w, L)] = dict(part="paths", path=path, width=w, layers=L)
            except Exception as e:  # noqa: BLE001 - recorded, the rest goes on
                log(f"paths {path} w{w} L{L} FAILED {e!r}"[:400])
        torch.cuda.synchronize()
        interleaved(sink, calls, 3 if smoke else 25, over, extra, seed=18)
    del calls
    torch.cuda.empty_cache()
    log("paths done")


def run_shape(out: str, smoke: bool) -> None:
    """Per-call host time (enqueue, 40 calls back to back, best of 3) at a new vs a repeated shape."""
    import torch.nn.functional as F
    sink = Sink(os.path.join(out, "hw-shape.csv"), ["part", "op", "heads", "shape", "calls", "host_us_per_call"])
    with torch.inference_mode():
        for heads in (12, 25):
            q = torch.randn(1, heads, 1, 64, device="cuda", dtype=torch.float16)
            kv = torch.randn(1, heads, 4096, 64, device="cuda", dtype=torch.float16)
            ops = {"matmul_qk": lambda c, q=q, kv=kv: torch.matmul(q, kv[:, :, :c].transpose(-1, -2)),
                   "sdpa": lambda c, q=q, kv=kv: F.scaled_dot_product_attention(q, kv[:, :, :c], kv[:, :, :c])}
            base = 100 + 200 * (heads == 25)  # disjoint KV-length ranges per head count
            for op, fn in ops.items():
                n = (4 if smoke else 8) if op == "sdpa" else (10 if smoke else 40)  # a new cuDNN plan: ~37 ms
                for shape in ("repeated", "new"):
                    best = float("inf")
                    for trial in range(3):
                        lens = [base] * n if shape == "repeated" else [base + 1000 + 2 * (trial * n + i)
                                                                       for i in range(n)]
                        if shape == "repeated":
                            fn(base)
                        torch.cuda.synchronize()
                        t0 = time.perf_counter()
                        for c in lens:
                            fn(c)
                        best = min(best, time.perf_counter() - t0)
                        torch.cuda.synchronize()
                    sink.row(part="shape", op=op, heads=heads, shape=shape, calls=n, host_us_per_call=best / n * 1e6)
    log("shape done")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--budget-s", type=float, default=190.0)
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    over = lambda: time.perf_counter() - T0 > args.budget_s  # noqa: E731

    def until(frac: float):
        """Budget test of one part: past ``frac`` of the budget, its remaining rounds are skipped."""
        return lambda: time.perf_counter() - T0 > frac * args.budget_s
    import transformers
    meta = {"date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "device_name": torch.cuda.get_device_name(0), "torch": torch.__version__, "torch_cuda": torch.version.cuda,
            "transformers": transformers.__version__, "python": platform.python_version(),
            "torch_threads": torch.get_num_threads(), "command": " ".join(sys.argv), "smoke": args.smoke,
            "cpu_start": hd.cpu_info(), "probe_start": hd.speed_probe(), "skipped": []}
    try:
        import numpy
        import pynvml
        meta["numpy"] = numpy.__version__
        pynvml.nvmlInit()
        meta["driver"] = pynvml.nvmlSystemGetDriverVersion()
        meta["gpu_uuid_prefix"] = pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetHandleByIndex(0))[:12]
    except Exception as e:  # noqa: BLE001
        meta["driver_error"] = repr(e)
    log(f"start {meta['probe_start']}")
    for name, fn in (("gen", lambda: run_gen(args.out, args.smoke, until(0.55))),
                     ("split", lambda: run_split(args.out, args.smoke, until(0.75))),
                     ("paths", lambda: run_paths(args.out, args.smoke, until(0.92))),
                     ("shape", lambda: run_shape(args.out, args.smoke))):
        if over():
            meta["skipped"].append(name)
            log(f"{name} skipped (budget)")
            continue
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - record and go on
            meta.setdefault("errors", {})[name] = repr(e)[:400]
            log(f"{name} FAILED {e!r}"[:400])
        meta[f"probe_after_{name}"] = hd.speed_probe()
    meta["cpu_end"] = hd.cpu_info()
    meta["wall_s"] = time.perf_counter() - T0
    with open(os.path.join(args.out, "hw-meta.json"), "w") as fh:
        json.dump(meta, fh, indent=1)
    with open(os.path.join(args.out, "hw-log.txt"), "w") as fh:
        fh.write("\n".join(LOG) + "\n")
    log("end")


if __name__ == "__main__":
    main()
