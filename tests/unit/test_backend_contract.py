"""Every registered backend, the same small workloads, the invariants every backend promises.

For each backend and each hardware preset of a family it serves:
- positive, finite time and energy for every operator;
- time >= the operator's own analytical bound at the device's peaks (max of matrix FLOPs / matrix
  peak, vector FLOPs / vector peak, off-chip bytes / off-chip bandwidth) — no backend beats physics;
- bytes conserved: a GEMM's off-chip bytes are at least its weights (every backend must read them
  once per execution);
- every operator the backend does not cover is named in one fallback note (the driver's);
- the Result carries a timeline with one slice per operator.
"""

from __future__ import annotations

import math

import pytest

from archsim import presets
from archsim.backends import Backend, backends, register_backend
from archsim.backends.driver import run_operators
from archsim.guards import level_peak
from archsim.lowering import lower, tokens_by_phase
from archsim.operators import Copy, Gemm, Operator, Role
from archsim.result import OpResult
from archsim.schemas.workload import Workload

#: One small decoder (MHA + GQA variants) and one explicit-layers workload: small enough for every device.
SMALL_MODEL = {"kind": "model", "name": "tiny", "arch": "decoder", "num_layers": 2, "hidden_size": 256,
               "num_heads": 4, "num_kv_heads": 2, "ffn_hidden_size": 512, "ffn_kind": "gated_silu", "norm": "rmsnorm",
               "vocab_size": 1000, "max_seq_len": 1024}
WORKLOADS = {
    "tiny-prefill-decode": {"kind": "workload", "name": "tiny", "model": SMALL_MODEL, "dtype": "bf16",
                            "phases": [{"phase": "prefill", "batch": 2, "seq_len": 128},
                                       {"phase": "decode", "batch": 2, "context_len": 128, "steps": 2}]},
    "layers-naive": {"kind": "workload", "name": "layers", "dtype": "bf16", "algorithm": {"attention": "naive"},
                     "layers": [{"op": "gemm", "name": "proj", "m": 256, "n": 256, "k": 256},
                                {"op": "attention", "name": "attn", "batch": 1, "heads": 4, "seq_q": 128,
                                 "seq_kv": 128, "head_dim": 64, "causal": True}]},
}
HARDWARE = {"gpu": "h100-sxm", "pim": "aim-gddr6", "fpga": "zcu102", "accelerator": "fusemax-array"}
#: A dtype each device has rates for (the ZCU102 design is fixed point; AiM computes in bf16).
DTYPE = {"gpu": "bf16", "pim": "bf16", "fpga": "int16", "accelerator": "bf16"}


def _cases():
    for name, cls in sorted(backends().items()):
        for family in cls.families:
            for wl in WORKLOADS:
                yield pytest.param(name, family, wl, id=f"{name}-{HARDWARE[family]}-{wl}")


def _analytical_bound(op: Operator, r: OpResult, hw) -> float:
    c = hw.compute
    bounds = [0.0]
    matrix = c.matrix_flops_per_s.get(op.dtype) or max(c.matrix_flops_per_s.values(), default=0.0)
    if matrix and r.matrix_flops:
        bounds.append(r.matrix_flops / matrix)
    vector = max(c.vector_flops_per_s.values(), default=0.0)
    if vector and r.vector_flops:
        bounds.append(r.vector_flops / vector)
    offchip = hw.offchip_name
    if offchip in r.bytes_by_level:  # the level's peak (for bank PIM: the in-bank operand rate, archsim.guards)
        bounds.append(r.bytes_by_level[offchip] / level_peak(hw, offchip))
    return max(bounds)


@pytest.mark.parametrize(("backend", "family", "workload"), list(_cases()))
def test_backend_contract(backend, family, workload):
    hw = presets.load_hardware(HARDWARE[family])
    wl = Workload.model_validate(WORKLOADS[workload] | {"dtype": DTYPE[family]})
    model = presets.resolve_model(wl)
    ops = lower(wl, model)
    chosen = backends()[backend]()
    result = run_operators(chosen, wl.name, hw, ops, tokens_by_phase(wl, model))
    assert result.backend == backend and len(result.ops) == len(ops)
    fallback_notes = [n for n in result.notes if "roofline used for operators" in n]
    assert len(fallback_notes) <= 1
    for op, r in zip(ops, result.ops, strict=True):
        assert r.name == op.name and r.kind == op.kind and r.count == op.count
        if r.bound == "fused":  # costed inside a neighbouring operator by this backend (and said so)
            assert r.time_s == 0 and r.energy_j == 0, r
        else:
            assert math.isfinite(r.time_s) and r.time_s > 0, r
            assert math.isfinite(r.energy_j) and r.energy_j > 0, r
        assert r.time_s >= _analytical_bound(op, r, hw) * (1 - 1e-9), (op.name, r.time_s)
        if isinstance(op, Gemm):
            weights = op.k * op.n * op.batch * op.elem_bytes
            assert r.bytes_by_level.get(hw.offchip_name, 0.0) >= weights * (1 - 1e-9), (op.name, r.bytes_by_level)
    slices = [e for e in result.timeline or [] if e.get("ph") == "X" and e.get("pid") == 1]
    assert [e["name"] for e in slices] == [o.name for o in result.ops]


class _GemmOnly(Backend):
    """A backend that covers GEMMs only (and claims to cover nothing else): the driver's fallback."""

    name = "test-gemm-only"
    families = ("gpu",)
    priority = -100

    def evaluate(self, op, view):
        from archsim.backends.roofline import evaluate_op
        from archsim.operators import Gemm

        return evaluate_op(op, view) if isinstance(op, Gemm) else None


def test_driver_falls_back_to_the_roofline_and_names_what_it_did_not_cover():
    hw = presets.load_hardware("h100-sxm")
    copy = Copy(name="kv_copy", role=Role.KV_CACHE, phase="decode", dtype="bf16", bytes=2**20)
    result = run_operators(_GemmOnly(), "w", hw, [copy], {})
    assert result.ops[0].name == "kv_copy" and result.ops[0].time_s > 0
    assert any("copy: kv_copy" in n for n in result.notes)


def test_a_duplicate_backend_name_is_an_error():
    class Clash(_GemmOnly):
        pass

    from archsim import backends as registry

    register_backend(_GemmOnly)
    try:
        with pytest.raises(ValueError, match="already registered"):
            register_backend(Clash)
    finally:
        registry._BACKENDS.pop(_GemmOnly.name)
