"""Profiler traces -> per-kernel rows with a category (used by ``whole_model.py`` on the GPU machine).

A region is run under ``torch.profiler`` (CPU + CUDA activities); the Chrome trace it exports is
parsed here. Every GPU kernel (``cat == "kernel"``) is joined by its ``correlation`` id to the
CUDA runtime call that launched it, and that call is placed, by time on its CPU thread, inside the
innermost ATen operator (``cpu_op``) and the ``record_function`` scopes (``user_annotation``) open
at that moment. Memory copies and memsets on the GPU count as kernels of category ``copy``.

Categories (first rule that matches wins):
1. scope ``norm`` -> ``norm``; scope ``rotary`` -> ``rotary`` (the campaign opens these scopes
   around RMSNorm and rotary-embedding code);
2. kernel or ATen name of a matrix product -> ``gemm``; of fused attention -> ``attention``;
3. ATen copy/cat/index ops (``aten::copy_``, ``cat``, ``index*``, ``gather``...) -> ``copy``;
4. anything else -> ``elementwise`` (pointwise math, reductions, fills, softmax, top-k).
Under CUDA-graph replay the launch is one ``cudaGraphLaunch``; kernels are then categorised by
name, using the name -> category map of the eager run of the same case.

Imports only the standard library (runs where torch does).
"""

from __future__ import annotations

import json
import os
import tempfile

GEMM_KEYS = ("gemm", "nvjet", "cutlass", "xmma", "cublas", "gemv", "matmul", "wgmma", "_mm_", "grouped_mm",
             "splitkreduce", "splitk")
ATTN_KEYS = ("flash", "fmha", "sdpa", "attention", "attn", "cudnn_generated")
GEMM_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::linear", "aten::matmul",
            "aten::_grouped_mm", "aten::grouped_mm")
ATTN_OPS = ("aten::_flash_attention_forward", "aten::_scaled_dot_product_flash_attention",
            "aten::_scaled_dot_product_cudnn_attention", "aten::_efficient_attention_forward",
            "aten::_scaled_dot_product_efficient_attention", "aten::_cudnn_attention_forward")
COPY_OPS = ("aten::copy_", "aten::cat", "aten::index", "aten::index_select", "aten::index_copy_",
            "aten::index_put_", "aten::_index_put_impl_", "aten::gather", "aten::index_add_", "aten::scatter",
            "aten::scatter_add_", "aten::clone", "aten::contiguous", "aten::_to_copy", "aten::embedding",
            "aten::stack", "aten::slice_scatter", "aten::repeat_interleave")
CATEGORIES = ("gemm", "attention", "norm", "rotary", "elementwise", "copy")


def categorise(kernel: str, op: str, scopes: tuple[str, ...]) -> str:
    """The category of one kernel (see module docstring; inductor's Triton kernels by their fused-op names)."""
    low = kernel.lower()
    if low.startswith("triton_"):
        if "rsqrt" in low and "mean" in low:
            return "norm"
        if "neg" in low and "cat" in low:
            return "rotary"
        return "copy" if "silu" not in low and "copy" in low else "elementwise"
    if "norm" in scopes:
        return "norm"
    if "rotary" in scopes:
        return "rotary"
    if op in ATTN_OPS or any(k in low for k in ATTN_KEYS):
        return "attention"
    if op in GEMM_OPS or any(k in low for k in GEMM_KEYS):
        return "gemm"
    if op in COPY_OPS or low.startswith("memcpy") or low.startswith("memset"):
        return "copy"
    return "elementwise"


def _load(prof) -> list[dict]:
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        prof.export_chrome_trace(path)
        with open(path) as fh:
            return json.load(fh).get("traceEvents", [])
    finally:
        os.unlink(path)


def _enclosing(events: list[dict], wanted: set[int]) -> dict[int, tuple[str, tuple[str, ...]]]:
    """For each runtime event in ``wanted``: (innermost ATen op, open annotations) on its thread.

    One sweep per thread over start times with a stack of open CPU intervals.
    """
    by_tid: dict[object, list[dict]] = {}
    for e in events:
        if e.get("cat") in ("cpu_op", "user_annotation") or id(e) in wanted:
            by_tid.setdefault(e.get("tid"), []).append(e)
    found: dict[int, tuple[str, tuple[str, ...]]] = {}
    for evs in by_tid.values():
        evs.sort(key=lambda e: (e["ts"], -e.get("dur", 0.0)))
        stack: list[dict] = []
        for e in evs:
            t = e["ts"]
            while stack and stack[-1]["ts"] + stack[-1].get("dur", 0.0) < t:
                stack.pop()
            if id(e) in wanted:
                ops = [s["name"] for s in stack if s.get("cat") == "cpu_op"]
                anns = tuple(s["name"] for s in stack if s.get("cat") == "user_annotation")
                found[id(e)] = (ops[-1] if ops else "", anns)
            else:
                stack.append(e)
    return found


def kernels_of(prof, labels: tuple[str, ...] = ("norm", "rotary")) -> list[dict]:
    """Every GPU kernel of a profiled region: name, duration (us), ATen op, scopes, category, label.

    ``label``: the outermost campaign scope whose name starts with ``case:`` (microbenchmarks
    open one per case), else "".
    """
    events = [e for e in _load(prof) if e.get("ph") == "X"]
    gpu = [e for e in events if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset")]
    runtime = {e["args"]["correlation"]: e for e in events
               if e.get("cat") in ("cuda_runtime", "cuda_driver") and "correlation" in e.get("args", {})}
    context = _enclosing(events, {id(rt) for rt in runtime.values()})
    out = []
    for k in gpu:
        rt = runtime.get(k.get("args", {}).get("correlation"))
        op, anns = context.get(id(rt), ("", ())) if rt is not None else ("", ())
        scopes = tuple(a for a in anns if a in labels)
        cases = [a for a in anns if a.startswith("case:")]
        label = cases[0] if cases else ""
        name = k.get("name", "")
        out.append({"kernel": name, "dur_us": float(k.get("dur", 0.0)), "op": op, "scopes": scopes,
                    "label": label, "category": categorise(name, op, scopes), "ts": float(k.get("ts", 0.0))})
    out.sort(key=lambda r: r["ts"])
    return out


def first_span_us(rows: list[dict]) -> float:
    """First kernel start to last kernel end (us) over the rows (GPU span of the region)."""
    return 0.0 if not rows else max(r["ts"] + r["dur_us"] for r in rows) - min(r["ts"] for r in rows)
