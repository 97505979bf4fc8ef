"""A workload under its software stack on a GPU: GPU-busy time and wall time per phase.

The workload's ``stack`` (:class:`archsim.schemas.workload.StackChoice`) names the software
(``eager`` = HuggingFace transformers, ``plain`` = hand-written eager PyTorch, ``fused`` =
torch.compile) and the host mode (``eager`` dispatch or ``cuda-graph`` replay). Each phase is
lowered to the kernels that stack launches (:mod:`archsim.gpu.stacks`) and priced with the
calibrated kernel, glue and host models (:mod:`archsim.gpu.wholemodel`):

- ``gpu_busy_s``: the sum of kernel times (what a profiler's kernel-time sum measures);
- ``wall_s``: host dispatch overlapped with the GPU queue (eager), or graph launch + nodes (graph);
  a phase is ``host``-bound when its wall time exceeds its GPU-busy time by more than 20 %.

Decode phases of ``steps`` tokens are simulated at the mean KV length and repeated (exact for
costs linear in the length), as :mod:`archsim.lowering` does. Covered: Llama-style decoders
(RMSNorm, gated SiLU FFN, rotary), dense or MoE in every layer, and GPT-2-style ones (LayerNorm, GELU,
learned positions, biases; transformers profile only); others are a configuration error naming what is
missing. Presets carry no q/k/v-bias flag: Qwen2's biased projections are reachable through
:class:`archsim.gpu.stacks.ModelShape` (``qkv_bias``), not a workload. Validated on an H200
(reports/whole-model.md); on an H100 the glue and host figures are the H200's (no H100 glue/host
microbenchmarks exist yet) — said in the notes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from archsim.errors import ConfigError
from archsim.gpu.stacks import CATEGORIES, ModelShape, Step
from archsim.schemas.model import ModelSpec
from archsim.schemas.workload import DecodePhase, Workload

STACK_OF = {"eager": "hf", "plain": "plain", "fused": "fused"}
HOST_BOUND_RATIO = 1.2


@dataclass
class PhaseTime:
    """One phase: seconds of GPU-busy time, wall time and host dispatch, by category, kernels per step."""

    phase: str
    steps: int
    gpu_busy_s: float
    wall_s: float
    host_s: float
    n_kernels: int
    by_category: dict[str, float]

    @property
    def bound(self) -> str:
        return "host" if self.wall_s > HOST_BOUND_RATIO * self.gpu_busy_s else "gpu"


@dataclass
class StackPrediction:
    workload: str
    hardware: str
    software: str
    host: str
    calibration: str
    phases: list[PhaseTime]
    notes: list[str] = field(default_factory=list)

    @property
    def gpu_busy_s(self) -> float:
        return sum(p.gpu_busy_s for p in self.phases)

    @property
    def wall_s(self) -> float:
        return sum(p.wall_s for p in self.phases)

    def to_dict(self) -> dict:
        return {"workload": self.workload, "hardware": self.hardware, "software": self.software, "host": self.host,
                "calibration": self.calibration, "gpu_busy_s": self.gpu_busy_s, "wall_s": self.wall_s,
                "phases": [{**p.__dict__, "bound": p.bound} for p in self.phases], "notes": self.notes}


def shape_from_model(model: ModelSpec) -> ModelShape:
    """The stack profiles' view of a model preset: Llama-style (RMSNorm, gated SiLU, dense or MoE in every
    layer) or GPT-2-style (LayerNorm, GELU, dense: :mod:`archsim.gpu.stacks_arch`); others are a
    configuration error naming what is missing."""
    gpt2 = model.norm == "layernorm" and model.ffn_kind == "gelu"
    problems = []
    if model.arch != "decoder":
        problems.append(f"arch {model.arch!r} (needs decoder)")
    if not gpt2 and model.norm != "rmsnorm":
        problems.append(f"norm {model.norm!r} with ffn_kind {model.ffn_kind!r} (needs rmsnorm + gated_silu or "
                        "layernorm + gelu)")
    elif not gpt2 and model.ffn_kind != "gated_silu":
        problems.append(f"ffn_kind {model.ffn_kind!r} with rmsnorm (needs gated_silu)")
    if model.moe is not None and (gpt2 or model.moe.every_n_layers != 1):
        problems.append("MoE on every n-th layer (needs every layer)" if not gpt2 else "MoE in a GPT-2-style model")
    if gpt2 and model.kv_heads != model.num_heads:
        problems.append("grouped KV heads in a GPT-2-style model")
    if problems:
        raise ConfigError.single(f"model {model.name!r}: the software-stack profiles cover Llama-style and GPT-2-style "
                                 f"decoders; not {', '.join(problems)}", key_path="model")
    moe = model.moe
    head = model.head_dim if model.head_dim and model.head_dim * model.num_heads != model.hidden_size else 0
    return ModelShape(name=model.name, hidden=model.hidden_size, heads=model.num_heads, kv_heads=model.kv_heads,
                      ffn=moe.expert_ffn_hidden_size if moe else model.ffn_hidden_size, vocab=model.vocab_size or 0,
                      layers=model.num_layers, experts=moe.num_experts if moe else 0, top_k=moe.top_k if moe else 0,
                      family="gpt2" if gpt2 else "llama", head_size=head or 0)


def predict_workload(workload: Workload, hardware: str, *, software: str | None = None, host: str | None = None,
                     calibration: str = "own") -> StackPrediction:
    """Per-phase GPU-busy and wall time of ``workload`` on ``hardware`` under its (or the given) stack."""
    from archsim.gpu.devices import device_calibration
    from archsim.gpu.wholemodel import KernelPricer, predict_step
    from archsim.presets import resolve_model
    software = software or workload.stack.software
    host = host or workload.stack.host
    if software not in STACK_OF:
        raise ConfigError.single(f"unknown software stack {software!r}; valid: {', '.join(STACK_OF)}",
                                 key_path="stack.software")
    model = resolve_model(workload)
    if model is None:
        raise ConfigError.single("the software-stack model needs a model workload (not explicit layers)",
                                 key_path="model")
    shape = shape_from_model(model)
    if workload.dtype in ("bf16", "fp16"):  # priced alike (same bytes and MMA rate); fp32 keeps the bf16 kernels
        shape = replace(shape, dtype=workload.dtype)
    stack = STACK_OF[software]
    if (shape.experts or shape.family != "llama") and stack != "hf":
        what = "MoE" if shape.experts else "GPT-2-style"
        raise ConfigError.single(f"{what} models have the 'eager' (transformers) profile only, not {software!r}",
                                 key_path="stack.software")
    cal = device_calibration(hardware, calibration)
    pricer = KernelPricer(cal)
    phases = []
    for ph in workload.phases:
        if isinstance(ph, DecodePhase):
            steps = ph.steps
            step = Step(phase="decode", batch=ph.batch, seq_len=1, context=ph.context_len + (steps - 1) // 2)
        else:
            steps = 1
            step = Step(phase="prefill", batch=ph.batch, seq_len=ph.seq_len or 0)
        p = predict_step(shape, step, stack, host, cal, pricer)
        phases.append(PhaseTime(phase=step.phase, steps=steps, gpu_busy_s=p.gpu_s * steps, wall_s=p.wall_s * steps,
                                host_s=p.host_s * steps, n_kernels=p.n_kernels,
                                by_category={c: p.by_category[c] * steps for c in CATEGORIES}))
    notes = [f"stack: software {software} (profile {stack!r}, archsim.gpu.stacks), host {host}; "
             "GPU-busy = sum of kernel times, wall = host/GPU overlap (archsim.gpu.host)",
             f"calibration {calibration}: kernels {cal.sources['kernels']}; glue {cal.sources['glue']}; "
             f"host {cal.sources['host']}; grouped-GEMM experts {cal.sources['grouped']}"]
    need = memory_bytes(shape, workload)
    capacity = _hbm_capacity(hardware)
    if capacity and need > capacity:
        notes.append(f"bf16 weights + KV cache need {need / 1e9:.0f} GB, more than one {hardware}'s "
                     f"{capacity / 1e9:.0f} GB: the times are those of a GPU that held them (no offload modelled)")
    if hardware != "h200":
        notes.append(f"{hardware}: host-dispatch figures are the H200's; glue and grouped-GEMM figures the H200's "
                     "moved by the measured copy bandwidths (none measured on this GPU)")
    return StackPrediction(workload=workload.name, hardware=hardware, software=software, host=host,
                           calibration=calibration, phases=phases, notes=notes)


def memory_bytes(shape: ModelShape, workload: Workload) -> float:
    """bf16 bytes of the weights (embedding and lm_head included) and of the largest phase's KV cache."""
    d = shape.head_dim
    attn = shape.hidden * (shape.heads + 2 * shape.kv_heads) * d + shape.heads * d * shape.hidden
    mats = 2 if shape.family == "gpt2" else 3  # GPT-2: c_fc + c_proj; Llama: gate, up, down
    ffn = mats * shape.hidden * shape.ffn * max(1, shape.experts) + shape.hidden * shape.experts
    weights = shape.layers * (attn + ffn) + 2 * shape.vocab * shape.hidden
    tokens = max((ph.batch * (ph.context_len + ph.steps) if isinstance(ph, DecodePhase)
                  else ph.batch * (ph.seq_len or 0) for ph in workload.phases), default=0)
    return 2.0 * weights + 2.0 * 2 * shape.layers * shape.kv_heads * d * tokens


def _hbm_capacity(hardware: str) -> float:
    from archsim.presets import load_hardware
    mem = getattr(load_hardware(hardware), "memory", {}) or {}
    hbm = mem.get("hbm")
    return float(getattr(hbm, "capacity_bytes", 0.0) or 0.0)


CALIBRATED_GPUS = ("h200", "h100-sxm")


def stack_summary(workload: Workload, hardware: str) -> dict | None:
    """The workload's stack prediction as a dict (``Result.stack``), or None where it does not apply: not
    a GPU with a whole-model calibration, explicit layers instead of a model, or not a Llama-style decoder."""
    from archsim.presets import resolve_model
    model = resolve_model(workload) if workload.model is not None else None
    if hardware not in CALIBRATED_GPUS or model is None or not covers(model):
        return None
    return predict_workload(workload, hardware).to_dict()


def covers(model: ModelSpec) -> bool:
    """Whether the stack profiles cover ``model`` (see :func:`shape_from_model`)."""
    try:
        shape = shape_from_model(model)
    except ConfigError:
        return False
    return shape.vocab > 0
