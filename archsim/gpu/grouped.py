"""Grouped-GEMM experts: transformers' ``grouped_mm`` path (``torch.nn.functional.grouped_mm``, a CUTLASS
sm90 grouped kernel plus a small ``prepare_grouped_gemm_data`` kernel) with the expert loads that
top-k routing produces.

What the code does (read, then checked against the profiler's kernel names):

- PyTorch ``aten/src/ATen/native/cuda/GroupMM.cu``, ``dispatch_bf16_grouped_kernel_on_tile_size``: the
  tile is chosen once per call from the *mean* rows per group, ``M = rows / groups`` (transformers
  passes every expert's weights, so ``groups`` = experts, empty ones included): ``M <= 128 or N <= 128``
  -> 64 x 128 x 128 tiles, ping-pong schedule; otherwise 128 x 256 x 64, cooperative; cluster 2 x 1 x 1
  in both.
- CUTLASS ``gemm/kernel/sm90_tile_scheduler_group.hpp``, ``PersistentTileSchedulerSm90Group::
  get_tiled_cta_shape_mnl``: each group's M tiles are rounded up to the cluster (``round_up(ctas_along_m,
  cluster_m)``), and the persistent CTAs walk every tile of every group. So the unit of work is a
  *cluster row* of one expert (2 M tiles x all N tiles: one pass over the expert's weights), the
  padded tile of a half-filled row costs like a full one (TMA zero-fills, the MMAs still run), an
  expert with ``r`` rows costs ``ceil(r / (2 x tile_m))`` cluster rows, an expert with none costs nothing.

Model: seconds of one grouped call = sum over experts of (cluster rows x the cost of one row); a
row costs ``weights / B + CTAs x tau``: the expert's weight bytes (``n x k x 2``) streamed at the
row's bandwidth ``B`` plus a per-CTA-tile overhead ``tau`` (tile setup, pipeline fill, epilogue) for
its ``2 x ceil(n / tile_n)`` CTA tiles. ``B`` and ``tau`` per tile config and row fill (rows in it) are
fitted by least squares on uniform-load microbenchmarks of Mixtral's two expert shapes
(``h200-wm-grouped-2026-12-01.csv``: 1 .. 2048 rows per expert; the shapes differ 7x in tiles per
byte, which separates the two terms; ``tau`` >= 0), interpolated in log(fill) within the measured
fills of the same config and number of occupied M tiles, held outside. Only microbenchmarks are read
here, never a whole-model run.

Other GPUs (no grouped-GEMM microbenchmark there): a row takes at least its weight stream at that
GPU's measured copy bandwidth, and otherwise what it took on the H200 (same tensor-core class and
clock assumed; overlap of the stream with the MMAs as measured): ``max(t_H200, weights / bw)``
(:meth:`GroupedGemmModel.on_device`).

Expert loads: with random weights, router logits of different tokens are exchangeable and
independent, so each token picks a uniformly random set of ``k`` of ``E`` experts and one expert's
load is Binomial(tokens, k / E). The call's cost is a *sum* over experts, so its expectation is exact
from that marginal: ``E x sum_r P(r) cost(r)`` (no max-load approximation needed; the persistent
scheduler spreads all experts' tiles over the SMs). Trained routers are not modelled (their loads
are a property of the checkpoint and the prompt); ``uniform=True`` gives the evenly split bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from archsim.data import read_csv_rows
from archsim.errors import ConfigError

REQUIRED = ("n", "k", "rows_total", "rows_per_expert", "active_experts", "gpu_us", "calls")
#: PyTorch GroupMM.cu: (tile_m, tile_n) of the small and large sm90 configs; cluster 2 x 1
TILES = {"small": (64, 128), "large": (128, 256)}
CLUSTER_M = 2
SMALL_MAX_ROWS = 128


def config_of(rows: int, groups: int, n: int) -> str:
    """GroupMM.cu's choice: ``small`` if the mean rows per group or N is at most 128, else ``large``."""
    return "small" if rows / max(1, groups) <= SMALL_MAX_ROWS or n <= SMALL_MAX_ROWS else "large"


def binomial_pmf(trials: int, p: float) -> list[tuple[int, float]]:
    """(r, P(r)) of Binomial(trials, p) over mean +- 12 standard deviations (the tails beyond are negligible)."""
    if trials <= 0 or p <= 0.0:
        return [(0, 1.0)]
    if p >= 1.0:
        return [(trials, 1.0)]
    mu, sd = trials * p, math.sqrt(trials * p * (1.0 - p))
    lo, hi = max(0, int(mu - 12 * sd) - 1), min(trials, int(mu + 12 * sd) + 2)
    lg = math.lgamma(trials + 1)
    out = []
    for r in range(lo, hi + 1):
        lp = lg - math.lgamma(r + 1) - math.lgamma(trials - r + 1) + r * math.log(p) + (trials - r) * math.log1p(-p)
        out.append((r, math.exp(lp)))
    return out


@dataclass(frozen=True)
class GroupedGemmModel:
    """Cost of one cluster row by config: ``bandwidth`` -> ((fill rows, B/s), ...) and ``tile_s`` ->
    ((fill rows, seconds per CTA tile), ...) (see module docstring; no ``tile_s`` entry: 0)."""

    source: str
    bandwidth: dict[str, tuple[tuple[float, float], ...]]
    tile_s: dict[str, tuple[tuple[float, float], ...]] = field(default_factory=dict)
    prepare_s: float = 0.0
    #: on another GPU: 1 / its copy bandwidth, the least time per weight byte of a row (0: the measured GPU)
    min_s_per_byte: float = 0.0
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    def on_device(self, ref_bw: float, bw: float) -> GroupedGemmModel:
        """The model moved from the GPU it was measured on (copy bandwidth ``ref_bw``) to one with ``bw``."""
        if bw <= 0 or ref_bw <= 0:
            raise ConfigError.single("copy bandwidths must be positive to move the grouped-GEMM model")
        return GroupedGemmModel(source=f"{self.source} (moved: copy bandwidth {ref_bw / 1e12:.2f} -> "
                                f"{bw / 1e12:.2f} TB/s)", bandwidth=self.bandwidth, tile_s=self.tile_s,
                                prepare_s=self.prepare_s, min_s_per_byte=1.0 / bw)

    @staticmethod
    def _at(pts: tuple[tuple[float, float], ...], cfg: str, fill: int, log_y: bool) -> float:
        """Value at ``fill``: interpolated (log fill) among the points that occupy as many M tiles, else
        the nearest measured fill (log) of the config; held outside."""
        tile_m = TILES[cfg][0]
        same = [pt for pt in pts if math.ceil(pt[0] / tile_m) == math.ceil(fill / tile_m)]
        use = same or [min(pts, key=lambda pt: abs(math.log(pt[0] / fill)))]
        if fill <= use[0][0]:
            return use[0][1]
        if fill >= use[-1][0]:
            return use[-1][1]
        for (x0, y0), (x1, y1) in zip(use, use[1:], strict=False):
            if x0 <= fill <= x1:
                f = (math.log(fill) - math.log(x0)) / (math.log(x1) - math.log(x0))
                if log_y:
                    return math.exp(math.log(y0) + f * (math.log(y1) - math.log(y0)))
                return y0 + f * (y1 - y0)
        raise AssertionError("unreachable: points are sorted")

    def row_bandwidth(self, cfg: str, fill: int) -> float:
        """Bandwidth of a cluster row holding ``fill`` rows (bytes/s)."""
        return self._at(self.bandwidth.get(cfg) or self.bandwidth["small"], cfg, fill, log_y=True)

    def row_tile_s(self, cfg: str, fill: int) -> float:
        """Per-CTA-tile overhead of a cluster row holding ``fill`` rows (seconds)."""
        pts = self.tile_s.get(cfg) or self.tile_s.get("small")
        return self._at(pts, cfg, fill, log_y=False) if pts else 0.0

    def expert_s(self, rows: int, n: int, k: int, cfg: str) -> float:
        """Seconds for one expert with ``rows`` rows: its cluster rows, each one pass over n x k bf16 weights."""
        if rows <= 0:
            return 0.0
        per_row = CLUSTER_M * TILES[cfg][0]
        full, rem = divmod(rows, per_row)
        w = 2.0 * n * k

        ctas = CLUSTER_M * math.ceil(n / TILES[cfg][1])

        def row(fill: int) -> float:
            t = w / self.row_bandwidth(cfg, fill) + ctas * self.row_tile_s(cfg, fill)
            return max(w * self.min_s_per_byte, t)
        return full * row(per_row) + (row(rem) if rem else 0.0)

    def call_s(self, tokens: int, experts: int, top_k: int, n: int, k: int, uniform: bool = False) -> float:
        """Expected seconds of one grouped call over ``tokens`` x ``top_k`` routed rows (see module docstring)."""
        key = (tokens, experts, top_k, n, k, uniform)
        if key not in self._cache:
            rows = tokens * top_k
            cfg = config_of(rows, experts, n)
            if uniform:
                base, extra = divmod(rows, experts)
                t = extra * self.expert_s(base + 1, n, k, cfg) + (experts - extra) * self.expert_s(base, n, k, cfg)
            else:
                t = experts * sum(p * self.expert_s(r, n, k, cfg) for r, p in binomial_pmf(tokens, top_k / experts))
            self._cache[key] = t + self.prepare_s
        return self._cache[key]


def _fit_row(pts: list[tuple[float, float, float]]) -> tuple[float, float]:
    """(B, tau) of ``t = w / B + ctas x tau`` by least squares over (w bytes, ctas, t) points, tau >= 0."""
    sww = sum(w * w for w, _, _ in pts)
    swc = sum(w * c for w, c, _ in pts)
    scc = sum(c * c for _, c, _ in pts)
    swt = sum(w * t for w, _, t in pts)
    sct = sum(c * t for _, c, t in pts)
    det = sww * scc - swc * swc
    if len({c / w for w, c, _ in pts}) > 1 and det > 0:
        inv_b, tau = (swt * scc - sct * swc) / det, (sww * sct - swc * swt) / det
        if tau >= 0.0 and inv_b > 0.0:
            return 1.0 / inv_b, tau
    return sww / swt, 0.0  # one tiles-per-byte ratio (or a negative overhead): bandwidth only


def load_grouped(path: str | Path) -> GroupedGemmModel:
    """Row costs from a ``wm-grouped`` microbenchmark CSV (uniform loads; see module docstring).

    Rows whose kernel is ``prepare_grouped_gemm_data`` give the setup kernel's time (median); the
    others are the grouped kernel: per expert and cluster row, time / (active experts x cluster rows).
    """
    path = Path(path)
    rows = read_csv_rows(path, REQUIRED, "grouped-GEMM CSV")
    by: dict[tuple[str, float], list[tuple[float, float, float]]] = {}
    prep: list[float] = []
    for i, r in enumerate(rows, start=2):
        try:
            n, k, total = int(r["n"]), int(r["k"]), int(r["rows_total"])
            rpe, active = float(r["rows_per_expert"]), int(r["active_experts"])
            t = float(r["gpu_us"]) * 1e-6 * float(r["calls"])
            groups = int(float(r.get("experts") or active))
        except ValueError:
            raise ConfigError.single(f"{path}:{i}: malformed grouped-GEMM row", file=str(path), line=i) from None
        if "prepare_grouped_gemm_data" in r.get("kernel", ""):
            prep.append(t)
            continue
        cfg = config_of(total, groups, n)
        per_row = CLUSTER_M * TILES[cfg][0]
        cluster_rows = math.ceil(rpe / per_row)
        fill = min(rpe, per_row)
        ctas = CLUSTER_M * math.ceil(n / TILES[cfg][1])
        by.setdefault((cfg, fill), []).append((2.0 * n * k, float(ctas), t / (active * cluster_rows)))
    if not by:
        raise ConfigError.single(f"{path}: no grouped-GEMM measurements", file=str(path))
    bw: dict[str, list[tuple[float, float]]] = {}
    tau: dict[str, list[tuple[float, float]]] = {}
    for (cfg, fill), pts in sorted(by.items()):
        b, t = _fit_row(pts)
        bw.setdefault(cfg, []).append((fill, b))
        tau.setdefault(cfg, []).append((fill, t))
    prep.sort()
    return GroupedGemmModel(source=str(path), bandwidth={c: tuple(p) for c, p in bw.items()},
                            tile_s={c: tuple(p) for c, p in tau.items()},
                            prepare_s=prep[len(prep) // 2] if prep else 0.0)


@lru_cache(maxsize=4)
def committed_grouped(name: str) -> GroupedGemmModel:
    """The model from a committed H200 microbenchmark file (package data)."""
    from archsim.data import measurement
    return load_grouped(measurement("h200", name))
