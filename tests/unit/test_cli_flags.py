"""Every class of bad flag is refused up front: exit 2, one message naming the flag, no traceback, no files.

The commands run in-process through ``archsim.cli.main`` (the console-script entry point, with
its own exit-code handling), so a hundred cases take seconds; one case per class also runs as a
real subprocess to prove no traceback reaches the user.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from archsim.cli import main

LAMINA = "lamina-h100-h20"

# (argv, the flag the message must name)
CASES = [
    # predict: tile sizes, heads, choices, sizes, non-finite
    (["predict", "attention", "--impl", "triton-flash", "--block-m", "-1"], "--block-m"),
    (["predict", "attention", "--impl", "triton-flash", "--block-m", "0"], "--block-m"),
    (["predict", "attention", "--impl", "triton-flash", "--block-m", "48"], "--block-m"),
    (["predict", "attention", "--impl", "triton-flash", "--num-warps", "3"], "--num-warps"),
    (["predict", "attention", "--impl", "triton-flash", "--num-stages", "0"], "--num-stages"),
    (["predict", "attention", "--impl", "flash-decoding", "--seq-q", "1", "--num-splits", "0"], "--num-splits"),
    (["predict", "attention", "--kv-heads", "0"], "--kv-heads"),
    (["predict", "attention", "--heads", "-4"], "--heads"),
    (["predict", "attention", "--seq-q", str(10**12)], "--seq-q"),
    (["predict", "attention", "--head-dim", "0"], "--head-dim"),
    (["predict", "attention", "--dtype", "fp7"], "--dtype"),
    (["predict", "attention", "--impl", "bogus"], "--impl"),
    (["predict", "attention", "--batch", "1.5"], "--batch"),
    (["predict", "gemm", "--m", "0"], "--m"),
    (["predict", "gemm", "--k", "-64"], "--k"),
    (["predict", "gemm", "--impl", "cutlass"], "--impl"),
    # offload: dtype choice, non-finite and non-positive floats, sizes
    (["offload", LAMINA, "--dtype", "fp7"], "--dtype"),
    (["offload", LAMINA, "--tbt-ms", "nan"], "--tbt-ms"),
    (["offload", LAMINA, "--tbt-ms", "inf"], "--tbt-ms"),
    (["offload", LAMINA, "--tbt-ms", "0"], "--tbt-ms"),
    (["offload", LAMINA, "--context", "0"], "--context"),
    (["offload", LAMINA, "--batch", "0"], "--batch"),
    (["offload", LAMINA, "--micro-batches", "0"], "--micro-batches"),
    # attention side by side
    (["attention", "--dtype", "fp7"], "--dtype"),
    (["attention", "--batch", "0"], "--batch"),
    (["attention", "--seq-q", "-1"], "--seq-q"),
    (["attention", "--window", "0"], "--window"),
    (["attention", "--algorithm", "quantum=flash"], "--algorithm"),
    (["attention", "--algorithm", "gpu=bogus"], "--algorithm"),
    # trace (no kernel runs: the flag is refused first)
    (["trace", "flash_attention", "--block-m", "0"], "--block-m"),
    (["trace", "flash_attention", "--dtype", "fp7"], "--dtype"),
    (["trace", "flash_attention", "--num-warps", "3"], "--num-warps"),
    (["trace", "gemm", "--m", "-1"], "--m"),
    (["trace", "sliding_window_attention", "--window-left", "-1"], "--window-left"),
    # microbench
    (["microbench", "dram", "--pattern", "strided", "--stride", "-64"], "--stride"),
    (["microbench", "dram", "--bytes", "1 PB"], "--bytes"),
    (["microbench", "dram", "--bytes", "nan"], "--bytes"),
    (["microbench", "dram", "--queue-depth", "0"], "--queue-depth"),
    (["microbench", "dram", "--inflight", "-1"], "--inflight"),
    (["microbench", "dram", "--seed", "-1"], "--seed"),
    (["microbench", "dram", "--pattern", "zigzag"], "--pattern"),
    (["microbench", "pim", "--m", "0"], "--m"),
    (["microbench", "pim", "--n", str(10**9)], "--n"),
    (["microbench", "pim", "--op", "gemm"], "--op"),
    # compare / measure / presets
    (["compare", "missing.csv"], "measured"),
    (["measure", "--budget-s", "nan"], "--budget-s"),
    (["measure", "--budget-s", "-1"], "--budget-s"),
    (["measure", "--subset", "tiny"], "--subset"),
    (["presets", "gadgets"], "kind"),
    # sweep (refused before the sweep file is read)
    (["sweep", "s.yaml", "--checkpoint-s", "nan"], "--checkpoint-s"),
    (["sweep", "s.yaml", "--checkpoint-s", "0"], "--checkpoint-s"),
    (["sweep", "s.yaml", "--checkpoint-s", "-1"], "--checkpoint-s"),
    (["sweep", "s.yaml", "--checkpoint-s", "3601"], "--checkpoint-s"),
    (["sweep", "s.yaml", "--workers", "0"], "--workers"),
    (["sweep", "s.yaml", "--workers", "1025"], "--workers"),
    (["sweep", "s.yaml", "--engine", "dask"], "--engine"),
]


def _run(monkeypatch, capsys, argv: list[str]) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["archsim", *argv])
    with pytest.raises(SystemExit) as info:
        main()
    captured = capsys.readouterr()
    return int(info.value.code or 0), captured.err + captured.out


@pytest.mark.parametrize("argv,flag", CASES, ids=[" ".join(c[0][:1] + c[0][-2:]) for c in CASES])
def test_bad_flag_exits_2_naming_the_flag(tmp_path, monkeypatch, capsys, argv, flag):
    monkeypatch.chdir(tmp_path)
    code, text = _run(monkeypatch, capsys, argv)
    assert code == 2, text
    assert flag in text, text
    assert "Traceback" not in text
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_output_path_under_a_file_is_refused_before_work(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for argv, flag in ((["predict", "gemm", "--timeline", str(blocker / "t.json")], "--timeline"),
                       (["microbench", "dram", "--command-trace", str(blocker / "t.json")], "--command-trace"),
                       (["compare", str(blocker), "--json", str(blocker / "x.json")], "--json"),
                       (["measure", "--data-dir", str(blocker)], "--data-dir")):
        code, text = _run(monkeypatch, capsys, argv)
        assert code == 2 and flag in text and "not a folder" in text, text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_missing_trace_folder_is_refused_before_the_simulation(tmp_path, monkeypatch, capsys):
    code, text = _run(monkeypatch, capsys, ["microbench", "dram", "--command-trace", str(tmp_path / "no" / "t.json")])
    assert code == 2 and "--command-trace" in text and "does not exist" in text


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; the check is os.access")
def test_read_only_output_folder_is_refused(tmp_path, monkeypatch, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    code, text = _run(monkeypatch, capsys, ["predict", "gemm", "--timeline", str(ro / "t.json")])
    assert code == 2 and "--timeline" in text and "not writable" in text


def test_predict_flags_match_the_gpu_model():
    from archsim.cli.commands import predict as cli
    from archsim.gpu import predict as model

    assert cli.ATTENTION_IMPLS == model.ATTENTION_IMPLS and cli.GEMM_IMPLS == model.GEMM_IMPLS
    assert set(cli.DTYPES) == set(model.K.ELEM)


def test_sweep_engines_match_the_runner():
    from archsim.cli.commands import sweep as cli
    from archsim.sweep import engines

    assert cli.ENGINES == engines.ENGINES


def test_attention_dtypes_match_the_schema():
    from archsim.cli.commands.attention import DTYPES
    from archsim.schemas.base import DTYPE_BYTES

    assert set(DTYPES) == set(DTYPE_BYTES)


def test_good_flags_still_run(monkeypatch, capsys):
    code, text = _run(monkeypatch, capsys, ["predict", "attention", "--impl", "triton-flash", "--block-m", "64",
                                            "--seq-q", "1024"])
    assert code == 0, text
    assert '"latency_s"' in text


def test_predict_api_refuses_bad_tile_config():
    from archsim.errors import ConfigError
    from archsim.gpu.predict import predict_attention

    with pytest.raises(ConfigError, match="block_m must be a power of two"):
        predict_attention("h100-sxm", "triton-flash", batch=1, heads=8, seq_q=256, head_dim=64,
                          config={"block_m": -1})
    with pytest.raises(ConfigError, match="kv_heads"):
        predict_attention("h100-sxm", "flash2", batch=1, heads=8, kv_heads=0, seq_q=256, head_dim=64)


@pytest.mark.parametrize("argv", [["predict", "attention", "--impl", "triton-flash", "--block-m", "-1"],
                                  ["offload", LAMINA, "--tbt-ms", "nan"],
                                  ["microbench", "dram", "--stride", "-64", "--pattern", "strided"]])
def test_as_a_subprocess_no_traceback(tmp_path, argv):
    out = subprocess.run([sys.executable, "-m", "archsim", *argv], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""
    assert list(tmp_path.iterdir()) == []
