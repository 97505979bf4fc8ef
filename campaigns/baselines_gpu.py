"""Paper-baseline GPU measurements (issue 16 item 6, issue 22 item 5): the regimes the PIM-GPT,
Edge-MoE and SWAT reproductions' GPU baselines sit in, measured on one GPU.

Run on the GPU machine from the repository root (imports torch, transformers, pynvml, PyYAML and
``m3vit_gpu`` and ``csv_sink`` beside this file; nothing is downloaded: every model is built from a config with
random weights)::

    PYTHONPATH=. python3 campaigns/baselines_gpu.py --out "$OUT" [--budget-s 130]

Parts, in order (each row flushed as it is measured; a part that would overrun the budget is
skipped and listed in the meta file):

1. ``host``: calibration. HuggingFace ``GPT2LMHeadModel.generate`` (greedy, batch 1, 1-token
   prompt) of tiny GPT-2 configs (n_embd 64, 2 heads, 1 and 3 layers, the full 50257 vocabulary),
   attention ``sdpa`` and ``eager``: GPU time is negligible, so the wall time per token is the
   host's time (generate loop + forward) = fixed + layers x per-layer.
2. ``gpt2``: validation. The same ``generate`` for GPT-2 small / medium / large / XL shapes, fp16,
   both attention implementations: wall time per token (median of reps), NVML board energy over
   the timed reps, and a profiled repeat (kernel-time sum and kernel list per token).
3. ``m3vit``: validation. Edge-MoE's M3ViT (``m3vit_gpu.build``), batch 1, fp32 and fp16 eager.
4. ``swat``: validation. One sliding-window attention layer as PyTorch users write it: SDPA with a
   boolean band mask (window 512: |i - j| < 256 + causal off), 12 heads x 64, batch 1, fp16, at
   N = 1K..16K.

Files under ``--out``: ``bl-host.csv``, ``bl-gpt2.csv``, ``bl-kernels.csv`` (per run and kernel
name: calls and microseconds per token/call), ``bl-m3vit.csv``, ``bl-swat.csv``, ``bl-meta.json``
(device, driver, NVML, torch/transformers versions, CPU, clocks, date, parts run and skipped).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
import traceback

import torch
from csv_sink import Sink
from torch.profiler import ProfilerActivity, profile

GPT2_SHAPES = {"gpt2-small": (768, 12, 12), "gpt2-medium": (1024, 24, 16), "gpt2-large": (1280, 36, 20),
               "gpt2-xl": (1600, 48, 25)}
VOCAB = 50257


class Energy:
    def __init__(self) -> None:
        try:
            import pynvml
            pynvml.nvmlInit()
            self.nv = pynvml
            self.h = pynvml.nvmlDeviceGetHandleByIndex(0)
        except Exception:  # noqa: BLE001 - energy is optional
            self.nv = None

    def mj(self) -> float | None:
        return float(self.nv.nvmlDeviceGetTotalEnergyConsumption(self.h)) if self.nv else None

    def clocks(self) -> dict:
        if not self.nv:
            return {}
        nv, h = self.nv, self.h
        return {"sm_clock_mhz": nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM),
                "mem_clock_mhz": nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_MEM),
                "power_limit_w": nv.nvmlDeviceGetPowerManagementLimit(h) / 1000.0,
                "power_w": nv.nvmlDeviceGetPowerUsage(h) / 1000.0,
                "temperature_c": nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU)}


def kernel_table(prof) -> list[tuple[str, int, float]]:
    """(name, calls, total us) of every GPU activity in the profile."""
    out = []
    for e in prof.key_averages():
        t = getattr(e, "device_time_total", None)
        if t is None:
            t = getattr(e, "cuda_time_total", 0.0)
        if t and t > 0:
            out.append((e.key, int(e.count), float(t)))
    return out


def gpt2_model(hidden: int, layers: int, heads: int, impl: str, dtype):
    from transformers import GPT2Config, GPT2LMHeadModel
    cfg = GPT2Config(n_embd=hidden, n_layer=layers, n_head=heads, vocab_size=VOCAB, n_positions=1024)
    with torch.device("cuda"):
        try:
            model = GPT2LMHeadModel._from_config(cfg, attn_implementation=impl)
        except TypeError:
            cfg._attn_implementation = impl
            model = GPT2LMHeadModel(cfg)
    return model.to(dtype).eval()


def generate(model, tokens: int) -> float:
    ids = torch.randint(0, VOCAB, (1, 1), device="cuda")
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=tokens, min_new_tokens=tokens,
                   do_sample=False, pad_token_id=0)
    torch.cuda.synchronize()
    return time.perf_counter() - t0


def run_generate(model, tokens: int, reps: int, energy: Energy, prof_tokens: int) -> dict:
    with torch.inference_mode():
        generate(model, 4)  # warm-up (allocator, cuBLAS handles)
        e0 = energy.mj()
        walls = [generate(model, tokens) for _ in range(reps)]
        e1 = energy.mj()
        out = {"reps": reps, "new_tokens": tokens, "wall_s": statistics.median(walls), "wall_s_min": min(walls),
               "wall_s_max": max(walls)}
        out["wall_s_per_token"] = out["wall_s"] / tokens
        out["tokens_per_s"] = tokens / out["wall_s"]
        if e0 is not None and e1 is not None and e1 > e0:
            out["energy_j_per_token"] = (e1 - e0) * 1e-3 / (reps * tokens)
            out["avg_power_w"] = (e1 - e0) * 1e-3 / sum(walls)
        if prof_tokens:
            with profile(activities=[ProfilerActivity.CUDA]) as prof:
                generate(model, prof_tokens)
            table = kernel_table(prof)
            out["profiled_tokens"] = prof_tokens
            out["kernel_sum_s_per_token"] = sum(t for _, _, t in table) * 1e-6 / prof_tokens
            out["n_kernels_per_token"] = sum(c for _, c, _ in table) / prof_tokens
            out["_table"] = table
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--budget-s", type=float, default=130.0)
    args = ap.parse_args()
    t_start = time.perf_counter()
    left = lambda: args.budget_s - (time.perf_counter() - t_start)  # noqa: E731
    os.makedirs(args.out, exist_ok=True)
    energy = Energy()
    import transformers
    meta = {"date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "device_name": torch.cuda.get_device_name(0), "torch": torch.__version__, "torch_cuda": torch.version.cuda,
            "transformers": transformers.__version__, "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "command": "PYTHONPATH=. python3 campaigns/baselines_gpu.py --out $OUT --budget-s " + str(args.budget_s),
            "clocks_start": energy.clocks(), "ran": [], "skipped": [], "errors": []}
    try:
        with open("/proc/cpuinfo") as fh:
            meta["cpu"] = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), meta["cpu"])
    except OSError:
        pass
    if energy.nv:
        meta["driver"] = energy.nv.nvmlSystemGetDriverVersion()
        meta["nvml"] = energy.nv.nvmlSystemGetNVMLVersion()
    gen_fields = ["run_id", "part", "model", "layers", "hidden", "heads", "vocab", "attn_impl", "dtype", "prompt_len",
                  "new_tokens", "reps", "wall_s", "wall_s_min", "wall_s_max", "wall_s_per_token", "tokens_per_s",
                  "energy_j_per_token", "avg_power_w", "profiled_tokens", "kernel_sum_s_per_token",
                  "n_kernels_per_token", "ok", "error"]
    host = Sink(os.path.join(args.out, "bl-host.csv"), gen_fields)
    gpt2 = Sink(os.path.join(args.out, "bl-gpt2.csv"), gen_fields)
    kern = Sink(os.path.join(args.out, "bl-kernels.csv"), ["run_id", "kernel", "calls", "total_us", "per",
                                                            "calls_per", "us_per"])

    def record(sink: Sink, row: dict, fn) -> None:
        try:
            res = fn()
            table = res.pop("_table", [])
            per = res.get("profiled_tokens") or res.get("profiled_calls") or 1
            for name, calls, t in table:
                kern.row(**{"run_id": row["run_id"], "kernel": name, "calls": calls, "total_us": t,
                          "per": "token" if "profiled_tokens" in res else "call", "calls_per": calls / per,
                          "us_per": t / per})
            sink.row(**{**row, **res, "ok": 1})
            meta["ran"].append(row["run_id"])
        except Exception as e:  # noqa: BLE001 - keep the campaign going, record the error
            sink.row(**{**row, "ok": 0, "error": repr(e)[:300]})
            meta["errors"].append({"run_id": row["run_id"], "error": traceback.format_exc()[-1500:]})
        torch.cuda.empty_cache()

    # 1. host calibration: tiny GPT-2
    for impl in ("sdpa", "eager"):
        for layers in (1, 3):
            rid = f"host-tiny-L{layers}-{impl}"
            if left() < 100:
                meta["skipped"].append(rid)
                continue
            model = gpt2_model(64, layers, 2, impl, torch.float16)
            record(host, {"run_id": rid, "part": "host", "model": "gpt2-tiny", "layers": layers, "hidden": 64,
                          "heads": 2, "vocab": VOCAB, "attn_impl": impl, "dtype": "fp16", "prompt_len": 1},
                   lambda m=model: run_generate(m, 64, 3, energy, 0))
            del model
    # 2. GPT-2 shapes
    for name, (hidden, layers, heads) in GPT2_SHAPES.items():
        for impl in ("sdpa", "eager"):
            rid = f"{name}-{impl}"
            if left() < 45:
                meta["skipped"].append(rid)
                continue
            model = gpt2_model(hidden, layers, heads, impl, torch.float16)
            record(gpt2, {"run_id": rid, "part": "gpt2", "model": name, "layers": layers, "hidden": hidden,
                          "heads": heads, "vocab": VOCAB, "attn_impl": impl, "dtype": "fp16", "prompt_len": 1},
                   lambda m=model: run_generate(m, 96, 2, energy, 8))
            del model
    # 3. M3ViT eager
    m3 = Sink(os.path.join(args.out, "bl-m3vit.csv"), ["run_id", "dtype", "iters", "wall_s", "wall_s_p20",
                                                       "wall_s_p80", "energy_j", "avg_power_w", "profiled_calls",
                                                       "kernel_sum_s", "n_kernels", "ok", "error"])
    for dname in ("float32", "float16"):
        rid = f"m3vit-{dname}"
        if left() < 25:
            meta["skipped"].append(rid)
            continue

        def m3run(dname: str = dname) -> dict:
            sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
            import m3vit_gpu
            model, img = m3vit_gpu.build(dname)
            with torch.inference_mode():
                for _ in range(10):
                    model(img)
                torch.cuda.synchronize()
                walls = []
                e0 = energy.mj()
                for _ in range(100):
                    t0 = time.perf_counter()
                    model(img)
                    torch.cuda.synchronize()
                    walls.append(time.perf_counter() - t0)
                e1 = energy.mj()
                with profile(activities=[ProfilerActivity.CUDA]) as prof:
                    for _ in range(5):
                        model(img)
                    torch.cuda.synchronize()
            walls.sort()
            table = kernel_table(prof)
            out = {"iters": 100, "wall_s": statistics.median(walls), "wall_s_p20": walls[20], "wall_s_p80": walls[80],
                   "profiled_calls": 5, "kernel_sum_s": sum(t for _, _, t in table) * 1e-6 / 5,
                   "n_kernels": sum(c for _, c, _ in table) / 5, "_table": table}
            if e0 is not None and e1 is not None and e1 > e0:
                out["energy_j"] = (e1 - e0) * 1e-3 / 100
                out["avg_power_w"] = (e1 - e0) * 1e-3 / sum(walls)
            return out
        record(m3, {"run_id": rid, "dtype": dname}, m3run)
    # 4. SWAT-shaped sliding-window attention
    sw = Sink(os.path.join(args.out, "bl-swat.csv"), ["run_id", "impl", "seq_len", "window", "heads", "head_dim",
                                                      "dtype", "iters", "wall_s", "wall_s_p20", "wall_s_p80",
                                                      "energy_j", "avg_power_w", "profiled_calls", "kernel_sum_s",
                                                      "n_kernels", "ok", "error"])
    for n in (1024, 2048, 4096, 8192, 16384):
        rid = f"swat-sdpa-mask-{n}"
        if left() < 6:
            meta["skipped"].append(rid)
            continue

        def swrun(n: int = n) -> dict:
            import torch.nn.functional as F
            q, k, v = (torch.randn(1, 12, n, 64, device="cuda", dtype=torch.float16) for _ in range(3))
            i = torch.arange(n, device="cuda")
            mask = (i[:, None] - i[None, :]).abs() < 256
            for _ in range(3):
                F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            torch.cuda.synchronize()
            iters = max(5, min(200, int(0.4 / max(1e-5, 2e-9 * n * n / 1024))))
            walls = []
            e0 = energy.mj()
            t_all = time.perf_counter()
            while len(walls) < iters or time.perf_counter() - t_all < 0.6:
                t0 = time.perf_counter()
                F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
                torch.cuda.synchronize()
                walls.append(time.perf_counter() - t0)
            e1 = energy.mj()
            with profile(activities=[ProfilerActivity.CUDA]) as prof:
                for _ in range(3):
                    F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
                torch.cuda.synchronize()
            table = kernel_table(prof)
            walls.sort()
            m = len(walls)
            out = {"impl": "sdpa_bool_band_mask", "seq_len": n, "window": 512, "heads": 12, "head_dim": 64,
                   "dtype": "fp16", "iters": m, "wall_s": statistics.median(walls), "wall_s_p20": walls[m // 5],
                   "wall_s_p80": walls[(4 * m) // 5], "profiled_calls": 3,
                   "kernel_sum_s": sum(t for _, _, t in table) * 1e-6 / 3, "n_kernels": sum(c for _, c, _ in table) / 3,
                   "_table": table}
            if e0 is not None and e1 is not None and e1 > e0:
                out["energy_j"] = (e1 - e0) * 1e-3 / m
                out["avg_power_w"] = (e1 - e0) * 1e-3 / sum(walls)
            return out
        record(sw, {"run_id": rid}, swrun)
    meta["clocks_end"] = energy.clocks()
    meta["wall_s"] = time.perf_counter() - t_start
    with open(os.path.join(args.out, "bl-meta.json"), "w") as fh:
        json.dump(meta, fh, indent=1)
    print(json.dumps({k: meta[k] for k in ("ran", "skipped", "wall_s")}, indent=1))
    for e in meta["errors"]:
        print(e["run_id"], e["error"][-600:])


if __name__ == "__main__":
    main()
