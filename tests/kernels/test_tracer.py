"""The op-count tracer: hand-counted toy kernel, builder restored, representative == full
trace, and trace == each kernel's analytic formula (exact for every shape below, masked ones
included), plus the useful-work rule checked against torch's own mask."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
triton = pytest.importorskip("triton")
tl = pytest.importorskip("triton.language")

from archsim.kernels import registry  # noqa: E402
from archsim.kernels.trace import COUNT_KEYS, Launch, trace_launch  # noqa: E402
from archsim.kernels.triton.flash_attention import allowed_pairs, band_mask  # noqa: E402

pytestmark = pytest.mark.usefixtures("interpreter")


@triton.jit
def _toy(X, W, Y, N, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    rows = pid * 16 + tl.arange(0, 16)
    cols = tl.arange(0, BLOCK)
    ok = (rows[:, None] < N) & (cols[None, :] < BLOCK)
    x = tl.load(X + rows[:, None] * BLOCK + cols[None, :], mask=ok, other=0.0)   # [16, BLOCK] fp32
    w = tl.load(W + cols[:, None] * BLOCK + cols[None, :])                        # [BLOCK, BLOCK]
    y = tl.dot(x, w, input_precision="ieee")                                      # 2*16*BLOCK*BLOCK
    y = tl.exp(y * 0.5 + 1.0)                                                     # 2 flops + 1 exp per element
    s = tl.sum(y, 1)                                                              # 16*(BLOCK-1)
    tl.store(Y + rows, s, mask=rows < N)


def test_toy_kernel_hand_counts():
    n, block = 20, 16                      # program 0: 16 rows valid, program 1: 4 rows valid
    x, w, y = torch.randn(n, block), torch.randn(block, block), torch.full((n,), float("nan"))
    launch = Launch(name="toy", kernel=_toy, grid=(2,), args=(x, w, y, n), kwargs={"BLOCK": block},
                    block_sizes={"BLOCK": block}, num_warps=4, num_stages=1)
    t = trace_launch(launch, full=True)
    assert t.totals["matmul_flops"] == 2 * (2 * 16 * block * block)
    assert t.totals["elementwise_flops"] == 2 * (16 * block * 2 + 16 * (block - 1))
    assert t.totals["reduction_flops"] == 2 * 16 * (block - 1)
    assert t.totals["transcendentals"] == 2 * 16 * block
    assert t.totals["bytes_loaded"] == 4 * (n * block + 2 * block * block)
    assert t.totals["bytes_stored"] == 4 * n
    assert [p["counts"]["bytes_stored"] for p in t.programs] == [64, 16]
    ref = torch.exp((x @ w) * 0.5 + 1.0).sum(1)
    assert torch.allclose(y, ref, rtol=1e-5), "the traced launch must still compute the right values"


def test_tracer_restores_the_interpreter():
    from triton.runtime import interpreter as interp

    before = interp.ReduceOps.apply
    registry.trace_here("gemm", m=40, n=40, k=40, block_m=16, block_n=16, block_k=16)
    assert interp.ReduceOps.apply is before
    assert not any(name.startswith("create_") or name.startswith("set_grid")
                   for name in vars(interp.interpreter_builder)), "builder wrappers left behind"


SHAPES = [
    ("flash_attention", dict(batch=2, heads=4, kv_heads=2, seq_q=100, seq_kv=90, head_dim=64, block_m=32,
                             block_n=32, dtype="fp32")),
    ("flash_attention", dict(batch=1, heads=2, kv_heads=1, seq_q=70, seq_kv=130, head_dim=128, causal=True,
                             block_m=32, block_n=16, dtype="fp16")),
    ("flash_attention", dict(batch=1, heads=2, kv_heads=2, seq_q=130, seq_kv=70, head_dim=64, causal=True,
                             block_m=16, block_n=32, dtype="bf16")),
    ("sliding_window_attention", dict(batch=1, heads=2, kv_heads=1, seq_q=150, seq_kv=150, head_dim=64,
                                      window_left=40, window_right=20, block_m=32, block_n=32, dtype="fp16")),
    ("flash_decoding", dict(batch=2, heads=8, kv_heads=2, seq_kv=300, head_dim=64, num_splits=3, block_n=32,
                            dtype="fp16")),
    ("gemm", dict(m=100, n=90, k=70, block_m=32, block_n=32, block_k=32, dtype="fp16")),
]


@pytest.mark.parametrize("name,shape", SHAPES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SHAPES)])
def test_representative_trace_equals_full_trace_and_formula(name, shape):
    rep = registry.trace_here(name, **shape)
    full = registry.trace_here(name, full=True, **shape)
    for r, f in zip(rep.launches, full.launches, strict=True):
        assert r.totals == f.totals, f"{r.name}: representative {r.totals} != full {f.totals}"
        assert r.programs_total == f.programs_traced
        assert r.programs_traced <= r.programs_total
    executed = registry.formula(name, **shape)["executed"]
    for key in COUNT_KEYS:
        assert rep.totals[key] == executed[key], f"{name} {key}: trace {rep.totals[key]} != formula {executed[key]}"
    assert rep.flops == executed["flops"]


def test_trace_equals_formula_at_a_larger_dense_shape():
    shape = dict(batch=2, heads=16, kv_heads=4, seq_q=1024, seq_kv=1024, head_dim=128, block_m=128, block_n=64)
    rep = registry.trace_here("flash_attention", **shape)
    executed = registry.formula("flash_attention", **shape)["executed"]
    assert {k: rep.totals[k] for k in COUNT_KEYS} == {k: executed[k] for k in COUNT_KEYS}
    assert rep.totals["matmul_flops"] == 4 * 2 * 16 * 1024 * 1024 * 128  # dense, block multiples: no padding
    assert rep.launches[0].programs_traced == 1  # non-causal, divisible: one class


@pytest.mark.parametrize("seq_q,seq_kv,left,right", [(64, 64, None, 0), (40, 100, None, 0), (100, 40, None, 0),
                                                     (90, 90, 7, 3), (50, 80, 0, 0), (33, 17, 5, None)])
def test_useful_pairs_rule_matches_torch_mask(seq_q, seq_kv, left, right):
    assert allowed_pairs(seq_q, seq_kv, left, right) == int(band_mask(seq_q, seq_kv, left, right).sum())


def test_kernel_trace_to_dict_is_json():
    import json

    d = registry.trace_here("flash_decoding", seq_kv=128, num_splits=2, block_n=32).to_dict()
    assert json.loads(json.dumps(d)) == d
    for key in ("flops", "matmul_flops", "transcendentals", "bytes_loaded", "bytes_stored", "grid", "useful"):
        assert key in d
    assert len(d["launches"]) == 2
