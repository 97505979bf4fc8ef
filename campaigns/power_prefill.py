"""NVML campaign: the energy of a prefill step's kernel groups at boost clock (issue 22, calibration).

The blind rounds measured small prefills (16-512 tokens, CUDA-graph replays, the board at 1920-1980 MHz below its
limit) 10-25 % above the model. This campaign takes a prefill step apart so the miss can be put on a kernel group
from calibration data, not from the blind rows: ``power.MiniLlama``'s forward (the same code the blind rounds ran)
with each group of kernels switched on or off:

- ``all``: the step as the blind rounds ran it;
- ``gemm``: the four ``F.linear`` GEMMs of every layer only (every layer its own weights, so each streams from HBM);
- ``glue``: the eager glue only (RMSNorm as HF writes it, rotary on q and k, SiLU and mul, residual adds);
- ``attn``: SDPA FlashAttention (causal) only;
- ``none``: the graph with no kernel but a 4-byte copy (launch and replay overhead: the control).

A group switched off is replaced by a tensor of the right shape allocated once (no kernel). Each variant is one
CUDA graph replayed back to back in an NVML window (``power.measure``: warm-up, then n replays between two
synchronisations; board energy = delta of ``nvmlDeviceGetTotalEnergyConsumption``), and its kernels are timed by
the profiler (``profiled.traced``) right after the window. Shapes (none of them a blind point): widths 3584, 2304,
6144, 4096 and 1024 at 64-384 tokens. Two passes (forward, then reverse order). Idle with a context first and last.

Run on the GPU machine from the repository root (imports torch, numpy, pynvml and sibling campaign modules)::

    OUT=dir PYTHONPATH=campaigns python3 campaigns/power_prefill.py [--budget-s 240] [--smoke]

Files under ``$OUT``: ``power-h200-prefill-parts-<date>.csv`` (``power.measure`` columns plus shape, variant,
pass, profiled kernel time per replay and kernel count), ``-traces-`` CSV and ``-meta-`` JSON.
"""

from __future__ import annotations

import power
import power_gaps as pg
import torch
import torch.nn.functional as F
from profiled import traced

BF16 = torch.bfloat16
#: (tag, hidden, heads, ffn, layers, batch, seq)
SHAPES = (("p3584", 3584, 28, 9728, 3, 1, 160), ("p2304", 2304, 18, 6144, 6, 2, 160),
          ("p6144", 6144, 48, 16384, 1, 1, 64), ("p4096", 4096, 32, 11008, 2, 1, 384),
          ("p1024", 1024, 8, 2816, 12, 8, 32))
VARIANTS = ("all", "gemm", "glue", "attn", "none")


class PartsLlama(power.MiniLlama):
    """``power.MiniLlama.forward`` with kernel groups switched off (see module docstring)."""

    def forward_parts(self, x, cos, sin, on: set[str], spare: dict):
        b, s, _ = x.shape
        for w in self.w:
            hdn = self._rms(x, w["n1"]) if "glue" in on else x
            qkv = F.linear(hdn, w["qkv"]) if "gemm" in on else spare["qkv"]
            q, k, v = qkv.view(b, s, 3, self.heads, self.d).unbind(2)
            if "glue" in on:
                q, k = self._rope(q, cos, sin), self._rope(k, cos, sin)
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True) if "attn" in on else spare["a"]
            o = F.linear(a.transpose(1, 2).reshape(b, s, self.h), w["o"]) if "gemm" in on else spare["x"]
            x = x + o if "glue" in on else o
            gu = F.linear(self._rms(x, w["n2"]) if "glue" in on else x, w["gu"]) if "gemm" in on else spare["gu"]
            g, u = gu.chunk(2, dim=-1)
            act = F.silu(g) * u if "glue" in on else g
            dn = F.linear(act, w["down"]) if "gemm" in on else spare["x"]
            x = x + dn if "glue" in on else dn
        return x


def variant_step(model: PartsLlama, tag: str, batch: int, seq: int, variant: str):
    """A CUDA-graph replay of one variant (``power_gaps._stepper``: three warm-up calls, then the capture)."""
    dev = torch.device("cuda")
    h, d = model.h, model.d
    inter = model.w[0]["down"].shape[1]
    x = torch.randn(batch, seq, h, device=dev, dtype=BF16)
    cos = torch.randn(1, seq, 1, d, device=dev, dtype=BF16)
    sin = torch.randn_like(cos)
    spare = {"qkv": torch.randn(batch, seq, 3 * h, device=dev, dtype=BF16),
             "a": torch.randn(batch, model.heads, seq, d, device=dev, dtype=BF16),
             "x": torch.randn(batch, seq, h, device=dev, dtype=BF16),
             "gu": torch.randn(batch, seq, 2 * inter, device=dev, dtype=BF16)}
    src, dst = torch.zeros(1, device=dev), torch.zeros(1, device=dev)
    on = {"all": {"gemm", "glue", "attn"}}.get(variant, {variant})

    def fwd():
        if variant == "none":
            dst.copy_(src)
        else:
            model.forward_parts(x, cos, sin, on, spare)
    return pg._stepper(fwd, True, (x, cos, sin, spare, src, dst))  # the graph keeps its inputs alive


def main() -> None:
    from torch.nn.attention import SDPBackend, sdpa_kernel
    ap = power.campaign_parser(240.0)
    args = ap.parse_args()
    window = 0.5 if args.smoke else args.window_s
    shapes = SHAPES[:1] if args.smoke else SHAPES
    run = power.Campaign("power_prefill.py", args, "power-prefill-out")
    left, h, sampler, info = run.left, run.h, run.sampler, run.info
    info.update(method="per shape, variant and pass: one CUDA graph of MiniLlama.forward with kernel groups on/off, "
                       f"warm-up, n replays over ~{window:g} s between two synchronisations (power.measure), then "
                       "a profiled stretch of replays; energy = delta of nvmlDeviceGetTotalEnergyConsumption",
                window_s=window, shapes=[list(s) for s in shapes], variants=list(VARIANTS))
    rows: list[dict] = [power.idle(h, sampler, "idle_context", args.idle_s)]
    skipped: list[str] = []
    with torch.no_grad(), sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        for pass_, order in (("a", shapes), ("b", shapes[::-1])):
            for tag, hidden, heads, ffn, layers, batch, seq in order:
                if left() < len(VARIANTS) * (window + 3.0) + 8.0:
                    skipped.append(f"{tag} pass {pass_}")
                    continue
                model = PartsLlama(layers, hidden, heads, ffn)
                for variant in VARIANTS:
                    step = variant_step(model, tag, batch, seq, variant)
                    counts = {"kind": "prefill_parts", "model": tag, "hidden": hidden, "heads": heads, "ffn": ffn,
                              "layers": layers, "batch": batch, "seq_q": seq, "seq_kv": seq, "phase": "prefill",
                              "mode": "graph", "variant": variant, "pass": pass_}
                    row = power.measure(h, sampler, f"{tag}_l{layers}_b{batch}_q{seq}_{variant}", step,
                                        counts=counts, set_="calibration", window_s=window, warm_s=min(0.5, window))
                    calls = traced(step, 8)
                    busy = sorted(sum(k["dur_us"] for k in c) for c in calls[len(calls) // 2:])
                    row.update(kernel_us_per_replay=busy[len(busy) // 2] if busy else 0.0,  # none: a memcpy only
                               kernels_per_replay=len(calls[-1]) if calls else 0)
                    rows.append(row)
                    del step
                del model
                torch.cuda.empty_cache()
    rows.append(power.idle(h, sampler, "idle_context_after", args.idle_s))
    run.finish("prefill-parts", rows, skipped)


if __name__ == "__main__":
    main()
