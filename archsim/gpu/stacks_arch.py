"""Stack profiles for architectures beyond Llama: GPT-2 style decoders, Phi-3, biased projections.

:mod:`archsim.gpu.stacks` lowers Llama-style decoders (RMSNorm, rotary, gated SiLU); this module
adds what other HuggingFace decoders launch instead, read from transformers 5.17 and PyTorch 2.11
(the versions on the H200 image) and checked kernel by kernel against the profiler's kernel list of
tiny-width runs (``campaigns/blind_holdout.py --structure``), never against their times:

- **Biased linear layers** (``nn.Linear(bias=True)``: Qwen2's q/k/v, ``Conv1D`` in GPT-2).
  ``F.linear`` of a contiguous 3-D input folds to ``addmm`` (ATen ``_flatten_nd_linear``); GPT-2's
  ``Conv1D.forward`` (``pytorch_utils.py``) calls ``torch.addmm(bias, x.view(-1, nx), weight)``.
  ATen's ``addmm_out_cuda_impl`` (``aten/src/ATen/native/cuda/Blas.cpp``) sends a 1-D bias to the
  cuBLASLt bias epilogue (``gemm_and_bias``) when ``isInputCompliesAddmmCudaLt`` holds; the source read
  excludes one-row inputs (``mat1_sizes[0] > 1``), but the structure run shows the bias epilogue kernel
  (``nvjet_sm90_*_bias_*``) and no bias copy at batch-1 decode as well (tiny GPT-2 and Qwen2, PyTorch
  2.11): every biased linear is one GEMM, priced as the plain GEMM (:func:`biased_linear`).
- **GPT-2** (``models/gpt2/modeling_gpt2.py``): ``wte`` gather; ``position_ids = arange(s) +
  past_seen_tokens`` (two kernels) and the ``wpe`` gather; their add; per block ``ln_1``
  (``nn.LayerNorm``: one ``vectorized_layer_norm_kernel`` per call, PyTorch
  ``aten/src/ATen/native/cuda/layer_norm_kernel.cu``: one pass over the row, fp32 mean/rstd per row),
  ``c_attn`` (fused QKV ``Conv1D``), ``split`` + ``view`` + ``transpose`` (views, no kernel), the
  ``DynamicCache`` update (``torch.cat`` as for Llama), SDPA through
  ``integrations/sdpa_attention.py`` (cuDNN on the H200, no mask in eager; under CUDA-graph capture
  the explicit mask and its fills, as :mod:`archsim.gpu.stacks` says), ``c_proj``, residual add,
  ``ln_2``, ``c_fc``, ``gelu_new`` as ``NewGELUActivation.forward`` writes it in ``activations.py``
  (``0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * pow(x, 3))))``: mul, pow, mul, add, mul, tanh,
  add, mul = 8 elementwise kernels), ``c_proj``, residual add; ``ln_f`` over every token, then the
  LM head on the last one (``logits_to_keep``).
- **Phi-3** (``models/phi3/modeling_phi3.py`` of transformers 5.17.0, the source printed on the H200 by
  ``campaigns/blind_holdout.py --structure --structure-set 2``): one fused ``qkv_proj`` (no bias) whose
  q/k/v are strided slices; rotary tables once per step (``Phi3Model.rotary_emb``, as Llama's 8 kernels);
  ``apply_rotary_pos_emb`` splits ``q[..., :rotary_dim]`` / ``q[..., rotary_dim:]`` and ends in
  ``torch.cat([q_rot * cos + rotate_half(q_rot) * sin, q_pass], -1)``: with the full rotary dimension
  ``q_pass`` is empty, so each of q and k pays one more copy (the generic ``CatArrayBatchedCopy`` in
  prefill, the vectorised one at one token: profiler, tiny Phi-3), and K comes out contiguous while V
  stays a slice of the qkv output (the KV-cache cat: vectorised for K, generic for V at batch > 1, as the
  profiler shows). In prefill cuDNN's output takes q's (now contiguous ``(b, h, s, d)``) layout, so
  ``attn_output.reshape(...).contiguous()`` launches one strided copy per layer (profiler: one
  ``direct_copy`` per layer in prefill, none at decode; Llama's q keeps the ``(b, s, h, d)`` order and
  has none). ``Phi3MLP``: one ``gate_up_proj`` GEMM, ``chunk`` (views), ``up * silu(gate)`` on the strided
  halves (the plain model's microbenchmarked silu-mul curves); ``resid_*_dropout`` are identities in
  eval (no kernel). Structure check (2 layers, widths 384): 103 / 97 kernels measured in prefill /
  decode against 98 / 96 lowered, the same shortfall as tiny Llama (103 / 99 against 98 / 98).

Pricing: the LayerNorm kernel by its own microbenchmarked curve (glue class ``layer_norm``, fp16 rows of
1600 columns, ``h200-layernorm-glue-2026-12-01.csv``; added after the blind set showed it 2.5-5x the
vectorised-stream price it had). Assumptions (named, not hidden): the scalar/unary elementwise kernels
(``tanh``, ``pow``, multiply by a scalar) were not microbenchmarked: they are priced as the vectorised
elementwise stream (glue class ``vec``) of the bytes they read and write; fp16 models are priced as bf16
(same element size and tensor-core rate on Hopper). Only the ``hf`` stack exists for GPT-2 (no plain
or compiled GPT-2 profile).
"""

from __future__ import annotations

from archsim.gpu.stacks import (
    KernelItem,
    ModelShape,
    Step,
    _attn,
    _g,
    _gemm,
    hf_cache_and_mask,
    rmsnorm_eager,
    rotary_eager,
    silu_mul_class,
)


def biased_linear(name: str, rows: int, n: int, k: int) -> list[KernelItem]:
    """``addmm(bias, x, W)`` of ``rows`` x ``k`` by ``k`` x ``n``: one cuBLASLt GEMM with the bias epilogue
    (see module docstring), priced as the GEMM without it."""
    return [_gemm(name, rows, n, k)]


def layernorm(rows: int, hidden: int, name: str) -> KernelItem:
    """``nn.LayerNorm`` (weight and bias): one kernel reading the row once, writing it and fp32 mean/rstd; the
    ``layer_norm`` glue curve (``campaigns/layernorm_micro.py``: ~3.8 us floor, ~2.1 TB/s at 256 MiB)."""
    n = rows * hidden
    return _g("norm", name, "layer_norm", 2 * n + 4 * hidden, 2 * n + 8 * rows)


def gelu_new(elements: int) -> list[KernelItem]:
    """``NewGELUActivation``: 8 elementwise kernels on ``elements`` bf16 values, in evaluation order."""
    n = 2 * elements
    unary = ("gelu_half_x", "gelu_pow3", "gelu_scale_cube", None, "gelu_scale_inner", "gelu_tanh", "gelu_one_plus",
             None)
    out = []
    for i, name in enumerate(unary):
        if name is None:  # tensor + tensor (x + 0.044715 x^3) and tensor * tensor (0.5 x * (1 + tanh))
            out.append(_g("elementwise", "gelu_add_x" if i == 3 else "gelu_mul", "add" if i == 3 else "mul",
                          2 * n, n))
        else:
            out.append(_g("elementwise", name, "vec", n, n))
    return out


def gpt2_parts(m: ModelShape, s: Step, host: str) -> tuple[list[KernelItem], list[KernelItem], list[KernelItem]]:
    """(prologue, one block, epilogue) of one HF ``GPT2LMHeadModel`` step (``attn_implementation="sdpa"``)."""
    t, hd, f = s.tokens, m.hidden, m.ffn
    pro = [_g("copy", "wte", "gather_rows", 2 * t * hd + 8 * t, 2 * t * hd),
           _g("elementwise", "position_arange", "vec", 0, 8 * s.seq_len),
           _g("elementwise", "position_add_past", "vec", 8 * s.seq_len, 8 * s.seq_len),
           _g("copy", "wpe", "gather_rows", 2 * s.seq_len * hd + 8 * s.seq_len, 2 * s.seq_len * hd),
           _g("elementwise", "embed_add_positions", "strided", 2 * t * hd + 2 * s.seq_len * hd, 2 * t * hd)]
    if host == "cuda-graph":  # the explicit mask's indices (as for Llama under capture)
        pro += [_g("elementwise", f"mask_index_{i}", "vec", 8 * t, 8 * t) for i in range(7)]
    layer = [layernorm(t, hd, "ln_1"), *biased_linear("c_attn", t, 3 * hd, hd)]
    layer += hf_cache_and_mask(m, s, host, new_kv_contiguous=s.batch == 1)  # K/V: views of the c_attn output
    impl = "cudnn-bias" if host == "cuda-graph" else "cudnn"
    layer += [_attn(impl, m, s), *biased_linear("attn_c_proj", t, hd, hd),
              _g("elementwise", "residual_add1", "add", 4 * t * hd, 2 * t * hd), layernorm(t, hd, "ln_2"),
              *biased_linear("c_fc", t, f, hd), *gelu_new(t * f), *biased_linear("mlp_c_proj", t, hd, f),
              _g("elementwise", "residual_add2", "add", 4 * t * hd, 2 * t * hd)]
    epi = [layernorm(t, hd, "ln_f"), _gemm("lm_head", s.batch, m.vocab, hd)]
    return pro, layer, epi


def phi3_parts(m: ModelShape, s: Step, host: str) -> tuple[list[KernelItem], list[KernelItem], list[KernelItem]]:
    """(prologue, one layer, epilogue) of one HF ``Phi3ForCausalLM`` step (see module docstring, Phi-3)."""
    t, hd, d, f = s.tokens, m.hidden, m.head_dim, m.ffn
    q, kv = t * m.heads * d, t * m.kv_heads * d
    pro = [_g("copy", "embedding", "gather_rows", 2 * t * hd + 8 * t, 2 * t * hd)]
    pro += [_g("rotary", f"rotary_table_{i}", "vec", 4 * t * d, 4 * t * d) for i in range(8)]
    if host == "cuda-graph":  # the explicit mask's indices (as for Llama under capture)
        pro += [_g("elementwise", f"mask_index_{i}", "vec", 8 * t, 8 * t) for i in range(7)]
    layer = [*rmsnorm_eager(t, hd, "norm1_"), _gemm("qkv_proj", t, (m.heads + 2 * m.kv_heads) * d, hd)]
    # apply_rotary_pos_emb ends in cat([rotated, pass], -1) with an empty pass part: one more copy per tensor,
    # the generic cat in prefill (the rotated tensor keeps the (b, s, h, d) order), vectorised at one token
    pass_cls = "cat_append" if s.seq_len == 1 else "cat_transposed"
    for name, n in (("q", q), ("k", kv)):
        layer += [*rotary_eager(n, t, d, f"rotary_{name}_"),
                  _g("rotary", f"rotary_{name}_cat_pass", pass_cls, 2 * n, 2 * n)]
    # K is that cat's contiguous output; V a strided slice of the fused qkv output (contiguous at one row)
    layer += hf_cache_and_mask(m, s, host, kv_contiguous=(True, s.batch == 1))
    repeated = host == "cuda-graph" and m.heads != m.kv_heads
    impl = "cudnn-bias" if host == "cuda-graph" else "cudnn"
    layer.append(_attn(impl, m, s, kv_heads=m.heads if repeated else None))
    if s.seq_len > 1:  # cuDNN's output takes q's layout: (b, h, s, d) here, so .contiguous() copies it
        layer.append(_g("copy", "attn_out_contiguous", "transpose_contiguous", 2 * q, 2 * q))
    layer += [_gemm("o_proj", t, hd, m.heads * d), _g("elementwise", "residual_add1", "add", 4 * t * hd, 2 * t * hd),
              *rmsnorm_eager(t, hd, "norm2_"), _gemm("gate_up_proj", t, 2 * f, hd),
              # up * silu(gate) on the strided halves of gate_up's output: the plain model's silu-mul curves
              *[_g("elementwise", x, silu_mul_class(f), 3 * t * f, 2 * t * f) for x in ("silu", "mul")],
              _gemm("down_proj", t, hd, f), _g("elementwise", "residual_add2", "add", 4 * t * hd, 2 * t * hd)]
    epi = [*rmsnorm_eager(t, hd, "final_norm_"), _gemm("lm_head", s.batch, m.vocab, hd)]
    return pro, layer, epi
