"""The serving engine's decode glue ops one at a time at batch 1..64 (parts ``glue`` and ``engine_glue`` of
``decode_micro.py``; see its docstring). Imports torch and the sibling ``profiled`` / ``csv_sink`` modules."""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from csv_sink import Sink
from profiled import KERNEL_FIELDS, kernel_rows, traced

FIELDS = ["op", "batch", "calls", "kernel_idx", "median_us", "min_us"] + KERNEL_FIELDS[:1] + KERNEL_FIELDS[2:]


def glue_cases(b: int, t: dict) -> list[tuple[str, object]]:
    """The decode step's small non-GEMM kernels at batch ``b`` (the serving engine's code, one op each)."""
    p = t["pos"][:b]
    k = t["qkv"][:b].view(b, 1, 96, 128)[:, :, 32:64].transpose(1, 2)
    rows = t["rows"][:b]
    xf = t["xf"][:b]

    def cache_write():
        t["kc"][rows, :, p] = k[:, :, 0]

    return [("embedding", lambda: F.embedding(t["ids"][:b], t["emb"])),
            ("argmax", lambda: t["logits"][:b].argmax(-1)),
            ("rope_gather", lambda: t["cos"][p]),
            ("length_mask", lambda: t["ar"][None, :] <= p[:, None]),
            ("cache_write", cache_write),
            ("rms_mean", lambda: xf.pow(2).mean(-1, keepdim=True)),
            ("bias_from_bool", lambda: torch.zeros(b, 1, 1, 320, device="cuda", dtype=torch.bfloat16)
             .masked_fill_(~(t["ar"][None, :] <= p[:, None])[:, None, None, :], float("-inf")))]


def run_glue(out: str, log, budget, smoke: bool) -> None:
    sink = Sink(os.path.join(out, "glue.csv"), FIELDS)
    bf = torch.bfloat16
    gen = torch.Generator(device="cuda").manual_seed(2)
    t = {"pos": torch.randint(256, 320, (64,), device="cuda", generator=gen),
         "ids": torch.randint(0, 32000, (64,), device="cuda", generator=gen),
         "emb": torch.randn(32000, 4096, device="cuda", dtype=bf), "logits": torch.randn(64, 32000, device="cuda",
                                                                                        dtype=bf),
         "cos": torch.randn(320, 128, device="cuda", dtype=bf), "ar": torch.arange(320, device="cuda"),
         "qkv": torch.randn(64, 96 * 128, device="cuda", dtype=bf), "rows": torch.arange(64, device="cuda"),
         "kc": torch.randn(64, 32, 320, 128, device="cuda", dtype=bf),
         "xf": torch.randn(64, 1, 4096, device="cuda", dtype=torch.float32)}
    for b in ((1, 16) if smoke else (1, 2, 4, 8, 16, 24, 32, 48, 64)):
        if budget() < 8:
            log("glue: budget, stopping")
            return
        for op, fn in glue_cases(b, t):
            for _ in range(3):
                fn()
            calls = traced(fn, 8)
            for row in kernel_rows(calls):
                sink.row(op=op, batch=b, **row)
        log(f"glue b{b} done")
    torch.cuda.empty_cache()


def engine_glue_cases(b: int, t: dict) -> list[tuple[str, object]]:
    """Every other glue op of the serving engine's decode layer at batch ``b``, on the tensors the engine's code
    hands it (strided head views of the fused QKV output, the chunked gate/up halves, broadcast weights), one op
    per case; names are the ``plain`` profile's kernel names (archsim.gpu.stacks)."""
    x = t["x"][:b].view(b, 1, 4096)
    xf, var, rs = t["xf"][:b], t["var"][:b], t["rs"][:b]
    q = t["qkv"][:b].view(b, 1, 96, 128)[:, :, :32].transpose(1, 2)
    cos = t["cos"][:b].view(b, 1, 1, 128)
    rot, qc = t["rot"][:b], t["qc"][:b]
    neg2 = t["neg2"][:b]
    g, u = t["gu"][:b].view(b, 1, 22016).chunk(2, dim=-1)
    sg = t["sg"][:b].view(b, 1, 11008)
    w = t["w"]
    return [("norm_to_fp32", lambda: x.to(torch.float32)), ("norm_pow", lambda: xf.pow(2)),
            ("norm_add_eps", lambda: var + 1e-5), ("norm_rsqrt", lambda: torch.rsqrt(var)),
            ("norm_mul_rsqrt", lambda: xf * rs), ("norm_to_bf16", lambda: xf.to(torch.bfloat16)),
            ("norm_mul_weight", lambda: w * x), ("rotary_mul_cos", lambda: q * cos),
            ("rotary_neg", lambda: -q[..., 64:]), ("rotary_cat", lambda: torch.cat((neg2, q[..., :64]), dim=-1)),
            ("rotary_mul_sin", lambda: rot * cos), ("rotary_add", lambda: qc + rot),
            ("residual_add", lambda: x + x), ("silu", lambda: F.silu(g)), ("mul", lambda: sg * u),
            ("embedding_cold", lambda: F.embedding(t["ids"][:b], t["emb"]))]


def run_engine_glue(out: str, log, budget, smoke: bool) -> None:
    sink = Sink(os.path.join(out, "engine-glue.csv"), FIELDS)
    bf, f32 = torch.bfloat16, torch.float32
    gen = torch.Generator(device="cuda").manual_seed(3)
    t = {"x": torch.randn(64, 4096, device="cuda", dtype=bf), "xf": torch.randn(64, 1, 4096, device="cuda", dtype=f32),
         "var": torch.rand(64, 1, 1, device="cuda", dtype=f32) + 0.5,
         "rs": torch.rand(64, 1, 1, device="cuda", dtype=f32) + 0.5,
         "qkv": torch.randn(64, 96 * 128, device="cuda", dtype=bf),
         "cos": torch.randn(64, 128, device="cuda", dtype=bf),
         "rot": torch.randn(64, 32, 1, 128, device="cuda", dtype=bf),
         "qc": torch.randn(64, 32, 1, 128, device="cuda", dtype=bf),
         "neg2": torch.randn(64, 32, 1, 64, device="cuda", dtype=bf),
         "gu": torch.randn(64, 22016, device="cuda", dtype=bf), "sg": torch.randn(64, 11008, device="cuda", dtype=bf),
         "w": torch.randn(4096, device="cuda", dtype=bf),
         "ids": torch.randint(0, 32000, (64,), device="cuda", generator=gen),
         "emb": torch.randn(32000, 4096, device="cuda", dtype=bf)}
    flush_src = torch.ones(128 << 20, dtype=torch.int16, device="cuda")

    def flush():
        t["ids"].random_(0, 32000, generator=gen)  # new rows, and the table's lines out of L2
        return flush_src.max()

    for b in ((1, 16) if smoke else (1, 2, 4, 8, 16, 24, 32, 48, 64)):
        if budget() < 8:
            log("engine glue: budget, stopping")
            return
        for op, fn in engine_glue_cases(b, t):
            for _ in range(3):
                fn()
            calls = traced(fn, 8, between=flush if op.endswith("_cold") else None)
            if op.endswith("_cold"):  # drop the flush's kernels (ids refill, read): keep the lookup's
                calls = [[x for x in c if "ndex" in x["name"] or "gather" in x["name"]] for c in calls]
            calls = [c for c in calls if c]
            for row in kernel_rows(calls):
                sink.row(op=op, batch=b, **row)
        log(f"engine glue b{b} done")
    torch.cuda.empty_cache()
