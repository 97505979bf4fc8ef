"""Iteration cost of a server that runs decode and prefill as separate launches on one GPU stream, with the
host's dispatch overlapped with the GPU queue: what ``campaigns/serving.py`` does.

One iteration of that server (seconds from the top of its loop):

1. host: the positions' host-to-device copy (one eager copy launch), then ``cudaGraphLaunch`` of the decode
   graph of the smallest batch bucket >= the running count (:meth:`HostModel.graph_host_s` of its nodes);
   GPU: the graph's kernels back to back from the launch on, with the per-node gap;
2. prefill of at most one whole prompt, after the decode on the same stream:
   - ``eager``: the host issues its kernels one by one (host time :meth:`HostModel.eager_host_s`, spread
     evenly over them, as :func:`archsim.gpu.host.eager_wall_s` does); kernel ``i`` starts at
     ``max(issue_i, end_{i-1} + gap)`` with the decode graph's end as ``end_{-1}``: the host launching the
     prefill overlaps the GPU running the decode (max-plus, one stretch per launch);
   - ``cuda-graph``: two eager copies (slot index, prompt ids) and one graph launch, then the nodes;
3. one synchronize: the iteration ends at ``max(host, GPU)``; every token of it is emitted then;
4. after the sync, if requests finished, slot compaction: ``2 x layers + 1`` eager copy launches (host time
   per launch from the host model) before the next iteration's top. This host time is charged to the NEXT
   iteration (its tokens are not emitted later by it), so the cost object carries it: use :meth:`fresh`
   for each simulation.

Kernel times: :func:`archsim.gpu.stacks.sequence` of the ``plain`` stack (the server's model is
``wm_models.PlainLlama``'s code) priced by :class:`archsim.gpu.wholemodel.KernelPricer` on the device's
calibration (microbenchmarks only). Decode runs at the BUCKET's batch (pad rows compute too) and attends over
the whole slot (``kv_max_len`` positions: a boolean length mask, no early exit), priced as PyTorch's default
backend for a masked SDPA (:attr:`ServerSpec.decode_attention`: cuDNN with a bias input, after PyTorch's three
bool-to-bias kernels, :mod:`archsim.gpu.kernels_masked`); the prefill's explicit FLASH as
FlashAttention-2. Host constants: a :class:`HostModel` (default:
the device calibration's; :func:`archsim.gpu.host.load_host` on a serving run's own ``-host.csv`` for the
host of that machine). Not modelled: Python bookkeeping between iterations (the per-request token lists, the
CSV row: tens of microseconds), CUDA-event records, host jitter, and the server's small kernels that the
``plain`` profile lacks (the decode's length-mask build, argmax and token copy; about 11 per decode step).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from archsim.errors import ConfigError
from archsim.gpu.host import KIND_OF_CATEGORY, HostModel
from archsim.gpu.kernels_masked import bool_mask_to_bias_glue
from archsim.gpu.stacks import KernelItem, ModelShape, Step, sequence
from archsim.serving.schedulers import Iteration

HOSTS = ("eager", "cuda-graph")

#: the decode step's small kernels measured one op at a time at batch 1..64 (campaigns/decode_micro.py ``glue`` and
#: ``engine_glue``, profiler medians; inputs L2-warm as between the step's kernels, the embedding table cold as in
#: the graph): what the serving engine runs where the ``plain`` profile's generic glue pricing misses the kernel
#: PyTorch picks (the small-index embedding loop: one dependent table-row read per index at <= 16 rows; the one-CTA
#: mean reduction at <= 16 rows; the index_put cache write; the RoPE table gather) or has no kernel (argmax,
#: length mask). The rest of the layer's glue is priced from its own microbenchmark too (engine_glue: RMSNorm
#: pieces, RoPE on the strided head views, residual add, SiLU/mul on the gate/up halves): mostly within 0.3 us of
#: the generic pricing, but the RoPE add runs vectorised (0.9-1.1 us, generic 2.0-2.6).
DECODE_GLUE = ("h200-decode-micro-glue-2026-12-01.csv", "h200-decode-micro-engine-glue-2026-12-01.csv")
_NORM = ("to_fp32", "pow", "add_eps", "rsqrt", "mul_rsqrt", "to_bf16", "mul_weight")
_ROTARY = ("mul_cos", "neg", "cat", "mul_sin", "add")


def measured_op(name: str) -> str | None:
    """The :data:`DECODE_GLUE` op (``op`` or ``op#kernel``) that prices the ``plain`` profile's kernel ``name``;
    None for GEMMs, attention and the kernels the microbenchmark does not cover (the bool-to-bias conversion)."""
    fixed = {"embedding": "embedding_cold", "rotary_index_cos": "rope_gather", "rotary_index_sin": "rope_gather",
             "cache_write_k": "cache_write", "cache_write_v": "cache_write", "residual_add1": "residual_add",
             "residual_add2": "residual_add", "silu": "silu", "mul": "mul"}
    if name in fixed:
        return fixed[name]
    for tag in ("norm1_", "norm2_", "final_norm_"):
        if name.startswith(tag):
            rest = name[len(tag):]
            return "rms_mean#1" if rest == "mean" else (f"norm_{rest}" if rest in _NORM else None)
    if name.startswith(("rotary_q_", "rotary_k_")) and name[9:] in _ROTARY:
        return f"rotary_{name[9:]}"
    return None


def _glue_table() -> dict[str, list[tuple[int, float]]]:
    """``{op or op#kernel: [(batch, seconds per call)]}`` from :data:`DECODE_GLUE`."""
    import csv

    from archsim.data import measurement

    acc: dict[tuple[str, int], float] = {}
    per: dict[tuple[str, int, int], float] = {}
    for name in DECODE_GLUE:
        with open(measurement("h200", name), newline="") as fh:
            for r in csv.DictReader(fh):
                b, t = int(r["batch"]), float(r["median_us"]) * 1e-6
                acc[(r["op"], b)] = acc.get((r["op"], b), 0.0) + t
                per[(r["op"], int(r["kernel_idx"]), b)] = t
    out: dict[str, list[tuple[int, float]]] = {}
    for (op, b), t in sorted(acc.items()):
        out.setdefault(op, []).append((b, t))
    for (op, i, b), t in sorted(per.items()):
        out.setdefault(f"{op}#{i}", []).append((b, t))
    return out


def glue_s(table: dict[str, list[tuple[int, float]]], key: str, batch: int) -> float:
    """Seconds of one measured decode glue op at ``batch`` (linear between measured batches, clamped)."""
    pts = table[key]
    if batch <= pts[0][0]:
        return pts[0][1]
    for (b0, t0), (b1, t1) in zip(pts, pts[1:], strict=False):
        if batch <= b1:
            return t0 + (t1 - t0) * (batch - b0) / (b1 - b0)
    return pts[-1][1]


@dataclass(frozen=True, kw_only=True)
class ServerSpec:
    """The server's launch structure. ``buckets``: decode-graph batch sizes; ``kv_max_len``: slot length
    (tokens) every decode row attends over; ``prefill_host``: ``eager`` or ``cuda-graph``; ``decode_attention``: the
    kernel-model implementation of the decode's masked SDPA (``cudnn-bias``: cuDNN with a bias input, PyTorch's
    default backend for a masked SDPA on the H200, after the bool-to-bias conversion kernels;
    :mod:`archsim.gpu.kernels_masked`)."""

    buckets: tuple[int, ...] = (1, 2, 4, 8, 16, 24, 32, 40, 48, 56, 64)
    kv_max_len: int = 320
    prefill_host: str = "eager"
    decode_attention: str = "cudnn-bias"
    compaction: bool = True
    #: price the engine's decode glue ops from the decode microbenchmark (:data:`DECODE_GLUE`) and add its own
    #: kernels (length mask, argmax, token copy); False: the ``plain`` profile's generic glue only
    measured_glue: bool = True

    def bucket(self, n: int) -> int:
        for b in self.buckets:
            if b >= n:
                return b
        raise ConfigError.single(f"decode batch {n} exceeds the largest graph bucket {self.buckets[-1]}",
                                 key_path="max_seqs")


@dataclass
class IterationTime:
    """One iteration: ``span_s`` loop top to the sync's return; ``host_s`` / ``gpu_s`` busy times; ``carry_s``
    host time after the sync (compaction) that delays the next iteration."""

    span_s: float
    decode_end_s: float
    host_s: float
    gpu_s: float
    carry_s: float


@dataclass
class _Shared:
    decode: dict[int, list[float]] = field(default_factory=dict)
    breakdown: dict[int, list[tuple[str, str, float]]] = field(default_factory=dict)
    prefill: dict[int, list[float]] = field(default_factory=dict)
    glue: dict[str, list[tuple[int, float]]] = field(default_factory=_glue_table)


class ServerCost:
    """Seconds per :class:`Iteration` of a ``shape`` decoder on a calibrated GPU under ``spec``."""

    def __init__(self, shape: ModelShape, spec: ServerSpec | None = None, *, device: str = "h200",
                 host: HostModel | None = None, step_gpu_s: dict[str, float] | None = None,
                 _shared: _Shared | None = None) -> None:
        from archsim.gpu.devices import device_calibration
        from archsim.gpu.wholemodel import KernelPricer

        self.shape = shape
        self.spec = spec or ServerSpec()
        if self.spec.prefill_host not in HOSTS:
            raise ConfigError.single(f"unknown prefill host mode {self.spec.prefill_host!r}; valid: "
                                     f"{', '.join(HOSTS)}", key_path="prefill_host")
        self.cal = device_calibration(device)
        self.host = host or self.cal.host
        self.device = device
        self._pricer = KernelPricer(self.cal)
        self._shared = _shared or _Shared()
        self._copy_host_s = self.host.per_kernel[KIND_OF_CATEGORY["copy"]]
        self._carry_s = 0.0
        #: GPU seconds of whole steps timed in isolation (``decode<bucket>``, ``prefill_graph``) that replace
        #: the kernel model's sums (a calibration by step microbenchmarks; None: the kernel model)
        self.step_gpu_s = step_gpu_s

    def fresh(self) -> ServerCost:
        """A cost object with no carried host time, sharing this one's priced kernels (one per simulation)."""
        return ServerCost(self.shape, self.spec, device=self.device, host=self.host, step_gpu_s=self.step_gpu_s,
                          _shared=self._shared)

    def _step_gpu(self, key: str, times: list[float]) -> float:
        """GPU seconds of a graph-replayed step: its isolated timing if given, else kernels + per-node gaps."""
        if self.step_gpu_s is not None and key in self.step_gpu_s:
            return self.step_gpu_s[key]
        return sum(times) + self.host.graph_gap_s * len(times)

    # -- kernel times ---------------------------------------------------------------------------
    def decode_kernels(self, bucket: int) -> list[float]:
        """GPU seconds of each kernel of the bucket's decode graph (:meth:`decode_breakdown`)."""
        if bucket not in self._shared.decode:
            self._shared.decode[bucket] = [t for _, _, t in self.decode_breakdown(bucket)]
        return self._shared.decode[bucket]

    def decode_breakdown(self, bucket: int) -> list[tuple[str, str, float]]:
        """``(name, class, seconds)`` of each kernel of the bucket's decode graph, class ``gemm`` / ``attention`` /
        ``glue``: the ``plain`` profile priced by the kernel model, the masked SDPA's bool-to-bias kernels and
        the engine's own kernels (length mask, argmax, token copy); every glue kernel :func:`measured_op` names
        priced from :data:`DECODE_GLUE` when ``spec.measured_glue``."""
        if bucket not in self._shared.breakdown:
            step = Step(phase="decode", batch=bucket, seq_len=1, context=self.spec.kv_max_len - 1)
            impl, tab, measured = self.spec.decode_attention, self._shared.glue, self.spec.measured_glue
            out: list[tuple[str, str, float]] = []
            for k in sequence(self.shape, step, "plain", "cuda-graph"):
                if k.attention and impl == "cudnn-bias":  # a boolean mask: PyTorch converts it to a bias first
                    out += [(n, "glue", self._pricer(KernelItem(category="elementwise", name=n, glue=(c, r, w))))
                            for n, c, r, w in bool_mask_to_bias_glue(bucket, 1, self.spec.kv_max_len)]
                if k.attention:
                    out.append((k.name, "attention", self._pricer(replace(k, attention={**k.attention, "impl": impl}))))
                elif measured and measured_op(k.name) is not None:
                    out.append((k.name, "glue", glue_s(tab, measured_op(k.name), bucket)))
                else:
                    out.append((k.name, "gemm" if k.gemm else "glue", self._pricer(k)))
                if k.name == "rotary_index_sin" and measured:  # the engine's length mask, once per step
                    out.append(("length_mask", "glue", glue_s(tab, "length_mask", bucket)))
            if measured:  # argmax over the vocabulary, then the token copy into ids (8 B per row)
                out.append(("argmax", "glue", glue_s(tab, "argmax", bucket)))
                out.append(("token_copy", "glue", self._pricer(KernelItem(category="copy", name="token_copy",
                                                                          glue=("vec", 8.0 * bucket, 8.0 * bucket)))))
            self._shared.breakdown[bucket] = out
        return self._shared.breakdown[bucket]

    def prefill_kernels(self, tokens: int) -> list[float]:
        if tokens not in self._shared.prefill:
            step = Step(phase="prefill", batch=1, seq_len=tokens)
            self._shared.prefill[tokens] = [self._pricer(k) for k in
                                            sequence(self.shape, step, "plain", self.spec.prefill_host)]
        return self._shared.prefill[tokens]

    # -- one iteration --------------------------------------------------------------------------
    def timeline(self, decode_batch: int, prefill_tokens: int, finished: int = 0) -> IterationTime:
        """Host/GPU max-plus of one iteration with ``decode_batch`` running requests and a prefill of
        ``prefill_tokens`` (0: none); ``finished`` requests leave after it (compaction)."""
        hm, gap = self.host, self.host.graph_gap_s
        h = g = 0.0
        gpu = 0.0
        if decode_batch:
            bucket = self.spec.bucket(decode_batch)
            times = self.decode_kernels(bucket)
            h += self._copy_host_s + hm.graph_host_s(len(times))
            step = self._step_gpu(f"decode{bucket}", times)
            g = h + step
            gpu += step
        decode_end = g
        if prefill_tokens:
            times = self.prefill_kernels(prefill_tokens)
            if self.spec.prefill_host == "eager":
                gpu += sum(times)
                seq = sequence(self.shape, Step(phase="prefill", batch=1, seq_len=prefill_tokens), "plain", "eager")
                host = hm.eager_host_s("plain", "prefill", self.shape.layers, [k.category for k in seq])
                per = host / len(times)
                for i, t in enumerate(times):
                    g = max(h + (i + 1) * per, g + (gap if (i or decode_batch) else 0.0)) + t
                h += host
            else:
                h += 2 * self._copy_host_s + hm.graph_host_s(len(times))
                step = self._step_gpu("prefill_graph", times)
                g = max(h, g) + step
                gpu += step
        carry = (2 * self.shape.layers + 1) * self._copy_host_s if (finished and self.spec.compaction) else 0.0
        return IterationTime(span_s=max(h, g), decode_end_s=decode_end, host_s=h, gpu_s=gpu, carry_s=carry)

    def __call__(self, it: Iteration) -> float:
        if len(it.prefill) > 1:
            raise ConfigError.single("this server prefills at most one prompt per iteration (max_prefills 1)",
                                     key_path="max_prefills")
        finished = sum(1 for r in it.decode if r.generated + 1 >= r.output_tokens)
        t = self.timeline(it.decode_batch, it.prefill_tokens, finished)
        seconds = self._carry_s + t.span_s
        self._carry_s = t.carry_s
        return seconds


def shape_of(model: Any, layers: int | None = None) -> ModelShape:
    """The stack profiles' shape of a model preset, with ``layers`` of its layers (the server's)."""
    from archsim.gpu.stack_run import shape_from_model

    shape = shape_from_model(model)
    if layers is not None:
        shape = replace(shape, layers=layers)
    return shape
