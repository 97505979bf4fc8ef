"""The attention-algorithm registry: one list of names, below every schema and model.

An *attention algorithm* is how one attention operator is computed (``naive`` writes the
N x N scores off-chip; ``flash`` is FlashAttention-2's one-pass online softmax; ...). The
workload names one with ``algorithm: {attention: NAME}``; lowering turns it into operators
(fused or three unfused ones); the GPU model, the task-graph schedules (``archsim.dataflows``)
and the FPGA designs look the name up here. Nothing registers names at import time: the
table below is the whole list, so validating a workload never depends on what was imported.

``cascade`` names the Einsum cascade (FuseMax, Sec. 4) the algorithm computes
(:mod:`archsim.dataflows.algorithms`); ``fused`` algorithms keep the scores on chip.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class AttentionAlgorithm:
    """One attention algorithm. ``fused``: the N x N scores never leave the chip."""

    name: str
    fused: bool
    cascade: str
    description: str
    source: str


ATTENTION_ALGORITHMS: dict[str, AttentionAlgorithm] = {a.name: a for a in (
    AttentionAlgorithm(name="naive", fused=False, cascade="three_pass",
                       description="QK^T to memory, softmax pass, PV pass (unfused, three kernels)",
                       source="the textbook formula; FuseMax Sec. 4 'three-pass' cascade"),
    AttentionAlgorithm(name="flash", fused=True, cascade="one_pass",
                       description="FlashAttention-2: one pass over key tiles, online softmax",
                       source="Dao, FlashAttention-2 (2023), Algorithm 1"),
    AttentionAlgorithm(name="flat", fused=True, cascade="three_pass",
                       description="FLAT: row-granular fusion of the three passes in the on-chip buffer",
                       source="Kao et al., FLAT (ASPLOS'23); FuseMax Sec. 6 baseline"),
    AttentionAlgorithm(name="fusemax", fused=True, cascade="one_pass",
                       description="FuseMax: one-pass cascade on a 2-D + 1-D spatial array",
                       source="Nayak et al., FuseMax (MICRO'24), Sec. 5"),
    AttentionAlgorithm(name="flash_decoding", fused=True, cascade="one_pass",
                       description="flash-decoding: the KV sequence split across blocks, then a reduce",
                       source="Dao et al., Flash-Decoding (2023 blog); Lean Attention (2024)"),
    AttentionAlgorithm(name="swat", fused=True, cascade="one_pass",
                       description="SWAT: sliding-window attention, row-wise input-stationary dataflow",
                       source="SWAT (FPGA, 2024): window attention on distributed BRAM/DSP"),
    AttentionAlgorithm(name="edge_moe", fused=True, cascade="one_pass",
                       description="Edge-MoE attention reordering: constant bandwidth, single-pass softmax",
                       source="Edge-MoE (ICCAD'23), Sec. IV"),
)}


def attention_algorithm(name: str) -> AttentionAlgorithm:
    """The algorithm called ``name``; an unknown name is a ValueError listing the valid ones."""
    try:
        return ATTENTION_ALGORITHMS[name]
    except KeyError:
        raise ValueError(f"unknown attention algorithm {name!r}; valid: {', '.join(sorted(ATTENTION_ALGORITHMS))}"
                         ) from None
