"""Host-dispatch microbenchmarks (issue 16 item 3; issues 19 and 22 host-bound rows): what the CPU spends
to issue eager PyTorch work, by operator kind and width, per layer of the plain and HuggingFace stacks vs
width, and per token of HF GPT-2 ``generate`` vs width and depth; the machine's CPU identity and speed.

Run on the GPU machine from the repository root (imports torch, transformers, numpy; ``wm_models``,
``csv_sink``, ``power`` and ``serving_engine`` beside this file; nothing is downloaded)::

    PYTHONPATH=campaigns python3 campaigns/host_dispatch.py --out "$OUT" [--budget-s 230] [--smoke]

Parts (rows flushed as measured; a part that would overrun the budget is skipped and named in the meta):

1. ``ops`` (calibration): one eager operator called in a tight loop (200 calls, best of 3): host seconds
   per call (before the synchronisation) and wall per call, by op kind x width (64 .. 4096, 1 token; 256
   tokens at 4096); plus the same ops issued in a mixed order (a ``mix`` row per width: per-op host cost
   when consecutive calls are different operators, as in a model).
2. ``layers`` (calibration): host time of one forward of the plain stack (``wm_models.PlainLlama``,
   decode 1 token and prefill 16 tokens) and of HF GPT-2 (decode with a cache), 1/2/3 layers x widths,
   reps interleaved across layer counts (median): slope = host s per layer at that width.
3. ``generate`` (calibration): HF ``GPT2LMHeadModel.generate`` greedy batch 1, 1-token prompt, 32 new
   tokens, eager and sdpa attention, widths 64..1600 x 1/3 layers and 64 x 6/12 layers (GPU time per
   token stays << host time): wall per token (median of 3 reps); CUDA caching-allocator segment
   counts and gc collections over the timed reps.
4. ``profile`` (diagnosis; run after 5, then three ``generate`` configs again: drift): torch.profiler
   CPU+CUDA of one 8-token generate at widths 64 and 1600 (3
   layers, eager): per token, calls and self CPU time of the top operators and CUDA runtime calls
   (cudaLaunchKernel, cudaStreamSynchronize, cudaMemcpyAsync, cudaMalloc), and the GPU kernel sum.
5. ``validation`` (held out; never fitted): GPT-2 small / XL shapes generate (eager, 96 tokens), the power
   campaign's 4-layer Llama-2-7B ``MiniLlama`` decode b1 ctx 2048 eager (steps back to back, one sync
   per window, as ``power.measure``), the serving engine's eager 256-token prefill of 8 layers (isolated,
   synchronised per rep, as its ``buckets.csv``), all on this machine.

Machine speed probes (pure-Python loop, ``add_`` dispatch) at start, middle and end; CPU model, MHz
lines, cgroup CPU quota and throttling counters at start and end.
Files: host-ops.csv, host-layers.csv, host-generate.csv, host-profile.csv, host-validation.csv,
host-meta.json, host-log.txt.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

import baselines_gpu
import torch
import torch.nn.functional as F
import wm_micro
from csv_sink import Sink

BF16 = torch.bfloat16
T0 = time.perf_counter()
LOG: list[str] = []


def log(msg: str) -> None:
    line = f"[{time.perf_counter() - T0:7.1f}s] {msg}"
    print(line, flush=True)
    LOG.append(line)


def _read(path: str) -> str:
    try:
        with open(path) as fh:
            return fh.read()
    except OSError:
        return ""


def cpu_info() -> dict:
    txt = _read("/proc/cpuinfo")
    models = sorted({ln.split(":", 1)[1].strip() for ln in txt.splitlines() if ln.startswith("model name")})
    mhz = [float(ln.split(":", 1)[1]) for ln in txt.splitlines() if ln.startswith("cpu MHz")]
    flags = next((ln.split(":", 1)[1].split() for ln in txt.splitlines() if ln.startswith("flags")), [])
    out = {"cpu_models": models, "cpu_mhz_min": min(mhz, default=None), "cpu_mhz_median": statistics.median(mhz)
           if mhz else None, "cpu_mhz_max": max(mhz, default=None), "hypervisor": "hypervisor" in flags,
           "affinity": len(os.sched_getaffinity(0)), "loadavg": _read("/proc/loadavg").strip(),
           "cgroup_cpu_max": _read("/sys/fs/cgroup/cpu.max").strip(),
           "cgroup_cpu_stat": _read("/sys/fs/cgroup/cpu.stat").strip().replace("\n", "; "),
           "scaling_cur_freq_khz": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq").strip(),
           "scaling_governor": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor").strip()}
    try:
        out["lscpu"] = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=5).stdout[-3000:]
    except Exception:  # noqa: BLE001 - optional
        out["lscpu"] = ""
    return out


def speed_probe() -> dict:
    """Pure-Python loop (us per 100k iterations, best of 5) and add_ dispatch (us per call, best of 3 x 400)."""
    best = math.inf
    for _ in range(5):
        t = time.perf_counter()
        s = 0
        for i in range(100_000):
            s += i
        best = min(best, time.perf_counter() - t)
    x = torch.zeros(64, device="cuda")
    for _ in range(50):
        x.add_(1.0)
    torch.cuda.synchronize()
    disp = math.inf
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(400):
            x.add_(1.0)
        disp = min(disp, (time.perf_counter() - t) / 400)
        torch.cuda.synchronize()
    return {"py_loop_us_per_100k": best * 1e6, "add_inplace_us": disp * 1e6}


def op_cases(w: int, t: int) -> list[tuple[str, object, int]]:
    """(op, fn, kernels per call) at width ``w`` and ``t`` tokens (bf16, batch 1)."""
    dev = "cuda"
    heads = max(1, w // 64)
    x, y = torch.randn(1, t, w, dtype=BF16, device=dev), torch.randn(1, t, w, dtype=BF16, device=dev)
    wt, b = torch.randn(w, w, dtype=BF16, device=dev) * 0.02, torch.zeros(w, dtype=BF16, device=dev)
    g = torch.ones(w, dtype=BF16, device=dev)
    q = torch.randn(1, heads, t, 64, dtype=BF16, device=dev)
    kv = torch.randn(1, heads, 64, 64, dtype=BF16, device=dev)
    s = torch.randn(1, heads, t, 64, dtype=BF16, device=dev)
    table = torch.randn(1024, w, dtype=BF16, device=dev)
    ids = torch.randint(0, 1024, (1, t), device=dev)
    cache = torch.zeros(1, heads, 128, 64, dtype=BF16, device=dev)
    lin = torch.nn.Linear(w, w, device=dev, dtype=BF16)
    qkv = torch.randn(1, t, 3 * w, dtype=BF16, device=dev)
    c0 = math.sqrt(2.0 / math.pi)

    def rms():
        xf = x.float()
        v = xf.pow(2).mean(-1, keepdim=True)
        return g * (xf * torch.rsqrt(v + 1e-5)).to(BF16)

    def gelu_new():  # transformers activations.NewGELUActivation, as written
        return 0.5 * x * (1.0 + torch.tanh(c0 * (x + 0.044715 * torch.pow(x, 3.0))))

    def slice_assign():
        cache[:, :, 5:5 + min(t, 64)] = kv[:, :, :min(t, 64)]

    return [("add", lambda: x + y, 1), ("add_inplace", lambda: x.add_(1.0), 1), ("mul_scalar", lambda: x * 0.5, 1),
            ("linear", lambda: F.linear(x, wt), 1), ("linear_bias", lambda: F.linear(x, wt, b), 1),
            ("module_linear", lambda: lin(x), 1), ("layer_norm", lambda: F.layer_norm(x, (w,), g, b), 1),
            ("rmsnorm_fp32", rms, 7), ("gelu_new", gelu_new, 8),
            ("gelu_tanh", lambda: F.gelu(x, approximate="tanh"), 1),
            ("silu", lambda: F.silu(x), 1), ("softmax", lambda: F.softmax(s, -1), 1),
            ("matmul", lambda: torch.matmul(q, kv.transpose(-1, -2)), 1), ("cat", lambda: torch.cat((kv, q), -2), 1),
            ("view_transpose", lambda: qkv.view(1, t, 3, w).transpose(1, 2), 0),
            ("split", lambda: qkv.split(w, dim=-1), 0), ("contiguous", lambda: q.transpose(1, 2).contiguous(), 1),
            ("to_fp32", lambda: x.float(), 1), ("embedding", lambda: F.embedding(ids, table), 1),
            ("sdpa", lambda: F.scaled_dot_product_attention(q, kv, kv), 1), ("slice_assign", slice_assign, 1),
            ("argmax", lambda: x.argmax(-1), 1), ("item_sync", lambda: x[0, 0, 0].item(), 0)]


def run_ops(sink: Sink, widths: list[int], calls: int) -> None:
    shapes = [(w, 1) for w in widths] + ([(4096, 256)] if 4096 in widths else [])
    for w, t in shapes:
        cases = op_cases(w, t)
        for op, fn, kpc in cases:
            for _ in range(10):
                fn()
            torch.cuda.synchronize()
            host, wall = wm_micro.best_loop_s(fn, calls)
            sink.row(part="ops", op=op, order="loop", width=w, tokens=t, calls=calls, kernels_per_call=kpc,
                     host_us_per_call=host / calls * 1e6, wall_us_per_call=wall / calls * 1e6)
        # mixed order: every op once per round (excluding the sync), per-op host cost
        mix = [(op, fn) for op, fn, _ in cases if op != "item_sync"]
        rounds = max(10, calls // 10)
        host = math.inf
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(rounds):
                for _op, fn in mix:
                    fn()
            host = min(host, time.perf_counter() - t0)
            torch.cuda.synchronize()
        sink.row(part="ops", op="mix", order="mixed", width=w, tokens=t, calls=rounds * len(mix),
                 kernels_per_call="", host_us_per_call=host / (rounds * len(mix)) * 1e6, wall_us_per_call="")
        del cases, mix
    log("ops done")


def _median_host(calls: dict, reps: int) -> dict:
    """Interleaved reps over ``calls`` (name -> fn): median host and wall seconds per call."""
    res = {k: ([], []) for k in calls}
    for _ in range(reps):
        for k, fn in calls.items():
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            fn()
            t1 = time.perf_counter()
            torch.cuda.synchronize()
            res[k][0].append(t1 - t0)
            res[k][1].append(time.perf_counter() - t0)
    return {k: (statistics.median(h), statistics.median(w), min(h)) for k, (h, w) in res.items()}


def _plain(width: int, layers: int, phase: str):
    import wm_models
    heads = max(2, width // 128)
    shape = dict(hidden=width, heads=heads, kv_heads=heads, ffn=int(width * 2.6875) // 64 * 64 or 128,
                 vocab=32000 if width >= 1024 else 1024, layers_full=layers, rope_theta=1e4, eps=1e-5)
    b, s, ctx = (1, 16, 0) if phase == "prefill" else (1, 1, 16)
    ids = torch.randint(0, shape["vocab"], (b, s), device="cuda")
    with torch.device("cuda"):
        m = wm_models.PlainLlama(shape, layers, max_pos=64)
    m.requires_grad_(False)
    m.alloc_cache(b, ctx + s)
    pos = torch.arange(ctx, ctx + s, device="cuda")
    return lambda: m(ids, pos, ctx)


def gpt2_model(hidden: int, layers: int, heads: int, impl: str):
    """Random-weight fp16 HF GPT-2 (``baselines_gpu.gpt2_model``: the same construction as the baseline runs)."""
    return baselines_gpu.gpt2_model(hidden, layers, heads, impl, torch.float16)


def _gpt2_decode(width: int, layers: int):
    """One HF GPT-2 forward of 1 token on a DynamicCache built from a 16-token prompt (it grows 1 per call)."""
    model = gpt2_model(width, layers, max(1, width // 64), "eager")
    prompt = torch.randint(0, 50257, (1, 16), device="cuda")
    tok = torch.randint(0, 50257, (1, 1), device="cuda")
    with torch.inference_mode():
        cache = model(input_ids=prompt, use_cache=True).past_key_values
    return lambda: model(input_ids=tok, past_key_values=cache, use_cache=True)


def run_layers(sink: Sink, widths: dict[str, list[int]], reps: int, over) -> None:
    for stack, ws in widths.items():
        for w in ws:
            if over():
                log(f"layers {stack} w{w} skipped (budget)")
                continue
            try:
                with torch.inference_mode():
                    calls = {}
                    for L in (1, 2, 3):
                        calls[L] = _gpt2_decode(w, L) if stack.startswith("hf") else _plain(w, L, stack.split(":")[1])
                        for _ in range(3):
                            calls[L]()
                    res = _median_host(calls, reps)
                for L, (h, wall, hmin) in res.items():
                    sink.row(part="layers", stack=stack, width=w, layers=L, reps=reps, host_s=h, host_s_min=hmin,
                             wall_s=wall)
                del calls
            except Exception as e:  # noqa: BLE001 - record and go on
                log(f"layers {stack} w{w} FAILED {e!r}"[:400])
            torch.cuda.empty_cache()
    log("layers done")


def _generate(model, tokens: int) -> float:
    ids = torch.randint(0, 50257, (1, 1), device="cuda")
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=tokens, min_new_tokens=tokens,
                   do_sample=False, pad_token_id=0)
    torch.cuda.synchronize()
    return time.perf_counter() - t0


def run_generate(sink: Sink, configs: list[tuple[int, int]], tokens: int, reps: int, over, part: str = "generate",
                 impls=("eager", "sdpa")) -> None:
    for w, L in configs:
        for impl in impls:
            if over():
                log(f"{part} w{w} L{L} {impl} skipped (budget)")
                continue
            try:
                model = gpt2_model(w, L, max(1, w // 64), impl)
                with torch.inference_mode():
                    _generate(model, 4)
                    _generate(model, tokens)  # sdpa: cuDNN plans per KV length are built on the first pass
                    st0 = torch.cuda.memory_stats()
                    g0 = sum(s["collections"] for s in gc.get_stats())
                    walls = sorted(_generate(model, tokens) for _ in range(reps))
                    st1 = torch.cuda.memory_stats()
                    g1 = sum(s["collections"] for s in gc.get_stats())
                sink.row(part=part, width=w, layers=L, attn=impl, tokens=tokens, reps=reps,
                         wall_s_per_token=statistics.median(walls) / tokens, wall_s_per_token_min=walls[0] / tokens,
                         wall_s_per_token_max=walls[-1] / tokens,
                         segments_allocated=st1.get("segment.all.allocated", 0) - st0.get("segment.all.allocated", 0),
                         alloc_retries=st1.get("num_alloc_retries", 0) - st0.get("num_alloc_retries", 0),
                         gc_collections=g1 - g0)
                del model
            except Exception as e:  # noqa: BLE001
                log(f"{part} w{w} L{L} {impl} FAILED {e!r}"[:400])
            torch.cuda.empty_cache()
    log(f"{part} done")


RUNTIME = ("cudaLaunchKernel", "cudaStreamSynchronize", "cudaMemcpyAsync", "cudaMalloc", "cudaStreamIsCapturing",
           "cudaLaunchKernelExC", "cuLaunchKernel", "cudaDeviceSynchronize", "cudaEventQuery")


def run_profile(sink: Sink, widths: list[int], tokens: int = 8) -> None:
    from torch.profiler import ProfilerActivity, profile
    for w in widths:
        try:
            model = gpt2_model(w, 3, max(1, w // 64), "eager")
            with torch.inference_mode():
                _generate(model, 4)
                with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
                    _generate(model, tokens)
            ka = prof.key_averages()
            gpu = sum(getattr(e, "self_device_time_total", getattr(e, "self_cuda_time_total", 0)) for e in ka
                      if e.device_type is not None and "CUDA" in str(e.device_type))
            sink.row(part="profile", width=w, layers=3, key="__gpu_kernel_sum__", calls_per_token="",
                     self_cpu_us_per_token="", cpu_total_us_per_token="", gpu_us_per_token=gpu / tokens)
            rows = sorted(ka, key=lambda e: -e.self_cpu_time_total)
            keep = [e for e in rows[:45]] + [e for e in rows[45:] if e.key in RUNTIME]
            for e in keep:
                sink.row(part="profile", width=w, layers=3, key=e.key[:120], calls_per_token=e.count / tokens,
                         self_cpu_us_per_token=e.self_cpu_time_total / tokens,
                         cpu_total_us_per_token=e.cpu_time_total / tokens, gpu_us_per_token="")
            del model, prof
        except Exception as e:  # noqa: BLE001
            log(f"profile w{w} FAILED {e!r}"[:400])
        torch.cuda.empty_cache()
    log("profile done")


def run_validation(sink: Sink, over, smoke: bool) -> None:
    # GPT-2 shapes (eager attention), 32 tokens
    for name, (w, L, h) in {"gpt2-small": (768, 12, 12), "gpt2-xl": (1600, 48, 25)}.items():
        if over() or (smoke and name == "gpt2-xl"):
            log(f"validation {name} skipped")
            continue
        try:
            model = gpt2_model(w, L, h, "eager")
            with torch.inference_mode():
                _generate(model, 4)
                walls = sorted(_generate(model, 96) for _ in range(3))
            sink.row(part="validation", case=f"{name}-eager-generate", width=w, layers=L, reps=3,
                     step_s=statistics.median(walls) / 96, step_s_min=walls[0] / 96, host_s="")
            del model
        except Exception as e:  # noqa: BLE001
            log(f"validation {name} FAILED {e!r}"[:400])
        torch.cuda.empty_cache()
    # power campaign MiniLlama, 4 layers, decode b1 ctx 2048, eager, steps back to back
    if not over():
        try:
            import power
            m = power.MiniLlama(4)
            x = torch.randn(1, 1, 4096, device="cuda", dtype=BF16)
            cos = torch.randn(1, 1, 1, 128, device="cuda", dtype=BF16)
            sin = torch.randn(1, 1, 1, 128, device="cuda", dtype=BF16)
            kv = [(torch.randn(1, 32, 2048, 128, device="cuda", dtype=BF16),
                   torch.randn(1, 32, 2048, 128, device="cuda", dtype=BF16)) for _ in range(4)]
            with torch.inference_mode():
                for _ in range(20):
                    m.forward(x, cos, sin, kv)
                torch.cuda.synchronize()
                n, t0 = 0, time.perf_counter()
                while time.perf_counter() - t0 < (0.2 if smoke else 0.8):
                    m.forward(x, cos, sin, kv)
                    n += 1
                th = time.perf_counter()
                torch.cuda.synchronize()
                t1 = time.perf_counter()
                res = _median_host({0: lambda: m.forward(x, cos, sin, kv)}, 15)
            sink.row(part="validation", case="power-minillama-l4-decode-b1-ctx2048-eager", width=4096, layers=4,
                     reps=n, step_s=(t1 - t0) / n, step_s_min="", host_s=(th - t0) / n, synced_host_s=res[0][0],
                     synced_wall_s=res[0][1])
            del m, kv
        except Exception as e:  # noqa: BLE001
            log(f"validation minillama FAILED {e!r}"[:400])
        torch.cuda.empty_cache()
    # serving engine eager prefill, 8 layers, 256 tokens, isolated
    if not over():
        try:
            import serving_engine
            eng = serving_engine.Engine(8, 1, 256, 64, False, log)
            with torch.inference_mode():
                for _ in range(3):
                    eng.prefill(0)
                res = _median_host({0: lambda: eng.prefill(0)}, 20)
            sink.row(part="validation", case="serving-eager-prefill-l8-s256", width=4096, layers=8, reps=20,
                     step_s=res[0][1], step_s_min="", host_s=res[0][0])
            del eng
        except Exception as e:  # noqa: BLE001
            log(f"validation serving prefill FAILED {e!r}"[:400])
        torch.cuda.empty_cache()
    log("validation done")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--budget-s", type=float, default=230.0)
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    over = lambda: time.perf_counter() - T0 > args.budget_s  # noqa: E731
    import transformers
    meta = {"date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "device_name": torch.cuda.get_device_name(0), "torch": torch.__version__, "torch_cuda": torch.version.cuda,
            "transformers": transformers.__version__, "python": platform.python_version(),
            "torch_threads": torch.get_num_threads(), "command": " ".join(sys.argv), "smoke": args.smoke,
            "cpu_start": cpu_info(), "probe_start": speed_probe(), "skipped": []}
    try:
        import numpy
        meta["numpy"] = numpy.__version__
        import pynvml
        pynvml.nvmlInit()
        meta["driver"] = pynvml.nvmlSystemGetDriverVersion()
        hnd = pynvml.nvmlDeviceGetHandleByIndex(0)
        meta["gpu_uuid_prefix"] = pynvml.nvmlDeviceGetUUID(hnd)[:12]
    except Exception as e:  # noqa: BLE001
        meta["driver_error"] = repr(e)
    log(f"start {meta['probe_start']} cpu {meta['cpu_start']['cpu_models']}")
    widths = [64, 1600] if args.smoke else [64, 256, 1024, 1600, 4096]
    fields_ops = ["part", "op", "order", "width", "tokens", "calls", "kernels_per_call", "host_us_per_call",
                  "wall_us_per_call"]
    run_ops(Sink(os.path.join(args.out, "host-ops.csv"), fields_ops), widths, 60 if args.smoke else 200)
    lay = Sink(os.path.join(args.out, "host-layers.csv"),
               ["part", "stack", "width", "layers", "reps", "host_s", "host_s_min", "wall_s"])
    plain = [256, 4096] if args.smoke else [256, 1024, 2048, 4096]
    run_layers(lay, {"plain:decode": plain, "plain:prefill": plain,
                     "hf-gpt2:decode": [64, 1600] if args.smoke else [64, 768, 1600]}, 5 if args.smoke else 21, over)
    meta["probe_mid"] = speed_probe()
    gen = Sink(os.path.join(args.out, "host-generate.csv"),
               ["part", "width", "layers", "attn", "tokens", "reps", "wall_s_per_token", "wall_s_per_token_min",
                "wall_s_per_token_max", "segments_allocated", "alloc_retries", "gc_collections"])
    cfgs = [(64, 1), (1600, 1)] if args.smoke else \
        [(w, L) for w in (64, 256, 768, 1024, 1280, 1600) for L in (1, 3)] + [(64, 6), (64, 12), (64, 24), (768, 6)]
    run_generate(gen, cfgs, 8 if args.smoke else 32, 2 if args.smoke else 3, over)
    val = Sink(os.path.join(args.out, "host-validation.csv"),
               ["part", "case", "width", "layers", "reps", "step_s", "step_s_min", "host_s", "synced_host_s",
                "synced_wall_s"])
    run_validation(val, over, args.smoke)
    prof = Sink(os.path.join(args.out, "host-profile.csv"),
                ["part", "width", "layers", "key", "calls_per_token", "self_cpu_us_per_token",
                 "cpu_total_us_per_token", "gpu_us_per_token"])
    if not over():
        run_profile(prof, [64, 1600])
    # drift check: the first generate configs again at the end
    run_generate(gen, [(64, 1), (64, 3), (1600, 3)], 8 if args.smoke else 32, 2 if args.smoke else 3, over,
                 part="generate-repeat", impls=("eager",))
    meta["probe_end"] = speed_probe()
    meta["cpu_end"] = cpu_info()
    meta["wall_s"] = time.perf_counter() - T0
    with open(os.path.join(args.out, "host-meta.json"), "w") as fh:
        json.dump(meta, fh, indent=1)
    log(f"end {meta['probe_end']}")
    with open(os.path.join(args.out, "host-log.txt"), "w") as fh:
        fh.write("\n".join(LOG) + "\n")


if __name__ == "__main__":
    main()
