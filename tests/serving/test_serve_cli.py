"""``archsim serve`` end to end (small model, short run) and its bad-input paths; trace files."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from archsim.errors import ConfigError
from archsim.serving.requests import read_trace

COLUMNS = ["arrival_s", "prompt_tokens", "output_tokens", "ttft_s", "tbt_mean_s", "tbt_p99_s", "e2e_s"]


def archsim(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archsim", *args], capture_output=True, text=True, cwd=cwd)


def test_serve_writes_requests_and_summary(tmp_path):
    out = tmp_path / "serve"
    trace = tmp_path / "t.csv"
    trace.write_text("arrival_s,prompt_tokens,output_tokens\n0.0,128,4\n0.01,64,3\n0.02,256,2\n")
    p = archsim("serve", "h100-sxm", "llama2-7b-serving", "--trace", str(trace), "--out", str(out), "--seed", "3",
                "--usd-per-hour", "3", "--slo-ttft-ms", "200", "--slo-tbt-ms", "50", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    table = pq.read_table(out / "requests.parquet").to_pandas()
    assert list(table.columns)[:7] == COLUMNS and len(table) == 3
    assert (table["e2e_s"] >= table["ttft_s"]).all() and (table["ttft_s"] > 0).all()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["requests"] == 3 and summary["scheduler"] == "continuous"
    assert summary["cost"]["usd_per_million_output_tokens"] > 0 and "goodput" in summary
    trace_events = json.loads((out / "timeline.json").read_text())["traceEvents"]
    assert sum(1 for e in trace_events if e.get("cat") == "iteration") == sum(summary["iterations"].values())
    assert "plot-latency-cdf" in (out / "report.html").read_text()
    again = archsim("serve", "h100-sxm", "llama2-7b-serving", "--trace", str(trace), "--out", str(out), "--seed", "3",
                    "--no-report", cwd=tmp_path)
    assert again.returncode == 0, again.stderr  # its own folder is replaced
    assert pq.read_table(out / "requests.parquet").to_pandas().equals(table)


@pytest.mark.parametrize("args,message", [
    (["--load", "nan"], "--load"), (["--load", "0"], "--load"), (["--scheduler", "fifo"], "static"),
    (["--usd-per-hour", "-1"], "--usd-per-hour"),
])
def test_serve_bad_flags_exit_2_without_output(tmp_path, args, message):
    from typer.testing import CliRunner

    from archsim.cli import app

    out = tmp_path / "o"
    result = CliRunner().invoke(app, ["serve", "h100-sxm", "llama2-7b-serving", "--out", str(out), "--duration", "1",
                                      *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_serve_bad_lengths_exit_2(tmp_path):
    p = archsim("serve", "h100-sxm", "llama2-7b-serving", "--out", str(tmp_path / "o"), "--prompt", "normal:3",
                cwd=tmp_path)
    assert p.returncode == 2 and "--prompt" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "o").exists()


def test_disaggregated_needs_a_link(tmp_path):
    p = archsim("serve", "h100-sxm", "llama2-7b-serving", "--scheduler", "disaggregated", "--out", str(tmp_path / "o"),
                "--duration", "1", cwd=tmp_path)
    assert p.returncode == 2 and "needs a link" in p.stderr


def test_trace_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("arrival_s,prompt_tokens,output_tokens\n0.5,10,2\n0.1,10,2\nx,1,1\n1.0,0,3\n")
    with pytest.raises(ConfigError) as info:
        read_trace(bad)
    text = str(info.value)
    assert f"{bad}:3: arrival_s" in text and f"{bad}:4" in text and f"{bad}:5: prompt_tokens" in text
    (tmp_path / "h.csv").write_text("t,p,o\n")
    with pytest.raises(ConfigError, match="header"):
        read_trace(tmp_path / "h.csv")
    extra = tmp_path / "measured.csv"  # a measured run's table: more columns, any order
    extra.write_text("req_id,output_tokens,arrival_s,prompt_tokens,ttft_s\n0,4,0.5,100,0.1\n1,2,0.7,50,\n")
    assert [(r.arrival_s, r.prompt_tokens, r.output_tokens) for r in read_trace(extra)] == [(0.5, 100, 4),
                                                                                           (0.7, 50, 2)]
