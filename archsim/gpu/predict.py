"""Predictions for attention and GEMM kernels on a GPU preset (the ``archsim predict`` API).

``predict_attention(hw, impl, ...)`` and ``predict_gemm(hw, m, n, k, ...)`` return a
:class:`Prediction`: latency (seconds), bound, achieved TFLOP/s (useful FLOPs: causal counts only
unmasked pairs; GEMM 2MNK), bytes per level, per-launch details and a timeline.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import lru_cache

from archsim.errors import ConfigError
from archsim.gpu import kernels as K
from archsim.gpu.calibration import DeviceRates, rates_for
from archsim.gpu.model import LaunchResult, LaunchSpec, simulate_launch
from archsim.schemas.hardware import GpuDevice

ATTENTION_IMPLS = ("triton-flash", "flash2", "cudnn", "naive", "flash-decoding", "cudnn-bias")
GEMM_IMPLS = ("cublas", "triton-gemm")
#: Tile-config keys and their valid values: Triton tiles are powers of two (tl.arange) of at least
#: 16 (tl.dot); num_warps a power of two up to 32 (1024 threads per CTA); stages 1-8; splits >= 1.
_POWERS_OF_TWO = {"block_m": (16, 1024), "block_n": (16, 1024), "block_k": (16, 1024), "num_warps": (1, 32)}
_RANGES = {"num_stages": (1, 8), "num_splits": (1, 1024)}


@dataclass
class Prediction:
    kernel: str
    hardware: str
    latency_s: float
    bound: str
    useful_flops: float
    launches: list[LaunchResult] = field(default_factory=list)
    specs: list[LaunchSpec] = field(default_factory=list)
    family: str = ""  # validation kernel family: prefill | decode | gemm (archsim.intervals picks cells by it)

    @property
    def tflops(self) -> float:
        return self.useful_flops / self.latency_s / 1e12

    def energy(self) -> dict:
        """Board energy (J) of the launches back to back, average power (W), energy by part
        (:mod:`archsim.gpu.power`; empty without a power model)."""
        parts: dict[str, float] = {}
        for r in self.launches:
            for k, v in r.energy_by_part.items():
                parts[k] = parts.get(k, 0.0) + v
        total = sum(parts.values())
        return {"energy_j": total, "avg_power_w": total / self.latency_s if self.latency_s else 0.0,
                "energy_by_part_j": parts}

    def to_dict(self, timeline: bool = False) -> dict:
        hbm = sum(r.totals["hbm_bytes"] for r in self.launches)
        l2 = sum(r.totals["l2_bytes"] for r in self.launches)
        out = {
            "kernel": self.kernel, "hardware": self.hardware, "latency_s": self.latency_s, "bound": self.bound,
            "tflops": self.tflops, "useful_flops": self.useful_flops,
            "bytes_by_level": {"hbm": hbm, "l2": l2, "smem": sum(r.totals["smem_bytes"] for r in self.launches)},
            "achieved_bytes_per_s": {"hbm": hbm / self.latency_s, "l2": l2 / self.latency_s},
            "launches": [{"name": r.name, "time_s": r.time_s, "bound": r.bound, "grid": r.grid,
                          "ctas_per_sm": r.ctas_per_sm, "occupancy_limiter": r.occupancy_limiter,
                          "waves": r.waves, "clock_hz": r.clock_hz, "energy_j": r.energy_j} for r in self.launches],
            **self.energy(),
        }
        if timeline:
            t0, events = 0.0, []
            for r in self.launches:
                events.append({"name": r.name, "ph": "X", "ts": t0 * 1e6, "dur": r.time_s * 1e6, "pid": 0, "tid": 0})
                for ev in r.timeline:
                    events.append({"name": f"{r.name} wave {ev['wave']} ({ev['ctas']} CTAs)", "ph": "X",
                                   "ts": (t0 + ev["start_s"]) * 1e6, "dur": ev["dur_s"] * 1e6, "pid": 0, "tid": 1})
                t0 += r.time_s
            out["timeline"] = {"traceEvents": events}
        return out

    def event_check(self, rates: DeviceRates, observer: object = None) -> dict:
        """Play every launch on the event engine (:mod:`archsim.gpu.events`); report the gap."""
        from archsim.gpu.events import play_launch
        played = [play_launch(spec, rates, observer=observer) for spec in self.specs]
        total = sum(p.time_s for p in played)
        return {"events_latency_s": total, "gap_vs_analytical": (total - self.latency_s) / self.latency_s,
                "launches": [{"name": p.name, "events_s": p.time_s, "analytical_s": p.analytical_s} for p in played]}


@lru_cache(maxsize=16)
def _rates(name: str) -> DeviceRates:
    from archsim.presets import load_hardware
    dev = load_hardware(name)
    return device_rates(dev)


def device_rates(dev: object) -> DeviceRates:
    if not isinstance(dev, GpuDevice):
        raise ConfigError.single(f"the GPU model needs a GPU preset, got family {getattr(dev, 'family', '?')!r}",
                                 key_path="hw")
    return rates_for(dev)


@lru_cache(maxsize=16)
def _device(name: str) -> GpuDevice:
    from archsim.presets import load_hardware
    return load_hardware(name)


def _run(kernel: str, hw: str, launches: list[LaunchSpec], useful: float, rates: DeviceRates,
         timeline: bool, dtype: str) -> Prediction:
    from archsim.guards import check_prediction_within_peaks

    launches = [dataclasses.replace(ln, mma_dtype=dtype) for ln in launches]  # tensor-core energy per FLOP
    results = [simulate_launch(ln, rates, timeline=timeline) for ln in launches]
    total = sum(r.time_s for r in results)
    bound = max(results, key=lambda r: r.time_s).bound
    pred = Prediction(kernel=kernel, hardware=hw, latency_s=total, bound=bound, useful_flops=useful, launches=results,
                      specs=launches)
    check_prediction_within_peaks(pred, _device(hw), dtype)  # no prediction beats the preset's peaks
    return pred


def _check_config(config: dict | None) -> dict:
    """The non-None tile settings of ``config``, each checked (ConfigError naming the key)."""
    cfg = {k: v for k, v in (config or {}).items() if v is not None}
    for key, value in cfg.items():
        if key in _POWERS_OF_TWO:
            lo, hi = _POWERS_OF_TWO[key]
            ok = isinstance(value, int) and lo <= value <= hi and not value & (value - 1)
            what = f"a power of two from {lo} to {hi}"
        elif key in _RANGES:
            lo, hi = _RANGES[key]
            ok, what = isinstance(value, int) and lo <= value <= hi, f"an integer from {lo} to {hi}"
        else:
            ok, what = False, f"one of {', '.join([*_POWERS_OF_TWO, *_RANGES])}"
        if not ok:
            raise ConfigError.single(f"{key} must be {what}, got {value!r}", key_path=key)
    return cfg


def _check_positive(**values: int) -> None:
    bad = [k for k, v in values.items() if not isinstance(v, int) or v < 1]
    if bad:
        raise ConfigError.single(f"{', '.join(bad)} must be positive integers", key_path=bad[0])


def attention_shape(batch: int, heads: int, kv_heads: int, seq_q: int, seq_kv: int, head_dim: int, causal: bool,
                    dtype: str) -> dict:
    _check_positive(batch=batch, heads=heads, kv_heads=kv_heads, seq_q=seq_q, seq_kv=seq_kv, head_dim=head_dim)
    if heads % kv_heads:
        raise ConfigError.single(f"heads ({heads}) must be a multiple of kv_heads ({kv_heads})", key_path="kv_heads")
    if dtype not in K.ELEM:
        raise ConfigError.single(f"unknown dtype {dtype!r}; valid: {', '.join(K.ELEM)}", key_path="dtype")
    return {"batch": batch, "heads": heads, "kv_heads": kv_heads, "seq_q": seq_q, "seq_kv": seq_kv,
            "head_dim": head_dim, "causal": causal, "dtype": dtype}


def useful_attention_flops(s: dict) -> float:
    from archsim.operators import attention_pairs
    pairs = attention_pairs(s["seq_q"], s["seq_kv"], s["causal"])
    return 4.0 * s["batch"] * s["heads"] * s["head_dim"] * pairs


def predict_attention(hw: str, impl: str, *, batch: int, heads: int, kv_heads: int | None = None, seq_q: int,
                      seq_kv: int | None = None, head_dim: int, causal: bool = False, dtype: str = "bf16",
                      config: dict | None = None, timeline: bool = False,
                      rates: DeviceRates | None = None) -> Prediction:
    """Predict one attention forward with implementation ``impl`` (see :data:`ATTENTION_IMPLS`)."""
    if impl not in ATTENTION_IMPLS:
        raise ConfigError.single(f"unknown attention impl {impl!r}; valid: {', '.join(ATTENTION_IMPLS)}",
                                 key_path="impl")
    s = attention_shape(batch, heads, heads if kv_heads is None else kv_heads, seq_q,
                        seq_q if seq_kv is None else seq_kv, head_dim, causal, dtype)
    cfg = _check_config(config)
    rates = rates or _rates(hw)
    if impl == "naive":
        launches = K.naive_attention(s, rates)
    elif impl == "flash-decoding":
        if seq_q != 1:
            raise ConfigError.single("flash-decoding is the decode kernel: --seq-q must be 1", key_path="seq_q")
        launches = K.flash_decoding(s, **cfg)
    else:
        launches = K.ATTENTION_IMPLS[impl](s, sm_count=rates.sm_count, **cfg)
    pred = _run(f"attention/{impl}", hw, launches, useful_attention_flops(s), rates, timeline, dtype)
    pred.family = "decode" if seq_q == 1 else "prefill"
    return pred


def predict_gemm(hw: str, *, m: int, n: int, k: int, dtype: str = "bf16", impl: str = "cublas",
                 config: dict | None = None, timeline: bool = False, rates: DeviceRates | None = None) -> Prediction:
    """Predict ``(m x k) @ (k x n)`` with ``impl`` = ``cublas`` or ``triton-gemm``."""
    _check_positive(m=m, n=n, k=k)
    if dtype not in K.ELEM:
        raise ConfigError.single(f"unknown dtype {dtype!r}; valid: {', '.join(K.ELEM)}", key_path="dtype")
    rates = rates or _rates(hw)
    if impl == "cublas":
        launches = K.cublas_gemm(m, n, k, dtype, rates)
    elif impl == "triton-gemm":
        launches = K.triton_gemm(m, n, k, dtype, **_check_config(config))
    else:
        raise ConfigError.single(f"unknown gemm impl {impl!r}; valid: {', '.join(GEMM_IMPLS)}", key_path="impl")
    pred = _run(f"gemm/{impl}", hw, launches, 2.0 * m * n * k, rates, timeline, dtype)
    pred.family = "gemm"
    return pred
