"""Glue kernels on a GPU: PyTorch's elementwise, reduction, cast, cat and copy kernels.

The kernels a model launches between its GEMMs and attention (RMSNorm in fp32 pieces, rotary
embedding, SiLU * mul, residual adds, KV-cache writes, transposes) are memory-bound streams whose
achieved bandwidth depends on the kernel template PyTorch picks and on the size:

- ``vec``: ``vectorized_elementwise_kernel`` (contiguous, 16-byte accesses): ~4.4 TB/s at 1 GiB;
- ``silu``: the vectorised template computing SiLU (an exp per element: slightly slower);
- ``unrolled``: ``unrolled_elementwise_kernel`` (dtype-changing copy such as bf16 -> fp32): ~2.1 TB/s;
- ``strided``: ``elementwise_kernel<128, 4>`` (non-contiguous views, broadcast operands): ~1.6 TB/s;
- ``strided2``: ``elementwise_kernel<128, 2>`` (fp32 row-broadcast multiply): ~2.7 TB/s;
- ``reduce``: ``reduce_kernel`` over the last dimension (mean over the hidden size);
- ``cat``: ``CatArrayBatchedCopy`` (cat of two halves: rotate_half, KV-cache growth);
- ``memcpy``: a device-to-device copy engine copy (``clone`` of a contiguous tensor).

Model: the time of a kernel of class ``c`` that reads and writes ``B`` bytes (each input read once,
each output written once) is the calibration curve of ``c`` at ``B``: piecewise-linear in
log(bytes)-log(time) between measured sizes (4 KiB .. 1 GiB of input), constant below the
smallest (the launch-and-tail floor, ~0.9 us with a warm L2) and at the largest size's bandwidth
above it. Two curves per class: ``warm`` (inputs L2-resident, as between kernels of one layer)
and ``cold`` (L2 flushed); a kernel reads warm when its input bytes fit in half the L2.

Calibration: microbenchmarks only (``campaigns/wm_micro.py``: profiler kernel durations, median of
10 warm / 5 cold calls per size); whole-model runs are never read here. On a GPU without glue
microbenchmarks the H200's curves are moved by the ratio of measured copy bandwidths (time above
the floor scaled, floors kept: :meth:`GlueModel.moved`). Ignored: L2 hits of
inputs larger than half the L2, partial waves beyond what the curves hold, concurrent kernels.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from archsim.data import read_csv_rows
from archsim.errors import ConfigError

#: kernel-name fragment -> glue class (first match wins; order matters). The vectorised cat
#: (``CatArrayBatchedCopy_vectorized``, e.g. HF's KV-cache growth) is not in the microbenchmarks:
#: it is taken as the ``vec`` class (16-byte streams, like the vectorised elementwise template).
TEMPLATES = (("vectorized_elementwise_kernel", "vec"), ("CatArrayBatchedCopy_vectorized", "vec"),
             ("unrolled_elementwise_kernel", "unrolled"), ("elementwise_kernel<128, 2", "strided2"),
             ("elementwise_kernel<128, 4", "strided"), ("reduce_kernel", "reduce"),
             ("CatArrayBatchedCopy", "cat"), ("Memcpy", "memcpy"))
#: Every microbenchmarked operation is also a class of its own (the lowering names the operation
#: that launches the same PyTorch code path; the template pools serve kernels without one):
#: RMSNorm pieces (``to_fp32``, ``pow2``, ``mean_lastdim``, ``add_fp32``, ``rsqrt``, ``mul_rowscale``,
#: ``to_bf16``, ``mul_bcast_weight``), ``add``, ``mul``, ``silu``, ``silu_mul_halves`` (two kernels on
#: the strided halves of a gate/up output), ``neg``, ``cat_halves``, ``clone``, ``transpose_contiguous``,
#: and the second run's DynamicCache cat of a transposed K/V view (~0.67 TB/s) and of cache + one
#: token (~4 TB/s), repeat_kv's expand-reshape copy (~1.1 TB/s), ``masked_fill``, ``gather_rows`` and
#: the rotary multiply on a transposed head view with a broadcast cos/sin (``mul_transposed_bcast``);
#: the third run's SiLU * mul halves at 11008 and 14336 columns per half (the models' FFN widths); and
#: ``nn.LayerNorm``'s ``vectorized_layer_norm_kernel`` (fp16, 1600 columns: ``campaigns/layernorm_micro.py``).
OPS = ("to_fp32", "pow2", "mean_lastdim", "add_fp32", "rsqrt", "mul_rowscale", "to_bf16", "mul_bcast_weight",
       "add", "mul", "silu", "silu_mul_halves", "neg", "cat_halves", "clone", "transpose_contiguous",
       "cat_transposed", "cat_append", "repeat_kv", "masked_fill", "gather_rows", "mul_transposed_bcast",
       "silu_mul_halves_f11008", "silu_mul_halves_f14336", "layer_norm")
CLASSES = ("vec", "silu", "unrolled", "strided", "strided2", "reduce", "cat", "memcpy", *OPS)
REQUIRED = ("op", "mode", "size_bytes", "bytes_read", "bytes_written", "kernel", "kernels_per_call", "gpu_us")
#: repeat_kv's microbenchmark (``campaigns/wm_micro.py`` ``glue_cases_extra``) copies a (1, 8, s, 128)
#: cache to 4 x the heads: each head's s x 128 source block is read again by each of its 4 copies.
#: In a model the block is one sequence's K or V of one head (0.5-4 MiB to 16k tokens) and stays in
#: L2 across its copies; the microbenchmark's largest sizes (33-134 MiB blocks) do not, and measure
#: the re-reads (1.0 TB/s instead of 1.16). Points whose reuse window (block x (1 + copies)) exceeds
#: the L2 are left out of the ``repeat_kv`` curve, which then extrapolates at the last kept bandwidth.
REPEAT_KV_MICRO_HEADS = 8


def template_of(kernel: str) -> str | None:
    """The glue class of a PyTorch kernel name, or None: its kernel template, SiLU's vectorised kernel apart."""
    cls = _raw_template(kernel)
    return "silu" if cls == "vec" and "silu_kernel" in kernel else cls


def _raw_template(kernel: str) -> str | None:
    """The kernel template of a PyTorch kernel name (:data:`TEMPLATES`, SiLU's vectorised kernel kept ``vec``)."""
    return next((cls for frag, cls in TEMPLATES if frag in kernel), None)


@dataclass(frozen=True)
class GlueCurve:
    """Measured (bytes moved, seconds) points of one class and L2 state, ascending in bytes."""

    cls: str
    mode: str
    points: tuple[tuple[float, float], ...]

    def time_s(self, moved: float) -> float:
        pts = self.points
        if moved <= pts[0][0]:
            return pts[0][1]
        if moved >= pts[-1][0]:
            return pts[-1][1] * moved / pts[-1][0]
        for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False):
            if x0 <= moved <= x1:
                f = (math.log(moved) - math.log(x0)) / (math.log(x1) - math.log(x0))
                return math.exp(math.log(y0) + f * (math.log(y1) - math.log(y0)))
        raise AssertionError("unreachable: points are sorted")

    @property
    def floor_s(self) -> float:
        return self.points[0][1]

    def bandwidth(self, moved: float) -> float:
        """Achieved bytes/s at ``moved`` bytes (launch and tail included)."""
        return moved / self.time_s(moved)

    def moved(self, ratio: float) -> GlueCurve:
        """The curve on a GPU whose copy bandwidth is 1 / ``ratio`` of this one's: the floor (the
        smallest size's time: launch, first-byte latency) kept, the time above it scaled by ``ratio``."""
        floor = self.floor_s
        return GlueCurve(cls=self.cls, mode=self.mode,
                         points=tuple((x, floor + (y - floor) * ratio) for x, y in self.points))


@dataclass(frozen=True)
class GlueModel:
    """Calibrated glue-kernel times for one GPU; ``source`` names the microbenchmark file."""

    device: str
    source: str
    l2_bytes: float
    curves: dict[tuple[str, str], GlueCurve]
    #: operation class -> the kernel template its microbenchmark launched (most rows; the raw template, SiLU's
    #: vectorised kernel is ``vec``): what an operation's energy per byte is taken from when only templates were
    #: measured by the meter (:meth:`archsim.gpu.power_validation.EnergyPricer.glue_j`)
    templates: dict[str, str] = field(default_factory=dict)

    def moved(self, device: str, l2_bytes: float, ref_bw: float, bw: float) -> GlueModel:
        """These curves moved to ``device`` (copy bandwidth ``bw``) from the GPU measured (``ref_bw``):
        streaming time scales with ``ref_bw / bw``, floors stay (no glue microbenchmark on ``device``)."""
        if bw <= 0 or ref_bw <= 0:
            raise ConfigError.single("copy bandwidths must be positive to move the glue curves")
        ratio = ref_bw / bw
        return GlueModel(device=device, source=f"{self.source} (moved: copy bandwidth {ref_bw / 1e12:.2f} -> "
                         f"{bw / 1e12:.2f} TB/s)", l2_bytes=l2_bytes,
                         curves={k: c.moved(ratio) for k, c in self.curves.items()}, templates=self.templates)

    def time_s(self, cls: str, bytes_read: float, bytes_written: float) -> float:
        if cls not in CLASSES:
            raise ConfigError.single(f"unknown glue kernel class {cls!r}; valid: {', '.join(CLASSES)}")
        mode = "warm" if bytes_read <= 0.5 * self.l2_bytes else "cold"
        return self.curves[(cls, mode)].time_s(bytes_read + bytes_written)


def _points(rows: list[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """Median time per distinct byte count, then a running max so the curve never falls with size."""
    by: dict[float, list[float]] = {}
    for moved, t in rows:
        by.setdefault(moved, []).append(t)
    pts, best = [], 0.0
    for moved in sorted(by):
        best = max(best, statistics.median(by[moved]))
        pts.append((moved, best))
    return tuple(pts)


def _reuse_exceeds_l2(r: dict[str, str], l2_bytes: float) -> bool:
    """Whether a ``repeat_kv`` microbenchmark row re-reads its source from DRAM (see REPEAT_KV_MICRO_HEADS)."""
    if r["op"] != "repeat_kv":
        return False
    read, written = float(r["bytes_read"]), float(r["bytes_written"])
    block = read / REPEAT_KV_MICRO_HEADS
    return block * (1.0 + written / max(read, 1.0)) > l2_bytes


def load_glue(paths: str | Path | tuple[str | Path, ...], device: str, l2_bytes: float) -> GlueModel:
    """Build a :class:`GlueModel` from ``wm-glue`` microbenchmark CSVs (see module docstring).

    Each row is one kernel of one microbenchmark call; a call launching several kernels (SiLU *
    mul on halves) contributes each kernel separately, bytes split evenly between them. Each row
    joins its operation's class (:data:`OPS`) and its kernel template's pool.
    """
    files = (paths,) if isinstance(paths, (str, Path)) else tuple(paths)
    samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
    launched: dict[str, Counter] = {}
    for path in files:
        _read_glue(Path(path), samples, l2_bytes, launched)
    curves = {key: GlueCurve(cls=key[0], mode=key[1], points=_points(v)) for key, v in samples.items()}
    absent = [f"{c}/{m}" for c in CLASSES for m in ("warm", "cold") if (c, m) not in curves]
    if absent:
        raise ConfigError.single(f"{', '.join(map(str, files))}: no glue measurements for {', '.join(absent)}")
    return GlueModel(device=device, source=" + ".join(map(str, files)), l2_bytes=l2_bytes, curves=curves,
                     templates={op: c.most_common(1)[0][0] for op, c in sorted(launched.items())})


def _read_glue(path: Path, samples: dict[tuple[str, str], list[tuple[float, float]]], l2_bytes: float,
               launched: dict[str, Counter]) -> None:
    rows = read_csv_rows(path, REQUIRED, "glue microbenchmark CSV")
    for i, r in enumerate(rows, start=2):
        op = "add_fp32" if (r["op"], r.get("dtype")) == ("add", "fp32") else r["op"]
        classes = [c for c in (template_of(r["kernel"]), op if op in OPS else None) if c is not None]
        if not classes:
            continue
        try:
            if _reuse_exceeds_l2(r, l2_bytes):
                classes = [c for c in classes if c != "repeat_kv"]
            per_call = float(r["kernels_per_call"])
            moved = (float(r["bytes_read"]) + float(r["bytes_written"])) / max(1.0, round(per_call))
            t = float(r["gpu_us"]) * 1e-6
        except ValueError:
            raise ConfigError.single(f"{path}:{i}: non-numeric value in a glue row", file=str(path),
                                     line=i) from None
        for cls in classes:
            samples.setdefault((cls, r["mode"]), []).append((moved, t))
        raw = _raw_template(r["kernel"])
        if op in OPS and raw is not None:
            launched.setdefault(op, Counter())[raw] += 1
