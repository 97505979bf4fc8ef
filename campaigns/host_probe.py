"""Host dispatch cost against the host-speed probe, interleaved (issue 22: the host-bound power target).

Question: the device machine's host runs in speed states (``campaigns/host_width.py``: ~1.9x apart per layer), and
the blind power rounds' host-bound windows missed their time by the state the host was in. The power campaigns
probe the host before and after every window (``host_dispatch.speed_probe``: a pure-Python loop and an eager
``add_`` dispatch). Does the host cost of the code paths those windows run follow the probe, and with which
exponent, so that a prediction can be made *given* the probe measured before a run?

Calibration only: every configuration is a tiny-width model or a tiny GEMM whose GPU time is negligible, so a call
is host time. Configurations (each eager, as the power campaigns' windows run them: steps back to back, one
synchronisation at the end of a call): ``power.MiniLlama`` decode (width 256, batch 1, context 64) and prefill
(width 256, batch 1, 16 tokens) at 1/4/8 layers through ``power_gaps.decode_step`` / ``prefill_step`` under
``sdpa_kernel(FLASH_ATTENTION)``; HF GPT-2 ``generate`` (width 64, one head, 1/6 layers, eager and SDPA, 8 new
tokens, per token); a 64^3 bf16 ``torch.matmul`` + ``torch.cuda.synchronize`` (the GEMM + host-spin rows'
dispatch). Rounds visit every configuration once in a shuffled order, each call preceded by one
``host_dispatch.speed_probe`` (the probe the power campaigns take), so the host's state changes fall on every
configuration alike. The NVML sampler runs throughout, as in the power windows.

Run on the GPU machine from the repository root (imports torch, transformers, pynvml and the sibling campaign
modules ``host_dispatch``, ``power``, ``power_gaps``, ``baselines_gpu``, ``csv_sink``; random weights)::

    OUT=dir PYTHONPATH=campaigns python3 campaigns/host_probe.py [--budget-s 200] [--smoke]

``--map``: the power campaigns' own host-speed rows instead (``gap_add4k_0us``'s eager ``torch.add`` and
``launch_empty_loop``'s Triton launch, 200 back to back per call) beside two of the paths above, so that a campaign
that recorded no probe can be given one from its own calibration row (``h200-host-probe-map-<date>.*``); and
``wm_micro``'s ``add_inplace`` host row (the whole-model runs').

Files under ``$OUT``: ``h200-host-probe-<date>.csv`` (one row per call: configuration, round, time, seconds per
step, the probe's Python-loop and ``add_`` figures) and ``h200-host-probe-meta-<date>.json``.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import baselines_gpu
import host_dispatch as hd
import power
import power_gaps as pg
import torch
from csv_sink import Sink

BF16 = torch.bfloat16
FIELDS = ["path", "layers", "width", "round", "t_s", "calls", "step_s", "py_loop_us", "add_us"]
#: back-to-back steps per timed call of a MiniLlama configuration / of the GEMM dispatch
MODEL_STEPS, GEMM_STEPS, GEN_TOKENS, LOOP_STEPS = 12, 40, 8, 200


def back_to_back(fn, n: int):
    """(call, n): a timed call of ``n`` back-to-back ``fn()`` between two synchronisations, seconds per ``fn``."""
    def call() -> float:
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        torch.cuda.synchronize()
        return (time.perf_counter() - t0) / n
    return call, n


def model_call(phase: str, layers: int):
    dev = torch.device("cuda")
    shape = pg.Shape("tiny", 256, 2, 512, layers)
    m = power.MiniLlama(layers, shape.hidden, shape.heads, shape.inter)
    step = (pg.decode_step(m, shape, 1, 64, False, dev) if phase == "decode"
            else pg.prefill_step(m, shape, 1, 16, False, dev))
    return back_to_back(step, MODEL_STEPS)


def generate_call(attn: str, layers: int):
    model = baselines_gpu.gpt2_model(64, layers, 1, attn, torch.float16)

    def call() -> float:
        with torch.inference_mode():  # as the power campaign's generate rows run it
            return baselines_gpu.generate(model, GEN_TOKENS) / GEN_TOKENS
    return call, GEN_TOKENS


def gemm_call():
    """The GEMM + host-spin rows' dispatch: a 64^3 bf16 ``torch.matmul`` then ``torch.cuda.synchronize``."""
    dev = torch.device("cuda")
    a, b = torch.randn(64, 64, device=dev, dtype=BF16), torch.randn(64, 64, device=dev, dtype=BF16)
    c = torch.empty(64, 64, device=dev, dtype=BF16)

    def step() -> None:
        torch.matmul(a, b, out=c)
        torch.cuda.synchronize()
    return back_to_back(step, GEMM_STEPS)


def loop_call(name: str):
    """The power campaigns' own host-speed calibration rows, as a call: ``power_gaps.kernels()[name]`` (``add4k``: the
    ``gap_add4k_0us`` row's eager ``torch.add``; ``empty``: ``power.py``'s ``launch_empty_loop`` Triton launch)
    back to back, seconds per launch."""
    return back_to_back(pg.kernels(torch.device("cuda"))[name][0], LOOP_STEPS)


def bf16_add_call():
    """``wm_micro.host_cases``' ``add_inplace`` (the whole-model runs' host row): ``x.add_(1.0)`` on 64 bf16 values."""
    x = torch.randn(64, device="cuda", dtype=BF16)
    return back_to_back(lambda: x.add_(1.0), LOOP_STEPS)


def map_configs() -> dict:
    """``--map``: the campaigns' own host rows beside two paths of the main calibration (a check of its stability)."""
    return {("loop-add4k", 1, 4096): lambda: loop_call("add4k"), ("loop-empty", 1, 1): lambda: loop_call("empty"),
            ("wm-add-inplace", 1, 64): bf16_add_call,
            ("minillama-decode", 4, 256): lambda: model_call("decode", 4),
            ("generate-eager", 6, 64): lambda: generate_call("eager", 6)}


def configs(smoke: bool) -> dict:
    depths = (1, 4) if smoke else (1, 4, 8)
    plan = {("minillama-decode", L, 256): (lambda L=L: model_call("decode", L)) for L in depths}
    plan.update({("minillama-prefill", L, 256): (lambda L=L: model_call("prefill", L)) for L in depths})
    plan.update({(f"generate-{a}", L, 64): (lambda a=a, L=L: generate_call(a, L))
                 for a in ("eager", "sdpa") for L in ((1,) if smoke else (1, 6))})
    plan[("gemm-sync", 1, 64)] = gemm_call
    return plan


def main() -> None:
    from torch.nn.attention import SDPBackend, sdpa_kernel
    ap = power.campaign_parser(200.0)
    ap.add_argument("--map", action="store_true", help="the campaigns' own host rows against the probe instead")
    args = ap.parse_args()
    import transformers
    camp = power.Campaign("host_probe.py", args, "/tmp/host_probe")
    camp.info.update(transformers=transformers.__version__, cpu_start=hd.cpu_info(), probe_start=hd.speed_probe())
    date = camp.info["date_utc"][:10]
    kind = "host-probe-map" if args.map else "host-probe"
    sink = Sink(str(camp.out_dir / f"h200-{kind}-{date}.csv"), FIELDS)
    calls: dict = {}
    with torch.no_grad(), sdpa_kernel(SDPBackend.FLASH_ATTENTION):  # as power_host.model_row
        for key, build in (map_configs() if args.map else configs(args.smoke)).items():
            fn, n = build()
            for _ in range(3):  # warm-up: allocator, cuBLAS handles, cuDNN plans
                fn()
            calls[key] = (fn, n)
        print(f"{len(calls)} configurations built at {time.perf_counter() - camp.t_start:.0f} s", flush=True)
        rng, keys, rounds = random.Random(22), list(calls), 0
        while time.perf_counter() - camp.t_start < args.budget_s and (not args.smoke or rounds < 3):
            rng.shuffle(keys)
            for key in keys:
                fn, n = calls[key]
                probe = hd.speed_probe()
                t = time.perf_counter() - camp.t_start
                sink.row(path=key[0], layers=key[1], width=key[2], round=rounds, t_s=t, calls=n, step_s=fn(),
                         py_loop_us=probe["py_loop_us_per_100k"], add_us=probe["add_inplace_us"])
            rounds += 1
    camp.sampler.stop_flag = True
    camp.sampler.join()
    camp.info.update(rounds=rounds, wall_s=time.perf_counter() - camp.t_start, probe_end=hd.speed_probe(),
                     cpu_end=hd.cpu_info(), model_steps=MODEL_STEPS, gemm_steps=GEMM_STEPS, gen_tokens=GEN_TOKENS)
    Path(camp.out_dir / f"h200-{kind}-meta-{date}.json").write_text(json.dumps(camp.info, indent=1))
    print(f"done: {rounds} rounds in {camp.info['wall_s']:.0f} s", flush=True)


if __name__ == "__main__":
    main()
