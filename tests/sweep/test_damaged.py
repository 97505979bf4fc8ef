"""A damaged output folder (a truncated or garbage table, truncated JSON) is named, never a traceback.

``archsim sweep`` (resume) sets a damaged ``results.parquet`` aside and recomputes it, rewrites a
damaged ``sweep.json`` when every row still belongs to the sweep, and refuses (exit 2) when it
cannot tell; ``archsim report`` exits 2 naming the file and the command that repairs it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest
from cli_runner import TINY_WORKLOAD, run_archsim, tiny_sweep

from archsim.sweep.runner import run_sweep


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("damaged")
    (root / "wl.yaml").write_text(TINY_WORKLOAD)
    (root / "sweep.yaml").write_text(tiny_sweep("128, 256, 512"))
    (root / "other.yaml").write_text(tiny_sweep("64, 96, 128", name="other"))
    run_sweep(root / "sweep.yaml", root / "good", workers=1)
    run_sweep(root / "other.yaml", root / "other", workers=1)
    return root


def damaged_copy(root: Path, name: str, file: str, data: bytes) -> Path:
    folder = root / name
    subprocess.run(["cp", "-r", str(root / "good"), str(folder)], check=True)
    (folder / file).write_bytes(data)
    return folder


def clean_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert any(line.startswith("error: ") for line in result.stderr.splitlines()), result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


@pytest.mark.parametrize("case, data", [("truncated", 300), ("garbage", b"not a parquet file\n"),
                                        ("empty", b""), ("foreign-table", "foreign")])
def test_damaged_table_report_names_it_and_resume_recomputes(finished: Path, case: str, data: int | bytes) -> None:
    good = (finished / "good" / "results.parquet").read_bytes()
    if data == "foreign":
        buffer = pd.DataFrame({"x": [1, 2]}).to_parquet()
        data = buffer
    payload = good[:data] if isinstance(data, int) else data
    folder = damaged_copy(finished, f"bad-{case}", "results.parquet", payload)
    clean_error(run_archsim("report", folder, cwd=finished), f"{folder.name}/results.parquet: damaged",
                "archsim sweep")
    resumed = run_archsim("sweep", "sweep.yaml", "--out", folder, "--workers", "1", "--no-report", cwd=finished)
    assert resumed.returncode == 0, resumed.stderr
    assert "results.parquet: damaged" in resumed.stderr and "recomputed" in resumed.stderr
    assert (folder / "results.parquet").read_bytes() == good  # recomputed, identical
    assert (folder / "results.parquet.damaged").read_bytes() == payload  # kept for the user to inspect
    assert run_archsim("report", folder, cwd=finished).returncode == 0


@pytest.mark.parametrize("data", [b'{"name": "tiny", "finger', b"", b"[1, 2]"])
def test_damaged_sweep_json_is_rewritten_when_the_rows_are_this_sweeps(finished: Path, data: bytes) -> None:
    folder = damaged_copy(finished, f"bad-meta-{len(data)}", "sweep.json", data)
    clean_error(run_archsim("report", folder, cwd=finished), f"{folder.name}/sweep.json: damaged", "archsim sweep")
    resumed = run_archsim("sweep", "sweep.yaml", "--out", folder, "--workers", "1", "--no-report", cwd=finished)
    assert resumed.returncode == 0, resumed.stderr
    assert "sweep.json: damaged" in resumed.stderr and "0 simulated now, 3 resumed" in resumed.stdout
    assert run_archsim("report", folder, cwd=finished).returncode == 0


def test_damaged_sweep_json_with_rows_of_another_sweep_is_refused(finished: Path) -> None:
    folder = finished / "mixed"
    subprocess.run(["cp", "-r", str(finished / "other"), str(folder)], check=True)
    (folder / "sweep.json").write_bytes(b"{")
    rows = (folder / "results.parquet").read_bytes()
    result = run_archsim("sweep", "sweep.yaml", "--out", folder, "--workers", "1", "--no-report", cwd=finished)
    clean_error(result, "sweep.json: damaged", "not of this sweep", "--overwrite")
    assert (folder / "results.parquet").read_bytes() == rows  # nothing discarded


def test_damaged_run_folder_report_names_the_file(finished: Path) -> None:
    run = finished / "run"
    assert run_archsim("run", "wl.yaml", "--out", run, "--no-report", cwd=finished).returncode == 0
    for file, data in (("timeline.json", b'{"traceEv'), ("summary.json", b'{"ops": [{"name": 1}]}'),
                       ("summary.json", b'{"archsim_version": "0.1", "ops": ')):
        (run / file).write_bytes(data)
        clean_error(run_archsim("report", run, cwd=finished), f"run/{file}: damaged", "archsim run")
