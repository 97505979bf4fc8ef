"""kill -9 of ``archsim run`` and ``archsim sweep`` at random points, as a user's Ctrl-\\ or OOM killer would.

Checked with real subprocesses and ``/proc`` (no mocks): no process of a killed sweep survives it
(pool workers die with their parent), no staging folder, temporary or lock is left after the next
run, an output folder is always either absent, the old one or the new one (never half-written),
and a sweep resumed after kills writes a ``results.parquet`` byte-identical to an uninterrupted run.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archsim.outdir import MARKER, folder_kind

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"}
WORKLOAD = """\
kind: workload
name: tiny-attention
dtype: bf16
layers:
  - {op: attention, name: attn, batch: 1, heads: 8, kv_heads: 8, seq_q: 256, seq_kv: 256, head_dim: 64, causal: true}
"""
# 12 x 20 = 240 roofline points: long enough on 2 workers to be killed mid-run, short enough to finish in seconds
SEQ = ", ".join(str(128 * i) for i in range(1, 13))
BANDWIDTH = ", ".join(f"{1.0e12 + 1.0e11 * i:.3e}" for i in range(20))
SWEEP = f"""\
kind: sweep
name: kill-me
base:
  workload: wl.yaml
  hardware: h100-sxm
  backend: roofline
axes:
  - grid:
      workload.layers[0].seq_q: [{SEQ}]
      hw.memory.hbm.bandwidth_bytes_per_s: [{BANDWIDTH}]
"""


def start(*args: str | Path, cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "archsim", *map(str, args)], cwd=cwd, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def _stat(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return stat[stat.rfind(")") + 2:].split()


def running(pid: int) -> bool:
    """Alive and not a zombie (a zombie runs nothing; its parent or init reaps it)."""
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def started(pid: int) -> str | None:
    """Start time in clock ticks: tells a process from a later one with the same pid."""
    fields = _stat(pid)
    return None if fields is None else fields[19]


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``, from the PPid lines of /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                for line in (entry / "status").read_text().splitlines():
                    if line.startswith("PPid:"):
                        parents[int(entry.name)] = int(line.split()[1])
            except (FileNotFoundError, ProcessLookupError):
                continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def wait_until(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def kill9(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stderr.close()  # type: ignore[union-attr]


def junk(folder: Path) -> list[str]:
    """archsim's hidden staging folders, temporaries and locks in ``folder`` (the marker is no junk)."""
    return sorted(p.name for p in folder.iterdir() if ".archsim-" in p.name and p.name != MARKER)


def project(tmp_path: Path) -> Path:
    (tmp_path / "wl.yaml").write_text(WORKLOAD)
    (tmp_path / "sweep.yaml").write_text(SWEEP)
    return tmp_path


def test_kill9_of_a_sweep_leaves_no_process_and_resumes_byte_identical(tmp_path: Path) -> None:
    root = project(tmp_path)
    args = ("sweep", "sweep.yaml", "--workers", "2", "--checkpoint-s", "0.05", "--no-report")
    rng = random.Random(14)
    out = root / "killed"
    for attempt in range(2):
        proc = start(*args, "--out", out, cwd=root)
        workers: dict[int, str | None] = {}
        try:
            assert wait_until(lambda p=proc: len(descendants(p.pid)) >= 2 or p.poll() is not None)  # pool is up
            time.sleep(rng.uniform(0.0, 1.5))
            workers = {pid: started(pid) for pid in descendants(proc.pid)}
            kill9(proc)
            if proc.returncode != -signal.SIGKILL:
                break  # finished before the kill: nothing left to interrupt
            assert workers, "no pool workers were seen"
            assert wait_until(lambda w=workers: not any(running(p) for p in w), timeout=10), \
                f"attempt {attempt}: workers {sorted(p for p in workers if running(p))} outlived the killed sweep"
        finally:
            for pid, start_time in workers.items():  # never leave a stray behind, even when the test fails
                if running(pid) and started(pid) == start_time:
                    os.kill(pid, signal.SIGKILL)
            if proc.poll() is None:
                kill9(proc)
    final = subprocess.run([sys.executable, "-m", "archsim", *args, "--out", out], cwd=root, env=ENV,
                           capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr
    assert "resumed" in final.stdout
    clean = subprocess.run([sys.executable, "-m", "archsim", *args, "--out", root / "clean"], cwd=root, env=ENV,
                           capture_output=True, text=True, timeout=120)
    assert clean.returncode == 0, clean.stderr
    assert (out / "results.parquet").read_bytes() == (root / "clean" / "results.parquet").read_bytes()
    assert junk(root) == [] and junk(out) == []


def test_kill9_of_run_leaves_old_or_new_folder_and_no_junk_after_the_next_run(tmp_path: Path) -> None:
    root = project(tmp_path)
    out = root / "out"
    first = subprocess.run([sys.executable, "-m", "archsim", "run", "wl.yaml", "--out", out], cwd=root, env=ENV,
                           capture_output=True, timeout=120)
    assert first.returncode == 0, first.stderr
    summary = (out / "summary.json").read_bytes()
    rng = random.Random(7)
    # when to kill: as soon as the staging folder appears (mid-write), as soon as the lock is taken,
    # then at random moments of the run
    moments = ["staging", "lock", *(rng.uniform(0.2, 4.0) for _ in range(3))]
    killed_mid_write = 0
    for moment in moments:
        proc = start("run", "wl.yaml", "--out", out, cwd=root)
        if isinstance(moment, str):
            pattern = ".out.archsim-staging." if moment == "staging" else ".out.archsim-lock"
            wait_until(lambda p=proc, name=pattern: p.poll() is not None
                       or any(e.name.startswith(name) for e in root.iterdir()))
        else:
            time.sleep(moment)
        kill9(proc)
        killed_mid_write += any(".archsim-staging." in name for name in junk(root))
        # never half-written: the folder is the previous output, complete
        assert folder_kind(out) == "run" and (out / "summary.json").read_bytes() == summary
        assert sorted(p.name for p in out.iterdir()) == [".archsim-output", "ops.csv", "report.html",
                                                         "summary.json", "timeline.json"]
    assert killed_mid_write >= 1, "no kill landed while the staging folder existed"
    again = subprocess.run([sys.executable, "-m", "archsim", "run", "wl.yaml", "--out", out], cwd=root, env=ENV,
                           capture_output=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert junk(root) == [] and (out / "summary.json").read_bytes() == summary


def test_two_runs_into_one_out_one_result_or_one_clean_error(tmp_path: Path) -> None:
    root = project(tmp_path)
    procs = [start("run", "wl.yaml", "--out", "out", "--no-report", cwd=root) for _ in range(3)]
    errors = []
    for proc in procs:
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode in (0, 2), stderr
        if proc.returncode == 2:
            errors.append(stderr.decode())
    assert len(errors) < len(procs)
    for err in errors:
        assert "Traceback" not in err and "another archsim (pid" in err and err.count("\n") == 1, err
    assert folder_kind(root / "out") == "run" and junk(root) == []


def session(sid: int) -> dict[int, str | None]:
    """Every running process of session ``sid`` (the killed command started it): pid -> start time."""
    found = {}
    for entry in Path("/proc").iterdir():
        fields = _stat(int(entry.name)) if entry.name.isdigit() else None
        if fields is not None and fields[3] == str(sid) and fields[0] not in ("Z", "X"):
            found[int(entry.name)] = fields[19]
    return found


@pytest.mark.slow
def test_kill9_of_a_sweep_on_a_local_ray_leaves_no_process(tmp_path: Path) -> None:
    """Ray's own fate-sharing: the GCS, raylet, dashboard and workers of a local Ray die with the driver."""
    pytest.importorskip("ray")
    root = project(tmp_path)
    out = root / "ray"
    proc = start("sweep", "sweep.yaml", "--out", out, "--engine", "ray", "--workers", "2", "--checkpoint-s", "0.05",
                 "--no-report", cwd=root)
    members: dict[int, str | None] = {}
    try:
        assert wait_until(lambda: proc.poll() is not None or (out / "results.parquet").exists(), timeout=120)
        members = {p: t for p, t in session(proc.pid).items() if p != proc.pid}
        kill9(proc)
        assert proc.returncode == -signal.SIGKILL, "the sweep finished before it could be killed"
        assert members, "no Ray processes were seen"
        assert wait_until(lambda: not session(proc.pid), timeout=30), f"left running: {session(proc.pid)}"
    finally:
        for pid, start_time in members.items():
            if running(pid) and started(pid) == start_time:
                os.kill(pid, signal.SIGKILL)
