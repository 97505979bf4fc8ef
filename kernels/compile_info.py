"""Compile a kernel for sm_90 without a GPU and report what occupancy depends on.

``sm90_metadata(kernel_name, **shape)`` compiles every launch of the kernel with
``triton.compile(ASTSource(...), target=GPUTarget("cuda", 90, 32))`` and returns, per launch:
shared memory per CTA (bytes, from triton's metadata), ``num_warps``, ``num_stages``, registers
per thread (from the cubin via the ``cuobjdump`` that triton bundles, when present) and which
MMA instructions the PTX uses (``wgmma``/``mma``). Compiling fails in a process with
``TRITON_INTERPRET=1``, so this always runs in a fresh subprocess without it: safe to call
from any process, interpreter or not. Costs a few seconds per launch (LLVM + ptxas).

Pointer arguments are declared 16-byte aligned, as triton's launcher specialises them for
tensors from torch's allocator; integer arguments are not specialised.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from typing import Any

_TORCH_TO_TRITON = {"torch.float16": "fp16", "torch.bfloat16": "bf16", "torch.float32": "fp32"}


def _signature(launch: Any) -> tuple[dict, dict, dict]:
    import torch

    fn = launch.kernel
    names = list(fn.arg_names)
    signature: dict[str, str] = {}
    attrs: dict[tuple, list] = {}
    for i, (name, value) in enumerate(zip(names, launch.args, strict=False)):
        if isinstance(value, torch.Tensor):
            signature[name] = "*" + _TORCH_TO_TRITON[str(value.dtype)]
            attrs[(i,)] = [["tt.divisibility", 16]]
        elif isinstance(value, bool):
            signature[name] = "i1"
        elif isinstance(value, int):
            signature[name] = "i32" if -(2**31) <= value < 2**31 else "i64"
        elif isinstance(value, float):
            signature[name] = "fp32"
        else:
            raise TypeError(f"cannot declare argument {name}={value!r} of {launch.name}")
    for name in launch.kwargs:
        signature[name] = "constexpr"
    ordered = {name: signature[name] for name in names}
    return ordered, dict(launch.kwargs), attrs


def _registers(cubin: bytes) -> int | None:
    import triton

    tool = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
    if not os.path.exists(tool):
        return None
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(cubin)
        f.flush()
        done = subprocess.run([tool, "--dump-resource-usage", f.name], capture_output=True, text=True, check=False)
    match = re.search(r"REG:(\d+)", done.stdout)
    return int(match.group(1)) if match else None


def _compile_here(kernel_name: str, params: dict) -> list[dict]:
    from archsim.kernels.registry import launches
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource, compile

    results = []
    for launch in launches(kernel_name, **params):
        signature, constexprs, attrs = _signature(launch)
        src = ASTSource(fn=launch.kernel, signature=signature, constexprs=constexprs, attrs=attrs)
        compiled = compile(src, target=GPUTarget("cuda", 90, 32),
                           options={"num_warps": launch.num_warps, "num_stages": launch.num_stages})
        ptx = compiled.asm.get("ptx", "")
        meta = compiled.metadata
        results.append({"launch": launch.name, "grid": list(launch.grid3), "block_sizes": dict(launch.block_sizes),
                        "num_warps": int(meta.num_warps), "num_stages": int(meta.num_stages),
                        "shared_bytes_per_cta": int(meta.shared),
                        "registers_per_thread": _registers(compiled.asm["cubin"]) if "cubin" in compiled.asm else None,
                        "uses_wgmma": "wgmma" in ptx, "uses_mma": bool(re.search(r"\bmma\.sync", ptx)),
                        "target": "cuda sm_90", "triton_version": __import__("triton").__version__})
    return results


def sm90_metadata(kernel_name: str, **shape: Any) -> list[dict]:
    """Per-launch sm_90 compile metadata of kernel ``kernel_name`` at ``shape`` (see module doc)."""
    from archsim.kernels.registry import resolve

    resolve(kernel_name, shape)  # fail fast on bad names/shapes, in this process
    env = {key: value for key, value in os.environ.items() if key != "TRITON_INTERPRET"}
    request = json.dumps({"name": kernel_name, "params": shape})
    done = subprocess.run([sys.executable, "-m", "archsim.kernels.compile_info", request], env=env, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"sm_90 compile of {kernel_name} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout)


if __name__ == "__main__":
    _req = json.loads(sys.argv[1])
    print(json.dumps(_compile_here(_req["name"], _req["params"])))
