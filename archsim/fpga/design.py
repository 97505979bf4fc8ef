"""A unified-compute-unit FPGA design (Edge-MoE style) and what each operator costs on it.

One linear unit of ``linear_in x linear_out`` MAC lanes serves every GEMM (QKV, projections,
FFN, experts, router); attention has its own Q.K and A.V units of ``attn_parallel`` query rows
x ``block`` lanes; vector ops stream one AXI beat per cycle. Every operator becomes a list of
:class:`Step` s: dataflow regions (read -> compute -> write, joined by FIFOs) that run one
after another, each with its MAC and off-chip byte counts.

Default parameters are Edge-MoE's public HLS (github.com/sharc-lab/Edge-MoE, commit a214ade):
``AXI_XFER_BIT_WIDTH = 256``, ``fm_t = ap_fixed<32,10>``, ``wt_linear_t = ap_fixed<16,2>``,
``LINEAR_IN_SIZE = LINEAR_OUT_SIZE = 2 * 256/32 = 16``, ``ATTN_MATMUL_PARALLEL = 4``,
``m_axi_latency 64``, 300 MHz; m_axi bundles inout1..4 + weights on five PS ports (vivado.tcl).

Modelling choices (stated): a token of a region is one patch row (linear/vector) or a chunk
of key rows (attention); the next weight load overlaps the current linear (ping/pong buffers,
independent calls that HLS may overlap) when ``overlap_weight_loads``; GELU is fused into the
linear's output (no extra pass); MoE experts run once each over their queue of patches when
``patch_reordering`` (Edge-MoE), or per patch otherwise (weights reloaded for every patch).

Softmax and GELU come from the RTL issue's cycle models (:mod:`archsim.engine.fixed_units`,
checked against ``rtl/softmax/edge_softmax.v`` and the GELU RTL by cocotb), not from guesses:
one :class:`EdgeSoftmaxUnit` per (query lane, padded head) takes ``2L + 23`` cycles for a row
of ``L`` scores (load + online max/sum, restoring reciprocal, normalise), so a query block of
``attn_parallel`` rows costs one unit-row time; the RTL unit does both passes, so the whole
softmax sits in the Q.K region (the A.V region reads probabilities). ``linear_out`` GELU units
(:class:`GeluUnit`, one value per cycle, 2 deep) follow the fc1 linears. Their resources come
from ``rtl/resources.json`` (yosys, per block) when that file exists and names the block;
otherwise from the stated HLS-order assumption in :func:`unit_resources`.
What it ignores: the PS/host time between layers, AXI read-modify-write alignment, and the
softmax/GELU units' numeric error (the RTL tests bound those).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import singledispatch
from pathlib import Path

from archsim.engine.fixed_units import EdgeSoftmaxUnit, GeluUnit
from archsim.fpga.device import Design, FpgaPart, Resources, bram_for_array, mac_array
from archsim.fpga.regions import AxiPort, Fifo, HlsRegion, Stage
from archsim.operators import (
    Attention,
    AttentionContext,
    AttentionScores,
    Elementwise,
    Gemm,
    MoeExperts,
    Norm,
    Operator,
    Role,
    Softmax,
)
from archsim.rtl import RTL_DIR

#: Elements per streamed row of a vector op (its cost is linear in elements; this only sets tokens).
STREAM_ROW_ELEMENTS = 192
#: Elementwise functions the design fuses into the linear before them when ``fuse_gelu`` is set.
ACTIVATIONS = ("gelu", "silu_mul", "relu")

#: yosys resource counts per RTL block (written by the RTL issue); used when present.
RTL_RESOURCES_PATH = RTL_DIR / "resources.json"

#: Fallback per-unit resources (assumption, HLS order, until rtl/resources.json names the block):
#: softmax = fixed-point exp ~700 LUT + 2 DSP plus a reciprocal ~900 LUT + 3 DSP (hls::exp / recip)
#: + 2 DSP for the sum*exp update; GELU = a 200-entry table in LUTRAM + one interpolation multiply.
_FALLBACK_UNIT_RESOURCES = {
    "edge_softmax": Resources(dsp=7, lut=2300, ff=2500),
    "gelu_unit": Resources(dsp=2, lut=600, ff=700),
}


def unit_resources(block: str, path: Path = RTL_RESOURCES_PATH) -> tuple[Resources, str]:
    """Resources of one instance of an RTL block and where the numbers came from.

    ``rtl/resources.json`` maps block name -> ``{"lut": .., "ff": .., "dsp": .., "bram_36k": ..}``
    (yosys synth_xilinx counts). Missing file or block: the fallback assumption above.
    """
    if path.is_file():
        table = json.loads(path.read_text())
        entry = table.get(block)
        if isinstance(entry, dict):
            res = Resources(dsp=int(entry.get("dsp", 0)), lut=int(entry.get("lut", 0)),
                            ff=int(entry.get("ff", 0)), bram_36k=float(entry.get("bram_36k", 0)))
            return res, f"{path.name} (yosys)"
    return _FALLBACK_UNIT_RESOURCES[block], "assumption (no rtl/resources.json entry)"


def padded_heads(heads: int) -> int:
    """Heads padded to a power of two (Edge-MoE's heads_t word: 3 heads -> 4 lanes)."""
    return 1 << max(0, math.ceil(math.log2(max(1, heads))))


@dataclass(frozen=True)
class UnifiedDesignConfig:
    """Parameters of the unified design (defaults: Edge-MoE's HLS, see module docstring)."""

    name: str = "edge-moe"
    clock_hz: float = 300e6
    axi_width_bits: int = 256
    fm_bits: int = 32
    weight_bits: int = 16
    linear_in: int = 16
    linear_out: int = 16
    attn_parallel: int = 4
    attention_reordering: bool = True
    overlap_weight_loads: bool = True
    patch_reordering: bool = True
    fuse_gelu: bool = True
    axi_latency_cycles: int = 64
    gating_softmax_ii: int = 3
    #: GELU latency of the RTL unit (GeluUnit.latency_cycles)
    gelu_latency_cycles: int = GeluUnit().latency_cycles
    max_tokens_per_stage: int = 160
    #: m_axi bundle of each stream (Edge-MoE: x/q on inout2, k on inout3, softmax info on inout4,
    #: scores on inout1, weights on their own bundle).
    ports: tuple[str, ...] = ("inout1", "inout2", "inout3", "inout4", "weights")

    @property
    def block(self) -> int:
        """Feature elements per AXI beat (FEATURE_BLOCK_SIZE)."""
        return self.axi_width_bits // self.fm_bits

    @property
    def beat_bytes(self) -> int:
        return self.axi_width_bits // 8


@dataclass
class Step:
    name: str
    region: HlsRegion
    macs: float
    offchip_bytes: float
    exp_ops: float = 0.0
    overlap_with_next: bool = False


@dataclass
class UnifiedDesign:
    config: UnifiedDesignConfig
    part: FpgaPart
    design: Design = field(init=False)

    def __post_init__(self) -> None:
        self.design = self._bill()

    # ---- resources ----
    def _bill(self) -> Design:
        c = self.config
        d = Design(c.name)
        d.add("linear_unit", mac_array(c.linear_in * c.linear_out, c.fm_bits, c.weight_bits, c.fm_bits))
        weights_word = c.linear_in * c.linear_out * c.weight_bits
        depth = math.ceil(768 * 384 / (c.linear_in * c.linear_out))
        d.add("linear_weights_ping_pong", Resources(bram_36k=2 * bram_for_array(weights_word, depth)))
        d.add("attn_qk_unit", mac_array(c.attn_parallel * c.block, c.fm_bits, c.fm_bits, c.fm_bits))
        d.add("attn_av_unit", mac_array(c.attn_parallel * c.block, c.fm_bits, c.fm_bits, c.fm_bits))
        d.add("attn_q_buffer", Resources(bram_36k=c.attn_parallel * bram_for_array(c.axi_width_bits, 24)))
        # one RTL softmax unit per (query lane, padded head); linear_out GELU units
        softmax, self.softmax_resource_source = unit_resources("edge_softmax")
        gelu, self.gelu_resource_source = unit_resources("gelu_unit")
        d.add("softmax_units", softmax.scaled(self.softmax_unit_count(4)))
        d.add("gelu_units", gelu.scaled(c.linear_out))
        d.add("patch_embed_unit", mac_array(2 * c.block * 16, 8, 16, c.fm_bits)
              + Resources(bram_36k=bram_for_array(16 * 16 * c.block, 192 * 3 * 16 // c.block)))
        d.add("moe_gating", mac_array(16 * c.block, c.fm_bits, c.weight_bits, c.fm_bits)
              + Resources(bram_36k=16 * bram_for_array(64, 129)))
        d.add("axi_masters", Resources(lut=len(c.ports) * 3000, ff=len(c.ports) * 4500,
                                       bram_36k=len(c.ports) * 4, axi_ports=len(c.ports)))
        return d

    # ---- RTL-backed fixed units ----
    def softmax_unit_count(self, heads: int) -> int:
        return self.config.attn_parallel * padded_heads(heads)

    def softmax_block_cycles(self, keys: int) -> int:
        """Cycles of the softmax units for one query block (``attn_parallel`` rows x padded heads,
        one unit each, all in parallel): one RTL row of ``keys`` scores."""
        return EdgeSoftmaxUnit(max_length=max(keys, 1)).cycles(keys)

    def gelu_cycles(self, values_per_unit: int) -> int:
        """Cycles of one GELU unit over ``values_per_unit`` values (RTL: n + latency)."""
        return GeluUnit(latency_cycles=self.config.gelu_latency_cycles).cycles(values_per_unit)

    # ---- helpers ----
    def port_rate(self) -> float:
        return self.part.port_bytes_per_cycle(self.config.axi_width_bits, self.config.clock_hz)

    def _ports(self) -> list[AxiPort]:
        rate = self.port_rate()
        return [AxiPort(p, rate, self.config.axi_latency_cycles) for p in self.config.ports]

    def _region(self, name: str, stages: list[Stage], fifos: list[str], depth: int = 2) -> HlsRegion:
        return HlsRegion(name, stages, [Fifo(f, depth) for f in fifos], self._ports())

    def _tokens(self, rows: int) -> tuple[int, int]:
        """Group ``rows`` into at most max_tokens_per_stage tokens: (tokens, rows per token)."""
        per = math.ceil(rows / min(rows, self.config.max_tokens_per_stage))
        return math.ceil(rows / per), per

    # ---- operator costs ----
    def stream(self, name: str, rows: int, in_width: int, out_width: int, inputs: int = 1,
               passes: int = 1, macs_per_elem: float = 0.0) -> Step:
        """Vector op: ``inputs`` streams of rows x in_width in, rows x out_width out."""
        c = self.config
        tokens, per = self._tokens(rows)
        in_beats, out_beats = math.ceil(in_width / c.block), math.ceil(out_width / c.block)
        row_in, row_out = in_beats * c.beat_bytes, out_beats * c.beat_bytes
        stages = [Stage(f"read{i}", tokens, per * in_beats, 2, outputs=(f"x{i}",), port=c.ports[1 + i % 2],
                        offchip_bytes_per_token=per * row_in) for i in range(inputs)]
        stages.append(Stage("compute", tokens, per * in_beats * passes, 8,
                            inputs=tuple(f"x{i}" for i in range(inputs)), outputs=("y",)))
        stages.append(Stage("write", tokens, per * out_beats, 2, inputs=("y",), port=c.ports[0],
                            offchip_bytes_per_token=per * row_out))
        region = self._region(name, stages, [*(f"x{i}" for i in range(inputs)), "y"])
        return Step(name, region, macs_per_elem * rows * in_width, tokens * per * (inputs * row_in + row_out))

    def linear(self, name: str, rows: int, out_dim: int, in_dim: int, scored_rmw: bool = False,
               gelu: bool = False) -> list[Step]:
        """A GEMM on the linear unit: weight load step, then read -> MAC [-> GELU] -> write.

        ``gelu``: the output passes the ``linear_out`` RTL GELU units (fused, one value per unit
        per cycle): ``rows * ceil(out_dim / linear_out)`` values per unit, ``gelu_latency_cycles`` deep.
        """
        c = self.config
        wbytes = out_dim * in_dim * c.weight_bits / 8
        wbeats = math.ceil(wbytes / c.beat_bytes)
        load = HlsRegion(f"{name}.load_weights",
                              [Stage("load", 1, wbeats, 4, port="weights", offchip_bytes_per_token=wbytes)],
                              [], self._ports())
        steps = [Step(f"{name}.load_weights", load, 0.0, wbytes, overlap_with_next=c.overlap_weight_loads)]
        if rows == 0:
            return steps
        tokens, per = self._tokens(rows)
        iters = math.ceil(out_dim / c.linear_out) * math.ceil(in_dim / c.linear_in)
        in_row = math.ceil(in_dim / c.block) * c.beat_bytes
        out_row = math.ceil(out_dim / c.block) * c.beat_bytes * (2 if scored_rmw else 1)
        stages = [
            Stage("read_in", tokens, per * in_row / c.beat_bytes, 2, outputs=("in",), port="inout2",
                  offchip_bytes_per_token=per * in_row),
            Stage("mac", tokens, per * iters, 12, inputs=("in",), outputs=("mac_out" if gelu else "out",)),
        ]
        fifos = ["in", "out"]
        if gelu:
            per_unit = math.ceil(out_dim / c.linear_out)  # values per GELU unit per row
            stages.append(Stage("gelu", tokens, rows * per_unit / tokens, c.gelu_latency_cycles,
                                inputs=("mac_out",), outputs=("out",)))
            fifos.insert(1, "mac_out")
        stages.append(Stage("write_out", tokens, per * out_row / c.beat_bytes, 2, inputs=("out",), port="inout3",
                            offchip_bytes_per_token=per * out_row))
        region = self._region(name, stages, fifos)
        macs = tokens * per * iters * c.linear_in * c.linear_out
        steps.append(Step(name, region, macs, tokens * per * (in_row + out_row)))
        return steps

    def attention(self, name: str, seq: int, heads: int, head_dim: int, window: int | None = None) -> list[Step]:
        """Q.K with the online (single-pass) softmax, then A.V; K and V re-read per query block.

        Reordered (Edge-MoE): one K/V beat per cycle is broadcast to all ``attn_parallel`` query
        rows, so off-chip traffic per cycle is one beat whatever the parallelism. Naive: each
        query lane streams its own K/V row: ``attn_parallel`` beats per cycle.
        ``window``: keys per query row (sliding window), None = all ``seq`` keys.
        """
        c = self.config
        p = c.attn_parallel
        width = heads * head_dim
        beats = math.ceil(width / c.block)
        row = beats * c.beat_bytes
        keys = min(window or seq, seq)
        q_blocks = math.ceil(seq / p)
        lanes_per_beat = 1 if c.attention_reordering else p
        kv_rows = q_blocks * keys
        tokens, per = self._tokens(kv_rows)
        score_bytes = p * 4 * c.fm_bits / 8  # heads_t: heads padded to a power of two
        steps = []
        for part, extra_in in (("qk", "q"), ("av", "info")):
            stages = [
                Stage(f"read_{extra_in}", tokens, per * (beats if extra_in == "q" else 1) * p / keys, 2,
                      outputs=(extra_in,), port="inout2",
                      offchip_bytes_per_token=per * p * (row if extra_in == "q" else 32) / keys),
                Stage("read_kv", tokens, per * beats * lanes_per_beat, 2, outputs=("kv",), port="inout3",
                      offchip_bytes_per_token=per * row * lanes_per_beat),
            ]
            if part == "qk":
                stages += [
                    Stage("qk_mac", tokens, per * beats, 10, inputs=("q", "kv"), outputs=("s",)),
                    # RTL softmax units: one row of `keys` scores per unit per query block
                    Stage("online_softmax", tokens, q_blocks * self.softmax_block_cycles(keys) / tokens,
                          EdgeSoftmaxUnit().recip_bits, inputs=("s",), outputs=("w",)),
                    Stage("write_scores", tokens, per * p, 2, inputs=("w",), port="inout1",
                          offchip_bytes_per_token=per * score_bytes),
                ]
            else:
                stages += [
                    Stage("read_scores", tokens, per * p, 2, outputs=("s",), port="inout1",
                          offchip_bytes_per_token=per * score_bytes),
                    Stage("av_mac", tokens, per * beats, 30, inputs=("info", "kv", "s"), outputs=("w",)),
                    Stage("write_out", tokens, per * beats * p / keys, 2, inputs=("w",), port="inout4",
                          offchip_bytes_per_token=per * row * p / keys),
                ]
            region = self._region(f"{name}.{part}", stages, [extra_in, "kv", "s", "w"])
            traffic = sum(s.tokens * s.offchip_bytes_per_token for s in stages)
            macs = q_blocks * keys * p * width
            steps.append(Step(f"{name}.{part}", region, macs, traffic, exp_ops=q_blocks * keys * p * heads))
        return steps

    def experts(self, name: str, pairs: int, active: float, hidden: int, ffn: int) -> list[Step]:
        """MoE experts: each active expert's two linears over its queue of patches."""
        steps: list[Step] = []
        if self.config.patch_reordering:
            n_active = max(1, round(active))
            base, extra = divmod(pairs, n_active)
            for e in range(n_active):
                rows = base + (1 if e < extra else 0)
                steps += self.linear(f"{name}.e{e}.fc1", rows, ffn, hidden, gelu=self.config.fuse_gelu)
                steps += self.linear(f"{name}.e{e}.fc2", rows, hidden, ffn, scored_rmw=True)
        else:
            for i in range(pairs):  # naive: weights fetched for every (patch, expert) pair
                steps += self.linear(f"{name}.pair{i}.fc1", 1, ffn, hidden, gelu=self.config.fuse_gelu)
                steps += self.linear(f"{name}.pair{i}.fc2", 1, hidden, ffn, scored_rmw=True)
        return steps

    def op_steps(self, op: Operator) -> list[Step] | None:
        """The steps of one operator on this design, or None when the design has no unit for it."""
        return _op_steps(op, self)


@singledispatch
def _op_steps(op: Operator, design: UnifiedDesign) -> list[Step] | None:
    return None


@_op_steps.register
def _(op: Gemm, design: UnifiedDesign) -> list[Step] | None:
    if op.batch != 1:
        return None
    if op.role is Role.MOE_ROUTER:
        c = design.config
        rows = op.m
        gate = design.stream(op.name, rows, op.k, 0, passes=1)
        per_row = math.ceil(op.k / c.block) + op.n * c.gating_softmax_ii + op.n
        mac = gate.region.stages[1]
        gate.region.stages[1] = Stage(mac.name, mac.tokens, mac.cycles_per_token / math.ceil(
            op.k / c.block) * per_row, mac.depth_cycles, mac.inputs, mac.outputs)
        gate.macs = rows * op.n * op.k
        return [gate]
    # the FFN's first linear carries its activation when the design fuses GELU
    return design.linear(op.name, op.m, op.n, op.k, gelu=design.config.fuse_gelu and op.role is Role.FFN_UP)


@_op_steps.register
def _(op: MoeExperts, design: UnifiedDesign) -> list[Step] | None:
    # up and down are lowered as two operators; the design costs the pair once, on the up projection
    if op.role is Role.MOE_DOWN:
        return []
    return design.experts(op.name, op.tokens, op.active_experts, op.k, op.n)


@_op_steps.register
def _(op: Elementwise, design: UnifiedDesign) -> list[Step] | None:
    if op.fn in ACTIVATIONS and design.config.fuse_gelu:
        return []  # fused into the linear before it
    width = STREAM_ROW_ELEMENTS
    return [design.stream(op.name, math.ceil(op.elements / width), width, width, inputs=op.inputs, passes=1)]


@_op_steps.register
def _(op: Norm, design: UnifiedDesign) -> list[Step] | None:
    width = STREAM_ROW_ELEMENTS
    return [design.stream(op.name, math.ceil(op.elements / width), width, width, inputs=op.inputs, passes=2)]


@_op_steps.register(Attention)
@_op_steps.register(AttentionScores)  # unfused lowering: the whole attention is costed on the scores operator
def _(op: Attention | AttentionScores, design: UnifiedDesign) -> list[Step] | None:
    return design.attention(op.name, op.seq_q, op.heads, op.head_dim, op.window)


@_op_steps.register(AttentionContext)
@_op_steps.register(Softmax)
def _(op: AttentionContext | Softmax, design: UnifiedDesign) -> list[Step] | None:
    return []  # costed with the scores operator of the same attention

