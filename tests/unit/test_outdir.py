"""``--out`` never destroys a user's files: every output-path probe through the real CLI.

Each probe builds a small project folder, runs ``archsim`` as a user would (a subprocess, from a
chosen current directory) and compares a snapshot of every file (path, bytes) before and after:
a refusal must exit 2 with one clear line and leave the snapshot equal; a replacement must leave
an archsim output folder (with its marker) and nothing else changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import TINY_WORKLOAD, run_archsim, tiny_sweep

from archsim.errors import ConfigError
from archsim.outdir import MARKER, OutputFolder, clean_stale, folder_kind

SWEEP = tiny_sweep("128, 256")


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under ``root``: relative path -> sha256 of the bytes (or the link / 'dir')."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = "link:" + os.readlink(path)
        elif path.is_dir():
            out[rel] = "dir"
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[rel] = "special"
    return out


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's project: inputs, notes, a data folder, a sub-folder to stand in."""
    root = tmp_path / "my-project"
    (root / "data").mkdir(parents=True)
    (root / "sub").mkdir()
    (root / "wl.yaml").write_text(TINY_WORKLOAD)
    (root / "notes.txt").write_text("my notes\n")
    (root / "data" / "measured.csv").write_text("name,time_s\nproj,1e-6\n")
    return root


def refused(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: --out: ") and result.stderr.count("\n") == 1, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("out, where", [(".", "is the current directory"), ("..", "above the current directory"),
                                        ("../..", "above the current directory")])
def test_cwd_and_its_ancestors_are_never_replaced(project: Path, out: str, where: str, force: bool) -> None:
    cwd = project / "sub"
    before = snapshot(project.parent)
    refused(run_archsim("run", project / "wl.yaml", "--out", out, "--no-report", *(["--force"] * force), cwd=cwd),
            where)
    assert snapshot(project.parent) == before


@pytest.mark.parametrize("force", [False, True])
def test_a_folder_holding_the_inputs_is_never_replaced(project: Path, tmp_path: Path, force: bool) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    before = snapshot(project)
    flags = ["--no-report", *(["--force"] * force)]
    refused(run_archsim("run", project / "wl.yaml", "--out", project, *flags, cwd=elsewhere), "holds the input")
    refused(run_archsim("run", project / "wl.yaml", "--out", project / "wl.yaml", *flags, cwd=elsewhere), "is an input")
    assert snapshot(project) == before


def test_home_and_root_are_never_replaced(project: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "docs").mkdir(parents=True)
    (home / "docs" / "thesis.tex").write_text("\\begin{document}")
    before = snapshot(home)
    refused(run_archsim("run", project / "wl.yaml", "--out", home, "--force", "--no-report", cwd=project / "sub",
                    home=home), "your home folder")
    refused(run_archsim("run", project / "wl.yaml", "--out", "/", "--force", "--no-report", cwd=project / "sub"),
            "above the current directory")
    assert snapshot(home) == before


def test_a_folder_archsim_did_not_write_needs_force(project: Path) -> None:
    before = snapshot(project)
    result = run_archsim("run", "wl.yaml", "--out", "data", "--no-report", cwd=project)
    refused(result, "not an archsim output folder", "measured.csv", "--force")
    assert snapshot(project) == before
    ok = run_archsim("run", "wl.yaml", "--out", "data", "--no-report", "--force", cwd=project)
    assert ok.returncode == 0, ok.stderr
    assert sorted(p.name for p in (project / "data").iterdir()) == [MARKER, "ops.csv", "summary.json", "timeline.json"]
    after = snapshot(project)
    assert {k: v for k, v in after.items() if not k.startswith("data")} == \
        {k: v for k, v in before.items() if not k.startswith("data")}


@pytest.mark.parametrize("force", [False, True])
def test_an_existing_file(project: Path, force: bool) -> None:
    before = snapshot(project)
    result = run_archsim("run", "wl.yaml", "--out", "notes.txt", "--no-report", *(["--force"] * force), cwd=project)
    if not force:
        refused(result, "is an existing file", "--force")
        assert snapshot(project) == before
    else:  # the user said so: the file becomes the output folder
        assert result.returncode == 0, result.stderr
        assert folder_kind(project / "notes.txt") == "run"


@pytest.mark.parametrize("path, why", [("/usr", "top-level folder"), ("/dev/shm", "mount point"),
                                       ("/", "folder above the current directory")])
def test_system_folders_are_never_replaced(path: str, why: str) -> None:
    if not Path(path).is_dir() or (why == "mount point" and not os.path.ismount(path)):
        pytest.skip(f"{path} is not a {why} here")
    with pytest.raises(ConfigError, match=why):  # refused when built, before any lock or write
        OutputFolder(path, kind="run", force=True)


def test_out_below_a_file_is_refused(project: Path) -> None:
    refused(run_archsim("run", "wl.yaml", "--out", "notes.txt/out", "--no-report", cwd=project),
            "notes.txt is a file, not a folder")


def test_a_fifo_is_never_replaced(project: Path) -> None:
    os.mkfifo(project / "pipe")
    refused(run_archsim("run", "wl.yaml", "--out", "pipe", "--force", "--no-report", cwd=project),
            "not a folder or a regular file")
    assert (project / "pipe").exists()


def test_a_symlink_means_the_folder_it_points_to(project: Path, tmp_path: Path) -> None:
    (project / "link").symlink_to(project / "data")
    (project / "dangling").symlink_to(tmp_path / "nowhere")
    before = snapshot(project)
    refused(run_archsim("run", "wl.yaml", "--out", "link", "--no-report", cwd=project), "not an archsim output folder")
    refused(run_archsim("run", "wl.yaml", "--out", "dangling", "--no-report", "--force", cwd=project), "does not exist")
    # a link into the current directory's ancestors is refused like the path itself
    (tmp_path / "up").symlink_to(project)
    refused(run_archsim("run", project / "wl.yaml", "--out", tmp_path / "up", "--no-report", "--force",
                    cwd=project / "sub"), "is a folder above the current directory")
    assert snapshot(project) == before
    # a link to an archsim output folder: that folder is replaced, the link stays
    runs = tmp_path / "runs" / "r1"
    assert run_archsim("run", "wl.yaml", "--out", runs, "--no-report", cwd=project).returncode == 0
    (project / "latest").symlink_to(runs)
    ok = run_archsim("run", "wl.yaml", "--out", "latest", "--no-report", cwd=project)
    assert ok.returncode == 0, ok.stderr
    assert (project / "latest").is_symlink() and folder_kind(runs) == "run"


def test_archsim_folders_are_replaced_unless_they_hold_user_files(project: Path) -> None:
    first = run_archsim("run", "wl.yaml", "--out", "out", "--no-report", cwd=project)
    assert first.returncode == 0, first.stderr
    summary = (project / "out" / "summary.json").read_bytes()
    again = run_archsim("run", "wl.yaml", "--out", "out", "--no-report", cwd=project)
    assert again.returncode == 0, again.stderr
    assert (project / "out" / "summary.json").read_bytes() == summary  # deterministic, and replaced
    (project / "out" / "my-plot.png").write_bytes(b"\x89PNG")
    before = snapshot(project)
    refused(run_archsim("run", "wl.yaml", "--out", "out", "--no-report", cwd=project),
            "files archsim did not write (my-plot.png)")
    assert snapshot(project) == before
    assert not [p for p in project.iterdir() if p.name.startswith(".")]  # no staging, no lock left


def test_an_empty_folder_is_used(project: Path) -> None:
    (project / "empty").mkdir()
    ok = run_archsim("run", "wl.yaml", "--out", "empty", "--no-report", cwd=project)
    assert ok.returncode == 0, ok.stderr
    assert folder_kind(project / "empty") == "run"


def test_sweep_overwrite_and_force(project: Path) -> None:
    (project / "sweep.yaml").write_text(SWEEP)
    before = snapshot(project)
    args = ("sweep", "sweep.yaml", "--workers", "1", "--no-report")
    refused(run_archsim(*args, "--out", "data", cwd=project), "not an archsim output folder", "--overwrite --force")
    refused(run_archsim(*args, "--out", "data", "--overwrite", cwd=project), "not an archsim output folder")
    for out in (".", project):
        refused(run_archsim(*args, "--out", out, "--overwrite", "--force", cwd=project))
    assert snapshot(project) == before
    run = run_archsim("run", "wl.yaml", "--out", "r", "--no-report", cwd=project)
    assert run.returncode == 0
    refused(run_archsim(*args, "--out", "r", cwd=project), "output of an archsim run")
    ok = run_archsim(*args, "--out", "s", cwd=project)
    assert ok.returncode == 0, ok.stderr
    assert folder_kind(project / "s") == "sweep"
    refused(run_archsim("run", "wl.yaml", "--out", "s", "--no-report", cwd=project), "output of an archsim sweep")
    forced = run_archsim(*args, "--out", "data", "--overwrite", "--force", cwd=project)
    assert forced.returncode == 0, forced.stderr
    assert not (project / "data" / "measured.csv").exists() and folder_kind(project / "data") == "sweep"


def test_report_writes_only_into_archsim_folders(project: Path) -> None:
    (project / "data" / "summary.json").write_text('{"latency_s": 1}')
    before = snapshot(project)
    result = run_archsim("report", "data", cwd=project)
    assert result.returncode == 2 and "not an archsim output folder" in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(project) == before


def test_a_locked_out_gives_one_clean_error(project: Path) -> None:
    with OutputFolder(project / "out", kind="run"):
        result = run_archsim("run", "wl.yaml", "--out", "out", "--no-report", cwd=project)
        refused(result, "another archsim", f"pid {os.getpid()}")
    assert not (project / ".out.archsim-lock").exists()
    assert run_archsim("run", "wl.yaml", "--out", "out", "--no-report", cwd=project).returncode == 0


def test_stale_staging_of_a_dead_writer_is_removed_live_one_kept(project: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = project / f".out.archsim-staging.{dead_pid}-1.abcd"
    live = project / f".out.archsim-staging.{os.getpid()}-0.beef"
    other = project / ".out.mine"  # not archsim's naming: never touched
    for folder in (stale, live, other):
        folder.mkdir()
        (folder / "summary.json").write_text("{}")
    assert clean_stale(project, "out") == [stale]
    assert live.exists() and other.exists()
    summary = json.loads((live / "summary.json").read_text())
    assert summary == {}
