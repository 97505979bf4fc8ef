"""Software-stack profiles: how a decoder model becomes GPU kernels under a given software stack.

A stack decides which kernels run, not only how fast: the same Llama layer is 37 kernels in a
hand-written eager PyTorch model, ~45 in HuggingFace transformers and ~14 under torch.compile.
Each profile below lowers one step (prefill of ``seq_len`` tokens, or one decode token with
``context`` cached tokens) to :class:`KernelItem` s — GEMMs (cuBLAS), attention (SDPA backend),
glue (:mod:`archsim.gpu.glue` classes with the bytes each kernel reads and writes).

Profiles (each read from the code it models and checked kernel by kernel against the profiler's
kernel list of one run — names, counts per layer — never against its times):

- ``plain`` (eager PyTorch, ``campaigns/wm_models.PlainLlama``): fused QKV and gate/up GEMMs;
  RMSNorm in fp32 as HF writes it (``x.to(float32)``, ``pow(2)``, ``mean(-1)``, ``+ eps``, ``rsqrt``,
  multiply, ``.to(bf16)``, ``weight *``: 8 kernels); rotary ``q*cos + rotate_half(q)*sin`` on the
  strided head views (mul, neg, cat, mul, add per tensor); static KV cache written in place (2
  strided copies); SDPA FLASH (FlashAttention-2); SiLU and mul on the two strided halves of the
  gate/up output; residual adds; final norm of the last token only; embedding gather.
- ``hf`` (transformers 5.17 ``modeling_llama.py``: ``LlamaRMSNorm.forward``, ``apply_rotary_pos_emb``
  / ``rotate_half``, ``LlamaAttention.forward`` with separate q/k/v projections, ``LlamaMLP``
  ``down(act(gate(x)) * up(x))``; ``integrations/sdpa_attention.py``: ``enable_gqa`` when no mask,
  SDPA default backend = cuDNN attention on the H200; ``cache_utils.DynamicLayer.update``:
  ``torch.cat`` of the whole cache with the new token, every layer, every step; the rotary module's
  cos/sin computed per step; ``LlamaModel.norm`` over every token before ``logits_to_keep``).
  Mixtral (``modeling_mixtral.py`` + ``integrations/moe.py`` ``grouped_mm_experts_forward``): router
  GEMM, fp32 softmax, top-k, sort by expert, gather of the selected rows, three out-of-place
  ``masked_fill`` (EP sentinel rows: on the gathered input, the gate/up output and the down output --
  the sizes of the profiler's three ``Memcpy DtoD`` per layer; ATen's out-of-place ``masked_fill`` is
  ``clone()`` then ``masked_fill_``), two
  grouped GEMMs (``torch._grouped_mm``, CUTLASS sm90) priced with the expert loads of random routing
  (:mod:`archsim.gpu.grouped`), SiLU * mul on strided halves, the routing-weight multiply (fp32: the
  router's top-k weights are not cast back), un-permute gather and sum over top-k in fp32, a cast to bf16.
  ``argsort`` of at most 4096 ids takes ATen's in-place path
  (``sortKeyValueInplace`` after copying the keys: small ``Memcpy DtoD`` s), above it CUB's radix sort
  (:func:`sort_kernels`).
  Under CUDA-graph capture (host ``cuda-graph``),
  transformers builds an explicit mask (``masking_utils._ignore_causal_mask_sdpa`` returns False when
  ``utils.import_utils.is_tracing()``, which includes ``is_cuda_stream_capturing``) for MHA and GQA
  alike (index, fill and select kernels), so SDPA gets a mask, and with GQA ``repeat_kv`` copies K and
  V to every query head each layer: attention then reads the repeated (MHA-sized) K/V.
- ``fused`` (``torch.compile`` inductor, default mode, on ``plain``): the GEMMs and FlashAttention
  stay library calls; each norm (+ residual add), the rotary embedding with its KV-cache write and
  SiLU * mul become one Triton kernel each, streaming like the vectorised elementwise template
  (an assumption: inductor's kernels were not microbenchmarked).

Other decoders (GPT-2: LayerNorm, learned positions, GELU, biases; Qwen2's biased q/k/v) lower in
:mod:`archsim.gpu.stacks_arch` (``ModelShape.family`` / ``qkv_bias``).

Not modelled (named, not hidden): the durations of the MoE path's sort kernels (their launches are
in, priced as streams: not microbenchmarked, see :func:`sort_kernels`), the profiler's GEMM memsets.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from archsim.errors import ConfigError

STACKS = ("plain", "hf", "fused")
FAMILIES = ("llama", "gpt2", "phi3")
CATEGORIES = ("gemm", "attention", "norm", "rotary", "elementwise", "copy")


@dataclass(frozen=True, kw_only=True)
class ModelShape:
    """Decoder shape (bf16). ``experts`` = 0 for dense models."""

    name: str
    hidden: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int
    layers: int
    experts: int = 0
    top_k: int = 0
    #: ``llama`` (RMSNorm, rotary, gated SiLU) or ``gpt2`` (LayerNorm, learned positions, GELU, biases:
    #: :mod:`archsim.gpu.stacks_arch`)
    family: str = "llama"
    #: biased q/k/v projections (Qwen2): :func:`archsim.gpu.stacks_arch.biased_linear`
    qkv_bias: bool = False
    #: head size when it is not ``hidden // heads`` (0: ``hidden // heads``)
    head_size: int = 0
    #: element type of weights and activations (``bf16`` | ``fp16``: priced alike, same bytes and MMA rate)
    dtype: str = "bf16"

    @property
    def head_dim(self) -> int:
        return self.head_size or self.hidden // self.heads


@dataclass(frozen=True, kw_only=True)
class Step:
    """One forward step: ``phase`` prefill (``seq_len`` new tokens) or decode (1 token, ``context`` cached)."""

    phase: str
    batch: int
    seq_len: int
    context: int = 0

    @property
    def tokens(self) -> int:
        return self.batch * self.seq_len


@dataclass(frozen=True, kw_only=True)
class KernelItem:
    """One kernel (``count`` identical launches per step). Exactly one of gemm / attention / glue is set.

    ``gemm``: (m, n, k, batch_of_gemms); ``attention``: SDPA shape and implementation;
    ``glue``: (class, bytes read, bytes written) per launch; ``grouped``: (tokens, experts, top_k, n, k)
    of one grouped-GEMM call over routed rows (:mod:`archsim.gpu.grouped`).
    """

    category: str
    name: str
    count: int = 1
    gemm: tuple[int, int, int, int] | None = None
    attention: dict | None = None
    glue: tuple[str, float, float] | None = None
    grouped: tuple[int, int, int, int, int] | None = None


#: FFN widths at which SiLU * mul on the gate/up halves was microbenchmarked -> glue class
#: ATen sort (``aten/src/ATen/native/cuda/Sort.cpp``, ``should_use_small_sort``): slices up to 4096
#: elements are sorted in place by one block after a copy of the keys; longer ones by CUB
SMALL_SORT = 4096
SILU_MUL_WIDTHS = {4096: "silu_mul_halves", 11008: "silu_mul_halves_f11008", 14336: "silu_mul_halves_f14336"}


def silu_mul_class(ffn: int) -> str:
    """The SiLU * mul-halves curve measured at the FFN width nearest (in log) to ``ffn``."""
    import math
    return SILU_MUL_WIDTHS[min(SILU_MUL_WIDTHS, key=lambda w: abs(math.log(w / ffn)))]


def _g(cat: str, name: str, cls: str, read: float, write: float, count: int = 1) -> KernelItem:
    return KernelItem(category=cat, name=name, count=count, glue=(cls, float(read), float(write)))


def _gemm(name: str, m: int, n: int, k: int, count: int = 1, groups: int = 1) -> KernelItem:
    return KernelItem(category="gemm", name=name, count=count, gemm=(m, n, k, groups))


def rmsnorm_eager(rows: int, hidden: int, tag: str) -> list[KernelItem]:
    """HF ``LlamaRMSNorm`` in eager PyTorch: 8 kernels (fp32 pieces)."""
    n = rows * hidden
    return [_g("norm", f"{tag}to_fp32", "to_fp32", 2 * n, 4 * n), _g("norm", f"{tag}pow", "pow2", 4 * n, 4 * n),
            _g("norm", f"{tag}mean", "mean_lastdim", 4 * n, 4 * rows),
            _g("norm", f"{tag}add_eps", "add_fp32", 4 * rows, 4 * rows),
            _g("norm", f"{tag}rsqrt", "rsqrt", 4 * rows, 4 * rows),
            _g("norm", f"{tag}mul_rsqrt", "mul_rowscale", 4 * n + 4 * rows, 4 * n),
            _g("norm", f"{tag}to_bf16", "to_bf16", 4 * n, 2 * n),
            _g("norm", f"{tag}mul_weight", "mul_bcast_weight", 2 * n + 2 * hidden, 2 * n)]


def rotary_eager(elements: int, tokens: int, head_dim: int, tag: str) -> list[KernelItem]:
    """``x*cos + rotate_half(x)*sin`` on a strided head view of ``elements`` bf16 values."""
    n, cs = elements, 2 * tokens * head_dim
    return [_g("rotary", f"{tag}mul_cos", "mul_transposed_bcast", 2 * n + cs, 2 * n),
            _g("rotary", f"{tag}neg", "strided", n, n),
            _g("rotary", f"{tag}cat", "cat_transposed", 2 * n, 2 * n),  # inputs keep the (b, s, h, d) order
            _g("rotary", f"{tag}mul_sin", "mul_transposed_bcast", 2 * n + cs, 2 * n),
            _g("rotary", f"{tag}add", "strided", 4 * n, 2 * n)]


def _attn(impl: str, m: ModelShape, s: Step, kv_heads: int | None = None) -> KernelItem:
    seq_q, seq_kv = (s.seq_len, s.context + s.seq_len)
    kv = m.kv_heads if kv_heads is None else kv_heads
    shape = dict(impl=impl, batch=s.batch, heads=m.heads, kv_heads=kv, seq_q=seq_q, seq_kv=seq_kv,
                 head_dim=m.head_dim, causal=s.phase == "prefill")  # fp16 priced as bf16 (ModelShape.dtype)
    return KernelItem(category="attention", name=f"attention_{impl}", attention=shape)


def _plain_layer(m: ModelShape, s: Step, fused: bool) -> list[KernelItem]:
    t, hd, d = s.tokens, m.hidden, m.head_dim
    q, kv = t * m.heads * d, t * m.kv_heads * d
    out = [] if fused else rmsnorm_eager(t, hd, "norm1_")
    if fused:
        out.append(_g("norm", "norm1_fused", "vec", 2 * t * hd, 2 * t * hd))
    out.append(_gemm("qkv_proj", t, (m.heads + 2 * m.kv_heads) * d, hd))
    if fused:
        out += [_g("rotary", "rotary_q_fused", "vec", 2 * q + 4 * t * d, 2 * q),
                _g("rotary", "rotary_k_cache_write_fused", "vec", 4 * kv + 4 * t * d, 4 * kv)]
    else:
        out += rotary_eager(q, t, d, "rotary_q_") + rotary_eager(kv, t, d, "rotary_k_")
        out += [_g("copy", f"cache_write_{x}", "transpose_contiguous", 2 * kv, 2 * kv) for x in "kv"]
    out += [_attn("flash2", m, s), _gemm("o_proj", t, hd, m.heads * d)]
    if fused:
        out.append(_g("norm", "residual_norm2_fused", "vec", 4 * t * hd, 4 * t * hd))
    else:
        out += [_g("elementwise", "residual_add1", "add", 4 * t * hd, 2 * t * hd)] + rmsnorm_eager(t, hd, "norm2_")
    f = m.ffn
    out.append(_gemm("gate_up_proj", t, 2 * f, hd))
    if fused:
        out.append(_g("elementwise", "silu_mul_fused", "vec", 4 * t * f, 2 * t * f))
    else:
        # F.silu(g) * u on the strided halves of the gate/up output: two kernels, 10 T F bytes in all
        out += [_g("elementwise", x, silu_mul_class(f), 3 * t * f, 2 * t * f) for x in ("silu", "mul")]
    out.append(_gemm("down_proj", t, hd, f))
    if not fused:
        out.append(_g("elementwise", "residual_add2", "add", 4 * t * hd, 2 * t * hd))
    return out


def sort_kernels(n: int) -> list[KernelItem]:
    """``argsort`` of ``n`` int64 ids as ATen runs it (``Sort.cpp``; kernel names from the profiler).

    Up to :data:`SMALL_SORT`: an index fill, two copies (the keys into the outputs) and one in-place
    block sort (``radixSortKVInPlace``, one CTA for the whole slice). Above: CUB's onesweep radix sort
    of 64-bit keys, 8-bit digits: a histogram, an exclusive scan, 64 / 8 = 8 onesweep passes (each
    reads and writes keys and values), the memsets of its counters (10 in the profiler) and an index
    fill. Sort kernels were not microbenchmarked: each is priced as the vectorised stream of its bytes
    (the single-CTA sort ran ~30 us per layer at 1-4k ids in the profiler, this gives ~1 us).
    """
    b = 8.0 * n
    if n <= SMALL_SORT:
        return [_g("elementwise", "sort_fill_index", "vec", 0, b),
                *[_g("copy", f"sort_copy_{i}", "clone", b, b) for i in range(2)],
                _g("elementwise", "sort_inplace", "vec", 2 * b, 2 * b)]
    return [*[_g("copy", f"sort_memset_{i}", "vec", 0, 1024) for i in range(10)],
            _g("elementwise", "sort_histogram", "vec", b, 1024), _g("elementwise", "sort_scan", "vec", 1024, 1024),
            *[_g("elementwise", f"sort_pass_{i}", "vec", 2 * b, 2 * b) for i in range(8)],
            _g("elementwise", "sort_fill_index", "vec", 0, b)]


def _moe_hf(m: ModelShape, s: Step) -> list[KernelItem]:
    """transformers' grouped_mm experts (integrations/moe.py) with the Mixtral router."""
    t, hd, f, e, k = s.tokens, m.hidden, m.ffn, m.experts, m.top_k
    sel = t * k
    ids = 8 * max(sel, e)  # int64 expert ids / indices
    tiny = [_g("elementwise", n, "vec", ids, ids) for n in (
        "router_softmax", "topk_a", "topk_b", "topk_sum", "topk_div", "perm_div", "weights_index", "histc",
        "cumsum_a", "cumsum_b", "sentinel_ge", "clamp", "inv_perm_fill", "inv_perm_put")]
    tiny += sort_kernels(sel)

    def masked(name: str, cat: str, width: int) -> list[KernelItem]:  # out of place: clone + masked_fill_
        b = 2 * sel * width
        return [_g("copy", f"{name}_clone", "clone", b, b), _g(cat, name, "masked_fill", b, b)]
    return [_gemm("router", t, e, hd), _g("copy", "router_to_fp32", "unrolled", 2 * t * e, 4 * t * e), *tiny,
            _g("copy", "gather_selected", "gather_rows", 2 * sel * hd, 2 * sel * hd),
            *masked("mask_selected", "elementwise", hd),
            KernelItem(category="gemm", name="experts_gate_up", grouped=(t, e, k, 2 * f, hd)),
            *masked("mask_gate_up", "elementwise", 2 * f),
            *[_g("elementwise", x, silu_mul_class(f), 3 * sel * f, 2 * sel * f) for x in ("silu", "mul")],
            KernelItem(category="gemm", name="experts_down", grouped=(t, e, k, hd, f)),
            *masked("mask_down", "elementwise", hd),
            # the router's top-k weights stay fp32 (softmax in fp32, no cast back): the weighted expert
            # outputs, their un-permute and the sum over top-k are fp32 until the final .to(bf16)
            _g("elementwise", "routing_weight_mul", "strided", 2 * sel * hd + 4 * sel, 4 * sel * hd),
            _g("copy", "unpermute_gather", "gather_rows", 4 * sel * hd, 4 * sel * hd),
            _g("elementwise", "topk_sum", "reduce", 4 * sel * hd, 4 * t * hd),
            _g("copy", "moe_out_to_bf16", "to_bf16", 4 * t * hd, 2 * t * hd)]


def hf_cache_and_mask(m: ModelShape, s: Step, host: str, new_kv_contiguous: bool = True,
                      kv_contiguous: tuple[bool, bool] | None = None) -> list[KernelItem]:
    """HF ``DynamicLayer.update`` (``torch.cat``) and, under CUDA-graph capture, the explicit-mask kernels and
    GQA's ``repeat_kv`` copies of one layer (shared by the Llama and GPT-2 profiles).

    ``new_kv_contiguous``: whether the new token's K/V is a contiguous tensor (Llama: the rotary output) or a
    strided view (GPT-2: a slice of the fused ``c_attn`` output, contiguous only at batch 1). ATen's ``cat``
    (``aten/src/ATen/native/cuda/Shape.cu``) takes the vectorised ``CatArrayBatchedCopy_vectorized`` only when
    every input is contiguous, else the generic ``CatArrayBatchedCopy`` over the whole output: the
    ``cat_transposed`` curve (microbenchmarked on that kernel, ~0.67 TB/s), not ``cat_append`` (~4 TB/s).
    ``kv_contiguous``: the same per tensor (K, V) at decode, when they differ (Phi-3: K is a cat's output, V a
    slice of the fused qkv output); prefill's cat into the empty cache is the generic kernel either way (profiler,
    tiny Phi-3 and Llama)."""
    kv = s.tokens * m.kv_heads * m.head_dim
    if s.phase == "prefill":  # DynamicLayer.update: cat of an empty cache with the (transposed) new K/V
        out = [_g("copy", f"cache_cat_{x}", "cat_transposed", 2 * kv, 2 * kv) for x in "kv"]
    else:  # cat of the whole cache with the new token: an O(context) copy per layer and step
        total = s.batch * m.kv_heads * (s.context + 1) * m.head_dim * 2
        flags = kv_contiguous or (new_kv_contiguous, new_kv_contiguous)
        out = [_g("copy", f"cache_cat_{x}", "cat_append" if c else "cat_transposed", total, total)
               for x, c in zip("kv", flags, strict=True)]
    if host == "cuda-graph":
        # under stream capture transformers' is_tracing() is true, so masking_utils builds an explicit
        # mask (_ignore_causal_mask_sdpa returns False) for MHA and GQA alike: two fills and a select per
        # layer (profiler: FillFunctor x 2, elementwise_kernel<128, 4>); with GQA use_gqa_in_sdpa (no mask)
        # is false too, so repeat_kv materialises K and V for every query head before SDPA
        length = s.context + s.seq_len
        small = 2 * s.batch * s.seq_len * length
        out += [_g("elementwise", f"mask_fill_{i}", "vec", small, small) for i in range(2)]
        out.append(_g("elementwise", "mask_select", "strided", small, small))
        if m.kv_heads not in (1, m.heads):  # one KV head: repeat_kv's expand + reshape is a view, no copy
            d = m.head_dim
            big_r, big_w = 2 * s.batch * m.kv_heads * length * d, 2 * s.batch * m.heads * length * d
            out += [_g("copy", f"repeat_kv_{x}", "repeat_kv", big_r, big_w) for x in "kv"]
    return out


def _hf_layer(m: ModelShape, s: Step, host: str) -> list[KernelItem]:
    t, hd, d = s.tokens, m.hidden, m.head_dim
    q, kv = t * m.heads * d, t * m.kv_heads * d
    out = rmsnorm_eager(t, hd, "norm1_")
    if m.qkv_bias:  # Qwen2: nn.Linear(bias=True) -> addmm (cuBLASLt bias epilogue, or a bias copy at one row)
        from archsim.gpu.stacks_arch import biased_linear
        out += [it for name, n in (("q_proj", m.heads * d), ("k_proj", m.kv_heads * d), ("v_proj", m.kv_heads * d))
                for it in biased_linear(name, t, n, hd)]
    else:
        out += [_gemm("q_proj", t, m.heads * d, hd), _gemm("k_proj", t, m.kv_heads * d, hd),
                _gemm("v_proj", t, m.kv_heads * d, hd)]
    out += rotary_eager(q, t, d, "rotary_q_") + rotary_eager(kv, t, d, "rotary_k_")
    out += hf_cache_and_mask(m, s, host)
    # under capture SDPA sees every query head's K/V: copies (repeat_kv) for GQA, a stride-0 view for one KV
    # head, which cuDNN reads once per head all the same (priced as MHA-sized K/V either way)
    repeated = host == "cuda-graph" and m.heads != m.kv_heads
    # the explicit mask reaches cuDNN as a bias input (archsim.gpu.kernels_masked); eager calls pass no mask
    impl = "cudnn-bias" if host == "cuda-graph" else "cudnn"
    out += [_attn(impl, m, s, kv_heads=m.heads if repeated else None), _gemm("o_proj", t, hd, m.heads * d),
            _g("elementwise", "residual_add1", "add", 4 * t * hd, 2 * t * hd)]
    out += rmsnorm_eager(t, hd, "norm2_")
    if m.experts:
        out += _moe_hf(m, s)
    else:
        f = m.ffn
        out += [_gemm("gate_proj", t, f, hd), _gemm("up_proj", t, f, hd),
                _g("elementwise", "silu", "silu", 2 * t * f, 2 * t * f),
                _g("elementwise", "mul", "mul", 4 * t * f, 2 * t * f), _gemm("down_proj", t, hd, f)]
    out.append(_g("elementwise", "residual_add2", "add", 4 * t * hd, 2 * t * hd))
    return out


def parts(model: ModelShape, step: Step, stack: str,
          host: str = "eager") -> tuple[list[KernelItem], list[KernelItem], list[KernelItem]]:
    """(prologue, one layer, epilogue) of one step of ``model`` under ``stack`` and host mode, in launch order."""
    if stack not in STACKS:
        raise ConfigError.single(f"unknown software stack {stack!r}; valid: {', '.join(STACKS)}", key_path="stack")
    if step.phase not in ("prefill", "decode"):
        raise ConfigError.single(f"unknown phase {step.phase!r}; valid: prefill, decode", key_path="phase")
    if model.family not in FAMILIES:
        raise ConfigError.single(f"unknown model family {model.family!r}; valid: {', '.join(FAMILIES)}",
                                 key_path="model")
    if (model.experts or model.family != "llama" or model.qkv_bias) and stack != "hf":
        what = ("MoE" if model.experts else "GPT-2" if model.family == "gpt2" else "Phi-3" if model.family == "phi3"
                else "biased-QKV")
        raise ConfigError.single(f"stack {stack!r} has no {what} profile; such models lower with stack 'hf'",
                                 key_path="stack")
    if model.family == "gpt2":
        from archsim.gpu.stacks_arch import gpt2_parts
        return gpt2_parts(model, step, host)
    if model.family == "phi3":
        from archsim.gpu.stacks_arch import phi3_parts
        return phi3_parts(model, step, host)
    t, hd, d = step.tokens, model.hidden, model.head_dim
    pro = [_g("copy", "embedding", "gather_rows", 2 * t * hd + 8 * t, 2 * t * hd)]
    if stack == "hf":  # LlamaRotaryEmbedding.forward: fp32 bmm, cat, cos, sin, scale x2, casts x2
        pro += [_g("rotary", f"rotary_table_{i}", "vec", 4 * t * d, 4 * t * d) for i in range(8)]
        if host == "cuda-graph":  # the explicit mask's indices (profiler: arange x 4, add x 2, a compare)
            pro += [_g("elementwise", f"mask_index_{i}", "vec", 8 * t, 8 * t) for i in range(7)]
    else:
        pro += [_g("rotary", f"rotary_index_{x}", "vec", 2 * t * d, 2 * t * d) for x in ("cos", "sin")]
    layer = _hf_layer(model, step, host) if stack == "hf" else _plain_layer(model, step, fused=stack == "fused")
    rows = t if stack == "hf" else step.batch  # HF normalises every token before logits_to_keep
    epi = ([_g("norm", "final_norm_fused", "vec", 2 * rows * hd, 2 * rows * hd)] if stack == "fused"
           else rmsnorm_eager(rows, hd, "final_norm_"))
    epi.append(_gemm("lm_head", step.batch, model.vocab, hd))
    return pro, layer, epi


def lower(model: ModelShape, step: Step, stack: str, host: str = "eager") -> list[KernelItem]:
    """The kernels of one step (layer kernels with ``count`` x layers), in launch order."""
    pro, layer, epi = parts(model, step, stack, host)
    return pro + [dataclasses.replace(it, count=it.count * model.layers) for it in layer] + epi


def sequence(model: ModelShape, step: Step, stack: str, host: str = "eager") -> list[KernelItem]:
    """Every launch of one step in order (for the host/GPU overlap of :mod:`archsim.gpu.host`)."""
    pro, layer, epi = parts(model, step, stack, host)
    one = [it for it in layer for _ in range(it.count)]
    return pro + one * model.layers + epi
