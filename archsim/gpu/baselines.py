"""Paper GPU baselines under the software-stack model: eager PyTorch / HuggingFace runs at batch 1.

The PIM and FPGA papers measured their GPU baselines with a framework at batch 1 (PIM-GPT: GPT
token generation on a T4; Edge-MoE: an M3ViT forward; SWAT: a window-attention layer). In that
regime the GPU waits for the host: every PyTorch operator costs host time before its kernel
reaches the queue, and a roofline (no host, every kernel at peak) is the wrong baseline. This
module lowers those runs to the kernels the real code launches and prices them with the calibrated
models of :mod:`archsim.gpu` — cuBLAS GEMMs and SDPA attention (:mod:`archsim.gpu.predict`), glue
kernels (:mod:`archsim.gpu.glue`), host dispatch overlapped with the GPU queue
(:func:`archsim.gpu.host.eager_wall_s`) — and the board power model (:mod:`archsim.gpu.power`):
energy = static power x wall time + the dynamic energy of every kernel.

GPT-2 generation (``transformers`` ``GPT2LMHeadModel.generate``, greedy, batch 1): per token the
embedding gathers and add, ``generate``'s bookkeeping kernels, then per layer ``ln_1``, the fused
``c_attn`` addmm, the ``DynamicCache`` ``torch.cat`` of K and V (an O(context) copy), attention,
``c_proj``, residual add, ``ln_2``, ``c_fc``, ``gelu_new`` as written in ``activations.py`` (pow,
mul, add, mul, tanh, add, mul, mul: 8 kernels), ``c_proj``, residual add; then ``ln_f``, the LM head
GEMV, the fp32 copy of the logits and the argmax. Attention ``sdpa`` is one SDPA kernel (cuDNN on
an H200); ``eager`` (``eager_attention_forward``, and what transformers' GPT-2 ``_attn`` did in 2023)
is matmul, scale, mask add, softmax, matmul. Structure (kernels and counts per layer) was checked
against the profiler's kernel list of ``h200-bl-kernels-2026-12-01.csv``, never against its times;
``GENERATE_MISC_KERNELS`` is the count of ``generate``'s bookkeeping kernels read off that list.

Host time per token: ``fixed + layers x per_layer`` from an interleaved sweep of tiny-GPT-2 (width 64, 1 head)
``generate`` runs of 1, 3, 6, 12, 24 and 48 layers (``h200-hw-gen-2026-12-01.csv``, ``campaigns/host_width.py``:
16 tokens per call, 6 rounds, every configuration once per round in a shuffled order), a calibration
microbenchmark separate from the GPT-2 S..XL validation runs (``h200-bl-gpt2``). What that sweep found:
- width does not move it: GPT-2 S/M/L/XL shapes and widths 768/1600 measured in the same rounds cost what
  width 64 costs at the same depth (fast state: -3..+8 %; slow state: -2..+4 %); 1..48 layers are linear
  within 3 % in each state;
- the machine has two host-speed states: per configuration the calls are 1.0-1.2x or 1.5-2.1x its fastest
  call (:data:`archsim.gpu.host.STATE_SPLIT`), the host thread on its CPU throughout (thread CPU time = wall,
  no steal, no run-queue wait), the pure-Python probe 2.7 vs 4.5-4.7 ms; the slow state costs 1.9x per layer
  and 1.35x fixed. The earlier fits were one state's or a mix's: the 1- and 3-layer width-64 calibration
  (``h200-bl-host``: 0.26-0.34 ms/layer, the 29-52 % under-prediction of S..XL wall) is the fast state's
  0.35-0.39 ms/layer; the 1..24-layer sweep (``h200-host-generate``, 0.60-0.65) mostly the slow state's 0.69-0.73;
- ``generate``'s own per-token work (logits processors, stopping criteria, input preparation: ``h200-hw-split``,
  generate vs a hand-written greedy loop) is ~1.1 ms per token in the fast state, not per layer; one ``.item()``
  sync per token costs < 0.1 ms; both sit in ``fixed``.
:func:`gpt2_host` returns one state's line or ``point``, the geometric mean of the two (the run's state is not
known; the estimate with the smallest worst-case ratio error); :func:`validate_gpt2` reports both states' walls.
The first ``generate`` over a KV length also builds a cuDNN SDPA plan (~36 ms) or a cuBLAS heuristic (~40 us a
batched matmul) per new shape (``h200-hw-shape``: new minus repeated shape per call): :func:`new_shape_s`.
Measured on the H200 machine's host CPU (Intel Xeon under KVM, 16 vCPUs, torch 2.11, transformers 5.17); on
another machine (the papers' hosts) it is a carried-over assumption, named wherever it is used.

Other GPUs (the T4): :func:`calibration_for` transfers the H200/H100 calibration — kernel rates by
the datasheet x calibrated-efficiency rule (:func:`archsim.gpu.calibration.rates_for`), glue curves
scaled in their bandwidth part by the ratio of off-chip bandwidths (the launch-and-tail floor kept),
host figures carried over unchanged.
"""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass
from functools import lru_cache

from archsim.data import measurement, read_csv_rows
from archsim.errors import ConfigError
from archsim.gpu.devices import DeviceCalibration, device_calibration
from archsim.gpu.glue import GlueCurve, GlueModel
from archsim.gpu.host import HW_GEN_CSV, eager_wall_s
from archsim.gpu.stacks import KernelItem
from archsim.gpu.wholemodel import KernelPricer
from archsim.schemas.model import ModelSpec

HOST_CSV = HW_GEN_CSV
#: earlier calibrations, kept for comparison (``gpt2_host(..., path=)`` reads them too): the 1- and 3-layer tiny
#: GPT-2 runs and the 1..24-layer sweep of ``campaigns/host_dispatch.py`` (not interleaved, one median per depth)
HOST_CSV_TWO_POINT = "h200-bl-host-2026-12-01.csv"
HOST_CSV_SWEEP = "h200-host-generate-2026-12-01.csv"
SHAPE_CSV = "h200-hw-shape-2026-12-01.csv"
VALIDATION_CSV = "h200-bl-gpt2-2026-12-01.csv"
#: generate()'s bookkeeping kernels per token (cache_position/arange, stopping-criteria compares and
#: reductions, fills, where, cumsum, device/host copies): counted on the profiler's kernel list of the
#: GPT-2 runs (h200-bl-kernels-2026-12-01.csv: ~50 calls per token besides the model's kernels)
GENERATE_MISC_KERNELS = 48
ATTN_IMPLS = ("eager", "sdpa")
CALIBRATED = ("h200", "h100-sxm")


@dataclass(frozen=True)
class StepCost:
    """One step (a token, an image, a layer call): seconds, joules, kernels; ``bound`` host | gpu."""

    gpu_s: float
    wall_s: float
    host_s: float
    energy_j: float
    dynamic_j: float
    n_kernels: int

    @property
    def bound(self) -> str:
        return "host" if self.wall_s > 1.2 * self.gpu_s else "gpu"

    @property
    def avg_power_w(self) -> float:
        return self.energy_j / self.wall_s if self.wall_s else 0.0

    def scaled(self, n: float) -> StepCost:
        return StepCost(self.gpu_s * n, self.wall_s * n, self.host_s * n, self.energy_j * n, self.dynamic_j * n,
                        int(self.n_kernels * n))

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "bound": self.bound, "avg_power_w": self.avg_power_w}


def glue(cat: str, name: str, cls: str, read: float, write: float) -> KernelItem:
    return KernelItem(category=cat, name=name, glue=(cls, float(read), float(write)))


def gemm(name: str, m: int, n: int, k: int) -> KernelItem:
    return KernelItem(category="gemm", name=name, gemm=(m, n, k, 1))


def attention(impl: str, heads: int, seq_q: int, seq_kv: int, head_dim: int, causal: bool) -> KernelItem:
    shape = dict(impl=impl, batch=1, heads=heads, kv_heads=heads, seq_q=seq_q, seq_kv=seq_kv, head_dim=head_dim,
                 causal=causal)
    return KernelItem(category="attention", name=f"attention_{impl}", attention=shape)


def _scaled_glue(glue_model: GlueModel, ratio: float, device: str, l2_bytes: float) -> GlueModel:
    """Glue curves of another GPU: time = floor + (time - floor) x ratio (ratio = off-chip bandwidth of
    the calibrated GPU / of the target); the launch-and-tail floor is kept (an assumption)."""
    curves = {}
    for key, c in glue_model.curves.items():
        f = c.floor_s
        curves[key] = GlueCurve(cls=c.cls, mode=c.mode, points=tuple((b, f + (t - f) * ratio) for b, t in c.points))
    return GlueModel(device=device, source=f"{glue_model.source} (bandwidth part x {ratio:.2f})", l2_bytes=l2_bytes,
                     curves=curves, templates=glue_model.templates)


@lru_cache(maxsize=8)
def calibration_for(hw: str) -> DeviceCalibration:
    """The whole-model calibration of ``hw``: its own for h200 / h100-sxm, else transferred from the H200."""
    if hw in CALIBRATED:
        return device_calibration(hw)
    from archsim.gpu.calibration import rates_for
    from archsim.presets import load_hardware
    preset = load_hardware(hw)
    if getattr(preset, "family", None) != "gpu":
        raise ConfigError.single(f"{hw!r} is not a GPU preset (family {getattr(preset, 'family', '?')!r})",
                                 key_path="hw")
    ref = device_calibration("h200")
    ref_bw = load_hardware("h200").offchip.bandwidth_bytes_per_s  # type: ignore[attr-defined]
    ratio = ref_bw / preset.offchip.bandwidth_bytes_per_s  # type: ignore[attr-defined]
    l2 = preset.memory["l2"].capacity_bytes  # type: ignore[attr-defined]
    sources = {**ref.sources, "kernels": "datasheet x H100 efficiencies (archsim.gpu.calibration.rates_for)",
               "glue": f"H200 glue curves, bandwidth part x {ratio:.2f}",
               "host": f"{ref.sources['host']} (H200 machine's CPU: carried over)"}
    return DeviceCalibration(device=hw, mode="transfer", rates=rates_for(preset),
                             glue=_scaled_glue(ref.glue, ratio, hw, l2), host=ref.host, sources=sources)


class CostPricer:
    """Seconds (calibrated kernel models) and dynamic joules (board power model) of each kernel item: the energy
    path's pricer (:class:`archsim.gpu.power_validation.EnergyPricer`: GEMMs and attention by the kernel model,
    glue by its class's measured J/B), with a GPU that has no GEMM calibration running batch-1 GEMMs as weight
    streams (:func:`gemv_stream`) and a preset without a power model pricing time only (0 J)."""

    def __init__(self, cal: DeviceCalibration) -> None:
        from archsim.gpu.power_validation import EnergyPricer
        self.cal = cal
        self.power = cal.rates.power
        self.energy = EnergyPricer(cal) if self.power is not None else None
        self.times = self.energy.kernel_s if self.energy is not None else KernelPricer(cal)
        self.cache: dict[tuple, tuple[float, float]] = {}

    def __call__(self, it: KernelItem) -> tuple[float, float]:
        if self.cal.mode == "transfer" and it.gemm is not None:
            it = gemv_stream(it)
        if self.energy is not None:
            return self.energy(it)
        key = (it.glue, it.gemm, tuple(sorted(it.attention.items())) if it.attention else None)
        if key not in self.cache:
            self.cache[key] = (self.times(it), 0.0)
        return self.cache[key]


def gemv_stream(it: KernelItem) -> KernelItem:
    """A batch-1 GEMM (m <= 8) on a GPU without a calibrated GEMM model (the T4: the Hopper cuBLAS tiles of
    :func:`archsim.gpu.kernels.cublas_gemm` do not fit its SMs) as what cuBLAS runs for it, a GEMV: one
    stream over the weights at the calibrated streaming efficiency (the glue ``vec`` curve, transferred)."""
    m, n, k, groups = it.gemm or (0, 0, 0, 1)
    if m > 8 or groups != 1:
        raise ConfigError.single(f"{it.name}: GEMM {m}x{n}x{k} on a GPU without a GEMM calibration; only batch-1 "
                                 "GEMV-shaped GEMMs are modelled there", key_path="hw")
    return glue("gemm", it.name, "vec", 2.0 * (m * k + k * n), 2.0 * m * n)


def run_eager(pricer: CostPricer, segments: list[tuple[list[KernelItem], float]]) -> StepCost:
    """Cost of an eager run made of ``segments`` (kernels in launch order, host seconds to issue them),
    each ended by a host synchronisation (``.item()``, ``.tolist()``, ``nonzero``, the end of the step):
    the host issues a segment while the GPU drains it (max-plus overlap), then waits for the GPU."""
    gpu = wall = host = dyn = 0.0
    n = 0
    gap = pricer.cal.host.graph_gap_s
    for items, host_s in segments:
        costs = [pricer(it) for it in items]
        times = [t for t, _ in costs]
        gpu += sum(times)
        dyn += sum(e for _, e in costs)
        host += host_s
        wall += eager_wall_s(times, host_s, gap)
        n += len(items)
    static = pricer.power.static_w if pricer.power else 0.0
    return StepCost(gpu_s=gpu, wall_s=wall, host_s=host, energy_j=static * wall + dyn, dynamic_j=dyn, n_kernels=n)


# --- GPT-2 generation ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HostPerToken:
    """Host seconds per generated token = ``fixed_s + layers x per_layer_s`` (one attention impl)."""

    attn: str
    fixed_s: float
    per_layer_s: float
    source: str

    def host_s(self, layers: int) -> float:
        return self.fixed_s + layers * self.per_layer_s


@lru_cache(maxsize=16)
def gpt2_host(attn: str = "eager", path: str | None = None, state: str = "point") -> HostPerToken:
    """Host cost per token of HF ``generate`` for one attention implementation: from an interleaved
    ``host_width`` sweep (``role == calib`` rows; ``state`` ``point`` | ``fast`` | ``slow``, see
    :class:`archsim.gpu.host.StateLines`), or a least-squares line over the older formats (``host-generate``
    sweep rows ``part == generate``, ``bl-host`` rows), which have no states."""
    from archsim.gpu.host import fit_per_layer, generate_line
    src = path or str(measurement("h200", HOST_CSV))
    rows = read_csv_rows(src, ("layers",), "baseline host CSV")
    if rows and "role" in rows[0]:
        fixed, per_layer = generate_line(attn, state, src)
        return HostPerToken(attn=attn, fixed_s=fixed, per_layer_s=per_layer, source=f"{src} ({state} state)")
    rows = read_csv_rows(src, ("layers", "wall_s_per_token"), "baseline host CSV")
    points = []
    for i, r in enumerate(rows, start=2):
        impl = r.get("attn", r.get("attn_impl"))
        if impl != attn or r.get("ok", "1") != "1" or r.get("part", "generate") not in ("generate", "host"):
            continue
        try:
            points.append((int(r["layers"]), float(r["wall_s_per_token"])))
        except ValueError:
            raise ConfigError.single(f"{src}:{i}: malformed host row (layers, wall_s_per_token)", file=src,
                                     line=i) from None
    if len({n for n, _ in points}) < 2:
        raise ConfigError.single(f"{src}: needs tiny-GPT-2 rows of two or more layer counts for attention {attn!r}",
                                 file=src)
    fixed, per_layer = fit_per_layer(points)
    return HostPerToken(attn=attn, fixed_s=fixed, per_layer_s=per_layer, source=src)


@lru_cache(maxsize=4)
def new_shape_s(attn: str, path: str | None = None) -> float:
    """Host seconds per generated token that the first ``generate`` over new KV lengths adds: ``sdpa`` builds one
    cuDNN attention plan per new length, ``eager`` one cuBLAS heuristic per new batched-matmul shape (QK^T and AV:
    2 per token; later layers reuse them). From ``h200-hw-shape``: per call, new minus repeated shape, mean over
    12 and 25 heads (``campaigns/host_width.py``)."""
    src = path or str(measurement("h200", SHAPE_CSV))
    op, per_token = ("sdpa", 1) if attn == "sdpa" else ("matmul_qk", 2)
    cost: dict[str, dict[str, float]] = {}
    for i, r in enumerate(read_csv_rows(src, ("op", "heads", "shape", "host_us_per_call"), "host shape CSV"),
                          start=2):
        if r["op"] == op:
            try:
                cost.setdefault(r["heads"], {})[r["shape"]] = float(r["host_us_per_call"]) * 1e-6
            except ValueError:
                raise ConfigError.single(f"{src}:{i}: malformed shape row", file=src, line=i) from None
    diffs = [c["new"] - c["repeated"] for c in cost.values() if {"new", "repeated"} <= set(c)]
    if not diffs:
        raise ConfigError.single(f"{src}: no new/repeated pair for {op}", file=src)
    return per_token * max(0.0, statistics.fmean(diffs))


def gpt2_step(model: ModelSpec, ctx: int, attn: str = "eager", attn_kernel: str = "cudnn") -> list[KernelItem]:
    """Kernels of one HF GPT-2 ``generate`` step with ``ctx`` tokens cached (see module docstring)."""
    if attn not in ATTN_IMPLS:
        raise ConfigError.single(f"unknown attention implementation {attn!r}; valid: {', '.join(ATTN_IMPLS)}",
                                 key_path="attn")
    if model.norm != "layernorm" or model.ffn_kind != "gelu" or model.arch != "decoder":
        raise ConfigError.single(f"model {model.name!r} is not GPT-2-style (decoder, layernorm, gelu)",
                                 key_path="model")
    h, heads, f, v = model.hidden_size, model.num_heads, model.ffn_hidden_size, model.vocab_size or 0
    d = model.head_dim or h // heads
    qd = heads * d
    kv = heads * (ctx + 1) * d * 2  # bytes of one of K / V after this token
    s = heads * (ctx + 1)  # scores
    items = [glue("copy", "wte_gather", "gather_rows", 2 * h + 8, 2 * h),
             glue("copy", "wpe_gather", "gather_rows", 2 * h + 8, 2 * h),
             glue("elementwise", "embed_add", "add", 4 * h, 2 * h)]
    items += [glue("elementwise", "generate_misc", "vec", 64, 64)] * GENERATE_MISC_KERNELS
    if attn == "sdpa":
        att = [attention(attn_kernel, heads, 1, ctx + 1, d, causal=False)]
    else:
        att = [glue("attention", "qk_matmul", "vec", kv + 2 * qd, 2 * s),
               glue("attention", "scale", "mul", 2 * s, 2 * s), glue("attention", "mask_add", "strided", 4 * s, 2 * s),
               glue("attention", "softmax", "reduce", 2 * s, 2 * s),
               glue("attention", "av_matmul", "vec", kv + 2 * s, 2 * qd)]
    gelu = [glue("elementwise", n, c, r * f, 2 * f) for n, c, r in (
        ("gelu_pow", "pow2", 2), ("gelu_mul_c1", "mul", 2), ("gelu_add_x", "add", 4), ("gelu_mul_c2", "mul", 2),
        ("gelu_tanh", "vec", 2), ("gelu_add_one", "add", 2), ("gelu_mul_half", "mul", 2), ("gelu_mul", "mul", 4))]
    layer = [glue("norm", "ln_1", "mean_lastdim", 2 * h + 4 * h, 2 * h), gemm("c_attn", 1, 3 * qd, h),
             glue("copy", "cache_cat_k", "cat_append", kv, kv), glue("copy", "cache_cat_v", "cat_append", kv, kv),
             *att, gemm("attn_c_proj", 1, h, qd), glue("elementwise", "residual_1", "add", 4 * h, 2 * h),
             glue("norm", "ln_2", "mean_lastdim", 2 * h + 4 * h, 2 * h), gemm("c_fc", 1, f, h), *gelu,
             gemm("mlp_c_proj", 1, h, f), glue("elementwise", "residual_2", "add", 4 * h, 2 * h)]
    items += layer * model.num_layers
    items += [glue("norm", "ln_f", "mean_lastdim", 6 * h, 2 * h), gemm("lm_head", 1, v, h),
              glue("copy", "logits_fp32", "to_fp32", 2 * v, 4 * v), glue("elementwise", "argmax", "reduce", 4 * v, 8)]
    return items


def attn_kernel_for(hw: str) -> str:
    """SDPA's kernel for decode on ``hw``: cuDNN attention on Hopper (profiled on the H200); FlashAttention-2
    class elsewhere (the T4, sm75, has neither: PyTorch runs its memory-efficient kernel there — the
    flash2 model stands in for it, an assumption)."""
    return "cudnn" if hw in CALIBRATED else "flash2"


def gpt2_generate(hw: str, model: ModelSpec, tokens: int, attn: str = "eager",
                  host: HostPerToken | None = None) -> StepCost:
    """Cost of generating ``tokens`` tokens from a 1-token prompt (contexts 0..tokens-1), priced at the mean
    context (the context-dependent kernels, KV ``cat`` and attention, are linear in it)."""
    pricer = pricer_for(hw)
    host = host or gpt2_host(attn)
    step = gpt2_step(model, (tokens - 1) // 2, attn, attn_kernel_for(hw))
    return run_eager(pricer, [(step, host.host_s(model.num_layers))]).scaled(tokens)


@lru_cache(maxsize=8)
def pricer_for(hw: str) -> CostPricer:
    return CostPricer(calibration_for(hw))


def validate_gpt2(path: str | None = None) -> list[dict]:
    """Predicted vs measured HF GPT-2 ``generate`` on the H200 (validation rows; nothing is fitted to them).

    Measured wall per token: the median of the reps for ``eager``; for ``sdpa`` the faster rep (the first
    rep of each model builds a cuDNN attention plan for every new KV length: 4-7x slower; reported too, against
    the model plus :func:`new_shape_s`). Modelled at the ``point`` host line and at each host state's line.
    Energy per token (NVML over all reps) is compared for ``eager`` only; average power for both.
    GPU-busy: the profiler's kernel sum of an 8-token generate, predicted at its mean context.
    """
    from archsim.presets import load_model
    src = path or str(measurement("h200", VALIDATION_CSV))
    need = ("run_id", "model", "attn_impl", "new_tokens", "wall_s", "wall_s_min", "wall_s_max", "energy_j_per_token",
            "profiled_tokens", "kernel_sum_s_per_token", "n_kernels_per_token", "ok")
    out = []
    for r in read_csv_rows(src, need, "baseline GPT-2 CSV"):
        if r["ok"] != "1":
            continue
        model, attn, tokens = load_model(r["model"]), r["attn_impl"], int(r["new_tokens"])
        pred = gpt2_generate("h200", model, tokens, attn).scaled(1.0 / tokens)
        band = [gpt2_generate("h200", model, tokens, attn, gpt2_host(attn, state=st)).wall_s / tokens
                for st in ("fast", "slow")]
        first = pred.wall_s + new_shape_s(attn)
        prof = int(r["profiled_tokens"])
        busy = run_eager(pricer_for("h200"), [(gpt2_step(model, (prof - 1) // 2, attn), 0.0)])
        wall = float(r["wall_s_min"] if attn == "sdpa" else r["wall_s"]) / tokens
        # NVML energy spans every rep: comparable only where the reps agree (eager; sdpa's first rep builds plans)
        energy = float(r["energy_j_per_token"]) if r["energy_j_per_token"] and attn == "eager" else None
        power = float(r["avg_power_w"]) if r.get("avg_power_w") else None
        out.append({"run_id": r["run_id"], "model": r["model"], "attn": attn, "layers": model.num_layers,
                    "measured_wall_s": wall, "measured_wall_first_rep_s": float(r["wall_s_max"]) / tokens,
                    "modeled_wall_s": pred.wall_s, "wall_error": pred.wall_s / wall - 1.0,
                    "modeled_wall_fast_s": band[0], "modeled_wall_slow_s": band[1],
                    "in_state_band": band[0] <= wall <= band[1], "modeled_wall_first_rep_s": first,
                    "first_rep_error": first / (float(r["wall_s_max"]) / tokens) - 1.0,
                    "measured_gpu_s": float(r["kernel_sum_s_per_token"]), "modeled_gpu_s": busy.gpu_s,
                    "gpu_error": busy.gpu_s / float(r["kernel_sum_s_per_token"]) - 1.0,
                    "measured_kernels": float(r["n_kernels_per_token"]), "modeled_kernels": busy.n_kernels,
                    "measured_energy_j": energy, "modeled_energy_j": pred.energy_j,
                    "energy_error": (pred.energy_j / energy - 1.0) if energy else None,
                    "measured_power_w": power, "modeled_power_w": pred.avg_power_w,
                    "power_error": (pred.avg_power_w / power - 1.0) if power else None,
                    "modeled_host_s": pred.host_s, "bound": pred.bound})
    return out


def error_summary(rows: list[dict], key: str) -> dict:
    errs = [r[key] for r in rows if r.get(key) is not None]
    if not errs:
        return {"n": 0}
    return {"n": len(errs), "mape": statistics.fmean(abs(e) for e in errs), "signed": statistics.fmean(errs),
            "max": max(errs, key=abs)}
