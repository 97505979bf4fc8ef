"""The ``pim`` backend: bank-level PIM devices run GEMV-shaped operators on the command model.

For each lowered operator:

- ``gemm`` (m x k) @ (k x n): ``m`` GEMVs with an ``n x k`` weight matrix each — bank-level PIM
  has no weight reuse across tokens, so every token streams the weights through the MAC units
  again (this is why PIM wins decode and loses prefill);
- ``moe_experts``: ``tokens`` GEMVs of the expert's shape;
- ``attention`` (fused or not) in decode/prefill: per (batch, head, query) a scores GEMV over
  the K cache (``seq_kv x head_dim``) and a context GEMV over V^T (``head_dim x seq_kv``), both
  in-bank (KV cache resident in PIM); the softmax runs on the device's vector unit (roofline);
- everything else (norms, activations, residuals, softmax): the roofline model of the device's
  vector unit and external bandwidth, marked in the notes.

Causal masks are not exploited in prefill attention (every query scans the full cache).
Logic-die PIM devices (placement ``logic_die``) are evaluated by :mod:`archsim.pim.logic_die`.
"""

from __future__ import annotations

from archsim.backends import Backend, register_backend
from archsim.backends.analytical import peaks
from archsim.backends.roofline import evaluate_op, op_work
from archsim.ops import Op
from archsim.pim import device as pimdev
from archsim.pim import gemv
from archsim.result import OpResult, Result
from archsim.schemas.hardware import PimDevice


def _gemv_ops(op: Op) -> list[tuple[int, int, int]]:
    """(count, rows, cols) of the GEMVs one execution of ``op`` performs, or [] if none."""
    s = op.shape
    if op.kind == "gemm":
        return [(s["m"], s["n"], s["k"])]
    if op.kind == "moe_experts":
        return [(s["tokens"], s["n"], s["k"])]
    if op.kind in ("attention", "attention_scores", "attention_context"):
        per = s["batch"] * s["heads"] * s["seq_q"]
        out = []
        if op.kind in ("attention", "attention_scores"):
            out.append((per, s["seq_kv"], s["head_dim"]))
        if op.kind in ("attention", "attention_context"):
            out.append((per, s["head_dim"], s["seq_kv"]))
        return out
    return []


def evaluate_pim_op(op: Op, dev: PimDevice, pim: pimdev.BankPim) -> OpResult:
    gemvs = _gemv_ops(op)
    if not gemvs:
        return evaluate_op(op, dev)
    time_s = energy = 0.0
    parts: dict[str, float] = {}
    shares: dict[str, float] = {}
    dram_bytes = 0.0
    for count, rows, cols in gemvs:
        g = gemv.timed(pim, rows, cols)
        time_s += count * g.time_s
        energy += count * g.energy_j
        for k, v in g.energy_by_part.items():
            parts[k] = parts.get(k, 0.0) + count * v
        for k, v in g.time_share.items():
            shares[f"pim:{k}"] = shares.get(f"pim:{k}", 0.0) + count * v * g.time_s
        dram_bytes += count * rows * cols * pim.dtype_bytes
    if op.kind == "attention":  # softmax of the scores on the vector unit
        sm = Op(op.name + ".softmax", "softmax", op.phase,
                {"rows": op.shape["batch"] * op.shape["heads"] * op.shape["seq_q"], "cols": op.shape["seq_kv"]},
                op.dtype)
        r = evaluate_op(sm, dev)
        time_s += r.time_s
        energy += r.energy_j
        parts["softmax"] = r.energy_j
        shares["vector:softmax"] = r.time_s
    work = op_work(op)
    return OpResult(name=op.name, kind=op.kind, phase=op.phase, count=op.count, dtype=op.dtype,
                    matrix_flops=work.matrix_flops, vector_flops=work.vector_flops,
                    transcendentals=work.transcendentals, useful_flops=work.useful_flops,
                    bytes_by_level={dev.offchip_name: dram_bytes}, time_s=time_s, time_by_resource=shares,
                    bound="pim:gemv", energy_j=energy, energy_by_part=parts, shape=dict(op.shape), fused=op.fused)


def run_pim(workload_name: str, dev: PimDevice, ops: list[Op], tokens: dict[str, int]) -> Result:
    if dev.pim.placement == "logic_die":
        from archsim.pim.logic_die import run_logic_die

        return run_logic_die(workload_name, dev, ops, tokens)
    pim = pimdev.resolve(dev)
    return Result(workload=workload_name, hardware=dev.name, family="pim", backend="pim",
                  ops=[evaluate_pim_op(op, dev, pim) for op in ops], peaks=peaks(dev), tokens_by_phase=tokens,
                  notes=["pim: GEMV-shaped operators on the bank-level command model (engine DRAM gates); "
                         "vector operators on the roofline of the device's vector unit",
                         "bytes_<dram> counts the bytes streamed through the in-bank MAC units"])


register_backend(Backend("pim", ("pim",), 10, run_pim,
                         "bank-level PIM: cycle-exact DRAM command streams for GEMV; logic-die PIM roofline"))
