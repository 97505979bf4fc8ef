"""Parallel lowering (Megatron splits and their collectives), pipeline rows, and the parallel run."""

from __future__ import annotations

import pytest

from archsim import presets
from archsim.errors import ConfigError
from archsim.lowering import lower
from archsim.operators import Collective, Role
from archsim.parallel.lowering import lower_parallel
from archsim.parallel.simulate import simulate_parallel
from archsim.schemas.model import ModelSpec
from archsim.schemas.workload import Workload

# 2 layers, hidden 64, 4 heads of 16, 2 KV heads, gated FFN 128, vocab 100
TINY = ModelSpec(name="tiny", arch="decoder", num_layers=2, hidden_size=64, num_heads=4, num_kv_heads=2,
                 ffn_hidden_size=128, ffn_kind="gated_silu", norm="rmsnorm", vocab_size=100)
MOE = ModelSpec.model_validate({**TINY.model_dump(), "name": "tiny-moe",
                                "moe": {"num_experts": 4, "top_k": 2, "expert_ffn_hidden_size": 32}})


def decode(model: ModelSpec = TINY, batch: int = 4, steps: int = 2, **parallel) -> Workload:
    return Workload(name="w", model=model, parallel=parallel,
                    phases=[{"phase": "decode", "batch": batch, "context_len": 10, "steps": steps}])


def by_role(ops):
    return {op.role: op for op in ops if not isinstance(op, Collective)}


def test_one_device_is_the_plain_lowering():
    wl = decode()
    assert lower_parallel(wl, TINY) == lower(wl, TINY)


def test_tensor_parallel_splits_by_pencil():
    ops = lower_parallel(decode(tensor=2), TINY)
    r = by_role(ops)
    assert r[Role.QKV_PROJ].n == 16 * (2 + 2 * 1)  # 2 local heads + 1 local K and V head
    assert r[Role.OUT_PROJ].k == 32 and r[Role.FFN_UP].n == 128 and r[Role.FFN_DOWN].k == 64
    assert r[Role.ATTENTION].heads == 2 and r[Role.ATTENTION].kv_heads == 1
    assert r[Role.LM_HEAD].n == 50
    assert r[Role.ATTN_NORM].elements == 4 * 64  # replicated
    comms = [op for op in ops if isinstance(op, Collective)]
    assert [(c.op, c.bytes, c.group) for c in comms] == [
        ("all_reduce", 4 * 64 * 2, 2), ("all_reduce", 4 * 64 * 2, 2), ("all_gather", 4 * 100 * 2, 2)]
    assert comms[0].count == 2 * 2  # layers x steps, like the GEMM it follows
    # each all-reduce follows its row-parallel GEMM
    names = [op.name for op in ops]
    assert names.index("out_proj.all_reduce") == names.index("out_proj") + 1


def test_kv_heads_are_replicated_beyond_their_count():
    r = by_role(lower_parallel(decode(tensor=4), TINY))
    assert r[Role.ATTENTION].kv_heads == 1 and r[Role.QKV_PROJ].n == 16 * (1 + 2)


def test_expert_parallel_adds_dispatch_and_combine():
    ops = lower_parallel(decode(MOE, tensor=2, data=2, expert=2), MOE)
    kinds = [(c.name.rsplit(".", 1)[-1], c.op, c.group) for c in ops if isinstance(c, Collective)]
    assert ("dispatch", "all_to_all", 2) in kinds and ("combine", "all_to_all", 2) in kinds
    up = by_role(ops)[Role.MOE_UP]
    # batch 4 over data 2 -> 2 tokens x top 2 = 4 pairs, half of them on this device; 2 of 4 experts
    assert up.tokens == 2 and up.num_experts == 2 and up.n == 32


def test_data_parallel_splits_the_batch_and_must_divide_it():
    assert by_role(lower_parallel(decode(data=2), TINY))[Role.QKV_PROJ].m == 2
    with pytest.raises(ConfigError, match="does not split"):
        lower_parallel(decode(batch=3, data=2), TINY)


def test_tensor_must_divide_heads():
    with pytest.raises(ConfigError, match="does not divide the model's 4 attention heads"):
        lower_parallel(decode(tensor=8), TINY)


def test_pipeline_rows_hold_the_bubble():
    wl = decode(pipeline=2, micro_batches=2)
    r = simulate_parallel(wl, presets.load_hardware("hgx-h100"))
    layers = [o for o in r.ops if o.kind not in ("pipeline", "collective")]
    assert all(o.count % 2 == 0 for o in layers)  # two micro-batches per step
    bubble = next(o for o in r.ops if o.name == "decode.pipeline_bubble")
    stage_s = sum(o.total_time_s for o in r.ops if o.kind != "pipeline") / 2
    assert bubble.time_s == pytest.approx(stage_s)  # (2 - 1) stage times for one micro-batch
    assert bubble.shape["bubble_fraction"] == pytest.approx(1 / 3)
    send = next(o for o in r.ops if o.name == "decode.pipeline_send")
    assert send.shape["bytes"] == 2 * 64 * 2  # 2 sequences per micro-batch x hidden x bf16
    assert send.time_s == pytest.approx(2 * (8.4 + 3.4) * 1e-6, rel=1e-3)  # 2 steps x 1 hop, latency-bound


def test_70b_tp8_runs_on_hgx_and_is_refused_on_one_gpu():
    r = simulate_parallel("workloads/llama3-70b-tp8.yaml", "hgx-h100")
    comms = [o for o in r.ops if o.kind == "collective"]
    assert {o.shape["op"] for o in comms} == {"all_reduce", "all_gather"}
    assert all(o.count == 80 * 64 for o in comms if o.shape["op"] == "all_reduce")
    assert 0 < sum(o.total_time_s for o in comms) < r.latency_s
    assert "h100-sxm x8" in r.hardware
    with pytest.raises(ConfigError, match="8 devices, but 'h100-sxm' is one device"):
        simulate_parallel("workloads/llama3-70b-tp8.yaml", "h100-sxm")
    with pytest.raises(ConfigError, match="needs 160.1 GB per device"):
        simulate_parallel("workloads/llama3-70b-decode-gqa.yaml", "h100-sxm")


def test_archsim_run_tp8_on_hgx_and_refused_on_one_gpu(tmp_path):
    import json
    import subprocess
    import sys

    def run(hw: str, out):
        return subprocess.run([sys.executable, "-m", "archsim", "run", "workloads/llama3-70b-tp8.yaml", "--hw", hw,
                               "--out", str(out), "--no-report"], capture_output=True, text=True, timeout=300)

    ok = run("hgx-h100", tmp_path / "ok")
    assert ok.returncode == 0, ok.stderr
    summary = json.loads((tmp_path / "ok" / "summary.json").read_text())
    assert summary["latency_s"] > 0
    refused = run("h100-sxm", tmp_path / "no")
    assert refused.returncode == 2 and "8 devices, but 'h100-sxm' is one device" in refused.stderr
    assert "Traceback" not in refused.stderr and not (tmp_path / "no").exists()


def test_overlap_hides_each_collective_behind_its_gemm():
    def run(overlap: bool):
        wl = Workload.model_validate({"name": "p", "model": "llama-3-70b", "phases": [
            {"phase": "prefill", "batch": 1, "seq_len": 2048}],
            "parallel": {"tensor": 8, "overlap_communication": overlap}})
        return simulate_parallel(wl, "hgx-h100")

    plain, hidden = run(False), run(True)
    for before, after, gemm in zip(plain.ops, hidden.ops, [None, *plain.ops], strict=False):
        if before.kind == "collective":
            assert after.time_s == pytest.approx(max(0.0, before.time_s - gemm.time_s))
            assert after.time_by_resource["hidden_behind_gemm"] == pytest.approx(before.time_s - after.time_s)
        else:
            assert after.time_s == before.time_s
    assert hidden.latency_s < plain.latency_s
