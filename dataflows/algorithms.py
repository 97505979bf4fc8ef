"""The attention algorithms as Einsum cascades (FuseMax paper, Sec. 4 and its artifact).

Ranks: ``P`` query rows, ``M`` keys (``M1`` key tiles x ``M0`` keys per tile), ``E`` the
Q/K head dimension, ``F`` the V head dimension (B and H are left out: one head at a time).

Per-point action costs and unit bindings come from the public FuseMax artifact
(github.com/FPSG-UIUC/micro24-fusemax-artifact): ``src/accel/proposal.py`` ``compute_cost``
for FuseMax (exp built from 6 MACs + 1 add on a PE, 2-D array runs QK, LM, SLN, SLD, SLNV,
the 1-D array the rest) and ``src/accel/stable_softmax.py`` for the 3-pass softmax of FLAT
and the unfused baseline (max, exp+add, add, divide on the 1-D array, each one cycle per
element because the multi-cycle exp/divide units are pipelined, as that file states).
"""

from __future__ import annotations

from archsim.dataflows.cascade import Cascade, Einsum

_QKV = {"Q": ("P", "E"), "K": ("M", "E"), "V": ("M", "F")}
_QKV_TILED = {"Q": ("P", "E"), "K": ("M1", "M0", "E"), "V": ("M1", "M0", "F")}

#: Naive / FLAT: numerically stable softmax in three passes over the keys.
THREE_PASS = Cascade(
    "three_pass", _QKV,
    (
        Einsum("QK", ("Q", "K"), ("M", "P", "E"), reduce=("E",), cost={"mac": 1}, unit="2d"),
        Einsum("GM", ("QK",), ("M", "P"), reduce=("M",), cost={"max": 1}, unit="1d"),
        Einsum("SN", ("QK", "GM"), ("M", "P"), cost={"add": 1, "exp": 1}, unit="1d", cycles=1),
        Einsum("SD", ("SN",), ("M", "P"), reduce=("M",), cost={"add": 1}, unit="1d"),
        Einsum("A", ("SN", "SD"), ("M", "P"), cost={"divide": 1}, unit="1d"),
        Einsum("AV", ("A", "V"), ("M", "P", "F"), reduce=("M",), cost={"mac": 1}, unit="2d"),
    ),
    "max pass, exp+sum pass, normalise+PV pass (naive attention; FLAT fuses it row by row)",
)

#: Online normaliser (Milakov & Gimelshein 2018): running max and sum in one pass, then normalise.
TWO_PASS = Cascade(
    "two_pass", _QKV,
    (
        Einsum("QK", ("Q", "K"), ("M", "P", "E"), reduce=("E",), cost={"mac": 1}),
        Einsum("RM", ("RM:prev", "QK"), ("M", "P"), scan=("M",), cost={"max": 1}, unit="1d"),
        Einsum("RD", ("RD:prev", "RM:prev", "RM", "QK"), ("M", "P"), scan=("M",),
               cost={"exp": 2, "mac": 1, "add": 1}, unit="1d"),
        Einsum("A", ("QK", "RM:final", "RD:final"), ("M", "P"), cost={"add": 1, "exp": 1, "divide": 1}, unit="1d"),
        Einsum("AV", ("A", "V"), ("M", "P", "F"), reduce=("M",), cost={"mac": 1}),
    ),
    "running max and denominator in pass 1, normalise and PV in pass 2",
)

#: One pass with a running max over key tiles: FlashAttention(-2) and FuseMax (binding differs).
ONE_PASS = Cascade(
    "one_pass", _QKV_TILED,
    (
        Einsum("QK", ("Q", "K"), ("M1", "M0", "P", "E"), reduce=("E",), cost={"mac": 1}, unit="2d"),
        Einsum("LM", ("QK",), ("M1", "M0", "P"), reduce=("M0",), cost={"max": 1}, unit="2d"),
        Einsum("RM", ("RM:prev", "LM"), ("M1", "P"), scan=("M1",), cost={"max": 1}, unit="1d"),
        Einsum("SLN", ("QK", "RM"), ("M1", "M0", "P"), cost={"mac": 6, "add": 1}, unit="2d"),
        Einsum("SLD", ("SLN",), ("M1", "M0", "P"), reduce=("M0",), cost={"add": 1}, unit="2d"),
        Einsum("SLNV", ("SLN", "V"), ("M1", "M0", "P", "F"), reduce=("M0",), cost={"mac": 1}, unit="2d"),
        Einsum("PRM", ("RM:prev", "RM"), ("M1", "P"), cost={"mac": 6, "add": 1}, unit="1d"),
        Einsum("SPD", ("RD:prev", "PRM"), ("M1", "P"), cost={"mac": 1}, unit="1d"),
        Einsum("SPNV", ("RNV:prev", "PRM"), ("M1", "P", "F"), cost={"mac": 1}, unit="1d"),
        Einsum("RD", ("SPD", "SLD"), ("M1", "P"), scan=("M1",), cost={"add": 1}, unit="1d"),
        Einsum("RNV", ("SPNV", "SLNV"), ("M1", "P", "F"), scan=("M1",), cost={"add": 1}, unit="1d"),
        Einsum("AV", ("RNV:final", "RD:final"), ("P", "F"), cost={"divide": 1}, unit="1d"),
    ),
    "running max / denominator / numerator rescaled per key tile (FuseMax Cascade; FlashAttention-2)",
)

CASCADES = {c.name: c for c in (THREE_PASS, TWO_PASS, ONE_PASS)}

#: FuseMax's per-key-tile stages in order (unit, einsums), from the artifact's waterfall
#: (``proposal.py`` ``eval``: QK+LM | RM | SLN+SLD with PRM+SPD | SLNV with SPNV, RD, RNV).
FUSEMAX_STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("2d", ("QK", "LM")),
    ("1d", ("RM",)),
    ("2d", ("SLN", "SLD", "SLNV")),
    ("1d", ("PRM", "SPD", "SPNV", "RD", "RNV")),
)
FUSEMAX_EPILOGUE = ("AV",)
FLAT_2D_PASS1 = ("QK",)
FLAT_1D_SOFTMAX = ("GM", "SN", "SD", "A")
FLAT_2D_PASS3 = ("AV",)
