"""Duplex-style per-operator device choice on the serving simulator: every operator of every iteration runs
on the xPU or on the Logic-PIM of the same device, whichever finishes it first.

A Duplex device (Yun et al., MICRO 2024, arXiv 2409.01141) is an xPU (here the GPU of the deployment) and a
Logic-PIM on the logic dies of its HBM stacks (preset ``duplex-logic-pim``) sharing one memory. Under
continuous batching an iteration's batch composition sets each operator's Op/B: the MoE experts' tokens per
expert grow with the rows of the iteration (decode tokens + prefill chunk tokens), decode attention keeps
the GQA group's Op/B whatever the batch, a prefill chunk's attention is compute-heavy. The choice is made
per operator *shape*, so it changes from iteration to iteration with the composition.

:class:`DuplexCost` is :class:`archsim.serving.cost.BackendCost` (the same fused-iteration composition,
lowering, tensor-parallel shards and collectives) with its backend replaced by :class:`PlacementBackend`:
each operator is timed on both devices (the roofline of :mod:`archsim.backends.roofline` by default, the
same model as the GPU-only baseline :func:`gpu_only_cost`) and the faster answer is kept. The GPU-only
baseline is ``BackendCost(..., backend="roofline")``: the two differ only by the placement.

``co_process=True`` adds Duplex's expert and attention co-processing in its simplest form: an attention or
MoE-experts operator may be split across both devices so that they finish together, bounded by the DRAM
bandwidth both share (:meth:`PlacementBackend._split_s`). Other operators never overlap (a layer's operators
depend on each other).

:func:`pair_duplex` is the one place a deployment becomes Duplex devices (``archsim serve --placement``, sweeps'
``serving.placement`` and ``archsim reproduce duplex`` all call it): it checks that every device of the
deployment is a GPU on the HBM the Logic-PIM preset sits on (same memory standard and capacity, so the KV
cache of the GPU is the KV cache of the pair) and builds the :class:`DuplexCost`. A DuplexCost also keeps a
tally of the iterations it priced (:meth:`DuplexCost.placement_summary`): the share of their time spent in
operators placed on the Logic-PIM (or split across both), and the operator shapes by device.

Stated simplifications: no hand-off cost between the xPU and the Logic-PIM (they share the HBM: no copy;
synchronisation is not charged); an even split of work by the time ratio (Duplex splits experts by their
token counts and attention by requests: granularity losses are not charged); the Logic-PIM's DRAM timing
below the TSVs is not modelled (its roofline sees the TSV bandwidth).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from archsim import presets
from archsim.backends import Backend
from archsim.backends.driver import run_operators
from archsim.backends.roofline import evaluate_op, op_traffic
from archsim.errors import ConfigError
from archsim.lowering import tokens_by_phase
from archsim.operators import Attention, Collective, MoeExperts, Operator
from archsim.result import OpResult
from archsim.schemas.hardware import DeviceBase, SystemSpec
from archsim.schemas.workload import Workload
from archsim.serving.cost import BackendCost, Buckets, _part, round_up
from archsim.serving.schedulers import Iteration

#: The Logic-PIM preset a Duplex device pairs with its GPU.
LOGIC_PIM = "duplex-logic-pim"

#: Operators Duplex co-processes (split across the xPU and the Logic-PIM): attention by requests, experts by expert.
_SPLITTABLE = (Attention, MoeExperts)

#: A timer: one execution of an operator on a device (the roofline by default; tests give known costs).
Timer = Callable[[Operator, DeviceBase], OpResult]


class PlacementBackend(Backend):
    """Times each operator on the xPU (the deployment's device) and on ``logic_pim``; keeps the faster.

    ``placed`` maps every operator shape evaluated to ``"xpu"``, ``"logic_pim"`` (ties go to the xPU) or, with
    ``co_process``, ``"both"`` (:meth:`_split_s`); answers are memoised per operator (frozen dataclasses)."""

    name = "duplex-placement"
    families = ("gpu",)

    def __init__(self, logic_pim: DeviceBase, timer: Timer = evaluate_op, *, co_process: bool = False) -> None:
        self.logic_pim = logic_pim
        self.timer = timer
        self.co_process = co_process
        self.placed: dict[Operator, str] = {}
        self._memo: dict[Operator, OpResult] = {}

    def evaluate(self, op: Operator, view: DeviceBase) -> OpResult:
        if op not in self._memo:
            on_xpu = self.timer(op, view)
            on_pim = self.timer(op, self.logic_pim)
            pim_faster = on_pim.time_s < on_xpu.time_s
            best = on_pim if pim_faster else on_xpu
            self.placed[op] = "logic_pim" if pim_faster else "xpu"
            if self.co_process and isinstance(op, _SPLITTABLE):
                both = self._split_s(op, on_xpu.time_s, on_pim.time_s)
                if both < best.time_s:
                    best = replace(best, time_s=both)
                    self.placed[op] = "both"
            self._memo[op] = best
        return self._memo[op]

    def _split_s(self, op: Operator, t_xpu: float, t_pim: float) -> float:
        """Co-processing: ``op`` split between the two devices so that both finish together (attention by
        requests, experts by expert), t = t_x t_p / (t_x + t_p), but no faster than the whole operator's DRAM
        bytes over the Logic-PIM's TSV bandwidth — ASSUMPTION: the stack's DRAM delivers no more than that to
        both devices together (the xPU's reads go through the same DRAM dies)."""
        levels = list(self.logic_pim.memory.values())
        dram_s = op_traffic(op, 0, levels).total / self.logic_pim.offchip.bandwidth_bytes_per_s
        return max(t_xpu * t_pim / (t_xpu + t_pim), dram_s)

    def notes(self, view: Any) -> list[str]:
        how = ("attention and MoE experts split across both when that is faster (co-processing)"
               if self.co_process else "no overlap")
        return [f"duplex placement: each operator on the xPU or the Logic-PIM, whichever is faster; {how}"]

    def shares(self) -> dict[str, Counter[str]]:
        """For each ``kind:phase`` of operator (``attention:prefill`` is a chunk's attention, ``attention:decode``
        the decode tokens'; the per-token operators are lowered as decode rows), how many distinct shapes ran
        on each device."""
        out: dict[str, Counter[str]] = {}
        for op, where in self.placed.items():
            out.setdefault(f"{op.kind}:{op.phase}", Counter())[where] += 1
        return out


class DuplexCost(BackendCost):
    """Seconds per iteration on Duplex devices: ``workload``'s deployment on ``hardware`` (a GPU, or a
    tensor-parallel group of a system's GPUs), each GPU paired with ``logic_pim`` (default: the
    ``duplex-logic-pim`` preset)."""

    def __init__(self, workload: Workload, hardware: Any, *, logic_pim: DeviceBase | str = LOGIC_PIM,
                 timer: Timer = evaluate_op, co_process: bool = False, buckets: Buckets | None = None) -> None:
        hw = presets.load_hardware(hardware) if isinstance(hardware, str) else hardware
        super().__init__(workload, hw, backend="roofline", buckets=buckets)
        pim = presets.load_hardware(logic_pim) if isinstance(logic_pim, str) else logic_pim
        self.placement = PlacementBackend(pim, timer, co_process=co_process)
        self.backend = self.placement  # type: ignore[assignment]  # it memoises its own answers
        self._share = {where: _ShareView(self, where) for where in ("logic_pim", "both")}
        self.tally = {"iterations": 0, "busy_s": 0.0, "logic_pim_s": 0.0, "both_s": 0.0}

    def __call__(self, it: Iteration) -> float:
        """The iteration's seconds; also adds them, and the seconds of its operators placed on the Logic-PIM
        (and split across both devices), to :attr:`tally` (since construction)."""
        seconds = super().__call__(it)
        self.tally["iterations"] += 1
        self.tally["busy_s"] += seconds
        self.tally["logic_pim_s"] += self._share["logic_pim"](it)
        self.tally["both_s"] += self._share["both"](it)
        return seconds

    def placement_summary(self) -> dict[str, Any]:
        """summary.json's ``placement`` figures over the iterations priced so far: ``off_gpu_time_share`` (their
        seconds in operators placed on the Logic-PIM / all their seconds, collectives included),
        ``co_processed_time_share`` (in operators split across both), and the distinct operator shapes
        placed on each device, by ``kind:phase``."""
        t = self.tally
        busy = t["busy_s"]
        return {"devices": {"xpu": f"{self.device.name} (roofline)",
                            "logic_pim": f"{self.placement.logic_pim.name} (roofline)"},
                "co_process": self.placement.co_process, "iterations": t["iterations"],
                "off_gpu_time_share": t["logic_pim_s"] / busy if busy else 0.0,
                "co_processed_time_share": t["both_s"] / busy if busy else 0.0,
                "operator_shapes": {k: dict(sorted(v.items())) for k, v in sorted(self.placement.shares().items())}}

    def experts_on(self, rows: int) -> str | None:
        """Where the MoE experts of an iteration with ``rows`` token rows run (None: the model has no MoE)."""
        self.tokens_s(rows)  # costs (and places) the per-token operators at the bucketed row count
        bucketed = rows if rows <= 256 else round_up(rows, self.buckets.prefill_bucket)
        _, ops = self._lowered({"phase": "decode", "batch": bucketed, "context_len": 1, "steps": 1})
        moe = [op for op in ops if op.kind == "moe_experts"]
        return self.placement.placed[moe[0]] if moe else None


class _Placed(Backend):
    """The placement's answers, with zero time for every operator not placed ``where`` (for the time shares)."""

    name = "duplex-placement-share"
    families = ("gpu",)

    def __init__(self, placement: PlacementBackend, where: str) -> None:
        self.placement = placement
        self.where = where

    def evaluate(self, op: Operator, view: DeviceBase) -> OpResult:
        result = self.placement.evaluate(op, view)
        return result if self.placement.placed[op] == self.where else replace(result, time_s=0.0)


class _ShareView(BackendCost):
    """``cost``'s composition, counting only the operators placed ``where`` (collectives stay on the GPU: none
    counted). It shares the placement's memo: no operator is timed twice."""

    def __init__(self, cost: DuplexCost, where: str) -> None:  # noqa: D107 - a view: no BackendCost set-up
        self.__dict__.update({k: v for k, v in vars(cost).items() if k not in ("_share", "tally")})
        self.backend = _Placed(cost.placement, where)  # type: ignore[assignment]
        self._phase_memo = {}

    def phase_seconds(self, phase: dict[str, Any], part: str | None = None) -> float:
        key = (tuple(sorted(phase.items())), part)
        if key not in self._phase_memo:
            wl, ops = self._lowered(phase)
            compute = [op for op in ops if not isinstance(op, Collective) and (part is None or _part(op) == part)]
            self._phase_memo[key] = (run_operators(self.backend, wl.name, self.device, compute,
                                                   tokens_by_phase(wl, self.model)).latency_s if compute else 0.0)
        return self._phase_memo[key]


def check_pairing(hardware: Any, logic_pim: DeviceBase, *, key_path: str = "placement") -> None:
    """A Duplex pair shares one HBM: every device of ``hardware``'s deployment must be a GPU whose DRAM has the
    memory standard and capacity of ``logic_pim``'s (the preset is the Logic-PIM of one such HBM). A system
    that offloads attention to memory devices (role ``attention``) is refused: it has a placement already."""
    if isinstance(hardware, SystemSpec):
        if any(ref.role == "attention" for ref in hardware.devices.values()):
            raise ConfigError.single(f"{hardware.name} offloads attention to its memory devices already (Lamina: "
                                     "cost model archsim.serving.offload_cost.OffloadCost); per-operator placement "
                                     "pairs plain GPUs with a Logic-PIM: use placement gpu", key_path=key_path)
        from archsim.capacity import _device

        device: Any = _device(hardware)[0]
    else:
        device = hardware
    if device.family != "gpu":
        raise ConfigError.single(f"per-operator placement pairs each GPU with a Logic-PIM; {device.name} is a "
                                 f"{device.family} device", key_path=key_path)
    pim = [m for m in logic_pim.memory.values() if m.kind == "dram"]
    dram = [m for m in device.memory.values() if m.kind == "dram"]
    if not pim or not dram or (getattr(dram[0], "standard", None), dram[0].capacity_bytes) != (
            getattr(pim[0], "standard", None), pim[0].capacity_bytes):
        have = f"{getattr(dram[0], 'standard', None)} {dram[0].capacity_bytes / 1e9:g} GB" if dram else "no DRAM"
        want = f"{getattr(pim[0], 'standard', None)} {pim[0].capacity_bytes / 1e9:g} GB" if pim else "no DRAM"
        raise ConfigError.single(f"the {logic_pim.name} preset is the Logic-PIM of a {want} HBM; {device.name} "
                                 f"has {have} (no Logic-PIM preset for it)", key_path=key_path)


def pair_duplex(workload: Workload, hardware: Any, *, co_process: bool = False, logic_pim: DeviceBase | str = LOGIC_PIM,
                timer: Timer = evaluate_op, buckets: Buckets | None = None, key_path: str = "placement") -> DuplexCost:
    """Duplex devices: every GPU of ``hardware``'s deployment (one device, or a tensor-parallel group of a
    system's GPUs) paired with ``logic_pim`` on its HBM (:func:`check_pairing`); the KV cache is the GPU's."""
    hw = presets.load_hardware(hardware) if isinstance(hardware, str) else hardware
    pim = presets.load_hardware(logic_pim) if isinstance(logic_pim, str) else logic_pim
    check_pairing(hw, pim, key_path=key_path)
    return DuplexCost(workload, hw, logic_pim=pim, timer=timer, co_process=co_process, buckets=buckets)


def gpu_only_cost(workload: Workload, hardware: Any, *, buckets: Buckets | None = None) -> BackendCost:
    """The baseline: the same iteration composition, every operator on the GPU's roofline."""
    hw = presets.load_hardware(hardware) if isinstance(hardware, str) else hardware
    return BackendCost(workload, hw, backend="roofline", buckets=buckets)
