"""Measure M3ViT (Edge-MoE's configuration) batch-1 PyTorch eager inference on a real GPU.

``python -m archsim.campaigns.m3vit_gpu OUT.json`` (needs CUDA) builds the model from the
``m3vit`` preset with random weights (timing and power do not depend on values), runs the
forward pass one image at a time (batch 1, eager mode, as an interactive/video pipeline
would), times it with CUDA events (median of ``--iters`` after warm-up) and samples board
power with ``nvidia-smi --query-gpu=power.draw`` during a timed loop; energy per image =
mean power x median latency. Writes device, clocks, versions and the figures to ``OUT.json``.

The MoE layer is the M3ViT-style eager implementation: a gate linear, top-k, then a loop over
the selected experts gathering their patches (index_select) and scattering results back
(index_add_). What this measures that the roofline does not: per-kernel launch and framework
(dispatcher/Python) time, which dominate a batch-1 model this small.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from importlib import resources
from pathlib import Path


def build(dtype_name: str = "float32"):  # pragma: no cover - needs torch at run time
    from types import SimpleNamespace

    import torch
    import yaml  # PyYAML: the GPU machine has torch but not archsim's dependencies
    from torch import nn

    raw = yaml.safe_load((resources.files("archsim") / "presets/models/m3vit.yaml").read_text())
    m = SimpleNamespace(**raw)
    h, heads, ffn = m.hidden_size, m.num_heads, m.ffn_hidden_size
    moe, vis = SimpleNamespace(**raw["moe"]), SimpleNamespace(**raw["vision"])

    class Mlp(nn.Module):
        def __init__(self, hidden: int):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(h, hidden), nn.Linear(hidden, h)

        def forward(self, x):
            return self.fc2(nn.functional.gelu(self.fc1(x)))

    class Moe(nn.Module):
        def __init__(self):
            super().__init__()
            self.gate = nn.Linear(h, moe.num_experts, bias=False)
            self.experts = nn.ModuleList(Mlp(moe.expert_ffn_hidden_size) for _ in range(moe.num_experts))

        def forward(self, x):
            t = x.reshape(-1, h)
            w, idx = torch.topk(torch.softmax(self.gate(t), dim=-1), moe.top_k, dim=-1)
            out = torch.zeros_like(t)
            for e in torch.unique(idx).tolist():  # host sync, as eager MoE code does
                rows, slot = (idx == e).nonzero(as_tuple=True)
                y = self.experts[e](t.index_select(0, rows)) * w[rows, slot].unsqueeze(-1)
                out.index_add_(0, rows, y)
            return out.reshape(x.shape)

    class Block(nn.Module):
        def __init__(self, use_moe: bool):
            super().__init__()
            self.n1, self.n2 = nn.LayerNorm(h, eps=1e-6), nn.LayerNorm(h, eps=1e-6)
            self.qkv, self.proj = nn.Linear(h, 3 * h), nn.Linear(h, h)
            self.mlp = Moe() if use_moe else Mlp(ffn)

        def forward(self, x):
            b, n, _ = x.shape
            q, k, v = self.qkv(self.n1(x)).reshape(b, n, 3, heads, h // heads).permute(2, 0, 3, 1, 4)
            a = torch.softmax(q @ k.transpose(-2, -1) * (h // heads) ** -0.5, dim=-1)
            x = x + self.proj((a @ v).transpose(1, 2).reshape(b, n, h))
            return x + self.mlp(self.n2(x))

    class Vit(nn.Module):
        def __init__(self):
            super().__init__()
            self.patch = nn.Conv2d(3, h, vis.patch_size, vis.patch_size)
            self.cls = nn.Parameter(torch.zeros(1, 1, h))
            n = (vis.image_size // vis.patch_size) * (vis.image_width // vis.patch_size) + 1
            self.pos = nn.Parameter(torch.zeros(1, n, h))
            self.blocks = nn.ModuleList(Block(i % moe.every_n_layers == 1) for i in range(m.num_layers))
            self.norm = nn.LayerNorm(h, eps=1e-6)

        def forward(self, img):
            x = self.patch(img).flatten(2).transpose(1, 2)
            x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
            for blk in self.blocks:
                x = blk(x)
            return self.norm(x)

    dtype = getattr(torch, dtype_name)
    model = Vit().cuda().to(dtype).eval()
    img = torch.randn(1, 3, vis.image_size, vis.image_width, device="cuda", dtype=dtype)
    return model, img


def _power_sampler(samples: list[float], stop: threading.Event) -> None:  # pragma: no cover
    while not stop.is_set():
        out = subprocess.run(["nvidia-smi", "--query-gpu=power.draw", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, check=False).stdout.strip().splitlines()
        if out:
            samples.append(float(out[0]))
        time.sleep(0.05)


def measure(dtype_name: str, iters: int = 300) -> dict:  # pragma: no cover - needs CUDA
    import torch

    model, img = build(dtype_name)
    times = []
    with torch.inference_mode():
        for _ in range(30):
            model(img)
        torch.cuda.synchronize()
        idle = []
        stop = threading.Event()
        t = threading.Thread(target=_power_sampler, args=(idle, stop))
        t.start()
        time.sleep(1.0)
        stop.set()
        t.join()
        samples: list[float] = []
        stop = threading.Event()
        t = threading.Thread(target=_power_sampler, args=(samples, stop))
        t.start()
        for _ in range(iters):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            model(img)
            b.record()
            torch.cuda.synchronize()
            times.append(a.elapsed_time(b) * 1e-3)
        stop.set()
        t.join()
    times.sort()
    lat = times[len(times) // 2]
    power = sum(samples) / len(samples)
    return {"dtype": dtype_name, "latency_s_median": lat, "latency_s_p10": times[len(times) // 10],
            "power_w_mean_during_run": power, "power_samples": len(samples),
            "power_w_idle_before": sum(idle) / max(1, len(idle)), "energy_j_per_image": power * lat,
            "iters": iters}


def main(out: Path) -> None:  # pragma: no cover - needs CUDA
    import platform

    import torch

    smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,clocks.sm,clocks.mem,power.limit",
                          "--format=csv,noheader"], capture_output=True, text=True, check=False).stdout.strip()
    rows = [measure(d) for d in ("float32", "float16")]
    meta = {"what": "M3ViT (m3vit preset: Edge-MoE HLS config), 1 image 128x256, batch 1, PyTorch eager",
            "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "nvidia_smi": smi,
            "torch": torch.__version__, "python": platform.python_version(),
            "command": "python -m archsim.campaigns.m3vit_gpu OUT.json", "rows": rows}
    out.write_text(json.dumps(meta, indent=2))
    print(json.dumps(meta, indent=2))


if __name__ == "__main__":  # pragma: no cover
    main(Path(sys.argv[1]))
