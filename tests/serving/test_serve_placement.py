"""Per-operator device choice as a registered option of ``archsim serve`` and of sweeps: the registry, a
hand-computed three-request schedule through the placement the CLI builds, CLI runs (summary, report, Little's
law), sweep axis plumbing, and the bad combinations (exit 2, one error line, no output)."""

from __future__ import annotations

import json

import pytest
from cli_runner import REPO, run_archsim
from typer.testing import CliRunner

from archsim.cli import app
from archsim.errors import ConfigError
from archsim.serving import placement as pl
from archsim.serving.duplex_placement import DuplexCost
from archsim.serving.scenario import serve
from archsim.sweep.plan import load_plan
from archsim.sweep.point import run_point
from tests.serving.test_duplex_placement import known_timer, tiny_workload

SHORT = ["--load", "2", "--duration", "4", "--prompt", "fixed:256", "--output-len", "fixed:16", "--no-report"]


def test_registry_names_help_and_duplicates():
    assert pl.placement_names() == ["duplex", "duplex-coprocess", "gpu", "gpu-roofline"]
    with pytest.raises(ConfigError, match="unknown placement 'tpu'; valid: duplex, duplex-coprocess, gpu"):
        pl.get_placement("tpu")
    with pytest.raises(ValueError, match="already registered"):
        pl.register_placement(pl.Placement("duplex", "another", lambda *a: None, lambda hw: None))
    text = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "400"}).output
    for name in pl.placement_names():
        assert f"{name}:" in text
    assert "OffloadCost" in text and "lamina-h100-h20" in text


def _trace(tmp_path):
    path = tmp_path / "three.csv"  # the three requests test_duplex_placement pins
    path.write_text("arrival_s,prompt_tokens,output_tokens\n0.0,8,3\n0.001,16,2\n0.002,4,1\n")
    return str(path)


def test_cli_built_placement_keeps_the_pinned_schedule(tmp_path):
    """The cost ``--placement duplex`` builds (pair_duplex through the registry), with the known per-operator
    costs of test_duplex_placement: its iterations are that test's, and the share of their time off the GPU is
    worked by hand: it1 4.5 ms (experts on the Logic-PIM 2 x 0.8), it2 5.4 ms (decode attention 0.5),
    it3 1.8 ms (experts 2 x 0.2 + decode attention 0.5): (1.6 + 0.5 + 0.9) / 11.7."""
    sc = serve(tiny_workload(), "h100-sxm", load_qps=1.0, duration_s=1.0, trace=_trace(tmp_path), placement="duplex",
               placement_options={"timer": known_timer})
    assert isinstance(sc.cost, DuplexCost)
    got = [(round(i.start_s * 1e3, 9), round(i.end_s * 1e3, 9), i.prefill_tokens, i.decode_batch)
           for i in sc.run.iterations]
    assert got == [(0.0, 4.5, 8, 0), (4.5, 9.9, 20, 1), (9.9, 11.7, 0, 2)]
    assert [r.token_times_s for r in sc.run.requests] == [pytest.approx([4.5e-3, 9.9e-3, 11.7e-3]),
                                                          pytest.approx([9.9e-3, 11.7e-3]), pytest.approx([9.9e-3])]
    p = sc.summary["placement"]
    assert p["name"] == "duplex" and p["iterations"] == 3
    assert p["off_gpu_time_share"] == pytest.approx(3.0 / 11.7, rel=1e-9) and p["co_processed_time_share"] == 0.0
    assert p["operator_shapes"]["attention:decode"] == {"logic_pim": 2}
    assert "DuplexCost" in sc.summary["cost_model"] and "co-processed" not in sc.summary["cost_model"]


def test_cli_built_coprocessing_keeps_the_pinned_schedule(tmp_path):
    """``duplex-coprocess``: test_duplex_placement's co-processing ends; every split operator (experts, chunk and
    decode attention) runs on both devices: it1 0.888889 + 1.333333 of 3.122222 ms, it2 1.354839 + 1.333333 + 0.4
    of 3.988172, it3 0.333333 + 0.4 of 1.633333: 6.043727 / 8.743728 of the time co-processed, none on the PIM alone."""
    sc = serve(tiny_workload(), "h100-sxm", load_qps=1.0, duration_s=1.0, trace=_trace(tmp_path),
               placement="duplex-coprocess", placement_options={"timer": known_timer})
    assert [i.end_s * 1e3 for i in sc.run.iterations] == pytest.approx([3.122222, 7.110394, 8.743728], rel=1e-6)
    p = sc.summary["placement"]
    assert p["co_processed_time_share"] == pytest.approx(6.043727 / 8.743728, rel=1e-6)
    assert p["off_gpu_time_share"] == 0.0 and p["co_process"] is True
    assert "co-processed" in sc.summary["cost_model"]


def _summary(out):
    return json.loads((out / "summary.json").read_text())


def test_serve_placement_runs_from_the_cli(tmp_path):
    runs = {}
    for name in ("gpu-roofline", "duplex"):
        out = tmp_path / name
        p = run_archsim("serve", "h100-sxm", "llama2-7b-serving", "--placement", name, "--out", out, *SHORT[:-1],
                        cwd=tmp_path)
        assert p.returncode == 0, p.stderr
        assert f"placement {name}" in p.stdout
        runs[name] = _summary(out)
        assert f"placement {name}" in (out / "report.html").read_text()
    gpu, duplex = runs["gpu-roofline"], runs["duplex"]
    assert gpu["placement"] == {"name": "gpu-roofline", "off_gpu_time_share": 0.0}
    assert "roofline backend" in gpu["cost_model"] and "DuplexCost" in duplex["cost_model"]
    assert 0.0 < duplex["placement"]["off_gpu_time_share"] < 1.0
    assert set(duplex["placement"]["operator_shapes"]["attention:decode"]) == {"logic_pim"}  # MHA decode: Op/B ~1
    assert duplex["requests"] == gpu["requests"] > 0  # the same arrivals (seed 0)
    # Llama-2-7B decode is memory-bound: the Logic-PIM's 4x bandwidth shortens every decode step
    assert duplex["tbt_mean_s"]["p50"] < gpu["tbt_mean_s"]["p50"]
    for s in (gpu, duplex):  # Little's law on a placement run
        law = s["littles_law"]
        assert law["whole_run_rel_gap"] < 1e-9 and abs(law["window_gap"]) <= law["window_bound"] + 1e-12


def test_placement_with_the_disaggregated_scheduler(tmp_path):
    """Both instances are Duplex devices; the tally covers both workers' iterations."""
    out = tmp_path / "d"
    p = run_archsim("serve", "hgx-h100", "llama2-7b-serving", "--scheduler", "disaggregated", "--placement",
                    "duplex", "--out", out, *SHORT, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    s = _summary(out)
    assert s["placement"]["iterations"] == sum(s["iterations"].values()) and s["iterations"]["prefill"] > 0
    assert 0.0 < s["placement"]["off_gpu_time_share"] < 1.0 and s["littles_law"]["whole_run_rel_gap"] < 1e-9


def test_lamina_path_is_named(tmp_path):
    out = tmp_path / "l"
    p = run_archsim("serve", "lamina-h100-h20", "workloads/llama3-70b-decode-gqa.yaml", "--out", out, *SHORT,
                    cwd=REPO)
    assert p.returncode == 0, p.stderr
    s = _summary(out)
    assert "archsim.serving.offload_cost.OffloadCost" in s["cost_model"]
    assert s["placement"] == {"name": "gpu", "off_gpu_time_share": None}
    assert "attention offloaded" in p.stdout


@pytest.mark.parametrize("hardware,placement,message", [
    ("h100-sxm", "tpu", "'tpu' is not one of duplex, duplex-coprocess, gpu, gpu-roofline"),
    ("lamina-h100-h20", "duplex", "offloads attention to its memory devices (Lamina: cost model "
                                  "archsim.serving.offload_cost.OffloadCost), which takes placement gpu only"),
    ("lamina-h100-h20", "gpu-roofline", "which takes placement gpu only"),
    ("aim-gddr6", "duplex", "aim-gddr6 is a pim device"),
    ("aim-gddr6", "gpu-roofline", "aim-gddr6 is a pim device, not a GPU"),
    ("h200", "duplex-coprocess", "Logic-PIM of a hbm3 80 GB HBM; h200 has hbm3 141 GB"),
    ("a100-sxm", "duplex", "a100-sxm has hbm2 80 GB"),
])
def test_bad_placements_exit_2_without_output(tmp_path, hardware, placement, message):
    out = tmp_path / "o"
    p = run_archsim("serve", hardware, "llama2-7b-serving", "--placement", placement, "--out", out, cwd=tmp_path)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    errors = [line for line in p.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and "--placement" in errors[0] and message in errors[0], p.stderr
    assert not out.exists()


SWEEP = """kind: sweep
name: s
base:
  workload: llama2-7b-serving
  hardware: {hardware}
  serving: {{load_qps: 2, duration_s: 3, prompt: "fixed:256", output: "fixed:16"{extra}}}
axes:
  - grid:
      serving.placement: [{values}]
"""


def _sweep(tmp_path, values, hardware="h100-sxm", extra=""):
    path = tmp_path / "s.yaml"
    path.write_text(SWEEP.format(hardware=hardware, values=values, extra=extra))
    return path


def test_sweep_placement_axis(tmp_path):
    plan = load_plan(_sweep(tmp_path, "gpu-roofline, duplex"))
    assert [p.config["serving"]["placement"] for p in plan.points] == ["gpu-roofline", "duplex"]
    gpu, duplex = (run_point((p.index, p.config)) for p in plan.points)
    assert gpu["status"] == duplex["status"] == "ok", (gpu, duplex)
    assert (gpu["placement"], duplex["placement"]) == ("gpu-roofline", "duplex")
    assert gpu["off_gpu_time_share"] == 0.0 < duplex["off_gpu_time_share"] < 1.0
    assert (gpu["backend_used"], duplex["backend_used"]) == ("roofline", "duplex-placement")
    assert duplex["tbt_mean_p50_s"] < gpu["tbt_mean_p50_s"] and duplex["little_gap"] < 1e-9


@pytest.mark.parametrize("values,hardware,extra,where,message", [
    ("gpu, tpu", "h100-sxm", "", ":9: axes[0].grid.serving.placement", "unknown placement 'tpu'; valid: duplex"),
    ("gpu", "h100-sxm", ", placement: npu", ":6: base.serving.placement", "unknown placement 'npu'"),
    ("gpu", "h100-sxm", ", scheduler: fifo", ":6: base.serving.scheduler", "unknown scheduler 'fifo'; valid:"),
    ("duplex", "lamina-h100-h20", "", ":9: axes[0].grid.serving.placement", "which takes placement gpu only"),
    ("duplex", "h200", "", ":9: axes[0].grid.serving.placement", "h200 has hbm3 141 GB"),
])
def test_sweep_bad_placements_name_file_line_key(tmp_path, values, hardware, extra, where, message):
    path = _sweep(tmp_path, values, hardware, extra)
    with pytest.raises(ConfigError) as info:
        load_plan(path)
    assert len(info.value.problems) == 1
    text = str(info.value.problems[0])
    assert text.startswith(f"{path}{where}: ") and message in text, text
    out = tmp_path / "out"  # and from the CLI: exit 2, one error line, nothing written
    p = run_archsim("sweep", path, "--out", out, cwd=tmp_path)
    assert p.returncode == 2 and p.stderr.count("error:") == 1 and message in p.stderr, p.stderr
    assert not out.exists()


def test_example_sweep_plans():
    from pathlib import Path

    plan = load_plan(Path(__file__).resolve().parents[2] / "workloads" / "sweeps" / "serving-placement.yaml")
    assert [p.config["serving"]["placement"] for p in plan.points[:3]] == ["gpu-roofline", "duplex",
                                                                          "duplex-coprocess"]
    assert plan.count("run") == 9
