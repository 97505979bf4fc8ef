"""Triton kernels by name: build their launches from a shape, trace them, give their formulas.

``trace(name, **params) -> KernelTrace`` traces in this process when it runs the Triton
interpreter, otherwise in a fresh subprocess with ``TRITON_INTERPRET=1`` (the mode is fixed
per process at ``import triton``). ``formula(name, **params)`` gives the analytic counts.
Parameter names are the CLI's flags with ``-`` as ``_`` (see :data:`PARAMETERS`).

Inputs for tracing are zero tensors: counts do not depend on values, only on shapes and masks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

TRITON_KERNELS = ("flash_attention", "flash_decoding", "sliding_window_attention", "gemm")

_ATTN = {"batch": 1, "heads": 8, "kv_heads": None, "seq_q": 512, "seq_kv": None, "head_dim": 64,
         "dtype": "fp16", "block_m": 64, "block_n": 64, "num_warps": 4, "num_stages": 2}
PARAMETERS: dict[str, dict[str, Any]] = {
    "flash_attention": {**_ATTN, "causal": False},
    "sliding_window_attention": {**_ATTN, "window_left": 128, "window_right": 128},
    "flash_decoding": {"batch": 1, "heads": 8, "kv_heads": None, "seq_kv": 4096, "head_dim": 64, "dtype": "fp16",
                       "block_n": 64, "num_splits": 8, "num_warps": 4, "num_stages": 2},
    "gemm": {"m": 512, "n": 512, "k": 512, "dtype": "fp16", "block_m": 64, "block_n": 64, "block_k": 32,
             "num_warps": 4, "num_stages": 3},
}
_POSITIVE = ("batch", "heads", "kv_heads", "seq_q", "seq_kv", "head_dim", "block_m", "block_n", "block_k",
             "num_warps", "num_stages", "num_splits", "m", "n", "k")


@dataclass(frozen=True)
class _Spec:
    launches: Callable[[dict], tuple]
    counts: Callable[[dict], dict]


def resolve(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults and check values; raises ValueError naming the bad parameter."""
    if name not in PARAMETERS:
        raise ValueError(f"unknown kernel {name!r}; choose one of {sorted(PARAMETERS)}")
    defaults = PARAMETERS[name]
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ValueError(f"{name} takes no parameter(s) {unknown}; it takes {sorted(defaults)}")
    p = {**defaults, **{k: v for k, v in params.items() if v is not None}}
    if "kv_heads" in p and p["kv_heads"] is None:
        p["kv_heads"] = p["heads"]
    if "seq_kv" in p and p["seq_kv"] is None:
        p["seq_kv"] = p["seq_q"]
    for key in _POSITIVE:
        if key in p and (not isinstance(p[key], int) or p[key] < 1):
            raise ValueError(f"{key} must be a positive integer, got {p[key]!r}")
    for key in ("window_left", "window_right"):
        if key in p and (not isinstance(p[key], int) or p[key] < 0):
            raise ValueError(f"{key} must be an integer >= 0, got {p[key]!r}")
    if "kv_heads" in p and p["heads"] % p["kv_heads"]:
        raise ValueError(f"heads ({p['heads']}) must be a multiple of kv_heads ({p['kv_heads']})")
    if "head_dim" in p and p["head_dim"] not in (16, 32, 64, 128, 256):
        raise ValueError(f"head_dim must be one of 16, 32, 64, 128, 256, got {p['head_dim']}")
    if p["dtype"] not in ("fp16", "bf16", "fp32"):
        raise ValueError(f"dtype must be one of fp16, bf16, fp32, got {p['dtype']!r}")
    for key in ("block_m", "block_n", "block_k"):
        if key in p and (p[key] < 16 or p[key] & (p[key] - 1)):
            raise ValueError(f"{key} must be a power of two >= 16, got {p[key]}")
    return p


def _attention_tensors(p: dict, seq_q: int):
    import torch
    from archsim.kernels.triton.flash_attention import DTYPES

    dt = DTYPES[p["dtype"]]
    q = torch.zeros(p["batch"], p["heads"], seq_q, p["head_dim"], dtype=dt)
    k = torch.zeros(p["batch"], p["kv_heads"], p["seq_kv"], p["head_dim"], dtype=dt)
    return q, k, torch.zeros_like(k), torch.zeros_like(q)


def _fa_launches(p: dict) -> tuple:
    from archsim.kernels.triton.flash_attention import attention_launch

    q, k, v, o = _attention_tensors(p, p["seq_q"])
    return (attention_launch(q, k, v, o, window_right=0 if p["causal"] else None, block_m=p["block_m"],
                             block_n=p["block_n"], num_warps=p["num_warps"], num_stages=p["num_stages"]),)


def _sw_launches(p: dict) -> tuple:
    from archsim.kernels.triton.sliding_window import sliding_window_launch

    q, k, v, o = _attention_tensors(p, p["seq_q"])
    return (sliding_window_launch(q, k, v, o, window_left=p["window_left"], window_right=p["window_right"],
                                  block_m=p["block_m"], block_n=p["block_n"], num_warps=p["num_warps"],
                                  num_stages=p["num_stages"]),)


def _fd_launches(p: dict) -> tuple:
    from archsim.kernels.triton.flash_decoding import decoding_launches

    q, k, v, o = _attention_tensors(p, 1)
    return decoding_launches(q, k, v, o, num_splits=p["num_splits"], block_n=p["block_n"],
                             num_warps=p["num_warps"], num_stages=p["num_stages"])


def _gemm_launches(p: dict) -> tuple:
    import torch
    from archsim.kernels.triton.flash_attention import DTYPES
    from archsim.kernels.triton.gemm import gemm_launch

    dt = DTYPES[p["dtype"]]
    a, b = torch.zeros(p["m"], p["k"], dtype=dt), torch.zeros(p["k"], p["n"], dtype=dt)
    c = torch.zeros(p["m"], p["n"], dtype=dt)
    return (gemm_launch(a, b, c, block_m=p["block_m"], block_n=p["block_n"], block_k=p["block_k"],
                        num_warps=p["num_warps"], num_stages=p["num_stages"]),)


def _pick(p: dict, *keys: str) -> dict:
    return {k: p[k] for k in keys}


_ATTN_SHAPE = ("batch", "heads", "kv_heads", "seq_q", "seq_kv", "head_dim", "dtype", "block_m", "block_n")


def _fa_counts(p: dict) -> dict:
    from archsim.kernels.triton import flash_attention

    return flash_attention.counts(**_pick(p, *_ATTN_SHAPE, "causal"))


def _sw_counts(p: dict) -> dict:
    from archsim.kernels.triton import sliding_window

    return sliding_window.counts(**_pick(p, *_ATTN_SHAPE, "window_left", "window_right"))


def _fd_counts(p: dict) -> dict:
    from archsim.kernels.triton import flash_decoding

    return flash_decoding.counts(**_pick(p, "batch", "heads", "kv_heads", "seq_kv", "head_dim", "dtype",
                                         "num_splits", "block_n"))


def _gemm_counts(p: dict) -> dict:
    from archsim.kernels.triton import gemm

    return gemm.counts(**_pick(p, "m", "n", "k", "dtype", "block_m", "block_n", "block_k"))


_SPECS = {"flash_attention": _Spec(_fa_launches, _fa_counts),
          "sliding_window_attention": _Spec(_sw_launches, _sw_counts),
          "flash_decoding": _Spec(_fd_launches, _fd_counts),
          "gemm": _Spec(_gemm_launches, _gemm_counts)}


def launches(name: str, **params: Any) -> tuple:
    """The :class:`~kernels.trace.Launch` objects of kernel ``name`` on zero inputs of the given shape."""
    return _SPECS[name].launches(resolve(name, params))


def formula(name: str, **params: Any) -> dict:
    """Analytic ``{"executed": {...}, "useful": {...}}`` counts of kernel ``name``."""
    return _SPECS[name].counts(resolve(name, params))


def trace_here(name: str, *, full: bool = False, **params: Any):
    """Trace kernel ``name`` in this (interpreter-mode) process; returns a KernelTrace."""
    from archsim.kernels.trace import KernelTrace, trace_launch

    p = resolve(name, params)
    traced = tuple(trace_launch(launch, full=full) for launch in _SPECS[name].launches(p))
    shape = {k: v for k, v in p.items() if k not in ("dtype", "num_warps", "num_stages")
             and not k.startswith("block_")}
    return KernelTrace(kernel=name, dtype=p["dtype"], shape=shape, launches=traced,
                       useful=_SPECS[name].counts(p)["useful"])


def trace(name: str, *, full: bool = False, **params: Any) -> dict:
    """Trace kernel ``name``; returns ``KernelTrace.to_dict()``. Runs in a subprocess with
    ``TRITON_INTERPRET=1`` unless this process already interprets."""
    from archsim.kernels.runtime import interpret_mode

    resolve(name, params)
    if interpret_mode():
        return trace_here(name, full=full, **params).to_dict()
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    request = json.dumps({"name": name, "full": full, "params": params})
    done = subprocess.run([sys.executable, "-m", "archsim.kernels.registry", request], env=env, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"tracing {name} in a subprocess failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout)


if __name__ == "__main__":
    _req = json.loads(sys.argv[1])
    print(json.dumps(trace_here(_req["name"], full=_req["full"], **_req["params"]).to_dict()))
