"""Energy parity: the power model (:mod:`archsim.gpu.power`) against NVML board energy it was not fitted to.

Two validation sources, both never read by the fit (:mod:`archsim.gpu.power_fit`):

- ``power-h200-*.csv`` rows with ``set == validation`` (``campaigns/power.py``): SDPA FlashAttention-2
  prefill and decode, a GEMM followed by a 2 ms host wait, and a Llama-2-7B-shaped 4-layer decoder in
  plain PyTorch (``campaigns/power.py:MiniLlama``) in prefill (16 x 2048) and decode (batch 1 and 64
  over a fixed 2048-token KV cache, eager and CUDA-graph). Windows of ~2.5 s (thousands of steps).
- ``h200-wm-whole-*.csv`` (the whole-model campaign, ``campaigns/whole_model.py``): NVML energy over
  its timed loops. Those windows are 0.07-0.6 s; the energy counter advances in coarse steps, and
  several rows average above the 700 W limit, so they are reported apart ("short window").

Prediction of one step: every kernel of the step (GEMMs and attention through the GPU model, with
their dynamic energy by part; glue kernels by their bytes) plus static power over the predicted
wall time (:mod:`archsim.gpu.wholemodel` host model: eager dispatch or graph replay), so host-bound
gaps cost static power. Glue kernels (elementwise, norm, rotary, copies) are charged their class's
measured energy per byte (:func:`archsim.gpu.power_fit.fit_glue`, the campaign's glue run: HBM-resident
eager kernels; an operation takes its kernel template's class) when their bytes exceed half the L2, else that
figure less ``e_hbm`` (their input was just written by the previous kernel and stays in L2):
:meth:`EnergyPricer.glue_j`, also the pricer of the GPU baselines (:class:`archsim.gpu.baselines.CostPricer`).

Regimes (from the measurements, not the model): ``host`` when the step's wall time is over 1.5x its
GPU time (eager rows: against the same step under CUDA-graph replay), else ``compute`` for prefill
and attention prefill, ``memory`` for decode and attention decode.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from pathlib import Path

from archsim.gpu.devices import DeviceCalibration
from archsim.gpu.power import PowerCoefficients, launches_dynamic_j
from archsim.gpu.power_fit import read_power_csv
from archsim.gpu.stacks import KernelItem, ModelShape, Step, rmsnorm_eager, rotary_eager, sequence

#: whole-model NVML windows shorter than this are reported apart (counter granularity)
SHORT_WINDOW_S = 1.0
HOST_BOUND_RATIO = 1.5


@functools.lru_cache(maxsize=4)
def _glue_fit(static_w: float) -> dict[str, float]:
    from archsim.data import measurement
    from archsim.gpu.power_fit import GLUE_CSV, fit_glue
    return fit_glue(measurement("h200", GLUE_CSV), static_w)


def at_window_limit(price, pricer: EnergyPricer) -> dict:
    """A step run back to back, priced under the board's slow controller: ``price(p)`` prices the step with the
    pricer ``p`` (a dict with ``modeled_wall_s`` and ``modeled_energy_j``). The controller averages power over tens
    of ms, many steps: it holds one clock for the window, the highest at which the step's average power fits the
    board limit (every launch at that clock and its voltage; ``spike_limit_w`` still caps a single launch, whose
    voltage stays the window's).
    Measured (``campaigns/power_prefill.py``): a prefill's GEMMs alone in a graph ran at 1440-1740 MHz at the limit,
    the same GEMMs between its glue kernels at 1890-1980 MHz, the step below the limit on average."""
    power = pricer.power
    top = price(pricer.at_clock(1.0))
    if power.limit_w is None or top["modeled_energy_j"] / top["modeled_wall_s"] <= power.limit_w * (1.0 + 1e-4):
        return top

    def over(frac: float) -> tuple[bool, dict]:
        got = price(pricer.at_clock(frac))
        return got["modeled_energy_j"] / got["modeled_wall_s"] > power.limit_w, got
    lo, hi = MIN_WINDOW_FRACTION, 1.0
    too_much, best = over(lo)
    if too_much:  # even the lowest window clock searched draws too much: the spike limit's floors hold the launches
        return best
    while hi - lo >= 2e-3:  # bisection on the window clock (the step's average power rises with it)
        mid = 0.5 * (lo + hi)
        too_much, got = over(mid)
        if too_much:
            hi = mid
        else:
            lo, best = mid, got
    return best


#: lowest window clock searched (the H200's calibration GEMMs never ran below 1380 MHz of 1980 at the limit)
MIN_WINDOW_FRACTION = 0.5


class EnergyPricer:
    """Seconds and dynamic joules per launch of each kernel item on one calibrated GPU (cached)."""

    def __init__(self, cal: DeviceCalibration) -> None:
        self.cal = cal
        self.cache: dict[tuple, tuple[float, float]] = {}
        power = cal.rates.power
        if power is None:
            from archsim.errors import ConfigError
            raise ConfigError.single(f"{cal.device}: the preset has no power model", key_path="hw")
        self.power: PowerCoefficients = power
        from archsim.gpu.power import H200_STREAM_J_PER_BYTE, coefficients_for
        if cal.device == "h200":
            self.glue = _glue_fit(power.static_w)
        else:  # the H200 board's static power takes the metered windows to their dynamic energy
            from archsim.presets import load_hardware
            self.glue = _glue_fit(coefficients_for(load_hardware("h200")).static_w)
        stream = power.l2_j_per_byte + power.hbm_j_per_byte
        if cal.device != "h200" and abs(stream / H200_STREAM_J_PER_BYTE - 1.0) > 1e-9:
            # the glue classes were metered on the H200 only: on another GPU each class keeps its share of the
            # H200's per-byte stream energy (e_l2 + e_hbm), as the TMA stream does (archsim.gpu.power)
            self.glue = {k: v * stream / H200_STREAM_J_PER_BYTE for k, v in self.glue.items()}
        from archsim.gpu.wholemodel import KernelPricer
        self.kernel_s = KernelPricer(cal)
        self.windows: dict[float, EnergyPricer] = {}

    def at_clock(self, fraction: float) -> EnergyPricer:
        """This pricer for launches inside a window whose clock the slow controller holds at ``fraction`` of the
        maximum: each launch starts there at that clock's voltage, and only the spike limit (``spike_limit_w``; else
        ``burst_limit_w``) lowers its clock further, not its voltage."""
        key = round(fraction, 6)
        if key not in self.windows:
            limit = self.power.spike_limit_w or self.power.burst_limit_w
            p = dataclasses.replace(self.power, limit_w=limit, clock_fraction=key, voltage_held=True)
            self.windows[key] = EnergyPricer(dataclasses.replace(self.cal, rates=dataclasses.replace(
                self.cal.rates, power=p)))
        return self.windows[key]

    def glue_j(self, cls: str, read: float, write: float) -> float:
        """Dynamic energy of one glue kernel: its class's measured J/B when HBM-resident (an operation the glue run
        did not meter takes the figure of the kernel template its timing microbenchmark launched,
        :attr:`archsim.gpu.glue.GlueModel.templates`: ``to_fp32`` is the ``unrolled`` copy, ``mean_lastdim`` the
        ``reduce`` kernel, the rotary multiply the ``strided`` template); when its bytes fit in
        half the L2 (just written by the previous kernel) the same less the HBM energy per byte (``e_hbm``, what
        an L2 hit does not pay: the class's L2 traffic, index arithmetic and partial sectors stay). Checked on
        ``campaigns/power_prefill.py``'s glue-only graphs (``archsim.gpu.energy_prefill``, 23 kernels per layer):
        meter / model 0.84-1.01 (mean 0.92, ten windows); operations priced at the plain stream figure instead of
        their template's gave 1.24-1.49."""
        moved = read + write
        stream = self.power.l2_j_per_byte + self.power.hbm_j_per_byte
        per_byte = self.glue.get(cls, self.glue.get(self.cal.glue.templates.get(cls, "")))
        if per_byte is None:  # a class whose template the glue run did not measure: bytes plus one lane op per 2 B
            per_byte = stream + self.power.vec_j_per_lane_op * write / 2.0 / max(moved, 1.0)
        if moved <= self.cal.rates.l2_bytes / 2:
            per_byte = max(self.power.l2_j_per_byte, per_byte - self.power.hbm_j_per_byte)
        return moved * per_byte * self.power.vf_scale(self.power.clock_fraction)  # measured at the maximum clock

    def __call__(self, it: KernelItem) -> tuple[float, float]:
        from archsim.gpu.predict import predict_attention, predict_gemm
        if it.glue is not None:
            cls, read, write = it.glue
            return self.cal.glue.time_s(cls, read, write), self.glue_j(cls, read, write)
        if it.grouped is not None:  # MoE grouped GEMM: its time model, the energy of equal dense expert GEMMs
            key: tuple = ("grouped", it.grouped)
            if key not in self.cache:
                tokens, experts, top_k, n, k = it.grouped
                m = max(1, -(-tokens * top_k // experts))
                p = predict_gemm(self.cal.device, m=m, n=n, k=k, rates=self.cal.rates)
                self.cache[key] = (self.kernel_s(it), experts * launches_dynamic_j(p.launches))
            return self.cache[key]
        key = (it.gemm, tuple(sorted(it.attention.items())) if it.attention else None)
        if key not in self.cache:
            # seconds in the whole-model pricer's convention (a kernel inside a step: the event-timed launch
            # overhead overlaps the previous kernel, :class:`archsim.gpu.wholemodel.KernelPricer`); joules of
            # the launches as the kernel model prices them
            hw, rates = self.cal.device, self.cal.rates
            if it.gemm is not None:
                m, n, k, groups = it.gemm
                p = predict_gemm(hw, m=m, n=n, k=k, rates=rates)
                self.cache[key] = (groups * self.kernel_s.launches_s(p.launches),
                                   groups * launches_dynamic_j(p.launches))
            else:
                a = dict(it.attention or {})
                impl = a.pop("impl")
                a.setdefault("dtype", "bf16")  # as the time path prices it (KernelPricer)
                p = predict_attention(hw, impl, rates=rates, **a)
                self.cache[key] = (self.kernel_s.launches_s(p.launches), launches_dynamic_j(p.launches))
        return self.cache[key]


def mini_llama_sequence(layers: int, step: Step, hidden: int = 4096, heads: int = 32, ffn: int = 11008,
                        context: int = 2048) -> list[KernelItem]:
    """The kernels of ``campaigns/power.py:MiniLlama.forward`` (read from its code): per layer RMSNorm
    (HF-style, ``x.float()`` taken twice: 9 kernels), fused QKV GEMM, rotary on q and k (5 each),
    SDPA FLASH (prefill causal; decode over a fixed ``context`` cache), O projection, residual add,
    RMSNorm, fused gate/up GEMM, SiLU and mul on the strided halves, down GEMM, residual add."""
    t, d = step.tokens, hidden // heads
    q = t * hidden

    def g(cat: str, name: str, cls: str, read: float, write: float) -> KernelItem:
        return KernelItem(category=cat, name=name, glue=(cls, float(read), float(write)))

    def gemm(name: str, m: int, n: int, k: int) -> KernelItem:
        return KernelItem(category="gemm", name=name, gemm=(m, n, k, 1))

    def norm(tag: str) -> list[KernelItem]:
        return [g("norm", f"{tag}to_fp32_again", "unrolled", 2 * q, 4 * q), *rmsnorm_eager(t, hidden, tag)]
    seq_kv = step.seq_len if step.phase == "prefill" else context
    attn = KernelItem(category="attention", name="sdpa_flash", attention=dict(
        impl="flash2", batch=step.batch, heads=heads, kv_heads=heads, seq_q=step.seq_len, seq_kv=seq_kv,
        head_dim=d, causal=step.phase == "prefill"))
    layer = [*norm("norm1_"), gemm("qkv", t, 3 * hidden, hidden), *rotary_eager(q, t, d, "rope_q_"),
             *rotary_eager(q, t, d, "rope_k_"), attn, gemm("o_proj", t, hidden, hidden),
             g("elementwise", "residual_add1", "vec", 2 * q + 2 * q, 2 * q), *norm("norm2_"),
             gemm("gate_up", t, 2 * ffn, hidden), g("elementwise", "silu", "strided", 2 * t * ffn, 2 * t * ffn),
             g("elementwise", "mul", "strided", 4 * t * ffn, 2 * t * ffn), gemm("down", t, hidden, ffn),
             g("elementwise", "residual_add2", "vec", 4 * q, 2 * q)]
    return layer * layers


def predict_sequence(seq: list[KernelItem], host_mode: str, cal: DeviceCalibration, pricer: EnergyPricer,
                     stack: str | None, phase: str, layers: int, back_to_back: bool = False,
                     host_model=None) -> dict:
    """Wall time, GPU time and board energy of one step made of ``seq`` (launch order); ``stack`` names the
    per-layer host calibration, None for code without one (eager dispatch priced per kernel).
    ``back_to_back``: the steps ran as a loop without synchronisation between them (graph replays overlap
    their host launch with the previous replay, :func:`archsim.gpu.host.graph_wall_s`); ``host_model``: a
    :class:`archsim.gpu.host.HostModel` in place of the device calibration's."""
    from archsim.gpu.host import step_wall_s
    hm = host_model or cal.host

    def price(p: EnergyPricer) -> dict:
        priced = [p(it) for it in seq]
        times = [t for t, _ in priced]
        gpu = sum(times)
        if host_mode in ("eager", "cuda-graph"):
            wall = step_wall_s(times, [it.category for it in seq], host_mode, hm, stack, phase, layers, back_to_back)
        else:
            wall = gpu
        dyn = sum(e for _, e in priced)
        energy = dyn + p.power.static_w * wall
        return {"modeled_wall_s": wall, "modeled_gpu_s": gpu, "modeled_energy_j": energy,
                "modeled_power_w": energy / wall, "modeled_dynamic_j": dyn,
                "window_clock_fraction": p.power.clock_fraction}
    return at_window_limit(price, pricer)


def _row(base: dict, measured_j: float, measured_s: float, pred: dict, static_w: float) -> dict:
    out = {**base, "measured_energy_j": measured_j, "measured_s": measured_s,
           "measured_power_w": measured_j / measured_s, **pred}
    out["energy_error"] = (pred["modeled_energy_j"] - measured_j) / measured_j
    out["power_error"] = (pred["modeled_power_w"] - out["measured_power_w"]) / out["measured_power_w"]
    out["time_error"] = (pred["modeled_wall_s"] - measured_s) / measured_s
    # the power model alone: modelled dynamic energy plus static power over the measured step time
    alone = pred["modeled_dynamic_j"] + static_w * measured_s
    out["power_at_measured_time_error"] = (alone / measured_s - out["measured_power_w"]) / out["measured_power_w"]
    return out


#: MiniLlama widths when a row names none (the first campaigns ran the Llama-2-7B shape only)
MINI_LLAMA_DEFAULT = {"hidden": 4096, "heads": 32, "ffn": 11008}


#: widths of the host-width sweep's ``minillama-decode`` path (archsim/data/measurements/h200/h200-hw-paths-*)
MINILLAMA_HOST_WIDTHS = (256, 4096)


@functools.lru_cache(maxsize=4)
def minillama_host_line(hidden: int) -> tuple[float, float]:
    """(fixed s, s per layer) of an eager MiniLlama decode step's host time at the sweep width nearest ``hidden``
    (log scale; host cost is flat in width within 7-9 %, issue-16 host-width note): the point estimate."""
    from archsim.gpu.host import path_lines
    width = min(MINILLAMA_HOST_WIDTHS, key=lambda x: abs(math.log(x / max(1, hidden))))
    return path_lines("minillama-decode", width).line("point")


def host_factor(r: dict, path: str) -> float:
    """Host-cost multiplier of a power-campaign row's code path (:class:`archsim.gpu.host_speed.HostSpeed`) at the
    row's ``host_add_us`` (a host-speed probe given as an input: :func:`validate_power_csv` ``host_probe``), else
    at the host-speed calibration's point probe (the geometric mean of its two states)."""
    from archsim.gpu.host_speed import h200_host_speed
    add = r.get("host_add_us")
    return h200_host_speed().factor(path, float(add) if add not in (None, "") else None)


def _twin(r: dict) -> tuple:
    """Key pairing an eager model row with its CUDA-graph twin (same shape, phase, batch, lengths)."""
    return (r.get("model", ""), r.get("hidden", ""), r["phase"], int(r["batch"]), int(r["seq_q"]), int(r["seq_kv"]))


def _model_pred(r: dict, cal: DeviceCalibration, pricer: EnergyPricer) -> dict:
    """Prediction of a ``MiniLlama`` step row (any width; decode over a fixed cache or prefill)."""
    w = {k: int(r[k]) if r.get(k) else v for k, v in MINI_LLAMA_DEFAULT.items()}
    step = Step(phase=r["phase"], batch=int(r["batch"]), seq_len=int(r["seq_q"]),
                context=0 if r["phase"] == "prefill" else int(r["seq_kv"]))
    seq = mini_llama_sequence(int(r["layers"]), step, w["hidden"], w["heads"], w["ffn"], context=int(r["seq_kv"]))
    host = {"graph": "cuda-graph"}.get(r["mode"], r["mode"])
    # MiniLlama is its own code path (no profiler scopes, no sdpa_kernel context, plain tensors), not the
    # whole-model campaign's PlainLlama. Eager decode: its own per-layer host line, measured by the host-width
    # sweep (archsim.gpu.host.path_lines("minillama-decode") at the nearer measured width); prefill: the per-kernel
    # dispatch model. Nothing fitted to these rows.
    # The power campaigns run steps back to back inside each NVML window (no synchronisation between them).
    # Host speed (archsim.gpu.host_speed): the row's ``host_add_us`` probe when it names one, else the point probe
    # of the host-speed calibration; the eager host cost of the path x its factor (graph replays too: their launch).
    f = host_factor(r, f"minillama-{step.phase}")
    stack, hm = None, cal.host.scaled(f)
    if step.phase == "decode":
        stack = "minillama"
        fixed, per_layer = minillama_host_line(w["hidden"])
        hm = dataclasses.replace(hm, stack_layer={**hm.stack_layer, ("minillama", "decode"): (fixed * f,
                                                                                              per_layer * f)})
    return predict_sequence(seq, host, cal, pricer, stack, step.phase, int(r["layers"]), back_to_back=True,
                            host_model=hm)


def _model_regime(r: dict, graph_step: dict) -> str:
    """Regime of a measured ``MiniLlama`` row: host-bound when its eager step is over 1.5x its graph twin's."""
    ref = graph_step.get(_twin(r))
    host_bound = r["mode"] == "eager" and ref is not None and float(r["step_s"]) > HOST_BOUND_RATIO * ref
    return "host" if host_bound else ("compute" if r["phase"] == "prefill" else "memory")


def predict_row(r: dict, cal: DeviceCalibration, pricer: EnergyPricer, extra: dict | None = None
                ) -> tuple[dict, str | None] | None:
    """Prediction of one power-campaign row from its workload columns only (no measured column is read, except
    by an ``extra`` callable that classifies its own row): ``(prediction, regime)``, regime None for ``model``
    rows (classified against the measured graph twin), or None for a kind this module does not price."""
    from archsim.gpu.predict import predict_attention, predict_gemm
    kind = r.get("kind", "")
    if kind == "attention":
        p = predict_attention(cal.device, r["impl"], rates=cal.rates, batch=int(r["batch"]), heads=int(r["heads"]),
                              kv_heads=int(r["kv_heads"]), seq_q=int(r["seq_q"]), seq_kv=int(r["seq_kv"]),
                              head_dim=int(r["head_dim"]), causal=r["causal"] == "1", dtype=r["dtype"])
        dyn = launches_dynamic_j(p.launches)
        pred = {"modeled_wall_s": p.latency_s, "modeled_gpu_s": p.latency_s, "modeled_dynamic_j": dyn,
                "modeled_energy_j": dyn + pricer.power.static_w * p.latency_s}
        regime: str | None = "compute" if int(r["seq_q"]) > 1 else "memory"
    elif kind == "gemm_gap":  # the GEMM, then the host waits: one window for the controller (at_window_limit)
        # the step (campaigns/power_host.py:gemm_gap_row): torch.matmul, torch.cuda.synchronize, a host spin of
        # gap_s. Priced as a one-kernel eager step (archsim.gpu.host.eager_wall_s: the host's dispatch of the
        # GEMM, the per-kernel ``linear`` cost of the host microbenchmarks, then the kernel) plus the spin.
        from archsim.gpu.host import eager_wall_s

        def price(pr: EnergyPricer) -> dict:
            g = predict_gemm(cal.device, m=int(r["m"]), n=int(r["n"]), k=int(r["k"]), rates=pr.cal.rates)
            gpu = pr.kernel_s.launches_s(g.launches)
            wall = eager_wall_s([gpu], cal.host.per_kernel["linear"] * host_factor(r, "gemm-sync"),
                                cal.host.graph_gap_s) + float(r["gap_s"])
            dyn = launches_dynamic_j(g.launches)
            return {"modeled_wall_s": wall, "modeled_gpu_s": gpu, "modeled_dynamic_j": dyn,
                    "modeled_energy_j": dyn + pr.power.static_w * wall}
        pred = at_window_limit(price, pricer)
        regime = "host"
    elif kind == "model":
        pred, regime = _model_pred(r, cal, pricer), None
    elif extra and kind in extra:
        got = extra[kind](r)
        if got is None:
            return None
        pred, regime = got
    else:
        return None
    pred["modeled_power_w"] = pred["modeled_energy_j"] / pred["modeled_wall_s"]
    return pred, regime


def validate_power_csv(path: str | Path, cal: DeviceCalibration, extra: dict | None = None,
                       host_probe: bool | float = False) -> list[dict]:
    """Energy parity of the validation rows of one power campaign CSV. ``extra``: row kind -> a callable
    ``row -> (prediction dict, regime)`` or None (skip) for kinds this module does not price (HF GPT-2
    ``generate``: :func:`archsim.gpu.energy_host.generate_row`, whose pricing lives above this layer).
    ``host_probe``: True prices each row at the host-speed probe taken before its window (``add_before_us``, where
    the campaign recorded one), else at the run's own host-speed calibration row mapped to the probe
    (:func:`archsim.gpu.host_speed.run_probe_us`), else at the point; a number prices every row at that probe (us
    per eager ``add_``); False at the point probe (:mod:`archsim.gpu.host_speed`). The host's speed is an input
    measured by a microbenchmark, never the validation row's outcome."""
    every = read_power_csv(path)
    rows = [r for r in every if r["set"] == "validation"]
    if host_probe is True:
        from archsim.gpu.host_speed import run_probe_us
        own = run_probe_us(every)
        run = "" if own is None else repr(own[0])
        rows = [{**r, "host_add_us": r.get("add_before_us") or run} for r in rows]
    elif host_probe is not False:
        rows = [{**r, "host_add_us": str(float(host_probe))} for r in rows]
    pricer = EnergyPricer(cal)
    graph_step = {_twin(r): float(r["step_s"]) for r in rows if r.get("kind") == "model" and r.get("mode") == "graph"}
    out = []
    for r in rows:
        got = predict_row(r, cal, pricer, extra)
        if got is None:
            continue
        pred, regime = got
        base = {"source": Path(path).name, "bench": r["bench"], "window_s": float(r["wall_s"]),
                "regime": regime or _model_regime(r, graph_step)}
        out.append(_row(base, float(r["energy_per_step_j"]), float(r["step_s"]), pred, pricer.power.static_w))
    return out


def validate_whole(whole_csv: str | Path, cal: DeviceCalibration, host_probe: bool = False) -> list[dict]:
    """Energy parity of the whole-model campaign's rows that carry NVML energy; ``host_probe``: rows with the probe
    taken before their window (``add_before_us``, the energy sets) at that host speed
    (:func:`archsim.gpu.host_speed.whole_model_host_factor`), else at the device calibration's."""
    from archsim.gpu.wholemodel import IMPL_STACK, MODE_HOST, WHOLE_REQUIRED, _read, host_stack, shape_of
    pricer = EnergyPricer(cal)
    out = []
    for r in _read(Path(whole_csv), WHOLE_REQUIRED):
        if r["ok"] != "1" or r["impl"] not in IMPL_STACK or r["mode"] not in MODE_HOST or not r.get("energy_j"):
            continue
        if float(r["energy_j"]) <= 0.0:  # the counter did not advance over the window (granularity)
            continue
        model: ModelShape = shape_of(r)
        stack, host = IMPL_STACK[r["impl"]], MODE_HOST[r["mode"]]
        step = Step(phase=r["phase"], batch=int(r["batch"]), seq_len=int(r["seq_len"]), context=int(r["context"]))
        # the time path's lowering and host calibration (wholemodel.predict_step): the step as launched in this
        # host mode (HF under capture copies K/V for GQA, stacks.sequence) and the stack's tiny-model host line
        hm = None
        if host_probe and r.get("add_before_us"):
            from archsim.gpu.host_speed import whole_model_host_factor
            hm = cal.host.scaled(whole_model_host_factor(cal, float(r["add_before_us"])))
        pred = predict_sequence(sequence(model, step, stack, host), host, cal, pricer, host_stack(model, stack),
                                step.phase, model.layers, host_model=hm)
        reps, wall, gpu = float(r["reps"]), float(r["wall_s"]), float(r["kernel_sum_s"])
        window = float(r["energy_window_s"])
        measured_j = float(r["energy_j"]) / reps
        regime = "host" if wall > HOST_BOUND_RATIO * gpu else ("compute" if step.phase == "prefill" else "memory")
        out.append(_row({"source": Path(whole_csv).name, "bench": f"{r['run_id']} {r['model']} {stack}/{host} "
                         f"{step.phase} b{step.batch} s{step.seq_len} ctx{step.context} L{model.layers}",
                         "window_s": window, "regime": regime}, measured_j, window / reps, pred, pricer.power.static_w))
    return out


def mean_abs(rows: list[dict], key: str) -> float:
    """Mean of ``|row[key]|`` over ``rows`` (a MAPE when ``key`` is a relative error); 0 for no rows."""
    return sum(abs(r[key]) for r in rows) / max(1, len(rows))


def summarise(rows: list[dict]) -> dict:
    """Energy and average-power MAPE overall and per regime; whole-model rows split by window length."""
    def stats(sub: list[dict]) -> dict:
        if not sub:
            return {"n": 0, "energy_mape": math.nan, "power_mape": math.nan, "max_energy_error": math.nan}
        return {"n": len(sub), "energy_mape": mean_abs(sub, "energy_error"), "power_mape": mean_abs(sub, "power_error"),
                "power_at_measured_time_mape": mean_abs(sub, "power_at_measured_time_error"),
                "time_mape": mean_abs(sub, "time_error"), "max_energy_error": max(abs(r["energy_error"]) for r in sub)}
    long = [r for r in rows if r["window_s"] >= SHORT_WINDOW_S]
    short = [r for r in rows if r["window_s"] < SHORT_WINDOW_S]
    regimes = ("compute", "memory", "host")
    return {"long_windows": stats(long), "short_windows": stats(short),
            "by_regime": {g: stats([r for r in long if r["regime"] == g]) for g in regimes},
            "short_by_regime": {g: stats([r for r in short if r["regime"] == g]) for g in regimes}}
