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
from archsim.backends.roofline import evaluate_op, op_traffic
from archsim.operators import Attention, MoeExperts, Operator
from archsim.result import OpResult
from archsim.schemas.hardware import DeviceBase
from archsim.schemas.workload import Workload
from archsim.serving.cost import BackendCost, Buckets, round_up

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

    def __init__(self, workload: Workload, hardware: Any, *, logic_pim: DeviceBase | str = "duplex-logic-pim",
                 timer: Timer = evaluate_op, co_process: bool = False, buckets: Buckets | None = None) -> None:
        hw = presets.load_hardware(hardware) if isinstance(hardware, str) else hardware
        super().__init__(workload, hw, backend="roofline", buckets=buckets)
        pim = presets.load_hardware(logic_pim) if isinstance(logic_pim, str) else logic_pim
        self.placement = PlacementBackend(pim, timer, co_process=co_process)
        self.backend = self.placement  # type: ignore[assignment]  # it memoises its own answers

    def experts_on(self, rows: int) -> str | None:
        """Where the MoE experts of an iteration with ``rows`` token rows run (None: the model has no MoE)."""
        self.tokens_s(rows)  # costs (and places) the per-token operators at the bucketed row count
        bucketed = rows if rows <= 256 else round_up(rows, self.buckets.prefill_bucket)
        _, ops = self._lowered({"phase": "decode", "batch": bucketed, "context_len": 1, "steps": 1})
        moe = [op for op in ops if op.kind == "moe_experts"]
        return self.placement.placed[moe[0]] if moe else None


def gpu_only_cost(workload: Workload, hardware: Any, *, buckets: Buckets | None = None) -> BackendCost:
    """The baseline: the same iteration composition, every operator on the GPU's roofline."""
    hw = presets.load_hardware(hardware) if isinstance(hardware, str) else hardware
    return BackendCost(workload, hw, backend="roofline", buckets=buckets)
