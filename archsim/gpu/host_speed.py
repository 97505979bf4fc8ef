"""Host speed as an input of host-bound predictions: the host-speed probe and what it does to host cost.

The device machine's host runs in speed states (:mod:`archsim.gpu.host`: ~1.9x apart per layer, changing over
seconds), and a host-bound run's time, so its energy and average power, follows the state. The power campaigns
probe the host before and after every NVML window (``host_dispatch.speed_probe``: a pure-Python loop and the
eager ``add_`` dispatch, us per call). ``campaigns/host_probe.py`` measured, interleaved, the host cost of the
code paths those windows run (tiny-width ``MiniLlama`` decode and prefill at 1/4/8 layers, tiny GPT-2
``generate`` eager and SDPA at 1/6 layers, a 64^3 GEMM + synchronisation), each call right after one probe
(``h200-host-probe-2026-12-02``: 2,827 calls in 257 rounds). Host cost follows the ``add_`` probe as a power
law, the same exponent on every path (pooled fixed-effects fit, :func:`fit_exponent`); the Python-loop probe
explains less (its exponent fit leaves larger residuals, reported by :func:`fit_exponent`).

:class:`HostSpeed` then says, per code path, at which probe value the model's own host cost holds
(``ref_add_us``: the model's unscaled prediction of the same tiny configurations against the measured calls), and
scales the host cost of a prediction to a given probe: ``(add_us / ref_add_us) ** alpha``. The calibration's
probes are bimodal (fast state ~7.5-8.5 us, slow ~10.5-11.5 us, flipping every 15-30 s); with no probe given, the
geometric mean of the two states' medians (``point_add_us``), the estimate with the smallest worst-case ratio error
when the state is unknown; ``fast_add_us`` / ``slow_add_us`` give the band.
Nothing here is fitted to a validation row or a blind round.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from archsim.data import read_csv_rows
from archsim.errors import ConfigError

#: the interleaved calibration of ``campaigns/host_probe.py`` (package data, measurements/h200)
PROBE_CSV = "h200-host-probe-2026-12-02.csv"
PROBE_REQUIRED = ("path", "layers", "width", "step_s", "py_loop_us", "add_us")
#: the code paths of the campaign: the power validation's MiniLlama eager decode (its per-layer host line) and
#: prefill (the per-kernel dispatch model), HF GPT-2 ``generate`` per token, the GEMM + host-spin rows' dispatch
PATHS = ("minillama-decode", "minillama-prefill", "generate-eager", "generate-sdpa", "gemm-sync")


@dataclass(frozen=True)
class HostSpeed:
    """Host cost of a code path at probe ``a`` = the model's host cost x ``(a / ref_add_us[path]) ** alpha``."""

    alpha: float
    ref_add_us: dict[str, float]
    #: the calibration calls' probe in the host's fast and slow state (medians either side of the split)
    fast_add_us: float
    slow_add_us: float
    source: str

    @property
    def point_add_us(self) -> float:
        """The probe assumed when none is given: the geometric mean of the two states' (the host-cost estimate
        whose worst ratio error over the two states is smallest, as :meth:`archsim.gpu.host.StateLines.line`)."""
        return math.sqrt(self.fast_add_us * self.slow_add_us)

    def factor(self, path: str, add_us: float | None = None) -> float:
        """Host-cost multiplier of ``path`` at probe ``add_us`` (us per eager ``add_``; None: :attr:`point_add_us`)."""
        if path not in self.ref_add_us:
            raise ConfigError.single(f"host speed: unknown code path {path!r}; valid: {', '.join(self.ref_add_us)}",
                                     key_path="host_path")
        a = self.point_add_us if add_us is None else float(add_us)
        if not a > 0.0:
            raise ConfigError.single(f"host speed: the add_ probe must be positive, got {add_us!r}",
                                     key_path="host_add_us")
        return (a / self.ref_add_us[path]) ** self.alpha


def _calls(path: str | Path) -> dict[tuple[str, int], list[tuple[float, float, float]]]:
    """(code path, layers) -> [(add_ probe us, Python-loop probe us, seconds per step)] of a probe CSV."""
    out: dict[tuple[str, int], list[tuple[float, float, float]]] = {}
    for i, r in enumerate(read_csv_rows(Path(path), PROBE_REQUIRED, "host probe CSV"), start=2):
        try:
            out.setdefault((r["path"], int(r["layers"])), []).append(
                (float(r["add_us"]), float(r["py_loop_us"]), float(r["step_s"])))
        except ValueError:
            raise ConfigError.single(f"{path}:{i}: malformed host probe row (layers, add_us, py_loop_us, step_s)",
                                     file=str(path), line=i) from None
    if not out:
        raise ConfigError.single(f"{path}: no host probe rows", file=str(path))
    return out


def fit_exponent(calls: dict, probe: int = 0) -> tuple[float, float]:
    """(exponent, rms log residual) of ``log step = c_config + alpha log probe`` over every call (one intercept per
    configuration, one exponent): ``probe`` 0 the ``add_`` probe, 1 the Python-loop probe."""
    xs: list[float] = []
    ys: list[float] = []
    for v in calls.values():
        lx = [math.log(c[probe]) for c in v]
        ly = [math.log(c[2]) for c in v]
        mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
        xs += [x - mx for x in lx]
        ys += [y - my for y in ly]
    sxx = sum(x * x for x in xs)
    if sxx == 0.0:
        raise ConfigError.single("host probe fit: the probe never changed", key_path="add_us")
    alpha = sum(x * y for x, y in zip(xs, ys, strict=True)) / sxx
    return alpha, math.sqrt(sum((y - alpha * x) ** 2 for x, y in zip(xs, ys, strict=True)) / len(xs))


def model_host_s(cal, path: str, layers: int) -> float:
    """The model's own (unscaled) seconds per step of a campaign configuration: host cost (tiny widths: the GPU
    time hides under it) from the same sources the power validation prices those code paths with."""
    from archsim.gpu.host import eager_wall_s
    if path == "minillama-decode":
        from archsim.gpu.power_validation import minillama_host_line
        fixed, per_layer = minillama_host_line(256)
        return fixed + layers * per_layer
    if path == "minillama-prefill":
        from archsim.gpu.power_validation import mini_llama_sequence
        from archsim.gpu.stacks import Step
        seq = mini_llama_sequence(layers, Step(phase="prefill", batch=1, seq_len=16, context=0), 256, 2, 512,
                                  context=16)
        return cal.host.eager_host_s(None, "prefill", layers, [it.category for it in seq])
    if path.startswith("generate-"):  # baselines.gpt2_host's line (its default source)
        from archsim.gpu.host import generate_line
        fixed, per_layer = generate_line(path.split("-", 1)[1])
        return fixed + layers * per_layer
    if path == "gemm-sync":
        from archsim.gpu.predict import predict_gemm
        gpu = predict_gemm(cal.device, m=64, n=64, k=64, rates=cal.rates).latency_s
        return eager_wall_s([gpu], cal.host.per_kernel["linear"], cal.host.graph_gap_s)
    raise ConfigError.single(f"host speed: unknown code path {path!r}", key_path="path")


def fit(path: str | Path, cal) -> HostSpeed:
    """:class:`HostSpeed` from a ``host_probe`` CSV: the pooled ``add_`` exponent; per code path the probe at which
    the model's host cost equals the measured calls (geometric mean over the path's calls of
    ``probe * (model / measured) ** (1 / alpha)``); the two states' probes: the medians of all calls' probes
    below and above the geometric mean of their 10th and 90th percentiles."""
    calls = _calls(path)
    alpha, _ = fit_exponent(calls)
    model = {(name, layers): model_host_s(cal, name, layers) for name, layers in calls if name in PATHS}
    ref: dict[str, float] = {}
    for p in PATHS:
        logs = [math.log(a) + math.log(model[(name, layers)] / s) / alpha
                for (name, layers), v in calls.items() if name == p for a, _, s in v]
        if not logs:
            raise ConfigError.single(f"{path}: no calls of code path {p!r}", file=str(path))
        ref[p] = math.exp(sum(logs) / len(logs))
    probes = sorted(a for v in calls.values() for a, _, _ in v)
    q = statistics.quantiles(probes, n=10)
    split = math.sqrt(q[0] * q[-1])
    fast, slow = [a for a in probes if a <= split], [a for a in probes if a > split]
    return HostSpeed(alpha=alpha, ref_add_us=ref, fast_add_us=statistics.median(fast),
                     slow_add_us=statistics.median(slow), source=Path(path).name)


#: the mapping campaigns (``campaigns/host_probe.py --map``, twice): the campaigns' own host rows against the probe
MAP_CSVS = ("h200-host-probe-map-2026-12-02.csv", "h200-host-probe-map2-2026-12-02.csv")
MAP_CSV = MAP_CSVS[0]
#: a power campaign's own host-speed calibration row (bench) -> the mapping campaign's configuration of the same call
OWN_ROWS = {"gap_add4k_0us": "loop-add4k", "launch_empty_loop": "loop-empty"}
#: the whole-model runs' host microbenchmark row (``wm_micro.host_cases``) -> its mapping configuration
WM_HOST_ROW = ("add_inplace", "wm-add-inplace")


@lru_cache(maxsize=2)
def own_row_ratios(paths: tuple[str, ...] | None = None) -> dict[str, float]:
    """Per mapping configuration (:data:`OWN_ROWS`, :data:`WM_HOST_ROW`): seconds per launch (us) / the probe before
    it, the geometric mean over the calls of every mapping run (each follows the probe with exponent ~0.9-1.0, so a
    ratio is the whole mapping)."""
    from archsim.data import measurement
    srcs = paths or tuple(str(measurement("h200", f)) for f in MAP_CSVS)
    calls: dict = {}
    for src in srcs:
        for k, v in _calls(src).items():
            calls.setdefault(k, []).extend(v)
    out = {}
    for cfg in (*OWN_ROWS.values(), WM_HOST_ROW[1]):
        v = [c for (p, _), cs in calls.items() if p == cfg for c in cs]
        if not v:
            raise ConfigError.single(f"{', '.join(srcs)}: no calls of {cfg!r}", file=srcs[0])
        out[cfg] = math.exp(sum(math.log(s * 1e6 / a) for a, _, s in v) / len(v))
    return out


def whole_model_host_factor(cal, add_us: float) -> float:
    """Multiplier on the device calibration's whole-model host costs (``cal.host``: the first whole-model run's
    host microbenchmarks) for a run whose host probe read ``add_us``: that run's ``add_inplace`` row mapped to the
    probe (:data:`WM_HOST_ROW`) is the probe at which ``cal.host`` holds."""
    ref = cal.host.per_kernel[WM_HOST_ROW[0]] * 1e6 / own_row_ratios()[WM_HOST_ROW[1]]
    return (float(add_us) / ref) ** h200_host_speed().alpha


def run_probe_us(rows: list[dict]) -> tuple[float, str] | None:
    """(probe us, the row it came from) of a power campaign run from its own host-speed calibration row (one of
    :data:`OWN_ROWS`, seconds per launch over its NVML window / the mapping ratio), or None if it has none."""
    ratios = own_row_ratios()
    for r in rows:
        cfg = OWN_ROWS.get(r.get("bench", ""))
        if cfg and r.get("set") != "validation" and r.get("step_s"):
            return float(r["step_s"]) * 1e6 / ratios[cfg], r["bench"]
    return None


@lru_cache(maxsize=2)
def h200_host_speed(path: str | None = None) -> HostSpeed:
    """The H200 device machine's :class:`HostSpeed` (:data:`PROBE_CSV`, the H200 device calibration)."""
    from archsim.data import measurement
    from archsim.gpu.devices import device_calibration
    return fit(path or measurement("h200", PROBE_CSV), device_calibration("h200", "own"))


def markdown(cal) -> list[str]:
    """The host-speed section of ``reports/gpu-energy.md``: the calibration and what it gives per code path."""
    import json

    from archsim.data import measurement
    path = measurement("h200", PROBE_CSV)
    calls = _calls(path)
    hs = fit(path, cal)
    a_py, r_py = fit_exponent(calls, probe=1)
    _, r_add = fit_exponent(calls)
    meta = json.loads(measurement("h200", PROBE_CSV.replace("-probe-", "-probe-meta-").replace(".csv", ".json"))
                      .read_text())
    n = sum(len(v) for v in calls.values())
    from archsim.gpu.power_fit import GAPS_CSV, MAIN_CSVS, read_power_csv
    ratios = own_row_ratios()
    own = {name: run_probe_us(read_power_csv(measurement("h200", name))) for name in (*MAIN_CSVS, GAPS_CSV)}
    map_meta = json.loads(measurement("h200", MAP_CSV.replace("-map-", "-map-meta-").replace(".csv", ".json"))
                          .read_text())
    return [
        "## Host speed as an input (`archsim.gpu.host_speed`, `campaigns/host_probe.py`)", "",
        f"Calibration: {n} calls in {meta['rounds']} interleaved rounds ({meta['device_name']}, driver "
        f"{meta['driver']}, torch {meta['torch']}, transformers {meta['transformers']}, {meta['date_utc']}, "
        f"`{meta['command']}`) of the code paths the power windows run at tiny widths (GPU time hidden under the "
        "host's), each call right after one `host_dispatch.speed_probe`. Host cost per call against the probe's eager "
        f"`add_` dispatch: exponent **{hs.alpha:.2f}** (one per configuration intercept, pooled; rms log residual "
        f"{r_add:.3f}); against the pure-Python loop: exponent {a_py:.2f}, residual {r_py:.3f}, so the `add_` probe is "
        f"the input. The probes are bimodal: fast state {hs.fast_add_us:.2f} us, slow {hs.slow_add_us:.2f} us "
        f"(medians either side of the split); with no probe the model assumes {hs.point_add_us:.2f} us (their "
        "geometric mean). The probe at which the model's own host cost of each path holds (its unscaled prediction "
        "of the same tiny configurations): " + ", ".join(f"{p} {a:.2f} us" for p, a in hs.ref_add_us.items())
        + f", so at the point probe the model's host costs are x{hs.factor('minillama-decode'):.2f} "
        f"(MiniLlama decode) .. x{max(hs.factor(p) for p in PATHS):.2f}. Not changed: the whole-model, serving and "
        "baseline reports' host models, which carry their own runs' host microbenchmarks.", "",
        f"Runs that took no probe: `campaigns/host_probe.py --map` ({map_meta['rounds']} rounds, "
        f"{map_meta['date_utc']}) ran the power campaigns' own host rows after the probe: "
        + ", ".join(f"`{b}` {ratios[c]:.3f} x the probe" for b, c in OWN_ROWS.items())
        + " (each follows the probe with exponent ~1.0). So a run's own row gives its probe: "
        + ", ".join(f"`{n}` {v[0]:.2f} us (from `{v[1]}`)" for n, v in own.items() if v)
        + ". The validation set below prices each run at that probe; the blind rounds at each window's probe-before "
        "(`host, now given the probe`) and at the point.", ""]
