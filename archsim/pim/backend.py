"""The ``pim`` backend: bank-level PIM devices run GEMV-shaped operators on the command model.

For each operator:

- :class:`~archsim.operators.Gemm` (m x k) @ (k x n): ``m`` GEMVs with an ``n x k`` weight
  matrix each — bank-level PIM has no weight reuse across tokens, so every token streams the
  weights through the MAC units again (this is why PIM wins decode and loses prefill);
- :class:`~archsim.operators.MoeExperts`: ``tokens`` GEMVs of the expert's shape;
- attention (fused or its unfused parts): per (batch, head, query) a scores GEMV over the K
  cache (``seq_kv x head_dim``) and a context GEMV over V^T (``head_dim x seq_kv``), in-bank
  (KV cache resident in PIM); a fused attention's softmax runs on the vector unit (roofline);
- everything else (norms, elementwise, softmax, copies): not covered — the driver's roofline of
  the device's vector unit and external bandwidth, named in the notes.

Causal masks are not exploited in prefill attention (every query scans the full cache).
Logic-die PIM devices (placement ``logic_die``, Duplex's Logic-PIM) are costed entirely by the
roofline on their TSV bandwidth and logic-die compute (:mod:`archsim.pim.logic_die`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import singledispatch
from typing import ClassVar

from archsim.backends import Backend
from archsim.backends.roofline import evaluate_op
from archsim.operators import (
    Attention,
    AttentionContext,
    AttentionScores,
    Gemm,
    MoeExperts,
    Operator,
    Role,
    Softmax,
)
from archsim.pim import device as pimdev
from archsim.pim import gemv
from archsim.result import OpResult
from archsim.schemas.hardware import PimDevice


@singledispatch
def gemv_calls(op: Operator) -> list[tuple[int, int, int]]:
    """(count, rows, cols) of the GEMVs one execution of ``op`` performs; [] when it is no GEMV."""
    return []


@gemv_calls.register
def _(op: Gemm) -> list[tuple[int, int, int]]:
    return [(op.m * op.batch, op.n, op.k)]


@gemv_calls.register
def _(op: MoeExperts) -> list[tuple[int, int, int]]:
    return [(op.tokens, op.n, op.k)]


@gemv_calls.register
def _(op: Attention) -> list[tuple[int, int, int]]:
    per = op.bh * op.seq_q
    return [(per, op.seq_kv, op.head_dim), (per, op.head_dim, op.seq_kv)]


@gemv_calls.register
def _(op: AttentionScores) -> list[tuple[int, int, int]]:
    return [(op.bh * op.seq_q, op.seq_kv, op.head_dim)]


@gemv_calls.register
def _(op: AttentionContext) -> list[tuple[int, int, int]]:
    return [(op.bh * op.seq_q, op.head_dim, op.seq_kv)]


@dataclass(frozen=True)
class PimView:
    device: PimDevice
    bank_pim: pimdev.BankPim | None  # None for logic-die placement (roofline only)


def evaluate_pim_op(op: Operator, dev: PimDevice, pim: pimdev.BankPim) -> OpResult | None:
    """One execution of ``op`` on the bank-level command model, or None when it is no GEMV."""
    calls = gemv_calls(op)
    if not calls:
        return None
    time_s = energy = dram_bytes = 0.0
    parts: dict[str, float] = {}
    shares: dict[str, float] = {}
    for count, rows, cols in calls:
        g = gemv.timed(pim, rows, cols)
        time_s += count * g.time_s
        energy += count * g.energy_j
        for k, v in g.energy_by_part.items():
            parts[k] = parts.get(k, 0.0) + count * v
        for k, v in g.time_share.items():
            shares[f"pim:{k}"] = shares.get(f"pim:{k}", 0.0) + count * v * g.time_s
        dram_bytes += count * rows * cols * pim.dtype_bytes
    if isinstance(op, Attention):  # softmax of the scores on the vector unit
        sm = Softmax(name=op.name + ".softmax", role=Role.ATTN_SOFTMAX, phase=op.phase, dtype=op.dtype,
                     rows=op.bh * op.seq_q, cols=op.seq_kv)
        r = evaluate_op(sm, dev)
        time_s += r.time_s
        energy += r.energy_j
        parts["softmax"] = r.energy_j
        shares["vector:softmax"] = r.time_s
    work = op.work()
    return OpResult(name=op.name, kind=op.kind, phase=op.phase, count=op.count, dtype=op.dtype,
                    matrix_flops=work.matrix_flops, vector_flops=work.vector_flops,
                    transcendentals=work.transcendentals, useful_flops=work.useful_flops,
                    bytes_by_level={dev.offchip_name: dram_bytes}, time_s=time_s, time_by_resource=shares,
                    bound="pim:gemv", energy_j=energy, energy_by_part=parts, shape=op.shape(), fused=op.fused)


class PimBackend(Backend):
    name: ClassVar[str] = "pim"
    families: ClassVar[tuple[str, ...]] = ("pim",)
    priority: ClassVar[int] = 10
    description: ClassVar[str] = "bank-level PIM: cycle-exact DRAM command streams for GEMV; logic-die PIM roofline"

    def prepare(self, hardware: PimDevice) -> PimView:
        bank = None if hardware.pim.placement == "logic_die" else pimdev.resolve(hardware)
        return PimView(hardware, bank)

    def evaluate(self, op: Operator, view: PimView) -> OpResult | None:
        if view.bank_pim is None:
            return evaluate_op(op, view.device)
        return evaluate_pim_op(op, view.device, view.bank_pim)

    def notes(self, view: PimView) -> list[str]:
        if view.bank_pim is None:
            return ["pim (logic die): roofline on the TSV bandwidth and logic-die compute; DRAM row timing below "
                    "the TSVs ignored"]
        return ["pim: GEMV-shaped operators on the bank-level command model (engine DRAM gates); vector operators "
                "on the roofline of the device's vector unit",
                "bytes_<dram> counts the bytes streamed through the in-bank MAC units"]
