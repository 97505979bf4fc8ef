"""Whole-model predictions on a GPU: GPU-busy time and wall time of one step of a decoder under a
software stack and a host mode, and their parity with the whole-model campaign's measurements.

``predict_step(model, step, stack, host_mode, cal)`` lowers the step (:mod:`archsim.gpu.stacks`),
prices every kernel — GEMMs with the cuBLAS model and attention with the SDPA-backend model
(:mod:`archsim.gpu.predict`), glue with the calibrated curves (:mod:`archsim.gpu.glue`) — and adds
host time (:mod:`archsim.gpu.host`): eager dispatch overlapped with the GPU queue, or graph replay.

GPU time (``gpu_s``) is the sum of kernel times: what the profiler's kernel-time sum measures.
Wall time (``wall_s``) is what a CUDA-event bracket around the step measures from an idle GPU.

Parity (:func:`compare_whole`) reads ``h200-wm-whole-*.csv`` and ``h200-wm-kernels-*.csv``: these
are validation data; nothing here fits a constant to them.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

from archsim.data import read_csv_rows
from archsim.errors import ConfigError
from archsim.gpu.devices import DeviceCalibration
from archsim.gpu.host import eager_wall_s, graph_wall_s
from archsim.gpu.stacks import CATEGORIES, KernelItem, ModelShape, Step, lower, sequence

HOST_MODES = ("eager", "cuda-graph")
IMPL_STACK = {"plain": "plain", "hf": "hf", "plain-compiled": "fused"}
MODE_HOST = {"eager": "eager", "graph": "cuda-graph"}
#: kernel/ATen names by category (the campaign's ``wm_trace`` rules, repeated: campaigns are not importable)
GEMM_KEYS = ("gemm", "nvjet", "cutlass", "xmma", "cublas", "gemv", "matmul", "wgmma", "splitk")
ATTN_KEYS = ("flash", "fmha", "sdpa", "attention", "cudnn_generated")
COPY_OPS = ("aten::copy_", "aten::cat", "aten::index", "aten::index_select", "aten::index_copy_", "aten::index_put_",
            "aten::_index_put_impl_", "aten::gather", "aten::index_add_", "aten::clone", "aten::contiguous",
            "aten::_to_copy", "aten::embedding", "aten::stack")
WHOLE_REQUIRED = ("run_id", "model", "impl", "phase", "batch", "seq_len", "context", "mode", "layers", "hidden",
                  "heads", "kv_heads", "ffn", "vocab", "wall_s", "kernel_sum_s", "ok")


@dataclass
class StepPrediction:
    """One step: seconds of GPU time (total and by category), host time, wall time, kernel count."""

    gpu_s: float
    wall_s: float
    host_s: float
    n_kernels: int
    by_category: dict[str, float]
    kernels: list[tuple[KernelItem, float]] = field(default_factory=list)


class KernelPricer:
    """Seconds per launch of each kernel item on one calibrated GPU (cached by shape).

    GEMM and attention predictions come from the kernel model, whose launch floor and DRAM-ramp
    intercept were calibrated with CUDA events around single launches (``do_bench``): they include
    the event/launch overhead that a profiler's kernel duration does not (an empty kernel: 3.6 us by
    events; a tiny elementwise kernel: 0.9 us by the profiler). For kernels inside a model that
    overhead overlaps the previous kernel, so it is taken off: ``event_overhead_s`` = event launch
    floor - profiler floor of the glue ``vec`` curve (both microbenchmarks), floored at the
    profiler floor.
    """

    def __init__(self, cal: DeviceCalibration) -> None:
        self.cal = cal
        self.cache: dict[tuple, float] = {}
        floor = cal.glue.curves[("vec", "warm")].floor_s
        self.floor_s = floor
        self.event_overhead_s = max(0.0, cal.rates.launch_floor_s - floor)
        from archsim.gpu.grouped import committed_grouped
        self.grouped = committed_grouped(cal.sources["grouped"])
        if cal.device != "h200":  # microbenchmarked on the H200 only: move it by the copy bandwidths
            from archsim.gpu.devices import device_calibration
            self.grouped = self.grouped.on_device(device_calibration("h200", "own").rates.hbm_bw, cal.rates.hbm_bw)

    def __call__(self, it: KernelItem) -> float:
        from archsim.gpu.predict import predict_attention, predict_gemm
        if it.glue is not None:
            return self.cal.glue.time_s(*it.glue)
        if it.grouped is not None:  # grouped-GEMM experts under random top-k routing
            return self.grouped.call_s(*it.grouped)
        key = (it.gemm, tuple(sorted(it.attention.items())) if it.attention else None)
        if key not in self.cache:
            hw, rates = self.cal.device, self.cal.rates
            if it.gemm is not None:
                m, n, k, groups = it.gemm
                pred = predict_gemm(hw, m=m, n=n, k=k, rates=rates)
            else:
                a = dict(it.attention or {})
                impl = a.pop("impl")
                a.setdefault("dtype", "bf16")
                pred = predict_attention(hw, impl, rates=rates, **a)
                groups = 1
            self.cache[key] = groups * self.launches_s(pred.launches)
        return self.cache[key]

    def launches_s(self, launches) -> float:
        """Seconds of predicted launches inside a step: each one's time less the event overhead, floored."""
        return sum(max(self.floor_s, ln.time_s - self.event_overhead_s) for ln in launches)


def host_stack(model: ModelShape, stack: str) -> str:
    """The host calibration's name of a stack's eager path (its tiny-model rows: ``hf-llama``, ``hf-mixtral``)."""
    return ("hf-mixtral" if model.experts else "hf-llama") if stack == "hf" else stack


def predict_step(model: ModelShape, step: Step, stack: str, host_mode: str, cal: DeviceCalibration,
                 pricer: KernelPricer | None = None) -> StepPrediction:
    """GPU and wall time of one step (see module docstring)."""
    if host_mode not in HOST_MODES:
        raise ConfigError.single(f"unknown host mode {host_mode!r}; valid: {', '.join(HOST_MODES)}",
                                 key_path="host")
    price = pricer or KernelPricer(cal)
    items = lower(model, step, stack, host_mode)
    priced = [(it, price(it)) for it in items]
    by_cat = {c: 0.0 for c in CATEGORIES}
    for it, t in priced:
        by_cat[it.category] += t * it.count
    seq = sequence(model, step, stack, host_mode)
    times = [price(it) for it in seq]
    gpu = sum(times)
    if host_mode == "eager" and model.family == "gpt2":
        host = gpt2_eager_host_s(model, step, stack, cal)
        wall = eager_wall_s(times, host, cal.host.graph_gap_s)
    elif host_mode == "eager":
        host = cal.host.eager_host_s(host_stack(model, stack), step.phase, model.layers, [it.category for it in seq])
        wall = eager_wall_s(times, host, cal.host.graph_gap_s)
    else:
        host = cal.host.graph_host_s(len(seq))
        wall = graph_wall_s(times, cal.host)
    return StepPrediction(gpu_s=gpu, wall_s=wall, host_s=host, n_kernels=len(seq), by_category=by_cat,
                          kernels=priced)


#: tiny-GPT-2 ``generate`` host sweep (``campaigns/host_dispatch.py``; also read by :mod:`archsim.gpu.baselines`)
GPT2_HOST_CSV = "h200-host-generate-2026-12-01.csv"


def gpt2_block_host_s(attn: str = "sdpa") -> float:
    """Host seconds per GPT-2 block: the least-squares slope over layer counts of the tiny-GPT-2 ``generate``
    sweep's wall per token (rows ``part == generate`` of attention ``attn``; a calibration microbenchmark)."""
    from archsim.data import measurement
    from archsim.gpu.host import fit_per_layer
    path = measurement("h200", GPT2_HOST_CSV)
    pts = []
    for i, r in enumerate(read_csv_rows(path, ("layers", "wall_s_per_token"), "host sweep CSV"), start=2):
        if r.get("attn", r.get("attn_impl")) == attn and r.get("ok", "1") == "1" and r.get("part") == "generate":
            try:
                pts.append((int(r["layers"]), float(r["wall_s_per_token"])))
            except ValueError:
                raise ConfigError.single(f"{path}:{i}: malformed host row", file=str(path), line=i) from None
    if len({n for n, _ in pts}) < 2:
        raise ConfigError.single(f"{path}: needs generate rows of two or more layer counts", file=str(path))
    return fit_per_layer(pts)[1]


def gpt2_eager_host_s(model: ModelShape, step: Step, stack: str, cal: DeviceCalibration) -> float:
    """Eager host time of one GPT-2 forward: ``layers`` x :func:`gpt2_block_host_s` (prefill assumed to cost
    what a decode block costs on the host), plus the per-kernel host cost of the prologue and epilogue."""
    from archsim.gpu.stacks import parts
    pro, _, epi = parts(model, step, stack, "eager")
    ends = cal.host.eager_host_s(None, step.phase, 0, [it.category for it in pro + epi])
    return ends + model.layers * gpt2_block_host_s()


def _read(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    return read_csv_rows(path, required, "whole-model CSV")


def is_whole_model_csv(path: str | Path) -> bool:
    """Whether ``path`` is a whole-model campaign CSV (``campaigns/whole_model.py``: ``wm-whole.csv``)."""
    try:
        with open(path, newline="") as fh:
            fields = next(csv.reader(fh), [])
    except OSError as e:
        raise ConfigError.single(f"cannot read {path}: {e.strerror}") from None
    return all(k in fields for k in WHOLE_REQUIRED)


def steps_without_energy(path: str | Path) -> list[str]:
    """run_ids of successful steps whose NVML energy reading did not change (window under the counter's update)."""
    rows = _read(Path(path), WHOLE_REQUIRED)
    return [r["run_id"] for r in rows if r["ok"] == "1" and "energy_j" in r and float(r["energy_j"] or 0) <= 0]


def categorise(kernel: str, op: str, scope: str) -> str:
    """Category of a measured kernel (the campaign's rule, plus names of inductor's Triton kernels)."""
    low = kernel.lower()
    if low.startswith("triton_"):
        if "rsqrt" in low and "mean" in low:
            return "norm"
        if "neg" in low and "cat" in low:
            return "rotary"
        return "copy" if "silu" not in low and "copy" in low else "elementwise"
    if scope in ("norm", "rotary"):
        return scope
    if "attention" in op or any(k in low for k in ATTN_KEYS):
        return "attention"
    if op in ("aten::mm", "aten::addmm", "aten::bmm", "aten::_grouped_mm") or any(k in low for k in GEMM_KEYS):
        return "gemm"
    if op in COPY_OPS or low.startswith(("memcpy", "memset")):
        return "copy"
    return "elementwise"


def measured_categories(kernels_csv: Path) -> dict[str, dict[str, float]]:
    """run_id -> seconds per step by category, re-categorised from the per-kernel rows."""
    out: dict[str, dict[str, float]] = {}
    for r in _read(kernels_csv, ("run_id", "kernel", "op", "scope", "us_per_step")):
        cat = categorise(r["kernel"], r["op"], r["scope"])
        row = out.setdefault(r["run_id"], {c: 0.0 for c in CATEGORIES})
        row[cat] += float(r["us_per_step"]) * 1e-6
    return out


def shape_of(r: dict[str, str]) -> ModelShape:
    def i(k: str) -> int:
        return int(float(r[k])) if r.get(k) not in (None, "") else 0
    head = i("head_dim")
    return ModelShape(name=r["model"], hidden=i("hidden"), heads=i("heads"), kv_heads=i("kv_heads"), ffn=i("ffn"),
                      vocab=i("vocab"), layers=i("layers"), experts=i("experts"), top_k=i("top_k"),
                      family=r.get("family") or "llama", qkv_bias=i("qkv_bias") == 1,
                      head_size=0 if head == i("hidden") // max(1, i("heads")) else head,
                      dtype=r.get("dtype") or "bf16")


def compare_whole(whole_csv: str | Path, kernels_csv: str | Path, cal: DeviceCalibration) -> list[dict]:
    """One row per measured step (ok == 1): measured and modelled GPU, wall, host gap and categories."""
    whole_csv, kernels_csv = Path(whole_csv), Path(kernels_csv)
    cats = measured_categories(kernels_csv)
    pricer = KernelPricer(cal)
    out = []
    for r in _read(whole_csv, WHOLE_REQUIRED):
        if r["ok"] != "1" or r["impl"] not in IMPL_STACK or r["mode"] not in MODE_HOST:
            continue
        model, stack, host = shape_of(r), IMPL_STACK[r["impl"]], MODE_HOST[r["mode"]]
        step = Step(phase=r["phase"], batch=int(r["batch"]), seq_len=int(r["seq_len"]), context=int(r["context"]))
        p = predict_step(model, step, stack, host, cal, pricer)
        # GPU-busy time: the profiler's kernel sum, capped by the unprofiled event time of the same step
        # (a step cannot keep the GPU busy longer than it lasts; the profiled repeats of the largest
        # prefills ran ~7 % slower than the timed ones)
        ksum, wall = float(r["kernel_sum_s"]), float(r["wall_s"])
        gpu = min(ksum, float(r.get("event_s") or ksum))
        out.append({"run_id": r["run_id"], "model": r["model"], "stack": stack, "host": host, "phase": step.phase,
                    "batch": step.batch, "seq_len": step.seq_len, "context": step.context, "layers": model.layers,
                    "measured_kernel_sum_s": ksum, "measured_gpu_s": gpu, "modeled_gpu_s": p.gpu_s,
                    "gpu_error": (p.gpu_s - gpu) / gpu,
                    "measured_wall_s": wall, "modeled_wall_s": p.wall_s, "wall_error": (p.wall_s - wall) / wall,
                    "measured_host_gap_s": max(0.0, wall - gpu), "modeled_host_gap_s": max(0.0, p.wall_s - p.gpu_s),
                    "measured_by_category": cats.get(r["run_id"], {}), "modeled_by_category": p.by_category,
                    "n_kernels_measured": float(r.get("n_kernels") or 0), "n_kernels_modeled": p.n_kernels})
    return out


def _stats(errs: list[float]) -> dict:
    if not errs:
        return {"n": 0, "mape": math.nan, "max": math.nan, "signed": math.nan}
    return {"n": len(errs), "mape": sum(abs(e) for e in errs) / len(errs), "max": max(abs(e) for e in errs),
            "signed": sum(errs) / len(errs)}


def summarise_whole(rows: list[dict]) -> dict:
    """GPU and wall error per (stack, host mode, phase), and per-category parity over all rows."""
    groups: dict[str, dict[str, list[float]]] = {}
    for r in rows:
        for key in ("all", f"{r['stack']}/{r['host']}", f"{r['stack']}/{r['host']}/{r['phase']}"):
            g = groups.setdefault(key, {"gpu": [], "wall": []})
            g["gpu"].append(r["gpu_error"])
            g["wall"].append(r["wall_error"])
    cat: dict[str, list[float]] = {c: [] for c in (*CATEGORIES, "host_gap")}
    for r in rows:
        if r["host"] == "eager":  # category parity on eager profiles (graph replays repeat the same kernels)
            for c in CATEGORIES:
                m = r["measured_by_category"].get(c, 0.0)
                if m > 0.02 * r["measured_gpu_s"]:
                    cat[c].append((r["modeled_by_category"][c] - m) / m)
        m = r["measured_host_gap_s"]
        if m > 0.05 * r["measured_wall_s"]:
            cat["host_gap"].append((r["modeled_host_gap_s"] - m) / m)
    return {"groups": {k: {"gpu": _stats(v["gpu"]), "wall": _stats(v["wall"])} for k, v in sorted(groups.items())},
            "categories": {c: _stats(v) for c, v in cat.items()}}
