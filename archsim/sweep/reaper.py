"""Reaper for a local Ray: when the sweep process that started it dies (``kill -9`` too), kill what it started.

Ray fate-shares its processes with the driver, but not promptly: after a ``kill -9`` of the
driver, Ray 2.60's ``DashboardAgent`` and ``RuntimeEnvAgent`` first try to report the raylet's
death to the GCS (which died too), with a fixed 60 s timeout (``ray._private.utils.
publish_error_to_driver``); measured here, both outlived the killed sweep by about 60 s.

The reaper is a small child process started before ``ray.init()`` and run as a script (standard
library only, so it starts in ~20 ms). Every ``interval_s`` it records the driver's descendants
(pid and start time, from ``/proc``). It reads its stdin, a pipe from the driver: the driver
writes ``done`` after ``ray.shutdown()`` and the reaper exits; end-of-file without ``done`` means
the driver died, and the reaper SIGKILLs every recorded process still running (same pid and start
time, so a reused pid is never hit) and whatever those started, then exits. Linux only (``/proc``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path


def _table() -> dict[int, tuple[int, str]]:
    """Running processes: pid -> (parent pid, start time in clock ticks)."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if fields[0] not in ("Z", "X"):
            table[int(entry.name)] = (int(fields[1]), fields[19])
    return table


def _below(roots: set[int], table: dict[int, tuple[int, str]]) -> set[int]:
    found: set[int] = set()
    frontier = set(roots)
    while frontier:
        frontier = {pid for pid, (parent, _) in table.items() if parent in frontier} - found
        found |= frontier
    return found


def watch(driver: int, interval_s: float = 0.25) -> None:
    """Record ``driver``'s descendants until stdin ends; kill them if it ended without ``done``."""
    me = os.getpid()
    known: dict[int, str] = {}
    ended = threading.Event()

    def read_stdin() -> None:
        if sys.stdin.buffer.read().startswith(b"done"):
            os._exit(0)  # the sweep shut Ray down itself
        ended.set()

    threading.Thread(target=read_stdin, daemon=True).start()
    while not ended.wait(interval_s):
        table = _table()
        known |= {pid: table[pid][1] for pid in _below({driver}, table) - {me}}
    for _ in range(3):  # the driver is gone: what it started goes too (and what those start meanwhile)
        table = _table()
        alive = {pid for pid, start in known.items() if table.get(pid, (0, None))[1] == start}
        for pid in (alive | _below(alive, table)) - {me}:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(interval_s)


def start() -> subprocess.Popen[bytes] | None:
    """Start a reaper for this process; None where there is no ``/proc``."""
    if not sys.platform.startswith("linux"):
        return None
    return subprocess.Popen([sys.executable, "-I", __file__, str(os.getpid())], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(reaper: subprocess.Popen[bytes] | None) -> None:
    """Tell the reaper the driver shut down cleanly; it exits without killing anything."""
    if reaper is None:
        return
    try:
        reaper.communicate(b"done", timeout=10)
    except (subprocess.TimeoutExpired, BrokenPipeError):
        reaper.kill()
        reaper.wait()


if __name__ == "__main__":
    watch(int(sys.argv[1]))
