"""PIM-GPT: GDDR6-PIM channels do every GEMV in-bank, a small ASIC does the rest.

One decode step of a GPT model (batch 1), per layer: layernorm (ASIC) -> QKV GEMV (PIM) ->
K, V written into the PIM-resident KV cache -> scores GEMV over K (PIM) -> softmax (ASIC) ->
context GEMV over V^T (PIM) -> output projection (PIM) -> residual, layernorm (ASIC) -> FFN up
(PIM) -> GELU (ASIC) -> FFN down (PIM) -> residual (ASIC); then the final layernorm and the
LM-head GEMV. Everything runs in sequence (the ASIC waits for the GEMV's results).

PIM time and energy come from the bank-level command model on all channels of the system
(:mod:`archsim.pim.gemv`, the shared partition). All heads' scores form one GEMV of
``heads * ctx`` rows (and contexts one of ``heads * head_dim`` rows), i.e. the global buffer is
assumed to hold every head's query (approximate for GPT3-XL, whose 16 x 128 query is 4 KB).
ASIC time: elementwise FLOPs at its vector rate, transcendentals at its SFU rate, plus moving
the vector between ASIC and channels over the link. Energy: PIM energy + ASIC dynamic energy
+ link energy + static power of every chip for the whole time.

The GPU baseline is the paper's GPU (an NVIDIA T4, preset ``nvidia-t4``) running HuggingFace
``GPT2LMHeadModel.generate`` at batch 1 in eager PyTorch, as the paper's baseline ran: the
software-stack model of :mod:`archsim.gpu.baselines` (kernels the real code launches, host
dispatch overlapped with the GPU queue, board power model for energy). The roofline of the same
decode steps (:func:`gpu_generate_roofline`, the previous baseline) is kept for comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from archsim import presets
from archsim.backends.roofline import evaluate_op
from archsim.lowering import lower
from archsim.operators import TRANSCENDENTALS_PER_ELEMENT, VECTOR_FLOPS_PER_ELEMENT
from archsim.pim import device as pimdev
from archsim.pim import gemv
from archsim.schemas.hardware import SystemSpec
from archsim.schemas.model import ModelSpec
from archsim.schemas.workload import Workload

if TYPE_CHECKING:
    from archsim.gpu.baselines import StepCost as StackCost

GPU_BASELINE = "nvidia-t4"
#: attention implementation of the baseline: transformers' GPT-2 ``_attn`` (matmul, mask, softmax, matmul)
#: is what a 2023 HuggingFace GPT-2 ran (SDPA attention came to GPT-2 in transformers 4.4x)
GPU_ATTENTION = "eager"


@dataclass(frozen=True)
class PimGptSystem:
    pim: pimdev.BankPim  # all channels of the system as one bank-level PIM device
    chips: int
    asic: object         # AcceleratorDevice
    link_bytes_per_s: float
    link_latency_s: float
    link_j_per_byte: float


def load_system(name: str = "pim-gpt") -> PimGptSystem:
    spec: SystemSpec = presets.load_hardware(name)
    ref = spec.devices["pim"]
    chip = presets.load_hardware(ref.preset) if ref.preset else ref.device
    pim_params = chip.pim.model_copy(update={"channels": chip.pim.channels * ref.count})
    joined = chip.model_copy(update={"pim": pim_params, "static_power_w": chip.static_power_w * ref.count,
                                     "name": f"{chip.name} x{ref.count}"})
    asic_ref = spec.devices["asic"]
    asic = presets.load_hardware(asic_ref.preset) if asic_ref.preset else asic_ref.device
    link = spec.links[0]
    return PimGptSystem(pim=pimdev.resolve(joined), chips=ref.count, asic=asic,
                        link_bytes_per_s=link.bandwidth_bytes_per_s, link_latency_s=link.latency_s,
                        link_j_per_byte=link.energy_j_per_byte)


@dataclass
class StepCost:
    time_s: float = 0.0
    energy_j: float = 0.0
    pim_time_s: float = 0.0
    asic_time_s: float = 0.0
    row_switch_s: float = 0.0

    def add(self, other: StepCost, times: int = 1) -> None:
        for k in ("time_s", "energy_j", "pim_time_s", "asic_time_s", "row_switch_s"):
            setattr(self, k, getattr(self, k) + times * getattr(other, k))


def _gemv(sys: PimGptSystem, rows: int, cols: int) -> StepCost:
    g = gemv.timed(sys.pim, rows, cols)
    e_dyn = g.energy_j - g.energy_by_part["static"]
    return StepCost(g.time_s, e_dyn, g.time_s, 0.0, g.row_activation_share * g.time_s)


def _asic(sys: PimGptSystem, fn: str, elements: int, moved_bytes: float) -> StepCost:
    a = sys.asic
    vec = a.compute.vector_flops_per_s["fp32"]
    flops = VECTOR_FLOPS_PER_ELEMENT[fn] * elements
    trans = TRANSCENDENTALS_PER_ELEMENT[fn] * elements
    compute_s = max(flops / vec, trans / a.compute.sfu_ops_per_s if a.compute.sfu_ops_per_s else 0.0)
    move_s = sys.link_latency_s + moved_bytes / sys.link_bytes_per_s
    t = compute_s + move_s
    e = flops * a.compute.vector_energy_j_per_flop + moved_bytes * sys.link_j_per_byte
    return StepCost(t, e, 0.0, t, 0.0)


def decode_step(sys: PimGptSystem, model: ModelSpec, ctx: int) -> StepCost:
    """One token generated with ``ctx`` tokens in the KV cache (including this one)."""
    h, heads, d = model.hidden_size, model.num_heads, model.dhead
    f = model.ffn_hidden_size
    b = sys.pim.dtype_bytes
    layer = StepCost()
    for part in (
        _asic(sys, "layernorm", h, 2 * h * b),
        _gemv(sys, 3 * heads * d, h),
        _asic(sys, "residual_add", 0, 2 * heads * d * b),  # K, V written into the KV cache
        _gemv(sys, heads * ctx, d),
        _asic(sys, "softmax", heads * ctx, 2 * heads * ctx * b),
        _gemv(sys, heads * d, ctx),
        _gemv(sys, h, heads * d),
        _asic(sys, "residual_add", h, 2 * h * b),
        _asic(sys, "layernorm", h, 2 * h * b),
        _gemv(sys, f, h),
        _asic(sys, "gelu", f, 2 * f * b),
        _gemv(sys, h, f),
        _asic(sys, "residual_add", h, 2 * h * b),
    ):
        layer.add(part)
    step = StepCost()
    step.add(layer, model.num_layers)
    step.add(_asic(sys, "layernorm", h, 2 * h * b))
    step.add(_gemv(sys, model.vocab_size or 0, h))
    static_w = sys.pim.device.static_power_w + sys.asic.static_power_w
    step.energy_j += static_w * step.time_s
    return step


def generate(sys: PimGptSystem, model: ModelSpec, tokens: int) -> StepCost:
    """Generate ``tokens`` tokens from a one-token prompt (context 1..tokens)."""
    total = StepCost()
    for ctx in range(1, tokens + 1):
        total.add(decode_step(sys, model, ctx))
    return total


def gpu_generate(model_name: str, tokens: int, hw: str = GPU_BASELINE, attn: str = GPU_ATTENTION) -> StackCost:
    """The same generation as HF ``generate`` on ``hw`` under the software-stack model (wall time, GPU-busy
    time, host time, energy: :func:`archsim.gpu.baselines.gpt2_generate`)."""
    from archsim.gpu.baselines import gpt2_generate
    return gpt2_generate(hw, presets.load_model(model_name), tokens, attn)


def gpu_generate_roofline(model_name: str, tokens: int, hw: str = GPU_BASELINE) -> tuple[float, float]:
    """(time s, energy J) of the same generation on archsim's roofline model of the GPU (no host time).

    Decode steps are lowered at the mean context (archsim.lowering) — exact for the linear costs
    the roofline charges.
    """
    gpu = presets.load_hardware(hw)
    wl = Workload(name=f"{model_name}-gen{tokens}", model=model_name, dtype="fp16",
                  phases=[{"phase": "decode", "batch": 1, "context_len": 1, "steps": tokens}])
    ops = lower(wl, presets.load_model(model_name))
    results = [evaluate_op(op, gpu) for op in ops]
    return sum(r.total_time_s for r in results), sum(r.total_energy_j for r in results)
