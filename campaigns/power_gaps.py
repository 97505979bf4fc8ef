"""NVML campaign for host-bound board power (issue 22): power in the host gaps between kernels, the
energy of tiny kernels, and new host-bound validation rows.

Run on the GPU machine from the repository root (imports torch, triton, numpy, pynvml, transformers and the
sibling campaign modules ``power`` and ``baselines_gpu``; nothing is downloaded, every model has random weights)::

    OUT=dir PYTHONPATH=campaigns python3 campaigns/power_gaps.py [--budget-s 240] [--smoke]

Method (``power.measure``): a warm-up, then ``n`` steps in one window of ``--window-s`` between two
synchronisations; board energy = delta of ``nvmlDeviceGetTotalEnergyConsumption`` over the window; a sampler
thread reads power, SM clock, temperature and clock-event reasons every 20 ms. Parts, in order:

1. ``calibration`` (fitted: :func:`archsim.gpu.power_fit.fit_gaps`):
   - ``idle_context``: this machine's board power with a context, no work;
   - ``chain_<k>``: a CUDA graph of 100 launches of one kernel replayed back to back (duty ~1): the kernel's
     energy with no host gap. Kernels: an empty Triton kernel (1 block), a bf16 add of 4096 elements (the
     batch-1 glue size), ``x.float()`` of 4096 elements, an add of 1 Mi elements (2 MiB, L2-resident), a
     cuBLAS GEMV 1 x 4096 -> 22016 bf16 (180 MB of weights from HBM, ~42 us);
   - ``gap_<k>_<g>``: the same kernel launched eagerly, then the host busy-waits ``g`` (0, 5 us .. 20 ms)
     before the next launch: the GPU idles between kernels for ``period - kernel``. A separate pass of 100
     launches with CUDA events around each kernel gives the kernel's duration after a gap (clock ramp).
2. ``validation`` (never fitted; host-bound rows for :mod:`archsim.gpu.power_validation`):
   ``power.MiniLlama`` decode steps at several shapes x batch sizes over a fixed random KV cache, eager and
   CUDA-graph twins (the twin gives the step's GPU time: host-bound = eager step > 1.5 x graph step); an eager
   prefill of 64 tokens at batch 1 (and its graph twin); HF GPT-2 ``generate`` (greedy, batch 1, 1-token
   prompt, fp16, eager attention) of the small and medium shapes, reps until the window is full.

Files under ``$OUT``: ``power-h200-gaps-<date>.csv`` (one row per benchmark, ``power.measure`` columns plus
the kernel, gap, chain and event columns), ``power-h200-gaps-traces-<date>.csv``, ``power-h200-gaps-meta-<date>.json``
(device, driver, versions, CPU, budget, what was skipped).
"""

from __future__ import annotations

import statistics
import time

import power
import torch
from profiled import graph_of

BF16 = torch.bfloat16
GAPS_TINY = (0.0, 2e-6, 5e-6, 10e-6, 20e-6, 50e-6, 100e-6, 300e-6, 1e-3, 5e-3)
GAPS_GEMV = (0.0, 10e-6, 50e-6, 200e-6, 1e-3, 5e-3, 20e-3)
CHAIN = 100


def spin_host(seconds: float) -> None:
    """Busy-wait on the host (no sleep: the launch thread stays on the CPU, as a Python dispatcher does)."""
    if seconds <= 0.0:
        return
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        pass


def kernels(dev) -> dict:
    """name -> (callable launching one kernel, nominal bytes read, bytes written)."""
    a4, b4 = torch.randn(4096, device=dev, dtype=BF16), torch.randn(4096, device=dev, dtype=BF16)
    o4 = torch.empty_like(a4)
    f4 = torch.empty(4096, device=dev)
    a1m, b1m = torch.randn(1 << 20, device=dev, dtype=BF16), torch.randn(1 << 20, device=dev, dtype=BF16)
    o1m = torch.empty_like(a1m)
    w = torch.randn(22016, 4096, device=dev, dtype=BF16) * 4096 ** -0.5
    x = torch.randn(1, 4096, device=dev, dtype=BF16)
    y = torch.empty(1, 22016, device=dev, dtype=BF16)
    return {"empty": (lambda: power._empty_kernel[(1,)](a4), 0, 0),
            "add4k": (lambda: torch.add(a4, b4, out=o4), 2 * 8192, 8192),
            "float4k": (lambda: f4.copy_(a4), 8192, 16384),
            "add1m": (lambda: torch.add(a1m, b1m, out=o1m), 4 << 20, 2 << 20),
            "gemv22k": (lambda: torch.matmul(x, w.t(), out=y), 2 * 22016 * 4096, 2 * 22016)}


def event_pass(fn, gap: float, n: int = 100) -> dict:
    """Kernel durations (CUDA events around each launch) and GPU idle between them, with host gap ``gap``."""
    evs = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(n)]
    torch.cuda.synchronize()
    for e0, e1 in evs:
        e0.record()
        fn()
        e1.record()
        spin_host(gap)
    torch.cuda.synchronize()
    dur = [e0.elapsed_time(e1) * 1e-3 for e0, e1 in evs]
    idle = [evs[i][0].elapsed_time(evs[i + 1][0]) * 1e-3 - dur[i] for i in range(n - 1)]
    return {"kernel_event_median_s": statistics.median(dur[10:]), "kernel_event_first_s": dur[1],
            "gpu_gap_median_s": statistics.median(idle[10:])}


def spin_launcher(dev):
    """A one-warp FP32 FMA loop on one SM (``power._fma_kernel``, grid 1): the GPU stays busy at almost no
    dynamic power. Returns ``spin(seconds)`` launching one such kernel of about that duration."""
    x = torch.rand(128, device=dev)
    y = torch.empty_like(x)

    def launch(iters: int) -> None:
        power._fma_kernel[(1,)](x, y, iters, BLOCK=128, num_warps=1)
    launch(1024)
    ev0, ev1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    ev0.record()
    launch(8192)
    ev1.record()
    torch.cuda.synchronize()
    per_iter = ev0.elapsed_time(ev1) * 1e-3 / 8192
    return lambda seconds: launch(max(1, int(seconds / per_iter))), per_iter


def calibration(h, sampler, out: list[dict], left, window: float, smoke: bool) -> None:
    dev = torch.device("cuda")
    ks = kernels(dev)
    out.append(_host_spin_idle(h, sampler, min(2.0, window)))
    names = ("add4k", "gemv22k") if smoke else tuple(ks)
    for name in names:
        if left() < 4 * window:
            return
        fn, rd, wr = ks[name]
        g = graph_of([fn], CHAIN, warmup=3)
        out.append(power.measure(h, sampler, f"chain_{name}", g.replay, window_s=window, warm_s=min(0.5, window),
                                 counts={"kind": "chain", "kernel": name, "launches": CHAIN, "read_bytes": rd,
                                         "write_bytes": wr}))
        del g
    # the GPU kept busy by a one-warp spin kernel between tiny adds (graph: no host launch per add), and eager
    # adds queued behind a long spin (launched while the GPU is busy): launch vs idle-to-busy transition
    spin, per_iter = spin_launcher(dev)
    add = ks["add4k"][0]
    for spin_s in ((10e-6,) if smoke else (10e-6, 30e-6)):
        if left() < 4 * window:
            return
        g = graph_of([lambda s=spin_s: (spin(s), add())], CHAIN, warmup=3)
        ev = event_pass(lambda s=spin_s: spin(s), 0.0)
        out.append(power.measure(h, sampler, f"chain_spin{spin_s * 1e6:.0f}us_add4k", g.replay, window_s=window,
                                 warm_s=min(0.5, window),
                                 counts={"kind": "chain_spin", "kernel": "add4k", "launches": 2 * CHAIN,
                                         "spin_s": ev["kernel_event_median_s"], "spin_iter_s": per_iter}))
        del g
    if left() > 4 * window:
        queued = 200

        def queued_step():
            spin(3e-3)
            for _ in range(queued):
                add()
        ev = event_pass(lambda: spin(3e-3), 0.0, n=12)
        out.append(power.measure(h, sampler, f"queued_spin3ms_{queued}x_add4k", queued_step, window_s=window,
                                 warm_s=min(0.5, window),
                                 counts={"kind": "queued", "kernel": "add4k", "launches": queued + 1,
                                         "spin_s": ev["kernel_event_median_s"]}))
        g = graph_of([queued_step], 1, warmup=3)
        out.append(power.measure(h, sampler, f"chain_spin3ms_{queued}x_add4k", g.replay, window_s=window,
                                 warm_s=min(0.5, window),
                                 counts={"kind": "chain_queued", "kernel": "add4k", "launches": queued + 1,
                                         "spin_s": ev["kernel_event_median_s"]}))
        del g
    for name, gaps in (("add4k", GAPS_TINY), ("gemv22k", GAPS_GEMV)):
        fn, rd, wr = ks[name]
        for gap in (gaps[::3] if smoke else gaps):
            if left() < 2 * window + 1.0:
                return
            ev = event_pass(fn, gap)

            def step(fn=fn, gap=gap):
                fn()
                spin_host(gap)
            out.append(power.measure(h, sampler, f"gap_{name}_{gap * 1e6:.0f}us", step, window_s=window,
                                     warm_s=min(0.5, window), counts={"kind": "gap", "kernel": name, "launches": 1,
                                                                      "host_gap_s": gap, "read_bytes": rd,
                                                                      "write_bytes": wr, **ev}))
    del ks


def _host_spin_idle(h, sampler, seconds: float) -> dict:
    """Control: the host busy-waits with the context alive and no GPU work (board power should stay idle)."""
    sampler.bench = "idle_host_spin"
    e0, t0 = power.energy_mj(h), time.perf_counter() - power.T_START
    spin_host(seconds)
    t1, e1 = time.perf_counter() - power.T_START, power.energy_mj(h)
    row = {"set": "calibration", "bench": "idle_host_spin", "iters": 0, "wall_s": t1 - t0, "event_s": 0.0,
           "step_s": t1 - t0, "energy_j": (e1 - e0) / 1e3, "avg_power_w": (e1 - e0) / 1e3 / (t1 - t0),
           "energy_per_step_j": (e1 - e0) / 1e3, **power.window_stats(sampler, t0, t1), "kind": "idle"}
    print(f"idle        idle_host_spin                      {row['avg_power_w']:6.1f} W", flush=True)
    return row


class Shape:
    def __init__(self, tag: str, hidden: int, heads: int, inter: int, layers: int):
        self.tag, self.hidden, self.heads, self.inter, self.layers = tag, hidden, heads, inter, layers


def decode_step(model, shape: Shape, batch: int, ctx: int, graph: bool, dev):
    """As ``power.decode_step`` for any ``MiniLlama`` shape (random KV cache of ``ctx`` tokens)."""
    d = shape.hidden // shape.heads
    kv = [(torch.randn(batch, shape.heads, ctx, d, device=dev, dtype=BF16),
           torch.randn(batch, shape.heads, ctx, d, device=dev, dtype=BF16)) for _ in range(shape.layers)]
    x = torch.randn(batch, 1, shape.hidden, device=dev, dtype=BF16)
    cos = torch.randn(1, 1, 1, d, device=dev, dtype=BF16)
    sin = torch.randn_like(cos)
    return _stepper(lambda: model.forward(x, cos, sin, kv), graph, (x, cos, sin, kv))


def prefill_step(model, shape: Shape, batch: int, seq: int, graph: bool, dev):
    d = shape.hidden // shape.heads
    x = torch.randn(batch, seq, shape.hidden, device=dev, dtype=BF16)
    cos = torch.randn(1, seq, 1, d, device=dev, dtype=BF16)
    sin = torch.randn_like(cos)
    return _stepper(lambda: model.forward(x, cos, sin), graph, (x, cos, sin))


def _stepper(fwd, graph: bool, keep):
    if not graph:
        return fwd
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            fwd()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fwd()
    g._archsim_inputs = keep
    return g.replay


#: (shape, phase, batch, seq_q, ctx): Llama-2-7B / 13B-shaped and a 1.1B-shaped (TinyLlama widths) stack
CASES = ((Shape("l7b", 4096, 32, 11008, 4), "decode", 1, 1, 2048),
         (Shape("l7b", 4096, 32, 11008, 4), "decode", 4, 1, 1024),
         (Shape("l13b", 5120, 40, 13824, 2), "decode", 1, 1, 2048),
         (Shape("l1b", 2048, 16, 5632, 8), "decode", 1, 1, 1024),
         (Shape("l1b", 2048, 16, 5632, 8), "decode", 8, 1, 1024),
         (Shape("l7b", 4096, 32, 11008, 4), "prefill", 1, 64, 64))


def validation(h, sampler, out: list[dict], left, window: float, smoke: bool) -> None:
    from torch.nn.attention import SDPBackend, sdpa_kernel
    dev = torch.device("cuda")
    models: dict[str, power.MiniLlama] = {}
    for shape, phase, batch, seq, ctx in (CASES[:1] if smoke else CASES):
        if shape.tag not in models:
            models.clear()
            torch.cuda.empty_cache()
            models[shape.tag] = power.MiniLlama(shape.layers, shape.hidden, shape.heads, shape.inter)
        model = models[shape.tag]
        for graph in (True, False):
            if left() < 2 * window + 2.0:
                return
            with torch.no_grad(), sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                if phase == "decode":
                    step = decode_step(model, shape, batch, ctx, graph, dev)
                else:
                    step = prefill_step(model, shape, batch, seq, graph, dev)
                mode = "graph" if graph else "eager"
                out.append(power.measure(
                    h, sampler, f"{shape.tag}_l{shape.layers}_{phase}_b{batch}_q{seq}_ctx{ctx}_{mode}", step,
                    set_="validation", window_s=window, warm_s=min(0.5, window),
                    counts={"kind": "model", "model": shape.tag, "hidden": shape.hidden, "heads": shape.heads,
                            "ffn": shape.inter, "phase": phase, "layers": shape.layers, "batch": batch,
                            "seq_q": seq, "seq_kv": ctx, "mode": mode}))
            del step
    models.clear()
    torch.cuda.empty_cache()
    import baselines_gpu
    for name, hidden, layers, heads in (("gpt2-small", 768, 12, 12), ("gpt2-medium", 1024, 24, 16)):
        if smoke and name != "gpt2-small" or left() < window + 5.0:
            return
        model = baselines_gpu.gpt2_model(hidden, layers, heads, "eager", torch.float16)
        tokens = 16 if smoke else 96
        with torch.inference_mode():
            baselines_gpu.generate(model, 4)
            first = baselines_gpu.generate(model, tokens)
            reps = max(2, int(window / first))
            sampler.bench = f"{name}_generate"
            torch.cuda.synchronize()
            e0, t0 = power.energy_mj(h), time.perf_counter() - power.T_START
            walls = [baselines_gpu.generate(model, tokens) for _ in range(reps)]
            t1, e1 = time.perf_counter() - power.T_START, power.energy_mj(h)
        wall = t1 - t0
        row = {"set": "validation", "bench": f"{name}_generate_b1_t{tokens}_eager", "iters": reps * tokens,
               "wall_s": wall, "event_s": 0.0, "step_s": wall / (reps * tokens), "energy_j": (e1 - e0) / 1e3,
               "avg_power_w": (e1 - e0) / 1e3 / wall, "energy_per_step_j": (e1 - e0) / 1e3 / (reps * tokens),
               **power.window_stats(sampler, t0, t1), "kind": "generate", "model": name, "hidden": hidden,
               "heads": heads, "layers": layers, "batch": 1, "new_tokens": tokens, "mode": "eager",
               "wall_s_per_token_median": statistics.median(walls) / tokens}
        print(f"validation  {row['bench']:34s} step {row['step_s'] * 1e3:9.3f} ms  {row['avg_power_w']:6.1f} W",
              flush=True)
        out.append(row)
        del model
        torch.cuda.empty_cache()


def main() -> None:
    ap = power.campaign_parser(240.0)
    ap.add_argument("--parts", default="calibration,validation")
    args = ap.parse_args()
    run = power.Campaign("power_gaps.py", args, "power-gaps-out")
    left, h, sampler, info = run.left, run.h, run.sampler, run.info
    import transformers
    info.update(transformers=transformers.__version__,
                method=f"warm-up min(0.5 s, window), then n steps over ~{args.window_s:g} s between two "
                       "synchronisations (power.measure); energy = delta of nvmlDeviceGetTotalEnergyConsumption; "
                       "trace every ~20 ms", window_s=args.window_s)
    try:
        with open("/proc/cpuinfo") as fh:
            info["cpu"] = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), "")
    except OSError:
        pass
    rows: list[dict] = [power.idle(h, sampler, "idle_context", args.idle_s)]
    skipped = []
    for name, part in (("calibration", calibration), ("validation", validation)):
        if name not in args.parts.split(","):
            continue
        n0 = len(rows)
        part(h, sampler, rows, left, args.window_s, args.smoke)
        torch.cuda.synchronize()
        info[f"{name}_rows"] = len(rows) - n0
        if left() < 2 * args.window_s + 2.0:
            skipped.append(f"{name} (budget, after {len(rows) - n0} rows)")
    rows.append(power.idle(h, sampler, "idle_context_after", args.idle_s))
    run.finish("gaps", rows, skipped)


if __name__ == "__main__":
    main()
